"""What the final classifier reads after each block of the last stage, and after the last block is applied
again and again (Jastrzebski et al. 2018, Fig. 5-7).

Each probe returns one value per example (the last axis), since a claim's interval resamples the examples;
`intermediate_readouts` and `unroll_last_block` are their means over examples, as tables. The forward pass up to
the probed block is computed once and reused for every position and every scale.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.nn import functional as F

from ..models import ResNet, eval_mode

BORDERLINE_MARGIN = 0.1  # an example is borderline when its top two probabilities differ by less than this
UNROLL_SCALES = (1.0, 0.5, 0.2, 0.1, 0.05, 0.02, 0.01)  # the scales an unrolling is tried at


def last_stage(model: ResNet) -> list[int]:
    """Indices of the blocks of the last stage (`ResNet.block_info`): those whose output the head can read."""
    info = model.block_info()
    last = max(b.stage for b in info)
    return [b.index for b in info if b.stage == last]


def _mean(values: np.ndarray) -> np.ndarray:
    """The mean over examples (the last axis), in float64."""
    return values.mean(axis=-1, dtype=np.float64)


def _readout(model: nn.Module, h: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
    """The head read at features h, per example: prediction, loss, entropy, borderline."""
    probs = model.head(h).softmax(1)
    top2 = probs.topk(2, dim=1).values
    return {
        "pred": probs.argmax(1),
        "loss": F.nll_loss(probs.clamp_min(1e-12).log(), y, reduction="none"),
        "entropy": -(probs * probs.clamp_min(1e-12).log()).sum(1),
        "borderline": (top2[:, 0] - top2[:, 1]) < BORDERLINE_MARGIN,
    }


@torch.no_grad()
def readouts_per_example(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> dict[str, np.ndarray]:
    """The head applied after every block of the last stage (Jastrzebski et al. Fig. 5-6), per example.

    Returns `block` (the 1-based block after which the head reads, shape (positions,)) and, each of shape
    (positions, examples): `correct`, `loss`, `entropy`, `borderline` (top two probabilities closer than
    BORDERLINE_MARGIN), and `corrected` / `broken` (1.0 where the example is borderline here and the next
    block turns it from wrong to right / from right to wrong; NaN in the last row, which has no next block).
    """
    with eval_mode(model):
        hs = model.features(x)
        stage = last_stage(model)
        reads = [_readout(model, hs[i + 1], y) for i in stage]
        right = np.stack([(r["pred"] == y).numpy() for r in reads])
        border = np.stack([r["borderline"].numpy() for r in reads])
        corrected, broken = np.full(right.shape, np.nan), np.full(right.shape, np.nan)
        corrected[:-1] = border[:-1] & ~right[:-1] & right[1:]
        broken[:-1] = border[:-1] & right[:-1] & ~right[1:]
        return {"block": np.array([i + 1 for i in stage]), "correct": right,
                "loss": np.stack([r["loss"].numpy() for r in reads]),
                "entropy": np.stack([r["entropy"].numpy() for r in reads]),
                "borderline": border, "corrected": corrected, "broken": broken}


def intermediate_readouts(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> pd.DataFrame:
    """`readouts_per_example` as a table, one row per block of the last stage: accuracy, loss, entropy and the
    share of borderline examples (means over examples), corrected / broken (counts; NaN for the last block)."""
    out = readouts_per_example(model, x, y)
    return pd.DataFrame({"block": out["block"], "accuracy": _mean(out["correct"]), "loss": _mean(out["loss"]),
                         "entropy": _mean(out["entropy"]), "borderline": _mean(out["borderline"]),
                         "corrected": out["corrected"].sum(1), "broken": out["broken"].sum(1)})


@torch.no_grad()
def unroll_per_example(model: nn.Module, x: torch.Tensor, y: torch.Tensor, steps: int = 20,
                       scales: Sequence[float] = UNROLL_SCALES) -> dict[float, dict[str, np.ndarray]]:
    """The last block applied `steps` more times as h <- shortcut(h) + scale * F(h), for every scale.

    scale -> {`norm`, `loss`, `entropy`, `correct`: shape (steps + 1, examples), row 0 the net as trained;
    `borderline`: shape (examples,), borderline before unrolling}. The features before the last block's
    first extra step are computed once for all scales.
    """
    with eval_mode(model):
        block = model.blocks[-1]
        start = model.features(x)[-1]
        borderline = _readout(model, start, y)["borderline"].numpy()
        out = {}
        for scale in scales:
            h, rows = start, {"norm": [], "loss": [], "entropy": [], "correct": []}
            for step in range(steps + 1):
                if step:
                    h = block.combine(block.shortcut(h), scale * block.branch(h))
                r = _readout(model, h, y)
                rows["norm"].append(h.flatten(1).norm(dim=1).numpy())
                rows["loss"].append(r["loss"].numpy())
                rows["entropy"].append(r["entropy"].numpy())
                rows["correct"].append((r["pred"] == y).numpy())
            out[float(scale)] = {key: np.stack(v) for key, v in rows.items()} | {"borderline": borderline}
        return out


def unroll_last_block(model: nn.Module, x: torch.Tensor, y: torch.Tensor, steps: int = 20,
                      scale: float = 1.0) -> pd.DataFrame:
    """`unroll_per_example` at one scale as a table, one row per extra step (0 = the net as trained): mean
    activation norm, loss, accuracy and entropy over all examples, and the accuracy on (and count of) the
    examples that were borderline before unrolling."""
    out = unroll_per_example(model, x, y, steps, (scale,))[float(scale)]
    start, correct = out["borderline"], out["correct"]
    return pd.DataFrame({"step": np.arange(steps + 1), "scale": scale, "norm": _mean(out["norm"]),
                         "loss": _mean(out["loss"]), "accuracy": _mean(correct), "entropy": _mean(out["entropy"]),
                         "borderline_accuracy": _mean(correct[:, start]) if start.any() else np.nan,
                         "borderline_count": int(start.sum())})


def best_scale(unrolled: dict[float, dict[str, np.ndarray]]) -> float:
    """The scale of `unroll_per_example` with the lowest mean loss after the last step (ties: the larger).

    Call it on examples that are not scored afterwards, so that the choice never sees what it is judged on.
    """
    final = {s: float(np.nan_to_num(u["loss"][-1].mean(), nan=np.inf)) for s, u in unrolled.items()}
    return min(final, key=lambda s: (final[s], -s))


def choose_unroll_scale(model: nn.Module, x: torch.Tensor, y: torch.Tensor, steps: int = 20,
                        grid: tuple[float, ...] = UNROLL_SCALES) -> float:
    """`best_scale` of unrolling on (x, y) at every scale of `grid`. Call it with training data, so that the
    choice never looks at the test set."""
    return best_scale(unroll_per_example(model, x, y, steps, grid))
