"""What every chapter's figures share: the style, the colours of the kinds of net, a look at the data.

Each chapter's own figures live in its module (`resbook.chapters.ch1_degradation`, ...).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.lines import Line2D

from .data import Dataset
from .run_status import DID_NOT_TRAIN, DIVERGED, STARTED_ERR

NET_COLOURS = {"plain": "#c44e52", "residual": "#4c72b0"}

# How a figure marks a run that failed (`run_status`): an x at its value where it did not train, in the colour of
# its net; a dagger at the edge of the axes where it diverged, since it has no final value to put anywhere else
DIVERGED_COLOUR = "#8b0000"
FAILED_LABELS = {DID_NOT_TRAIN: f"run did not train (train error ≥ {100 * STARTED_ERR:.0f} %)",
                 DIVERGED: "run diverged (no final value)"}
# inches a figure widens by to make room for those two lines in its legend
LEGEND_ROOM = 1.6
# markers for a figure's series that leave the x to failed runs (seaborn's own defaults include an X)
SERIES_MARKERS = ("o", "s", "D", "^", "v", "P", "<", ">")
# a diverged run's dagger sits this far up (or across) the axes: inside them, clear of the title
EDGE = 0.95


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


def series_markers(levels: Sequence) -> dict:
    """A marker for each level of a seaborn `style` (for its `markers`), none of them an x."""
    if len(levels) > len(SERIES_MARKERS):
        raise ValueError(f"{len(levels)} styles, but only {len(SERIES_MARKERS)} markers: add some to SERIES_MARKERS")
    return dict(zip(levels, SERIES_MARKERS, strict=False))


def mark_failed(ax: plt.Axes, frame: pd.DataFrame, x: str, y: str, colours: Sequence | None = None, *,
                horizontal: bool = False) -> set[str]:
    """Mark the runs of `frame` (one row per point, column `status`) that failed: an x at (`x`, `y`) where a run
    did not train (in `colours`, one per row; default black), a dagger near the top of the axes above its `x` where
    it diverged (`horizontal`: the values run along x, as in horizontal bars, and the dagger sits at the right
    edge beside its `y`). Each kind is one artist whose gid is the status. Returns the statuses marked. The
    figure's own markers should leave the x alone (`series_markers`)."""
    if "status" not in frame:
        return set()
    marked = set()
    colours = list(colours) if colours is not None else ["k"] * len(frame)
    weak = (frame.status == DID_NOT_TRAIN).to_numpy()
    if weak.any():
        ax.scatter(frame[x].to_numpy()[weak], frame[y].to_numpy()[weak], marker="x", s=45, linewidths=1.6,
                   c=[c for c, w in zip(colours, weak, strict=True) if w], zorder=5, gid=DID_NOT_TRAIN)
        marked.add(DID_NOT_TRAIN)
    lost = (frame.status == DIVERGED).to_numpy()
    if lost.any():
        at = frame[y if horizontal else x].to_numpy()[lost]
        edge = np.full(len(at), EDGE)
        transform = ax.get_yaxis_transform() if horizontal else ax.get_xaxis_transform()
        ax.scatter(edge if horizontal else at, at if horizontal else edge, marker=r"$\dagger$", s=120,
                   c=DIVERGED_COLOUR, transform=transform, zorder=5, gid=DIVERGED)
        marked.add(DIVERGED)
    return marked


def legend_failed(ax: plt.Axes, marked: Iterable[str]) -> None:
    """Add to `ax`'s legend (seaborn's or one made by hand; a new one if it has none) what the marks of
    `mark_failed` mean, for the statuses `marked` anywhere in the figure, and widen the figure to make room.
    Call before moving the legend and before `tight_layout`."""
    marked = set(marked)
    extra = [Line2D([], [], ls="", marker="x", color="k", markersize=7, markeredgewidth=1.6,
                    label=FAILED_LABELS[DID_NOT_TRAIN])] if DID_NOT_TRAIN in marked else []
    if DIVERGED in marked:
        extra.append(Line2D([], [], ls="", marker=r"$\dagger$", color=DIVERGED_COLOUR, markersize=10,
                            label=FAILED_LABELS[DIVERGED]))
    if not extra:
        return
    old = ax.get_legend()
    handles = list(old.legend_handles) if old else []
    labels = [t.get_text() for t in old.get_texts()] if old else []
    title = old.get_title().get_text() if old else None
    ax.legend(handles + extra, labels + [h.get_label() for h in extra], title=title or None)
    ax.figure.set_figwidth(ax.figure.get_figwidth() + LEGEND_ROOM)
