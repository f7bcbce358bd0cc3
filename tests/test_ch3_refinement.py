"""Chapter 3: its plan (which runs it trains), its per-example probes, and each claim's decision on frames made
by hand, driven to holds, contradicted and inconclusive (weaker, where its size is half the paper's; not testable
here, where nothing is measured), and each "is it learned?" row on the trained nets against the untrained."""

import inspect
import json
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from resbook import chapters, claims, data, probes, profiles, runs
from resbook.chapters import ch3_refinement as ch3
from resbook.models import resnet
from tests.test_probes import random_bn

# ---- the plan


@pytest.mark.parametrize("name", sorted(profiles.PROFILES))
def test_plan_is_every_seed_of_every_net_the_other_architectures_on_the_first_data_set(name):
    P = profiles.resolve(name)
    deepest = [P.deepest]
    expected = []
    for dataset in P.datasets:
        one = {"datasets": [dataset], "depths": deepest}
        expected += [*runs.grid(P, **one, preact=True, checkpoints=chapters.checkpoint_epochs(P)),
                     *runs.grid(P, **one)]
        if dataset != P.datasets[0]:
            continue
        others = {"single representation": runs.grid(P, **one, preact=True, arch="single"),
                  "average pooling": runs.grid(P, **one, preact=True, arch="avgpool"),
                  "wide ResNet (x2)": runs.grid(P, **one, preact=True, width=tuple(2 * w for w in P.widths))}
        expected += [c for name, configs in others.items() if name in P.architectures for c in configs]
    assert chapters.plan(P, ["03"]) == expected
    assert {c.seed for c in chapters.plan(P, ["03"])} == set(P.seeds)


def test_the_profile_names_the_other_architectures_and_refuses_unknown_ones():
    cpu = profiles.resolve("cpu")
    assert "wide ResNet (x2)" not in cpu.architectures  # its cost would take the chapter over 10 minutes
    wide = profiles.resolve("cpu", {"architectures": [*cpu.architectures, "wide ResNet (x2)"]})
    assert "wide ResNet (x2)" in ch3.dataset_plan(wide, "digits")
    with pytest.raises(ValueError, match='"architectures": unknown architecture.*valid'):
        profiles.resolve("cpu", {"architectures": ["wide"]})
    assert set(profiles.OTHER_ARCHITECTURES) == {n for n, a in ch3.ARCHITECTURES.items() if not a.main}


def test_the_other_architectures_can_be_limited_to_the_first_data_sets(monkeypatch):
    P = profiles.resolve("cpu")
    monkeypatch.setattr(ch3, "ARCHITECTURE_DATASETS", None)
    assert ch3.architecture_datasets(P) == P.datasets
    monkeypatch.setattr(ch3, "ARCHITECTURE_DATASETS", 1)
    assert ch3.architecture_datasets(P) == P.datasets[:1]
    assert [role for role in ch3.dataset_plan(P, P.datasets[1])] == ["pre-activation", "post-activation"]


def test_the_plan_follows_the_profiles_seeds():
    P = profiles.resolve("ci", {"seeds": [1, 2]})
    assert {c.seed for configs in ch3.plan(P).values() for c in configs} == {1, 2}


def test_the_wide_net_multiplies_the_profiles_widths_by_its_factor():
    P = profiles.resolve("ci")
    assert ch3.Architecture(widen=3).options(P)["width"] == tuple(3 * w for w in P.widths)
    assert [a.main for a in ch3.ARCHITECTURES.values()].count(True) == 1


def test_claims_are_those_of_the_spec():
    paper, direction, book = claims.Basis.PAPER, claims.Basis.DIRECTION, claims.Basis.BOOK
    spec = {  # key: (direction, threshold, neutral, basis, controlled, versus_control, points, asks)
        "alignment_negative": ("above", 0.75, 0.5, paper, True, "difference", False, "paper"),
        "alignment_higher": ("below", -0.05, 0.0, paper, True, "difference", False, "paper"),
        "norm_ratio": ("above", 1.1, 1.0, direction, True, "ratio", False, "paper"),
        "drop_first_blocks": ("above", 0.01, 0.0, direction, True, "difference", True, "paper"),
        "intermediate_accuracy": ("above", 0.01, 0.0, direction, True, "difference", True, "paper"),
        "borderline_corrected": ("above", 0.01, 0.0, direction, False, None, True, "paper"),
        "unroll_naive": ("above", math.log10(1.1), 0.0, direction, True, "difference", False, "paper"),
        "unroll_scaled": ("below", -1 / 12, 0.0, paper, False, None, False, "paper"),
        "unroll_borderline": ("above", 0.05, 0.0, paper, False, None, True, "paper"),
        "architectures_align": ("above", 0.75, 0.5, paper, False, None, False, "paper"),
        "single_sharper": ("above", 1.1, 1.0, direction, True, "ratio", False, "book"),
    }
    assert book not in {v[3] for v in spec.values()}
    assert list(ch3.CLAIMS) == list(spec)
    for key, (direction, threshold, neutral, basis, controlled, versus, points, asks) in spec.items():
        c = ch3.CLAIMS[key]
        assert (c.direction.value, c.neutral, c.basis, bool(c.control), c.points, c.asks) == (
            direction, neutral, basis, controlled, points, asks), key
        assert c.threshold == pytest.approx(threshold, abs=1e-12), key
        if controlled:
            assert c.versus_control == versus, key
            # "is it learned?": beyond a negligible effect, on its own scale: a ratio of 1.1, 1 point for a points
            # difference, log10(1.1) for a difference of log10 ratios, a tenth of the paper's size where it has one
            learned = c.learned()
            assert (learned.key, learned.asks) == (f"{key}:learned", "book"), key
            negligible = (1.1 if versus == "ratio" else 0.01 if points else
                          (c.paper_value - c.neutral) / 10 if basis == paper else math.log10(1.1))
            assert learned.threshold == pytest.approx(negligible, abs=1e-12), key
        assert c.reason and c.statistic, key


