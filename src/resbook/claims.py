"""The claim machinery, shared by every chapter: a paper's claim, our verdict on it, and the tables.

Each chapter module declares its own claims (`Claim`) and computes its verdicts; this module holds no
chapter's logic.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd


@dataclass(frozen=True)
class Claim:
    key: str
    source: str  # bibliography key (papers.HE2016, ...)
    where: str  # table or figure
    text: str  # the claim, in a sentence
    paper: str  # what the paper reports, as text


def declare(*claims: Claim) -> dict[str, Claim]:
    """A chapter's claims by key (each key once)."""
    keys = [c.key for c in claims]
    if len(set(keys)) != len(keys):
        raise ValueError(f"claim keys repeat: {keys}")
    return {c.key: c for c in claims}


@dataclass(frozen=True)
class Verdict:
    claim: Claim
    ours: str
    holds: bool
    dataset: str = "-"

    @property
    def key(self) -> str:
        return self.claim.key

    def row(self, profile: str) -> dict:
        return {
            "claim": self.claim.text,
            "paper": f"{self.claim.paper} ({self.claim.where})",
            "ours": self.ours,
            "verdict": "holds" if self.holds else "does not hold",
            "data": self.dataset,
            "profile": profile,
        }


def table(verdicts: list[Verdict], profile: str) -> pd.DataFrame:
    return pd.DataFrame([v.row(profile) for v in verdicts])


def report(verdicts: list[Verdict], profile: str, chapter: str):
    """The claims table as a chapter shows it; also recorded for the book's scorecard page."""
    from .site import record

    frame = table(verdicts, profile)
    record.claims(chapter, frame.to_dict("records"))
    return frame.style.hide(axis="index")


def summary(verdicts: list[Verdict]) -> str:
    """One line per verdict, without numbers, so that it is stable across runs of a profile."""
    return "\n".join(f"{v.key} [{v.dataset}]: {'holds' if v.holds else 'does not hold'}" for v in verdicts)


def pct(mean: float, std: float) -> str:
    return f"{100 * mean:.1f} ± {100 * std:.1f} %"


def spearman(a, b) -> float:
    from scipy.stats import spearmanr

    return float(spearmanr(a, b).statistic)
