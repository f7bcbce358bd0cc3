"""Chapter 4: the plan, the nets, the probes on every seed, and each claim's decision on constructed inputs.

The decision tests feed the chapter's own verdict functions frames shaped like `mistakes` and
`initial_growth`, built so that each claim reaches each outcome it can reach.
"""

import numpy as np
import pandas as pd
import pytest
import torch

from resbook import claims, profiles, run_status, runs
from resbook.chapters import ch4_sharing as ch4
from resbook.chapters import checkpoint_epochs
from resbook.models import count_parameters, resnet
from resbook.train import TrainResult


def old_variants(depth: int, shared: int, small: int, ablations: bool) -> list[tuple[int, dict]]:
    """The nets the chapter has always trained (the old plans.sharing_variants)."""
    found = [(depth, {}), (depth, {"shared": shared, "shared_bn": "shared"}), (small, {}),
             (depth, {"shared": shared, "shared_bn": "unshared"})]
    return found + [(depth, {"shared": shared, "shared_bn": mode}) for mode in ("stats", "affine", "init")
                    if ablations]


OLD_VARIANTS = {"ci": old_variants(56, 6, 26, False), "cpu": old_variants(56, 6, 26, False),
                "paper": old_variants(110, 13, 38, True)}


@pytest.mark.parametrize("name", ["ci", "cpu", "paper"])
def test_plan_trains_every_variant_and_seed_on_the_hardest_data_set_only(name):
    p = profiles.resolve(name)
    last = p.datasets[-1]
    expected = [c for depth, options in OLD_VARIANTS[name]
                for c in runs.grid(p, datasets=[last], depths=[depth], preact=True,
                                   checkpoints=checkpoint_epochs(p), **options)]
    planned = [c for configs in ch4.plan(p).values() for c in configs]
    assert planned == expected
    assert {c.dataset for c in planned} == {last}  # cpu: MNIST-1D, not digits, where every net is near perfect
    assert {c.seed for c in planned} == set(p.seeds)


def test_plan_follows_the_seeds_of_an_override():
    p = profiles.resolve("ci", {"seeds": [1, 2]})
    assert sorted({c.seed for configs in ch4.plan(p).values() for c in configs}) == [1, 2]


def test_variants_carry_their_role_and_batch_norm_mode():
    cpu = ch4.variants(profiles.resolve("cpu", {"ablations": True}))
    assert [v.role for v in cpu] == ["unshared", "naive", "same size", "ubn", "ablation", "ablation", "ablation"]
    assert [v.shared_bn for v in cpu] == ["-", "shared", "-", "unshared", "stats", "affine", "init"]
    assert [v.role for v in ch4.variants(profiles.resolve("ci"))] == list(ch4.MAIN_ROLES)  # no ablations at ci
    naive, small = cpu[1], cpu[2]
    assert count_parameters(resnet(naive.depth, preact=True, shared=naive.shared)) == count_parameters(
        resnet(small.depth, preact=True))  # "same size" is the shared net's size


def test_variant_rejects_an_unknown_role_or_a_mode_without_sharing():
    with pytest.raises(ValueError, match="role"):
        ch4.Variant("x", "shared", 20)
    with pytest.raises(ValueError, match="without shared blocks"):
        ch4.Variant("x", "unshared", 20, shared_bn="unshared")
    with pytest.raises(ValueError, match="shared_bn"):
        ch4.Variant("x", "naive", 20, 2, "bogus")


# ---- constructed inputs

CPU = ch4.variants(profiles.resolve("cpu", {"ablations": True}))  # the four nets and the three ablations


def _key(v: ch4.Variant) -> str:
    return v.shared_bn if v.role == "ablation" else v.role


def wrong(n: int, *indices) -> np.ndarray:
    """A test set of `n` examples, wrong on `indices` (ranges or ints)."""
    out = np.zeros(n, bool)
    for i in indices:
        out[i] = True
    return out


