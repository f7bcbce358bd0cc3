"""Chapter 1's claims reach each of their three outcomes on constructed inputs (so each check can fail)."""

import numpy as np
import pandas as pd
import pytest

from resbook import claims
from resbook.chapters import ch1_degradation as ch1

N = 400  # examples per split


def wrong(rate: float) -> np.ndarray:
    return np.arange(N) < round(rate * N)  # the first `rate` of the examples wrong: pairs overlap as much as possible


def errors(rates: dict, seeds=(0, 1, 2)) -> pd.DataFrame:
    """`rates`: (net, depth, split) -> one error rate per seed (or one for all); every other net errs 2 %."""
    rows = []
    for net, shortcut in (("plain", "A"), ("residual", "A")):
        for depth in (8, 56):
            for split in ("train", "test"):
                per_seed = rates.get((net, depth, split), 0.02)
                per_seed = per_seed if isinstance(per_seed, tuple) else (per_seed,) * len(seeds)
                rows += [{"dataset": "digits", "net": net, "shortcut": shortcut, "depth": depth, "seed": s,
                          "split": split, "wrong": wrong(r)} for s, r in zip(seeds, per_seed, strict=True)]
    return pd.DataFrame(rows)


def responses(scale: dict, untrained_scale: dict | None = None, seeds=(0, 1, 2)) -> pd.DataFrame:
    """Layer-response stds: (net, depth) -> a level per seed (or one); untrained nets as `untrained_scale`."""
    rows = []
    for trained, levels in ((True, scale), (False, untrained_scale or {})):
        for net in ("plain", "residual"):
            for depth in (8, 56):
                level = levels.get((net, depth), 1.0)
                level = level if isinstance(level, tuple) else (level,) * len(seeds)
                for s, lv in zip(seeds, level, strict=True):
                    layers = np.linspace(0.9, 1.1, depth - 1) * lv
                    rows += [{"dataset": "digits", "net": net, "depth": depth, "seed": s, "layer": i + 1,
                              "std": v, "trained": trained} for i, v in enumerate(layers)]
    return pd.DataFrame(rows)


def outcome(key, errs, resp=None):
    verdicts = {v.key: v for v in ch1.verdicts(errs, resp if resp is not None else responses({}))}
    return verdicts[key].outcome


@pytest.mark.parametrize("key, rates, expected", [
    ("degradation", {("plain", 56, "train"): 0.6}, "holds"),
    ("degradation", {("plain", 56, "train"): 0.02}, "contradicted"),  # no deeper-is-worse at all
    ("degradation", {("plain", 56, "train"): (0.02, 0.07, 0.12)}, "inconclusive"),  # seeds disagree
    ("residual_beats_plain", {("plain", 56, "train"): 0.6}, "holds"),
    ("residual_beats_plain", {("plain", 56, "train"): 0.02}, "contradicted"),
    ("residual_beats_plain", {("plain", 56, "train"): (0.02, 0.07, 0.12)}, "inconclusive"),
    ("residual_train_depth", {("residual", 56, "train"): 0.005}, "holds"),
    ("residual_train_depth", {}, "contradicted"),  # equal: no fall with depth
    ("residual_train_depth", {("residual", 56, "train"): (0.0, 0.02, 0.04)}, "inconclusive"),
    ("residual_train_depth", {("residual", 8, "train"): 0.9, ("residual", 56, "train"): 0.9}, "inconclusive"),
    ("residual_test_depth", {("residual", 56, "test"): 0.005}, "holds"),
    ("residual_test_depth", {("residual", 56, "test"): 0.05}, "contradicted"),
    ("residual_test_depth", {("residual", 56, "test"): (0.0, 0.02, 0.04)}, "inconclusive"),
    # untrained nets (at chance on both splits) are no evidence, however their test errors compare
    ("residual_test_depth", {("residual", 8, "train"): 0.9, ("residual", 8, "test"): 0.9,
                             ("residual", 56, "train"): 0.9, ("residual", 56, "test"): 0.95}, "inconclusive"),
])
def test_error_claims_reach_each_outcome(key, rates, expected):
    assert outcome(key, errors(rates)) == expected


