"""The book's figures. Each function takes tidy frames (from `runs` and `probes`) and returns a Figure."""

from __future__ import annotations

import matplotlib.pyplot as plt
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