def _status(train_wrong: np.ndarray) -> str:
    """A run's status as `run_status` reads it from its final training error (no run here diverges)."""
    return run_status.TRAINED if train_wrong.mean() < run_status.STARTED_ERR else run_status.DID_NOT_TRAIN


def _mistakes(test: dict[str, np.ndarray], variants=CPU, seeds=(0,), train: dict[str, np.ndarray] | None = None,
              diverged: dict[str, tuple] | None = None) -> pd.DataFrame:
    """Rows like `ch4.mistakes`: one per (variant, seed, split); display names deliberately unlike the real ones.
    `test` maps a role (or an ablation's shared_bn) to its test mistakes (the same on every seed); `train` to its
    training mistakes (default: none, a net that trained), from which each run's status follows; `diverged` to
    the seeds whose run diverged instead (`wrong` None, as `ch4.mistakes` leaves it)."""
    train, diverged = train or {}, diverged or {}

    def row(i, v, seed, split):
        wrong = train.get(_key(v), np.zeros(50, bool))
        lost = seed in diverged.get(_key(v), ())
        return {"variant": f"net {i}", "role": v.role, "shared": v.shared, "shared_bn": v.shared_bn,
                "paper_row": v.paper_row, "dataset": "toy", "seed": seed, "split": split,
                "status": run_status.DIVERGED if lost else _status(wrong),
                "wrong": None if lost else test[_key(v)] if split == "test" else wrong}

    return pd.DataFrame([row(i, v, seed, split) for i, v in enumerate(variants) if _key(v) in test
                         for seed in seeds for split in ("train", "test")])


def _verdicts(frame: pd.DataFrame) -> dict:
    return {v.key: v for v in ch4.error_verdicts(frame) + ch4.ablation_verdicts(frame)}


@pytest.mark.parametrize("order", [1, -1])
def test_naive_fails_reaches_each_outcome_by_role_not_by_name_or_order(order):
    cases = {
        "holds": wrong(300, range(100)),  # 33 % against 1 %
        "contradicted": wrong(300, range(3)),  # 1 % against the same-size net's 10 %: naive sharing is better
        "inconclusive": wrong(100, range(3)),  # 3 % against 1 % on 100 examples
    }
    for expected, naive in cases.items():
        small = {"holds": wrong(300, range(3)), "contradicted": wrong(300, range(30)),
                 "inconclusive": wrong(100, 0)}[expected]
        frame = _mistakes({"naive": naive, "same size": small, "ubn": small}, CPU[:4][::order])
        verdict = _verdicts(frame)["sharing_naive_fails"]
        assert verdict.outcome == expected, (expected, verdict.estimate)
        assert "net 1" in verdict.detail or "net 2" in verdict.detail  # the names come from the frame


def test_ubn_fixes_is_a_one_sided_test_of_no_worse_than_one_point():
    small = wrong(300, range(9))
    cases = {
        "holds": wrong(300, range(9)),  # the same mistakes: a difference of exactly 0
        "contradicted": wrong(300, range(60)),  # 20 % against 3 %
        "inconclusive": wrong(300, range(9, 18)),  # as many mistakes, on other examples: a wide interval
    }
    for expected, ubn in cases.items():
        frame = _mistakes({"naive": small, "same size": small, "ubn": ubn}, CPU[:4])
        verdict = _verdicts(frame)["sharing_ubn_fixes"]
        assert verdict.outcome == expected, (expected, verdict.estimate)
    # one-sided: UBN far better than the same-size net holds too (an equivalence test would call it different)
    better = _verdicts(_mistakes({"naive": small, "same size": wrong(300, range(60)), "ubn": small}, CPU[:4]))
    assert better["sharing_ubn_fixes"].outcome == "holds"
    claim = ch4.CLAIMS["sharing_ubn_fixes"]
    assert claim.direction == claims.Direction.BELOW and claim.threshold == 0.01  # 1 point worse at most


