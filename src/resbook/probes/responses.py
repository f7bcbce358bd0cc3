"""Layer responses (He et al. Fig. 7): the standard deviation of each 3x3 layer's output."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from torch import nn

from .. import data
from ..models import eval_mode

_CONV = (nn.Conv1d, nn.Conv2d)
_NORM = (nn.BatchNorm1d, nn.BatchNorm2d)


def response_layers(model: nn.Module) -> list[nn.Module]:
    """The module whose output is each 3x3 layer's response, in forward order.

    He et al. (Fig. 7) measure a 3x3 layer's output after BN and before the ReLU or the addition:
    the BN that follows the conv, or the conv itself when no BN follows (pre-activation nets).
    """
    layers = []
    for seq in model.modules():
        if not isinstance(seq, nn.Sequential):
            continue
        children = list(seq)
        for i, m in enumerate(children):
            if isinstance(m, _CONV) and m.kernel_size[0] == 3:
                follows = children[i + 1] if i + 1 < len(children) else None
                layers.append(follows if isinstance(follows, _NORM) else m)
    return layers


@torch.no_grad()
def layer_response_stds(model: nn.Module, x: torch.Tensor, batch_size: int = 500) -> np.ndarray:
    """Standard deviation of each 3x3 layer's response over all of `x` (eval mode), in forward order."""
    layers = response_layers(model)
    sums = np.zeros((len(layers), 3))  # count, sum, sum of squares, in float64

    def hook_for(i: int):
        def hook(_module, _inputs, out):
            out = out.double()
            sums[i] += (out.numel(), out.sum().item(), (out * out).sum().item())
        return hook

    handles = [layer.register_forward_hook(hook_for(i)) for i, layer in enumerate(layers)]
    try:
        with eval_mode(model):
            for start in range(0, len(x), batch_size):
                model(x[start:start + batch_size])
    finally:
        for h in handles:
            h.remove()
    n, s, ss = sums.T
    mean = s / n
    return np.sqrt(np.maximum(ss / n - mean**2, 0.0))


def layer_scales(model: nn.Module) -> np.ndarray:
    """Per 3x3 layer (as `response_layers`): the mean |gamma| of the batch norm its response is read after (the
    spread a normalised output is given; 1 at initialisation), NaN where no batch norm follows the conv."""
    return np.array([m.weight.abs().mean().item() if isinstance(m, _NORM) and m.weight is not None else np.nan
                     for m in response_layers(model)])


def response_frame(results) -> pd.DataFrame:
    """Per-layer response std on the test set for every run (every seed): one row per (run, layer), with the
    layer's batch-norm `scale` (`layer_scales`)."""
    rows = []
    for r in results:
        stds = layer_response_stds(r.model, data.load(r.config.dataset).test_x)
        scales = layer_scales(r.model)
        order = np.argsort(-stds)
        rank = np.empty_like(order)
        rank[order] = np.arange(len(stds))
        for layer, (std, k, scale) in enumerate(zip(stds, rank, scales, strict=True)):
            rows.append({"dataset": r.config.dataset, "net": r.config.kind.value,
                         "depth": r.config.depth, "seed": r.config.seed, "layer": layer + 1,
                         "rank": int(k) + 1, "std": float(std), "scale": float(scale)})
    return pd.DataFrame(rows)