# ---- the steps ask the model for its layout and name the probes they call


def test_block_info_is_the_models_layout():
    assert ch3.block_info(resnet(20, in_channels=1, width=4)) == BLOCKS


def test_a_probe_on_test_data_runs_once_per_net_and_probe():
    torch.manual_seed(0)
    test_x, test_y = torch.randn(12, 1, 8, 8), torch.randint(0, 10, (12,))
    dataset = data.Dataset("digits", test_x, test_y, test_x, test_y, 10)
    nets = ch3.Nets(dataset, [], [], {})
    model = random_bn(resnet(14, in_channels=1, width=4, preact=True))
    calls = []

    def counted(model, x):
        calls.append(model)
        return probes.norm_ratios_per_example(model, x)

    first = nets.on_test(counted, model, labels=False)
    assert nets.on_test(counted, model, labels=False) is first and len(calls) == 1
    assert np.array_equal(first, probes.norm_ratios_per_example(model, test_x))
    assert np.array_equal(nets.on_test(probes.mistakes, model), probes.mistakes(model, test_x, test_y))


def _named(pattern: str, text: str) -> set[str]:
    return set(re.findall(pattern, text))


def test_each_figure_names_the_probes_its_step_calls():
    """Notebook cell -> chapter step -> probe: the markdown above each figure cell names every probe that the
    cell's steps call, and those steps by name."""
    notebook = json.loads((Path(__file__).parents[1] / "book" / f"{ch3.NOTEBOOK}.ipynb").read_text())
    cells = [(c["cell_type"], "".join(c["source"])) for c in notebook["cells"]]
    figures = 0
    for (above_type, above), (kind, code) in zip(cells, cells[1:], strict=False):
        if kind != "code" or "ch3.plot_" not in code:
            continue
        figures += 1
        assert above_type == "markdown", code
        named = _named(r"`probes\.(\w+)`", above)
        assert named and named <= set(probes.__all__), above
        steps = [name for name in _named(r"ch3\.(\w+)\(", code) if not name.startswith("plot_")]
        called = {step: _named(r"probes\.(\w+)", inspect.getsource(getattr(ch3, step))) for step in steps}
        for step, used in called.items():
            if used:
                assert used <= named and f"`ch3.{step}`" in above, (step, used - named)
        assert set().union(*called.values()) == named, code
    assert figures == 6


# ---- constructed frames, in the format of the chapter's steps

# nine blocks in three stages; the first of stages 2 and 3 downsamples
BLOCKS = {"stage": [1, 1, 1, 2, 2, 2, 3, 3, 3], "first_of_stage": [True, False, False] * 3,
          "downsample": [False, False, False, True, False, False, True, False, False]}
N = 300  # test examples


def per_block(means, noise=0.0, n=N, seed=0, exact=False) -> np.ndarray:
    """(blocks, n) values: each block's mean plus noise (`exact`: the noise averages to exactly 0 per block)."""
    rng = np.random.default_rng(seed)
    e = rng.normal(0, noise, (len(means), n)) if noise else np.zeros((len(means), n))
    if exact:
        e -= e.mean(axis=1, keepdims=True)
    return np.asarray(means, float)[:, None] + e


def positive(means, sd, n=N, seed=0) -> np.ndarray:
    """(blocks, n) positive values (norm ratios) whose per-block means are exactly `means`, spread by `sd`."""
    x = np.exp(np.random.default_rng(seed).normal(0, sd, (len(means), n)))
    return np.asarray(means, float)[:, None] * x / x.mean(axis=1, keepdims=True)


def bernoulli(rates, n=N, seed=0) -> np.ndarray:
    """(blocks, n) booleans, exactly round(rate * n) of each row True, at random places."""
    rng = np.random.default_rng(seed)
    return np.stack([rng.permutation(np.arange(n) < round(r * n)) for r in rates])


def outcome(verdicts, key) -> str:
    return next(v for v in verdicts if v.key == key).outcome


# an untrained net's alignment leans positive (measured on the book's nets): no block negative
UNTRAINED_COS = [0.01, 0.02, 0.01, 0, 0.02, 0.01, 0, 0.01, 0.02]


def alignment_frame(cos_by_seed: dict[int, np.ndarray], untrained: np.ndarray | None = None) -> pd.DataFrame:
    frames = [ch3.block_rows(cos, "cos", BLOCKS, net="pre-activation", preact=True, trained=True, seed=s,
                             split="test") for s, cos in cos_by_seed.items()]
    control = per_block(UNTRAINED_COS, 0.05, seed=7) if untrained is None else untrained
    frames += [ch3.block_rows(control, "cos", BLOCKS, net="untrained", preact=True, trained=False, seed=s,
                              split="test") for s in cos_by_seed]
    # rows the claims must ignore: post-activation nets and training data, with the opposite sign
    frames += [ch3.block_rows(-cos, "cos", BLOCKS, net="post-activation", preact=False, trained=True, seed=s,
                              split="test") for s, cos in cos_by_seed.items()]
    frames += [ch3.block_rows(-cos, "cos", BLOCKS, net="pre-activation", preact=True, trained=True, seed=s,
                              split="train") for s, cos in cos_by_seed.items()]
    frame = pd.concat(frames, ignore_index=True)
    frame.loc[frame.downsample, "cos"] = np.nan
    return frame


