"""Chapter 5, why residual networks train: shattered gradients, loss landscapes, batch norm's bias towards the
identity, and training without normalisation.

The notebook `book/05_why_they_train.ipynb` calls, in order:
1. `shattering` (untrained plain and residual nets at `SHATTER_DEPTHS`, `SHATTER_SEEDS`: the derivative of one
   logit along lines of inputs, `probes.shattering`), then `shattering_verdicts` and the figure `shattered`;
2. `landscapes` (Chapter 1's trained plain and residual nets at the profile's shallowest and deepest depth, every
   seed, and the same nets at initialisation: the loss on a filter-normalised plane, `probes.landscape`), then
   `landscape_verdicts` and the figures `contours` and `slices`;
3. `branch_variances` (untrained pre-activation ResNet-110s with and without batch norm, `probes.branches`), then
   `identity_verdicts` and the figure `variances`;
4. `normalisation_runs` (the profile's deepest residual net on its first data set with batch norm, without
   normalisation, and without it but with SkipInit, every seed), `training_errors`, then `normalisation_verdicts`
   and the figure `training_without_norm`;
and `verdicts` gathers the four studies' verdicts (read out with `claims.reading` and `LIKELY_REASONS`).

Whether a run trained is `run_status`'s call. Training without normalisation fails by diverging as often as by
not learning, and that failure is the claim, so here a diverged run is counted, not dropped: as failing to train,
at the training error `run_status.STARTED_ERR` (the lowest error a net that did not train can have, so the
smallest failure, the count most favourable to the net that failed). A claim that compares with the batch-norm
net counts only seeds where that reference trained. A diverged net is never probed (NaN weights).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
import torch

from .. import data, per_seed, plots, probes, run_status, runs
from ..claims import NEGLIGIBLE, SAME_MARGIN, Basis, Claim, Direction, Verdict, check, declare
from ..models import blocks_per_stage
from ..papers import BALDUZZI2017, DESMITH2020, LI2018, ZHANG2019
from ..probes import branches, landscape
from ..probes import shattering as shatter_probe
from ..profiles import Profile
from ..train import TRAIN_EVAL_EXAMPLES, TrainConfig, TrainResult

NOTEBOOK = "05_why_they_train"

# ---- the studies' fixed sizes (initialisation-only studies are cheap: the same at every profile)

# 1. Shattered gradients: untrained nets, so 10 seeds at every profile; depths from 3 to 27 blocks (110 took the
# probe from 1 to 3 minutes on 2 shared cores, for a contrast already plain at 56)
SHATTER_DEPTHS = (8, 20, 56)
SHATTER_SEEDS = tuple(range(10))
SHATTER_LINES = 8  # lines through this many training examples (the units a seed's interval resamples)
SHATTER_POINTS = 128  # grid points along each line, over t in [-1, 1] (t = 1: a step as long as the input)
# 2. Loss landscapes: a grid of LANDSCAPE_STEPS^2 losses over [-1, 1]^2 on LANDSCAPE_EXAMPLES training examples;
# the claims count the interior grid points within LANDSCAPE_RADIUS of the trained net
# (17 x 17 on 256 examples took 7.7 minutes at ci on 2 shared cores; 13 x 13 on 128 is about a fifth of it)
LANDSCAPE_STEPS = 13
LANDSCAPE_EXAMPLES = 128
LANDSCAPE_RADIUS = 1.0
# 3. Branch and skip variances: De and Smith's setting, a pre-activation net, here at the deepest depth of He et al.'s
# main CIFAR comparison (ResNet-1202 aside) and widths, untrained, 10 seeds, on a batch of PROBE_EXAMPLES training
# examples (batch statistics; 128: 256 took over a minute on 2 shared cores)
IDENTITY_DEPTH = 110
IDENTITY_WIDTHS = (16, 32, 64)
IDENTITY_SEEDS = tuple(range(10))
PROBE_EXAMPLES = 128
STAGE1_BLOCKS = blocks_per_stage(IDENTITY_DEPTH)  # 18: the claims read stage 1, where no block downsamples

CLAIMS = declare(
    Claim("shattering_plain", BALDUZZI2017, "Sec. 3, Thm. 1",
          "Without shortcuts, the input gradient of an untrained net shatters as depth grows",
          "the correlation of gradients at nearby inputs decays exponentially with depth (like 2^-L) in "
          "feedforward rectifier nets: they come to resemble white noise",
          f"lag-1 autocorrelation of d logit / dt along lines x0 + t d ({SHATTER_POINTS} points, t in [-1, 1]) "
          f"through {SHATTER_LINES} training examples, untrained plain net (batch norm with statistics of the data), "
          f"deepest minus shallowest of {SHATTER_DEPTHS}; a flat line (no variation) is not scored",
          Direction.BELOW, -NEGLIGIBLE["correlation"], "the paper's decay is a rate in its own setting (1-D inputs, "
          "fully connected nets), not a size on our lines", unit="correlation"),
    Claim("shattering_residual", BALDUZZI2017, "Sec. 3, Thm. 3",
          "Shortcuts keep the input gradient of a deep untrained net correlated",
          "with skip connections and batch norm the correlation decays like 1/(beta sqrt(L)) (beta rescales the "
          "branches; our nets have beta = 1), sublinearly: far more resistant to shattering",
          f"the same autocorrelation at the deepest depth ({max(SHATTER_DEPTHS)}), residual minus plain net of the "
          "same seed on the same lines", Direction.ABOVE, NEGLIGIBLE["correlation"],
          "the paper states rates, not a size on our lines", unit="correlation"),
    Claim("landscape_plain_chaotic", LI2018, "Fig. 5",
          "Without shortcuts, the loss surface around a trained net turns chaotic as depth grows",
          "ResNet-20/56/110-noshort on CIFAR-10: the surface goes from nearly convex to chaotic with depth",
          f"share of the filter-normalised plane within radius {LANDSCAPE_RADIUS:g} where the slice is not convex "
          "(finite-difference Hessian with a negative eigenvalue over a tenth of the positive one), trained plain "
          "net, deepest minus shallowest depth", Direction.ABOVE, NEGLIGIBLE["points"],
          "Fig. 5 is a picture, without a number", points=True,
          control="the same two plain nets at initialisation (batch norm with statistics of the data)"),
    Claim("landscape_shortcuts_smooth", LI2018, "Fig. 5",
          "With shortcuts, the deep net's loss surface stays smooth where the plain net's is chaotic",
          "ResNet-56 with skip connections: smooth and nearly convex, where ResNet-56-noshort is chaotic",
          "the same non-convex share at the deepest depth, trained plain minus trained residual net",
          Direction.ABOVE, NEGLIGIBLE["points"], "Fig. 5 is a picture, without a number", points=True,
          control="the same two nets at initialisation (batch norm with statistics of the data)"),
    Claim("bn_downscales_branches", DESMITH2020, "Sec. 2-3",
          "Batch norm makes each residual branch small next to its skip path at initialisation",
          "with batch norm the skip path's variance grows about linearly with the block index, so the branch of "
          "block l carries about 1/l of the variance; without normalisation both grow together",
          f"log10 of Var(branch) / Var(skip) at the last block of stage 1 (block {STAGE1_BLOCKS}) of an untrained "
          f"pre-activation ResNet-{IDENTITY_DEPTH}, with batch norm minus without normalisation (the control: "
          "the same structure, nothing normalised)", Direction.BELOW, np.log10(1 / STAGE1_BLOCKS) / 2,
          f"the analysis predicts about 1/{STAGE1_BLOCKS} with batch norm against about 1 without: log10 "
          f"{np.log10(1 / STAGE1_BLOCKS):.2f}; half of it counts", basis=Basis.PAPER, unit="log10",
          paper_value=float(np.log10(1 / STAGE1_BLOCKS))),
    Claim("unnormalised_doubles", DESMITH2020, "Sec. 2-3",
          "Without normalisation the skip path's variance doubles from block to block",
          "in an unnormalised residual net with He initialisation, Var doubles with every block",
          f"log10 growth of Var(skip) per block over stage 1 of an untrained pre-activation ResNet-{IDENTITY_DEPTH} "
          "without normalisation", Direction.ABOVE, np.log10(2) / 2,
          "doubling is log10 2 = 0.30 a block; half of it counts", basis=Basis.PAPER, unit="log10",
          paper_value=float(np.log10(2))),
    Claim("unnormalised_fails", ZHANG2019, "Sec. 2; Sec. 4, Fig. 3",
          "A deep residual net without normalisation, initialised as usual, trains far worse than with batch norm",
          "without normalisation, deep residual nets with standard initialisation explode or fail to train",
          "training error after the profile's budget, no normalisation (default initialisation) minus batch norm; "
          f"a diverged run counts as failing to train, at {run_status.STARTED_ERR:.0%}",
          Direction.ABOVE, NEGLIGIBLE["points"], "the papers say it fails, without a number at our depth",
          points=True),
    Claim("skipinit_rescues", DESMITH2020, "Sec. 4",
          "Starting every residual branch at zero (SkipInit) makes the unnormalised net train",
          "SkipInit trains deep residual nets without normalisation where the usual initialisation does not",
          "training error, no normalisation with the default initialisation minus with SkipInit; a diverged run "
          f"counts as failing to train, at {run_status.STARTED_ERR:.0%}", Direction.ABOVE, NEGLIGIBLE["points"],
          "the paper reports the rescue as trains / does not, not as a size", points=True),
    Claim("skipinit_matches_bn", DESMITH2020, "Sec. 4",
          "Without normalisation but with SkipInit, the net trains about as well as with batch norm",
          "SkipInit nets train to about the accuracy of batch-norm nets at modest batch sizes",
          "training error, SkipInit (no normalisation) minus batch norm, seeds where both nets trained (not testable "
          "where fewer than two did)", Direction.BELOW, SAME_MARGIN,
          "one-sided (non-inferiority): no more than a point worse than batch norm", points=True, basis=Basis.SAME,
          neutral=SAME_MARGIN),
)


# ---- the runs

VARIANTS = ("batch norm", "no normalisation", "SkipInit")  # study 4's nets, in the order figures show them
MODEL_OPTIONS = {"batch norm": {}, "no normalisation": {"norm": "none"},
                 "SkipInit": {"norm": "none", "skipinit": True}}
# The unnormalised nets train with the batch-norm net's recipe, learning rate included (a factor on the profile's
# rate; an exercise changes it). De and Smith tune each net's rate; we cannot sweep rates at this budget, and the same
# recipe for all three is the choice that needs no tuning. History, since it was decided after runs: a first
# version trained them at a tenth of the rate, because at the full rate a SkipInit ResNet-56 on the digits (ci,
# seed 0) started to learn and then fell back to chance. At cpu (seeds 0-5 and 6-11) the tenth left every SkipInit
# net near chance after 15 epochs, while at the full rate five of seeds 0-5 trained (1 to 12 % training error) and
# seed 0 fell back to chance again: one seed had decided the rate, so the book returned to the recipe that needs
# no choice. The default-initialised net diverges at either rate.
UNNORMALISED_LR = 1.0


def dataset_of(profile: Profile) -> str:
    """The chapter's data set: the profile's first, Chapter 1's (whose trained nets study 2 reuses)."""
    return profile.datasets[0]


