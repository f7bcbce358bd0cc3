"""The claim machinery, shared by every chapter: a paper's claim, how it is tested, and our verdict on it.

A `Claim` names its statistic, the direction the paper gives, its neutral value (no effect at all: 0 for a
difference, 1 for a ratio) and the smallest effect that counts, set by one of the book's `RULES` (`Basis`),
never tuned on our runs. `check` turns one `stats.Measurement` per seed of the trained nets into a `Verdict`:
- holds: the 95 % interval clears the smallest effect, in the paper's direction;
- weaker: the interval lies wholly between the neutral value and the smallest effect: surely the paper's
  direction, surely smaller than the smallest effect (half the paper's size, or, where the paper gives only a
  direction, the negligible size of `NEGLIGIBLE`);
- contradicted: the interval lies below the smallest effect and reaches the neutral value or beyond, and it
  excludes any effect larger than `Claim.absent_below` (a tenth of the paper's size, or the negligible one):
  the effect is absent or opposite (for an "about the same" claim: surely further apart than the margin);
- inconclusive: the interval contains the smallest effect, or lies below it while reaching both no effect and
  an effect too large to call absent (a small effect cannot be told from none);
- not testable here: nothing to measure (a floor or a ceiling, no net that trained), with its reason; left out
  of the tallies.
"About the same" claims are two one-sided tests at 5 % each: their interval is the 90 % one (`stats`), and
their detail says from how many seeds on they could hold at the measured seed-to-seed spread. A one-sided
"barely changes" claim (non-inferiority) is the same test on one side: also the 90 % interval.
Where the architecture alone could produce an effect, the claim names a control (the same nets untrained) and
its verdict carries a second one, `learned`: the book's own question "is it learned?", the trained statistic
minus (or over) the untrained one seed by seed, decided against no effect. It is a row of its own, marked as
the book's question, and never changes the paper's row. Claims no paper makes (`asks="book"`) stay out of
the papers' tallies too.
Every verdict also says which of the runs behind it failed (`failed`: did not train or diverged, as
`run_status` classifies them); which runs count is the chapter's rule, next to each claim, through
`run_status.count`. Arithmetic facts (parameter counts, path counts) are `Fact`s: shown, never counted.
Each chapter module declares its own claims; this module holds no chapter's logic.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from .stats import EQUIVALENCE_LEVEL, LEVEL, Estimate, Measurement, estimate, seeds_to_hold

OUTCOMES = ("holds", "weaker", "contradicted", "inconclusive", "not testable here")
DECIDED = ("holds", "weaker", "contradicted")
UNTESTABLE = "not testable here"


class Direction(str, enum.Enum):
    ABOVE = "above"  # the paper's effect is a statistic above `threshold`
    BELOW = "below"  # ... below `threshold`
    WITHIN = "within"  # "about the same": the statistic lies within ± `threshold` (an equivalence test)


class Basis(str, enum.Enum):
    """Where a claim's smallest effect comes from: one of the book's three rules, or (rarely, said why) its own."""

    PAPER = "paper"
    DIRECTION = "direction"
    SAME = "same"
    BOOK = "book"


# "About the same": twice the 0.5-point gap He et al. call marginal (Table 3: ResNet-34 top-1 25.03 % with
# option A, 24.52 % with B)
SAME_MARGIN = 0.01

# Where a paper gives only a direction, an effect must still be more than negligible to count, so that an absent
# effect can be told from a small one: a tenth on each kind of statistic's own scale
NEGLIGIBLE = {
    "points": SAME_MARGIN,  # an error difference: the 1-point margin within which two errors are about the same
    "ratio": 1.1,  # a ratio: 10 % (a factor, so a fall is below 1/1.1)
    "log10": math.log10(1.1),  # the log10 of a ratio: the same 10 %
    "correlation": 0.1,  # a rank correlation
}

RULES = {
    Basis.PAPER: "the paper reports a size: half of it counts (halfway from the neutral value to the paper's "
                 "number, cited with the claim)",
    Basis.DIRECTION: "the paper states a direction but no number we could check: any effect surely beyond a "
                     "negligible one counts, a tenth on the statistic's own scale (1 point for an error difference, "
                     "10 % for a ratio or for the log10 of one, 0.1 for a correlation)",
    Basis.SAME: "the paper says two results are about the same (or one barely changes): within ± 1 point, twice "
                "the 0.5-point gap He et al. call marginal (Table 3)",
    Basis.BOOK: "the book's own size, where none of the rules applies: the reason says why",
}
# When an effect counts as absent (what "contradicted" needs), on the same scales
ABSENT_RULE = ("an effect is absent when its interval excludes everything beyond a tenth of the paper's size (where "
               "the paper reports one), or beyond the negligible size (where it states a direction): a smaller "
               "interval that still reaches no effect is inconclusive, never contradicted")


def rule_threshold(basis: Basis, neutral: float, paper_value: float | None, unit: str = "",
                   sign: int = 1) -> float | None:
    """The smallest effect a rule gives (None for the book's own); `unit`: a key of NEGLIGIBLE (direction-only
    claims); `sign`: -1 for a claim of a fall."""
    if basis == Basis.PAPER:
        return neutral + (paper_value - neutral) / 2
    if basis == Basis.DIRECTION:
        if unit not in NEGLIGIBLE:
            raise ValueError(f"a direction-only claim needs a unit, one of {', '.join(NEGLIGIBLE)}; got {unit!r}")
        return neutral * NEGLIGIBLE[unit] ** sign if unit == "ratio" else neutral + sign * NEGLIGIBLE[unit]
    if basis == Basis.SAME:
        return SAME_MARGIN
    return None


@dataclass(frozen=True)
class Claim:
    key: str
    source: str  # bibliography key (papers.HE2016, ...)
    where: str  # table or figure
    text: str  # the claim, in a sentence
    paper: str  # what the paper reports, as text
    statistic: str  # what we measure, per seed, in words (with its unit)
    direction: Direction
    threshold: float  # the smallest effect that counts, in the statistic's unit (a margin for WITHIN): by `basis`
    reason: str  # one line: the paper's numbers behind it, or why the rule applies
    points: bool = False  # the statistic is a difference of rates: shown in percentage points
    control: str = ""  # the untrained control of the "is it learned?" row ("" when none applies)
    versus_control: str = "difference"  # how trained and control combine: "difference" or "ratio"
    basis: Basis = Basis.DIRECTION
    neutral: float = 0.0  # the statistic's value with no effect at all (1 for a ratio)
    paper_value: float | None = None  # the paper's own size of the effect, in our statistic's unit (Basis.PAPER)
    asks: str = "paper"  # "paper": a paper's claim; "book": the book's own question (out of the papers' tallies)
    unit: str = ""  # the kind of statistic, for the negligible size of a direction-only claim ("points" if `points`)

    @property
    def kind(self) -> str:
        return "points" if self.points else self.unit

    def __post_init__(self):
        if self.asks not in ("paper", "book"):
            raise ValueError(f"{self.key}: asks is 'paper' or 'book', not {self.asks!r}")
        if (self.basis == Basis.PAPER) != (self.paper_value is not None):
            raise ValueError(f"{self.key}: a paper_value goes with Basis.PAPER, and only there")
        expected = rule_threshold(self.basis, self.neutral, self.paper_value, self.kind,
                                  -1 if self.direction == Direction.BELOW else 1)
        if self.basis == Basis.SAME and self.direction != Direction.WITHIN:
            expected_neutral = SAME_MARGIN  # "barely changes": one-sided, no weaker zone
            if not math.isclose(self.neutral, expected_neutral):
                raise ValueError(f"{self.key}: a one-sided 'about the same' claim has its margin as neutral value")
        if (self.control and self.versus_control == "difference" and self.kind not in ("points", "log10")
                and self.basis != Basis.PAPER):
            # its "is it learned?" row needs a negligible size for a difference (a paper's size gives one)
            raise ValueError(f"{self.key}: a control compared by difference needs points, unit='log10' or a "
                             f"paper's size")
        if expected is not None and not math.isclose(self.threshold, expected, abs_tol=1e-12):
            raise ValueError(f"{self.key}: its rule ({self.basis.value}) gives {expected:.6g}, not {self.threshold}")

    @property
    def absent_below(self) -> float:
        """Below this (above, for a claim of a fall) the effect is absent: a tenth of the paper's size (a fifth of
        the smallest effect, which is half of it), else the smallest effect itself (direction-only claims, whose
        smallest effect is the negligible one; "about the same"; the book's own sizes)."""
        if self.basis == Basis.PAPER:
            return self.neutral + (self.threshold - self.neutral) / 5
        return self.threshold

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
        """The outcome of `est`'s interval (None: nothing measured, not testable here)."""
        if est is None:
            return UNTESTABLE
        if not (np.isfinite(est.lo) and np.isfinite(est.hi)):
            return "inconclusive"
        t, z = self.threshold, self.neutral
        if self.direction == Direction.WITHIN:
            if -t < est.lo and est.hi < t:
                return "holds"
            return "contradicted" if est.lo > t or est.hi < -t else "inconclusive"
        sign = 1 if self.direction == Direction.ABOVE else -1  # read a BELOW claim as ABOVE on -statistic
        lo, hi = (est.lo, est.hi) if sign > 0 else (-est.hi, -est.lo)
        t, z, absent = sign * t, sign * z, sign * self.absent_below
        if lo > t:
            return "holds"
        if hi < t and lo > z:
            return "weaker"
        if hi < min(t, absent):
            return "contradicted"
        return "inconclusive"

    def learned(self) -> Claim:
        """The book's question "is it learned?": the trained net shows surely more of the effect than the same
        net untrained (trained minus, or over, untrained, seed by seed, against no difference)."""
        neutral = 1.0 if self.versus_control == "ratio" else 0.0
        points = self.points and self.versus_control == "difference"
        direction = Direction.BELOW if self.direction == Direction.BELOW else Direction.ABOVE
        unit = "ratio" if self.versus_control == "ratio" else self.kind
        sign = -1 if direction == Direction.BELOW else 1
        basis = Basis.DIRECTION
        if self.basis == Basis.PAPER and self.versus_control == "difference":
            # more than an absent effect (`absent_below`) beyond the untrained net's: a tenth of the paper's size,
            # on a scale (a share, a cosine) that has no negligible size of its own
            basis, threshold = Basis.BOOK, neutral + sign * abs(self.paper_value - self.neutral) / 10
        else:
            threshold = rule_threshold(Basis.DIRECTION, neutral, None, unit, sign)
        join = "minus" if self.versus_control == "difference" else "over"
        return replace(self, key=f"{self.key}:learned", text=f"Is it learned? {self.text}: more so trained than "
                       f"untrained", statistic=f"{self.statistic}, trained {join} {self.control}",
                       direction=direction, threshold=threshold, neutral=neutral, points=points, unit=unit,
                       basis=basis, paper_value=None, asks="book",
                       reason="the book's question, not the paper's: more than a negligible effect beyond the "
                              "untrained nets' (a tenth of the paper's size where it reports one)",
                       control="")


def declare(*claims: Claim) -> dict[str, Claim]:
    """A chapter's claims by key (each key once)."""
    keys = [c.key for c in claims]
    if len(set(keys)) != len(keys):
        raise ValueError(f"claim keys repeat: {keys}")
    return {c.key: c for c in claims}


def setting(dataset: str) -> str:
    """How close to the paper a verdict was measured: the papers' own data, or a stand-in for it."""
    return "paper's data (CIFAR-10)" if dataset == "cifar10" else f"stand-in: {dataset}"


@dataclass(frozen=True)
class Verdict:
    claim: Claim
    dataset: str
    estimate: Estimate | None  # the trained nets' statistic (None: nothing to measure)
    trained: Estimate | None = None  # a learned row: the trained net's own statistic ...
    untrained: Estimate | None = None  # ... and the untrained control's
    detail: str = ""  # what else a reader needs, e.g. the error rates behind a difference
    # the runs behind the verdict that did not train or diverged, net by net ("plain-56: seeds 1, 2 did not
    # train"; `run_status.summary`), "" when all trained: shown whether or not the claim counted them
    failed: str = ""
    untestable: str = ""  # why nothing can be decided here (a floor, a ceiling), "" when it can
    learned: Verdict | None = field(default=None, compare=False)  # the "is it learned?" row, with a control

    @property
    def key(self) -> str:
        return self.claim.key

    @property
    def outcome(self) -> str:
        return UNTESTABLE if self.untestable else self.claim.outcome(self.estimate)

    def with_failed(self, failed: str) -> Verdict:
        """This verdict (and its "is it learned?" row) naming the runs behind it that failed."""
        learned = replace(self.learned, failed=failed) if self.learned is not None else None
        return replace(self, failed=failed, learned=learned)

    def _interval(self, est: Estimate | None) -> str:
        if est is None:
            return "not measured"
        c = self.claim
        return f"{c.format(est.value)} [{c.format(est.lo)}, {c.format(est.hi)}]"

    def why(self) -> str:
        """Why this verdict is not "holds", from its own numbers: where the interval lies and how it was made."""
        c, est = self.claim, self.estimate
        if self.outcome == UNTESTABLE:
            return self.untestable or self.detail or "nothing to measure"
        interval = f"[{c.format(est.lo)}, {c.format(est.hi)}]"
        if self.outcome == "weaker":
            return (f"its interval {interval} is surely in the paper's direction (beyond {c.format(c.neutral)}) but "
                    f"surely short of the smallest size that counts ({c.needs()})")
        if self.outcome == "contradicted":
            if c.direction == Direction.WITHIN:
                return f"its interval {interval} lies outside the margin ({c.needs()})"
            if c.basis == Basis.SAME:  # one-sided "no worse than": its neutral value is the margin itself
                return f"its interval {interval} lies wholly beyond the margin ({c.needs()})"
            return (f"its interval {interval} excludes what the claim needs ({c.needs()}) and reaches no effect "
                    f"({c.format(c.neutral)}) or the opposite")
        short = est.hi < c.threshold if c.direction == Direction.ABOVE else est.lo > c.threshold
        if c.direction != Direction.WITHIN and short:
            return (f"its interval {interval} is short of what the claim needs ({c.needs()}) but reaches both no "
                    f"effect ({c.format(c.neutral)}) and more than a negligible one ({c.format(c.absent_below)}): "
                    f"a small effect cannot be told from none")
        why = f"its interval {interval} contains the threshold (needs {c.needs()})"
        return why + (f"; Student's t over only {est.seeds} seeds makes a wide interval" if est.seeds > 1 else "")

    def row(self, profile: str) -> dict:
        """Everything the chapter table, the scorecard and its forest plot show of this verdict."""
        c, est = self.claim, self.estimate
        detail = self.detail
        if self.trained is not None:
            detail = "; ".join(filter(None, [f"trained {self._interval(self.trained)}, untrained "
                                             f"{self._interval(self.untrained)}", detail]))
        return {
            "key": c.key,
            "claim": c.text,
            "asks": "paper" if c.asks == "paper" else "book's question",
            "paper": f"{c.paper} ({c.where})",
            "statistic": c.statistic,
            "ours (95 % interval)": self._interval(est) + (f", {est.method}" if est else ""),
            "needs": c.needs(),
            "why that size": f"{RULE_NAMES[c.basis]}: {c.reason}",
            "detail": "; ".join(filter(None, [self.untestable, detail])) or "-",
            "failed runs": self.failed or "-",
            "outcome": self.outcome,
            "data": self.dataset,
            "setting": setting(self.dataset),
            "profile": profile,
            # numbers for the forest plot
            "value": est.value if est else None, "lo": est.lo if est else None, "hi": est.hi if est else None,
            "threshold": c.threshold, "neutral": c.neutral, "direction": c.direction.value, "points": c.points,
        }


RULE_NAMES = {Basis.PAPER: "half the paper's size", Basis.DIRECTION: "direction only",
              Basis.SAME: "about the same", Basis.BOOK: "the book's own"}


def check(claim: Claim, dataset: str, trained: Sequence[Measurement],
          untrained: Sequence[Measurement] | None = None, detail: str = "", failed: str = "",
          untestable: str = "", learned_untestable: str = "") -> Verdict:
    """The verdict on `claim` from one measurement per seed of the trained nets (and, for its "is it learned?"
    row, per seed of the untrained control); `failed`: the runs behind it that did not train or diverged;
    `untestable`: why this claim cannot be decided here (a floor or ceiling), which makes it not testable;
    `learned_untestable`: the same for its "is it learned?" row alone (e.g. a control at chance)."""
    if not trained:
        return Verdict(claim, dataset, None, detail=detail or "nothing to measure at this profile", failed=failed,
                       untestable=untestable)
    level = EQUIVALENCE_LEVEL if claim.direction == Direction.WITHIN or claim.basis == Basis.SAME else LEVEL
    verdict = Verdict(claim, dataset, estimate(list(trained), level), detail=_with_power(claim, trained, detail),
                      failed=failed, untestable=untestable)
    if not claim.control:
        return verdict
    if untrained is None or len(untrained) != len(trained):
        raise ValueError(f"{claim.key}: a controlled claim needs one untrained measurement per seed")
    versus = [t - u if claim.versus_control == "difference" else t / u
              for t, u in zip(trained, untrained, strict=True)]
    learned = Verdict(claim.learned(), dataset, estimate(versus), estimate(trained), estimate(untrained),
                      failed=failed, untestable=learned_untestable)
    return replace(verdict, learned=learned)


def rows_of(verdicts: Sequence[Verdict]) -> list[Verdict]:
    """Each verdict followed by its "is it learned?" row, where it has one."""
    return [r for v in verdicts for r in (v, v.learned) if r is not None]


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
    """Every field of every row (each verdict, then its "is it learned?" row), one row per line."""
    return pd.DataFrame([v.row(profile) for v in rows_of(verdicts)])


def facts_table(facts: Sequence[Fact]):
    """The arithmetic a chapter relies on, as the chapter shows it (apart from its claims)."""
    return pd.DataFrame([f.row() for f in facts]).style.hide(axis="index")


def counts(outcomes: Sequence[str]) -> str:
    """"3 holds, 1 weaker, ..." over the decided and inconclusive outcomes, then the untestable apart."""
    told = [f"{sum(o == k for o in outcomes)} {k}" for k in OUTCOMES if k != UNTESTABLE]
    apart = sum(o == UNTESTABLE for o in outcomes)
    return ", ".join(told) + (f" ({apart} not testable here, not counted)" if apart else "")


def tally(verdicts: Sequence[Verdict]) -> str:
    """The papers' claims counted by outcome; the book's own questions apart."""
    rows = rows_of(verdicts)
    papers = [v.outcome for v in rows if v.claim.asks == "paper"]
    book = [v.outcome for v in rows if v.claim.asks == "book"]
    return f"the papers' claims: {counts(papers)}" + (f"; the book's questions: {counts(book)}" if book else "")


def lowered(text: str) -> str:
    """A claim's sentence to go inside another one: its first letter in lower case."""
    return text[0].lower() + text[1:]


def by_outcome(items: Iterable[tuple[str, str]]) -> list[tuple[str, list[str]]]:
    """(outcome, phrase) pairs grouped by outcome, in the order of OUTCOMES, each phrase once."""
    items = list(items)
    grouped = [(o, list(dict.fromkeys(phrase for outcome, phrase in items if outcome == o))) for o in OUTCOMES]
    return [(o, phrases) for o, phrases in grouped if phrases]


def reading(verdicts: Sequence[Verdict], profile: str, likely_reasons: Mapping[str, str] | None = None) -> str:
    """Markdown that says, from the verdicts themselves, which claims held, were weaker, contradicted,
    inconclusive or not testable; for each that did not hold, why (from its interval), and, unless it is not
    testable (which says its own reason), the chapter's likely reason at small scale (`likely_reasons`, by claim
    key) where it has one."""
    rows = rows_of(verdicts)
    lines = [f"**At the `{profile}` profile, {tally(verdicts)}.**", ""]
    grouped = by_outcome((v.outcome, f"{lowered(v.claim.text)} ({v.dataset}: {v._interval(v.estimate)})")
                         for v in rows)
    lines += [f"- *{outcome[0].upper()}{outcome[1:]}*: {'; '.join(items)}." for outcome, items in grouped]
    reasons = likely_reasons or {}
    for v in rows:
        if v.outcome != "holds":
            # a row not testable here says its own reason (a floor, nothing trained); a likely one would guess
            guess = v.key in reasons and v.outcome != UNTESTABLE
            reason = f" A likely reason: {reasons[v.key]}." if guess else ""
            lines.append(f"- `{v.key}` [{v.dataset}] is {v.outcome}: {v.why()}.{reason}")
    return "\n".join(lines)


def summary(verdicts: Sequence[Verdict]) -> str:
    """One line per verdict (and learned row), without numbers, so that it is stable across runs of a profile."""
    return "\n".join(f"{v.key} [{v.dataset}]: {v.outcome}" for v in rows_of(verdicts))


def spearman(a, b) -> float:
    from scipy.stats import spearmanr

    return float(spearmanr(a, b).statistic)