def test_ubn_fixes_is_measured_only_where_the_same_size_net_trained():
    same = wrong(300, range(9))  # UBN and the same-size net make the same mistakes: "holds" if measured
    # 90 % training error: that net did not train (run_status's line is 80 %; the chapter's own 5 % is gone, and
    # with it the 20 % this test used)
    failed = {"same size": wrong(50, range(45))}
    frame = _mistakes({"naive": same, "same size": same, "ubn": same}, CPU[:4], train=failed)
    verdict = _verdicts(frame)["sharing_ubn_fixes"]
    assert verdict.outcome == claims.UNTESTABLE and verdict.estimate is None
    assert verdict.detail.startswith("no net trained") and "seed 0 90.0 %" in verdict.detail
    # two seeds, the same-size net trained on seed 2 only: seed 1 gives no measurement, seed 2 decides
    frame = pd.concat([_mistakes({"naive": same, "same size": same, "ubn": same}, CPU[:4], seeds=(1,), train=failed),
                       _mistakes({"naive": same, "same size": same, "ubn": same}, CPU[:4], seeds=(2,))])
    verdict = _verdicts(frame)["sharing_ubn_fixes"]
    assert verdict.outcome == "holds" and verdict.estimate.seeds == 1
    assert "seed 1 90.0 %" in verdict.detail and "no net trained" not in verdict.detail
    # naive sharing counts however the shared net trained, but its reference must have trained (two nets at
    # chance show no gap): measured on seed 2 only
    assert _verdicts(frame)["sharing_naive_fails"].estimate.seeds == 1


def test_stats_matter_compares_own_statistics_with_the_better_of_the_others_by_shared_bn():
    n = 300
    main = {"naive": wrong(n, 0), "same size": wrong(n, 0), "ubn": wrong(n, 0)}
    cases = {
        "holds": {"stats": wrong(n, range(3)), "affine": wrong(n, range(60)), "init": wrong(n, range(45))},
        # the BN-scale-only ablation is best: own statistics are not what matters
        "contradicted": {"stats": wrong(n, range(30)), "affine": wrong(n, range(60)), "init": wrong(n, range(3))},
        "inconclusive": {"stats": wrong(100, range(3)), "affine": wrong(100, range(60)),
                         "init": wrong(100, range(5))},
    }
    for expected, ablations in cases.items():
        size = len(ablations["stats"])
        test = {**{k: wrong(size, 0) for k in main}, **ablations}
        for variants in (CPU, CPU[::-1]):
            verdict = _verdicts(_mistakes(test, variants))["sharing_stats_matter"]
            assert verdict.outcome == expected, (expected, verdict.estimate)
    # a profile without ablations: not testable here, saying how to add them
    (none,) = ch4.ablation_verdicts(_mistakes(main, CPU[:4]))
    assert none.outcome == "not testable here" and "ablations" in none.why()


def test_error_claims_use_every_seed_with_a_t_interval():
    n = 200
    frame = pd.concat([_mistakes({"naive": wrong(n, range(20 + 10 * s)), "same size": wrong(n, range(2)),
                                  "ubn": wrong(n, range(2))}, CPU[:4], seeds=(s,)) for s in (1, 2, 5)])
    verdict = _verdicts(frame)["sharing_naive_fails"]
    assert verdict.estimate.seeds == 3 and verdict.estimate.method == "t over 3 seeds"
    assert verdict.estimate.value == pytest.approx(np.mean([(20 + 10 * s - 2) / n for s in (1, 2, 5)]))



# ---- failed runs: counted where the claim is about their effect, left out where it is about nets that learned