def landscape_depths(profile: Profile) -> tuple[int, int]:
    """The shallow and the deep net of study 2: the profile's shallowest and deepest depth."""
    return profile.shallowest, profile.deepest


def plan(profile: Profile) -> dict[str, list[TrainConfig]]:
    """Chapter 1's plain and residual nets at the shallowest and deepest depth (study 2), and study 4's three
    variants of the deepest residual net, every seed. The batch-norm variant is Chapter 1's residual net itself
    (post-activation, the same config): trained once for both chapters."""
    first = [dataset_of(profile)]
    found = {"landscapes (Chapter 1's nets)": runs.grid(profile, datasets=first, depths=landscape_depths(profile),
                                                        nets=(False, True))}
    for name in VARIANTS:
        options = dict(MODEL_OPTIONS[name])
        if options.get("norm") == "none":
            options["lr"] = profile.lr * UNNORMALISED_LR
        found[name] = runs.grid(profile, datasets=first, depths=[profile.deepest], **options)
    return found


def _probe_batch(dataset: str, n: int = PROBE_EXAMPLES) -> torch.Tensor:
    return data.load(dataset).train_x[:n]


# ---- 1. shattered gradients

def shattering(dataset: str, depths: Sequence[int] = SHATTER_DEPTHS, seeds: Iterable[int] = SHATTER_SEEDS,
               widths: Sequence[int] = (8, 16, 32), lines: int = SHATTER_LINES,
               points: int = SHATTER_POINTS, span: float = 1.0) -> pd.DataFrame:
    """For every seed, depth and kind of net (plain, residual), the untrained net (`probes.untrained`: the weights
    a run of that seed starts from, batch-norm running statistics set from the probe batch, eval mode) and the
    derivative of logit 0 along `lines` lines through training examples (`probes.shattering.line_gradients`;
    the same lines for every net of a seed; t in [-`span`, `span`]). One row per (seed, depth, net):
    `autocorrelation` (one value per line, NaN where the line is flat), `vanished` and `flat` (bool per line), and
    `example`, the first line's g(t)."""
    ds = data.load(dataset)
    x, through = _probe_batch(dataset), ds.train_x[PROBE_EXAMPLES:PROBE_EXAMPLES + lines]
    rows = []
    for seed in seeds:
        for depth in depths:
            for residual in (False, True):
                config = TrainConfig(dataset, depth, residual=residual, width=tuple(widths), seed=seed)
                g = shatter_probe.line_gradients(probes.untrained(config, x), through, points=points, span=span,
                                                  seed=seed)
                rows.append({"dataset": dataset, "seed": seed, "depth": depth, "blocks": 3 * blocks_per_stage(depth),
                             "net": "residual" if residual else "plain",
                             "autocorrelation": shatter_probe.lag1_autocorrelation(g),
                             "flat": shatter_probe.flat_lines(g), "vanished": shatter_probe.vanished_lines(g),
                             "example": g[0]})
    return pd.DataFrame(rows)


