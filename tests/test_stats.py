"""The statistics behind a claim's outcome, on constructed inputs (the book's own sizes, `Basis.BOOK`, so that
any threshold can be tried; the rules that size the declared claims are tested in test_claims)."""

import numpy as np
import pytest

from resbook import stats
from resbook.claims import Basis, Claim, Direction, check


def claim(direction, threshold, control=""):
    return Claim("k", "src", "Fig. 1", "text", "paper", "a statistic", direction, threshold, "a reason",
                 control=control, basis=Basis.BOOK, unit="log10")


def seeds(*values):
    """Measurements of several seeds (their replicates do not matter: the interval is over seeds)."""
    return [stats.Measurement(v, np.full(10, v)) for v in values]


def test_t_interval_over_seeds_contains_the_mean_and_widens_with_spread():
    narrow = stats.estimate(seeds(1.0, 1.1, 0.9))
    wide = stats.estimate(seeds(0.0, 1.0, 2.0))
    assert narrow.lo < 1.0 < narrow.hi and wide.lo < narrow.lo and wide.hi > narrow.hi
    assert narrow.method == "t over 3 seeds"


def test_one_seed_uses_the_bootstrap_over_its_units():
    wrong = np.r_[np.ones(20), np.zeros(80)]  # a 20 % error rate on 100 examples
    m = stats.measure(np.mean, wrong)
    est = stats.estimate([m])
    assert est.value == pytest.approx(0.2) and est.method == "bootstrap, 1 seed"
    assert 0.1 < est.lo < 0.2 < est.hi < 0.3  # about ± 2 standard errors of 4 points


def test_paired_units_stay_paired():
    a = np.arange(50.0)
    m = stats.measure(lambda x, y: (x - y).mean(), a, a + 1.0)
    assert np.all(m.replicates == -1.0)  # the same rows drawn for both: the difference never varies
    with pytest.raises(ValueError, match="equal lengths"):
        stats.measure(lambda x, y: 0.0, a, a[:10])


@pytest.mark.parametrize("direction, threshold, values, outcome", [
    (Direction.ABOVE, 0.02, (0.10, 0.11, 0.12), "holds"),
    (Direction.ABOVE, 0.02, (0.00, 0.001, -0.001), "contradicted"),
    (Direction.ABOVE, 0.02, (0.0, 0.05, 0.10), "inconclusive"),
    (Direction.BELOW, -0.005, (-0.02, -0.021, -0.019), "holds"),
    (Direction.BELOW, -0.005, (0.01, 0.011, 0.012), "contradicted"),
    (Direction.BELOW, -0.005, (-0.03, 0.0, 0.03), "inconclusive"),
    (Direction.WITHIN, 0.015, (0.001, -0.001, 0.0), "holds"),
    (Direction.WITHIN, 0.015, (0.05, 0.051, 0.049), "contradicted"),
    (Direction.WITHIN, 0.015, (-0.03, 0.0, 0.03), "inconclusive"),
])
def test_each_direction_reaches_each_outcome(direction, threshold, values, outcome):
    assert check(claim(direction, threshold), "d", seeds(*values)).outcome == outcome


def test_a_controlled_claim_decides_on_the_trained_net_and_asks_trained_minus_untrained_apart():
    c = claim(Direction.ABOVE, 0.5, control="the same net untrained")
    structural = check(c, "d", seeds(3.0, 3.1, 2.9), seeds(3.1, 3.2, 3.0))  # large, but more so untrained
    learned = check(c, "d", seeds(3.0, 3.1, 2.9), seeds(1.0, 1.1, 0.9))
    assert structural.outcome == learned.outcome == "holds"  # the paper's observation, on the trained nets
    assert structural.learned.outcome == "contradicted" and learned.learned.outcome == "holds"
    assert structural.learned.trained.value == pytest.approx(3.0)
    assert structural.learned.untrained.value == pytest.approx(3.1)
    with pytest.raises(ValueError, match="untrained"):
        check(c, "d", seeds(1.0))


def test_nothing_measured_is_not_testable_here():
    v = check(claim(Direction.ABOVE, 0.0), "d", [], detail="no plain net trained")
    assert v.outcome == "not testable here" and v.row("ci")["detail"] == "no plain net trained"


def test_equal_seeds_keep_their_own_measurement_noise():
    """Issue 20: three seeds with the same value gave a zero-width interval; each seed's bootstrap is its floor."""
    rng = np.random.default_rng(0)
    noisy = [stats.Measurement(0.003, 0.003 + rng.normal(0, 0.004, 1000)) for _ in range(3)]
    est = stats.estimate(noisy)
    assert est.hi - est.lo > 0.01 and "within-seed" in est.method
    spread = stats.estimate(seeds(1.0, 1.1, 0.9))  # replicates without spread: the seeds' spread decides
    assert spread.method == "t over 3 seeds"


def test_about_the_same_is_two_one_sided_tests_at_five_percent():
    """The 90 % interval inside the margin: holds where a 95 % interval would still cross it."""
    values = (-0.002, 0.004, 0.008, 0.014)  # mean 0.006, sd 0.0067: 90 % to 0.0139, 95 % to 0.0167
    c = claim(Direction.WITHIN, 0.015)
    assert check(c, "d", seeds(*values)).outcome == "holds"
    est95 = stats.estimate(seeds(*values))
    assert est95.hi > 0.015  # the 95 % interval would have left it inconclusive
    assert "90 % interval" in check(c, "d", seeds(*values)).estimate.method


def test_an_equivalence_claim_says_how_many_seeds_it_would_need():
    assert stats.seeds_to_hold(0.0, 0.01) == 2
    assert stats.seeds_to_hold(0.01, 0.01) == 5  # t(0.95, 4) 0.01 / sqrt(5) = 0.0095 < 0.01; 4 seeds: 0.0118
    assert stats.seeds_to_hold(1.0, 0.001) is None
    v = check(claim(Direction.WITHIN, 0.01), "d", seeds(0.0, 0.02, -0.02))
    assert "could hold from" in v.detail
