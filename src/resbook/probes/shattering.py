"""Shattered gradients (Balduzzi et al. 2017): how the input gradient of a net varies along a line of inputs.

Along a line x(t) = x0 + t * d through a data point, the derivative of one logit in t is a function g(t). In a
net whose gradients are smooth, g at neighbouring points of a fine grid is nearly the same: its lag-1
autocorrelation is near 1. Shattered gradients look like white noise: near 0.
"""

from __future__ import annotations

import numpy as np
import torch

from ..models import ResNet, eval_mode


def line_gradients(model: ResNet, x: torch.Tensor, points: int = 256, span: float = 1.0, logit: int = 0,
                   seed: int = 0) -> np.ndarray:
    """g(t) = d/dt logit_k(x0 + t d) for every example x0 of `x`, on `points` values of t evenly spaced in
    [-span, span]: shape (examples, points). Each line's direction d is random (seeded by `seed`), with the norm
    of its own x0, so that t = 1 is a step as large as the input itself. Eval mode: each input is its own
    (batch norm uses its running statistics, which the caller sets from data first)."""
    g = torch.Generator().manual_seed(seed)
    d = torch.randn(x.shape, generator=g)
    d = d * (x.flatten(1).norm(dim=1) / d.flatten(1).norm(dim=1)).view(-1, *[1] * (x.dim() - 1))
    t = torch.linspace(-span, span, points).view(1, -1, *[1] * (x.dim() - 1))
    xs = (x.unsqueeze(1) + t * d.unsqueeze(1)).flatten(0, 1).requires_grad_(True)  # every line's points, one batch
    with eval_mode(model):
        grad, = torch.autograd.grad(model(xs)[:, logit].sum(), xs)  # each row depends on its own input only
    out = (grad.view(len(x), points, -1) * d.flatten(1).unsqueeze(1)).sum(2)
    return out.numpy().astype(np.float64)


# a line whose derivative barely varies along it has no autocorrelation to measure: it either vanished (every
# ReLU on its path off, the net's output flat) or stayed in one linear piece of the net. Below this share of its
# own size (root mean square; or in absolute terms, when the size itself vanished) its variation counts as none
FLAT = 1e-6


def flat_lines(g: np.ndarray) -> np.ndarray:
    """Which lines of `g` (examples x points) vary too little along the line to have an autocorrelation."""
    rms = np.sqrt(np.mean(g**2, axis=1))
    return g.std(axis=1) <= FLAT * np.maximum(rms, 1e-30) + 1e-30


def vanished_lines(g: np.ndarray) -> np.ndarray:
    """Which lines of `g` have a derivative that vanished (zero everywhere, to float precision)."""
    return np.sqrt(np.mean(g**2, axis=1)) < 1e-12


def lag1_autocorrelation(g: np.ndarray) -> np.ndarray:
    """Each line's lag-1 autocorrelation (examples x points -> examples): the correlation of g with g one grid step
    on, about its own mean along the line; NaN for a flat line (`flat_lines`), which is not scored."""
    c = g - g.mean(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (c[:, :-1] * c[:, 1:]).sum(axis=1) / (c**2).sum(axis=1)
    r[flat_lines(g)] = np.nan
    return r
