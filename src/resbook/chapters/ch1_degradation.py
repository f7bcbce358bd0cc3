"""Chapter 1, plain vs residual (He et al. 2016): the degradation problem, layer responses, other shortcuts.

The notebook `book/01_plain_vs_residual.ipynb` calls, in order: `train_sweep` (plain and residual nets at
every depth), `mistakes` (which examples each net gets wrong, for the claims' intervals), `responses`
(He et al.'s Fig. 7 probe, trained and untrained), `shortcut_runs` and `parameter_table` (options A/B,
highway gates), then `verdicts` and `shortcut_verdicts`; each figure is one of the functions at the end.
"""

from __future__ import annotations

from dataclasses import replace

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from .. import data, per_seed, probes, runs, stats
from ..claims import Claim, Direction, Fact, Verdict, check, declare
from ..models import NetKind, count_parameters, resnet
from ..papers import HE2016, HE2016B, TABLE6_PARAMS_M
from ..plots import NET_COLOURS
from ..profiles import Profile
from ..train import TRAIN_EVAL_EXAMPLES, TrainConfig, TrainResult, config_for

NOTEBOOK = "01_plain_vs_residual"
# A net "trained" when its final training error is at most this: a claim of no difference (or of no rise)
# is only evidence between nets that learned; two nets at chance would pass it
TRAINED_ERR = 0.05