def test_a_diverged_run_is_left_out_of_the_ubn_claim_and_counted_in_its_failed_runs():
    same = wrong(300, range(9))
    frame = _mistakes({"naive": same, "same size": same, "ubn": same}, CPU[:4], seeds=(0, 1, 2),
                      diverged={"ubn": (1,)})
    found = _verdicts(frame)
    ubn = found["sharing_ubn_fixes"]
    assert ubn.outcome == "holds" and ubn.estimate.seeds == 2
    assert ubn.failed == "net 3: seed 1 diverged" and "net 3 diverged, no final error (seed 1)" in ubn.detail
    assert claims.table([ubn], "cpu")["failed runs"].iloc[0] == "net 3: seed 1 diverged"
    # the naive-sharing claim is not about UBN: none of its runs failed
    assert found["sharing_naive_fails"].estimate.seeds == 3 and found["sharing_naive_fails"].failed == ""


def test_a_naive_net_that_did_not_train_counts_and_one_that_diverged_is_left_out_and_said():
    n = 300
    frame = _mistakes({"naive": wrong(n, range(270)), "same size": wrong(n, range(3)), "ubn": wrong(n, range(3))},
                      CPU[:4], seeds=(0, 1, 2), train={"naive": wrong(50, range(45))}, diverged={"naive": (2,)})
    naive = _verdicts(frame)["sharing_naive_fails"]
    assert naive.outcome == "holds" and naive.estimate.seeds == 2  # 90 % against 1 %, on the two that did not diverge
    assert naive.failed == "net 1: seeds 0, 1 did not train, seed 2 diverged"
    assert "net 1 diverged, no final error (seed 2), so those seeds give no measurement" in naive.detail
    # every seed diverged: nothing to measure, and it says why
    lost = _mistakes({"naive": wrong(n, 0), "same size": wrong(n, 0), "ubn": wrong(n, 0)}, CPU[:4],
                     diverged={"naive": (0,)})
    naive = _verdicts(lost)["sharing_naive_fails"]
    assert naive.estimate is None and naive.detail.startswith("no seed has both nets measured: net 1 diverged")


def test_the_ablation_claim_leaves_out_a_diverged_ablation_and_names_it():
    n = 300
    test = {"naive": wrong(n, 0), "same size": wrong(n, 0), "ubn": wrong(n, 0), "stats": wrong(n, range(3)),
            "affine": wrong(n, range(60)), "init": wrong(n, range(45))}
    (verdict,) = ch4.ablation_verdicts(_mistakes(test, CPU, seeds=(0, 1), diverged={"init": (0,)}))
    assert verdict.estimate.seeds == 1 and verdict.failed == "net 6: seed 0 diverged"
    assert "left out: seed 0 (net 6 diverged: its weights are NaN)" in verdict.detail


def test_table1_analogue_leaves_diverged_runs_out_of_the_means_and_names_the_failed_runs():
    main = ch4.variants(profiles.resolve("paper"))[:4]
    mistakes = _mistakes({"unshared": wrong(100, range(5)), "naive": wrong(100, range(20)),
                          "same size": wrong(100, range(5)), "ubn": wrong(100, range(5))}, main, seeds=(0, 1),
                         train={"naive": wrong(50, range(45))}, diverged={"ubn": (1,)})
    finals = mistakes.drop_duplicates("variant").assign(params=[1000, 2000, 3000, 4000])
    table = ch4.table1_analogue(mistakes, finals).set_index("ours")
    assert table.loc["net 1", "failed runs"] == "net 1: seeds 0, 1 did not train"
    assert table.loc["net 3", "failed runs"] == "net 3: seed 1 diverged" and table.loc["net 3", "seeds"] == 1
    assert table.loc["net 0", "failed runs"] == "-" and table.loc["net 0", "seeds"] == 2