def _nan_gap(a: np.ndarray, b: np.ndarray) -> float:
    """Mean of `a` minus mean of `b` over the lines each scored (NaN: flat, not scored)."""
    with np.errstate(invalid="ignore"):
        if np.isnan(a).all() or np.isnan(b).all():
            return float("nan")
        return float(np.nanmean(a) - np.nanmean(b))


def _lines(frame: pd.DataFrame, net: str, depth: int) -> dict[int, np.ndarray]:
    return per_seed.arrays(per_seed.select(frame, net=net, depth=depth), "autocorrelation")


def flat_counts(frame: pd.DataFrame) -> pd.DataFrame:
    """Lines not scored, per net and depth over all seeds: `flat` (no variation: not scored), of which
    `vanished` (the derivative is zero all along), out of `lines`."""
    return (frame.assign(lines=frame.flat.map(len), flat=frame.flat.map(np.sum), vanished=frame.vanished.map(np.sum))
            .groupby(["net", "depth"], as_index=False)[["lines", "flat", "vanished"]].sum())


def _flat_detail(frame: pd.DataFrame) -> str:
    counts = flat_counts(frame)
    bad = counts[counts.flat > 0]
    if bad.empty:
        return f"no line was flat (of {int(counts.lines.iloc[0])} a net)"
    return "not scored, flat: " + ", ".join(f"{r.net}-{r.depth} {r.flat} of {r.lines} ({r.vanished} vanished)"
                                            for r in bad.itertuples())


