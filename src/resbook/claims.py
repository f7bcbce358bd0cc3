"""The claim machinery, shared by every chapter: a paper's claim, how it is tested, and our verdict on it.

A `Claim` names its statistic, the direction the paper gives, the smallest effect that counts (with the
reason for that size) and, where structure alone could produce the effect, a control: the same net
untrained. `check` turns one `stats.Measurement` per seed into a `Verdict` with one of three outcomes:
- holds: the 95 % interval clears the smallest effect in the paper's direction;
- contradicted: the interval excludes the paper's claim (the effect is surely smaller than that, or
  opposite; for an "about the same" claim, surely larger than the margin);
- inconclusive: neither.
"About the same" claims are two one-sided tests at 5 % each: their interval is the 90 % one (`stats`), and
their detail says from how many seeds on they could hold at the measured seed-to-seed spread.
With a control, the decision is made on the trained net's statistic minus (or over) the control's, seed
by seed. Every verdict also says which of the runs behind it failed (`failed`: did not train or diverged, as
`run_status` classifies them, net by net with their seeds); which runs count is the chapter's rule, next to each
claim, through `run_status.count`. Arithmetic facts (parameter counts, path counts) are `Fact`s: shown, never
counted as claims.
Each chapter module declares its own claims; this module holds no chapter's logic. The bookkeeping from a
chapter's frames to one measurement per seed is shared too, in `per_seed`.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from . import record
from .stats import EQUIVALENCE_LEVEL, LEVEL, Estimate, Measurement, estimate, seeds_to_hold

OUTCOMES = ("holds", "contradicted", "inconclusive")


class Direction(str, enum.Enum):
    ABOVE = "above"  # the paper's effect is a statistic above `threshold`
    BELOW = "below"  # ... below `threshold`
    WITHIN = "within"  # "about the same": the statistic lies within ± `threshold` (an equivalence test)


@dataclass(frozen=True)
class Claim:
    key: str
    source: str  # bibliography key (papers.HE2016, ...)
    where: str  # table or figure
    text: str  # the claim, in a sentence
    paper: str  # what the paper reports, as text
    statistic: str  # what we measure, per seed, in words (with its unit)
    direction: Direction
    threshold: float  # the smallest effect that counts, in the statistic's unit (a margin for WITHIN)
    reason: str  # one line: why that size
    points: bool = False  # the statistic is a difference of rates: shown in percentage points
    control: str = ""  # the untrained control, if the decision subtracts one ("" when none applies)
    versus_control: str = "difference"  # how trained and control combine: "difference" or "ratio"

    def needs(self) -> str:
        t = self.format(self.threshold)
        if self.direction == Direction.WITHIN:
            t = t.lstrip("+-")
        return {Direction.ABOVE: f"> {t}", Direction.BELOW: f"< {t}", Direction.WITHIN: f"within ± {t}"}[
            self.direction]

    def format(self, value: float) -> str:
        if self.points:
            return f"{100 * value:+.1f} pts" if value else "0 pts"
        return f"{value:.3g}"

    def outcome(self, est: Estimate | None) -> str:
        """holds, contradicted or inconclusive, from the interval of `est` (None: not measurable here)."""
        if est is None or not (np.isfinite(est.lo) and np.isfinite(est.hi)):
            return "inconclusive"
        t = self.threshold
        if self.direction == Direction.ABOVE:
            return "holds" if est.lo > t else "contradicted" if est.hi < t else "inconclusive"
        if self.direction == Direction.BELOW:
            return "holds" if est.hi < t else "contradicted" if est.lo > t else "inconclusive"
        if -t < est.lo and est.hi < t:
            return "holds"
        return "contradicted" if est.lo > t or est.hi < -t else "inconclusive"


def declare(*claims: Claim) -> dict[str, Claim]:
    """A chapter's claims by key (each key once)."""
    keys = [c.key for c in claims]
    if len(set(keys)) != len(keys):
        raise ValueError(f"claim keys repeat: {keys}")
    return {c.key: c for c in claims}


@dataclass(frozen=True)
class Verdict:
    claim: Claim
    dataset: str
    estimate: Estimate | None  # the statistic decided on (trained vs control where a control applies)
    trained: Estimate | None = None  # with a control: the trained net's own statistic ...
    untrained: Estimate | None = None  # ... and the untrained control's
    detail: str = ""  # what else a reader needs, e.g. the error rates behind a difference
    # the runs behind the verdict that did not train or diverged, net by net ("plain-56: seeds 1, 2 did not
    # train"; `run_status.summary`), "" when all trained: shown whether or not the claim counted them
    failed: str = ""

    @property
    def key(self) -> str:
        return self.claim.key

    @property
    def outcome(self) -> str:
        return self.claim.outcome(self.estimate)

    def _interval(self, est: Estimate | None) -> str:
        if est is None:
            return "not measured"
        c = self.claim
        return f"{c.format(est.value)} [{c.format(est.lo)}, {c.format(est.hi)}]"

    def why(self) -> str:
        """Why this verdict is not "holds", from its own numbers: where the interval lies and how it was made."""
        c, est = self.claim, self.estimate
        if est is None:
            return f"not measured ({self.detail})" if self.detail else "not measured"
        interval = f"[{c.format(est.lo)}, {c.format(est.hi)}]"
        if self.outcome == "contradicted":
            why = f"its interval {interval} excludes what the claim needs ({c.needs()})"
            if c.control:
                neutral = 1.0 if c.versus_control == "ratio" else 0.0
                why += (": the untrained control shows more of the effect than the trained net" if est.hi < neutral
                        else ": training adds less than that to what the untrained control shows")
            return why
        why = f"its interval {interval} contains the threshold (needs {c.needs()})"
        return why + (f"; Student's t over only {est.seeds} seeds makes a wide interval" if est.seeds > 1 else "")

    def row(self, profile: str) -> dict:
        c = self.claim
        control = ""
        if c.control:
            control = f"trained {self._interval(self.trained)}; untrained {self._interval(self.untrained)}"
        return {
            "claim": c.text,
            "paper": f"{c.paper} ({c.where})",
            "statistic": c.statistic + (f" (trained {'minus' if c.versus_control == 'difference' else 'over'} "
                                        "untrained)" if c.control else ""),
            "ours (95 % interval)": self._interval(self.estimate)
                                    + (f", {self.estimate.method}" if self.estimate else ""),
            "needs": f"{c.needs()}: {c.reason}",
            "control": control or "-",
            "detail": self.detail or "-",
            "failed runs": self.failed or "-",
            "outcome": self.outcome,
            "data": self.dataset,
            "profile": profile,
        }


