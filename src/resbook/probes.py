"""Measurements on trained nets: what each layer and block does to the signal."""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterable, Iterator

import numpy as np
import pandas as pd
import torch
from torch import nn

from . import data

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
    was_training = model.training
    model.eval()
    try:
        for start in range(0, len(x), batch_size):
            model(x[start:start + batch_size])
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    n, s, ss = sums.T
    mean = s / n
    return np.sqrt(np.maximum(ss / n - mean**2, 0.0))


def response_frame(results, seed: int = 0) -> pd.DataFrame:
    """Per-layer response std on the test set for every run with `seed`: one row per (run, layer)."""
    rows = []
    for r in results:
        if r.config.seed != seed:
            continue
        stds = layer_response_stds(r.model, data.load(r.config.dataset).test_x)
        order = np.argsort(-stds)
        rank = np.empty_like(order)
        rank[order] = np.arange(len(stds))
        for layer, (std, k) in enumerate(zip(stds, rank, strict=True)):
            rows.append({"dataset": r.config.dataset, "net": "residual" if r.config.residual else "plain",
                         "depth": r.config.depth, "label": r.config.label, "layer": layer + 1,
                         "rank": int(k) + 1, "std": float(std)})
    return pd.DataFrame(rows)


@contextlib.contextmanager
def lesioned(model: nn.Module, deleted: Iterable[int]) -> Iterator[nn.Module]:
    """Within the block, blocks whose indices are in `deleted` compute `block.shortcut(h)` only.

    Veit et al.'s lesion: the block's residual branch is removed and its skip connection kept.
    """
    deleted = sorted(set(deleted))
    blocks = model.blocks
    bad = [i for i in deleted if not 0 <= i < len(blocks)]
    if bad:
        raise IndexError(f"block indices {bad} out of range; the model has {len(blocks)} blocks (0-{len(blocks) - 1})")
    for i in deleted:
        # an instance attribute shadows the class's forward; object.__setattr__ keeps it out of the
        # module registry (the shortcut is itself a module)
        object.__setattr__(blocks[i], "forward", blocks[i].shortcut.__call__)
    try:
        yield model
    finally:
        for i in deleted:
            del blocks[i].forward


def _loss_gradient_at_output(model: nn.Module, h_last: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    h = h_last.detach().requires_grad_(True)
    loss = nn.functional.cross_entropy(model.head(h), y, reduction="sum")
    return torch.autograd.grad(loss, h)[0]


def _block_pieces(block: nn.Module, h: torch.Tensor):
    """At the real input h: the shortcut and branch outputs (with graph) and the mask of the outer ReLU."""
    h = h.detach().requires_grad_(True)
    skip, branch = block.shortcut(h), block.branch(h)
    if block.preact:
        mask = torch.ones_like(skip)
    else:
        mask = ((skip + branch) > 0).to(skip.dtype)
    return h, skip, branch, mask


def path_gradients(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Gradient at h0 = stem(x) of the summed cross-entropy, split by path length.

    Entry k is the sum over all 2^n paths that pass through exactly k residual branches (and the skips
    of the other n - k blocks) of that path's gradient, with the net in eval mode and linearised at its
    actual forward pass (ReLU masks and BN fixed). Weighting every branch by t makes the gradient a
    polynomial in t; entry k is its k-th coefficient, computed exactly by carrying n + 1 coefficient
    vectors backwards through the blocks: a block maps (u_0, ..., u_n) to
    (S^T D u_0, S^T D u_1 + J^T D u_0, ..., S^T D u_n + J^T D u_{n-1}), where S and J are the Jacobians of
    the shortcut and the branch and D the ReLU mask after the addition. Works in float64. The entries
    sum to the autograd gradient.
    """
    net = copy.deepcopy(model).double().eval()
    hs = net.features(x.double())
    n = len(net.blocks)
    coeffs = [_loss_gradient_at_output(net, hs[-1], y)]  # degree 0 only, at the output
    for i in reversed(range(n)):
        h, skip, branch, mask = _block_pieces(net.blocks[i], hs[i])
        masked = [u * mask for u in coeffs]
        new = []
        for k in range(len(coeffs) + 1):
            through_skip = masked[k] if k < len(masked) else torch.zeros_like(skip)
            through_branch = masked[k - 1] if k >= 1 else torch.zeros_like(branch)
            new.append(torch.autograd.grad([skip, branch], h, [through_skip, through_branch],
                                           retain_graph=True)[0])
        coeffs = new
    return torch.stack(coeffs)


def sampled_path_gradient_norms(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, samples: int = 100, seed: int = 0
) -> np.ndarray:
    """Veit et al.'s estimate: for each k, the mean over `samples` random sets of k blocks of the norm of
    the gradient at h0 along the single path through those k branches (skips elsewhere).

    Returns an array of shape (n + 1,): the mean norm of one path of each length.
    """
    net = copy.deepcopy(model).double().eval()
    hs = net.features(x.double())
    n = len(net.blocks)
    pieces = [_block_pieces(net.blocks[i], hs[i]) for i in range(n)]
    g_out = _loss_gradient_at_output(net, hs[-1], y)
    rng = np.random.default_rng(seed)
    means = np.zeros(n + 1)
    for k in range(n + 1):
        norms = []
        for _ in range(samples if 0 < k < n else 1):  # only one path has length 0 or n
            chosen = set(rng.choice(n, size=k, replace=False).tolist())
            u = g_out
            for i in reversed(range(n)):
                h, skip, branch, mask = pieces[i]
                out = branch if i in chosen else skip
                u = torch.autograd.grad(out, h, u * mask, retain_graph=True)[0]
            norms.append(u.norm().item())
        means[k] = np.mean(norms)
    return means
