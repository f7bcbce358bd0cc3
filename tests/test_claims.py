"""Chapter 1's claims reach each of their three outcomes on constructed inputs (so each check can fail)."""

import numpy as np
import pandas as pd
import pytest

from resbook import claims, forest, run_status, stats
from resbook.chapters import ch1_degradation as ch1

N = 400  # examples per split


def wrong(rate: float) -> np.ndarray:
    return np.arange(N) < round(rate * N)  # the first `rate` of the examples wrong: pairs overlap as much as possible


def loss(rate: float) -> np.ndarray:
    """Per-example losses to go with `wrong(rate)`: high where wrong, low where right."""
    return np.where(wrong(rate), 2.0, 0.05)


def status(train_rate: float) -> str:
    """A run's status as `run_status` reads it from its final training error (these runs never diverge)."""
    return run_status.TRAINED if train_rate < run_status.STARTED_ERR else run_status.DID_NOT_TRAIN


def errors(rates: dict, seeds=(0, 1, 2), diverged: dict | None = None) -> pd.DataFrame:
    """`rates`: (net, depth, split) -> one error rate per seed (or one for all); every other net errs 2 %. Each run
    carries the status its training error gives; `diverged`: (net, depth) -> seeds whose run diverged instead
    (no mistakes: `wrong` None, as `ch1.mistakes` leaves it)."""
    rows = []
    for net, shortcut in (("plain", "A"), ("residual", "A")):
        for depth in (8, 56):
            train = rates.get((net, depth, "train"), 0.02)
            train = train if isinstance(train, tuple) else (train,) * len(seeds)
            lost = (diverged or {}).get((net, depth), ())
            for split in ("train", "test"):
                per_seed = rates.get((net, depth, split), 0.02)
                per_seed = per_seed if isinstance(per_seed, tuple) else (per_seed,) * len(seeds)
                rows += [{"dataset": "digits", "net": net, "shortcut": shortcut, "depth": depth, "seed": s,
                          "split": split, "status": run_status.DIVERGED if s in lost else status(t),
                          "wrong": None if s in lost else wrong(r), "loss": None if s in lost else loss(r)}
                         for s, r, t in zip(seeds, per_seed, train, strict=True)]
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
    ("degradation", {("plain", 8, "train"): 0.05, ("plain", 56, "train"): 0.02}, "contradicted"),  # the opposite
    ("degradation", {("plain", 56, "train"): (0.02, 0.07, 0.12)}, "inconclusive"),  # seeds disagree
    ("residual_beats_plain", {("plain", 56, "train"): 0.6}, "holds"),
    ("residual_beats_plain", {("plain", 56, "train"): 0.02}, "contradicted"),
    ("residual_beats_plain", {("plain", 56, "train"): (0.02, 0.07, 0.12)}, "inconclusive"),
    # on the training loss, deepest over shallowest (mean loss 0.05 + 1.95 x the error rate): 8 points more
    # examples wrong (loss 2 each) is a clear fall with depth (ratio 0.24, below 1 / 1.1)
    ("residual_train_depth", {("residual", 8, "train"): 0.08, ("residual", 56, "train"): 0.0}, "holds"),
    ("residual_train_depth", {("residual", 56, "train"): 0.05}, "contradicted"),  # the deeper net's loss is higher
    # equal (ratio 1): inside the negligible band, so now contradicted (it was inconclusive with the neutral value
    # as the smallest effect)
    ("residual_train_depth", {}, "contradicted"),
    # a 5 % lower loss (0.976 over 1.025) is weaker: surely down, short of 10 %
    ("residual_train_depth", {("residual", 8, "train"): 0.5, ("residual", 56, "train"): 0.475}, "weaker"),
    ("residual_train_depth", {("residual", 56, "train"): (0.0, 0.02, 0.04)}, "inconclusive"),
    ("residual_train_depth", {("residual", 8, "train"): 0.9, ("residual", 56, "train"): 0.9}, "not testable here"),
    # both nets fit the training set (0.5 % and 0 %, under FIT_FLOOR): a floor, whatever their losses say
    ("residual_train_depth", {("residual", 8, "train"): 0.005, ("residual", 56, "train"): 0.0}, "not testable here"),
    # a ratio of test errors (deepest over shallowest here), so the rates are large enough for a narrow one
    ("residual_test_depth", {("residual", 8, "test"): 0.2, ("residual", 56, "test"): 0.1}, "holds"),
    ("residual_test_depth", {("residual", 8, "test"): 0.1, ("residual", 56, "test"): 0.2}, "contradicted"),
    ("residual_test_depth", {("residual", 8, "test"): 0.2, ("residual", 56, "test"): 0.2}, "contradicted"),  # absent
    ("residual_test_depth", {("residual", 8, "test"): 0.2, ("residual", 56, "test"): (0.1, 0.18, 0.26)},
     "inconclusive"),
    # untrained nets (at chance on both splits) are no evidence, however their test errors compare
    ("residual_test_depth", {("residual", 8, "train"): 0.9, ("residual", 8, "test"): 0.9,
                             ("residual", 56, "train"): 0.9, ("residual", 56, "test"): 0.95}, "not testable here"),
])
def test_error_claims_reach_each_outcome(key, rates, expected):
    assert outcome(key, errors(rates)) == expected


