"""Chapter 3's probes per example: the head read after each block, unrolling the last block, dropping a block.

`probes.refinement` gives the read-outs and the unrolling as means over examples; a claim's interval
resamples the examples, so these return one value per example (the last axis). Each also costs less than
calling its per-mean twin repeatedly: the forward pass up to the probed block is computed once and reused.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from ..models import eval_mode
from .refinement import UNROLL_SCALES, _readout, last_stage


@torch.no_grad()
def readouts_per_example(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> dict[str, np.ndarray]:
    """The head applied after every block of the last stage (Jastrzebski et al. Fig. 5-6), per example.

    Returns `block` (the 1-based block after which the head reads, shape (positions,)) and, each of shape
    (positions, examples): `correct`, `loss`, `entropy` and `borderline` (top two probabilities closer
    than `refinement.BORDERLINE_MARGIN`). Its means over examples are `probes.intermediate_readouts`.
    """
    with eval_mode(model):
        hs = model.features(x)
        stage = last_stage(model)
        reads = [_readout(model, hs[i + 1], y) for i in stage]
        return {"block": np.array([i + 1 for i in stage]),
                "correct": np.stack([(r["pred"] == y).numpy() for r in reads]),
                "loss": np.stack([r["loss"].numpy() for r in reads]),
                "entropy": np.stack([r["entropy"].numpy() for r in reads]),
                "borderline": np.stack([r["borderline"].numpy() for r in reads])}


@torch.no_grad()
def unroll_per_example(model: nn.Module, x: torch.Tensor, y: torch.Tensor, steps: int = 20,
                       scales: Sequence[float] = UNROLL_SCALES) -> dict[float, dict[str, np.ndarray]]:
    """The last block applied `steps` more times as h <- shortcut(h) + scale * F(h), for every scale.

    scale -> {`norm`, `loss`, `correct`: shape (steps + 1, examples), row 0 the net as trained;
    `borderline`: shape (examples,), borderline before unrolling}. The features before the last block's
    first extra step are computed once for all scales; `probes.unroll_last_block` gives the same means.
    """
    with eval_mode(model):
        block = model.blocks[-1]
        start = model.features(x)[-1]
        borderline = _readout(model, start, y)["borderline"].numpy()
        out = {}
        for scale in scales:
            h, rows = start, {"norm": [], "loss": [], "correct": []}
            for step in range(steps + 1):
                if step:
                    h = block.combine(block.shortcut(h), scale * block.branch(h))
                r = _readout(model, h, y)
                rows["norm"].append(h.flatten(1).norm(dim=1).numpy())
                rows["loss"].append(r["loss"].numpy())
                rows["correct"].append((r["pred"] == y).numpy())
            out[float(scale)] = {key: np.stack(v) for key, v in rows.items()} | {"borderline": borderline}
        return out


def best_scale(unrolled: dict[float, dict[str, np.ndarray]]) -> float:
    """The scale of `unroll_per_example` with the lowest mean loss after the last step (ties: the larger).

    Call it on examples that are not scored afterwards, so that the choice never sees what it is judged on.
    """
    final = {s: float(np.nan_to_num(u["loss"][-1].mean(), nan=np.inf)) for s, u in unrolled.items()}
    return min(final, key=lambda s: (final[s], -s))
