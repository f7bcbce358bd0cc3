"""Chapter 2's plan (which runs it trains) and its verdicts on frames made by hand."""

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from resbook import chapters, profiles, runs
from resbook.chapters import ch1_degradation as ch1
from resbook.chapters import ch2_unravelled as ch2
from resbook.models import NetKind


@pytest.mark.parametrize("name", sorted(profiles.PROFILES))
def test_plan_is_the_deepest_residual_net_the_plain_nets_and_the_short_path_run(name):
    P = profiles.resolve(name)
    deepest, active = [P.deepest], round(23 / 54 * 3 * ((P.deepest - 2) // 6))
    expected = []
    for dataset in P.datasets:
        one = {"datasets": [dataset]}
        expected += [*runs.grid(P, **one, depths=deepest),
                     *runs.grid(P, **one, nets=(False,), seeds=P.seeds[:1]),
                     *runs.grid(P, **one, depths=deepest, active_branches=active)]
    assert chapters.plan(P, ["02"]) == expected


@pytest.mark.parametrize("name", sorted(profiles.PROFILES))
def test_the_residual_and_plain_nets_are_chapter_1s_and_only_the_short_path_run_is_new(name):
    P = profiles.resolve(name)
    sweep = set(ch1.plan(P)["sweep"])
    for dataset in P.datasets:
        roles = ch2.dataset_plan(P, dataset)
        assert set(roles["residual"]) <= sweep and set(roles["plain"]) <= sweep
        assert sorted(c.depth for c in roles["plain"]) == sorted(P.depths)  # every depth, seed 0
        assert {(c.kind, c.seed, c.dataset) for c in roles["plain"]} == {(NetKind.PLAIN, P.seeds[0], dataset)}
        assert not sweep & set(roles["short paths"])
        assert [c.seed for c in roles["short paths"]] == list(P.seeds)


def test_short_path_training_keeps_veits_share_of_active_branches():
    assert ch2.active_branches(profiles.resolve("paper")) == 23  # ResNet-110: 54 blocks, as in Veit et al.
    assert ch2.active_branches(profiles.resolve("ci")) == round(23 / 54 * 27)  # residual-56: 27 blocks
    assert ch2.active_branches(profiles.resolve("ci", {"depths": [8]})) == 1  # never fewer than one


def _run(depth, train_err):
    return SimpleNamespace(config=SimpleNamespace(depth=depth), final={"train_err": train_err})


def test_the_plain_net_for_lesions_is_the_deepest_that_trained_or_else_the_deepest():
    trained, failed = _run(20, 0.01), _run(56, 0.6)
    assert ch2.deepest_plain_that_trains([_run(8, 0.0), trained, failed]) is trained
    assert ch2.deepest_plain_that_trains([_run(8, 0.3), failed]) is failed


def test_path_counts():
    assert ch2.share_of_paths(27, 0, 27) == pytest.approx(1.0)
    assert ch2.share_of_paths(4, 2, 2) == 6 / 16
    assert ch2.binomial_verdict().holds


def _frames(dataset, *, plain_error, short_err):
    """One data set's study frames: a 6-block residual net labelled misleadingly, so that only `net` can tell."""
    n = 6
    down = [False, False, True, False, True, False]
    lesions = pd.DataFrame(
        [{"net": "residual", "label": "plain-looking name", "block": b + 1, "downsample": down[b],
          "error": 0.05 + (0.2 if down[b] else 0.01), "baseline": 0.05} for b in range(n)]
        + [{"net": "plain", "label": "residual-looking name", "block": b + 1, "downsample": b in (1, 2),
            "error": plain_error, "baseline": 0.04} for b in range(3)])
    random = pd.DataFrame({"k": np.arange(n + 1), "draw": 0, "error": np.linspace(0.05, 0.9, n + 1)})
    reorder = pd.DataFrame({"tau": np.linspace(1, 0.5, 8), "error": np.linspace(0.05, 0.5, 8)})
    norm = 0.3 ** np.arange(n + 1)
    gradients = pd.DataFrame({"k": np.arange(n + 1), "path_norm": norm, "exact_total": norm})
    short = pd.DataFrame({"training": ["normal", "short paths"], "test_err": [0.06, short_err]})
    return [f.assign(dataset=dataset) for f in (lesions, random, reorder, gradients, short)]


def test_verdicts_find_the_nets_by_their_kind_and_follow_the_numbers():
    first = _frames("a", plain_error=0.9, short_err=0.07)
    second = _frames("b", plain_error=0.2, short_err=0.2)
    found = ch2.verdicts(*(pd.concat(pair, ignore_index=True) for pair in zip(first, second, strict=True)))
    assert [(v.key, v.dataset) for v in found[:2]] == [("paths_binomial", "-"), ("lesion_residual", "a")]
    holds = {(v.key, v.dataset): v.holds for v in found}
    for dataset in ("a", "b"):
        for key in ("lesion_residual", "lesion_downsampling", "lesion_smooth", "reorder_smooth", "gradient_decay",
                    "effective_paths"):
            assert holds[key, dataset], (key, dataset)
    assert holds["lesion_plain", "a"] and not holds["lesion_plain", "b"]
    assert holds["short_paths_training", "a"] and not holds["short_paths_training", "b"]
    lesion_plain = next(v for v in found if v.key == "lesion_plain")
    assert lesion_plain.ours.startswith("residual-looking name: mean error after one deletion 90 %")


def test_a_cliff_in_the_deletion_curve_is_not_smooth():
    lesions, random, reorder, gradients, short = _frames("a", plain_error=0.9, short_err=0.07)
    random = random.assign(error=[0.05, 0.06, 0.07, 0.8, 0.85, 0.88, 0.9])
    verdict = next(v for v in ch2.dataset_verdicts("a", lesions, random, reorder, gradients, short)
                   if v.key == "lesion_smooth")
    assert not verdict.holds