# responses_smaller compares the nets at the sweep's second-deepest depth (8 here), where plain nets train
@pytest.mark.parametrize("key, trained, untrained, expected, learned", [
    ("responses_smaller", {("plain", 8): 2.0}, {}, "holds", "holds"),
    # the architecture alone gives more of it: the paper's observation holds, but it is not learned
    ("responses_smaller", {("plain", 8): 2.0}, {("plain", 8): 2.5}, "holds", "contradicted"),
    ("responses_smaller", {("residual", 8): 2.0}, {}, "contradicted", "contradicted"),  # the opposite
    ("responses_smaller", {("plain", 8): (1.0, 1.3, 1.6)}, {}, "inconclusive", "inconclusive"),
    # 5 % larger in plain nets (and 5 % more than untrained) is weaker: surely larger, short of 10 %
    ("responses_smaller", {("plain", 8): 1.05}, {}, "weaker", "weaker"),
    ("responses_smaller", {}, {}, "contradicted", "contradicted"),  # equal: inside the negligible band
    ("responses_depth", {("residual", 56): 0.5}, {}, "holds", "holds"),
    ("responses_depth", {("residual", 56): 1.5}, {}, "contradicted", "contradicted"),
    ("responses_depth", {("residual", 56): (0.7, 0.9, 1.1)}, {}, "inconclusive", "inconclusive"),
])
def test_response_claims_decided_on_trained_nets_and_learned_apart(key, trained, untrained, expected, learned):
    verdict = next(v for v in ch1.verdicts(errors({}), responses(trained, untrained)) if v.key == key)
    assert verdict.outcome == expected
    assert verdict.learned.outcome == learned and verdict.learned.claim.asks == "book"


# batch norm's scales (`scale`, mean |gamma| per layer) as the responses' levels: where no compared net's moved
# beyond SCALE_FLOOR of 1 the claim is not testable, both rows (it would be "contradicted", as in the digits)
@pytest.mark.parametrize("key, trained, expected", [
    ("responses_smaller", {}, "not testable here"),
    ("responses_smaller", {("plain", 8): 1.04, ("residual", 8): 0.96}, "not testable here"),  # each within 1.049
    ("responses_smaller", {("plain", 8): 1.06}, "weaker"),  # the plain net's scales moved: decided again
    ("responses_smaller", {("plain", 8): 2.0}, "holds"),
    ("responses_depth", {}, "not testable here"),
    ("responses_depth", {("residual", 56): 0.5}, "holds"),
])
def test_response_claims_are_not_testable_where_batch_norm_scales_have_not_moved(key, trained, expected):
    frame = responses(trained)
    verdict = next(v for v in ch1.verdicts(errors({}), frame.assign(scale=frame["std"])) if v.key == key)
    assert verdict.outcome == expected
    if expected == "not testable here":
        assert "have not moved" in verdict.untestable and verdict.learned.outcome == "not testable here"


