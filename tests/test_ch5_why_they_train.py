"""Chapter 5: the plan, the probes on constructed nets and signals, and each claim's decision on constructed inputs.

The decision tests feed the chapter's verdict functions frames shaped like `shattering`, `landscapes`,
`branch_variances` and `training_errors`, built so that each claim reaches each outcome it can reach.
"""

import numpy as np
import pandas as pd
import pytest
import torch

from resbook import profiles, run_status
from resbook.chapters import ch1_degradation as ch1
from resbook.chapters import ch5_why_they_train as ch5
from resbook.models import resnet
from resbook.probes import branches, landscape, shattering

# ---- the plan


@pytest.mark.parametrize("name", ["ci", "cpu"])
def test_plan_reuses_chapter_1s_nets_and_adds_two_unnormalised_variants(name):
    p = profiles.resolve(name)
    plan = ch5.plan(p)
    sweep = set(ch1.plan(p)["sweep"])
    assert set(plan["landscapes (Chapter 1's nets)"]) <= sweep  # loaded, never trained again
    assert set(plan["batch norm"]) <= sweep  # Chapter 1's residual net at the deepest depth is the batch-norm net
    for variant in ("no normalisation", "SkipInit"):
        configs = plan[variant]
        assert {c.norm for c in configs} == {"none"} and {c.depth for c in configs} == {p.deepest}
        assert {c.lr for c in configs} == {p.lr * ch5.UNNORMALISED_LR}
        assert {c.seed for c in configs} == set(p.seeds)
    assert {c.skipinit for c in plan["SkipInit"]} == {True}
    assert {c.skipinit for c in plan["no normalisation"]} == {False}


# ---- the probes


def test_lag1_autocorrelation_tells_smooth_from_white_noise_and_leaves_flat_lines_out():
    t = np.linspace(-1, 1, 256)
    rng = np.random.default_rng(0)
    g = np.stack([np.sin(3 * t), rng.normal(size=256), np.full(256, 2.0), np.zeros(256)])
    r = shattering.lag1_autocorrelation(g)
    assert r[0] > 0.99 and abs(r[1]) < 0.2
    assert np.isnan(r[2]) and np.isnan(r[3])  # one linear piece, and a vanished gradient: not decorrelation
    assert list(shattering.flat_lines(g)) == [False, False, True, True]
    assert list(shattering.vanished_lines(g)) == [False, False, False, True]


def test_line_gradients_are_the_derivative_along_the_line():
    torch.manual_seed(0)
    net = resnet(8, width=4, in_channels=1, num_classes=3).eval()
    x = torch.randn(2, 1, 8, 8)
    g = shattering.line_gradients(net, x, points=5, span=0.5, seed=1)
    assert g.shape == (2, 5)
    # the same direction, rebuilt: a central difference at t = 0 (the middle point)
    d = torch.randn(x.shape, generator=torch.Generator().manual_seed(1))
    d = d * (x.flatten(1).norm(dim=1) / d.flatten(1).norm(dim=1)).view(-1, 1, 1, 1)
    with torch.no_grad():
        eps = 1e-3
        fd = (net(x + eps * d)[:, 0] - net(x - eps * d)[:, 0]) / (2 * eps)
    assert np.allclose(g[:, 2], fd.numpy(), rtol=1e-2, atol=1e-3)


def test_branch_variances_with_batch_norm_fall_like_one_over_the_block():
    torch.manual_seed(0)
    x = torch.randn(64, 1, 8, 8)
    bn = branches.branch_and_skip_variances(resnet(26, width=8, preact=True, in_channels=1), x)
    none = branches.branch_and_skip_variances(resnet(26, width=8, preact=True, in_channels=1, norm="none"), x)
    assert bn[0].shape == (64, 12)
    ratio = bn[0].mean(0) / bn[1].mean(0)
    assert ratio[3] < ratio[1] < 2 and ratio[3] < 0.5  # blocks 2 and 4 of stage 1
    assert none[1].mean(0)[3] > 1.5 * none[1].mean(0)[1]  # the unnormalised skip grows, block by block


def test_filter_normalised_direction_matches_every_filter_and_leaves_biases_alone():
    net = resnet(8, width=4, in_channels=1, num_classes=3)
    d = landscape.filter_normalised_direction(net, torch.Generator().manual_seed(0))
    for p, u in zip(net.parameters(), d, strict=True):
        if p.dim() <= 1:
            assert not u.any()
        else:
            assert torch.allclose(u.flatten(1).norm(dim=1), p.detach().flatten(1).norm(dim=1), rtol=1e-4)


