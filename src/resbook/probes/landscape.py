"""Loss landscapes (Li et al. 2018): the loss on a plane through a trained net's weights, along filter-normalised
random directions, and where that surface curves like a bowl.

A direction d has one entry per weight. Filter normalisation rescales each filter of d (one output channel of a
convolution, one output unit of a linear layer) to the norm of the same filter of the net, so that a step of 1
along d changes every filter by as much as its own size, whatever the scale batch norm leaves it at. Biases and
batch-norm parameters (every tensor of one dimension or none) get no direction: they stay as trained.
"""

from __future__ import annotations

import copy

import numpy as np
import torch
from torch.nn import functional as F

from ..models import ResNet, eval_mode


def filter_normalised_direction(model: ResNet, generator: torch.Generator) -> list[torch.Tensor]:
    """One random direction: for every parameter, a Gaussian tensor of its shape with each filter rescaled to the
    parameter's own filter norm; zero for biases and batch-norm parameters (tensors of dimension 1 or 0)."""
    direction = []
    for p in model.parameters():
        if p.dim() <= 1:
            direction.append(torch.zeros_like(p))
            continue
        d = torch.randn(p.shape, generator=generator)
        scale = p.detach().flatten(1).norm(dim=1) / d.flatten(1).norm(dim=1).clamp_min(1e-12)
        direction.append(d * scale.view(-1, *[1] * (p.dim() - 1)))
    return direction


@torch.no_grad()
def plane_losses(model: ResNet, x: torch.Tensor, y: torch.Tensor, steps: int = 21, span: float = 1.0,
                 seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The mean cross-entropy on (x, y) at theta + a d1 + b d2 for a, b on a `steps` x `steps` grid over
    [-span, span], d1 and d2 two filter-normalised directions drawn with `seed`; eval mode (running batch-norm
    statistics, as the trained net is used). Returns (coordinates, losses[a index, b index]); a non-finite loss
    stays as it is (inf or NaN)."""
    g = torch.Generator().manual_seed(seed)
    net = copy.deepcopy(model)
    d1, d2 = filter_normalised_direction(net, g), filter_normalised_direction(net, g)
    theta = [p.detach().clone() for p in net.parameters()]
    coords = np.linspace(-span, span, steps)
    losses = np.empty((steps, steps))
    with eval_mode(net):
        for i, a in enumerate(coords):
            for j, b in enumerate(coords):
                for p, t, u, v in zip(net.parameters(), theta, d1, d2, strict=True):
                    p.copy_(t + float(a) * u + float(b) * v)
                losses[i, j] = F.cross_entropy(net(x), y).item()
    return coords, losses


def slice_curvatures(coords: np.ndarray, losses: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The eigenvalues (smallest, largest) of the slice's 2x2 Hessian by central finite differences, at every
    interior grid point: two arrays of shape (steps - 2, steps - 2)."""
    h = coords[1] - coords[0]
    f = losses
    faa = (f[2:, 1:-1] - 2 * f[1:-1, 1:-1] + f[:-2, 1:-1]) / h**2
    fbb = (f[1:-1, 2:] - 2 * f[1:-1, 1:-1] + f[1:-1, :-2]) / h**2
    fab = (f[2:, 2:] - f[2:, :-2] - f[:-2, 2:] + f[:-2, :-2]) / (4 * h**2)
    mean, root = (faa + fbb) / 2, np.sqrt(((faa - fbb) / 2) ** 2 + fab**2)
    return mean - root, mean + root


# a point is non-convex when the slice bends down along some direction by more than a tenth of how much it bends up
# along another (Li et al. map |lambda_min / lambda_max|; a tenth is the book's negligible size for a ratio's
# share), or bends down with nothing bending up
NON_CONVEX_RATIO = 0.1


def non_convex_points(coords: np.ndarray, losses: np.ndarray, radius: float = 1.0) -> np.ndarray:
    """Per interior grid point within `radius` of the trained net (in filter-normalised units), whether the slice
    is non-convex there (`NON_CONVEX_RATIO`), as floats (1 non-convex, 0 not): the units the claims average. A
    point whose loss or neighbours are not finite counts as non-convex (the surface broke there)."""
    low, high = slice_curvatures(coords, losses)
    inner = coords[1:-1]
    within = (inner[:, None] ** 2 + inner[None, :] ** 2) <= radius**2 + 1e-12
    with np.errstate(invalid="ignore", divide="ignore"):
        bad = (low < 0) & ((high <= 0) | (-low > NON_CONVEX_RATIO * np.abs(high)))
    bad |= ~(np.isfinite(low) & np.isfinite(high))
    return bad[within].astype(float)
