import pandas as pd
import pytest

from resbook import chapters, profiles, runs
from resbook.chapters import ch4_sharing as ch4
from resbook.chapters import checkpoint_epochs
from resbook.models import count_parameters, resnet


def old_variants(depth: int, shared: int, small: int, ablations: bool) -> list[tuple[int, dict]]:
    """The nets the chapter trained before it became one module (the old plans.sharing_variants)."""
    found = [(depth, {}), (depth, {"shared": shared, "shared_bn": "shared"}), (small, {}),
             (depth, {"shared": shared, "shared_bn": "unshared"})]
    return found + [(depth, {"shared": shared, "shared_bn": mode}) for mode in ("stats", "affine", "init")
                    if ablations]


OLD_VARIANTS = {"ci": old_variants(56, 6, 26, False), "cpu": old_variants(56, 6, 26, True),
                "paper": old_variants(110, 13, 38, True)}


@pytest.mark.parametrize("name", ["ci", "cpu", "paper"])
def test_plan_has_the_runs_the_chapter_always_trained(name):
    p = profiles.resolve(name)
    expected = [c for dataset in p.datasets for depth, options in OLD_VARIANTS[name]
                for c in runs.grid(p, datasets=[dataset], depths=[depth], preact=True,
                                   checkpoints=checkpoint_epochs(p), **options)]
    assert chapters.plan(p, ["04"]) == expected


def test_variants_carry_their_role_and_batch_norm_mode():
    cpu = ch4.variants(profiles.resolve("cpu"))
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


def _finals(test_err: dict[str, float], variants: list[ch4.Variant]) -> pd.DataFrame:
    """One run per variant; display names made deliberately unlike the real ones."""
    return pd.DataFrame([{"variant": f"net {i}", "role": v.role, "shared": v.shared, "shared_bn": v.shared_bn,
                          "paper_row": v.paper_row, "dataset": "toy", "seed": 0, "params": 1000,
                          "train_err": 0.0, "test_err": test_err[v.shared_bn if v.role == "ablation" else v.role]}
                         for i, v in enumerate(variants)])


def test_error_verdicts_decide_by_role_not_by_name_or_order():
    cpu = ch4.variants(profiles.resolve("cpu"))
    errors = {"unshared": 0.05, "naive": 0.20, "same size": 0.06, "ubn": 0.05,
              "stats": 0.07, "affine": 0.10, "init": 0.12}
    for frame in (_finals(errors, cpu), _finals(errors, cpu[::-1])):
        verdicts = {v.key: v for v in ch4.error_verdicts(frame) + ch4.ablation_verdicts(frame)}
        assert verdicts["sharing_naive_fails"].holds and verdicts["sharing_ubn_fixes"].holds
        assert verdicts["sharing_stats_matter"].holds  # own statistics give the lowest ablation error
    errors.update(naive=0.07, stats=0.11)  # within the margin of the same-size net; scale/shift best
    frame = _finals(errors, cpu)
    verdicts = {v.key: v for v in ch4.error_verdicts(frame) + ch4.ablation_verdicts(frame)}
    assert not verdicts["sharing_naive_fails"].holds and not verdicts["sharing_stats_matter"].holds
    assert ch4.ablation_verdicts(_finals(errors, cpu[:4])) == []  # a profile without ablations


def test_growth_verdict_compares_naive_with_ubn_at_initialisation():
    main = ch4.variants(profiles.resolve("ci"))
    growth = {"unshared": 3.0, "naive": 6.0, "same size": 2.0, "ubn": 2.0}
    norms = pd.DataFrame([{"variant": f"net {i}", "role": v.role, "dataset": "toy", "when": when, "block": b,
                           "norm": 1.0 + b * (growth[v.role] - 1.0) / 4 * (when == "initialisation")}
                          for i, v in enumerate(main) for when in ("initialisation", "trained") for b in range(5)])
    verdict = ch4.growth_verdict(norms.iloc[::-1])  # rows in any order
    assert verdict.holds and "x6.0" in verdict.ours and "x2.0 with UBN" in verdict.ours


def test_table1_analogue_pairs_each_net_with_its_paper_row():
    main = ch4.variants(profiles.resolve("paper"))[:4]
    table = ch4.table1_analogue(_finals({"unshared": 0.1, "naive": 0.2, "same size": 0.1, "ubn": 0.1}, main))
    assert list(table["paper's counterpart"]) == ["ResNet-110", "shared ResNet-110 (naive, Fig. 8)", "ResNet-38",
                                                  "ResNet-110-UBN"]
    assert table["paper train / test (params)"].iloc[1] == "-"  # Table 1 has no row for naive sharing
    assert table["paper train / test (params)"].iloc[3] == "0.63 / 6.62 % (570k)"