def test_non_convex_points_on_a_bowl_a_saddle_and_a_broken_surface():
    c = np.linspace(-1, 1, 11)
    a, b = np.meshgrid(c, c, indexing="ij")
    inside = landscape.non_convex_points(c, a**2 + b**2).size
    assert inside > 0 and not landscape.non_convex_points(c, a**2 + b**2).any()
    assert landscape.non_convex_points(c, a**2 - b**2).all()
    assert not landscape.non_convex_points(c, a**2 - 0.05 * b**2).any()  # a down-bend under a tenth: convex
    broken = a**2 + b**2
    broken[5, 5] = np.inf
    assert landscape.non_convex_points(c, broken).sum() >= 1


def test_plane_losses_are_the_nets_loss_at_the_centre():
    torch.manual_seed(0)
    net = resnet(8, width=4, in_channels=1, num_classes=3).eval()
    x, y = torch.randn(16, 1, 8, 8), torch.randint(0, 3, (16,))
    coords, losses = landscape.plane_losses(net, x, y, steps=5)
    with torch.no_grad():
        centre = torch.nn.functional.cross_entropy(net(x), y).item()
    assert losses.shape == (5, 5) and np.isclose(losses[2, 2], centre, rtol=1e-5)
    assert coords[2] == 0


# ---- constructed inputs: shattered gradients

SEEDS = range(10)


def _shatter(means: dict[tuple[str, int], float], spread: float = 0.0, lines: int = 8,
             flat: tuple[str, int] | None = None) -> pd.DataFrame:
    """Rows like `ch5.shattering`: per seed, each (net, depth) has `lines` autocorrelations around its mean, the
    seeds spread by `spread`; `flat`: a net whose every line is flat (NaN)."""
    rng = np.random.default_rng(0)
    rows = []
    for seed in SEEDS:
        shift = spread * rng.normal()
        for (net, depth), m in means.items():
            r = m + shift * (net == "plain" and depth == 110) + 0.001 * rng.normal(size=lines)
            is_flat = np.full(lines, (net, depth) == flat)
            rows.append({"dataset": "toy", "seed": seed, "depth": depth, "blocks": 3 * (depth - 2) // 6,
                         "net": net, "autocorrelation": np.where(is_flat, np.nan, r), "flat": is_flat,
                         "vanished": is_flat, "example": np.zeros(4)})
    return pd.DataFrame(rows)


SHATTER_CASES = {
    # plain deep, plain shallow, residual deep, spread, {claim: outcome}
    "holds": ((0.0, 0.9, 0.6, 0.0), {"shattering_plain": "holds", "shattering_residual": "holds"}),
    "weaker": ((0.85, 0.9, 0.9, 0.0), {"shattering_plain": "weaker", "shattering_residual": "weaker"}),
    "contradicted": ((0.9, 0.7, 0.8, 0.0), {"shattering_plain": "contradicted", "shattering_residual": "contradicted"}),
    "inconclusive": ((0.8, 0.9, 0.9, 0.15), {"shattering_plain": "inconclusive",
                                             "shattering_residual": "inconclusive"}),
}


@pytest.mark.parametrize("case", sorted(SHATTER_CASES))
def test_shattering_claims_reach_each_outcome(case):
    (deep, shallow, residual, spread), expected = SHATTER_CASES[case]
    frame = _shatter({("plain", 110): deep, ("plain", 8): shallow, ("residual", 110): residual,
                      ("residual", 8): 0.95}, spread)
    got = {v.key: v.outcome for v in ch5.shattering_verdicts(frame)}
    assert got == expected, case


def test_flat_lines_are_not_scored_as_decorrelation_and_are_counted():
    frame = _shatter({("plain", 110): 0.0, ("plain", 8): 0.9, ("residual", 110): 0.6, ("residual", 8): 0.95},
                     flat=("plain", 110))
    got = {v.key: v for v in ch5.shattering_verdicts(frame)}
    assert got["shattering_plain"].outcome == "not testable here"  # a net with only flat lines gives no value
    assert "plain-110 80 of 80 (80 vanished)" in got["shattering_plain"].detail
    counts = ch5.flat_counts(frame)
    assert counts.set_index(["net", "depth"]).flat.to_dict()[("plain", 110)] == 80


# ---- constructed inputs: loss landscapes


