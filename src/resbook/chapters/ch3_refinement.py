"""Chapter 3, iterative refinement (Jastrzebski et al. 2018): residual blocks as gradient steps on the features.

The notebook `book/03_iterative_refinement.ipynb` calls, in order: `nets` (the trained pre-activation nets,
their post-activation twins and the other three architectures, with the data), `alignment` and
`alignment_over_training` (Fig. 4), `norm_ratios` and `block_drops` (Fig. 2-3), `architectures` (the four
nets side by side), `probes.intermediate_readouts` (Fig. 5-6), `unrolling` (Fig. 7), then `verdicts`; each
figure is one of the `plot_*` functions at the end.
"""

from __future__ import annotations

from dataclasses import dataclass

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns
import torch

from .. import data, probes, runs
from ..claims import Claim, Verdict, declare, spearman
from ..papers import JASTRZEBSKI2018
from ..plots import NET_COLOURS
from ..profiles import Profile
from ..train import TrainConfig, TrainResult
from . import checkpoint_epochs

NOTEBOOK = "03_iterative_refinement"
# Jastrzebski et al. apply the last block 20 more times (Sec. 4.4, Fig. 7)
UNROLL_STEPS = 20
# Probes on training data use its first 1000 examples (a bound on their cost); on test data, all of it
TRAIN_PROBE_EXAMPLES = 1000

CLAIMS = declare(
    Claim("alignment_negative", JASTRZEBSKI2018, "Fig. 4", "Blocks move features against the loss gradient",
                                 "cos(F_i(h_i), dL/dh_i) < 0 in every block"),
    Claim("alignment_higher", JASTRZEBSKI2018, "Fig. 4", "The alignment is strongest in the higher blocks",
                               "most negative in the last stage (about -0.1 in the last block)"),
    Claim("norm_ratio", JASTRZEBSKI2018, "Fig. 2", "Early blocks change the features a lot, later blocks little",
                         "||F(h)|| / ||h|| up to about 2 in the first blocks, small in the higher blocks"),
    Claim("drop_first_blocks", JASTRZEBSKI2018, "Fig. 3", "Dropping a block hurts most at the start of a stage",
                                "catastrophic for the first blocks of a stage, minor for higher blocks"),
    Claim("intermediate_accuracy", JASTRZEBSKI2018, "Fig. 5", "Accuracy rises block by block in the last stage",
                                    "the final classifier applied after each block: gradual rise"),
    Claim("borderline_corrected", JASTRZEBSKI2018, "Fig. 6", "The next block corrects borderline examples",
                                   "many borderline examples are corrected, few broken"),
    Claim("unroll_naive", JASTRZEBSKI2018, "Sec. 4.4", "Unrolling the last block naively blows up the features",
                           "activations explode when the block is applied 20 more times"),
    Claim("unroll_scaled", JASTRZEBSKI2018, "Fig. 7", "Scaled unrolling lowers the training loss",
                            "train loss 0.0012 to 0.001 after 20 extra steps"),
    Claim("unroll_borderline", JASTRZEBSKI2018, "Fig. 7", "Scaled unrolling fixes borderline test examples",
                                "accuracy on borderline test examples 43 % to 53 %"),
    Claim("architectures_align", JASTRZEBSKI2018, "Fig. 2-4",
                                  "All four architectures move features against the gradient",
                                  "negative cosine in the ResNet, single-representation, pooling and wide nets"),
    Claim("single_sharper", JASTRZEBSKI2018, "Fig. 2-3",
                             "Change-then-refine is sharper in the single-representation net",
                             "its first blocks change the features much more than the later ones"),
)


# ---- the runs

@dataclass(frozen=True)
class Architecture:
    """One of Jastrzebski et al.'s four pre-activation nets, as model options relative to a profile."""

    layout: str = "cifar"  # how the blocks are laid out: one of models.ARCHS
    widen: int = 1  # the profile's three stage widths, each multiplied by this factor
    main: bool = False  # the chapter's own pre-activation net (every seed, early weights kept): not trained again

    def options(self, profile: Profile) -> dict:
        """The model options (`arch`, `width`) of this net at `profile`."""
        return {"arch": self.layout, "width": tuple(self.widen * w for w in profile.widths)}