NEGATIVE = [-0.02, -0.03, -0.04, 0, -0.05, -0.06, 0, -0.10, -0.12]  # last stage the most negative


@pytest.mark.parametrize("cos, expected", [
    (per_block(NEGATIVE, 0.05), "holds"),
    (per_block([-x for x in NEGATIVE], 0.05), "contradicted"),
    # five blocks clearly negative, one clearly positive, one whose mean is exactly 0: 5/7 or 6/7 of 0.8
    (per_block([-0.05, -0.05, -0.05, 0, -0.05, 0.05, 0, -0.05, 0.0], 0.05, exact=True), "inconclusive"),
    # five blocks clearly negative, two clearly positive: 5/7, surely above a random sign's 0.5, short of 0.75
    (per_block([-0.05, -0.05, -0.05, 0, -0.05, 0.05, 0, 0.05, -0.05], 0.05), "weaker"),
])
def test_alignment_negative(cos, expected):
    assert outcome(ch3.alignment_verdicts("toy", alignment_frame({0: cos})), "alignment_negative") == expected


@pytest.mark.parametrize("cos, expected", [
    (per_block(NEGATIVE, 0.05), "holds"),  # last stage -0.11 against -0.03
    (per_block(NEGATIVE[::-1], 0.05), "contradicted"),
    # 0.005 lower, buried in noise: short of half the paper's -0.1, but reaching both 0 and beyond a tenth of it
    (per_block([-0.02] * 6 + [0, -0.025, -0.025], 0.3, exact=True), "inconclusive"),
    # no difference, measured tightly: the interval excludes more than a tenth of the paper's -0.1: absent
    (per_block([-0.02] * 6 + [0, -0.02, -0.02], 0.01, exact=True), "contradicted"),
    (per_block([-0.02] * 6 + [0, -0.07, -0.07], 0.3, exact=True), "inconclusive"),  # 0.05 lower, in the noise
    (per_block([-0.02] * 6 + [0, -0.045, -0.045], 0.05, exact=True), "weaker"),  # surely 0.025 lower: half of -0.05
])
def test_alignment_higher(cos, expected):
    assert outcome(ch3.alignment_verdicts("toy", alignment_frame({0: cos})), "alignment_higher") == expected


def test_alignment_is_learned_only_where_the_untrained_net_lacks_it():
    trained = per_block(NEGATIVE, 0.05)
    negative, higher = ch3.alignment_verdicts("toy", alignment_frame({0: trained}))
    assert negative.learned.outcome == higher.learned.outcome == "holds"
    assert "untrained: 0% of blocks negative" in negative.detail
    # the same alignment before training: the paper's rows still hold, the book's question says "not learned"
    negative, higher = ch3.alignment_verdicts("toy", alignment_frame({0: trained}, untrained=trained))
    assert negative.outcome == higher.outcome == "holds"
    assert negative.learned.outcome == higher.learned.outcome == "contradicted"


def test_alignment_verdicts_use_every_seed():
    frame = alignment_frame({1: per_block(NEGATIVE, 0.05, seed=1), 2: per_block(NEGATIVE, 0.05, seed=2)})
    negative, higher = ch3.alignment_verdicts("toy", frame)
    assert negative.estimate.seeds == higher.estimate.seeds == 2
    assert negative.outcome == "holds" and "7 of 7 blocks negative" in negative.detail


def ratio_frame(trained: np.ndarray, untrained: np.ndarray, seeds=(0,)) -> pd.DataFrame:
    return pd.concat([ch3.block_rows(r, "ratio", BLOCKS, net="pre-activation", preact=True, seed=s, trained=t)
                      for s in seeds for t, r in ((True, trained), (False, untrained))], ignore_index=True)


UNTRAINED_RATIOS = [1.0, 1.0, 0.8, 0.8, 0.6, 0.6, 0.5, 0.5, 0.5]  # contrast of the quarters: 1 / 0.5 = 2


@pytest.mark.parametrize("trained, expected, learned", [
    # the paper's row: the trained contrast against 1.1; learned: trained over untrained (contrast 2) against 1.1
    (positive([3.0, 3.0, 1, 1, 0.6, 0.6, 0.5, 0.5, 0.5], 0.1), "holds", "holds"),  # contrast 6: three times 2
    # no more contrast than the untrained net: the paper's fall is there; equal: inside the negligible band, so
    # learned is contradicted (it was inconclusive while the smallest effect was the neutral 1)
    (positive(UNTRAINED_RATIOS, 0.1), "holds", "contradicted"),
    # 5 % more contrast than untrained (2.1 against 2): learned is weaker, surely more, short of 10 %
    (positive([1.05, 1.05, 0.8, 0.8, 0.6, 0.6, 0.5, 0.5, 0.5], 0.1), "holds", "weaker"),
    # 1.5 x the control and very noisy, yet surely above 1.1 x it (it was inconclusive against 1.5 x)
    (positive([3.0, 3.0, 1, 1, 0.6, 0.6, 1.0, 1.0, 1.0], 1.5), "holds", "holds"),
    (positive([1.5, 1.5, 1, 1, 1, 1, 1, 1, 1], 0.1), "holds", "contradicted"),  # a fall, less than untrained
    # no fall at all: a contrast of 1, inside the negligible band, now contradicted (it was inconclusive), and
    # half the control's
    (positive([1.0] * 9, 0.1), "contradicted", "contradicted"),
    # a 5 % fall: weaker, surely a fall, short of 10 %
    (positive([1.05, 1.05, 1, 1, 1, 1, 1, 1, 1], 0.1), "weaker", "contradicted"),
    (positive([0.5, 0.5, 0.6, 0.6, 0.8, 0.8, 1.0, 1.0, 1.0], 0.1), "contradicted", "contradicted"),  # a rise
])
def test_norm_ratio_against_the_untrained_net(trained, expected, learned):
    frame = ratio_frame(trained, positive(UNTRAINED_RATIOS, 0.1, seed=1))
    verdict = ch3.norm_ratio_verdict("toy", frame)
    assert verdict.outcome == expected and verdict.untrained is None  # decided on the trained nets alone
    assert verdict.estimate.value == pytest.approx(ch3._quarters(trained.T))  # (examples, blocks)
    assert verdict.learned.key == "norm_ratio:learned" and verdict.learned.outcome == learned
    assert verdict.learned.untrained.value == pytest.approx(2.0, rel=0.05)