def _planes(shares: dict[tuple[str, int], float], untrained: dict[tuple[str, int], float] | None = None,
            spread: float = 0.0, points: int = 200, diverged: tuple[str, int] | None = None) -> pd.DataFrame:
    """Rows like `ch5.landscapes`: per seed, each net's non-convex grid points (the first share of them), trained
    and at initialisation (default: every point convex); the seeds' shares spread by `spread`."""
    rng = np.random.default_rng(1)
    untrained = untrained or {}
    rows = []
    for seed in SEEDS:
        shift = spread * rng.normal()
        for (net, depth), share in shares.items():
            lost = (net, depth) == diverged
            for when, s in (("initialisation", untrained.get((net, depth), 0.0)), ("trained", share)):
                if when == "trained" and lost:
                    continue
                s = min(max(s + (shift if (net, depth) == ("plain", 56) and when == "trained" else 0), 0), 1)
                bad = np.zeros(points)
                bad[:round(s * points)] = 1
                rows.append({"dataset": "toy", "net": net, "depth": depth, "seed": seed, "when": when,
                             "status": run_status.DIVERGED if lost else run_status.TRAINED,
                             "coords": None, "losses": None, "non_convex": bad})
    return pd.DataFrame(rows)


LANDSCAPE_CASES = {
    # plain-56, plain-8, residual-56, spread
    "holds": (0.4, 0.0, 0.0, 0.0),
    "weaker": (0.005, 0.0, 0.0, 0.0),
    "contradicted": (0.0, 0.0, 0.0, 0.0),
    "inconclusive": (0.11, 0.1, 0.1, 0.03),
}


@pytest.mark.parametrize("case", sorted(LANDSCAPE_CASES))
def test_landscape_claims_reach_each_outcome(case):
    deep, shallow, residual, spread = LANDSCAPE_CASES[case]
    frame = _planes({("plain", 56): deep, ("plain", 8): shallow, ("residual", 56): residual, ("residual", 8): 0.0},
                    spread=spread, points=1000 if case == "weaker" else 200)
    got = {v.key: v.outcome for v in ch5.landscape_verdicts(frame)}
    assert got == {"landscape_plain_chaotic": case, "landscape_shortcuts_smooth": case}


def test_landscape_control_asks_whether_the_gap_is_there_untrained_too():
    nets = {("plain", 56): 0.4, ("plain", 8): 0.0, ("residual", 56): 0.0, ("residual", 8): 0.0}
    built_in = ch5.landscape_verdicts(_planes(nets, untrained=nets))[1]
    assert built_in.outcome == "holds" and built_in.learned.outcome == "contradicted"  # as chaotic untrained
    learned = ch5.landscape_verdicts(_planes(nets))[1]
    assert learned.learned.outcome == "holds"


def test_a_diverged_net_is_not_measured_and_is_named():
    frame = _planes({("plain", 56): 0.4, ("plain", 8): 0.0, ("residual", 56): 0.0, ("residual", 8): 0.0},
                    diverged=("plain", 56))
    verdict = ch5.landscape_verdicts(frame)[0]
    assert verdict.outcome == "not testable here" and "diverged" in verdict.failed


# ---- constructed inputs: branch and skip variances


def _variances(bn_last: float, growth: float, spread: float = 0.0, blocks: int = 4) -> pd.DataFrame:
    """Rows like `ch5.branch_variances` for a net of 3 stages of `blocks`: with batch norm the branch over skip ratio
    falls to `bn_last` at stage 1's last block (the unnormalised net's is 1); the unnormalised skip grows by
    `growth` a block; seeds spread by `spread` (a factor, in log10)."""
    rng = np.random.default_rng(2)
    rows = []
    for seed in SEEDS:
        jitter = 10 ** (spread * rng.normal())
        for norm in ("batch", "none"):
            for b in range(1, 3 * blocks + 1):
                skip = (b if norm == "batch" else growth ** (b - 1) * (jitter if b == blocks else 1)) * np.ones(32)
                skip = skip * (1 + 0.001 * rng.normal(size=32))
                ratio = (bn_last * jitter if b == blocks else 1 / b) if norm == "batch" else 1.0
                branch = ratio * skip
                rows.append({"dataset": "toy", "seed": seed, "norm": norm, "block": b, "stage": 1 + (b - 1) // blocks,
                             "branch": branch, "skip": skip, "branch_var": branch.mean(), "skip_var": skip.mean(),
                             "ratio": ratio})
    return pd.DataFrame(rows)


IDENTITY_CASES = {
    # BN ratio at stage 1's last block, unnormalised growth a block, spread
    "holds": (1 / 18, 2.0, 0.0),
    "weaker": (0.5, 1.2, 0.0),
    "contradicted": (1.0, 1.0, 0.0),
    "inconclusive": (10 ** -0.63, 10 ** 0.15, 0.5),
}


@pytest.mark.parametrize("case", sorted(IDENTITY_CASES))
def test_identity_claims_reach_each_outcome(case):
    got = {v.key: v.outcome for v in ch5.identity_verdicts(_variances(*IDENTITY_CASES[case]))}
    assert got == {"bn_downscales_branches": case, "unnormalised_doubles": case}


# ---- constructed inputs: training without normalisation