# Jastrzebski et al. (Fig. 2-4) compare four pre-activation nets; ours, at the profile's deepest depth
ARCHITECTURES = {
    "ResNet": Architecture(main=True),
    "single representation": Architecture(layout="single"),
    "average pooling": Architecture(layout="avgpool"),
    "wide ResNet (x2)": Architecture(widen=2),
}


def dataset_plan(profile: Profile, dataset: str) -> dict[str, list[TrainConfig]]:
    """The runs on one data set, by role: pre-activation nets at the deepest depth (every seed, weights kept
    after `checkpoint_epochs`), their post-activation twins, and each other architecture (seed 0)."""
    deepest = [profile.deepest]
    roles = {
        "pre-activation": runs.grid(profile, datasets=[dataset], depths=deepest, preact=True,
                                    checkpoints=checkpoint_epochs(profile)),
        "post-activation": runs.grid(profile, datasets=[dataset], depths=deepest),
    }
    for name, architecture in ARCHITECTURES.items():
        if not architecture.main:
            roles[name] = runs.grid(profile, datasets=[dataset], depths=deepest, seeds=profile.seeds[:1],
                                    preact=True, **architecture.options(profile))
    return roles


def plan(profile: Profile) -> dict[str, list[TrainConfig]]:
    """`dataset_plan` of every data set of the profile, each role named with its data set."""
    return {f"{role} on {dataset}": configs for dataset in profile.datasets
            for role, configs in dataset_plan(profile, dataset).items()}