def check(claim: Claim, dataset: str, trained: Sequence[Measurement],
          untrained: Sequence[Measurement] | None = None, detail: str = "", failed: str = "") -> Verdict:
    """The verdict on `claim` from one measurement per seed (and per seed of the untrained control); `failed`:
    the runs behind it that did not train or diverged (`Verdict.failed`)."""
    if not trained:
        return Verdict(claim, dataset, None, detail=detail or "nothing to measure at this profile", failed=failed)
    level = EQUIVALENCE_LEVEL if claim.direction == Direction.WITHIN else LEVEL
    if not claim.control:
        decided = list(trained)
        return Verdict(claim, dataset, estimate(decided, level), detail=_with_power(claim, decided, detail),
                       failed=failed)
    if untrained is None or len(untrained) != len(trained):
        raise ValueError(f"{claim.key}: a controlled claim needs one untrained measurement per seed")
    decided = [t - u if claim.versus_control == "difference" else t / u
               for t, u in zip(trained, untrained, strict=True)]
    return Verdict(claim, dataset, estimate(decided, level), estimate(trained), estimate(untrained),
                   _with_power(claim, decided, detail), failed)


def _with_power(claim: Claim, decided: Sequence[Measurement], detail: str) -> str:
    """For an "about the same" claim over seeds: the fewest seeds at which it could hold at this spread."""
    if claim.direction != Direction.WITHIN or len(decided) < 2:
        return detail
    spread = float(np.std([m.value for m in decided], ddof=1))
    n = seeds_to_hold(spread, claim.threshold)
    power = (f"at this seed-to-seed spread ({claim.format(spread).lstrip('+')}) it could hold from "
             f"{n} seeds on" if n else "at this spread no practical number of seeds could make it hold")
    return f"{detail}; {power}" if detail else power


@dataclass(frozen=True)
class Fact:
    """Arithmetic the chapters rely on (parameter counts, path counts): shown, not counted as a claim."""

    key: str
    source: str
    where: str
    text: str
    paper: str
    ours: str
    matches: bool

    def row(self) -> dict:
        return {"fact": self.text, "paper": f"{self.paper} ({self.where})", "ours": self.ours,
                "matches": "yes" if self.matches else "NO"}


def table(verdicts: Sequence[Verdict], profile: str) -> pd.DataFrame:
    return pd.DataFrame([v.row(profile) for v in verdicts])


def facts_table(facts: Sequence[Fact]):
    """The arithmetic a chapter relies on, as the chapter shows it (apart from its claims)."""
    return pd.DataFrame([f.row() for f in facts]).style.hide(axis="index")


def report(verdicts: Sequence[Verdict], profile: str, chapter: str):
    """The claims table as a chapter shows it; also recorded for the book's scorecard page."""
    frame = table(verdicts, profile)
    record.claims(chapter, frame.to_dict("records"))
    # the page says its profile once, above; the table keeps to what differs from row to row
    return frame.drop(columns=["profile"]).style.hide(axis="index")


def tally(verdicts: Sequence[Verdict]) -> str:
    counts = {o: sum(v.outcome == o for v in verdicts) for o in OUTCOMES}
    return ", ".join(f"{n} {o}" for o, n in counts.items())


def reading(verdicts: Sequence[Verdict], profile: str, likely_reasons: Mapping[str, str] | None = None) -> str:
    """Markdown that says, from the verdicts themselves, which claims held, were contradicted or were
    inconclusive; for each that did not hold, why (from its interval), and the chapter's likely reason at
    small scale (`likely_reasons`, by claim key) where it has one."""
    lines = [f"**At the `{profile}` profile: {tally(verdicts)}.**", ""]
    for outcome in OUTCOMES:
        chosen = [v for v in verdicts if v.outcome == outcome]
        if chosen:
            items = "; ".join(f"{v.claim.text[0].lower()}{v.claim.text[1:]} ({v.dataset}: {v._interval(v.estimate)})"
                              for v in chosen)
            lines.append(f"- *{outcome.capitalize()}*: {items}.")
    reasons = likely_reasons or {}
    for v in verdicts:
        if v.outcome != "holds":
            reason = f" A likely reason: {reasons[v.key]}." if v.key in reasons else ""
            lines.append(f"- `{v.key}` [{v.dataset}] is {v.outcome}: {v.why()}.{reason}")
    return "\n".join(lines)


def summary(verdicts: Sequence[Verdict]) -> str:
    """One line per verdict, without numbers, so that it is stable across runs of a profile."""
    return "\n".join(f"{v.key} [{v.dataset}]: {v.outcome}" for v in verdicts)


def spearman(a, b) -> float:
    from scipy.stats import spearmanr

    return float(spearmanr(a, b).statistic)
