"""Per-seed bookkeeping shared by the chapters: from a tidy frame to one measurement per seed.

A chapter measures each claim's statistic once per seed (`stats.measure`) and decides on the list
(`claims.check`). The steps in between are the same in every chapter, so they are written once, here:
- `select`, `rows`: the rows of one net (columns equal to given values), and those rows seed by seed;
- `arrays`, `constant`: a column as seed -> array (a cell's array, values ordered along layers or blocks,
  or an examples x blocks table), and a column that does not vary over seeds (a block's stage);
- `together`: several seed -> array maps joined on the seeds they share;
- `measure`, `paired`: a statistic of each seed's arrays with its bootstrap, the draws seeded by the seed's
  number, so that a trained net and its untrained control (same seed, same units) resample the same units;
- `mean`, `count`, `t_interval`: what a detail line or a figure says over the seeds.
Every frame has a `seed` column; every map is in ascending order of seed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from . import stats

Units = np.ndarray | Sequence[np.ndarray]  # one seed's units: an array, or arrays paired row by row


def select(frame: pd.DataFrame, **fields) -> pd.DataFrame:
    """The rows of `frame` whose columns equal `fields` (e.g. split="test", net="plain")."""
    keep = np.ones(len(frame), dtype=bool)
    for column, value in fields.items():
        keep &= (frame[column] == value).to_numpy()
    return frame[keep]


def rows(frame: pd.DataFrame) -> dict[int, pd.DataFrame]:
    """seed -> that seed's rows."""
    return {int(seed): group for seed, group in frame.groupby("seed", sort=True)}


def arrays(frame: pd.DataFrame, value: str, along: str | None = None, index: str | None = None,
           dtype: type | None = None) -> dict[int, np.ndarray]:
    """seed -> the column `value` of that seed's rows as one array.

    - neither `along` nor `index`: each seed has one row, whose cell holds the array (per-example mistakes);
    - `along` (e.g. "layer"): one row per value of `along`, in its order; cells that hold arrays (one entry
      per example) become the columns of an (examples x `along`) array;
    - `along` and `index` (e.g. "block" and "example"): the (`index` x `along`) table, both sorted.
    """
    out = {}
    for seed, group in rows(frame).items():
        if along is None:
            if len(group) != 1:
                raise ValueError(f"seed {seed} has {len(group)} rows of {value!r}: name the column that orders "
                                 "them (`along`), or select one net's rows first")
            array = np.asarray(group[value].iloc[0])
        elif index is None:
            array = np.stack(group.sort_values(along, kind="stable")[value].to_list(), axis=-1)
        else:
            array = group.pivot(index=index, columns=along, values=value).to_numpy()
        out[seed] = array if dtype is None else array.astype(dtype)
    return out


def constant(frame: pd.DataFrame, column: str, along: str = "block") -> np.ndarray:
    """A column that is the same on every seed (a block's stage, whether it downsamples): one value per `along`,
    in its order."""
    return frame.drop_duplicates(along).set_index(along)[column].sort_index().to_numpy()


def together(*maps: Mapping[int, Any]) -> dict[int, tuple]:
    """seed -> (that seed's entry in each map: an array, a pair of arrays ...), for the seeds every map has."""
    seeds = sorted(set.intersection(*(set(m) for m in maps))) if maps else []
    return {s: tuple(m[s] for m in maps) for s in seeds}


def measure(statistic: Callable[..., float], units: Mapping[int, Units]) -> list[stats.Measurement]:
    """`statistic` of each seed's units with its bootstrap replicates (`stats.measure`), one per seed.

    A seed's units are an array or a sequence of arrays paired row by row. The draws are seeded by the seed's
    number: two measurements of one seed resample the same rows, so their difference is a paired one."""
    return [stats.measure(statistic, *((u,) if isinstance(u, np.ndarray) else u), seed=s)
            for s, u in sorted(units.items())]


def paired(statistic: Callable[..., float], trained: Mapping[int, Units],
           untrained: Mapping[int, Units]) -> tuple[list[stats.Measurement], list[stats.Measurement]]:
    """`measure` of each seed's trained net and of its untrained control (same seeds, same draws), ready for
    `claims.check`, which subtracts or divides them seed by seed."""
    if set(trained) != set(untrained):
        raise ValueError(f"a control needs the trained net's seeds: trained {sorted(trained)}, "
                         f"untrained {sorted(untrained)}")
    return measure(statistic, trained), measure(statistic, untrained)


def mean_gap(a: np.ndarray, b: np.ndarray) -> float:
    """The mean of `a` minus that of `b`: e.g. two nets' error rates on the same examples."""
    return float(a.mean() - b.mean())


def mean_ratio(a: np.ndarray, b: np.ndarray) -> float:
    """The mean of `a` over that of `b`: e.g. two nets' error rates or losses on the same examples. A resample
    with nothing in `b` gives inf or NaN, which the interval leaves out (`stats.estimate` keeps finite replicates)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(np.float64(a.mean()) / b.mean())


def mean(values: Mapping[int, float | np.ndarray], seeds: Iterable[int] | None = None) -> float:
    """The mean over seeds (all of `values`, or only `seeds`) of each seed's value; an array counts as its mean."""
    chosen = values.keys() if seeds is None else seeds
    return float(np.mean([np.mean(values[s]) for s in chosen]))


def count(n: int) -> str:
    """The number of seeds in words: "1 seed", "3 seeds"."""
    return f"{n} seed{'' if n == 1 else 's'}"


def t_interval(values: Iterable[float]) -> tuple[float, float]:
    """The 95 % interval of the mean over seeds as `stats.estimate` makes it (Student's t; a point for one seed),
    e.g. for a figure's error bars."""
    est = stats.estimate([stats.Measurement(float(v), np.array([float(v)])) for v in values])
    return est.lo, est.hi
