"""Whether a run trained: one definition, read from the run's own history, for every probe, claim and figure.

- *diverged*: its loss stopped being finite or exploded, and training stopped there (`TrainResult.diverged`);
- *did not train*: its final training error is not below `STARTED_ERR`, the line He et al. use for a net
  that has started to converge;
- *trained*: anything else, however badly. Training worse is itself the effect some papers report (plain and
  gated nets), so a net that trained badly stays in their statistics; only claims about nets that learned
  leave out the other two kinds, and say how many they left out.
"""

from __future__ import annotations

from collections.abc import Iterable

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
    errors = result.history.get("train_err") or [1.0]
    return TRAINED if errors[-1] < STARTED_ERR else DID_NOT_TRAIN


def learned(result: TrainResult) -> bool:
    return status(result) == TRAINED


def failures(results: Iterable[TrainResult]) -> dict[str, list[int]]:
    """Seeds of the runs that did not train or diverged, by status (empty lists when all trained)."""
    found: dict[str, list[int]] = {DID_NOT_TRAIN: [], DIVERGED: []}
    for r in results:
        if (s := status(r)) != TRAINED:
            found[s].append(r.config.seed)
    return found


def describe_failures(results: Iterable[TrainResult]) -> str:
    """E.g. "plain-56: seed 2 did not train" or "" when every run trained: for claims rows and captions."""
    parts = []
    by_label: dict[str, list[TrainResult]] = {}
    for r in results:
        by_label.setdefault(r.config.label, []).append(r)
    for label, group in by_label.items():
        for s, seeds in failures(group).items():
            if seeds:
                parts.append(f"{label}: seed{'s' if len(seeds) > 1 else ''} {', '.join(map(str, seeds))} {s}")
    return "; ".join(parts)
