"""What every chapter's figures share: the style, the colours of the kinds of net, a look at the data.

Each chapter's own figures live in its module (`resbook.chapters.ch1_degradation`, ...).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
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
