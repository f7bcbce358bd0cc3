"""Chapter 1, plain vs residual (He et al. 2016): the degradation problem, layer responses, other shortcuts.

The notebook `book/01_plain_vs_residual.ipynb` calls, in order: `train_sweep` (plain and residual nets at
every depth), `responses` (He et al.'s Fig. 7 probe), `shortcut_runs` and `parameter_table` (options A/B,
highway gates), then `verdicts`; each figure is one of the functions at the end.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from .. import probes, runs
from ..claims import Claim, Verdict, declare, pct
from ..models import NetKind, count_parameters, resnet
from ..papers import HE2016, HE2016B, TABLE6_PARAMS_M
from ..plots import NET_COLOURS
from ..profiles import Profile
from ..train import TrainConfig, TrainResult, config_for

NOTEBOOK = "01_plain_vs_residual"
# A difference in error rate smaller than this (2 percentage points) is treated as no difference.
ERROR_MARGIN = 0.02

CLAIMS = declare(
    Claim("params", HE2016, "Table 6", "Plain and residual twins have the parameters of Table 6",
                         "0.27M / 0.46M / 0.66M / 0.85M / 1.7M for depths 20/32/44/56/110"),
    Claim("degradation", HE2016, "Fig. 1, Fig. 6 left", "Deeper plain nets have higher training error",
                              "plain-56 trains worse than plain-20; plain-110 above 60 %"),
    Claim("residual_beats_plain", HE2016, "Fig. 6", "At the same depth, the residual net trains better",
                                       "ResNet-56 6.97 % test error; plain-56 far worse"),
    Claim("residual_train_depth", HE2016, "Fig. 6 middle",
                                       "Residual nets' training error does not grow with depth",
                                       "training error falls from 20 to 110 layers"),
    Claim("residual_test_depth", HE2016, "Table 6", "Residual nets' test error falls with depth",
                                      "8.75 / 7.51 / 7.17 / 6.97 / 6.43 % for 20/32/44/56/110"),
    Claim("responses_smaller", HE2016, "Fig. 7", "Layer responses are smaller in residual than in plain nets",
                                    "std of 3x3 layer outputs lower for ResNets at every depth"),
    Claim("responses_depth", HE2016, "Fig. 7", "Deeper residual nets have smaller layer responses",
                                  "ResNet-110 below ResNet-56 below ResNet-20"),
    Claim("option_b", HE2016, "Table 3 (ImageNet)", "Projection shortcuts (option B) are only marginally better",
                           "ResNet-34 top-1 error 25.03 % with A, 24.52 % with B: projections are not essential"),
    Claim("highway_worse", HE2016B, "Table 1", "Gated (highway) shortcuts do worse than identity shortcuts",
                                "ResNet-110 with exclusive gating 8.70 % test error; identity 6.61 %"),
)


# ---- the runs

def plan(profile: Profile) -> dict[str, list[TrainConfig]]:
    """Plain and residual nets at every depth and data set; options B and highway gates on the first data set."""
    first = [profile.datasets[0]]
    return {"sweep": runs.grid(profile, nets=(False, True)),
            "option B": runs.grid(profile, datasets=first, shortcut="B"),
            "highway": runs.grid(profile, datasets=first, shortcut="gated")}


def train_sweep(profile: Profile, *, progress: bool = True) -> list[TrainResult]:
    """The plain/residual sweep, trained where the run cache lacks it."""
    return runs.sweep(plan(profile)["sweep"], progress=progress)


def responses(results: list[TrainResult]) -> pd.DataFrame:
    """He et al.'s Fig. 7 probe on every run (all seeds): one row per (run, 3x3 layer)."""
    return probes.response_frame(results)


def variant(net: str, shortcut: str) -> str:
    """How Chapter 1 names a kind of shortcut: plain, residual (A), residual (B) or highway."""
    return f"residual ({shortcut})" if net == NetKind.RESIDUAL else net


def shortcut_runs(profile: Profile, *, progress: bool = True) -> pd.DataFrame:
    """Final metrics of plain, option-A, option-B and highway nets on the first data set, with `variant`."""
    dataset = profile.datasets[0]
    chapter = plan(profile)
    sweep = [c for c in chapter["sweep"] if c.dataset == dataset]
    frames = []
    for configs in (sweep, chapter["option B"], chapter["highway"]):
        frame = runs.final_frame(runs.sweep(configs, progress=progress))
        frame["variant"] = [variant(n, s) for n, s in zip(frame.net, frame.shortcut, strict=True)]
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def parameter_table(profile: Profile, dataset: str) -> pd.DataFrame:
    """Parameters of each kind of net at each depth of the profile (the profile's widths, this data set)."""
    rows = {}
    for name, options in (("plain", {"residual": False}), ("residual (A)", {}),
                          ("residual (B)", {"shortcut": "B"}), ("highway", {"shortcut": "gated"})):
        rows[name] = {depth: count_parameters(config_for(profile, dataset, depth, **options).build_model())
                      for depth in profile.depths}
    return pd.DataFrame(rows).rename_axis("depth")


# ---- the claims

