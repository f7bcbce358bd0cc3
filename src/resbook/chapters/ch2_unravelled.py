"""Chapter 2, the unravelled view (Veit et al. 2016): a residual net as an ensemble of paths.

The notebook `book/02_unravelled_view.ipynb` calls, in order: `blocks` and `binomial_verdict` (counting
paths), `nets` (per data set, the runs of `dataset_plan`: Chapter 1's deepest residual net, the deepest
plain net that trained, and the residual net trained with short paths only), then one step per section:
`lesions` (one block deleted), `random_lesions` and `reorderings` (many blocks deleted or swapped),
`gradients` (the input gradient by path length) and `short_path_runs`; then `verdicts`. Each figure is
one of the functions at the end. Every frame carries the kind of net as data (column `net`, a `NetKind`
value) and a `label` for display only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
import torch

from .. import data, probes, runs
from ..claims import Claim, Verdict, declare, pct, spearman
from ..models import NetKind, blocks_per_stage
from ..papers import VEIT2016
from ..plots import NET_COLOURS
from ..profiles import Profile
from ..train import TrainConfig, TrainResult

NOTEBOOK = "02_unravelled_view"
# Veit et al. trained ResNet-110 (54 blocks) with 23 active blocks per mini-batch: the same share here.
VEIT_BLOCKS = 54
VEIT_ACTIVE_SHARE = 23 / VEIT_BLOCKS
# A plain net counts as trained below this training error (a failed net says nothing about deleting layers).
PLAIN_TRAINED_ERR = 0.05
# A difference in error rate smaller than this (2 percentage points) is treated as no difference.
ERROR_MARGIN = 0.02

CLAIMS = declare(
    Claim("paths_binomial", VEIT2016, "Sec. 3, Fig. 6a", "Path lengths are binomial: most are middle-length",
                                 "for 54 blocks, > 95 % of the 2^54 paths pass through 19 to 35 blocks"),
    Claim("lesion_residual", VEIT2016, "Fig. 3a", "Deleting one block barely changes a residual net's error",
                                  "ResNet-110: small increase for almost every block"),
    Claim("lesion_plain", VEIT2016, "Fig. 3b", "Deleting one layer of a plain net destroys it",
                               "VGG-15: any deletion gives about chance (90 %) error"),
    Claim("lesion_downsampling", VEIT2016, "Fig. 3a", "Downsampling blocks matter more than the others",
                                      "the error jumps somewhat at the downsampling blocks"),
    Claim("lesion_smooth", VEIT2016, "Fig. 5a", "Error rises smoothly with the number of deleted blocks",
                                "gradual rise, like removing members of an ensemble"),
    Claim("reorder_smooth", VEIT2016, "Fig. 5b", "Error rises smoothly as blocks are reordered",
                                 "gradual rise as Kendall's tau falls"),
    Claim("gradient_decay", VEIT2016, "Fig. 6b", "The gradient along one path falls fast with its length",
                                 "roughly exponential decay with k"),
    Claim("effective_paths", VEIT2016, "Fig. 6c", "Almost all gradient comes from short paths",
                                  "paths of 5 to 17 of 54 blocks (0.09n to 0.31n), 0.45 % of all paths"),
    Claim("short_paths_training", VEIT2016, "Sec. 5", "Training with short paths only gives about the same error",
                                       "about 5.96 % vs 6.10 % test error [values to check against the paper]"),
)


# ---- the runs

def blocks(depth: int) -> int:
    """Residual blocks of a net of this depth (three stages of (depth - 2) / 6 blocks)."""
    return 3 * blocks_per_stage(depth)


def active_branches(profile: Profile) -> int:
    """Branches that pass gradient in each mini-batch of short-path training: Veit et al.'s share of 23/54."""
    return max(1, round(VEIT_ACTIVE_SHARE * blocks(profile.deepest)))


def dataset_plan(profile: Profile, dataset: str) -> dict[str, list[TrainConfig]]:
    """On one data set: the deepest residual net (every seed), the plain nets of every depth (seed 0, from which
    `nets` takes the deepest one that trained), and the deepest residual net trained with short paths only."""
    one = {"datasets": [dataset]}
    deepest = [profile.deepest]
    return {"residual": runs.grid(profile, **one, depths=deepest),
            "plain": runs.grid(profile, **one, nets=(False,), seeds=profile.seeds[:1]),
            "short paths": runs.grid(profile, **one, depths=deepest, active_branches=active_branches(profile))}