# Thresholds in the units of each statistic; each with its reason (see /reproduction targets and the papers)
CLAIMS = declare(
    Claim("degradation", HE2016, "Fig. 1, Fig. 6 left", "Deeper plain nets have higher training error",
          "plain-56 trains worse than plain-20; plain-110 above 60 %",
          "train error, deepest minus shallowest plain net", Direction.ABOVE, 0.02,
          "He et al.'s plain-56 trains several points worse than plain-20; 2 points is less than that and "
          "more than our seed-to-seed spread", points=True),
    Claim("residual_beats_plain", HE2016, "Fig. 6", "At the same depth, the residual net trains better",
          "ResNet-56 6.97 % test error; plain-56 far worse",
          "train error at the deepest depth, plain minus residual", Direction.ABOVE, 0.02,
          "the same size as the degradation that counts", points=True),
    Claim("residual_train_depth", HE2016, "Fig. 6 middle", "Residual nets' training error falls with depth",
          "training error falls from 20 to 110 layers",
          "train error, deepest minus shallowest residual net (seeds whose shallow net trained)", Direction.BELOW,
          -0.005, "Fig. 6 (middle): the deeper residual nets end lower; half a point, the size of Table 6's "
          "smaller steps between depths, counts", points=True),
    Claim("residual_test_depth", HE2016, "Table 6", "Residual nets' test error falls with depth",
          "8.75 / 7.51 / 7.17 / 6.97 / 6.43 % for 20/32/44/56/110",
          "test error, deepest minus shallowest residual net (seeds whose shallow net trained)", Direction.BELOW,
          -0.005,
          "Table 6 falls 1.8 points from 20 to 56 layers; a quarter of that counts", points=True),
    Claim("responses_smaller", HE2016, "Fig. 7", "Layer responses are smaller in residual than in plain nets",
          "std of 3x3 layer outputs lower for ResNets at every depth",
          "mean layer-response std at the deepest depth, plain over residual", Direction.ABOVE, 1.1,
          "Fig. 7's residual curves lie clearly below the plain ones; 10 % beyond the untrained pair",
          control="the same two nets untrained", versus_control="ratio"),
    Claim("responses_depth", HE2016, "Fig. 7", "Deeper residual nets have smaller layer responses",
          "ResNet-110 below ResNet-56 below ResNet-20",
          "mean layer-response std, shallowest over deepest residual net (seeds whose two nets trained)",
          Direction.ABOVE, 1.1,
          "Fig. 7 orders the residual nets by depth; 10 % beyond the untrained pair",
          control="the same two nets untrained", versus_control="ratio"),
    Claim("option_b", HE2016, "Table 3 (ImageNet)", "Projection shortcuts (option B) are only marginally better",
          "ResNet-34 top-1 error 25.03 % with A, 24.52 % with B: projections are not essential",
          "test error at the deepest depth, option B minus option A (seeds whose A net trained)", Direction.WITHIN,
          0.01, "He et al. call B's 0.5-point gain marginal; within twice that is about the same", points=True),
    Claim("highway_worse", HE2016B, "Table 1", "Gated (highway) shortcuts do worse than identity shortcuts",
          "ResNet-110 with exclusive gating 8.70 % test error; identity 6.61 %",
          "test error at the deepest depth, highway minus identity (A)", Direction.ABOVE, 0.01,
          "He et al. 2016b find +2.1 points; half of that counts", points=True),
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
    """The data sets this chapter shows: the profile's, then its real-image one (if any)."""
    return [*profile.datasets, *([profile.image_dataset] if profile.image_dataset else [])]


def plan(profile: Profile) -> dict[str, list[TrainConfig]]:
    """Plain and residual nets at every depth and data set (and on real images where the profile has them);
    options B and highway gates on the first data set."""
    first = [profile.datasets[0]]
    return {"sweep": runs.grid(profile, nets=(False, True)) + image_sweep(profile),
            "option B": runs.grid(profile, datasets=first, shortcut="B"),
            "highway": runs.grid(profile, datasets=first, shortcut="gated")}


def train_sweep(profile: Profile, *, progress: bool = True) -> list[TrainResult]:
    """The plain/residual sweep, trained where the run cache lacks it."""
    return runs.sweep(plan(profile)["sweep"], progress=progress)


def responses(results: list[TrainResult]) -> pd.DataFrame:
    """He et al.'s Fig. 7 probe on every run (all seeds), trained and untrained (`trained` column).

    One row per (run, 3x3 layer). The untrained net is the run's initialisation with BN statistics of the
    training data (`probes.untrained`): the control for what the architecture alone does to the responses.
    """
    trained = probes.response_frame(results).assign(trained=True)
    initial = [replace(r, model=probes.untrained(r.config, data.load(r.config.dataset).train_x[:1000]))
               for r in results]
    return pd.concat([trained, probes.response_frame(initial).assign(trained=False)], ignore_index=True)


def mistakes(results: list[TrainResult]) -> pd.DataFrame:
    """Which examples each run gets wrong: one row per (run, split) with the bool array `wrong`.

    The claims resample these examples (paired across nets) for the interval of a single seed. The train
    split is the one training error is measured on (the first `train.TRAIN_EVAL_EXAMPLES`).
    """
    rows = []
    for r in results:
        ds = data.load(r.config.dataset)
        n = TRAIN_EVAL_EXAMPLES
        for split, (x, y) in (("train", (ds.train_x[:n], ds.train_y[:n])), ("test", (ds.test_x, ds.test_y))):
            rows.append({**runs.describe(r), "split": split, "wrong": probes.mistakes(r.model, x, y)})
    return pd.DataFrame(rows)


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


def _wrong(errors: pd.DataFrame, split: str, net: str, depth: int, shortcut: str = "A") -> dict[int, np.ndarray]:
    """seed -> the mistakes of that net on `split` (one data set's `errors` rows)."""
    return per_seed.arrays(per_seed.select(errors, split=split, net=net, depth=depth, shortcut=shortcut), "wrong")


def error_gap(claim: Claim, dataset: str, errors: pd.DataFrame, split: str, worse: tuple, better: tuple,
              guarded: bool = False) -> Verdict:
    """The verdict on "error of `worse` minus error of `better`" ((net, depth[, shortcut]) each), seed by seed.

    The two nets of a seed are measured on the same examples, so the bootstrap resamples them in pairs.
    `guarded`: only seeds whose `better` net trained (training error <= TRAINED_ERR) count.
    """
    a, b = _wrong(errors, split, *worse), _wrong(errors, split, *better)
    pairs = per_seed.together(a, b)
    if guarded:
        reference = _wrong(errors, "train", *better)
        pairs = {s: pair for s, pair in pairs.items() if reference[s].mean() <= TRAINED_ERR}
        if not pairs:
            return check(claim, dataset, [], detail=f"no net trained: {'-'.join(map(str, better))} is above "
                                                    f"{100 * TRAINED_ERR:.0f} % training error on every seed")
    name = lambda key: "-".join(map(str, key))  # noqa: E731
    detail = (f"{name(worse)} {100 * per_seed.mean(a, pairs):.1f} %, {name(better)} "
              f"{100 * per_seed.mean(b, pairs):.1f} % ({split} error, mean of {len(pairs)} seeds)")
    return check(claim, dataset, per_seed.measure(per_seed.mean_gap, pairs), detail=detail)


def _response_stds(responses: pd.DataFrame, net: str, depth: int, trained: bool) -> dict[int, np.ndarray]:
    """seed -> the response std of each layer of that net, in layer order."""
    return per_seed.arrays(per_seed.select(responses, net=net, depth=depth, trained=trained), "std", along="layer")


def response_ratio(claim: Claim, dataset: str, responses: pd.DataFrame, top: tuple, bottom: tuple,
                   errors: pd.DataFrame | None = None) -> Verdict:
    """The verdict on "mean response std of `top` over that of `bottom`" ((net, depth) each), with its control.

    The units are layers: paired by position when the two nets have the same depth, resampled apart when not.
    With `errors` (the data set's `mistakes`), only seeds whose two nets trained (training error <= TRAINED_ERR)
    count: what training does to the responses of nets that did not learn is no evidence either way.
    """
    seeds = sorted(_response_stds(responses, *top, True))
    if errors is not None:
        nets = (top, bottom)
        seeds = [s for s in seeds if all(_wrong(errors, "train", *net)[s].mean() <= TRAINED_ERR for net in nets)]
        if not seeds:
            names = " and ".join("-".join(map(str, n)) for n in nets)
            return check(claim, dataset, [], detail=f"no net trained: on no seed are both {names} at or below "
                                                    f"{100 * TRAINED_ERR:.0f} % training error")

    def ratio(trained: bool) -> list[stats.Measurement]:
        a, b = _response_stds(responses, *top, trained), _response_stds(responses, *bottom, trained)
        if top[1] == bottom[1]:  # paired by layer
            return per_seed.measure(lambda x, y: x.mean() / y.mean(), {s: (a[s], b[s]) for s in seeds})
        return [stats.combine(lambda x, y: x / y, stats.measure(np.mean, a[s], seed=1),
                              stats.measure(np.mean, b[s], seed=2)) for s in seeds]

    return check(claim, dataset, ratio(True), ratio(False))


def verdicts(errors: pd.DataFrame, responses: pd.DataFrame) -> list[Verdict]:
    """The degradation and response claims for every data set (frames of `mistakes` and `responses`)."""
    out = []
    for dataset, err in errors.groupby("dataset", sort=False):
        resp = responses[responses.dataset == dataset]
        lo, hi = int(err.depth.min()), int(err.depth.max())
        out += [
            error_gap(CLAIMS["degradation"], dataset, err, "train", ("plain", hi), ("plain", lo)),
            error_gap(CLAIMS["residual_beats_plain"], dataset, err, "train", ("plain", hi), ("residual", hi)),
            error_gap(CLAIMS["residual_train_depth"], dataset, err, "train", ("residual", hi), ("residual", lo),
                      guarded=True),
            error_gap(CLAIMS["residual_test_depth"], dataset, err, "test", ("residual", hi), ("residual", lo),
                      guarded=True),
            response_ratio(CLAIMS["responses_smaller"], dataset, resp, ("plain", hi), ("residual", hi)),
            response_ratio(CLAIMS["responses_depth"], dataset, resp, ("residual", lo), ("residual", hi), err),
        ]
    return out


def shortcut_verdicts(errors: pd.DataFrame) -> list[Verdict]:
    """Option B and highway shortcuts against option A, at the deepest depth (`mistakes` of `shortcut_runs`)."""
    dataset, deepest = errors.dataset.iloc[0], int(errors.depth.max())
    return [
        error_gap(CLAIMS["option_b"], dataset, errors, "test", ("residual", deepest, "B"), ("residual", deepest, "A"),
                  guarded=True),
        error_gap(CLAIMS["highway_worse"], dataset, errors, "test", ("highway", deepest, "gated"),
                  ("residual", deepest, "A")),
    ]


# ---- the figures


def training_curves(history: pd.DataFrame, dataset: str) -> plt.Figure:
    """He et al. Fig. 6 analogue: error per epoch, training dashed and test solid, one colour per depth."""
    h = history[history.dataset == dataset]
    long = h.melt(id_vars=["net", "depth", "seed", "epoch"], value_vars=["train_err", "test_err"],
                  var_name="split", value_name="error")
    long["error"] *= 100
    long["split"] = long.split.map({"train_err": "train", "test_err": "test"})
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), sharey=True)
    for ax, net in zip(axes, ("plain", "residual"), strict=True):
        sns.lineplot(data=long[long.net == net], x="epoch", y="error", hue="depth", style="split",
                     style_order=["test", "train"], dashes={"test": "", "train": (4, 2)},
                     palette="viridis", errorbar=None, ax=ax)
        ax.set_title(f"{net} nets ({dataset})")
        ax.set_ylabel("error (%)")
        ax.set_ylim(0, min(100, long.error.max() + 5))
    axes[0].get_legend().remove()
    sns.move_legend(axes[1], "upper left", bbox_to_anchor=(1, 1), frameon=False)
    fig.tight_layout()
    return fig


