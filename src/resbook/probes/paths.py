"""The unravelled view's gradients (Veit et al. Fig. 6): the input gradient split by path length."""

from __future__ import annotations

import copy
import math
import time

import numpy as np
import pandas as pd
import torch
from torch import nn


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

    Returns (the gradient norm at each example of each sampled path, shape (n + 1, samples x examples),
    sample-major) and the unbiased estimate of
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
    norms = np.zeros((n + 1, samples * b))
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
        norms[k] = per_sample.flatten(2).norm(dim=2).flatten().numpy()  # one per (sample, example)
        estimates.append(math.comb(n, k) * per_sample.mean(0))
    return norms, torch.stack(estimates)


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


def gradient_by_length(model: nn.Module, x: torch.Tensor, y: torch.Tensor, samples: int = 64,
                       seed: int = 0) -> tuple[pd.DataFrame, dict[str, float]]:
    """Both measures of Veit et al.'s Fig. 6 for one batch, one row per path length k.

    path_norm: mean norm, per example, of one sampled path's gradient (sample_norms: each (sampled path,
    example) pair's, an array);
    sampled_total: C(n,k) x path_norm (Veit's total);
    exact_total: the norm of `path_gradients` entry k; estimate_error: relative error of the sampling
    estimate of that entry. Also returns the seconds each method took.
    """
    start = time.perf_counter()
    exact = path_gradients(model, x, y)
    t_exact = time.perf_counter() - start
    start = time.perf_counter()
    sample_norms, estimate = sampled_path_gradients(model, x, y, samples=samples, seed=seed)
    path_norm = sample_norms.mean(1)
    t_sampled = time.perf_counter() - start
    n = len(exact) - 1
    exact_norm = exact.flatten(1).norm(dim=1).numpy()
    frame = pd.DataFrame({
        "k": np.arange(n + 1),
        "path_norm": path_norm,
        "sample_norms": list(sample_norms),
        "sampled_total": [math.comb(n, k) * path_norm[k] for k in range(n + 1)],
        "exact_total": exact_norm,
        "estimate_error": ((estimate - exact).flatten(1).norm(dim=1).numpy() / np.maximum(exact_norm, 1e-300)),
    })
    return frame, {"exact_seconds": t_exact, "sampled_seconds": t_sampled, "samples": samples}
