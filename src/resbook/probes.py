"""Measurements on trained nets: what each layer and block does to the signal."""

from __future__ import annotations

import contextlib
import copy
import math
import time
from collections.abc import Iterable, Iterator

import numpy as np
import pandas as pd
import torch
from torch import nn

from . import data
from .train import evaluate

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


def sampled_path_gradients(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, samples: int = 64, seed: int = 0
) -> tuple[np.ndarray, torch.Tensor]:
    """Veit et al.'s sampling: for each length k, `samples` random sets of k blocks; the gradient at h0
    along the single path through the branches of those blocks and the skips of all others.

    Returns (mean norm of one path of each length, shape (n + 1,)) and the unbiased estimate of
    `path_gradients`: C(n, k) times the mean path gradient, shape (n + 1, *h0.shape). All samples of one
    length go backwards together, as copies of the batch.
    """
    net = copy.deepcopy(model).double().eval()
    b = len(x)
    xs = x.double().repeat(samples, *[1] * (x.dim() - 1))
    hs = net.features(xs)
    n = len(net.blocks)
    pieces = [_block_pieces(net.blocks[i], hs[i]) for i in range(n)]
    g_out = _loss_gradient_at_output(net, hs[-1], y.repeat(samples))
    rng = np.random.default_rng(seed)
    mean_norms = np.zeros(n + 1)
    estimates = []
    for k in range(n + 1):
        chosen = torch.zeros(samples, n, dtype=torch.bool)
        for s in range(samples):
            chosen[s, rng.choice(n, size=k, replace=False)] = True
        u = g_out
        for i in reversed(range(n)):
            h, skip, branch, mask = pieces[i]
            through_branch = torch.autograd.grad(branch, h, u * mask, retain_graph=True)[0]
            through_skip = torch.autograd.grad(skip, h, u * mask, retain_graph=True)[0]
            pick = chosen[:, i].repeat_interleave(b).view(-1, *[1] * (u.dim() - 1))
            u = torch.where(pick, through_branch, through_skip)
        per_sample = u.view(samples, b, *u.shape[1:])
        mean_norms[k] = per_sample.flatten(1).norm(dim=1).mean().item()
        estimates.append(math.comb(n, k) * per_sample.mean(0))
    return mean_norms, torch.stack(estimates)


def effective_range(mass: np.ndarray, share: float = 0.9) -> tuple[int, int]:
    """The shortest range of path lengths [lo, hi] that holds `share` of the total `mass`."""
    mass = np.asarray(mass, dtype=float) / np.sum(mass)
    best = (0, len(mass) - 1)
    for lo in range(len(mass)):
        total = np.cumsum(mass[lo:])
        reach = np.searchsorted(total, share - 1e-12)
        if reach < len(total) and reach < best[1] - best[0]:
            best = (lo, lo + int(reach))
    return best


def error_rate(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Fraction of `x` misclassified, in eval mode."""
    return evaluate(model, x, y)[1]


def single_lesions(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> pd.DataFrame:
    """Error after deleting each block alone (Veit et al. Fig. 3): one row per block."""
    rows = []
    for i, block in enumerate(model.blocks):
        with lesioned(model, [i]):
            rows.append({"block": i + 1, "downsample": block.downsample, "error": error_rate(model, x, y)})
    return pd.DataFrame(rows)


def random_lesions(model: nn.Module, x: torch.Tensor, y: torch.Tensor, draws: int = 10, seed: int = 0) -> pd.DataFrame:
    """Error after deleting k random blocks, for k = 0 .. n (Veit et al. Fig. 5a): one row per (k, draw)."""
    rng = np.random.default_rng(seed)
    n = len(model.blocks)
    rows = []
    for k in range(n + 1):
        for draw in range(draws if 0 < k < n else 1):
            with lesioned(model, rng.choice(n, size=k, replace=False).tolist()):
                rows.append({"k": k, "draw": draw, "error": error_rate(model, x, y)})
    return pd.DataFrame(rows)


@contextlib.contextmanager
def reordered(model: nn.Module, order: list[int]) -> Iterator[nn.Module]:
    """Within the block, the model runs its blocks in `order` (a permutation of their indices)."""
    original = list(model.blocks)
    if sorted(order) != list(range(len(original))):
        raise ValueError(f"order must be a permutation of 0..{len(original) - 1}; got {order}")
    model.blocks = nn.ModuleList([original[i] for i in order])
    try:
        yield model
    finally:
        model.blocks = nn.ModuleList(original)


def swappable_groups(model: nn.Module) -> list[list[int]]:
    """Blocks that can trade places: those of one stage that keep the shape (not the downsampling one)."""
    groups: list[list[int]] = [[]]
    for i, block in enumerate(model.blocks):
        if block.downsample:
            groups.append([])
        else:
            groups[-1].append(i)
    return [g for g in groups if len(g) > 1]


def random_reorderings(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, max_swaps: int | None = None, draws: int = 5, seed: int = 0
) -> pd.DataFrame:
    """Error after m random swaps of same-shape blocks (Veit et al. Fig. 5b), with Kendall's tau of each order."""
    from scipy.stats import kendalltau

    rng = np.random.default_rng(seed)
    groups = swappable_groups(model)
    n = len(model.blocks)
    max_swaps = max_swaps if max_swaps is not None else n
    rows = []
    for m in range(max_swaps + 1):
        for draw in range(draws if m else 1):
            order = list(range(n))
            for _ in range(m):
                group = groups[rng.integers(len(groups))]
                a, b = rng.choice(group, size=2, replace=False)
                order[a], order[b] = order[b], order[a]
            with reordered(model, order):
                error = error_rate(model, x, y)
            tau = kendalltau(range(n), order).statistic if m else 1.0
            rows.append({"swaps": m, "draw": draw, "tau": float(tau), "error": error})
    return pd.DataFrame(rows)


def gradient_by_length(model: nn.Module, x: torch.Tensor, y: torch.Tensor, samples: int = 64,
                       seed: int = 0) -> tuple[pd.DataFrame, dict[str, float]]:
    """Both measures of Veit et al.'s Fig. 6 for one batch, one row per path length k.

    path_norm: mean norm of one sampled path's gradient; sampled_total: C(n,k) x path_norm (Veit's total);
    exact_total: the norm of `path_gradients` entry k; estimate_error: relative error of the sampling
    estimate of that entry. Also returns the seconds each method took.
    """
    start = time.perf_counter()
    exact = path_gradients(model, x, y)
    t_exact = time.perf_counter() - start
    start = time.perf_counter()
    path_norm, estimate = sampled_path_gradients(model, x, y, samples=samples, seed=seed)
    t_sampled = time.perf_counter() - start
    n = len(exact) - 1
    exact_norm = exact.flatten(1).norm(dim=1).numpy()
    frame = pd.DataFrame({
        "k": np.arange(n + 1),
        "path_norm": path_norm,
        "sampled_total": [math.comb(n, k) * path_norm[k] for k in range(n + 1)],
        "exact_total": exact_norm,
        "estimate_error": ((estimate - exact).flatten(1).norm(dim=1).numpy() / np.maximum(exact_norm, 1e-300)),
    })
    return frame, {"exact_seconds": t_exact, "sampled_seconds": t_sampled, "samples": samples}
