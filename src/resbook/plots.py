"""The book's figures. Each function takes tidy frames (from `runs` and `probes`) and returns a Figure."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from .data import Dataset

NET_COLOURS = {"plain": "#c44e52", "residual": "#4c72b0"}


def style() -> None:
    """The book's plotting style (call once per notebook)."""
    sns.set_theme(context="notebook", style="whitegrid", palette="deep")
    plt.rcParams.update({"figure.dpi": 110, "savefig.dpi": 110, "axes.titleweight": "bold"})


def examples(dataset: Dataset, n: int = 8) -> plt.Figure:
    """The first `n` training examples with their labels: images for 2-D data, curves for 1-D."""
    fig, axes = plt.subplots(1, n, figsize=(1.4 * n, 1.8))
    for i, ax in enumerate(axes):
        x = dataset.train_x[i].numpy()
        if dataset.dims == 2:
            ax.imshow(x.transpose(1, 2, 0).squeeze(), cmap="gray_r")
            ax.set_xticks([])
            ax.set_yticks([])
        else:
            ax.plot(x[0], color="k", lw=1)
            ax.set_xticks([])
            ax.set_yticks([])
        ax.set_title(f"label {int(dataset.train_y[i])}", fontsize=9, fontweight="normal")
    fig.suptitle(f"{dataset.name}: {len(dataset.train_y):,} training / {len(dataset.test_y):,} test examples",
                 fontsize=10)
    fig.tight_layout()
    return fig


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


def layer_responses(responses: pd.DataFrame, dataset: str) -> plt.Figure:
    """He et al. Fig. 7 analogue: std of each 3x3 layer's response, in network order and sorted."""
    r = responses[responses.dataset == dataset]
    order = sorted(r.label.unique(), key=lambda s: (s.startswith("residual"), int(s.split("-")[-1])))
    palette = {lab: NET_COLOURS["residual" if lab.startswith("residual") else "plain"] for lab in order}
    dashes = {lab: "" if lab.endswith(f"-{r.depth.max()}") else (3, 2) for lab in order}
    fig, axes = plt.subplots(2, 1, figsize=(9, 5.6))
    for ax, x, title in ((axes[0], "layer", "in network order"), (axes[1], "rank", "sorted by magnitude")):
        sns.lineplot(data=r, x=x, y="std", hue="label", hue_order=order, palette=palette,
                     style="label", dashes=dashes, ax=ax)
        ax.set_ylabel("std of response")
        ax.set_title(f"layer responses ({dataset}), {title}", fontsize=10)
        ax.set_xlabel("layer index" if x == "layer" else "layer, sorted by std")
    axes[1].get_legend().remove()
    sns.move_legend(axes[0], "upper left", bbox_to_anchor=(1, 1), frameon=False)
    fig.tight_layout()
    return fig


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
    from math import comb

    fig, ax = plt.subplots(figsize=(7, 3.2))
    for name, n in block_counts.items():
        k = np.arange(n + 1)
        ax.plot(k, [comb(n, int(j)) / 2**n for j in k], marker="o", ms=3, label=f"{name} ({n} blocks)")
    ax.set_xlabel("path length k (residual branches on the path)")
    ax.set_ylabel("share of paths")
    ax.legend(frameon=False)
    fig.tight_layout()
    return fig


def single_lesions(frame: pd.DataFrame, baseline: dict[str, float]) -> plt.Figure:
    """Test error after deleting each block (Veit et al. Fig. 3), downsampling blocks marked, per net."""
    nets = list(dict.fromkeys(frame.net))
    fig, axes = plt.subplots(1, len(nets), figsize=(5.5 * len(nets), 3.4), squeeze=False, sharey=True)
    for ax, net in zip(axes[0], nets, strict=True):
        f = frame[frame.net == net]
        ax.bar(f.block, 100 * f.error, color=NET_COLOURS.get(net.split("-")[0], "0.5"), alpha=0.8)
        for b in f[f.downsample].block:
            ax.axvline(b, color="k", ls=":", lw=1)
        ax.axhline(100 * baseline[net], color="k", lw=1, label="no block deleted")
        ax.axhline(90, color="0.5", ls="--", lw=1, label="chance (90 %)")
        ax.set_title(net)
        ax.set_xlabel("deleted block (dotted: downsampling)")
        ax.xaxis.set_major_locator(plt.MaxNLocator(integer=True))
        ax.set_ylabel("test error (%)")
    axes[0][0].legend(frameon=False, loc="center left")
    fig.tight_layout()
    return fig


def lesion_curves(random: pd.DataFrame, reorder: pd.DataFrame) -> plt.Figure:
    """Error against the number of deleted blocks (Veit Fig. 5a) and against Kendall's tau (Fig. 5b)."""
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 3.6))
    sns.lineplot(data=random.assign(error=100 * random.error), x="k", y="error", hue="net", errorbar="sd",
                 marker="o", ms=4, ax=a)
    a.set_xlabel("blocks deleted at random")
    a.set_ylabel("test error (%)")
    a.set_title("deleting blocks")
    a.set_ylim(0, 100)
    sns.scatterplot(data=reorder.assign(error=100 * reorder.error), x="tau", y="error", hue="net", s=18,
                    alpha=0.7, ax=b)
    b.invert_xaxis()
    b.set_xlabel("Kendall's tau of the block order (1 = original)")
    b.set_ylabel("test error (%)")
    b.set_title("reordering blocks")
    fig.tight_layout()
    return fig


