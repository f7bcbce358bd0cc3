"""Each chapter's verdicts: a paper claim, the paper's value, ours (computed from the run), holds or not."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from .models import count_parameters, resnet
from .papers import CLAIMS, TABLE6_PARAMS_M

# A difference in error rate smaller than this (2 percentage points) is treated as no difference.
ERROR_MARGIN = 0.02


@dataclass(frozen=True)
class Verdict:
    key: str  # the claim's key in papers.CLAIMS
    ours: str
    holds: bool
    dataset: str = "-"

    def row(self, profile: str) -> dict:
        paper = CLAIMS[self.key]
        return {
            "claim": paper.claim,
            "paper": f"{paper.value} ({paper.where})",
            "ours": self.ours,
            "verdict": "holds" if self.holds else "does not hold",
            "data": self.dataset,
            "profile": profile,
        }


def table(verdicts: list[Verdict], profile: str) -> pd.DataFrame:
    return pd.DataFrame([v.row(profile) for v in verdicts])


def summary(verdicts: list[Verdict]) -> str:
    """One line per verdict, without numbers, so that it is stable across runs of a profile."""
    return "\n".join(f"{v.key} [{v.dataset}]: {'holds' if v.holds else 'does not hold'}" for v in verdicts)


def _pct(mean: float, std: float) -> str:
    return f"{100 * mean:.1f} ± {100 * std:.1f} %"


def parameter_verdict() -> Verdict:
    """Our residual and plain nets at width 16 on 3x32x32 input against Table 6."""
    ours, holds = [], True
    for depth, paper_m in TABLE6_PARAMS_M.items():
        res = count_parameters(resnet(depth))
        plain = count_parameters(resnet(depth, residual=False))
        holds &= res == plain and round(res / 1e6, 2 if paper_m < 1 else 1) == paper_m
        ours.append(f"{res / 1e6:.3f}M")
    return Verdict("params", " / ".join(ours) + " (plain = residual)", holds)


def degradation_verdicts(finals: pd.DataFrame, responses: pd.DataFrame) -> list[Verdict]:
    """Chapter 1's claims for every data set in `finals` (one row per run) and `responses` (per layer)."""
    verdicts = [parameter_verdict()]
    for dataset, runs in finals.groupby("dataset", sort=False):
        stats = runs.groupby(["net", "depth"])[["train_err", "test_err"]].agg(["mean", "std"]).fillna(0.0)
        lo, hi = runs.depth.min(), runs.depth.max()

        def err(net: str, depth: int, split: str = "train_err", stats=stats) -> tuple[float, float]:
            return stats.loc[(net, depth), (split, "mean")], stats.loc[(net, depth), (split, "std")]

        p_lo, p_hi = err("plain", lo), err("plain", hi)
        r_lo, r_hi = err("residual", lo), err("residual", hi)
        t_lo, t_hi = err("residual", lo, "test_err"), err("residual", hi, "test_err")
        verdicts += [
            Verdict("degradation", f"train error plain-{lo} {_pct(*p_lo)}, plain-{hi} {_pct(*p_hi)}",
                    p_hi[0] > p_lo[0] + ERROR_MARGIN, dataset),
            Verdict("residual_beats_plain", f"train error at depth {hi}: residual {_pct(*r_hi)}, plain {_pct(*p_hi)}",
                    r_hi[0] + ERROR_MARGIN < p_hi[0], dataset),
            Verdict("residual_train_depth", f"train error residual-{lo} {_pct(*r_lo)}, residual-{hi} {_pct(*r_hi)}",
                    r_hi[0] <= r_lo[0] + ERROR_MARGIN / 2, dataset),
            Verdict("residual_test_depth", f"test error residual-{lo} {_pct(*t_lo)}, residual-{hi} {_pct(*t_hi)}",
                    t_hi[0] < t_lo[0], dataset),
        ]
        resp = responses[responses.dataset == dataset].groupby(["net", "depth"])["std"].mean()
        verdicts += [
            Verdict("responses_smaller",
                    f"mean std at depth {hi}: residual {resp['residual', hi]:.2f}, plain {resp['plain', hi]:.2f}",
                    resp["residual", hi] < resp["plain", hi], dataset),
            Verdict("responses_depth",
                    f"mean std residual-{lo} {resp['residual', lo]:.2f}, residual-{hi} {resp['residual', hi]:.2f}",
                    resp["residual", hi] < resp["residual", lo], dataset),
        ]
    return verdicts