def _errors(rates: dict[str, float], statuses: dict[str, str] | None = None, spread: float = 0.0,
            n: int = 1000) -> pd.DataFrame:
    """Rows like `ch5.training_errors`: each variant wrong on its first `rates` share of `n` training examples
    (the seeds spread by `spread` in the no-normalisation net); `statuses` per variant (default trained); a
    diverged run's `wrong` is the constant `run_status.STARTED_ERR`, as the chapter makes it."""
    rng = np.random.default_rng(3)
    statuses = statuses or {}
    rows = []
    for seed in SEEDS:
        shift = spread * rng.normal()
        for name, rate in rates.items():
            status = statuses.get(name, run_status.TRAINED)
            r = min(max(rate + (shift if name == "no normalisation" else 0), 0), 1)
            wrong = np.zeros(n)
            wrong[:round(r * n)] = 1
            if status == run_status.DIVERGED:
                wrong = np.full(n, run_status.STARTED_ERR)
            rows.append({"variant": name, "dataset": "toy", "depth": 56, "seed": seed, "status": status,
                         "wrong": wrong, "train_err": wrong.mean()})
    return pd.DataFrame(rows)


NORMALISATION_CASES = {
    # no normalisation, SkipInit, batch norm, spread -> outcomes of (fails, rescues, matches)
    "holds": ((0.9, 0.0, 0.0, 0.0), ("holds", "holds", "holds")),
    "weaker": ((0.005, 0.0, 0.0, 0.0), ("weaker", "weaker", "holds")),
    "contradicted": ((0.0, 0.3, 0.0, 0.0), ("contradicted", "contradicted", "contradicted")),
    "inconclusive": ((0.01, 0.0, 0.0, 0.05), ("inconclusive", "inconclusive", "holds")),
}


@pytest.mark.parametrize("case", sorted(NORMALISATION_CASES))
def test_normalisation_claims_reach_each_outcome(case):
    (none, skip, bn, spread), expected = NORMALISATION_CASES[case]
    frame = _errors({"batch norm": bn, "no normalisation": none, "SkipInit": skip}, spread=spread)
    got = [v.outcome for v in ch5.normalisation_verdicts(frame)]
    assert tuple(got) == expected


def test_skipinit_matches_bn_is_inconclusive_near_its_margin():
    frame = _errors({"batch norm": 0.0, "no normalisation": 0.9, "SkipInit": 0.01}, n=200)
    assert ch5.normalisation_verdicts(frame)[2].outcome == "inconclusive"


def test_a_diverged_run_counts_as_failing_to_train_and_is_named():
    frame = _errors({"batch norm": 0.0, "no normalisation": 0.9, "SkipInit": 0.0},
                    {"no normalisation": run_status.DIVERGED})
    fails, rescues, _ = ch5.normalisation_verdicts(frame)
    assert fails.outcome == "holds" and np.isclose(fails.estimate.value, run_status.STARTED_ERR)
    assert "no normalisation: seeds 0, 1" in fails.failed and "diverged" in fails.failed
    assert rescues.outcome == "holds"


def test_a_seed_whose_batch_norm_net_did_not_train_is_left_out():
    frame = _errors({"batch norm": 0.9, "no normalisation": 0.9, "SkipInit": 0.0},
                    {"batch norm": run_status.DID_NOT_TRAIN})
    fails, rescues, matches = ch5.normalisation_verdicts(frame)
    assert fails.outcome == matches.outcome == "not testable here"
    assert rescues.outcome == "holds"  # no batch norm in that comparison


def test_skipinit_matches_bn_compares_only_nets_that_trained():
    """A SkipInit net that never learned within the budget says nothing about how well it trains once it does:
    that row is not testable (its reason says so), while skipinit_rescues still counts the failed runs."""
    frame = _errors({"batch norm": 0.0, "no normalisation": 0.9, "SkipInit": 0.85},
                    {"SkipInit": run_status.DID_NOT_TRAIN})
    _, rescues, matches = ch5.normalisation_verdicts(frame)
    assert matches.outcome == "not testable here" and "both nets trained at 0 of" in matches.untestable
    assert rescues.outcome != "not testable here"
    one_trained = frame.copy()  # SkipInit trained at one seed only: still too few
    first = (one_trained.variant == "SkipInit") & (one_trained.seed == SEEDS[0])
    one_trained.loc[first, "status"] = run_status.TRAINED
    assert ch5.normalisation_verdicts(one_trained)[2].outcome == "not testable here"
    all_trained = frame.assign(status=run_status.TRAINED)  # the same errors from nets that trained: contradicted
    assert ch5.normalisation_verdicts(all_trained)[2].outcome == "contradicted"