def drop_frame(trained: np.ndarray, untrained: np.ndarray, intact_rate=0.1) -> pd.DataFrame:
    frames = []
    for t, dropped in ((True, trained), (False, untrained)):
        intact = bernoulli([intact_rate if t else 0.9], seed=5)[0]
        frames.append(ch3.block_rows(dropped, "mistake", BLOCKS, seed=0, trained=t,
                                     intact_mistake=np.tile(intact, dropped.shape[0]), chance=0.9))
    return pd.concat(frames, ignore_index=True)


FIRST = np.array(BLOCKS["first_of_stage"])


@pytest.mark.parametrize("trained, expected", [
    (bernoulli(np.where(FIRST, 0.6, 0.1)), "holds"),  # 50 points more at the start of a stage
    (np.tile(bernoulli([0.1])[0], (9, 1)), "contradicted"),  # every drop costs the same
    # 5 points: surely beyond the 1-point margin (it was inconclusive against 5 points)
    (bernoulli(np.where(FIRST, 0.15, 0.1)), "holds"),
    (bernoulli(np.where(FIRST, 0.11, 0.1)), "inconclusive"),  # 1 point, within the noise of 300 examples
])
def test_drop_first_blocks_against_the_untrained_net(trained, expected):
    untrained = np.tile(bernoulli([0.9], seed=3)[0], (9, 1))  # untrained: every drop leaves it at chance
    verdict = ch3.drop_verdict("toy", drop_frame(trained, untrained))
    assert verdict.outcome == expected
    # the untrained net is at chance: a ceiling, so its "is it learned?" row is not testable, whatever the trained
    assert verdict.learned.untrained.value == 0 and verdict.learned.outcome == "not testable here"
    assert "error with every block is 90 % (a guess: 90 %)" in verdict.detail
    assert "near chance" in verdict.learned.untestable and "rules out little" in verdict.claim.control


def test_drop_first_blocks_learned_row_is_decided_when_the_control_is_off_chance():
    trained = bernoulli(np.where(FIRST, 0.6, 0.1))
    untrained = np.tile(bernoulli([0.5], seed=3)[0], (9, 1))  # every drop costs the same: no contrast
    frame = drop_frame(trained, untrained)
    frame.loc[~frame.trained, "intact_mistake"] = [np.zeros_like(m) for m in frame.intact_mistake[~frame.trained]]
    verdict = ch3.drop_verdict("toy", frame)
    assert verdict.learned.untestable == "" and verdict.learned.outcome == "holds"


def readout_frame(correct: np.ndarray, borderline: np.ndarray, seed=0, untrained: np.ndarray | None = None
                  ) -> pd.DataFrame:
    """Rows of `ch3.readouts` from (positions, examples) arrays, corrected / broken from them; the untrained
    net's read-outs `untrained` (default: flat at 10 %, never borderline)."""
    positions, n = correct.shape
    untrained = bernoulli([0.1] * positions, n=n, seed=9) if untrained is None else untrained

    def rows(trained, correct, borderline):
        corrected = np.full(correct.shape, np.nan)
        broken = np.full(correct.shape, np.nan)
        corrected[:-1] = borderline[:-1] & ~correct[:-1] & correct[1:]
        broken[:-1] = borderline[:-1] & correct[:-1] & ~correct[1:]
        return pd.DataFrame({"seed": seed, "trained": trained, "block": np.repeat(np.arange(19, 19 + positions), n),
                             "example": np.tile(np.arange(n), positions), "correct": correct.ravel(),
                             "loss": 0.0, "entropy": 0.0, "borderline": borderline.ravel(),
                             "corrected": corrected.ravel(), "broken": broken.ravel()})
    # the untrained rows are borderline everywhere with the opposite corrections: the borderline claim ignores them
    return pd.concat([rows(True, correct, borderline), rows(False, untrained, np.ones_like(untrained))],
                     ignore_index=True)


UNTRAINED_READOUTS = [0.10, 0.12, 0.14]  # an untrained net whose read-outs rise by 4 points


