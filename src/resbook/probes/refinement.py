"""Probes of iterative refinement (Jastrzebski et al. 2018): how each block moves the features.

With h_{i+1} = h_i + F_i(h_i), a first-order expansion gives L(h_{i+1}) ~ L(h_i) + <F_i(h_i), dL/dh_i>:
a block lowers the loss when F_i points against the gradient, like a step of gradient descent.
Each quantity has one probe, per example; the per-block mean is a wrapper of it. What the head reads after
each block, and unrolling the last block, are in `probes.readouts`.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ..models import eval_mode


def _per_example(t: torch.Tensor) -> torch.Tensor:
    return t.flatten(1)


def block_alignment_per_example(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> np.ndarray:
    """Per block and example: cos(F_i(h_i), dL/dh_i), L the summed cross-entropy, eval mode; shape (blocks, examples).

    NaN rows for blocks whose branch output has another shape than their input (downsampling blocks).
    """
    with eval_mode(model):
        hs = model.features(x)
        loss = F.cross_entropy(model.head(hs[-1]), y, reduction="sum")
        grads = torch.autograd.grad(loss, hs[:-1])
        out = np.full((len(model.blocks), len(x)), np.nan)
        with torch.no_grad():
            for i, (block, h, g) in enumerate(zip(model.blocks, hs[:-1], grads, strict=True)):
                branch = block.branch(h)
                if branch.shape == h.shape:
                    out[i] = F.cosine_similarity(_per_example(branch), _per_example(g), dim=1).numpy()
        return out


def block_alignment(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> list[float]:
    """Per block: the mean over examples of cos(F_i(h_i), dL/dh_i) (NaN for downsampling blocks)."""
    return [float(row.mean()) for row in block_alignment_per_example(model, x, y)]


@torch.no_grad()
def norm_ratios_per_example(model: nn.Module, x: torch.Tensor) -> np.ndarray:
    """Per block and example: ||F_i(h_i)|| / ||h_i||, eval mode; shape (blocks, examples)."""
    with eval_mode(model):
        hs = model.features(x)
        return np.stack([(_per_example(block.branch(h)).norm(dim=1) / _per_example(h).norm(dim=1)).numpy()
                         for block, h in zip(model.blocks, hs[:-1], strict=True)])


def norm_ratios(model: nn.Module, x: torch.Tensor) -> list[float]:
    """Per block: the mean over examples of ||F_i(h_i)|| / ||h_i||, eval mode."""
    return [float(row.mean()) for row in norm_ratios_per_example(model, x)]
