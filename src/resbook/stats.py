"""How sure a measurement is: bootstrap replicates within one run, intervals across seeds.

A claim's statistic is measured once per seed. With several seeds, the 95 % interval is Student's t over
the seeds' values (the seeds are the repetitions the papers report). With one seed (the `ci` profile),
it is the percentile interval of bootstrap replicates: the statistic recomputed on the units that run
measured (test examples, blocks, random draws), resampled with replacement.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as sp

DRAWS = 1000  # bootstrap replicates: a percentile interval's ends move by about 0.1 % of its width
LEVEL = 0.95


@dataclass(frozen=True)
class Measurement:
    """One seed's value of a statistic, with its bootstrap replicates (same statistic, resampled units)."""

    value: float
    replicates: np.ndarray

    def __sub__(self, other: Measurement) -> Measurement:
        return Measurement(self.value - other.value, self.replicates - other.replicates)

    def __truediv__(self, other: Measurement) -> Measurement:
        return Measurement(self.value / other.value, self.replicates / other.replicates)


def measure(statistic: Callable[..., float], *units: np.ndarray, draws: int = DRAWS, seed: int = 0) -> Measurement:
    """`statistic(*units)` and its bootstrap replicates.

    Every array in `units` has one row per unit (axis 0, the same length for all): each replicate draws
    one set of row indices and applies it to all of them, so paired measurements stay paired. Two
    measurements of the same length with the same `seed` draw the same indices: their difference is a
    paired difference too (a trained net against its untrained control, on the same test examples).
    """
    arrays = [np.asarray(u) for u in units]
    n = len(arrays[0])
    if any(len(a) != n for a in arrays):
        raise ValueError(f"paired units need equal lengths; got {[len(a) for a in arrays]}")
    if n == 0:
        raise ValueError("nothing to measure: no units")
    rng = np.random.default_rng(seed)
    index = rng.integers(0, n, size=(draws, n))
    replicates = np.array([statistic(*(a[i] for a in arrays)) for i in index], dtype=float)
    return Measurement(float(statistic(*arrays)), replicates)


def combine(statistic: Callable[..., float], *measurements: Measurement) -> Measurement:
    """A statistic of independently measured parts (e.g. two nets' layer counts differ): replicate by replicate."""
    value = statistic(*(m.value for m in measurements))
    replicates = np.array([statistic(*parts) for parts in zip(*(m.replicates for m in measurements), strict=True)])
    return Measurement(float(value), replicates)


@dataclass(frozen=True)
class Estimate:
    """A statistic summarised over seeds: the mean, a 95 % interval, and how the interval was made."""

    value: float
    lo: float
    hi: float
    seeds: int
    method: str  # "t over 3 seeds" or "bootstrap, 1 seed"

    def scaled(self, factor: float) -> Estimate:
        return Estimate(self.value * factor, self.lo * factor, self.hi * factor, self.seeds, self.method)


def estimate(measurements: Sequence[Measurement], level: float = LEVEL) -> Estimate:
    """The mean over seeds with an interval at `level`: Student's t over seeds, or the bootstrap for one seed.

    Over seeds, the standard error is the larger of the seeds' spread and each seed's own measurement noise
    (its bootstrap replicates): three seeds that happen to give the same value would otherwise claim a
    zero-width interval, as if each were measured without error.
    """
    if not measurements:
        raise ValueError("no measurements to estimate from")
    values = np.array([m.value for m in measurements], dtype=float)
    if len(values) == 1:
        reps = measurements[0].replicates
        reps = reps[np.isfinite(reps)]
        lo, hi = np.quantile(reps, [(1 - level) / 2, (1 + level) / 2]) if len(reps) else (np.nan, np.nan)
        return Estimate(float(values[0]), float(lo), float(hi), 1, "bootstrap, 1 seed" + _level(level))
    n = len(values)
    between = values.std(ddof=1) / np.sqrt(n)
    within = np.sqrt(np.mean([_variance(m.replicates) for m in measurements]) / n)
    floored = within > between
    half = sp.t.ppf((1 + level) / 2, n - 1) * max(between, within)
    mean = values.mean()
    return Estimate(float(mean), float(mean - half), float(mean + half), n,
                    f"t over {n} seeds" + (", within-seed noise as its floor" if floored else "") + _level(level))


def _variance(replicates: np.ndarray) -> float:
    finite = replicates[np.isfinite(replicates)]
    return float(finite.var(ddof=1)) if len(finite) > 1 else 0.0


def _level(level: float) -> str:
    return "" if level == LEVEL else f", {100 * level:.0f} % interval"


# "About the same" claims are equivalence tests: two one-sided tests at 5 % each, i.e. the 90 % interval
# inside the margin (Schuirmann's TOST); a 95 % interval there would test at 2.5 % a side
EQUIVALENCE_LEVEL = 0.90


def seeds_to_hold(spread: float, margin: float, level: float = EQUIVALENCE_LEVEL, most: int = 1000) -> int | None:
    """The fewest seeds at which an equivalence claim with this seed-to-seed standard deviation could hold,
    were its mean exactly 0: Student's t half-width below the margin. None if not within `most` seeds."""
    if margin <= 0:
        return None
    if spread <= 0:
        return 2
    for n in range(2, most + 1):
        if sp.t.ppf((1 + level) / 2, n - 1) * spread / np.sqrt(n) < margin:
            return n
    return None