def test_the_error_figure_marks_runs_that_did_not_train_and_runs_that_diverged():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    statuses = {"a": ["trained", "trained"], "b": ["did not train", "diverged"], "c": ["trained", "diverged"]}
    finals = pd.DataFrame([{"variant": v, "seed": s, "status": st,
                            "train_err": {"trained": 0.02, "did not train": 0.85}.get(st, np.nan),
                            "test_err": {"trained": 0.05, "did not train": 0.86}.get(st, np.nan)}
                           for v, sts in statuses.items() for s, st in enumerate(sts)])
    fig = ch4.errors(finals, "toy")
    ax = fig.axes[0]
    marks = {c.get_gid(): c for c in ax.collections if c.get_gid()}
    assert set(marks) == {"did not train", "diverged"}
    # the x's sit at the run's own errors, on variant b's two bars (row 1, train above and test below)
    assert sorted(map(tuple, marks["did not train"].get_offsets())) == [(85, 0.8), (86, 1.2)]
    assert len(marks["diverged"].get_offsets()) == 4  # two runs, each beside both of its variant's bars
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any("did not train" in t for t in labels) and any("diverged" in t for t in labels)
    plt.close(fig)

def _growth(outputs: dict[int, np.ndarray], seeds=(0,), depth: int = 110) -> pd.DataFrame:
    """Rows like `ch4.initial_growth`: per-example ||h|| that is 1 after the stem and `outputs[repeats]` at the
    output (an array over examples), the same on every seed."""
    return pd.DataFrame([{"dataset": "toy", "depth": depth, "seed": seed, "repeats": m, "stem": np.ones_like(out),
                          "output": out, "growth": float(out.mean())}
                         for seed in seeds for m, out in outputs.items()])


def flat(growth: float, n: int = 40) -> np.ndarray:
    return np.full(n, growth)


def test_explodes_compares_the_most_shared_net_with_the_unshared_one_and_reaches_each_outcome():
    cases = {
        "holds": {0: flat(2.0), 4: flat(1.0), 13: flat(6.0)},  # three times the unshared growth
        "contradicted": {0: flat(2.0), 4: flat(9.0), 13: flat(1.6)},  # below it (4 repeats does not decide)
        "inconclusive": {0: flat(2.0), 13: np.tile([1.0, 3.2], 20)},  # x1.05 on average, noisy
        "weaker": {0: flat(2.0), 13: flat(2.1)},  # x1.05: surely more growth, short of the negligible 10 %
    }
    for expected, outputs in cases.items():
        frame = _growth(outputs)
        verdict = ch4.growth_verdict(frame.iloc[::-1])  # rows in any order
        assert verdict.outcome == expected, (expected, verdict.estimate)
    # the same growth as the unshared net is no explosion: inside the negligible band, contradicted (direction
    # only needs a ratio above 1.1; it was at best inconclusive against 1)
    same = ch4.growth_verdict(_growth({0: np.tile([1.0, 3.0], 20), 13: np.tile([1.0, 3.0], 20)}))
    assert same.outcome == "contradicted" and same.estimate.value == pytest.approx(1.0)
    claim = ch4.CLAIMS["sharing_explodes"]
    assert (claim.direction, claim.threshold, claim.neutral, claim.kind) == (claims.Direction.ABOVE, 1.1, 1.0,
                                                                            "ratio")
    # no seed has both nets: nothing to measure
    apart = pd.concat([_growth({0: flat(2.0)}, seeds=(0,)), _growth({13: flat(6.0)}, seeds=(1,))])
    assert ch4.growth_verdict(apart).outcome == claims.UNTESTABLE


def test_explodes_detail_names_the_configuration_and_the_growth_at_every_repeat_count():
    verdict = ch4.growth_verdict(_growth({0: flat(2.0), 2: flat(2.5), 8: flat(4.0), 13: flat(6.0)}, seeds=(0, 1)))
    assert verdict.estimate.value == pytest.approx(3.0) and verdict.failed == ""
    assert "ResNet-110 with the top 13 of 18 blocks a stage shared naively" in verdict.detail
    assert "2 seeds at initialisation" in verdict.detail
    assert "none (unshared) x2.00, 2 x2.50, 8 x4.00, 13 x6.00" in verdict.detail