def plan(profile: Profile) -> dict[str, list[TrainConfig]]:
    """`dataset_plan` of every data set of the profile, each role named with its data set."""
    return {f"{role} on {dataset}": configs for dataset in profile.datasets
            for role, configs in dataset_plan(profile, dataset).items()}


def deepest_plain_that_trains(results: list[TrainResult], max_train_err: float = PLAIN_TRAINED_ERR) -> TrainResult:
    """The deepest plain net that reached `max_train_err` (the deepest of all if none did)."""
    trained = [r for r in results if r.final["train_err"] <= max_train_err] or results
    return max(trained, key=lambda r: r.config.depth)


@dataclass(frozen=True)
class Nets:
    """Chapter 2's trained nets on one data set, and the test examples every probe runs on."""

    dataset: str
    residual: TrainResult  # seed 0 of the deepest residual net: the net every probe looks at
    plain: TrainResult  # the deepest plain net that trained (seed 0)
    normal: list[TrainResult]  # every seed of the deepest residual net, trained as usual
    short_paths: list[TrainResult]  # the same nets trained with short paths only
    x: torch.Tensor
    y: torch.Tensor


def nets(profile: Profile, dataset: str, *, progress: bool = True) -> Nets:
    """Chapter 2's runs on `dataset`, trained where the run cache lacks them."""
    chapter = dataset_plan(profile, dataset)
    normal = runs.sweep(chapter["residual"], progress=progress)
    plain = deepest_plain_that_trains(runs.sweep(chapter["plain"], progress=progress))
    short = runs.sweep(chapter["short paths"], progress=progress)
    test = data.load(dataset)
    return Nets(dataset, normal[0], plain, normal, short, test.test_x, test.test_y)


# ---- the study steps

def _describe(frame: pd.DataFrame, result: TrainResult) -> pd.DataFrame:
    config = result.config
    return frame.assign(dataset=config.dataset, net=config.kind.value, label=config.label, depth=config.depth)


def lesions(nets: Nets) -> pd.DataFrame:
    """`probes.single_lesions` on the residual and the plain net: one row per (net, deleted block), with
    `baseline`, the net's error with no block deleted (`probes.error_rate`)."""
    frames = [_describe(probes.single_lesions(r.model, nets.x, nets.y), r)
              .assign(baseline=probes.error_rate(r.model, nets.x, nets.y)) for r in (nets.residual, nets.plain)]
    return pd.concat(frames, ignore_index=True)


def random_lesions(profile: Profile, nets: Nets) -> pd.DataFrame:
    """`probes.random_lesions` on the residual net, `profile.draws` draws of k blocks for every k."""
    return _describe(probes.random_lesions(nets.residual.model, nets.x, nets.y, draws=profile.draws), nets.residual)