@pytest.mark.parametrize("rates, expected, learned", [
    ([0.6, 0.8, 0.9], "holds", "holds"),  # +30 points, +26 beyond the untrained +4
    ([0.9, 0.8, 0.6], "contradicted", "contradicted"),
    # the untrained net's very read-outs: +4 points, within the noise of 300 examples; training adds exactly
    # nothing (it was contradicted on trained minus untrained)
    (UNTRAINED_READOUTS, "inconclusive", "contradicted"),
    # +9 points, surely a rise; 5 points beyond the untrained +4, within the noise (it was inconclusive on the
    # difference)
    ([0.8, 0.85, 0.89], "holds", "inconclusive"),
])
def test_intermediate_accuracy_against_the_untrained_net(rates, expected, learned):
    correct = bernoulli(rates, seed=4 if rates is UNTRAINED_READOUTS else 0)
    frame = readout_frame(correct, np.zeros_like(correct), untrained=bernoulli(UNTRAINED_READOUTS, seed=4))
    verdict = next(v for v in ch3.readout_verdicts("toy", frame) if v.key == "intermediate_accuracy")
    assert verdict.outcome == expected
    assert verdict.estimate.value == pytest.approx(round(300 * rates[-1]) / 300 - round(300 * rates[0]) / 300)
    assert verdict.learned.outcome == learned
    assert verdict.learned.untrained.value == pytest.approx(0.04)
    assert "untrained: 10.0 % after block 19 to 14.0 % after block 21" in verdict.detail


def test_intermediate_accuracy_is_learned_is_not_testable_against_an_untrained_net_at_chance():
    correct = bernoulli([0.6, 0.8, 0.9])
    at_chance = readout_frame(correct, np.zeros_like(correct), untrained=bernoulli(UNTRAINED_READOUTS, seed=4))
    verdict = next(v for v in ch3.readout_verdicts("toy", at_chance.assign(chance=0.1))
                   if v.key == "intermediate_accuracy")
    assert verdict.outcome == "holds" and verdict.learned.outcome == "not testable here"
    assert "near chance" in verdict.learned.why()
    # an untrained net whose read-outs reach 40 %: far from a guess, its control can rule a rise out
    learning = readout_frame(correct, np.zeros_like(correct), untrained=bernoulli([0.3, 0.35, 0.4], seed=4))
    verdict = next(v for v in ch3.readout_verdicts("toy", learning.assign(chance=0.1))
                   if v.key == "intermediate_accuracy")
    assert verdict.learned.outcome == "holds"


def borderline_cases(corrected: int, broken: int, unchanged: int, n=N) -> tuple[np.ndarray, np.ndarray]:
    """Two read-outs: the first `corrected + broken + unchanged` examples borderline at the first."""
    correct = np.ones((2, n), bool)
    borderline = np.zeros((2, n), bool)
    borderline[0, :corrected + broken + unchanged] = True
    correct[0, :corrected] = False  # wrong, then right
    correct[1, corrected:corrected + broken] = False  # right, then wrong
    return correct, borderline


@pytest.mark.parametrize("cases, expected", [
    ((30, 2, 20), "holds"),  # 28 of 52 cases net corrected
    ((2, 30, 20), "contradicted"),
    ((1, 0, 9), "inconclusive"),  # 10 % of 10 cases: one example either way
])
def test_borderline_corrected(cases, expected):
    frame = readout_frame(*borderline_cases(*cases))
    assert outcome(ch3.readout_verdicts("toy", frame), "borderline_corrected") == expected


def test_borderline_corrected_without_borderline_examples_is_not_testable_here_and_says_so():
    frame = readout_frame(*borderline_cases(0, 0, 0))
    verdict = ch3.readout_verdicts("toy", frame)[1]
    assert verdict.outcome == "not testable here" and "no borderline example in seed(s) [0]" in verdict.detail


def unroll_frame(naive_norm, train_loss, test_correct, borderline, seed=0, scale=0.1, untrained_norm=None
                 ) -> pd.DataFrame:
    """Rows of `ch3.unrolling` with two steps (before, after): each argument a pair of per-example arrays
    (`untrained_norm`, the untrained net's naive unrolling: steady by default)."""
    def rows(kind, split, s, norm, loss, correct, border, trained=True):
        n = len(norm[0])
        return pd.DataFrame({"seed": seed, "trained": trained, "kind": kind, "split": split, "scale": s,
                             "step": np.repeat([0, 1], n),
                             "example": np.tile(np.arange(n), 2), "norm": np.concatenate(norm),
                             "loss": np.concatenate(loss), "correct": np.concatenate(correct),
                             "borderline": np.tile(border, 2)})
    n_test, n_train = len(naive_norm[0]), len(train_loss[0])
    ones_test, ones_train = (np.ones(n_test),) * 2, (np.ones(n_train),) * 2
    untrained_norm = ones_test if untrained_norm is None else untrained_norm
    return pd.concat([rows("naive", "test", 1.0, naive_norm, ones_test, ones_test, borderline),
                      rows("naive", "test", 1.0, untrained_norm, ones_test, ones_test, borderline, trained=False),
                      rows("scaled", "test", scale, ones_test, ones_test, test_correct, borderline),
                      rows("scaled", "train", scale, ones_train, train_loss, ones_train, np.zeros(n_train, bool))],
                     ignore_index=True)


def steady(n=N):
    return np.ones(n), np.ones(n)


def spread(mean, sd, n=N):
    """n positive values with mean exactly `mean`, spread by `sd` (log-normal)."""
    x = np.exp(np.random.default_rng(0).normal(0, sd, n))
    return mean * x / x.mean()


BORDER = np.arange(N) < 20  # 20 borderline test examples


def fixed(before: int, after: int):
    """Correct-before / correct-after arrays: `before` then `after` of the 20 borderline examples right."""
    b, a = np.ones(N, bool), np.ones(N, bool)
    b[before:20], a[after:20] = False, False
    return b, a