def test_responses_of_residual_nets_that_did_not_learn_are_no_evidence():
    # "did not learn" is run_status's line now (final training error not below 80 %), no longer 5 %
    failed = errors({("residual", 8, "train"): 0.85, ("residual", 56, "train"): 0.9})
    v = next(v for v in ch1.verdicts(failed, responses({})) if v.key == "responses_depth")  # ratio 1: would contradict
    assert v.outcome == "not testable here" and "no net trained" in v.detail


def shortcut_errors(b: tuple, highway: tuple, a_train: float = 0.02) -> pd.DataFrame:
    rows = []
    for net, shortcut, rates in (("residual", "A", (0.1,) * 3), ("residual", "B", b), ("highway", "gated", highway)):
        rows += [{"dataset": "digits", "net": net, "shortcut": shortcut, "depth": 56, "seed": s, "split": split,
                  "status": status(a_train), "wrong": wrong(a_train if split == "train" else r)}
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
    assert untrained.outcome == "not testable here" and "no net trained" in untrained.detail
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
    assert {"statistic", "ours (95 % interval)", "needs", "outcome", "setting", "asks"} <= set(table.columns)
    assert "degradation [digits]: holds" in claims.summary(verdicts)
    assert "contradicted" in claims.reading(verdicts, "ci")


# ---- failed runs: counted where the claim is about their effect, left out where it is about nets that learned

def test_a_net_that_did_not_train_stays_in_degradation_and_its_status_is_stated():
    v = next(v for v in ch1.verdicts(errors({("plain", 56, "train"): 0.9}), responses({})) if v.key == "degradation")
    assert v.outcome == "holds" and v.estimate.seeds == 3 and v.estimate.value == pytest.approx(0.88)
    assert "plain-56: seeds 0, 1, 2 did not train" in v.detail and v.failed == "plain-56: seeds 0, 1, 2 did not train"
    trained = next(v for v in ch1.verdicts(errors({("plain", 56, "train"): 0.6}), responses({}))
                   if v.key == "degradation")
    assert "plain-56: seeds 0, 1, 2 trained" in trained.detail and trained.failed == ""


def test_a_diverged_run_has_no_final_error_so_degradation_leaves_it_out_and_says_so():
    frame = errors({("plain", 56, "train"): 0.9}, diverged={("plain", 56): (1,)})
    v = next(v for v in ch1.verdicts(frame, responses({})) if v.key == "degradation")
    assert v.estimate.seeds == 2 and "left out: seed 1 (plain-56 diverged: its weights are NaN)" in v.detail
    assert v.failed == "plain-56: seeds 0, 2 did not train, seed 1 diverged"


def test_a_diverged_run_is_left_out_of_a_claim_about_nets_that_learned_and_counted_in_its_failed_runs():
    frame = errors({("residual", 8, "train"): 0.08, ("residual", 56, "train"): 0.0}, diverged={("residual", 56): (2,)})
    found = {v.key: v for v in ch1.verdicts(frame, responses({}))}
    depth = found["residual_train_depth"]
    # the mean loss ratio, deepest (all right: 0.05) over shallowest (8 % wrong: 0.05 + 0.08 x 1.95)
    assert depth.estimate.seeds == 2 and depth.estimate.value == pytest.approx(0.05 / (0.05 + 0.08 * (2.0 - 0.05)))
    assert depth.failed == "residual-56: seed 2 diverged" and "left out: seed 2 (residual-56 diverged" in depth.detail
    assert claims.table([depth], "ci")["failed runs"].iloc[0] == "residual-56: seed 2 diverged"
    # a net that did not train is left out of it too, but a net that learned is not
    weak = errors({("residual", 56, "train"): (0.005, 0.005, 0.9)})
    depth = next(v for v in ch1.verdicts(weak, responses({})) if v.key == "residual_train_depth")
    assert depth.estimate.seeds == 2 and depth.failed == "residual-56: seed 2 did not train"


def test_claims_rows_and_the_scorecard_show_the_failed_runs():
    from resbook.site import execute

    frame = errors({("plain", 56, "train"): 0.9})
    rows = claims.table(ch1.verdicts(frame, responses({})), "ci").to_dict("records")
    assert [r["failed runs"] for r in rows[:2]] == ["plain-56: seeds 0, 1, 2 did not train"] * 2
    assert rows[2]["failed runs"] == "-"
    card = execute._scorecard({"01_plain_vs_residual": rows})
    # behind the claim's toggle, and flagged beside the claim itself
    assert "<dt>failed runs</dt><dd>plain-56: seeds 0, 1, 2 did not train</dd>" in card
    assert card.count("some runs failed") == 2
    older = [{k: v for k, v in r.items() if k != "failed runs"} for r in rows]  # recorded before the column
    assert "<dt>failed runs</dt>" not in execute._scorecard({"01_plain_vs_residual": older})


def test_report_records_every_field_and_shows_a_plot_above_a_compact_table(tmp_path, monkeypatch):
    from resbook import record

    monkeypatch.setenv(record.ENV, str(tmp_path))
    verdicts = ch1.verdicts(errors({("plain", 56, "train"): 0.6}), responses({}))
    shown = forest.show(verdicts, "ci", "01_plain_vs_residual")
    recorded = record.load_claims(tmp_path)["01_plain_vs_residual"]
    assert recorded == [v.row("ci") for v in claims.rows_of(verdicts)]  # every field, None kept as None
    page = shown._repr_html_()
    assert page.index("<img src=\"data:image/png;base64,") < page.index("<table")
    heads = page[page.index("<thead>"):page.index("</thead>")]
    assert [h.split("</th>")[0] for h in heads.split('<th style="text-align: left">')[1:]] == list(forest.SHOWN)
    assert page.count("<details>") == len(recorded)  # the long columns behind each row's toggle


def _finals(statuses: dict[tuple[str, int, int], str]) -> pd.DataFrame:
    """`runs.final_frame`-like rows: (net, depth, seed) -> status; a diverged run has NaN errors."""
    rows = []
    for (net, depth, seed), status in statuses.items():
        err = {"trained": 0.05, "did not train": 0.88}.get(status, np.nan)
        rows.append({"dataset": "digits", "net": net, "depth": depth, "seed": seed, "label": f"{net}-{depth}",
                     "shortcut": "A", "status": status, "train_err": err, "test_err": err, "epoch": 3})
    return pd.DataFrame(rows)


def test_figures_mark_the_runs_that_did_not_train_and_those_that_diverged():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    finals = _finals({("plain", 8, 0): "trained", ("plain", 56, 0): "did not train", ("plain", 56, 1): "diverged",
                      ("residual", 8, 0): "trained", ("residual", 56, 0): "trained", ("residual", 56, 1): "trained",
                      ("plain", 8, 1): "trained", ("residual", 8, 1): "trained"})

    def marks(fig) -> set[str]:
        return {c.get_gid() for ax in fig.axes for c in ax.collections if c.get_gid()}

    def legend(fig) -> str:
        return " ".join(t.get_text() for ax in fig.axes if ax.get_legend() for t in ax.get_legend().get_texts())

    fig = ch1.error_vs_depth(finals)
    assert marks(fig) == {"did not train", "diverged"}
    assert "did not train" in legend(fig) and "diverged" in legend(fig)
    (x_mark,) = [c for c in fig.axes[0].collections if c.get_gid() == "did not train"]
    assert sorted(map(tuple, x_mark.get_offsets())) == [(56, 88), (56, 88)]  # its train and test errors, in %
    fig = ch1.shortcuts(ch1.with_variant(finals), "shortcuts")
    assert marks(fig) == {"did not train", "diverged"}
    fig = ch1.training_curves(finals, "digits")
    assert marks(fig) == {"did not train", "diverged"}
    plt.close("all")
    clean = ch1.error_vs_depth(finals.assign(status="trained"))
    assert marks(clean) == set() and "diverged" not in legend(clean)
    plt.close("all")


def test_two_plain_nets_at_chance_are_no_evidence_against_degradation():
    """Outside review: with both plain nets near chance the gap is 0, a false "contradicted"; the reference
    (shallow) net must have trained, so no seed counts and the claim stays open."""
    frame = errors({("plain", 56, "train"): 0.9, ("plain", 8, "train"): 0.9})
    v = next(v for v in ch1.verdicts(frame, responses({})) if v.key == "degradation")
    assert v.outcome == "not testable here" and v.estimate is None
    assert "plain-8: seeds 0, 1, 2 did not train" in v.failed


def test_responses_smaller_needs_a_plain_net_that_trained():
    """A plain net that did not train makes the ratio measure the residual net alone: both must have trained."""
    frame = errors({("plain", 8, "train"): 0.9})  # the sweep's second-deepest depth, where the claim compares
    v = next(v for v in ch1.verdicts(frame, responses({("plain", 8): 2.0})) if v.key == "responses_smaller")
    assert v.outcome == "not testable here" and v.estimate is None


# ---- the five outcomes, on constructed intervals

def _claim(direction=claims.Direction.ABOVE, threshold=0.05, neutral=0.0, **kw):
    base = dict(basis=claims.Basis.PAPER, paper_value=2 * threshold - neutral) if direction != claims.Direction.WITHIN \
        else dict(basis=claims.Basis.SAME, points=True)
    return claims.Claim("x", "src", "Fig. 1", "text", "paper", "stat", direction, threshold, "why",
                        neutral=neutral, **{**base, **kw})


def _est(lo, hi):
    return stats.Estimate((lo + hi) / 2, lo, hi, 6, "t over 6 seeds")


@pytest.mark.parametrize("direction, lo, hi, expected", [
    (claims.Direction.ABOVE, 0.06, 0.09, "holds"),
    (claims.Direction.ABOVE, 0.01, 0.04, "weaker"),  # surely positive, surely short of 0.05
    (claims.Direction.ABOVE, -0.01, 0.008, "contradicted"),  # short of 0.05, no effect beyond a tenth of the paper's
    (claims.Direction.ABOVE, -0.01, 0.04, "inconclusive"),  # short of 0.05, but a small effect or none
    (claims.Direction.ABOVE, -0.04, -0.01, "contradicted"),  # the opposite
    (claims.Direction.ABOVE, 0.03, 0.07, "inconclusive"),
    (claims.Direction.BELOW, -0.09, -0.06, "holds"),
    (claims.Direction.BELOW, -0.04, -0.01, "weaker"),
    (claims.Direction.BELOW, -0.005, 0.02, "contradicted"),
    (claims.Direction.BELOW, -0.02, 0.02, "inconclusive"),
])
def test_each_outcome_from_its_interval(direction, lo, hi, expected):
    threshold = 0.05 if direction == claims.Direction.ABOVE else -0.05
    assert _claim(direction, threshold).outcome(_est(lo, hi)) == expected


def test_absent_is_a_tenth_of_the_papers_size_or_the_negligible_one():
    paper = _claim(claims.Direction.ABOVE, 0.75, neutral=0.5)  # the paper's 1.0 against 0.5 by chance
    assert paper.absent_below == pytest.approx(0.55)
    assert paper.outcome(_est(0.45, 0.54)) == "contradicted" and paper.outcome(_est(0.45, 0.6)) == "inconclusive"
    assert "cannot be told from none" in claims.Verdict(paper, "digits", _est(0.45, 0.6)).why()
    direction = claims.Claim("x", "s", "w", "t", "p", "s", claims.Direction.ABOVE, 1.1, "r", neutral=1.0,
                             unit="ratio")
    assert direction.absent_below == direction.threshold
    assert direction.outcome(_est(0.95, 1.09)) == "contradicted"


def test_not_testable_is_its_own_outcome_and_left_out_of_the_tally():
    claim = _claim()
    nothing = claims.check(claim, "digits", [])
    floor = claims.check(claim, "digits", [stats.Measurement(0.1, np.full(10, 0.1))] * 2, untestable="a floor")
    assert nothing.outcome == floor.outcome == "not testable here" and "a floor" in floor.why()
    assert claims.tally([nothing, floor]).startswith("the papers' claims: 0 holds, 0 weaker, 0 contradicted, "
                                                     "0 inconclusive (2 not testable here")


def test_a_threshold_off_its_rule_is_refused():
    with pytest.raises(ValueError, match="rule"):
        _claim(claims.Direction.ABOVE, 0.05, paper_value=0.2)  # half of 0.2 is 0.1
    with pytest.raises(ValueError, match="rule"):  # direction only, a ratio: 1.1, no longer the neutral 1
        claims.Claim("x", "s", "w", "t", "p", "s", claims.Direction.ABOVE, 1.0, "r", neutral=1.0, unit="ratio")
    with pytest.raises(ValueError, match="rule"):
        claims.Claim("x", "s", "w", "t", "p", "s", claims.Direction.ABOVE, 0.0, "r", points=True)  # 1 point
    with pytest.raises(ValueError, match="rule"):  # a log10 ratio: log10(1.1)
        claims.Claim("x", "s", "w", "t", "p", "s", claims.Direction.ABOVE, 0.0, "r", unit="log10")
    with pytest.raises(ValueError, match="rule"):  # a correlation: 0.1
        claims.Claim("x", "s", "w", "t", "p", "s", claims.Direction.BELOW, 0.0, "r", unit="correlation")


def test_a_direction_only_claim_needs_a_unit():
    with pytest.raises(ValueError, match="unit"):
        claims.Claim("x", "s", "w", "t", "p", "s", claims.Direction.ABOVE, 0.0, "r")
    with pytest.raises(ValueError, match="unit"):
        claims.Claim("x", "s", "w", "t", "p", "s", claims.Direction.ABOVE, 1.1, "r", neutral=1.0, unit="factor")


@pytest.mark.parametrize("direction, neutral, unit, points, threshold", [
    (claims.Direction.ABOVE, 0.0, "", True, 0.01),  # an error difference: 1 point
    (claims.Direction.BELOW, 0.0, "", True, -0.01),
    (claims.Direction.ABOVE, 1.0, "ratio", False, 1.1),  # a ratio: a factor 1.1 ...
    (claims.Direction.BELOW, 1.0, "ratio", False, 1 / 1.1),  # ... and 1 / 1.1 for a fall
    (claims.Direction.ABOVE, 0.0, "log10", False, 0.041392685158225),  # log10(1.1)
    (claims.Direction.BELOW, 0.0, "log10", False, -0.041392685158225),
    (claims.Direction.ABOVE, 0.0, "correlation", False, 0.1),
    (claims.Direction.BELOW, 0.0, "correlation", False, -0.1),
])
def test_a_direction_only_claim_needs_a_negligible_effect_on_its_own_scale(direction, neutral, unit, points,
                                                                         threshold):
    claim = claims.Claim("x", "s", "w", "t", "p", "s", direction, threshold, "r", neutral=neutral, unit=unit,
                         points=points)
    assert claim.kind == ("points" if points else unit)
    assert claims.rule_threshold(claims.Basis.DIRECTION, neutral, None, claim.kind,
                                 -1 if direction == claims.Direction.BELOW else 1) == pytest.approx(threshold)


def test_every_declared_claim_follows_a_rule_and_few_are_the_books_own():
    from resbook import chapters

    declared = [c for m in chapters.modules().values() for c in m.CLAIMS.values()]
    own = [c.key for c in declared if c.basis == claims.Basis.BOOK]
    assert own == ["lesion_smooth"]  # "smoothly" has no number and no neutral value: said in its reason
    assert all(c.reason for c in declared)
    assert {c.key for c in declared if c.asks == "book"} == {"single_sharper"}


def test_a_controlled_claim_is_decided_on_the_trained_nets_and_asks_if_it_is_learned_apart():
    claim = claims.Claim("r", "s", "w", "t", "p", "s", claims.Direction.ABOVE, 1.1, "r", neutral=1.0,
                         unit="ratio", control="untrained", versus_control="ratio")
    trained = [stats.Measurement(v, np.full(10, v)) for v in (2.0, 2.1, 1.9)]
    untrained = [stats.Measurement(v, np.full(10, v)) for v in (2.5, 2.6, 2.4)]
    verdict = claims.check(claim, "digits", trained, untrained)
    assert verdict.outcome == "holds" and verdict.learned.outcome == "contradicted"
    assert [v.key for v in claims.rows_of([verdict])] == ["r", "r:learned"]
    assert "the book's questions: 0 holds, 0 weaker, 1 contradicted" in claims.tally([verdict])
    # the learned row needs a ratio of 1.1 too: 5 % more than untrained is weaker, the same is contradicted
    assert verdict.learned.claim.threshold == pytest.approx(1.1) and verdict.learned.claim.kind == "ratio"
    more = [stats.Measurement(v, np.full(10, v)) for v in (2.1, 2.205, 1.995)]  # 1.05 x `trained`
    assert claims.check(claim, "digits", more, trained).learned.outcome == "weaker"
    assert claims.check(claim, "digits", trained, trained).learned.outcome == "contradicted"


@pytest.mark.parametrize("kw, threshold, neutral, kind", [
    (dict(direction=claims.Direction.ABOVE, threshold=1.1, neutral=1.0, unit="ratio", versus_control="ratio"),
     1.1, 1.0, "ratio"),
    (dict(direction=claims.Direction.BELOW, threshold=1 / 1.1, neutral=1.0, unit="ratio", versus_control="ratio"),
     1 / 1.1, 1.0, "ratio"),
    # a difference against the control stays on the claim's own scale
    (dict(direction=claims.Direction.BELOW, threshold=-0.041392685158225, unit="log10"), -0.041392685158225, 0.0,
     "log10"),
    (dict(direction=claims.Direction.ABOVE, threshold=0.01, points=True), 0.01, 0.0, "points"),
    # an error claim whose control combines as a ratio: the learned row is a ratio
    (dict(direction=claims.Direction.ABOVE, threshold=0.01, points=True, versus_control="ratio"), 1.1, 1.0,
     "ratio"),
])
def test_the_learned_row_needs_a_negligible_effect_on_its_own_scale(kw, threshold, neutral, kind):
    args = {**kw}
    claim = claims.Claim("r", "s", "w", "t", "p", "s", args.pop("direction"), args.pop("threshold"), "r",
                         control="untrained", **args)
    learned = claim.learned()
    assert learned.threshold == pytest.approx(threshold) and learned.neutral == neutral and learned.kind == kind
    assert learned.basis == claims.Basis.DIRECTION and learned.asks == "book"


def test_the_learned_row_names_the_same_failed_runs():
    claim = claims.Claim("r", "s", "w", "t", "p", "s", claims.Direction.ABOVE, 1.1, "r", neutral=1.0,
                         unit="ratio", control="untrained", versus_control="ratio")
    ones = [stats.Measurement(v, np.full(10, v)) for v in (2.0, 2.1)]
    verdict = claims.check(claim, "digits", ones, ones).with_failed("net-56: seed 1 did not train")
    assert [v.failed for v in claims.rows_of([verdict])] == ["net-56: seed 1 did not train"] * 2


def test_a_one_sided_no_worse_claim_says_its_interval_lies_beyond_the_margin():
    """A "no more than a point worse" claim's neutral value is its margin: "reaches no effect" would misread it."""
    margin = claims.SAME_MARGIN
    no_worse = claims.Claim("x", "src", "Sec. 4", "text", "paper", "stat", claims.Direction.BELOW, margin, "why",
                            points=True, basis=claims.Basis.SAME, neutral=margin)
    verdict = claims.Verdict(no_worse, "digits", _est(0.5, 0.9))
    assert verdict.outcome == "contradicted" and "wholly beyond the margin" in verdict.why()
