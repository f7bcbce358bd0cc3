"""Chapter 1, plain vs residual (He et al. 2016): the degradation problem, layer responses, other shortcuts.

The notebook `book/01_plain_vs_residual.ipynb` calls, in order: `train_sweep` (plain and residual nets at
every depth), `mistakes` (which examples each net gets wrong, for the claims' intervals), `responses`
(He et al.'s Fig. 7 probe, trained and untrained), `shortcut_runs` and `parameter_table` (options A/B,
highway gates), then `verdicts` and `shortcut_verdicts`; each figure is one of the functions at the end.

Whether a run trained is `run_status`'s call, read from the `status` column every frame here carries. Plain and
highway nets that train badly are the papers' effect, so `degradation`, `residual_beats_plain` and `highway_worse`
count every run; the claims about nets that learned (residual nets' depth trends and responses, option B's
equivalence) count only runs that trained. A diverged run has no final error and NaN weights: it is never probed,
and a claim leaves it out and says so. Every claims row names the runs that failed; every figure of per-run
results marks them.
"""

from __future__ import annotations

from dataclasses import replace

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from .. import data, per_seed, plots, probes, run_status, runs, stats
from ..claims import NEGLIGIBLE, Basis, Claim, Direction, Fact, Verdict, check, declare
from ..models import NetKind, count_parameters, resnet
from ..papers import HE2016, HE2016B, TABLE6_PARAMS_M
from ..plots import NET_COLOURS
from ..profiles import Profile
from ..train import TRAIN_EVAL_EXAMPLES, TrainConfig, TrainResult, config_for

NOTEBOOK = "01_plain_vs_residual"

# Each smallest effect by one of the book's rules (`claims.RULES`), fixed before the runs it decides were
# measured: half the paper's own size where it reports one, else any effect in the paper's direction.
CLAIMS = declare(
    Claim("degradation", HE2016, "Fig. 1, Fig. 6 left", "Deeper plain nets have higher training error",
          "plain-56 trains worse than plain-20; plain-110 above 60 %",
          "train error, deepest minus shallowest plain net", Direction.ABOVE, 0.01,
          "the curves of Fig. 1 and 6 show the direction; He et al. tabulate no plain-net errors", points=True),
    Claim("residual_beats_plain", HE2016, "Fig. 6", "At the same depth, the residual net trains better",
          "Fig. 6: ResNet-56's training error ends far below plain-56's (He et al. do not tabulate plain nets)",
          "train error at the deepest depth, plain minus residual", Direction.ABOVE, 0.01,
          "Fig. 6 shows the direction; no table gives its size", points=True),
    Claim("residual_train_depth", HE2016, "Fig. 6 middle", "Residual nets' training loss falls with depth",
          "training error falls from 20 to 110 layers",
          "final training loss (mean cross-entropy), deepest over shallowest residual net (seeds whose two nets "
          "trained)", Direction.BELOW, 1 / NEGLIGIBLE["ratio"],
          "Fig. 6 (middle) shows the direction; the loss, unlike the error, has no floor. Not testable where both "
          "nets fit the training set (`FIT_FLOOR`): there the loss measures confidence, not fitting (a rule added "
          "after the digits' loss ratios were seen)", neutral=1.0, unit="ratio"),
    Claim("residual_test_depth", HE2016, "Table 6", "Residual nets' test error falls with depth",
          "8.75 / 7.51 / 7.17 / 6.97 % for 20/32/44/56; 110: 6.43 % best of 5 (mean 6.61 ± 0.16)",
          "test error, deepest over depth-20 residual net (the shallowest where the sweep has no 20; seeds whose "
          "two nets trained)", Direction.BELOW, 1 + (6.97 / 8.75 - 1) / 2,
          "Table 6: ResNet-56 6.97 % over ResNet-20 8.75 % = 0.80 (a ratio: our errors are not CIFAR's)",
          basis=Basis.PAPER, neutral=1.0, paper_value=6.97 / 8.75),
    Claim("responses_smaller", HE2016, "Fig. 7", "Layer responses are smaller in residual than in plain nets",
          "std of 3x3 layer outputs lower for ResNets at every depth",
          "mean layer-response std, plain over residual net, at the second-deepest depth of the sweep (where "
          "plain nets train; seeds whose two nets trained)", Direction.ABOVE, NEGLIGIBLE["ratio"],
          "Fig. 7 plots the curves without a number to read. Not testable where batch norm's scales have not moved "
          "(`SCALE_FLOOR`: a rule added after ratios of 1.00-1.01 were seen)", neutral=1.0, unit="ratio",
          control="the same two nets untrained", versus_control="ratio"),
    Claim("responses_depth", HE2016, "Fig. 7", "Deeper residual nets have smaller layer responses",
          "ResNet-110 below ResNet-56 below ResNet-20",
          "mean layer-response std, shallowest over deepest residual net (seeds whose two nets trained)",
          Direction.ABOVE, NEGLIGIBLE["ratio"], "Fig. 7 orders the curves without a number to read. Not testable "
          "where batch norm's scales have not moved (`SCALE_FLOOR`, added after seeing the data)", neutral=1.0,
          unit="ratio",
          control="the same two nets untrained", versus_control="ratio"),
    Claim("option_b", HE2016, "Table 3 (ImageNet)", "Projection shortcuts (option B) give about the same error",
          "ResNet-34 top-1 error 25.03 % with A, 24.52 % with B: projections are not essential",
          "test error at the sweep's second-deepest depth, option B minus option A (seeds whose two nets trained)",
          Direction.WITHIN, 0.01, "He et al. call B's 0.5-point gain marginal", points=True, basis=Basis.SAME),
    Claim("highway_worse", HE2016B, "Table 1", "Gated (highway) shortcuts do worse than identity shortcuts",
          "ResNet-110 with exclusive gating 8.70 % test error; identity 6.61 % (gate bias -6; ours is "
          "`models.HIGHWAY_GATE_BIAS`; He et al. 2016b is not in the project's checked targets)",
          "test error at the sweep's second-deepest depth, highway over identity (A)", Direction.ABOVE,
          1 + (8.70 / 6.61 - 1) / 2,
          "He et al. 2016b, Table 1: 8.70 % over 6.61 % = 1.32 (a ratio: our errors are not CIFAR's)",
          basis=Basis.PAPER, neutral=1.0, paper_value=8.70 / 6.61),
)