def reorderings(profile: Profile, nets: Nets) -> pd.DataFrame:
    """`probes.random_reorderings` on the residual net, half as many draws per number of swaps as lesions."""
    frame = probes.random_reorderings(nets.residual.model, nets.x, nets.y, draws=max(1, profile.draws // 2))
    return _describe(frame, nets.residual)


def gradients(profile: Profile, nets: Nets) -> tuple[pd.DataFrame, dict[str, float]]:
    """`probes.gradient_by_length` on the residual net and the first `profile.probe_batch` test examples:
    one row per path length k, and the seconds the exact and the sampled decomposition took."""
    batch = profile.probe_batch
    frame, timings = probes.gradient_by_length(nets.residual.model, nets.x[:batch], nets.y[:batch],
                                               samples=profile.path_samples)
    return _describe(frame, nets.residual), timings


def effective_range(gradients: pd.DataFrame) -> tuple[int, int]:
    """The shortest range of path lengths holding 90 % of the exact gradient (one data set's rows)."""
    return probes.effective_range(gradients.exact_total.to_numpy())


def short_path_runs(nets: Nets) -> pd.DataFrame:
    """Final metrics of the residual nets trained normally and with short paths only (column `training`)."""
    results = nets.normal + nets.short_paths
    frame = runs.final_frame(results)
    frame["training"] = ["short paths" if r.config.active_branches else "normal" for r in results]
    return frame


# ---- the claims

def share_of_paths(n: int, lo: int, hi: int) -> float:
    """The share of the 2^n paths of an n-block net whose length is between lo and hi."""
    return sum(math.comb(n, k) for k in range(lo, hi + 1)) / 2**n


def binomial_verdict(n: int = VEIT_BLOCKS, lo: int = 19, hi: int = 35) -> Verdict:
    """Veit et al.'s count of middle-length paths for 54 blocks, computed exactly."""
    share = share_of_paths(n, lo, hi)
    return Verdict(CLAIMS["paths_binomial"],
                   f"{100 * share:.1f} % of the 2^{n} paths have length {lo}-{hi} (exact count)", share > 0.95)


def verdicts(lesions: pd.DataFrame, random: pd.DataFrame, reorder: pd.DataFrame, gradients: pd.DataFrame,
             short_paths: pd.DataFrame) -> list[Verdict]:
    """The path count, then Chapter 2's claims for every data set in `lesions` (see `dataset_verdicts`)."""
    found = [binomial_verdict()]
    for dataset in dict.fromkeys(lesions.dataset):
        found += dataset_verdicts(dataset, *(f[f.dataset == dataset]
                                             for f in (lesions, random, reorder, gradients, short_paths)))
    return found


def dataset_verdicts(
    dataset: str,
    lesions: pd.DataFrame,
    random: pd.DataFrame,
    reorder: pd.DataFrame,
    gradients: pd.DataFrame,
    short_paths: pd.DataFrame,
) -> list[Verdict]:
    """Chapter 2's claims on one data set, from the frames of the study steps (that data set's rows).

    lesions: `lesions` rows of one residual and one plain net (column `net`); random / reorder: rows of the
    residual net; gradients: one row per path length k; short_paths: `short_path_runs` rows.
    """
    res = lesions[lesions.net == NetKind.RESIDUAL.value].assign(rise=lambda f: f.error - f.baseline)
    plain = lesions[lesions.net == NetKind.PLAIN.value]
    n = len(res)
    by_k = random.groupby("k").error.mean()
    steps = by_k.diff().dropna()
    total_rise = by_k.iloc[-1] - by_k.iloc[0]
    rise_down = res[res.downsample].rise.mean()
    rise_other = res[~res.downsample].rise.mean()
    slope = np.polyfit(gradients.k, np.log(gradients.path_norm), 1)[0]
    decay = gradients.path_norm.iloc[-1] / gradients.path_norm.iloc[0]
    lo, hi = effective_range(gradients)
    normal = short_paths[short_paths.training == "normal"].test_err
    short = short_paths[short_paths.training == "short paths"].test_err
    rho_reorder = spearman(reorder.tau, reorder.error)
    return [
        # "barely changes": a median rise under 2.5 error margins (5 points)
        Verdict(CLAIMS["lesion_residual"], f"{res.label.iloc[0]}: median rise {100 * res.rise.median():.1f} points, "
                f"largest {100 * res.rise.max():.1f}", res.rise.median() < 2.5 * ERROR_MARGIN, dataset),
        # "destroys it": wrong on more than half of the test examples after one deletion, on average
        Verdict(CLAIMS["lesion_plain"], f"{plain.label.iloc[0]}: mean error after one deletion "
                f"{100 * plain.error.mean():.0f} % (lowest {100 * plain.error.min():.0f} %)",
                plain.error.mean() > 0.5, dataset),
        # "matter more": over twice the rise elsewhere, and at least half a point more
        Verdict(CLAIMS["lesion_downsampling"],
                f"mean rise {100 * rise_down:.1f} points at downsampling blocks, {100 * rise_other:.1f} elsewhere",
                rise_down > 2 * max(rise_other, 0.0) + 0.005, dataset),
        # "smoothly": the error rises, and no single step (a cliff) holds a third of the rise
        Verdict(CLAIMS["lesion_smooth"],
                f"{100 * by_k.iloc[1]:.0f} % (k=1) to {100 * by_k.iloc[-1]:.0f} % (k={n}); largest step between "
                f"successive k {100 * steps.max():.0f} of {100 * total_rise:.0f} points",
                total_rise > 0 and steps.max() <= total_rise / 3, dataset),
        # "rises as tau falls": a clear monotone (rank) relation
        Verdict(CLAIMS["reorder_smooth"], f"Spearman(tau, error) = {rho_reorder:.2f} over {len(reorder)} orders",
                rho_reorder <= -0.5, dataset),
        # "falls fast": a falling log-linear trend and the longest path under a tenth of the shortest
        Verdict(CLAIMS["gradient_decay"], f"log-slope {slope:.2f} per block; length {n} / length 0 = {decay:.1e}",
                slope < 0 and decay < 0.1, dataset),
        # "short paths": the 90 % range ends below n / 2, the most common path length
        Verdict(CLAIMS["effective_paths"],
                f"90 % of the gradient from lengths {lo}-{hi} of {n} ({lo / n:.2f}n-{hi / n:.2f}n), "
                f"{100 * share_of_paths(n, lo, hi):.1f} % of paths",
                hi < n / 2, dataset),
        # "about the same": short-path test error at most one error margin above normal training
        Verdict(CLAIMS["short_paths_training"],
                f"test error {pct(short.mean(), short.std() if len(short) > 1 else 0.0)} with short paths, "
                f"{pct(normal.mean(), normal.std() if len(normal) > 1 else 0.0)} normal",
                short.mean() <= normal.mean() + ERROR_MARGIN, dataset),
    ]


# ---- the figures

def unravelled(n: int = 3) -> plt.Figure:
    """A residual net of `n` blocks drawn as its 2^n paths (Veit et al. Fig. 1), skips straight, branches arched."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.2), gridspec_kw={"width_ratios": [1, 1.6]})
    for ax in (left, right):
        ax.axis("off")
    # left: the usual drawing, one skip and one branch per block
    for i in range(n + 1):
        left.add_patch(plt.Circle((i, 0), 0.12, color="k"))
        left.annotate(f"$h_{i}$", (i, -0.35), ha="center")
    for i in range(n):
        left.annotate("", (i + 1 - 0.12, 0), (i + 0.12, 0), arrowprops={"arrowstyle": "->", "color": "0.4"})
        left.annotate("", (i + 1 - 0.1, 0.08), (i + 0.1, 0.08),
                      arrowprops={"arrowstyle": "->", "color": NET_COLOURS["residual"],
                                  "connectionstyle": "arc3,rad=-0.6"})
        left.annotate(f"$F_{i + 1}$", (i + 0.5, 0.5), ha="center", color=NET_COLOURS["residual"])
    left.set_xlim(-0.4, n + 0.4)
    left.set_ylim(-0.6, 0.8)
    left.set_aspect("equal")
    left.set_title(f"{n} residual blocks", fontsize=10)
    # right: every path from input to output, one row each, sorted by how many branches it takes
    paths = sorted(range(2**n), key=lambda p: (bin(p).count("1"), p))
    cmap = plt.get_cmap("viridis", n + 1)
    for row, p in enumerate(paths):
        taken = [(p >> i) & 1 for i in range(n)]
        k = sum(taken)
        y = -row
        right.plot([0, n], [y, y], color="0.85", lw=0.8, zorder=0)
        for i, t in enumerate(taken):
            right.plot([i, i + 1], [y, y], lw=3 if t else 1.2, color=cmap(k) if t else "0.55",
                       solid_capstyle="round")
            if t:
                right.annotate(f"$F_{i + 1}$", (i + 0.5, y + 0.15), ha="center", fontsize=8)
        right.annotate(f"length {k}", (n + 0.15, y), va="center", fontsize=9)
    right.set_xlim(-0.2, n + 1.2)
    right.set_ylim(-len(paths) + 0.4, 0.7)
    right.set_title(f"the same net unravelled: {2**n} paths from $h_0$ to $h_{n}$", fontsize=10)
    fig.tight_layout()
    return fig


def path_length_distribution(block_counts: dict[str, int]) -> plt.Figure:
    """Share of the 2^n paths that pass through k branches, C(n, k) / 2^n, for each named net."""
    fig, ax = plt.subplots(figsize=(7, 3.2))
    for name, n in block_counts.items():
        k = np.arange(n + 1)
        ax.plot(k, [math.comb(n, int(j)) / 2**n for j in k], marker="o", ms=3, label=f"{name} ({n} blocks)")
    ax.set_xlabel("path length k (residual branches on the path)")
    ax.set_ylabel("share of paths")
    ax.legend(frameon=False)
    fig.tight_layout()
    return fig


def single_lesion_errors(lesions: pd.DataFrame, dataset: str) -> plt.Figure:
    """Test error after deleting each block (Veit et al. Fig. 3), downsampling blocks marked, one panel per net."""
    frame = lesions[lesions.dataset == dataset]
    labels = list(dict.fromkeys(frame.label))
    fig, axes = plt.subplots(1, len(labels), figsize=(5.5 * len(labels), 3.4), squeeze=False, sharey=True)
    for ax, label in zip(axes[0], labels, strict=True):
        f = frame[frame.label == label]
        ax.bar(f.block, 100 * f.error, color=NET_COLOURS.get(f.net.iloc[0], "0.5"), alpha=0.8)
        for b in f[f.downsample].block:
            ax.axvline(b, color="k", ls=":", lw=1)
        ax.axhline(100 * f.baseline.iloc[0], color="k", lw=1, label="no block deleted")
        ax.axhline(90, color="0.5", ls="--", lw=1, label="chance (90 %)")
        ax.set_title(label)
        ax.set_xlabel("deleted block (dotted: downsampling)")
        ax.xaxis.set_major_locator(plt.MaxNLocator(integer=True))
        ax.set_ylabel("test error (%)")
    axes[0][0].legend(frameon=False, loc="center left")
    fig.suptitle(dataset, y=1.02)
    fig.tight_layout()
    return fig


def lesion_curves(random: pd.DataFrame, reorder: pd.DataFrame, dataset: str) -> plt.Figure:
    """Error against the number of deleted blocks (Veit Fig. 5a) and against Kendall's tau (Fig. 5b)."""
    random, reorder = random[random.dataset == dataset], reorder[reorder.dataset == dataset]
    palette = {label: NET_COLOURS.get(net, "0.5") for label, net in zip(random.label, random.net, strict=True)}
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 3.6))
    sns.lineplot(data=random.assign(error=100 * random.error), x="k", y="error", hue="label", palette=palette,
                 errorbar="sd", marker="o", ms=4, ax=a)
    a.set_xlabel("blocks deleted at random")
    a.set_ylabel("test error (%)")
    a.set_title("deleting blocks")
    a.set_ylim(0, 100)
    sns.scatterplot(data=reorder.assign(error=100 * reorder.error), x="tau", y="error", hue="label",
                    palette=palette, s=18, alpha=0.7, ax=b)
    b.invert_xaxis()
    b.set_xlabel("Kendall's tau of the block order (1 = original)")
    b.set_ylabel("test error (%)")
    b.set_title("reordering blocks")
    for ax in (a, b):
        ax.get_legend().set_title("net")
    fig.suptitle(dataset, y=1.02)
    fig.tight_layout()
    return fig