@dataclass
class Nets:
    """Chapter 3's trained nets on one data set, and that data set."""

    data: data.Dataset
    preact: list[TrainResult]  # the pre-activation nets, one per seed
    postact: list[TrainResult]  # their post-activation twins
    architectures: dict[str, TrainResult]  # name in ARCHITECTURES -> its seed-0 net (the main one is preact[0])

    @property
    def main(self) -> TrainResult:
        """The pre-activation net of seed 0, which every probe of one net looks at."""
        return self.preact[0]

    @property
    def train_probe(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The training examples probes on training data use (the first TRAIN_PROBE_EXAMPLES)."""
        return self.data.train_x[:TRAIN_PROBE_EXAMPLES], self.data.train_y[:TRAIN_PROBE_EXAMPLES]


def nets(profile: Profile, dataset: str, *, progress: bool = True) -> Nets:
    """The runs of `dataset_plan`, trained where the run cache lacks them, with the data set."""
    trained = {role: runs.sweep(configs, progress=progress) for role, configs in dataset_plan(profile, dataset).items()}
    preact = trained["pre-activation"]
    return Nets(data.load(dataset), preact, trained["post-activation"],
                {name: preact[0] if a.main else trained[name][0] for name, a in ARCHITECTURES.items()})


# ---- the study steps

def _net(config: TrainConfig) -> dict:
    """The columns that say which net a row is about: `net` for legends, `preact` for code."""
    return {"net": "pre-activation" if config.preact else "post-activation", "preact": config.preact}


def alignment(nets: Nets) -> pd.DataFrame:
    """Fig. 4 probe on every pre- and post-activation net, on test and training data.

    One row per (net, seed, split, block): net, preact, split, seed, block, stage, cos.
    """
    test = (nets.data.test_x, nets.data.test_y)
    rows = [{**_net(r.config), "split": split, "seed": r.config.seed, "block": i + 1, "stage": stage, "cos": c}
            for r in (*nets.preact, *nets.postact)
            for split, (x, y) in (("test", test), ("train", nets.train_probe))
            for i, (stage, c) in enumerate(zip(r.model.stages, probes.block_alignment(r.model, x, y), strict=True))]
    return pd.DataFrame(rows)


def alignment_over_training(nets: Nets) -> pd.DataFrame:
    """The alignment of the main net on test data after each epoch whose weights were kept, and at the end.

    One row per (epoch, block): epoch, block, stage, cos.
    """
    main = nets.main
    rows = [{"epoch": epoch, "block": i + 1, "stage": stage, "cos": c}
            for epoch in (*main.config.checkpoints, main.config.epochs)
            for i, (stage, c) in enumerate(zip(main.model.stages, probes.block_alignment(
                main.model_at(epoch), nets.data.test_x, nets.data.test_y), strict=True))]
    return pd.DataFrame(rows)


def norm_ratios(nets: Nets) -> pd.DataFrame:
    """Fig. 2 probe, ||F(h)|| / ||h|| on test data, for seed 0 of the pre- and post-activation nets.

    One row per (net, block): net, preact, block, ratio.
    """
    return pd.DataFrame([{**_net(r.config), "block": i + 1, "ratio": v}
                         for r in (nets.main, nets.postact[0])
                         for i, v in enumerate(probes.norm_ratios(r.model, nets.data.test_x))])


def block_drops(nets: Nets) -> pd.DataFrame:
    """Fig. 3 probe: the main net's test error with each block dropped (its shortcut kept).

    One row per block: block, downsample, error, first_of_stage, baseline_err (the error with none dropped).
    """
    model, x, y = nets.main.model, nets.data.test_x, nets.data.test_y
    drops = probes.single_lesions(model, x, y)
    return drops.assign(first_of_stage=[block.first_of_stage for block in model.blocks],
                        baseline_err=probes.error_rate(model, x, y))


@dataclass
class Unrolled:
    """The main net's last block applied again and again (Fig. 7): rows of `probes.unroll_last_block`."""

    naive: pd.DataFrame  # scale 1, test data
    scaled_train: pd.DataFrame  # the chosen scale, training data
    scaled_test: pd.DataFrame  # the chosen scale, test data
    scale: float  # chosen by `probes.choose_unroll_scale` on training data only


def unrolling(nets: Nets, steps: int = UNROLL_STEPS) -> Unrolled:
    """The last block applied `steps` more times, naively and scaled (the scale chosen on training data)."""
    model, (x_train, y_train) = nets.main.model, nets.train_probe
    x_test, y_test = nets.data.test_x, nets.data.test_y
    scale = probes.choose_unroll_scale(model, x_train, y_train, steps)
    return Unrolled(naive=probes.unroll_last_block(model, x_test, y_test, steps, 1.0),
                    scaled_train=probes.unroll_last_block(model, x_train, y_train, steps, scale),
                    scaled_test=probes.unroll_last_block(model, x_test, y_test, steps, scale),
                    scale=scale)


def architectures(nets: Nets) -> pd.DataFrame:
    """Alignment, norm ratio and drop-one error per block, on test data, for each of ARCHITECTURES (seed 0).

    One row per (arch, block): arch (its name), layout, main, block, position (0 = first block, 1 = last),
    downsample, cos, ratio, drop_err, baseline_err.
    """
    x, y = nets.data.test_x, nets.data.test_y
    rows = []
    for name, r in nets.architectures.items():
        blocks = r.model.blocks
        cos = probes.block_alignment(r.model, x, y)
        ratios = probes.norm_ratios(r.model, x)
        drops = probes.single_lesions(r.model, x, y).error
        baseline = probes.error_rate(r.model, x, y)
        rows += [{"arch": name, "layout": r.config.arch, "main": ARCHITECTURES[name].main, "block": i + 1,
                  "position": i / max(1, len(blocks) - 1), "downsample": bool(block.downsample), "cos": cos[i],
                  "ratio": ratios[i], "drop_err": float(drops.iloc[i]), "baseline_err": baseline}
                 for i, block in enumerate(blocks)]
    return pd.DataFrame(rows)


# ---- the claims

def refinement_verdicts(dataset: str, alignment: pd.DataFrame, ratios: pd.DataFrame, drops: pd.DataFrame,
                        readouts: pd.DataFrame, unrolled: Unrolled) -> list[Verdict]:
    """Chapter 3's claims on one data set, for the pre-activation nets (frames of the steps above).

    alignment: on test data, mean over seeds; the rest: seed 0. readouts: `probes.intermediate_readouts` rows.
    """
    test = alignment[alignment.preact & (alignment.split == "test")]
    cos = test.groupby(["block", "stage"], as_index=False).cos.mean().dropna(subset=["cos"])
    by_stage = cos.groupby("stage").cos.mean()
    ratios = ratios[ratios.preact]
    quarter = max(1, len(ratios) // 4)
    early, late = ratios.ratio.iloc[:quarter].mean(), ratios.ratio.iloc[-quarter:].mean()
    rise = drops.error - drops.baseline_err
    first, later = rise[drops.first_of_stage].mean(), rise[~drops.first_of_stage].mean()
    acc = readouts.accuracy
    corrected, broken = readouts.corrected.sum(), readouts.broken.sum()
    naive, scaled_train, scaled_test = unrolled.naive, unrolled.scaled_train, unrolled.scaled_test
    growth = naive.norm.iloc[-1] / naive.norm.iloc[0]
    lt0, lt1 = scaled_train.loss.iloc[0], scaled_train.loss.iloc[-1]
    bt0, bt1 = scaled_test.borderline_accuracy.iloc[0], scaled_test.borderline_accuracy.iloc[-1]
    n_borderline = int(scaled_test.borderline_count.iloc[0])
    return [
        Verdict(CLAIMS["alignment_negative"], f"{(cos.cos < 0).sum()} of {len(cos)} blocks negative; "
                f"range {cos.cos.min():.3f} to {cos.cos.max():.3f}", bool((cos.cos < 0).all()), dataset),
        Verdict(CLAIMS["alignment_higher"], "mean cos per stage: " + ", ".join(f"{c:.3f}" for c in by_stage),
                by_stage.iloc[-1] < by_stage.iloc[0], dataset),
        # "a lot" against "little": the first quarter of the blocks changes the features at least twice as much
        Verdict(CLAIMS["norm_ratio"], f"first {quarter} blocks {early:.2f}, last {quarter} blocks {late:.2f}; "
                f"largest {ratios.ratio.max():.2f}", early > 2 * late, dataset),
        # "catastrophic" against "minor": three times the others' rise in error, and at least 1 point
        Verdict(CLAIMS["drop_first_blocks"], f"error rise {100 * first:.1f} points for the first block of a stage, "
                f"{100 * later:.1f} for the others", first > 3 * max(later, 0.0) + 0.01, dataset),
        # a "gradual rise": higher at the end, and mostly rising on the way (rank correlation with the block)
        Verdict(CLAIMS["intermediate_accuracy"], f"{100 * acc.iloc[0]:.1f} % after block {readouts.block.iloc[0]} "
                f"to {100 * acc.iloc[-1]:.1f} % after block {readouts.block.iloc[-1]}",
                acc.iloc[-1] > acc.iloc[0] and spearman(readouts.block, acc) >= 0.7, dataset),
        Verdict(CLAIMS["borderline_corrected"], f"{corrected:.0f} corrected, {broken:.0f} broken by the next block",
                corrected > broken, dataset),
        # "explode": the mean activation norm at least doubles over the extra steps
        Verdict(CLAIMS["unroll_naive"], f"activation norm x{growth:.1f} after {len(naive) - 1} extra steps",
                growth > 2, dataset),
        Verdict(CLAIMS["unroll_scaled"], f"scale {scaled_train.scale.iloc[0]}: train loss {lt0:.4f} to {lt1:.4f}",
                lt1 < lt0, dataset),
        Verdict(CLAIMS["unroll_borderline"],
                f"{n_borderline} borderline test examples: accuracy {100 * bt0:.0f} % to {100 * bt1:.0f} %"
                if n_borderline else "no borderline test examples: nothing to test", bool(bt1 > bt0), dataset),
    ]


def change_then_refine(frame: pd.DataFrame, first: int = 3) -> float:
    """Mean ||F(h)||/||h|| of the first `first` blocks over that of the others (rows of one architecture)."""
    ratios = frame.sort_values("block").ratio.to_numpy()
    return float(ratios[:first].mean() / ratios[first:].mean())


def architecture_verdicts(dataset: str, frame: pd.DataFrame) -> list[Verdict]:
    """Chapter 3's comparison of the four architectures (`frame` from `architectures`)."""
    share = frame.dropna(subset=["cos"]).groupby("arch", sort=False).cos.apply(lambda c: (c < 0).mean())
    contrast = {arch: change_then_refine(f) for arch, f in frame.groupby("arch", sort=False)}
    single = frame.arch[frame.layout == "single"].iloc[0]
    standard = frame.arch[frame.main].iloc[0]
    return [
        # four in five blocks of every net, so that a block or two with a cosine near zero do not decide it
        Verdict(CLAIMS["architectures_align"], "share of blocks with cos < 0: "
                + ", ".join(f"{arch} {v:.0%}" for arch, v in share.items()), bool((share >= 0.8).all()), dataset),
        Verdict(CLAIMS["single_sharper"], f"ratio of the first 3 blocks / the rest: {single} {contrast[single]:.1f}, "
                f"{standard} {contrast[standard]:.1f}", contrast[single] > contrast[standard], dataset),
    ]


def verdicts(dataset: str, alignment: pd.DataFrame, ratios: pd.DataFrame, drops: pd.DataFrame,
             readouts: pd.DataFrame, unrolled: Unrolled, architectures: pd.DataFrame) -> list[Verdict]:
    """Every claim of Chapter 3 on one data set: `refinement_verdicts`, then `architecture_verdicts`."""
    return (refinement_verdicts(dataset, alignment, ratios, drops, readouts, unrolled)
            + architecture_verdicts(dataset, architectures))


# ---- the figures

def plot_alignment(frame: pd.DataFrame, title: str) -> plt.Figure:
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


def plot_alignment_over_training(frame: pd.DataFrame, title: str) -> plt.Figure:
    """The alignment per block after a few epochs and at the end: how it emerges during training."""
    fig, ax = plt.subplots(figsize=(9, 3.2))
    sns.lineplot(data=frame, x="block", y="cos", hue="epoch", palette="crest", marker="o", ms=3, ax=ax)
    ax.axhline(0, color="k", lw=0.8)
    ax.set_ylabel("cos(F(h), dL/dh)")
    ax.set_title(title)
    sns.move_legend(ax, "upper left", bbox_to_anchor=(1, 1), frameon=False, title="after epoch")
    fig.tight_layout()
    return fig


def plot_block_effects(ratios: pd.DataFrame, drops: pd.DataFrame, title: str) -> plt.Figure:
    """Norm ratio ||F(h)||/||h|| per block (Fig. 2) and accuracy with each block dropped (Fig. 3)."""
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 3.4))
    sns.lineplot(data=ratios, x="block", y="ratio", hue="net", marker="o", ms=3, ax=a)
    a.set_ylabel("||F(h)|| / ||h||")
    a.set_title("how much each block changes the features", fontsize=10)
    colours = ["#dd8452" if f else NET_COLOURS["residual"] for f in drops.first_of_stage]
    b.bar(drops.block, 100 * (1 - drops.error), color=colours)
    b.axhline(100 * (1 - drops.baseline_err.iloc[0]), color="k", lw=1, label="no block dropped")
    b.set_ylabel("test accuracy (%)")
    b.set_xlabel("dropped block (orange: first of a stage)")
    b.set_title("dropping one block (pre-activation net)", fontsize=10)
    b.legend(loc="lower right", framealpha=0.9)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_readouts(frame: pd.DataFrame, title: str) -> plt.Figure:
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


def plot_unrolling(unrolled: Unrolled, title: str) -> plt.Figure:
    """Fig. 7: the last block applied again and again, naively and with a scaled output."""
    naive, scaled_train, scaled_test = unrolled.naive, unrolled.scaled_train, unrolled.scaled_test
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.2))
    axes[0].semilogy(naive.step, naive.norm, marker="o", ms=3, label="naive (scale 1)")
    axes[0].semilogy(scaled_test.step, scaled_test.norm, marker="o", ms=3, label=f"scale {unrolled.scale}")
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


def plot_architectures(frame: pd.DataFrame, title: str) -> plt.Figure:
    """Per block of each architecture: alignment, norm ratio and the error after dropping the block."""
    fig, axes = plt.subplots(1, 3, figsize=(15, 3.8))
    panels = (("cos", "cos(F(h), dL/dh)"), ("ratio", "||F(h)|| / ||h||"), ("drop_err", "error without the block (%)"))
    for ax, (column, label) in zip(axes, panels, strict=True):
        frame_pct = frame.assign(drop_err=frame.drop_err * 100)
        sns.lineplot(data=frame_pct, x="position", y=column, hue="arch", marker="o", markersize=4, ax=ax)
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