# ---- the runs

def image_sweep(profile: Profile) -> list[TrainConfig]:
    """Plain and residual nets on the profile's real-image data set, at its own depths and epochs (or none).

    The learning rate scales with the batch (Goyal et al.'s linear rule: 0.05 at batch 64 for the paper's 0.1
    at 128) and one epoch is warm-up at lr/10: at lr 0.1 and batch 64 the residual-56 nets trained unevenly
    (measured: 52 % training error on seed 0, against 25 % with this recipe).
    """
    if not profile.image_dataset:
        return []
    scale = replace(profile, epochs=profile.image_epochs, batch_size=profile.image_batch_size, warmup_epochs=1.0,
                    lr=profile.lr * profile.image_batch_size / profile.batch_size)
    return runs.grid(scale, datasets=[profile.image_dataset], depths=profile.image_depths, nets=(False, True))


def datasets(profile: Profile) -> list[str]:
    """The data sets this chapter shows: the profile's first (its cheapest), then its real-image one (if any).

    Only the first: at `cpu`, MNIST-1D's sweep would add about 7 minutes to a chapter that has 10 (its plain
    nets and ResNet-56 are trained for Chapter 2's lesions instead)."""
    return [profile.datasets[0], *([profile.image_dataset] if profile.image_dataset else [])]


def compared_depth(depths) -> int:
    """The depth at which two kinds of net are compared: the sweep's second-deepest, where plain and gated nets
    still train on our data (and at half the cost of the deepest); the only depth of a one-depth sweep."""
    depths = sorted(depths)
    return int(depths[-2]) if len(depths) > 1 else int(depths[-1])