def shattering_verdicts(frame: pd.DataFrame) -> list[Verdict]:
    """`shattering_plain` and `shattering_residual` from `shattering`: seed by seed, on the same lines (resampled
    in pairs). A line flat in either net is left out of that net's mean only; a net with every line flat gives no
    measurement for its seed (not testable if none is left). Nothing is trained, so no run can fail."""
    dataset, low, high = frame.dataset.iloc[0], int(frame.depth.min()), int(frame.depth.max())
    flat = _flat_detail(frame)
    out = []
    for key, (a, b) in {"shattering_plain": (("plain", high), ("plain", low)),
                        "shattering_residual": (("residual", high), ("plain", high))}.items():
        pairs = per_seed.together(_lines(frame, *a), _lines(frame, *b))
        usable = {s: p for s, p in pairs.items() if np.isfinite(_nan_gap(*p))}
        measured = per_seed.measure(_nan_gap, usable)
        means = {net: np.nanmean(np.concatenate([p[i] for p in usable.values()])) if usable else np.nan
                 for i, net in enumerate((a, b))}
        detail = (f"mean autocorrelation {a[0]}-{a[1]} {means[a]:.2f}, {b[0]}-{b[1]} {means[b]:.2f} "
                  f"({per_seed.count(len(usable))}, untrained); {flat}")
        out.append(check(CLAIMS[key], dataset, measured, detail=detail,
                         untestable="" if measured else "every line was flat in one of the nets: nothing to score"))
    return out


def shattering_means(frame: pd.DataFrame) -> pd.DataFrame:
    """Per seed, net and depth, the mean autocorrelation over the scored lines (for the figure)."""
    rows = frame.assign(mean=frame.autocorrelation.map(lambda r: np.nan if np.isnan(r).all() else np.nanmean(r)))
    return rows[["seed", "net", "depth", "blocks", "mean"]]


# ---- 2. loss landscapes

def landscape_nets(profile: Profile, *, progress: bool = True) -> list[TrainResult]:
    """Chapter 1's plain and residual nets at the shallowest and deepest depth, every seed (from the run cache)."""
    return runs.sweep(plan(profile)["landscapes (Chapter 1's nets)"], progress=progress)


def landscapes(results: Sequence[TrainResult], steps: int = LANDSCAPE_STEPS,
               examples: int = LANDSCAPE_EXAMPLES) -> pd.DataFrame:
    """The loss on a filter-normalised plane (`probes.landscape.plane_losses`, directions seeded by the run's
    seed) around every trained net and the same net at initialisation (`probes.untrained`), on the first
    `examples` training examples. One row per (net, depth, seed, when): `coords`, `losses` (steps x steps),
    `non_convex` (per interior point within the radius, `non_convex_points`) and the run's `status`. A diverged
    run is not probed (NaN weights); its initial net is."""
    probed = {id(r) for r in run_status.probed(results, "landscapes, trained")}
    rows = []
    for r in results:
        ds = data.load(r.config.dataset)
        x, y = ds.train_x[:examples], ds.train_y[:examples]
        nets = {"initialisation": probes.untrained(r.config, x)}  # the control: the same net untrained
        if id(r) in probed:
            nets["trained"] = r.model
        for when, model in nets.items():
            coords, losses = landscape.plane_losses(model, x, y, steps=steps, seed=r.config.seed)
            rows.append({"dataset": r.config.dataset, "net": r.config.kind.value, "depth": r.config.depth,
                         "seed": r.config.seed, "when": when, "status": run_status.status(r), "coords": coords,
                         "losses": losses,
                         "non_convex": landscape.non_convex_points(coords, losses, LANDSCAPE_RADIUS)})
    return pd.DataFrame(rows)


def _shares(frame: pd.DataFrame, net: str, depth: int, when: str = "trained") -> dict[int, np.ndarray]:
    return per_seed.arrays(per_seed.select(frame, net=net, depth=depth, when=when), "non_convex")


def _statuses(frame: pd.DataFrame, net: str, depth: int) -> dict[int, str]:
    return run_status.by_seed(per_seed.select(frame, net=net, depth=depth))  # every row of a run has its status


def _share_text(shares: dict[int, np.ndarray], seeds: list[int]) -> str:
    return f"{100 * per_seed.mean(shares, seeds):.0f} %"


def landscape_verdicts(frame: pd.DataFrame) -> list[Verdict]:
    """`landscape_plain_chaotic` and `landscape_shortcuts_smooth` from `landscapes`, seed by seed, the grid points
    of the two nets resampled in pairs (the same grid). A net that trained badly still has a surface: every run
    counts but a diverged one (`run_status.count`). The second claim's control is the same pair untrained."""
    dataset, low, high = frame.dataset.iloc[0], int(frame.depth.min()), int(frame.depth.max())
    out = []
    for key, a, b in (("landscape_plain_chaotic", ("plain", high), ("plain", low)),
                      ("landscape_shortcuts_smooth", ("plain", high), ("residual", high))):
        claim = CLAIMS[key]
        counted = run_status.count({f"{n}-{d}": _statuses(frame, n, d) for n, d in (a, b)})
        trained = {s: p for s, p in per_seed.together(_shares(frame, *a), _shares(frame, *b)).items()
                   if s in counted.seeds}
        seeds = list(trained)
        measured = per_seed.measure(per_seed.mean_gap, trained)
        detail = (f"non-convex share within radius {LANDSCAPE_RADIUS:g}, trained: {a[0]}-{a[1]} "
                  f"{_share_text(_shares(frame, *a), seeds)}, {b[0]}-{b[1]} {_share_text(_shares(frame, *b), seeds)} "
                  f"({per_seed.count(len(seeds))}; the interval resamples grid points, which neighbours share: "
                  "with one seed it is too narrow)") if seeds else "no seed has both nets measured"
        if counted.says():
            detail += f"; {counted.says()}"
        untrained = None
        if claim.control:
            untrained = per_seed.measure(per_seed.mean_gap, {s: per_seed.together(
                _shares(frame, *a, when="initialisation"), _shares(frame, *b, when="initialisation"))[s]
                for s in seeds})
        out.append(check(claim, dataset, measured, untrained, detail=detail, failed=counted.failed))
    return out