def error_vs_depth(finals: pd.DataFrame) -> plt.Figure:
    """Final training and test error against depth, mean ± std over seeds, one panel per data set."""
    long = finals.melt(id_vars=["dataset", "net", "depth", "seed"], value_vars=["train_err", "test_err"],
                       var_name="split", value_name="error")
    long["error"] *= 100
    long["split"] = long.split.map({"train_err": "train", "test_err": "test"})
    datasets = list(dict.fromkeys(long.dataset))
    fig, axes = plt.subplots(1, len(datasets), figsize=(5.2 * len(datasets), 3.8), squeeze=False)
    for ax, dataset in zip(axes[0], datasets, strict=True):
        one = long[long.dataset == dataset]
        sns.lineplot(data=one, x="depth", y="error", hue="net", style="split",
                     style_order=["test", "train"], dashes={"test": "", "train": (4, 2)}, markers=True,
                     palette=NET_COLOURS, errorbar="sd", err_style="bars", ax=ax)
        ax.set_title(dataset)
        ax.set_ylabel("final error (%)")
        ax.set_xticks(sorted(one.depth.unique()))
        ax.set_ylim(bottom=0)
        if ax is not axes[0][-1]:
            ax.get_legend().remove()
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
    """Final training and test error against depth for each kind of shortcut (column `variant`), mean ± std."""
    fig, axes = plt.subplots(1, 2, figsize=(10.4, 3.8), sharey=True)
    for ax, split in zip(axes, ("train_err", "test_err"), strict=True):
        frame = finals.assign(error=finals[split] * 100)
        sns.lineplot(data=frame, x="depth", y="error", hue="variant", hue_order=list(SHORTCUT_COLOURS),
                     palette=SHORTCUT_COLOURS, markers=True, style="variant", dashes=False, errorbar="sd",
                     err_style="bars", ax=ax)
        ax.set_title(f"{'training' if split == 'train_err' else 'test'} error")
        ax.set_ylabel("final error (%)")
        ax.set_xticks(sorted(frame.depth.unique()))
        ax.set_ylim(bottom=0)
    axes[0].get_legend().remove()
    sns.move_legend(axes[1], "upper left", bbox_to_anchor=(1, 1), frameon=False)
    fig.suptitle(title, y=1.02)
    fig.tight_layout()
    return fig