def plan(profile: Profile) -> dict[str, list[TrainConfig]]:
    """Plain and residual nets at every depth on the first data set (and on real images where the profile has
    them); options B and highway gates beside them at `compared_depth`, the only depth their claims use."""
    first, depth = [profile.datasets[0]], [compared_depth(profile.depths)]
    return {"sweep": runs.grid(profile, datasets=first, nets=(False, True)) + image_sweep(profile),
            "option B": runs.grid(profile, datasets=first, depths=depth, shortcut="B"),
            "highway": runs.grid(profile, datasets=first, depths=depth, shortcut="gated")}


def train_sweep(profile: Profile, *, progress: bool = True) -> list[TrainResult]:
    """The plain/residual sweep, trained where the run cache lacks it."""
    return runs.sweep(plan(profile)["sweep"], progress=progress)


def responses(results: list[TrainResult]) -> pd.DataFrame:
    """He et al.'s Fig. 7 probe on every run (all seeds) but those that diverged, trained and untrained
    (`trained` column); `status`: the run's (`run_status`), on its untrained control's rows too.

    One row per (run, 3x3 layer). The untrained net is the run's initialisation with BN statistics of the
    training data (`probes.untrained`): the control for what the architecture alone does to the responses.
    A run that did not train is probed: He et al.'s Fig. 7 is about plain nets that train badly.
    """
    frames = [_responses(r) for r in run_status.probed(results, "responses", stop_if_none=True)]
    return pd.concat([frame for pair in frames for frame in pair], ignore_index=True)


def _responses(r: TrainResult) -> tuple[pd.DataFrame, pd.DataFrame]:
    initial = replace(r, model=probes.untrained(r.config, data.load(r.config.dataset).train_x[:1000]))
    status = run_status.status(r)
    return (probes.response_frame([r]).assign(trained=True, status=status),
            probes.response_frame([initial]).assign(trained=False, status=status))


def mistakes(results: list[TrainResult]) -> pd.DataFrame:
    """Which examples each run gets wrong: one row per (run, split) with the bool array `wrong`, the loss on each
    example (`loss`) and the run's `status` (`run_status`). A diverged run keeps its rows, `wrong` and `loss`
    None: it is not probed (NaN weights), and the claims count it among the failed runs.

    The claims resample these examples (paired across nets) for the interval of a single seed. The train
    split is the one training error is measured on (the first `train.TRAIN_EVAL_EXAMPLES`).
    """
    probed = {r.config for r in run_status.probed(results, "mistakes")}
    return pd.DataFrame([row for r in results for row in _mistakes(r, probed)])


def _mistakes(r: TrainResult, probed: set[int]) -> list[dict]:
    ds = data.load(r.config.dataset)
    n = TRAIN_EVAL_EXAMPLES
    seen = r.config in probed
    return [{**runs.describe(r), "split": split, "wrong": probes.mistakes(r.model, x, y) if seen else None,
             "loss": probes.losses(r.model, x, y) if seen else None}
            for split, (x, y) in (("train", (ds.train_x[:n], ds.train_y[:n])), ("test", (ds.test_x, ds.test_y)))]


def variant(net: str, shortcut: str) -> str:
    """How Chapter 1 names a kind of shortcut: plain, residual (A), residual (B) or highway."""
    return f"residual ({shortcut})" if net == NetKind.RESIDUAL else net


def shortcut_runs(profile: Profile, *, progress: bool = True) -> list[TrainResult]:
    """Plain, option-A, option-B and highway nets on the first data set (every depth and seed)."""
    dataset = profile.datasets[0]
    chapter = plan(profile)
    sweep = [c for c in chapter["sweep"] if c.dataset == dataset]
    return runs.sweep([*sweep, *chapter["option B"], *chapter["highway"]], progress=progress)