# ---- 3. batch norm and the identity

def branch_variances(dataset: str, seeds: Iterable[int] = IDENTITY_SEEDS, depth: int = IDENTITY_DEPTH,
                     widths: Sequence[int] = IDENTITY_WIDTHS) -> pd.DataFrame:
    """Per seed, for the untrained pre-activation net of `depth` with batch norm and without normalisation (the
    weights a run of that seed starts from), `probes.branches.branch_and_skip_variances` on the probe batch in
    train mode (batch norm uses the batch's own statistics, as at the first step of training). One row per
    (seed, norm, block): `branch` and `skip` (one variance share per example), `stage`, and the means
    `branch_var`, `skip_var` and `ratio`."""
    x = _probe_batch(dataset)
    rows = []
    for seed in seeds:
        for norm in ("batch", "none"):
            config = TrainConfig(dataset, depth, width=tuple(widths), preact=True, seed=seed, norm=norm)
            model = config.initial_model()
            branch, skip = branches.branch_and_skip_variances(model, x)
            for i, info in enumerate(model.block_info()):
                rows.append({"dataset": dataset, "seed": seed, "norm": norm, "block": i + 1, "stage": info.stage,
                             "branch": branch[:, i], "skip": skip[:, i], "branch_var": branch[:, i].mean(),
                             "skip_var": skip[:, i].mean(), "ratio": branch[:, i].mean() / skip[:, i].mean()})
    return pd.DataFrame(rows)


def _log_ratio(branch: np.ndarray, skip: np.ndarray) -> float:
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(np.log10(branch.mean() / skip.mean()))


def _bn_minus_none(b_bn: np.ndarray, s_bn: np.ndarray, b_none: np.ndarray, s_none: np.ndarray) -> float:
    return _log_ratio(b_bn, s_bn) - _log_ratio(b_none, s_none)


def _growth(first: np.ndarray, last: np.ndarray, blocks: int) -> float:
    """log10 of the growth of the mean per block, from the first to the last of `blocks` blocks."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(np.log10(last.mean() / first.mean()) / (blocks - 1))


def _at(frame: pd.DataFrame, norm: str, block: int, column: str) -> dict[int, np.ndarray]:
    return per_seed.arrays(per_seed.select(frame, norm=norm, block=block), column)


def identity_verdicts(frame: pd.DataFrame) -> list[Verdict]:
    """`bn_downscales_branches` and `unnormalised_doubles` from `branch_variances`, seed by seed, the probe examples
    resampled (in pairs across the two nets of a seed: the same examples). Nothing is trained."""
    dataset = frame.dataset.iloc[0]
    n = int(frame[frame.stage == 1].block.max())
    parts = per_seed.together(_at(frame, "batch", n, "branch"), _at(frame, "batch", n, "skip"),
                              _at(frame, "none", n, "branch"), _at(frame, "none", n, "skip"))
    ratio = frame[frame.block == n].groupby("norm").ratio.mean()
    detail = (f"Var(branch) / Var(skip) at block {n}, mean over {per_seed.count(len(parts))}: with batch norm "
              f"{ratio['batch']:.3f} (1/{n} = {1 / n:.3f}), without normalisation {ratio['none']:.2f}")
    bn = check(CLAIMS["bn_downscales_branches"], dataset, per_seed.measure(_bn_minus_none, parts), detail=detail)
    ends = per_seed.together(_at(frame, "none", 1, "skip"), _at(frame, "none", n, "skip"))
    skip = frame[(frame.norm == "none") & frame.block.isin([1, n])].groupby("block").skip_var.mean()
    growth = per_seed.measure(lambda a, b: _growth(a, b, n), ends)
    detail = (f"Var(skip) without normalisation from block 1 to block {n}: {skip[1]:.3g} to {skip[n]:.3g}, a factor "
              f"{(skip[n] / skip[1]) ** (1 / (n - 1)):.2f} a block (mean over {per_seed.count(len(ends))})")
    return [bn, check(CLAIMS["unnormalised_doubles"], dataset, growth, detail=detail)]


# ---- 4. training without normalisation

def normalisation_runs(profile: Profile, *, progress: bool = True) -> dict[str, list[TrainResult]]:
    """Study 4's three variants of the deepest residual net, every seed: variant name -> its runs."""
    p = plan(profile)
    return {name: runs.sweep(p[name], progress=progress) for name in VARIANTS}


def training_errors(trained: dict[str, list[TrainResult]]) -> pd.DataFrame:
    """One row per (variant, seed): `wrong`, the final net's mistakes on the training examples training error is
    measured on (the first `TRAIN_EVAL_EXAMPLES`), as floats, and its `status`. A diverged run is not probed (NaN
    weights): it counts as failing to train, `wrong` a constant `run_status.STARTED_ERR` for every example."""
    probed = {id(r) for r in run_status.probed([r for rs in trained.values() for r in rs], "training errors")}
    rows = []
    for name, results in trained.items():
        for r in results:
            ds = data.load(r.config.dataset)
            x, y = ds.train_x[:TRAIN_EVAL_EXAMPLES], ds.train_y[:TRAIN_EVAL_EXAMPLES]
            wrong = (probes.mistakes(r.model, x, y).astype(float) if id(r) in probed
                     else np.full(len(y), run_status.STARTED_ERR))
            rows.append({"variant": name, "dataset": r.config.dataset, "depth": r.config.depth,
                         "seed": r.config.seed, "status": run_status.status(r), "wrong": wrong,
                         "train_err": float(wrong.mean())})
    return pd.DataFrame(rows)