@pytest.mark.parametrize("key, trained, untrained, expected", [
    ("responses_smaller", {("plain", 56): 2.0}, {}, "holds"),
    ("responses_smaller", {("plain", 56): 2.0}, {("plain", 56): 2.0}, "contradicted"),  # the architecture alone
    ("responses_smaller", {("plain", 56): (1.0, 1.3, 1.6)}, {}, "inconclusive"),
    ("responses_depth", {("residual", 56): 0.5}, {}, "holds"),
    ("responses_depth", {}, {}, "contradicted"),
    ("responses_depth", {("residual", 56): (0.7, 0.9, 1.1)}, {}, "inconclusive"),
])
def test_response_claims_beat_their_untrained_control_or_fail(key, trained, untrained, expected):
    assert outcome(key, errors({}), responses(trained, untrained)) == expected


def test_responses_of_residual_nets_that_did_not_learn_are_no_evidence():
    failed = errors({("residual", 8, "train"): 0.3, ("residual", 56, "train"): 0.4})
    v = next(v for v in ch1.verdicts(failed, responses({})) if v.key == "responses_depth")  # ratio 1: would contradict
    assert v.outcome == "inconclusive" and "no net trained" in v.detail


def shortcut_errors(b: tuple, highway: tuple, a_train: float = 0.02) -> pd.DataFrame:
    rows = []
    for net, shortcut, rates in (("residual", "A", (0.1,) * 3), ("residual", "B", b), ("highway", "gated", highway)):
        rows += [{"dataset": "digits", "net": net, "shortcut": shortcut, "depth": 56, "seed": s, "split": split,
                  "wrong": wrong(a_train if split == "train" else r)}
                 for s, r in enumerate(rates) for split in ("train", "test")]
    return pd.DataFrame(rows)


@pytest.mark.parametrize("b, highway, expected", [
    ((0.1, 0.1, 0.1), (0.2, 0.2, 0.2), ("holds", "holds")),
    ((0.2, 0.2, 0.2), (0.1, 0.1, 0.1), ("contradicted", "contradicted")),
    ((0.08, 0.1, 0.13), (0.1, 0.12, 0.14), ("inconclusive", "inconclusive")),
])
def test_shortcut_claims_reach_each_outcome(b, highway, expected):
    verdicts = ch1.shortcut_verdicts(shortcut_errors(b, highway))
    assert tuple(v.outcome for v in verdicts) == expected


def test_no_difference_between_nets_that_did_not_train_is_no_evidence():
    untrained = ch1.shortcut_verdicts(shortcut_errors((0.9,) * 3, (0.9,) * 3, a_train=0.9))[0]
    assert untrained.outcome == "inconclusive" and "no net trained" in untrained.detail
    both_failed = {("residual", 8, "train"): 0.9, ("residual", 56, "train"): 0.9}
    v = next(v for v in ch1.verdicts(errors(both_failed), responses({})) if v.key == "residual_train_depth")
    assert v.estimate is None and "no net trained" in v.detail


def test_one_seed_is_decided_by_the_bootstrap_over_examples():
    one = errors({("plain", 56, "train"): 0.6}, seeds=(0,))
    v = next(v for v in ch1.verdicts(one, responses({}, seeds=(0,))) if v.key == "degradation")
    assert v.outcome == "holds" and v.estimate.method == "bootstrap, 1 seed"
    assert v.estimate.lo < 0.58 < v.estimate.hi  # 60 % against 2 %


def test_parameter_counts_are_a_fact_not_a_claim():
    fact = ch1.parameter_fact()
    assert isinstance(fact, claims.Fact) and fact.matches
    assert "params" not in ch1.CLAIMS


def test_table_and_summary():
    verdicts = ch1.verdicts(errors({("plain", 56, "train"): 0.6}), responses({}))
    table = claims.table(verdicts, "ci")
    assert {"statistic", "ours (95 % interval)", "needs", "control", "outcome"} <= set(table.columns)
    assert "degradation [digits]: holds" in claims.summary(verdicts)
    assert "contradicted" in claims.reading(verdicts, "ci")
