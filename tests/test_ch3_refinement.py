"""Chapter 3's plan (which runs it trains) and its verdicts on frames made by hand."""

import numpy as np
import pandas as pd
import pytest

from resbook import chapters, profiles, runs
from resbook.chapters import ch3_refinement as ch3


@pytest.mark.parametrize("name", sorted(profiles.PROFILES))
def test_plan_is_the_pre_and_post_activation_nets_and_the_three_other_architectures(name):
    P = profiles.resolve(name)
    deepest, seed0 = [P.deepest], P.seeds[:1]
    expected = []
    for dataset in P.datasets:
        one = {"datasets": [dataset], "depths": deepest}
        expected += [
            *runs.grid(P, **one, preact=True, checkpoints=chapters.checkpoint_epochs(P)),
            *runs.grid(P, **one),
            *runs.grid(P, **one, seeds=seed0, preact=True, arch="single"),
            *runs.grid(P, **one, seeds=seed0, preact=True, arch="avgpool"),
            *runs.grid(P, **one, seeds=seed0, preact=True, width=tuple(2 * w for w in P.widths)),
        ]
    assert chapters.plan(P, ["03"]) == expected


def test_the_wide_net_multiplies_the_profiles_widths_by_its_factor():
    P = profiles.resolve("ci")
    assert ch3.Architecture(widen=3).options(P)["width"] == tuple(3 * w for w in P.widths)
    assert [a.main for a in ch3.ARCHITECTURES.values()].count(True) == 1


def _architecture_rows(name, layout, main, ratios, cos):
    return [{"arch": name, "layout": layout, "main": main, "block": i + 1, "cos": c, "ratio": r}
            for i, (r, c) in enumerate(zip(ratios, cos, strict=True))]


def test_architecture_verdicts_pick_the_nets_by_their_fields_not_their_names():
    down = [-0.1, np.nan, -0.1, -0.1, -0.1, -0.1]
    frame = pd.DataFrame(
        _architecture_rows("net A", "cifar", True, [2, 2, 2, 1, 1, 1], down)  # first 3 / rest: 2
        + _architecture_rows("net B", "single", False, [3, 3, 3, 1, 1, 1], [-0.1] * 6)  # 3
        + _architecture_rows("net C", "cifar", False, [9, 9, 9, 1, 1, 1], [-0.1, -0.1, 0.2, -0.1, -0.1, -0.1]))
    align, sharper = ch3.architecture_verdicts("toy", frame)
    assert align.key == "architectures_align" and align.holds  # net C: 5 of 6 blocks negative
    assert sharper.key == "single_sharper" and sharper.holds and sharper.dataset == "toy"
    assert "net B 3.0, net A 2.0" in sharper.ours
    frame.loc[frame.arch == "net B", "ratio"] = 1.0  # no change-then-refine left in the single net
    assert not ch3.architecture_verdicts("toy", frame)[1].holds


def test_refinement_verdicts_read_the_pre_activation_nets_only():
    blocks, stages = [1, 2, 3, 4, 5, 6], [1, 1, 2, 2, 3, 3]

    def rows(preact, split, cos):
        return [{"preact": preact, "split": split, "block": b, "stage": s, "cos": cos(b)}
                for b, s in zip(blocks, stages, strict=True)]

    # only the first rows are the pre-activation nets on test data: the others would make it fail
    alignment = pd.DataFrame(rows(True, "test", lambda b: -0.01 * b) + rows(False, "test", lambda b: 0.5)
                             + rows(True, "train", lambda b: 0.5))
    ratios = pd.DataFrame({"preact": [True] * 6 + [False] * 6, "block": blocks * 2,
                           "ratio": [4, 1, 1, 1, 1, 0.5] + [0.1] * 6})
    drops = pd.DataFrame({"block": blocks, "error": [0.5, 0.11, 0.4, 0.1, 0.45, 0.1],
                          "first_of_stage": [True, False] * 3, "baseline_err": 0.1})
    readouts = pd.DataFrame({"block": [5, 6], "accuracy": [0.8, 0.9], "corrected": [3, np.nan],
                             "broken": [1, np.nan]})
    steps = pd.DataFrame({"step": [0, 1], "scale": 0.1, "norm": [1.0, 1.1], "loss": [0.2, 0.1],
                          "borderline_accuracy": [0.4, 0.6], "borderline_count": 5})
    naive = steps.assign(scale=1.0, norm=[1.0, 5.0])
    verdicts = ch3.refinement_verdicts("toy", alignment, ratios, drops, readouts,
                                       ch3.Unrolled(naive, steps, steps, 0.1))
    assert [v.key for v in verdicts] == [c for c in ch3.CLAIMS if c not in ("architectures_align", "single_sharper")]
    assert all(v.holds for v in verdicts), [v.key for v in verdicts if not v.holds]
    assert verdicts[0].ours == "6 of 6 blocks negative; range -0.060 to -0.010"