def _variant(frame: pd.DataFrame, name: str) -> tuple[dict[int, np.ndarray], dict[int, str]]:
    rows = per_seed.select(frame, variant=name)
    return per_seed.arrays(rows, "wrong"), run_status.by_seed(rows)


def _error_gap(claim: Claim, frame: pd.DataFrame, worse: str, better: str, both_trained: bool = False) -> Verdict:
    """`claim` on training error of `worse` minus `better`, seed by seed, the training examples resampled in pairs.
    Every run counts, a diverged one as failing (`training_errors`), except that a seed whose batch-norm net (the
    reference) did not train gives no measurement: a gap to a net that failed too says nothing. With
    `both_trained` (a claim about how well a net trains once it does) only seeds where both nets trained count, and
    fewer than two of them (of several) leave the claim not testable: the budget, not the claim, decided it."""
    (wa, sa), (wb, sb) = _variant(frame, worse), _variant(frame, better)
    must_train = {worse: sa, better: sb} if both_trained else \
        {"batch norm": sa if worse == "batch norm" else sb} if "batch norm" in (worse, better) else {}
    seeds = sorted(set(wa) & set(wb))
    keep = [s for s in seeds if all(st[s] == run_status.TRAINED for st in must_train.values())]
    left = sorted(set(seeds) - set(keep))
    pairs = {s: (wa[s], wb[s]) for s in keep}
    names = " and the ".join(must_train) + (" nets" if len(must_train) > 1 else " net")
    detail = (f"training error {worse} {100 * per_seed.mean(wa, keep):.1f} %, {better} "
              f"{100 * per_seed.mean(wb, keep):.1f} % (mean of {per_seed.count(len(keep))})") if keep else \
        f"no seed where the {names} trained"
    if left:
        detail += f"; left out: {', '.join(f'seed {s}' for s in left)} (not every one of the {names} trained)"
    failed = "; ".join(filter(None, [run_status.summary(worse, sa), run_status.summary(better, sb)]))
    if failed and not both_trained:
        detail += f"; a diverged run counts as failing, at {run_status.STARTED_ERR:.0%}"
    untestable = ""
    if both_trained and len(keep) < min(2, len(seeds)):
        untestable = (f"within this budget both nets trained at {len(keep)} of {len(seeds)} seeds: too few to "
                      "compare nets that trained")
        pairs = {}
    return check(claim, frame.dataset.iloc[0], per_seed.measure(per_seed.mean_gap, pairs), detail=detail,
                 failed=failed, untestable=untestable)


def normalisation_verdicts(frame: pd.DataFrame) -> list[Verdict]:
    """`unnormalised_fails`, `skipinit_rescues` and `skipinit_matches_bn` from `training_errors`."""
    return [_error_gap(CLAIMS["unnormalised_fails"], frame, "no normalisation", "batch norm"),
            _error_gap(CLAIMS["skipinit_rescues"], frame, "no normalisation", "SkipInit"),
            _error_gap(CLAIMS["skipinit_matches_bn"], frame, "SkipInit", "batch norm", both_trained=True)]


def verdicts(shatter: pd.DataFrame, planes: pd.DataFrame, variances: pd.DataFrame,
             errors: pd.DataFrame) -> list[Verdict]:
    """The chapter's claims, study by study."""
    return (shattering_verdicts(shatter) + landscape_verdicts(planes) + identity_verdicts(variances)
            + normalisation_verdicts(errors))


# What a reader should know about a verdict that does not hold here, by claim: the likely reason at small scale.
LIKELY_REASONS = {
    "shattering_plain": "our inputs are 8x8 images (or 1-D signals) and our nets narrow; at the shallowest depth the "
                        "gradient is already far from smooth when the line is long",
    "shattering_residual": "a residual net at our widths still decorrelates with depth, if slowly",
    "landscape_plain_chaotic": "our deepest plain net may not have trained at all (its surface is then the flat "
                               "plateau around a net at chance), and one 2-D slice per net is a small sample",
    "landscape_shortcuts_smooth": "on a small data set both deep nets may sit in wide basins; and the grid points "
                                  "of one slice are not independent, so one seed's interval is too narrow",
    "bn_downscales_branches": "our stem's output is small, which makes the first ratios larger than 1/l",
    "unnormalised_doubles": "the first blocks grow slower than twice (the stem's output is small and its mean "
                            "is not zero); the claim is the per-block average over the stage",
    "unnormalised_fails": "at our depth and budget an unnormalised net may still train, given the warm-up",
    "skipinit_rescues": "a SkipInit net can still fall back to chance early in training at the batch-norm rate "
                        "(seed 0 does, at ci and cpu): such seeds count as failing to train",
    "skipinit_matches_bn": "in a budget of a few hundred steps, SkipInit nets that train still lag batch norm by "
                           "a few points; De and Smith find batch norm's larger stable rate pays most when the "
                           "budget of steps is small"
}


# ---- the figures