def with_variant(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` (rows describing runs) with Chapter 1's name for each kind of shortcut in `variant`."""
    return frame.assign(variant=[variant(n, s) for n, s in zip(frame.net, frame.shortcut, strict=True)])


def parameter_table(profile: Profile, dataset: str) -> pd.DataFrame:
    """Parameters of each kind of net at each depth of the profile (the profile's widths, this data set)."""
    rows = {}
    for name, options in (("plain", {"residual": False}), ("residual (A)", {}),
                          ("residual (B)", {"shortcut": "B"}), ("highway", {"shortcut": "gated"})):
        rows[name] = {depth: count_parameters(config_for(profile, dataset, depth, **options).build_model())
                      for depth in profile.depths}
    return pd.DataFrame(rows).rename_axis("depth")


# ---- the claims

def parameter_fact() -> Fact:
    """Our residual and plain nets at width 16 on 3x32x32 input against Table 6 (arithmetic, not a claim)."""
    ours, matches = [], True
    for depth, paper_m in TABLE6_PARAMS_M.items():
        res = count_parameters(resnet(depth))
        plain = count_parameters(resnet(depth, residual=False))
        matches &= res == plain and round(res / 1e6, 2 if paper_m < 1 else 1) == paper_m
        ours.append(f"{res / 1e6:.3f}M")
    return Fact("params", HE2016, "Table 6", "Plain and residual twins have the parameters of Table 6",
                "0.27M / 0.46M / 0.66M / 0.85M / 1.7M for depths 20/32/44/56/110",
                " / ".join(ours) + " (plain = residual)", bool(matches))


def _rows(errors: pd.DataFrame, split: str, net: str, depth: int, shortcut: str = "A") -> pd.DataFrame:
    return per_seed.select(errors, split=split, net=net, depth=depth, shortcut=shortcut)


def _per_example(errors: pd.DataFrame, split: str, net: str, depth: int, shortcut: str = "A",
                 column: str = "wrong") -> dict[int, np.ndarray]:
    """seed -> that net's mistakes (or `column`: "loss") on `split` (one data set's `errors` rows; diverged runs
    have none)."""
    rows = _rows(errors, split, net, depth, shortcut)
    return per_seed.arrays(rows[rows.status != run_status.DIVERGED], column)


def _name(net: tuple) -> str:
    """(net, depth[, shortcut]) -> "plain-56", "residual-56-B"."""
    return "-".join(map(str, net))


def _count(errors: pd.DataFrame, nets: tuple, learned: tuple) -> run_status.Counted:
    """`run_status.count` of `nets` ((net, depth[, shortcut]) each) on their runs' statuses in `errors`; the
    nets in `learned` count only where they trained."""
    statuses = {_name(n): run_status.by_seed(_rows(errors, "train", *n)) for n in nets}
    return run_status.count(statuses, learned=[_name(n) for n in learned])


def _nothing_counted(counted: run_status.Counted, learned: tuple) -> str:
    why = "no net trained" if learned else "no seed has both nets measured"
    return f"{why}: {counted.says()}" if counted.left_out else why


def _join(parts: list[str]) -> str:
    return "; ".join(p for p in parts if p)


# Both residual nets below this training error (mean over seeds): they fit the training set, a floor for "training
# error falls with depth"
FIT_FLOOR = 0.01


def fit_floor(errors: pd.DataFrame, nets: tuple) -> str:
    """Why a claim about training error is not testable on `errors`' data set: every one of `nets` ((net, depth)
    each) ends below FIT_FLOOR training error on average over its seeds ("" when one does not)."""
    wrong = {_name(n): _per_example(errors, "train", *n) for n in nets}
    if not all(wrong.values()):
        return ""
    rates = {name: per_seed.mean(w) for name, w in wrong.items()}
    if all(r < FIT_FLOOR for r in rates.values()):
        said = ", ".join(f"{name} {100 * r:.1f} %" for name, r in rates.items())
        return (f"both nets fit the training set (training error {said}, mean over seeds; under "
                f"{100 * FIT_FLOOR:.0f} %): a floor, where the loss measures confidence rather than fitting")
    return ""


def error_gap(claim: Claim, dataset: str, errors: pd.DataFrame, split: str, worse: tuple, better: tuple,
              learned: tuple = (), states: tuple = (), column: str = "wrong", ratio: bool = False) -> Verdict:
    """The verdict on "error of `worse` minus error of `better`" ((net, depth[, shortcut]) each), seed by seed;
    `column="loss"` or `ratio`: the mean (loss or error) of `worse` over that of `better` instead.

    The two nets of a seed are measured on the same examples, so the bootstrap resamples them in pairs.
    `learned`: the nets that count only where they trained (`run_status.count`); the others count whatever
    their status, but not where they diverged (no final error: the detail says which seeds were left out).
    `states`: the nets whose classification, seed by seed, the detail states.
    """
    counted = _count(errors, (worse, better), learned)
    a, b = _per_example(errors, split, *worse, column=column), _per_example(errors, split, *better, column=column)
    pairs = {s: (a[s], b[s]) for s in counted.seeds}
    classified = [run_status.summary(_name(n), run_status.by_seed(_rows(errors, "train", *n)), every=True)
                  for n in states]
    if not pairs:
        return check(claim, dataset, [], detail=_join([_nothing_counted(counted, learned), *classified]),
                     failed=counted.failed)
    if column == "loss":
        detail = (f"{_name(worse)} {per_seed.mean(a, pairs):.4f}, {_name(better)} {per_seed.mean(b, pairs):.4f} "
                  f"({split} loss, mean of {len(pairs)} seeds)")
    else:
        detail = (f"{_name(worse)} {100 * per_seed.mean(a, pairs):.1f} %, {_name(better)} "
                  f"{100 * per_seed.mean(b, pairs):.1f} % ({split} error, mean of {len(pairs)} seeds)")
    statistic = per_seed.mean_ratio if ratio or column == "loss" else per_seed.mean_gap
    return check(claim, dataset, per_seed.measure(statistic, pairs),
                 detail=_join([detail, counted.says(), *classified]), failed=counted.failed)


def _response_stds(responses: pd.DataFrame, net: str, depth: int, trained: bool) -> dict[int, np.ndarray]:
    """seed -> the response std of each layer of that net, in layer order."""
    return per_seed.arrays(per_seed.select(responses, net=net, depth=depth, trained=trained), "std", along="layer")


def response_ratio(claim: Claim, dataset: str, responses: pd.DataFrame, top: tuple, bottom: tuple,
                   errors: pd.DataFrame, learned: tuple = ()) -> Verdict:
    """The verdict on "mean response std of `top` over that of `bottom`" ((net, depth) each), with its control.

    The units are layers: paired by position when the two nets have the same depth, resampled apart when not.
    Which seeds count is decided on the runs' statuses in `errors` (the data set's `mistakes`, which has every
    run): the nets in `learned` only where they trained, since what training does to the responses of a net
    that did not learn is no evidence either way; the others wherever they did not diverge (never probed).
    """
    counted = _count(errors, (top, bottom), learned)
    probed = set(_response_stds(responses, *top, True)) & set(_response_stds(responses, *bottom, True))
    seeds = [s for s in counted.seeds if s in probed]
    if not seeds:
        return check(claim, dataset, [], detail=_nothing_counted(counted, learned), failed=counted.failed)

    def ratio(trained: bool) -> list[stats.Measurement]:
        a, b = _response_stds(responses, *top, trained), _response_stds(responses, *bottom, trained)
        if top[1] == bottom[1]:  # paired by layer
            return per_seed.measure(lambda x, y: x.mean() / y.mean(), {s: (a[s], b[s]) for s in seeds})
        return [stats.combine(lambda x, y: x / y, stats.measure(np.mean, a[s], seed=1),
                              stats.measure(np.mean, b[s], seed=2)) for s in seeds]

    floor = scale_floor(responses, (top, bottom), seeds)
    return check(claim, dataset, ratio(True), ratio(False), detail=counted.says(), failed=counted.failed,
                 untestable=floor, learned_untestable=floor)


# He et al. read each response after batch norm, whose output's spread is its learned scale |gamma|, 1 at
# initialisation. Two nets whose mean |gamma| both lie within the square root of the negligible ratio of 1 have
# responses within the negligible ratio of each other whatever their architecture: training has not yet moved
# the statistic, and the untrained control is 1 by construction. A floor, so not testable; a rule added after
# the digits' and the Fashion-MNIST slice's ratios of 1.00-1.01 were seen (the claims' reasons say so).
SCALE_FLOOR = NEGLIGIBLE["ratio"] ** 0.5


def scale_floor(responses: pd.DataFrame, nets: tuple, seeds: list[int]) -> str:
    """Why a layer-response claim is not testable: every one of `nets` ((net, depth) each) has a mean batch-norm
    scale (its response layers', trained, over `seeds`) within `SCALE_FLOOR` of 1; "" otherwise."""
    if "scale" not in responses:
        return ""
    scales = {}
    for net, depth in nets:
        rows = per_seed.select(responses, net=net, depth=depth, trained=True)
        scales[_name((net, depth))] = float(rows[rows.seed.isin(seeds)].scale.mean())
    if not all(1 / SCALE_FLOOR < s < SCALE_FLOOR for s in scales.values()):  # NaN (no batch norm) is not a floor
        return ""
    said = ", ".join(f"{name} {s:.3f}" for name, s in scales.items())
    return (f"the batch-norm scales that set each response's spread have not moved from their initial 1 (mean "
            f"|gamma| {said}; within {SCALE_FLOOR:.3f}): a floor, where the responses cannot yet differ by the "
            "smallest effect that counts")


def verdicts(errors: pd.DataFrame, responses: pd.DataFrame) -> list[Verdict]:
    """The degradation and response claims for every data set (frames of `mistakes` and `responses`)."""
    out = []
    for dataset, err in errors.groupby("dataset", sort=False):
        resp = responses[responses.dataset == dataset]
        depths = sorted(err.depth.unique())
        lo, hi = int(depths[0]), int(depths[-1])
        plain_hi, plain_lo, res_hi, res_lo = ("plain", hi), ("plain", lo), ("residual", hi), ("residual", lo)
        # He et al.'s Fig. 7 compares nets that all trained; at the deepest depth our plain nets may not
        compared = compared_depth(depths)
        res_ref = ("residual", 20 if 20 in depths and hi != 20 else lo)  # Table 6's shallowest is ResNet-20
        out += [
            # deep plain nets that train badly are the effect itself: every one counts, its status is stated; the
            # reference net must have trained (two nets at chance would show no gap: a false "contradicted")
            error_gap(CLAIMS["degradation"], dataset, err, "train", plain_hi, plain_lo, states=(plain_hi,),
                      learned=(plain_lo,)),
            error_gap(CLAIMS["residual_beats_plain"], dataset, err, "train", plain_hi, res_hi, learned=(res_hi,)),
            # trends of residual nets with depth are about nets that learned: both must have trained
            replace(error_gap(CLAIMS["residual_train_depth"], dataset, err, "train", res_hi, res_lo,
                              learned=(res_hi, res_lo), column="loss"), untestable=fit_floor(err, (res_hi, res_lo))),
            error_gap(CLAIMS["residual_test_depth"], dataset, err, "test", res_hi, res_ref,
                      learned=(res_hi, res_ref), ratio=True),
            # Fig. 7's plain nets train worse but do train: a plain net that did not train would make the ratio
            # measure how the residual net changed, so both must have trained
            response_ratio(CLAIMS["responses_smaller"], dataset, resp, ("plain", compared), ("residual", compared),
                           err, learned=(("plain", compared), ("residual", compared))),
            response_ratio(CLAIMS["responses_depth"], dataset, resp, res_lo, res_hi, err, learned=(res_lo, res_hi)),
        ]
    return out


def shortcut_verdicts(errors: pd.DataFrame) -> list[Verdict]:
    """Option B and highway shortcuts against option A, at `compared_depth` (`mistakes` of `shortcut_runs`)."""
    dataset, depth = errors.dataset.iloc[0], compared_depth(errors.depth.unique())
    b, a, highway = ("residual", depth, "B"), ("residual", depth, "A"), ("highway", depth, "gated")
    return [
        # "about the same" holds trivially between two nets that did not learn: both must have trained
        error_gap(CLAIMS["option_b"], dataset, errors, "test", b, a, learned=(b, a)),
        # a gated net that trains worse is the effect: every run counts; the identity net must have trained
        error_gap(CLAIMS["highway_worse"], dataset, errors, "test", highway, a, learned=(a,), ratio=True),
    ]


# Why a claim may not hold at a small profile (`claims.reading` adds the one for each claim that did not hold)
LIKELY_REASONS = {
    "responses_depth": "He et al. read the responses after batch norm, whose output's spread is its learned scale "
                       "|gamma|: after 15 epochs the scales have moved a few per cent from 1 (residual-8 about "
                       "1.07, residual-56 0.99 on the digits), where He et al.'s settled over 64,000 iterations",
    "residual_test_depth": "a few hundred to a thousand test images (and 1,000-1,437 training ones) pin down a "
                           "deep net's test error far less than CIFAR-10's 10,000 test and 50,000 augmented "
                           "training images do",
    "highway_worse": "some seeds' gated nets train as well as the identity ones and others far worse: the mean "
                     "over 6 seeds is not yet sure",
    "option_b": "an equivalence needs an interval inside ± 1 point; at this spread it needs more seeds (detail)",
}


# ---- the figures


def training_curves(history: pd.DataFrame, dataset: str) -> plt.Figure:
    """He et al. Fig. 6 analogue: error per epoch, training dashed and test solid, one colour per depth (the
    mean over seeds). A run that did not train has an x at its last training error; one that diverged, a dagger
    at the top above the last epoch it completed (`plots.mark_failed`)."""
    h = history[history.dataset == dataset]
    long = h.melt(id_vars=["net", "depth", "seed", "epoch"], value_vars=["train_err", "test_err"],
                  var_name="split", value_name="error")
    long["error"] *= 100
    long["split"] = long.split.map({"train_err": "train", "test_err": "test"})
    depths = sorted(h.depth.unique())
    colours = dict(zip(depths, sns.color_palette("viridis", len(depths)), strict=True))
    ends = h.groupby(["net", "label", "seed"], sort=False).tail(1)  # each run's last epoch
    ends = ends.assign(error=100 * ends.train_err)
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), sharey=True)
    marked = set()
    for ax, net in zip(axes, ("plain", "residual"), strict=True):
        sns.lineplot(data=long[long.net == net], x="epoch", y="error", hue="depth", hue_order=depths,
                     palette=colours, style="split", style_order=["test", "train"],
                     dashes={"test": "", "train": (4, 2)}, errorbar=None, ax=ax)
        mine = ends[ends.net == net]
        marked |= plots.mark_failed(ax, mine, "epoch", "error", [colours[d] for d in mine.depth])
        ax.set_title(f"{net} nets ({dataset})")
        ax.set_ylabel("error (%)")
        ax.set_ylim(0, min(100, long.error.max() + 5))
    axes[0].get_legend().remove()
    plots.legend_failed(axes[1], marked)
    sns.move_legend(axes[1], "upper left", bbox_to_anchor=(1, 1), frameon=False)
    fig.tight_layout()
    return fig


def _long_errors(finals: pd.DataFrame, *columns: str) -> pd.DataFrame:
    """`finals` with one row per (run, split): `split` train or test, `error` in percent, and `columns`."""
    keep = [c for c in ("status", *columns) if c in finals]
    long = finals.melt(id_vars=keep, value_vars=["train_err", "test_err"], var_name="split", value_name="error")
    return long.assign(error=100 * long.error, split=long.split.map({"train_err": "train", "test_err": "test"}))


def error_vs_depth(finals: pd.DataFrame) -> plt.Figure:
    """Final training and test error against depth, mean ± std over seeds, one panel per data set. Each run that
    did not train is an x at its own errors; each that diverged, a dagger at the top (`plots.mark_failed`)."""
    long = _long_errors(finals, "dataset", "net", "depth", "seed")
    datasets = list(dict.fromkeys(long.dataset))
    fig, axes = plt.subplots(1, len(datasets), figsize=(5.2 * len(datasets), 3.8), squeeze=False)
    marked = set()
    for ax, dataset in zip(axes[0], datasets, strict=True):
        one = long[long.dataset == dataset]
        sns.lineplot(data=one, x="depth", y="error", hue="net", style="split", style_order=["test", "train"],
                     dashes={"test": "", "train": (4, 2)}, markers=plots.series_markers(["test", "train"]),
                     palette=NET_COLOURS, errorbar="sd", err_style="bars", ax=ax)
        marked |= plots.mark_failed(ax, one, "depth", "error", [NET_COLOURS.get(n, "k") for n in one.net])
        ax.set_title(dataset)
        ax.set_ylabel("final error (%)")
        ax.set_xticks(sorted(one.depth.unique()))
        ax.set_ylim(bottom=0)
        if ax is not axes[0][-1]:
            ax.get_legend().remove()
    plots.legend_failed(axes[0][-1], marked)
    sns.move_legend(axes[0][-1], "upper left", bbox_to_anchor=(1, 1), frameon=False)
    fig.tight_layout()
    return fig


def _net_order(column: pd.Series) -> pd.Series:
    return column.map({"plain": 0, "residual": 1}) if column.name == "net" else column


def layer_responses(responses: pd.DataFrame, dataset: str) -> plt.Figure:
    """He et al. Fig. 7 analogue: std of each 3x3 layer's response, in network order and sorted."""
    r = responses[(responses.dataset == dataset) & responses.trained]
    r = r.assign(curve=r.net + "-" + r.depth.astype(str))  # the legend's names, made from the fields
    nets = r.drop_duplicates("curve").sort_values(["net", "depth"], key=_net_order)
    order = list(nets.curve)
    palette = dict(zip(nets.curve, nets.net.map(NET_COLOURS), strict=True))
    dashes = dict(zip(nets.curve, ["" if d == r.depth.max() else (3, 2) for d in nets.depth], strict=True))
    fig, axes = plt.subplots(2, 1, figsize=(9, 5.6))
    for ax, x, title in ((axes[0], "layer", "in network order"), (axes[1], "rank", "sorted by magnitude")):
        sns.lineplot(data=r, x=x, y="std", hue="curve", hue_order=order, palette=palette,
                     style="curve", dashes=dashes, errorbar=None, ax=ax)
        ax.set_ylabel("std of response")
        ax.set_title(f"layer responses ({dataset}), {title}", fontsize=10)
        ax.set_xlabel("layer index" if x == "layer" else "layer, sorted by std")
    axes[1].get_legend().remove()
    sns.move_legend(axes[0], "upper left", bbox_to_anchor=(1, 1), frameon=False, title="net")
    fig.tight_layout()
    return fig


SHORTCUT_COLOURS = {"plain": "#c44e52", "residual (A)": "#4c72b0", "residual (B)": "#55a868", "highway": "#8172b2"}


def shortcuts(finals: pd.DataFrame, title: str) -> plt.Figure:
    """Final training and test error against depth for each kind of shortcut (column `variant`), mean ± std; the
    runs that did not train or diverged marked as in `error_vs_depth`."""
    fig, axes = plt.subplots(1, 2, figsize=(10.4, 3.8), sharey=True)
    marked = set()
    for ax, split in zip(axes, ("train_err", "test_err"), strict=True):
        frame = finals.assign(error=finals[split] * 100)
        sns.lineplot(data=frame, x="depth", y="error", hue="variant", hue_order=list(SHORTCUT_COLOURS),
                     palette=SHORTCUT_COLOURS, markers=plots.series_markers(list(SHORTCUT_COLOURS)),
                     style="variant", dashes=False, errorbar="sd",
                     err_style="bars", ax=ax)
        marked |= plots.mark_failed(ax, frame, "depth", "error", [SHORTCUT_COLOURS.get(v, "k") for v in frame.variant])
        ax.set_title(f"{'training' if split == 'train_err' else 'test'} error")
        ax.set_ylabel("final error (%)")
        ax.set_xticks(sorted(frame.depth.unique()))
        ax.set_ylim(bottom=0)
    axes[0].get_legend().remove()
    plots.legend_failed(axes[1], marked)
    sns.move_legend(axes[1], "upper left", bbox_to_anchor=(1, 1), frameon=False)
    fig.suptitle(title, y=1.02)
    fig.tight_layout()
    return fig