def test_explodes_uses_every_seed_and_needs_a_shared_net():
    frame = pd.concat([_growth({0: flat(2.0), 13: flat(2.0 * s)}, seeds=(s,)) for s in (3, 4, 5)])
    verdict = ch4.growth_verdict(frame)
    assert verdict.estimate.seeds == 3 and verdict.estimate.value == pytest.approx(4.0)
    with pytest.raises(ValueError, match="shared net"):
        ch4.growth_verdict(_growth({0: flat(2.0)}))


def test_verdicts_and_reading_name_every_outcome():
    n = 300
    frame = _mistakes({"naive": wrong(n, range(100)), "same size": wrong(n, range(3)), "ubn": wrong(n, range(3, 60)),
                       "stats": wrong(n, range(3)), "affine": wrong(n, range(30)), "init": wrong(n, range(4))},
                      CPU)
    growth = _growth({0: flat(2.0), 13: np.tile([1.0, 3.2], 20)})
    found = ch4.verdicts(frame, growth)
    assert [v.key for v in found] == list(ch4.CLAIMS)
    text = claims.reading(found, "cpu", ch4.LIKELY_REASONS)
    assert "*Holds*: naive sharing does worse" in text
    assert "`sharing_ubn_fixes` [toy] is contradicted" in text and "`sharing_explodes` [toy] is inconclusive" in text


def test_table1_analogue_shows_the_mean_and_interval_over_seeds_beside_the_paper():
    main = ch4.variants(profiles.resolve("paper"))[:4]
    n = 100
    mistakes = pd.concat([_mistakes({"unshared": wrong(n, range(s)), "naive": wrong(n, range(20)),
                                     "same size": wrong(n, range(5)), "ubn": wrong(n, range(5))}, main, seeds=(s,))
                          for s in (2, 4, 6)])
    finals = mistakes.drop_duplicates("variant").assign(params=[1000, 2000, 3000, 4000])
    table = ch4.table1_analogue(mistakes, finals)
    assert list(table["paper's counterpart"]) == ["ResNet-110", "shared ResNet-110 (naive, Sec. 4.5)", "ResNet-38",
                                                  "ResNet-110-UBN"]
    assert table["paper train / test (params)"].iloc[1] == "-"  # Table 1 has no row for naive sharing
    assert table["paper train / test (params)"].iloc[3] == "0.63 / 6.62 % (570k)"
    # errors 2, 4, 6 %: mean 4 %, t interval 4 ± 4.303 * 2 / sqrt(3)
    assert table["test error"].iloc[0] == "4.0 % [-1.0, 9.0]"
    # three equal seeds keep their own measurement noise (20 of 100 wrong: bootstrap sd 4 points) as the floor
    assert table["test error"].iloc[1] == "20.0 % [10.2, 29.8]" and set(table.seeds) == {3}


# ---- the probes, on real (untrained) nets and any seeds

@pytest.fixture(scope="module")
def small_runs():
    """Every variant of a small profile at seeds 1 and 2, the 'trained' net being the initial one (its history
    says so: 90 % training error, so `run_status` finds it did not train, as the guard used to find from its
    mistakes)."""
    p = profiles.resolve("ci", {"depths": [20], "seeds": [1, 2], "epochs": 2})
    found = {}
    for v in ch4.variants(p):
        results = []
        for config in v.configs(p, "digits"):
            torch.manual_seed(config.seed)
            results.append(TrainResult(config, config.build_model().eval(),
                                       {"train_err": [0.9], "test_err": [0.9]}))
        found[v] = results
    return found


@pytest.fixture(scope="module")
def small_norms(small_runs):
    return ch4.feature_norms(small_runs, "digits")