NORM_COLOURS = {"batch norm": plots.NET_COLOURS["residual"], "no normalisation": plots.NET_COLOURS["plain"],
                "SkipInit": "#55a868"}


def shattered(frame: pd.DataFrame) -> plt.Figure:
    """Left: g(t), the derivative of one logit along one line, for seed 0's shallowest and deepest plain and
    residual nets. Right: the lag-1 autocorrelation against the number of blocks (mean over lines per seed; the
    mean over seeds, the band their range), with Balduzzi et al.'s rates anchored at the shallowest mean: 2^-L for
    plain nets, 1/sqrt(L) for residual ones (L: blocks)."""
    low, high = int(frame.depth.min()), int(frame.depth.max())
    seed = int(frame.seed.min())
    fig = plt.figure(figsize=(13, 4.2))
    grid = fig.add_gridspec(2, 3)
    t = np.linspace(-1, 1, len(frame.example.iloc[0]))  # in units of the line's span
    for i, net in enumerate(("plain", "residual")):
        for j, depth in enumerate((low, high)):
            ax = fig.add_subplot(grid[i, j])
            g = per_seed.select(frame, net=net, depth=depth, seed=seed).example.iloc[0]
            ax.plot(t, g, lw=0.8, color=plots.NET_COLOURS[net])
            ax.set_title(f"{net}-{depth}", fontsize=9)
            ax.set_yticks([])
            if i == 0:
                ax.set_xticks([])
    ax = fig.add_subplot(grid[:, 2])
    means = shattering_means(frame)
    sns.lineplot(data=means, x="blocks", y="mean", hue="net", palette=plots.NET_COLOURS, marker="o",
                 errorbar=("pi", 100), ax=ax)
    blocks = np.array(sorted(means.blocks.unique()), dtype=float)
    start = means.groupby(["net", "blocks"])["mean"].mean()
    ax.plot(blocks, start["plain", blocks[0]] * 2.0 ** -(blocks - blocks[0]), ls=":", color="0.3",
            label="2^-L (plain, Balduzzi)")
    ax.plot(blocks, start["residual", blocks[0]] * np.sqrt(blocks[0] / blocks), ls="--", color="0.3",
            label="1/sqrt(L) (residual, Balduzzi)")
    ax.axhline(0, color="0.7", lw=0.8)
    ax.set_xscale("log")
    ax.minorticks_off()  # the log axis's minor labels would overprint the blocks' own
    ax.set_xticks(blocks, [f"{int(b)}" for b in blocks])
    ax.set_xlabel("blocks L (depth 6L/3 + 2)")
    ax.set_ylabel("lag-1 autocorrelation of the gradient")
    ax.legend(fontsize=8, frameon=False)
    fig.suptitle(f"Gradients along a line of inputs at initialisation ({frame.dataset.iloc[0]}; left: seed {seed}, "
                 f"d logit/dt against t; right: {per_seed.count(frame.seed.nunique())})", fontsize=10)
    fig.tight_layout()
    return fig


def contours(frame: pd.DataFrame, seed: int | None = None) -> plt.Figure:
    """Li et al.'s Fig. 5 at our scale: the loss around each trained net of one seed on its filter-normalised
    plane, plain and residual at the shallowest and deepest depth; levels of log10 loss, the circle the radius the
    claims count, a x the trained net."""
    trained = frame[frame.when == "trained"]
    seed = int(trained.seed.min()) if seed is None else seed
    depths = sorted(trained.depth.unique())
    fig, axes = plt.subplots(2, len(depths), figsize=(4.2 * len(depths), 7.6), squeeze=False)
    for i, net in enumerate(("plain", "residual")):
        for j, depth in enumerate(depths):
            ax = axes[i, j]
            rows = per_seed.select(trained, net=net, depth=depth, seed=seed)
            if rows.empty:
                ax.set_axis_off()
                ax.set_title(f"{net}-{depth}: diverged, not probed", fontsize=9)
                continue
            row = rows.iloc[0]
            c = row.coords
            z = np.log10(np.clip(row.losses, 1e-6, 1e6))
            cs = ax.contour(c, c, z.T, levels=20, cmap="viridis", linewidths=0.8)
            ax.clabel(cs, cs.levels[::4], fontsize=6, fmt="%.1f")
            ax.add_patch(plt.Circle((0, 0), LANDSCAPE_RADIUS, fill=False, ls="--", color="0.5"))
            ax.plot(0, 0, "kx")
            ax.set_aspect("equal")
            ax.set_title(f"{net}-{depth}: {100 * row.non_convex.mean():.0f} % non-convex", fontsize=10)
    fig.suptitle(f"log10 training loss on a filter-normalised plane around the trained net ({frame.dataset.iloc[0]}, "
                 f"seed {seed})", fontsize=10)
    fig.tight_layout()
    return fig


