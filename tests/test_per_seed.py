"""The per-seed bookkeeping the chapters share: constructed frames with known answers."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sp

from resbook import per_seed, stats


def mistakes_frame() -> pd.DataFrame:
    """One row per (net, split, seed) holding that run's per-example mistakes, rows out of seed order."""
    rows = []
    for seed in (2, 0, 1):
        for net, rate in (("plain", 0.5), ("residual", 0.25)):
            for split in ("train", "test"):
                wrong = np.arange(8) < round(rate * 8) + seed  # seed s errs on s more examples
                rows.append({"net": net, "split": split, "seed": seed, "wrong": wrong})
    return pd.DataFrame(rows)


def block_frame() -> pd.DataFrame:
    """One row per (seed, example, block), shuffled: value = 100 * seed + 10 * example + block."""
    rows = [{"seed": s, "example": e, "block": b, "stage": 1 + (b > 1), "value": 100 * s + 10 * e + b}
            for s in (1, 0) for e in range(3) for b in range(4)]
    return pd.DataFrame(rows).sample(frac=1.0, random_state=0)


def test_select_keeps_the_rows_whose_columns_equal_the_fields():
    rows = per_seed.select(mistakes_frame(), net="plain", split="test")
    assert len(rows) == 3 and set(rows.net) == {"plain"} and set(rows.split) == {"test"}
    assert per_seed.select(mistakes_frame(), net="highway").empty


def test_rows_groups_by_seed_in_ascending_order():
    groups = per_seed.rows(mistakes_frame())
    assert list(groups) == [0, 1, 2] and all(isinstance(s, int) for s in groups)
    assert all(set(g.seed) == {s} and len(g) == 4 for s, g in groups.items())


def test_arrays_of_one_row_per_seed_are_the_cells():
    wrong = per_seed.arrays(per_seed.select(mistakes_frame(), net="plain", split="test"), "wrong")
    assert list(wrong) == [0, 1, 2]
    assert [int(w.sum()) for w in wrong.values()] == [4, 5, 6]
    with pytest.raises(ValueError, match="seed 0 has 4 rows"):
        per_seed.arrays(mistakes_frame(), "wrong")  # several nets per seed: ambiguous


def test_arrays_along_a_column_are_ordered_by_it():
    one_example = block_frame()[lambda f: f.example == 2]
    values = per_seed.arrays(one_example, "value", along="block")
    assert values[0].tolist() == [20, 21, 22, 23] and values[1].tolist() == [120, 121, 122, 123]


def test_arrays_along_a_column_stack_array_cells_as_columns():
    frame = pd.DataFrame([{"seed": 0, "k": k, "mistakes": np.full(5, k)} for k in (2, 0, 1)])
    stacked = per_seed.arrays(frame, "mistakes", along="k")[0]
    assert stacked.shape == (5, 3) and stacked[0].tolist() == [0, 1, 2]


def test_arrays_with_an_index_are_tables_of_examples_by_blocks():
    tables = per_seed.arrays(block_frame(), "value", along="block", index="example", dtype=float)
    assert tables[1].shape == (3, 4) and tables[1].dtype == float
    assert tables[1][2].tolist() == [120, 121, 122, 123] and tables[0][:, 0].tolist() == [0, 10, 20]


def test_constant_gives_one_value_per_block():
    assert per_seed.constant(block_frame(), "stage").tolist() == [1, 1, 2, 2]


def test_together_joins_on_the_seeds_every_map_has():
    joined = per_seed.together({0: "a0", 1: "a1", 2: "a2"}, {2: "b2", 1: "b1"})
    assert joined == {1: ("a1", "b1"), 2: ("a2", "b2")}


def test_measure_gives_one_measurement_per_seed_with_draws_seeded_by_the_seed():
    wrong = {s: np.arange(100) < 10 * (s + 1) for s in (1, 0)}
    found = per_seed.measure(np.mean, wrong)
    assert [m.value for m in found] == pytest.approx([0.1, 0.2])  # ascending seed order
    again = stats.measure(np.mean, wrong[1], seed=1)  # what seed 1 draws on its own
    np.testing.assert_array_equal(found[1].replicates, again.replicates)
    pairs = per_seed.measure(per_seed.mean_gap, {0: (wrong[1], wrong[0])})  # a seed's units: arrays in pairs
    assert pairs[0].value == pytest.approx(0.1)


def test_paired_measurements_resample_the_same_units():
    trained = {s: np.linspace(0, 1, 50) + s for s in (0, 1, 2)}
    untrained = {s: t + 0.5 for s, t in trained.items()}
    t, u = per_seed.paired(np.mean, trained, untrained)
    for a, b in zip(t, u, strict=True):
        np.testing.assert_allclose((a - b).replicates, -0.5)  # the same rows drawn: the gap never varies
    with pytest.raises(ValueError, match="needs the trained net's seeds"):
        per_seed.paired(np.mean, trained, {0: untrained[0]})


def test_mean_over_seeds_counts_an_array_as_its_mean():
    values = {0: np.array([0.0, 1.0]), 1: 2.0, 2: np.array([4.0])}
    assert per_seed.mean(values) == pytest.approx((0.5 + 2.0 + 4.0) / 3)
    assert per_seed.mean(values, seeds=[0, 2]) == pytest.approx(2.25)
    assert per_seed.mean_gap(np.array([1.0, 3.0]), np.array([1.0])) == 1.0


def test_count_says_seed_or_seeds():
    assert [per_seed.count(n) for n in (1, 3)] == ["1 seed", "3 seeds"]


def test_t_interval_is_students_t_over_the_seeds():
    lo, hi = per_seed.t_interval([1.0, 2.0, 3.0])  # mean 2, standard deviation 1
    half = sp.t.ppf(0.975, 2) / np.sqrt(3)
    assert (lo, hi) == pytest.approx((2 - half, 2 + half))
    assert per_seed.t_interval(pd.Series([0.7])) == (0.7, 0.7)  # one seed: a point