def gradient_per_length(gradients: pd.DataFrame) -> plt.Figure:
    """Veit et al. Fig. 6, one row per data set: (a) gradient norm of one path of length k; (b) total gradient
    per length: the sampling estimate C(n,k) x mean norm and the exact coefficient norm, each as a share,
    with the shortest range holding 90 % of the exact total (`effective_range`) shaded."""
    datasets = list(dict.fromkeys(gradients.dataset))
    fig, axes = plt.subplots(len(datasets), 2, figsize=(11, 3.3 * len(datasets)), squeeze=False)
    for row, dataset in zip(axes, datasets, strict=True):
        f = gradients[gradients.dataset == dataset]
        row[0].semilogy(f.k, f.path_norm, marker="o", ms=3, color=NET_COLOURS["residual"])
        row[0].set_title(f"{dataset}: gradient along one path", fontsize=10)
        row[0].set_xlabel("path length k")
        row[0].set_ylabel("norm at $h_0$ (log)")
        for col, label, ls in (("sampled_total", "C(n,k) x mean path norm (Veit)", "--"),
                               ("exact_total", "exact: norm of the sum of all paths", "-")):
            row[1].plot(f.k, f[col] / f[col].sum(), ls=ls, marker="o", ms=3, label=label)
        lo, hi = effective_range(f)
        row[1].axvspan(lo - 0.5, hi + 0.5, color="0.85", zorder=0, label=f"90 % of exact total: k = {lo}-{hi}")
        row[1].set_title(f"{dataset}: gradient per path length (share)", fontsize=10)
        row[1].set_xlabel("path length k")
        row[1].legend(frameon=False, fontsize=8)
    fig.tight_layout()
    return fig
