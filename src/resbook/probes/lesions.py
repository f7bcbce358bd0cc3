"""Lesions and reorderings (Veit et al. Fig. 3 and 5): a trained net with blocks deleted or swapped."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator

import numpy as np
import pandas as pd
import torch
from torch import nn

from ..models import eval_mode


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


@torch.no_grad()
def mistakes(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 1000) -> np.ndarray:
    """Per example of `x`: True where `model` (eval mode) misclassifies it. Its mean is `error_rate`."""
    with eval_mode(model):
        return np.concatenate([(model(x[i:i + batch_size]).argmax(1) != y[i:i + batch_size]).numpy()
                               for i in range(0, len(x), batch_size)])


@torch.no_grad()
def losses(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 1000) -> np.ndarray:
    """Per example of `x`: the cross-entropy loss of `model` (eval mode). A statistic with no floor at zero
    error: two nets that both classify every training example right still differ in how sure they are."""
    with eval_mode(model):
        return np.concatenate([nn.functional.cross_entropy(model(x[i:i + batch_size]), y[i:i + batch_size],
                                                           reduction="none").numpy()
                               for i in range(0, len(x), batch_size)])


@torch.no_grad()
def lesion_mistakes(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> np.ndarray:
    """`mistakes` with each block deleted alone: shape (blocks, examples); row means are `single_lesions`.

    Reuses the intact forward pass up to the deleted block (about half the cost of a pass per lesion).
    """
    with eval_mode(model):
        hs = model.features(x)
        rows = []
        for i, block in enumerate(model.blocks):
            h = block.shortcut(hs[i])  # the deleted block passes its input through its shortcut only
            for later in model.blocks[i + 1:]:
                h = later(h)
            rows.append((model.head(h).argmax(1) != y).numpy())
        return np.stack(rows)


def error_rate(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Fraction of `x` misclassified, in eval mode: the mean of `mistakes`."""
    return float(mistakes(model, x, y).mean())


def single_lesions(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> pd.DataFrame:
    """Error after deleting each block alone (Veit et al. Fig. 3), one row per block: the row means of
    `lesion_mistakes`."""
    wrong = lesion_mistakes(model, x, y)
    return pd.DataFrame({"block": np.arange(1, len(wrong) + 1),
                         "downsample": [b.downsample for b in model.block_info()], "error": wrong.mean(1)})


def random_lesions(model: nn.Module, x: torch.Tensor, y: torch.Tensor, draws: int = 10, seed: int = 0) -> pd.DataFrame:
    """Error after deleting k random blocks, for k = 0 .. n (Veit et al. Fig. 5a): one row per (k, draw).

    One draw at k = 0 and k = n, where there is only one choice. Each row keeps its `mistakes` (a bool array
    over the examples of `x`), so that a claim about the curve can resample the examples.
    """
    rng = np.random.default_rng(seed)
    n = len(model.blocks)
    rows = []
    for k in range(n + 1):
        for draw in range(draws if 0 < k < n else 1):
            with lesioned(model, rng.choice(n, size=k, replace=False).tolist()):
                wrong = mistakes(model, x, y)
            rows.append({"k": k, "draw": draw, "error": float(wrong.mean()), "mistakes": wrong})
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
    groups: dict[int, list[int]] = {}
    for b in model.block_info():
        if not b.downsample:
            groups.setdefault(b.stage, []).append(b.index)
    return [g for g in groups.values() if len(g) > 1]


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