def gradient_by_length(frame: pd.DataFrame, ranges: dict[str, tuple[int, int]]) -> plt.Figure:
    """Veit et al. Fig. 6: (a) gradient norm of one path of length k; (b) total gradient per length:
    the sampling estimate C(n,k) x mean norm and the exact coefficient norm, each as a share, with the
    shortest range holding 90 % of the exact total shaded."""
    datasets = list(dict.fromkeys(frame.dataset))
    fig, axes = plt.subplots(len(datasets), 2, figsize=(11, 3.3 * len(datasets)), squeeze=False)
    for row, dataset in zip(axes, datasets, strict=True):
        f = frame[frame.dataset == dataset]
        row[0].semilogy(f.k, f.path_norm, marker="o", ms=3, color=NET_COLOURS["residual"])
        row[0].set_title(f"{dataset}: gradient along one path", fontsize=10)
        row[0].set_xlabel("path length k")
        row[0].set_ylabel("norm at $h_0$ (log)")
        for col, label, ls in (("sampled_total", "C(n,k) x mean path norm (Veit)", "--"),
                               ("exact_total", "exact: norm of the sum of all paths", "-")):
            row[1].plot(f.k, f[col] / f[col].sum(), ls=ls, marker="o", ms=3, label=label)
        lo, hi = ranges[dataset]
        row[1].axvspan(lo - 0.5, hi + 0.5, color="0.85", zorder=0, label=f"90 % of exact total: k = {lo}-{hi}")
        row[1].set_title(f"{dataset}: gradient per path length (share)", fontsize=10)
        row[1].set_xlabel("path length k")
        row[1].legend(frameon=False, fontsize=8)
    fig.tight_layout()
    return fig


def alignment(frame: pd.DataFrame, title: str) -> plt.Figure:
    """Jastrzebski et al. Fig. 4 analogue: cos(F_i(h_i), dL/dh_i) per block, mean ± sd over seeds."""
    fig, ax = plt.subplots(figsize=(9, 3.4))
    sns.lineplot(data=frame, x="block", y="cos", hue="net", style="split", style_order=["test", "train"],
                 errorbar="sd", marker="o", ms=3, ax=ax)
    ax.axhline(0, color="k", lw=0.8)
    ax.set_ylabel("cos(F(h), dL/dh)")
    ax.set_title(title)
    sns.move_legend(ax, "upper left", bbox_to_anchor=(1, 1), frameon=False)
    fig.tight_layout()
    return fig


def alignment_over_training(frame: pd.DataFrame, title: str) -> plt.Figure:
    """The alignment per block after a few epochs and at the end: how it emerges during training."""
    fig, ax = plt.subplots(figsize=(9, 3.2))
    sns.lineplot(data=frame, x="block", y="cos", hue="epoch", palette="crest", marker="o", ms=3, ax=ax)
    ax.axhline(0, color="k", lw=0.8)
    ax.set_ylabel("cos(F(h), dL/dh)")
    ax.set_title(title)
    sns.move_legend(ax, "upper left", bbox_to_anchor=(1, 1), frameon=False, title="after epoch")
    fig.tight_layout()
    return fig


