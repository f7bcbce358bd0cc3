"""Probes of iterative refinement (Jastrzebski et al. 2018): how each block moves the features.

With h_{i+1} = h_i + F_i(h_i), a first-order expansion gives L(h_{i+1}) ~ L(h_i) + <F_i(h_i), dL/dh_i>:
a block lowers the loss when F_i points against the gradient, like a step of gradient descent.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.nn import functional as F

from ..models import eval_mode

BORDERLINE_MARGIN = 0.1  # an example is borderline when its top two probabilities differ by less than this


def _per_example(t: torch.Tensor) -> torch.Tensor:
    return t.flatten(1)


def block_alignment_per_example(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> np.ndarray:
    """Per block and example: cos(F_i(h_i), dL/dh_i), L the summed cross-entropy, eval mode; shape (blocks, examples).

    NaN rows for blocks whose branch output has another shape than their input (downsampling blocks).
    """
    with eval_mode(model):
        hs = [model.stem(x)]
        for block in model.blocks:
            hs.append(block(hs[-1]))
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
        ratios = []
        h = model.stem(x)
        for block in model.blocks:
            branch = block.branch(h)
            ratios.append((_per_example(branch).norm(dim=1) / _per_example(h).norm(dim=1)).numpy())
            h = block(h)
        return np.stack(ratios)


def norm_ratios(model: nn.Module, x: torch.Tensor) -> list[float]:
    """Per block: the mean over examples of ||F_i(h_i)|| / ||h_i||, eval mode."""
    return [float(row.mean()) for row in norm_ratios_per_example(model, x)]


def last_stage(model: nn.Module) -> list[int]:
    """Indices of the blocks after the last downsampling block: those whose output the head can read."""
    last_down = max(i for i, b in enumerate(model.blocks) if b.downsample)
    return list(range(last_down, len(model.blocks)))


def _readout(model: nn.Module, h: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
    probs = model.head(h).softmax(1)
    top2 = probs.topk(2, dim=1).values
    return {
        "pred": probs.argmax(1),
        "loss": F.nll_loss(probs.clamp_min(1e-12).log(), y, reduction="none"),
        "entropy": -(probs * probs.clamp_min(1e-12).log()).sum(1),
        "borderline": (top2[:, 0] - top2[:, 1]) < BORDERLINE_MARGIN,
    }


@torch.no_grad()
def intermediate_readouts(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> pd.DataFrame:
    """The final classifier (head) applied after every block of the last stage (Jastrzebski Fig. 5-6).

    One row per block: accuracy, loss and entropy over all examples; the share of borderline examples;
    and of the examples borderline here, how many the *next* block corrects (wrong -> right) or breaks.
    """
    with eval_mode(model):
        hs = model.features(x)
        stage = last_stage(model)
        reads = [_readout(model, hs[i + 1], y) for i in stage]
        rows = []
        for pos, (i, r) in enumerate(zip(stage, reads, strict=True)):
            right = r["pred"] == y
            row = {"block": i + 1, "accuracy": right.float().mean().item(), "loss": r["loss"].mean().item(),
                   "entropy": r["entropy"].mean().item(), "borderline": r["borderline"].float().mean().item(),
                   "corrected": np.nan, "broken": np.nan}
            if pos + 1 < len(reads):
                nxt = reads[pos + 1]["pred"] == y
                b = r["borderline"]
                row["corrected"] = int((b & ~right & nxt).sum())
                row["broken"] = int((b & right & ~nxt).sum())
            rows.append(row)
        return pd.DataFrame(rows)


@torch.no_grad()
def unroll_last_block(model: nn.Module, x: torch.Tensor, y: torch.Tensor, steps: int = 20,
                      scale: float = 1.0) -> pd.DataFrame:
    """Apply the last block `steps` more times as h <- shortcut(h) + scale * F(h) (Jastrzebski Fig. 7).

    One row per extra step (0 = the net as trained): mean activation norm, loss, accuracy and entropy,
    over all examples and over the examples that were borderline before unrolling.
    """
    with eval_mode(model):
        block = model.blocks[-1]
        h = model.features(x)[-1]
        start = _readout(model, h, y)["borderline"]
        rows = []
        for step in range(steps + 1):
            if step:
                h = block.combine(block.shortcut(h), scale * block.branch(h))
            r = _readout(model, h, y)
            right = (r["pred"] == y).float()
            rows.append({"step": step, "scale": scale, "norm": _per_example(h).norm(dim=1).mean().item(),
                         "loss": r["loss"].mean().item(), "accuracy": right.mean().item(),
                         "entropy": r["entropy"].mean().item(),
                         "borderline_accuracy": right[start].mean().item() if start.any() else np.nan,
                         "borderline_count": int(start.sum())})
        return pd.DataFrame(rows)


UNROLL_SCALES = (1.0, 0.5, 0.2, 0.1, 0.05, 0.02, 0.01)  # the scales an unrolling is tried at


def choose_unroll_scale(model: nn.Module, x: torch.Tensor, y: torch.Tensor, steps: int = 20,
                        grid: tuple[float, ...] = UNROLL_SCALES) -> float:
    """The scale from `grid` whose unrolling gives the lowest loss after `steps` extra steps on (x, y).

    Call it with training data, so that the choice never looks at the test set.
    """
    losses = {s: unroll_last_block(model, x, y, steps, s).loss.iloc[-1] for s in grid}
    return min(losses, key=lambda s: (np.nan_to_num(losses[s], nan=np.inf), -s))