@pytest.mark.parametrize("after, sd, expected, learned", [
    (100.0, 0.0, "holds", "holds"),  # x100 against the untrained x10: log10 2, and a log10 difference of 1
    # the untrained block's own growth: the features grow; equal: inside the negligible band, so learned is
    # contradicted (it was inconclusive while the smallest effect was no difference)
    (10.0, 0.0, "holds", "contradicted"),
    # 5 % more growth than untrained (x10.5): learned is weaker, surely more, short of 10 %
    (10.5, 0.0, "holds", "weaker"),
    # the trained block does not grow the features at all (log10 0): inside the negligible band, so the paper's
    # row is now contradicted (it was inconclusive); it grows them surely less than the untrained one
    (1.0, 0.0, "contradicted", "contradicted"),
    (1.05, 0.0, "weaker", "contradicted"),  # a 5 % growth: surely some, short of 10 %
    (0.1, 0.0, "contradicted", "contradicted"),  # the features shrink
    # twice the untrained growth on average, very noisy, yet surely above it (it was inconclusive against 0.3)
    (20.0, 1.0, "holds", "holds"),
])
def test_unroll_naive_against_the_untrained_net(after, sd, expected, learned):
    norm = (np.ones(N), spread(after, sd))
    control = (np.ones(N), spread(10.0, 0.0))
    frame = unroll_frame(norm, steady(500), fixed(10, 10), BORDER, untrained_norm=control)
    verdict = ch3.unrolling_verdicts("toy", frame)[0]
    assert verdict.key == "unroll_naive" and verdict.outcome == expected
    assert verdict.estimate.value == pytest.approx(np.log10(after))  # the trained net's growth alone
    assert verdict.learned.outcome == learned
    assert verdict.learned.untrained.value == pytest.approx(1.0)
    assert f"trained x{after:.3g}, untrained x10" in verdict.detail


@pytest.mark.parametrize("after, sd, expected", [
    (0.5, 0.0, "holds"), (1.2, 0.0, "contradicted"), (0.95, 1.0, "inconclusive"),
    (0.95, 0.0, "weaker"),  # -5 %: surely lower, surely short of half the paper's -17 %
])
def test_unroll_scaled(after, sd, expected):
    loss = (np.full(500, 0.01), 0.01 * spread(after, sd, n=500))
    frame = unroll_frame(steady(), loss, fixed(10, 10), BORDER)
    assert outcome(ch3.unrolling_verdicts("toy", frame), "unroll_scaled") == expected


@pytest.mark.parametrize("correct, border, expected", [
    (fixed(8, 14), BORDER, "holds"),  # 40 % to 70 %
    (fixed(14, 8), BORDER, "contradicted"),
    (fixed(10, 11), BORDER, "inconclusive"),  # one example of 20
    (fixed(2, 9), np.arange(N) < 9, "not testable here"),  # only 9 borderline examples: not measured
    # every example borderline, 6 of 300 fixed: +2 points, surely, surely short of half the paper's +10
    ((np.arange(N) < 150, np.arange(N) < 156), np.ones(N, bool), "weaker"),
])
def test_unroll_borderline(correct, border, expected):
    frame = unroll_frame(steady(), steady(500), correct, border)
    verdict = ch3.unrolling_verdicts("toy", frame)[2]
    assert verdict.key == "unroll_borderline" and verdict.outcome == expected
    if border.sum() < ch3.MIN_BORDERLINE:
        assert verdict.estimate is None and f"fewer than {ch3.MIN_BORDERLINE}" in verdict.detail


def architecture_frame(cos: dict[str, np.ndarray], trained_ratio: dict[str, np.ndarray],
                       untrained_ratio: dict[str, np.ndarray], seed=0) -> pd.DataFrame:
    layouts = {"net A": ("cifar", True), "net B": ("single", False), "net C": ("avgpool", False),
               "net D": ("cifar", False)}
    frames = []
    for name, (layout, main) in layouts.items():
        info = {"arch": name, "layout": layout, "main": main, "seed": seed}
        frames.append(ch3.block_rows(trained_ratio.get(name, np.ones((9, N))), "ratio", BLOCKS, **info,
                                     trained=True).assign(cos=cos[name].ravel(), mistake=False,
                                                          intact_mistake=False))
        frames.append(ch3.block_rows(untrained_ratio.get(name, np.ones((9, N))), "ratio", BLOCKS, **info,
                                     trained=False))
    frame = pd.concat(frames, ignore_index=True)
    frame.loc[frame.downsample & frame.trained, "cos"] = np.nan
    return frame.assign(position=(frame.block - 1) / 8)


ALIGNED = per_block([-0.05] * 9, 0.05)
REFINE = [2.0, 2.0, 2.0, 1, 1, 1, 1, 1, 1]  # contrast of the first 3 blocks over the rest: 2


@pytest.mark.parametrize("odd, expected", [
    (ALIGNED, "holds"),
    (per_block([0.05] * 9, 0.05), "contradicted"),  # net C is positive everywhere
    (per_block([-0.05, -0.05, -0.05, 0, -0.05, 0.05, 0, -0.05, 0.0], 0.05, exact=True), "inconclusive"),
    (per_block([-0.05, -0.05, -0.05, 0, -0.05, 0.05, 0, 0.05, -0.05], 0.05), "weaker"),  # 5 of 7 blocks
])
def test_architectures_align_takes_the_least_aligned_net(odd, expected):
    cos = {"net A": ALIGNED, "net B": ALIGNED, "net C": odd, "net D": ALIGNED}
    frame = architecture_frame(cos, {}, {})
    assert outcome(ch3.architecture_verdicts("toy", frame), "architectures_align") == expected