def slices(frame: pd.DataFrame) -> plt.Figure:
    """1-D slices: the loss along the first filter-normalised direction (the plane's middle row), every seed, for
    the trained nets and, faint, the same nets at initialisation."""
    depths = sorted(frame.depth.unique())
    fig, axes = plt.subplots(1, len(depths), figsize=(5 * len(depths), 3.6), squeeze=False)
    for ax, depth in zip(axes[0], depths, strict=True):
        for row in per_seed.select(frame, depth=depth).itertuples():
            mid = len(row.coords) // 2
            trained = row.when == "trained"
            ax.plot(row.coords, row.losses[:, mid], color=plots.NET_COLOURS[row.net], alpha=0.9 if trained else 0.3,
                    lw=1.2 if trained else 0.8, ls="-" if trained else ":")
        ax.set_yscale("log")
        ax.set_xlabel("step along one filter-normalised direction")
        ax.set_title(f"depth {depth}", fontsize=10)
    axes[0, 0].set_ylabel("training loss")
    handles = [plt.Line2D([], [], color=plots.NET_COLOURS[n], label=n) for n in ("plain", "residual")]
    handles.append(plt.Line2D([], [], color="0.5", ls=":", label="at initialisation"))
    axes[0, -1].legend(handles=handles, frameon=False, fontsize=8)
    fig.suptitle(f"1-D slices of the loss ({frame.dataset.iloc[0]}, {per_seed.count(frame.seed.nunique())})",
                 fontsize=10)
    fig.tight_layout()
    return fig


def variances(frame: pd.DataFrame) -> plt.Figure:
    """Left: Var(branch) / Var(skip) block by block, with batch norm and without normalisation, against De and
    Smith's 1/l (with batch norm) and 1 (without). Right: Var(skip), log scale, against doubling a block. Mean over
    seeds, the band their range; dotted lines mark the stages' first blocks."""
    names = {"batch": "batch norm", "none": "no normalisation"}
    shown = frame.assign(normalisation=frame.norm.map(names))
    palette = {names["batch"]: NORM_COLOURS["batch norm"], names["none"]: NORM_COLOURS["no normalisation"]}
    fig, axes = plt.subplots(1, 2, figsize=(12, 4))
    blocks = np.arange(1, frame.block.max() + 1)
    for ax, column in zip(axes, ("ratio", "skip_var"), strict=True):
        sns.lineplot(data=shown, x="block", y=column, hue="normalisation", palette=palette, errorbar=("pi", 100),
                     ax=ax)
        ax.set_yscale("log")
        for first in frame[frame.stage > 1].groupby("stage").block.min():
            ax.axvline(first, color="0.8", ls=":")
    axes[0].plot(blocks, 1 / blocks, color="0.3", ls="--", label="1/l (De and Smith, batch norm)")
    axes[0].set_ylabel("Var(branch) / Var(skip)")
    start = frame[(frame.norm == "none") & (frame.block == 1)].skip_var.mean()
    n = int(frame[frame.stage == 1].block.max())
    axes[1].plot(blocks[:n], start * 2.0 ** (blocks[:n] - 1), color="0.3", ls="--", label="doubling a block")
    axes[1].set_ylabel("Var(skip)")
    for ax in axes:
        ax.legend(fontsize=8, frameon=False)
        ax.set_xlabel("block l")
    depth = IDENTITY_DEPTH if frame.block.max() == 3 * STAGE1_BLOCKS else 6 * (frame.block.max() // 3) + 2
    fig.suptitle(f"Untrained pre-activation ResNet-{depth} ({frame.dataset.iloc[0]}, "
                 f"{per_seed.count(frame.seed.nunique())}, batch statistics)", fontsize=10)
    fig.tight_layout()
    return fig


def training_without_norm(trained: dict[str, list[TrainResult]]) -> plt.Figure:
    """Training error by epoch of every variant and seed (a thin line each), the final errors on the right; a run
    that did not train is an x, one that diverged a dagger at the epoch it stopped (its curve ends there)."""
    fig, (ax, bar) = plt.subplots(1, 2, figsize=(12, 3.8), gridspec_kw={"width_ratios": [2, 1]})
    finals = []
    for name, results in trained.items():
        for r in results:
            h = r.history
            epochs, errors = h.get("epoch", []), [100 * e for e in h.get("train_err", [])]
            ax.plot(epochs, errors, color=NORM_COLOURS[name], lw=1, alpha=0.8)
            status = run_status.status(r)
            if status == run_status.DIVERGED:
                where = epochs[-1] if epochs else 0
                ax.text(where, 95, "†", color=NORM_COLOURS[name], ha="center", fontsize=14)
            finals.append({"variant": name, "seed": r.config.seed, "status": status,
                           "error": errors[-1] if errors and status != run_status.DIVERGED else np.nan})
    ax.set_ylim(0, 100)
    ax.set_xlabel("epoch")
    ax.set_ylabel("training error (%)")
    ax.legend(handles=[plt.Line2D([], [], color=c, label=n) for n, c in NORM_COLOURS.items()]
              + [plt.Line2D([], [], ls="", marker="$†$", color="k", label="diverged (stopped there)")],
              frameon=False, fontsize=8)
    finals = pd.DataFrame(finals)
    sns.stripplot(data=finals, x="variant", y="error", hue="variant", palette=NORM_COLOURS, order=list(VARIANTS),
                  ax=bar, legend=False, size=6)
    lost = finals[finals.status == run_status.DIVERGED].groupby("variant").seed.count()
    for name, n in lost.items():
        bar.text(list(VARIANTS).index(name), 95, f"† x{n}", ha="center", color=NORM_COLOURS[name])
    bar.set_ylim(0, 100)
    bar.set_xlabel("")
    bar.set_ylabel("final training error (%)")
    depth = next(iter(trained.values()))[0].config.depth
    fig.suptitle(f"Residual-{depth} with and without batch norm ({next(iter(trained.values()))[0].config.dataset}, "
                 f"{per_seed.count(finals.seed.nunique())})", fontsize=10)
    fig.tight_layout()
    return fig