def parameter_verdict() -> Verdict:
    """Our residual and plain nets at width 16 on 3x32x32 input against Table 6."""
    ours, holds = [], True
    for depth, paper_m in TABLE6_PARAMS_M.items():
        res = count_parameters(resnet(depth))
        plain = count_parameters(resnet(depth, residual=False))
        holds &= res == plain and round(res / 1e6, 2 if paper_m < 1 else 1) == paper_m
        ours.append(f"{res / 1e6:.3f}M")
    return Verdict(CLAIMS["params"], " / ".join(ours) + " (plain = residual)", holds)


def degradation_verdicts(finals: pd.DataFrame, responses: pd.DataFrame) -> list[Verdict]:
    """Chapter 1's claims for every data set in `finals` (one row per run) and `responses` (per layer)."""
    verdicts = [parameter_verdict()]
    for dataset, group in finals.groupby("dataset", sort=False):
        stats = group.groupby(["net", "depth"])[["train_err", "test_err"]].agg(["mean", "std"]).fillna(0.0)
        lo, hi = group.depth.min(), group.depth.max()

        def err(net: str, depth: int, split: str = "train_err", stats=stats) -> tuple[float, float]:
            return stats.loc[(net, depth), (split, "mean")], stats.loc[(net, depth), (split, "std")]

        p_lo, p_hi = err("plain", lo), err("plain", hi)
        r_lo, r_hi = err("residual", lo), err("residual", hi)
        t_lo, t_hi = err("residual", lo, "test_err"), err("residual", hi, "test_err")
        verdicts += [
            Verdict(CLAIMS["degradation"], f"train error plain-{lo} {pct(*p_lo)}, plain-{hi} {pct(*p_hi)}",
                    p_hi[0] > p_lo[0] + ERROR_MARGIN, dataset),
            Verdict(CLAIMS["residual_beats_plain"],
                    f"train error at depth {hi}: residual {pct(*r_hi)}, plain {pct(*p_hi)}",
                    r_hi[0] + ERROR_MARGIN < p_hi[0], dataset),
            Verdict(CLAIMS["residual_train_depth"],
                    f"train error residual-{lo} {pct(*r_lo)}, residual-{hi} {pct(*r_hi)}",
                    r_hi[0] <= r_lo[0] + ERROR_MARGIN / 2, dataset),
            Verdict(CLAIMS["residual_test_depth"], f"test error residual-{lo} {pct(*t_lo)}, residual-{hi} {pct(*t_hi)}",
                    t_hi[0] < t_lo[0], dataset),
        ]
        resp = responses[responses.dataset == dataset].groupby(["net", "depth"])["std"].mean()
        verdicts += [
            Verdict(CLAIMS["responses_smaller"],
                    f"mean std at depth {hi}: residual {resp['residual', hi]:.2f}, plain {resp['plain', hi]:.2f}",
                    resp["residual", hi] < resp["plain", hi], dataset),
            Verdict(CLAIMS["responses_depth"],
                    f"mean std residual-{lo} {resp['residual', lo]:.2f}, residual-{hi} {resp['residual', hi]:.2f}",
                    resp["residual", hi] < resp["residual", lo], dataset),
        ]
    return verdicts


def shortcut_verdicts(finals: pd.DataFrame) -> list[Verdict]:
    """Option B and highway shortcuts against option A, at the deepest depth of `finals` (one data set)."""
    dataset = finals.dataset.iloc[0]
    deepest = finals.depth.max()
    at = finals[finals.depth == deepest]
    mean = at.groupby("variant")[["train_err", "test_err"]].mean()
    std = at.groupby("variant")[["train_err", "test_err"]].std().fillna(0.0)

    def err(variant: str, split: str = "test_err") -> str:
        return pct(mean.loc[variant, split], std.loc[variant, split])

    a, b, gated = "residual (A)", "residual (B)", "highway"
    gap_b = mean.loc[b, "test_err"] - mean.loc[a, "test_err"]
    worse = [split for split in ("train_err", "test_err")
             if mean.loc[gated, split] > mean.loc[a, split] + ERROR_MARGIN]
    return [
        Verdict(CLAIMS["option_b"],
                f"test error at depth {deepest}: A {err(a)}, B {err(b)} ({gap_b * 100:+.1f} points)",
                abs(gap_b) <= ERROR_MARGIN, dataset),
        Verdict(CLAIMS["highway_worse"], f"at depth {deepest}: train error highway {err(gated, 'train_err')}, identity "
                f"{err(a, 'train_err')}; test error highway {err(gated)}, identity {err(a)}",
                bool(worse), dataset),
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
        sns.lineplot(data=long[long.dataset == dataset], x="depth", y="error", hue="net", style="split",
                     style_order=["test", "train"], dashes={"test": "", "train": (4, 2)}, markers=True,
                     palette=NET_COLOURS, errorbar="sd", err_style="bars", ax=ax)
        ax.set_title(dataset)
        ax.set_ylabel("final error (%)")
        ax.set_xticks(sorted(long.depth.unique()))
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
    r = responses[responses.dataset == dataset]
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