@pytest.mark.parametrize("single, untrained_single, expected, learned", [
    # the book's row: the single net's contrast over the ResNet's (2), trained; learned: that over the same
    # untrained (2 vs 2, unless given)
    (positive([6.0] * 3 + [1] * 6, 0.1), REFINE, "holds", "holds"),  # contrast 6 against the ResNet's 2
    # the same as the ResNet, as untrained: equal, inside the negligible band, so contradicted (it was
    # inconclusive while the smallest effect was the neutral 1)
    (positive(REFINE, 0.1), REFINE, "contradicted", "contradicted"),
    # 1.25 x, very noisy: surely above 1, but not surely above 1.1, so now inconclusive (it held against 1)
    (positive([2.5] * 3 + [1] * 6, 1.5), REFINE, "inconclusive", "inconclusive"),
    # 1.05 x (2.1 against 2), as over the untrained nets: weaker, surely sharper, short of 10 %
    (positive([2.1] * 3 + [1] * 6, 0.1), REFINE, "weaker", "weaker"),
    (positive([1.0] * 9, 0.1), REFINE, "contradicted", "contradicted"),  # no contrast at all: half the ResNet's
    # sharper trained, but no sharper than the untrained single net already is (6 vs 2): surely less so
    (positive([6.0] * 3 + [1] * 6, 0.1), [12.0] * 3 + [1] * 6, "holds", "contradicted"),
    # 6 over an untrained 5.7: learned 5 % more, weaker
    (positive([6.0] * 3 + [1] * 6, 0.1), [5.7] * 3 + [1] * 6, "holds", "weaker"),
])
def test_single_sharper_picks_the_nets_by_their_fields_and_its_learned_row_is_against_both_untrained(
        single, untrained_single, expected, learned):
    cos = dict.fromkeys(("net A", "net B", "net C", "net D"), ALIGNED)
    trained = {"net A": positive(REFINE, 0.1, seed=1), "net B": single}
    untrained = {"net A": positive(REFINE, 0.1, seed=2), "net B": positive(untrained_single, 0.1, seed=3)}
    verdict = ch3.architecture_verdicts("toy", architecture_frame(cos, trained, untrained))[1]
    assert verdict.key == "single_sharper" and verdict.outcome == expected
    assert verdict.claim.asks == "book" and verdict.untrained is None
    assert verdict.estimate.value == pytest.approx(ch3._contrast(single.T) / 2)  # trained nets alone
    assert verdict.learned.key == "single_sharper:learned" and verdict.learned.outcome == learned
    assert "net B" in verdict.detail and "net A" in verdict.detail


def test_no_architecture_verdicts_where_the_architectures_were_not_trained():
    assert ch3.architecture_verdicts("toy", pd.DataFrame()) == []


# ---- the text the run writes


def over_training(cos_by_epoch: dict[int, list[float]], seeds=(0, 1)) -> pd.DataFrame:
    return pd.DataFrame([{"seed": s, "epoch": e, "block": b + 1, "stage": 1, "cos": c}
                         for s in seeds for e, cos in cos_by_epoch.items() for b, c in enumerate(cos)])


def test_emergence_says_when_the_sign_is_already_there_at_initialisation():
    already = ch3.emergence(over_training({0: [-0.01] * 5, 1: [-0.02] * 5, 15: [-0.05] * 5}))
    assert "At initialisation (epoch 0, mean over seeds): 5 of 5 blocks negative" in already
    assert "already there before any training" in already
    appears = ch3.emergence(over_training({0: [0.01] * 5, 15: [-0.05] * 5}))
    assert "appears during training" in appears and "0 of 5 blocks negative" in appears
    never = ch3.emergence(over_training({0: [0.01] * 5, 15: [0.02] * 5}))
    assert "Neither at initialisation nor at the end" in never


def test_reading_lists_every_outcome_and_a_reason_only_where_a_claim_did_not_hold():
    cos = per_block(NEGATIVE, 0.05)
    verdicts = ch3.alignment_verdicts("toy", alignment_frame({0: cos}))  # both hold, and both are learned
    # the features 10 % larger on average, noisily (naive: inconclusive, and so is learned, against steady
    # untrained features; steady features would now contradict it), the loss 5 % lower (scaled: weaker), 9
    # borderline examples (not testable here)
    loss = (np.full(500, 0.01), np.full(500, 0.0095))
    naive = (np.ones(N), spread(1.1, 1.0))
    verdicts += ch3.unrolling_verdicts("toy", unroll_frame(naive, loss, fixed(2, 9), np.arange(N) < 9))
    # no fall (a contrast of 1: contradicted, it was inconclusive), half the untrained net's contrast (learned:
    # contradicted)
    verdicts.append(ch3.norm_ratio_verdict("toy", ratio_frame(positive([1.0] * 9, 0.1),
                                                              positive(UNTRAINED_RATIOS, 0.1, seed=1))))
    text = claims.reading(verdicts, "ci", ch3.LIKELY_REASONS)
    assert ("the papers' claims: 2 holds, 1 weaker, 1 contradicted, 1 inconclusive (1 not testable here, not "
            "counted); the book's questions: 2 holds, 0 weaker, 1 contradicted, 1 inconclusive") in text
    for listed in ("Holds", "Weaker", "Contradicted", "Inconclusive", "Not testable here"):
        assert f"*{listed}*:" in text, listed
    assert "`alignment_negative`" not in text  # held: listed, not explained
    assert ("`norm_ratio` [toy] is contradicted: its interval [0.989, 1.01] excludes what the claim needs (> 1.1) "
            "and reaches no effect (1) or the opposite") in text
    assert ("`norm_ratio:learned` [toy] is contradicted: its interval [0.492, 0.508] excludes what the claim needs "
            "(> 1.1) and reaches no effect (1) or the opposite") in text
    scaled = ch3.CLAIMS["unroll_scaled"]
    assert (f"`unroll_scaled` [toy] is weaker: its interval [-0.05, -0.05] is surely in the paper's direction "
            f"(beyond 0) but surely short of the smallest size that counts ({scaled.needs()})") in text
    assert "`unroll_borderline` [toy] is not testable here" in text and f"fewer than {ch3.MIN_BORDERLINE}" in text
    assert ("`unroll_naive` [toy] is inconclusive: its interval [-0.0252, 0.109] contains the threshold "
            "(needs > 0.0414)") in text