def test_probes_run_on_every_seed_and_start_from_each_seeds_initialisation(small_runs, small_norms):
    norms = small_norms
    assert sorted(norms.seed.unique()) == [1, 2]
    assert len(norms) == len(small_runs) * 2 * len(ch4.PROBED)  # variants x seeds x probes
    blocks = len(next(iter(small_runs.values()))[0].model.blocks)
    assert norms.norms.iloc[0].shape == (blocks + 1, ch4.PROBE_EXAMPLES)
    # the "trained" net here is the initial one: at initialisation, batch statistics give the same norms
    batch = norms[norms.statistics == "batch"].set_index(["variant", "seed", "when"]).norms
    for variant, seed in {(v, s) for v, s, _ in batch.index}:
        np.testing.assert_allclose(batch[variant, seed, "initialisation"], batch[variant, seed, "trained"],
                                   rtol=1e-5)
    first = norms[(norms.seed == 1) & (norms.when == "initialisation")].norms.iloc[0]
    second = norms[(norms.seed == 2) & (norms.when == "initialisation")].norms.iloc[0]
    assert not np.allclose(first, second)  # each seed its own initial weights
    gradients = ch4.gradient_norms(small_runs, "digits")
    assert sorted(gradients.seed.unique()) == [1, 2] and set(gradients.stage) == {1, 2, 3}
    means = ch4.block_means(norms)
    assert len(means) == sum(len(n) for n in norms.norms)


@pytest.fixture(scope="module")
def small_growth():
    return ch4.initial_growth("digits", repeats=(0, 2), seeds=(1, 2), depth=20)


def test_initial_growth_builds_the_chapters_nets_untrained_and_measures_them(small_growth):
    growth = small_growth
    assert len(growth) == 4 and sorted(growth.seed.unique()) == [1, 2] and set(growth.repeats) == {0, 2}
    assert (growth.growth > 0).all() and growth.stem.iloc[0].shape == (ch4.PROBE_EXAMPLES,)
    verdict = ch4.growth_verdict(growth)
    assert verdict.estimate.seeds == 2 and verdict.estimate.lo > 0
    assert "ResNet-20 with the top 2 of 3 blocks" in verdict.detail
    # the same net, with the same initial weights, as the chapter's naive variant trains from
    p = profiles.resolve("ci", {"depths": [20], "seeds": [1]})
    naive = next(v for v in ch4.variants(p) if v.role == "naive")
    trained_from = naive.configs(p, "digits")[0].initial_model().state_dict()
    built = ch4.initial_net("digits", 20, naive.shared, 1, p.widths).state_dict()
    assert built.keys() == trained_from.keys()
    assert all(torch.equal(built[k], trained_from[k]) for k in built)
    with pytest.raises(ValueError, match="include 0"):
        ch4.initial_growth("digits", repeats=(2,), seeds=(1,), depth=20)


def test_growth_figure_names_the_net_and_marks_the_unshared_one(small_growth):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = ch4.growth_with_repeats(small_growth)
    ax = fig.axes[0]
    assert "ResNet-20 at initialisation" in ax.get_title() and "2 seeds" in ax.get_title()
    means = ch4.mean_growth(small_growth)
    assert [t.get_text() for t in ax.texts] == [f"×{means[2] / means[0]:.2f}"]  # the shared net over the unshared
    assert any("unshared" in t.get_text() for t in ax.get_legend().get_texts())
    plt.close(fig)


def test_mistakes_and_verdicts_on_any_seeds(small_runs, small_growth):
    frame = ch4.mistakes(small_runs)
    assert sorted(frame.seed.unique()) == [1, 2] and set(frame.split) == {"train", "test"}
    found = ch4.verdicts(frame, small_growth)
    assert [v.key for v in found] == ["sharing_naive_fails", "sharing_ubn_fixes", "sharing_explodes",
                                      "sharing_stats_matter"]
    naive, ubn, explodes, ablation = found
    assert ablation.outcome == claims.UNTESTABLE  # no ablation nets trained
    # no same-size reference trained: naive sharing has nothing to be worse than; growth is measured at
    # initialisation, on every seed
    assert naive.estimate is None and explodes.estimate.seeds == 2
    # these nets never trained, so the same-size reference is not a net that trained: no measurement
    assert ubn.estimate is None and ubn.outcome == claims.UNTESTABLE and ubn.detail.startswith("no net trained")
