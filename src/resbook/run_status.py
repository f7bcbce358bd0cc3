"""Whether a run trained: one definition, read from the run's own history, for every probe, claim and figure.

- *diverged*: its loss stopped being finite or exploded, and training stopped there (`TrainResult.diverged`);
- *did not train*: its final training error is not below `STARTED_ERR`, the line He et al. use for a net
  that has started to converge;
- *trained*: anything else, however badly. Training worse is itself the effect some papers report (plain and
  gated nets), so a net that trained badly stays in their statistics; only claims about nets that learned
  leave out the other two kinds, and say how many they left out.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass

import pandas as pd

from .train import TrainResult

TRAINED, DID_NOT_TRAIN, DIVERGED = "trained", "did not train", "diverged"
STATUSES = (TRAINED, DID_NOT_TRAIN, DIVERGED)
# He et al. (2016, Sec. 4.2) train ResNet-110 at lr 0.01 "until the training error is below 80 %" and only then
# at 0.1: below 80 % a net has started converging (with 10 classes, guessing gives 90 %)
STARTED_ERR = 0.80
RULE = (f"a run trained when its loss stayed finite and its final training error is below {STARTED_ERR:.0%} "
        "(He et al. 2016, Sec. 4.2: the warm-up lasts until the training error is below 80 %)")


def status(result: TrainResult) -> str:
    """trained, did not train or diverged (see the module's docstring)."""
    if result.diverged is not None:
        return DIVERGED
    last = [float(result.history[k][-1]) for k in ("train_loss", "test_loss") if result.history.get(k)]
    if not all(math.isfinite(v) for v in last):  # e.g. batch-norm statistics that overflowed in eval mode
        return DIVERGED
    errors = result.history.get("train_err") or [1.0]
    return TRAINED if errors[-1] < STARTED_ERR else DID_NOT_TRAIN


def learned(result: TrainResult) -> bool:
    return status(result) == TRAINED


def _seeds(seeds: list[int]) -> str:
    return f"seed{'s' if len(seeds) > 1 else ''} {', '.join(map(str, seeds))}"


def summary(name: str, statuses: Mapping[int, str], *, every: bool = False) -> str:
    """One net's runs by status, e.g. "plain-56: seeds 1, 2 did not train": the failed ones only ("" when none
    failed), or with `every` each status it has ("plain-56: seeds 1, 2 did not train, seed 0 trained")."""
    shown = STATUSES[1:] + (STATUSES[:1] if every else ())
    parts = [f"{_seeds(seeds)} {s}" for s in shown
             if (seeds := sorted(seed for seed, st in statuses.items() if st == s))]
    return f"{name}: {', '.join(parts)}" if parts else ""


def _join(summaries: Iterable[str]) -> str:
    return "; ".join(s for s in summaries if s)


def describe_failures(results: Iterable[TrainResult]) -> str:
    """E.g. "plain-56: seed 2 did not train" or "" when every run trained: for claims rows and captions."""
    by_label: dict[str, dict[int, str]] = {}
    for r in results:
        by_label.setdefault(r.config.label, {})[r.config.seed] = status(r)
    return _join(summary(label, statuses) for label, statuses in by_label.items())


# ---- the same, for the tidy frames the chapters build (a `status` column on every row of a run)

def by_seed(rows: pd.DataFrame) -> dict[int, str]:
    """seed -> status, from the rows of one net (column `status`; every row of a run carries its run's)."""
    found = rows.groupby("seed", sort=True).status.unique()
    mixed = {int(seed): list(s) for seed, s in found.items() if len(s) != 1}
    if mixed:
        raise ValueError(f"rows of several nets, or of one run with several statuses, by seed: {mixed}; select "
                         "one net's rows first")
    return {int(seed): s[0] for seed, s in found.items()}


def describe_rows(frame: pd.DataFrame, name: str = "label") -> str:
    """`describe_failures` of the runs whose rows `frame` holds, each net named by its column `name`."""
    return _join(summary(str(net), by_seed(rows)) for net, rows in frame.groupby(name, sort=False))


@dataclass(frozen=True)
class Counted:
    """Which seeds a claim measures, from the status of each net it compares on each seed (`count`)."""

    seeds: list[int]  # the seeds on which every net's run counts
    left_out: dict[int, dict[str, str]]  # seed -> {net: status} of the runs that kept it out
    failed: str  # every failed run of these nets (`summary`), for the claims row

    def says(self) -> str:
        """E.g. "left out: seed 2 (plain-56 diverged: its weights are NaN)"; "" when none was."""
        if not self.left_out:
            return ""

        def reasons(why: dict[str, str]) -> str:
            return ", ".join(f"{net} {st}" + (": its weights are NaN" if st == DIVERGED else "")
                             for net, st in why.items())

        return "left out: " + ", ".join(f"seed {seed} ({reasons(why)})" for seed, why in self.left_out.items())


def count(statuses: Mapping[str, Mapping[int, str]], learned: Collection[str] = ()) -> Counted:
    """The one rule for which runs a claim counts. `statuses`: net -> seed -> status, for each net the claim
    compares; `learned`: the nets that count only where they trained (a claim about nets that learned).

    Every other net counts whatever its status, since training worse is the effect some papers report, except
    where it diverged: a diverged run has no final error and NaN weights, so nothing can be measured on it.
    A seed counts where every net counts; seeds some net lacks are not counted (nor reported: nothing ran)."""
    nets = list(statuses)
    common = sorted(set.intersection(*(set(statuses[n]) for n in nets))) if nets else []
    seeds, left_out = [], {}
    for seed in common:
        bad = {n: statuses[n][seed] for n in nets
               if statuses[n][seed] == DIVERGED or (n in learned and statuses[n][seed] != TRAINED)}
        if bad:
            left_out[seed] = bad
        else:
            seeds.append(seed)
    return Counted(seeds, left_out, _join(summary(n, statuses[n]) for n in nets))


# ---- probes

def probed(results: Iterable[TrainResult], step: str, *, stop_if_none: bool = False) -> list[TrainResult]:
    """The runs a probe may look at: all but the diverged ones, whose weights are NaN. Says (on stdout, so that
    a chapter's page shows it) which runs `step` leaves out. A run that did not train is probed: its responses
    are evidence too (He et al.'s Fig. 7 shows plain nets that train badly)."""
    results = list(results)
    left = [r for r in results if status(r) == DIVERGED]
    if left:
        print(f"{step}: not probed, diverged (NaN weights): {describe_failures(left)}")
    if stop_if_none and results and len(left) == len(results):  # a step nothing after it can do without
        first = next(r for r in left if r.diverged)
        raise AllDiverged(f"{step}: every run diverged, so there is nothing to measure ({describe_failures(left)}; "
                          f"e.g. {first.config.label} seed {first.config.seed}: diverged at step "
                          f"{first.diverged['step']} at lr {first.diverged['lr']:g}). Lower the learning rate "
                          f"(the profile's \"lr\" override), then run the chapter again.")
    return [r for r in results if status(r) != DIVERGED]


class AllDiverged(RuntimeError):
    """Every run a probe step needs diverged: the chapter cannot go on, and says which override to change."""