# ---- failed runs: every claim here is about nets that learned

def _with_status(frame: pd.DataFrame, weak: tuple = (1,)) -> pd.DataFrame:
    """`frame` with each row's run status: the seeds in `weak` did not train, the others trained."""
    return frame.assign(status=np.where(frame.seed.isin(weak), "did not train", "trained"))


def _chapter_frames(seeds=(0, 1)) -> dict[str, pd.DataFrame]:
    """Every step's frame, seeds `seeds`, each a net that makes its claims hold (their own tests' inputs), but for
    the read-outs, never borderline (`borderline_corrected` not testable here), and the steady loss after scaled
    unrolling (`unroll_scaled` contradicted)."""
    cos = {s: per_block(NEGATIVE, 0.05, seed=s) for s in seeds}
    refine = positive([3.0, 3.0, 1, 1, 0.6, 0.6, 0.5, 0.5, 0.5], 0.1)
    untrained_drops = np.tile(bernoulli([0.9], seed=3)[0], (9, 1))
    arch_cos = dict.fromkeys(("net A", "net B", "net C", "net D"), ALIGNED)
    return {
        "alignment": alignment_frame(cos),
        "ratios": ratio_frame(refine, positive(UNTRAINED_RATIOS, 0.1, seed=1), seeds=seeds),
        "drops": pd.concat([drop_frame(bernoulli(np.where(FIRST, 0.6, 0.1)), untrained_drops).assign(seed=s)
                            for s in seeds], ignore_index=True),
        "readouts": pd.concat([readout_frame(bernoulli([0.6, 0.8, 0.9]), np.zeros((3, N), bool), seed=s)
                               for s in seeds], ignore_index=True),
        "unrolled": pd.concat([unroll_frame((np.ones(N), spread(100.0, 0.0)), steady(500), fixed(8, 14), BORDER,
                                            seed=s, untrained_norm=(np.ones(N), spread(10.0, 0.0)))
                               for s in seeds], ignore_index=True),
        "architectures": pd.concat([architecture_frame(arch_cos, {"net B": positive([6.0] * 3 + [1] * 6, 0.1)},
                                                       {}, seed=s) for s in seeds], ignore_index=True),
    }


def _finals(statuses: dict[tuple[str, int], str]) -> pd.DataFrame:
    """`ch3.finals` rows: (role, seed) -> status."""
    return pd.DataFrame([{"role": role, "seed": seed, "label": "misleading", "status": status}
                         for (role, seed), status in statuses.items()])


def test_verdicts_count_only_runs_that_trained_and_name_every_failed_run_diverged_ones_included():
    frames = {name: _with_status(f) for name, f in _chapter_frames().items()}
    finals = _finals({("pre-activation", 0): "trained", ("pre-activation", 1): "did not train",
                      ("pre-activation", 2): "diverged", ("post-activation", 0): "trained",
                      ("single representation", 0): "trained", ("single representation", 2): "diverged"})
    found = ch3.verdicts("toy", *frames.values(), finals)
    assert [v.key for v in found] == list(ch3.CLAIMS)
    for v in found:
        if v.estimate is not None:
            assert v.estimate.seeds == 1, v.key  # seed 1 did not train: left out
        assert v.failed.startswith("pre-activation: seed 1 did not train, seed 2 diverged"), v.key
    by_key = {v.key: v for v in found}
    assert by_key["single_sharper"].failed.endswith("; single representation: seed 2 diverged")
    assert "single representation" not in by_key["alignment_negative"].failed
    assert by_key["alignment_negative"].outcome == "holds"


def test_without_a_net_that_trained_every_claim_says_so():
    frames = {name: _with_status(f, weak=(0, 1)) for name, f in _chapter_frames().items()}
    found = ch3.verdicts("toy", *frames.values(), _finals({("pre-activation", 0): "did not train"}))
    assert [v.key for v in found] == list(ch3.CLAIMS)
    assert all(v.estimate is None and v.outcome == "not testable here" and v.learned is None for v in found)
    assert {v.detail for v in found} == {"no net trained", "no seed on which every architecture trained"}


def test_unroll_borderline_of_several_seeds_is_not_decided_by_one():
    """Of several seeds, one with enough borderline examples would decide the claim alone (the other seeds had
    fewer than MIN_BORDERLINE): not testable; two such seeds are measured."""
    few = np.arange(N) < 5
    one = pd.concat([unroll_frame(steady(), steady(500), fixed(8, 14), BORDER, seed=0),
                     unroll_frame(steady(), steady(500), fixed(2, 4), few, seed=1)], ignore_index=True)
    verdict = ch3.unrolling_verdicts("toy", one)[2]
    assert verdict.outcome == "not testable here" and "1 of 2 seeds" in verdict.untestable
    two = pd.concat([one, unroll_frame(steady(), steady(500), fixed(8, 14), BORDER, seed=2)], ignore_index=True)
    decided = ch3.unrolling_verdicts("toy", two)[2]  # measured on both seeds (two seeds make a wide interval)
    assert decided.outcome != "not testable here" and decided.estimate.seeds == 2