def block_effects(ratios: pd.DataFrame, drops: pd.DataFrame, baseline: float, title: str) -> plt.Figure:
    """Norm ratio ||F(h)||/||h|| per block (Fig. 2) and accuracy with each block dropped (Fig. 3)."""
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 3.4))
    sns.lineplot(data=ratios, x="block", y="ratio", hue="net", marker="o", ms=3, ax=a)
    a.set_ylabel("||F(h)|| / ||h||")
    a.set_title("how much each block changes the features", fontsize=10)
    colours = ["#dd8452" if f else NET_COLOURS["residual"] for f in drops.first_of_stage]
    b.bar(drops.block, 100 * (1 - drops.error), color=colours)
    b.axhline(100 * (1 - baseline), color="k", lw=1, label="no block dropped")
    b.set_ylabel("test accuracy (%)")
    b.set_xlabel("dropped block (orange: first of a stage)")
    b.set_title("dropping one block (pre-activation net)", fontsize=10)
    b.legend(loc="lower right", framealpha=0.9)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def readouts(frame: pd.DataFrame, title: str) -> plt.Figure:
    """Fig. 5-6: the final classifier read after each block of the last stage; borderline corrections."""
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.2))
    axes[0].plot(frame.block, 100 * frame.accuracy, marker="o")
    axes[0].set_ylabel("test accuracy (%)")
    axes[1].plot(frame.block, frame.loss, marker="o", label="loss")
    axes[1].plot(frame.block, frame.entropy, marker="s", label="entropy")
    axes[1].legend(frameon=False)
    f = frame.dropna(subset=["corrected"])
    axes[2].bar(f.block - 0.2, f.corrected, width=0.4, label="corrected by the next block")
    axes[2].bar(f.block + 0.2, f.broken, width=0.4, label="broken by the next block")
    axes[2].set_ylabel("borderline test examples")
    axes[2].legend(frameon=False, fontsize=8)
    for ax in axes:
        ax.set_xlabel("block of the last stage")
        ax.xaxis.set_major_locator(plt.MaxNLocator(integer=True))
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def unrolling(naive: pd.DataFrame, scaled_train: pd.DataFrame, scaled_test: pd.DataFrame, title: str) -> plt.Figure:
    """Fig. 7: the last block applied again and again, naively and with a scaled output."""
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.2))
    axes[0].semilogy(naive.step, naive.norm, marker="o", ms=3, label="naive (scale 1)")
    axes[0].semilogy(scaled_test.step, scaled_test.norm, marker="o", ms=3, label=f"scale {scaled_test.scale.iloc[0]}")
    axes[0].set_ylabel("mean ||h|| (log)")
    axes[0].legend(frameon=False)
    axes[1].plot(scaled_train.step, scaled_train.loss, marker="o", ms=3, color="C1")
    axes[1].set_ylabel("training loss (scaled)")
    axes[2].plot(scaled_test.step, 100 * scaled_test.accuracy, marker="o", ms=3, label="all test examples")
    axes[2].plot(scaled_test.step, 100 * scaled_test.borderline_accuracy, marker="s", ms=3,
                 label=f"the {scaled_test.borderline_count.iloc[0]} borderline ones")
    axes[2].set_ylabel("test accuracy (%)")
    axes[2].legend(frameon=False, fontsize=8)
    for ax in axes:
        ax.set_xlabel("extra applications of the last block")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def sharing_errors(finals: pd.DataFrame, title: str) -> plt.Figure:
    """Train and test error of every sharing variant, mean ± sd over seeds (Jastrzebski Table 1, Fig. 8)."""
    long = finals.melt(id_vars=["variant", "seed"], value_vars=["train_err", "test_err"], var_name="split",
                       value_name="error")
    long["error"] *= 100
    long["split"] = long.split.map({"train_err": "train", "test_err": "test"})
    fig, ax = plt.subplots(figsize=(10, 0.5 * finals.variant.nunique() + 1.5))
    sns.barplot(data=long, y="variant", x="error", hue="split", errorbar="sd", ax=ax, orient="h")
    ax.set_xlabel("error (%)")
    ax.set_ylabel("")
    ax.set_title(title)
    fig.tight_layout()
    return fig


def sharing_norms(norms: pd.DataFrame, gradients: pd.DataFrame, variants: list[str], title: str) -> plt.Figure:
    """||h|| after every block (train-mode statistics), at initialisation and after training, and the
    gradient norm of each stage's convolutions at initialisation."""
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.4))
    for ax, when in zip(axes[:2], ("initialisation", "trained"), strict=True):
        sns.lineplot(data=norms[(norms.when == when) & norms.variant.isin(variants)], x="block", y="norm",
                     hue="variant", hue_order=variants, ax=ax, marker="o", ms=3)
        ax.set_yscale("log")
        ax.set_title(f"mean ||h|| at {when}" if when == "initialisation" else "mean ||h|| after training",
                     fontsize=10)
        ax.set_xlabel("block (0 = stem)")
        ax.get_legend().remove()
    g = gradients[(gradients.when == "initialisation") & gradients.variant.isin(variants)]
    sns.barplot(data=g, x="stage", y="norm", hue="variant", hue_order=variants, ax=axes[2])
    axes[2].set_yscale("log")
    axes[2].set_title("gradient norm per stage at initialisation", fontsize=10)
    sns.move_legend(axes[2], "upper left", bbox_to_anchor=(1, 1), frameon=False)
    fig.suptitle(title)
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


def architectures(frame: pd.DataFrame, title: str) -> plt.Figure:
    """Per block of each architecture: alignment, norm ratio and the error after dropping the block."""
    fig, axes = plt.subplots(1, 3, figsize=(15, 3.8))
    panels = (("cos", "cos(F(h), dL/dh)"), ("ratio", "||F(h)|| / ||h||"), ("drop_err", "error without the block (%)"))
    for ax, (column, label) in zip(axes, panels, strict=True):
        data = frame.assign(drop_err=frame.drop_err * 100)
        sns.lineplot(data=data, x="position", y=column, hue="arch", marker="o", markersize=4, ax=ax)
        if column == "cos":
            ax.axhline(0, color="black", lw=0.8)
        ax.set_xlabel("block (0 = first, 1 = last)")
        ax.set_ylabel(label)
    for ax in axes[:2]:
        ax.get_legend().remove()
    sns.move_legend(axes[2], "upper left", bbox_to_anchor=(1, 1), frameon=False)
    fig.suptitle(title, y=1.02)
    fig.tight_layout()
    return fig
