"""Chapter 3, iterative refinement (Jastrzebski et al. 2018): residual blocks as gradient steps on the features.

The notebook `book/03_iterative_refinement.ipynb` calls, in order: `nets` (the trained pre-activation nets,
their post-activation twins and the other architectures the profile names, with the data), `alignment` and
`alignment_over_training` (Fig. 4), `norm_ratios` and `block_drops` (Fig. 2-3), `architectures` (the
nets side by side), `readouts` (Fig. 5-6), `unrolling` (Fig. 7), then `verdicts`; each figure is one of
the `plot_*` functions at the end; `claims.reading` with `LIKELY_REASONS` turns the verdicts into the closing text.

Each step calls the probes it needs by name (`probes.block_alignment_per_example`, ...), and the notebook names
them above each figure: figure cell -> step -> probe. Every probe runs on every seed and keeps one value per
test example (frames have `seed` and `example` columns): a claim's statistic is computed per seed and its
bootstrap resamples those examples. The untrained control of a seed is `probes.untrained` of its config, with
batch-norm statistics from the first TRAIN_PROBE_EXAMPLES training examples.

Whether a run trained is `run_status`'s call, carried by every frame in its `status` column. Every claim here is
about nets that learned, so `verdicts` keeps only the rows of runs that trained (and, for the architecture claims,
the seeds on which every architecture did) and names, from `finals`, the runs behind each claim that did not train or
diverged. A diverged run (NaN weights) is never probed; one that did not train is, and the figures show it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
import torch

from .. import data, per_seed, probes, run_status, runs
from ..claims import NEGLIGIBLE, Basis, Claim, Direction, Verdict, check, declare
from ..models import ResNet
from ..papers import JASTRZEBSKI2018
from ..plots import NET_COLOURS
from ..profiles import Profile
from ..train import TrainConfig, TrainResult
from . import checkpoint_epochs

NOTEBOOK = "03_iterative_refinement"
# Jastrzebski et al. apply the last block 20 more times (Sec. 4.4, Fig. 7)
UNROLL_STEPS = 20
# Probes on training data use its first 1000 examples (a bound on their cost); on test data, all of it.
# Unrolling chooses its scale on the first half of them and is scored on the second half.
TRAIN_PROBE_EXAMPLES = 1000
# unroll_borderline: fewer borderline test examples than this in a seed and one example moves the
# accuracy by more than 10 points, twice the smallest effect that counts
MIN_BORDERLINE = 10
# an untrained control within this of a guess's error or accuracy cannot show the effect: its row is not testable
AT_CHANCE = 0.1
# the change-then-refine contrast: the first this many blocks against the rest (Jastrzebski et al. Fig. 2)
FIRST_BLOCKS = 3
UNTRAINED = "the same net untrained (same seed), BN statistics from 1,000 training examples"

CLAIMS = declare(
    Claim("alignment_negative", JASTRZEBSKI2018, "Fig. 4", "Blocks move features against the loss gradient",
          "cos(F_i(h_i), dL/dh_i) < 0 in every block",
          "share of non-downsampling blocks whose mean cos(F(h), dL/dh) over test examples is below 0",
          Direction.ABOVE, 0.75, "Fig. 4: negative in every block (a share of 1); the neutral 0.5 is a random sign",
          basis=Basis.PAPER, neutral=0.5, paper_value=1.0, control=UNTRAINED),
    Claim("alignment_higher", JASTRZEBSKI2018, "Fig. 4", "The alignment is strongest in the higher blocks",
          "most negative in the last stage (about -0.1 in the last block)",
          "mean cos over the last stage's blocks minus the mean over the first stage's (test examples)",
          Direction.BELOW, -0.05, "Fig. 4: about -0.1 in the last block, near 0 in the first: -0.1",
          basis=Basis.PAPER, paper_value=-0.1, control=UNTRAINED),
    Claim("norm_ratio", JASTRZEBSKI2018, "Fig. 2", "Early blocks change the features a lot, later blocks little",
          "||F(h)|| / ||h|| up to about 2 in the first blocks, small in the higher blocks",
          "mean ||F(h)||/||h|| of the first quarter of blocks over that of the last quarter (test examples)",
          Direction.ABOVE, NEGLIGIBLE["ratio"], "Fig. 2 shows the fall without a number for its contrast", neutral=1.0,
          unit="ratio",
          control=UNTRAINED, versus_control="ratio"),
    Claim("drop_first_blocks", JASTRZEBSKI2018, "Fig. 3", "Dropping a block hurts most at the start of a stage",
          "catastrophic for the first blocks of a stage, minor for higher blocks",
          "mean rise in test error when a first-of-stage block is dropped minus the mean rise for the others (the "
          "net's first block left out of both, as in Chapter 2's lesions: it follows a one-conv stem)",
          Direction.ABOVE, 0.01, "\"catastrophic\" and \"minor\" are words, not numbers", points=True,
          control=UNTRAINED + "; an untrained net sits near chance with or without a block, so this control "
                              "rules out little (its error is in the detail column)"),
    Claim("intermediate_accuracy", JASTRZEBSKI2018, "Fig. 5",
          "Accuracy rises from the first to the last block of the last stage",
          "the final classifier applied after each block: gradual rise",
          "test accuracy with the head read after the last block minus after the first block of the last stage",
          Direction.ABOVE, 0.01, "Fig. 5 shows the rise; we read no number off it", points=True, control=UNTRAINED),
    Claim("borderline_corrected", JASTRZEBSKI2018, "Fig. 6", "The next block corrects borderline examples",
          "many borderline examples are corrected, few broken",
          "(corrected minus broken by the next block) per borderline case, summed over the last stage "
          "(units: borderline test examples)",
          Direction.ABOVE, 0.01, "\"many corrected, few broken\": more corrected than broken", points=True),
    Claim("unroll_naive", JASTRZEBSKI2018, "Sec. 4.4", "Unrolling the last block naively makes the features grow",
          "activations explode when the block is applied 20 more times",
          "log10 of the mean activation norm after 20 naive extra steps over before (test examples)",
          Direction.ABOVE, NEGLIGIBLE["log10"], "the paper says the activations explode, with no number",
          control=UNTRAINED, unit="log10"),
    Claim("unroll_scaled", JASTRZEBSKI2018, "Fig. 7", "Scaled unrolling lowers the training loss",
          "train loss 0.0012 to 0.001 after 20 extra steps",
          "relative change of the training loss after 20 scaled extra steps, (after - before) / before, on "
          "500 training examples not used to choose the scale",
          Direction.BELOW, -1 / 12, "Fig. 7: 0.0012 to 0.001, a change of -1/6 (-17 %)",
          basis=Basis.PAPER, paper_value=-1 / 6),
    Claim("unroll_borderline", JASTRZEBSKI2018, "Fig. 7", "Scaled unrolling fixes borderline test examples",
          "accuracy on borderline test examples 43 % to 53 %",
          f"accuracy on the borderline test examples after minus before 20 scaled extra steps (seeds with at "
          f"least {MIN_BORDERLINE} of them)",
          Direction.ABOVE, 0.05, "Fig. 7: 43 % to 53 % = +10 points", points=True, basis=Basis.PAPER,
          paper_value=0.10),
    Claim("architectures_align", JASTRZEBSKI2018, "Fig. 2-4",
          "Every architecture moves features against the gradient",
          "negative cosine in the ResNet, single-representation, pooling and wide nets",
          "the smallest, over the architectures trained (the paper's four; the profile's `architectures` may leave "
          "some out), of the share of non-downsampling blocks with mean cos below 0 (test examples)",
          Direction.ABOVE, 0.75, "as alignment_negative: a share of 1 in the paper, 0.5 by chance",
          basis=Basis.PAPER, neutral=0.5, paper_value=1.0),
    Claim("single_sharper", JASTRZEBSKI2018, "Fig. 2-3",
          "Change-then-refine is sharper in the single-representation net",
          "the book's reading of Fig. 2-3 (the paper reports no such number): with no downsampling, its first "
          "blocks should change the features much more than the later ones",
          f"change-then-refine contrast (mean ||F||/||h|| of the first {FIRST_BLOCKS} blocks over the rest's) of "
          "the single-representation net over the ResNet's (test examples)",
          Direction.ABOVE, NEGLIGIBLE["ratio"], "the book's own question: sharper at all", neutral=1.0, asks="book",
          unit="ratio",
          control="both nets untrained (same seed), BN statistics from 1,000 training examples",
          versus_control="ratio"),
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
# The three other architectures train on every seed, on the first ARCHITECTURE_DATASETS data sets of the
# profile (None: all). With all (cpu: 2 data sets, 30 runs) the chapter took 10.28 min from an empty run cache
# on 2 cores (2026-12-01), over its 10-minute budget; with the first data set only (21 runs) it took 5.53 min.
ARCHITECTURE_DATASETS: int | None = 1


def architecture_datasets(profile: Profile) -> tuple[str, ...]:
    """The data sets on which the other architectures are trained (the first ARCHITECTURE_DATASETS)."""
    return profile.datasets[:ARCHITECTURE_DATASETS]


def dataset_plan(profile: Profile, dataset: str) -> dict[str, list[TrainConfig]]:
    """The runs on one data set, by role: pre-activation nets at the deepest depth (every seed, weights kept
    after `checkpoint_epochs`), their post-activation twins, and each other architecture (every seed, on
    the `architecture_datasets` only)."""
    deepest = [profile.deepest]
    roles = {
        "pre-activation": runs.grid(profile, datasets=[dataset], depths=deepest, preact=True,
                                    checkpoints=checkpoint_epochs(profile)),
        "post-activation": runs.grid(profile, datasets=[dataset], depths=deepest),
    }
    if dataset in architecture_datasets(profile):
        for name, architecture in ARCHITECTURES.items():
            if not architecture.main and name in profile.architectures:
                roles[name] = runs.grid(profile, datasets=[dataset], depths=deepest, preact=True,
                                        **architecture.options(profile))
    return roles


def plan(profile: Profile) -> dict[str, list[TrainConfig]]:
    """`dataset_plan` of every data set of the profile, each role named with its data set."""
    return {f"{role} on {dataset}": configs for dataset in profile.datasets
            for role, configs in dataset_plan(profile, dataset).items()}


@dataclass
class Nets:
    """Chapter 3's trained nets on one data set, that data set, and the per-example probes of each net.

    A probe of a net on test data (`on_test`) and the net's untrained twin (`untrained`) are computed once and
    kept, so the steps below that look at the same net share them.
    """

    data: data.Dataset
    preact: list[TrainResult]  # the pre-activation nets, one per seed
    postact: list[TrainResult]  # their post-activation twins
    architectures: dict[str, list[TrainResult]]  # name in ARCHITECTURES -> one net per seed ({} if not trained)
    _untrained: dict[TrainConfig, ResNet] = field(default_factory=dict, repr=False)
    _probes: dict[tuple[int, Callable], np.ndarray] = field(default_factory=dict, repr=False)

    @property
    def train_probe(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The training examples probes on training data use (the first TRAIN_PROBE_EXAMPLES)."""
        return self.data.train_x[:TRAIN_PROBE_EXAMPLES], self.data.train_y[:TRAIN_PROBE_EXAMPLES]

    def untrained(self, result: TrainResult) -> ResNet:
        """The net of `result` as its training started (`probes.untrained`, BN statistics of `train_probe`)."""
        if result.config not in self._untrained:
            self._untrained[result.config] = probes.untrained(result.config, self.train_probe[0])
        return self._untrained[result.config]

    def on_test(self, probe: Callable[..., np.ndarray], model: ResNet, *, labels: bool = True) -> np.ndarray:
        """`probe(model, test_x, test_y)` (`probe(model, test_x)` when not `labels`), e.g.
        `nets.on_test(probes.lesion_mistakes, model)`: computed once per net and probe, then kept."""
        key = (id(model), probe)
        if key not in self._probes:
            x, y = self.data.test_x, self.data.test_y
            self._probes[key] = probe(model, x, y) if labels else probe(model, x)
        return self._probes[key]


def nets(profile: Profile, dataset: str, *, progress: bool = True) -> Nets:
    """The runs of `dataset_plan`, trained where the run cache lacks them, with the data set."""
    trained = {role: runs.sweep(configs, progress=progress) for role, configs in dataset_plan(profile, dataset).items()}
    preact = trained["pre-activation"]
    architectures = {}
    if dataset in architecture_datasets(profile):
        architectures = {name: preact if a.main else trained[name] for name, a in ARCHITECTURES.items()
                         if a.main or name in profile.architectures}
    return Nets(data.load(dataset), preact, trained["post-activation"], architectures)


# ---- the study steps: tidy frames, one row per (net, seed, block, example)

def block_info(model: ResNet) -> dict[str, list]:
    """Per block of `model` (`ResNet.block_info`), in forward order: stage, first_of_stage, downsample (the columns
    `block_rows` adds)."""
    info = model.block_info()
    return {column: [getattr(b, column) for b in info] for column in ("stage", "first_of_stage", "downsample")}


def block_rows(values: np.ndarray, name: str, blocks: dict[str, list], **columns) -> pd.DataFrame:
    """Rows of a (blocks, examples) array: block (1-based), the per-block columns of `blocks` (`block_info`),
    example, `name`, and `columns` (scalars, or one value per row)."""
    n_blocks, examples = values.shape
    frame = pd.DataFrame({"block": np.repeat(np.arange(1, n_blocks + 1), examples)}
                         | {k: np.repeat(np.asarray(v), examples) for k, v in blocks.items()})
    frame["example"] = np.tile(np.arange(examples), n_blocks)
    frame[name] = values.ravel()
    return frame.assign(**columns)


def _net(result: TrainResult) -> dict:
    """The columns that say which net a row is about: `net` for legends, `preact` for code, `seed`, and how its
    training went (`status`)."""
    config = result.config
    return {"net": "pre-activation" if config.preact else "post-activation", "preact": config.preact,
            "seed": config.seed, "status": run_status.status(result)}


def alignment(nets: Nets) -> pd.DataFrame:
    """Fig. 4 probe on every pre- and post-activation net, on test and training data, and on each pre-activation
    net untrained (test data: the control of the alignment claims, `trained` False, net "untrained").

    One row per (net, seed, split, block, example): net, preact, trained, seed, split, block, stage,
    first_of_stage, downsample, example, cos (NaN at downsampling blocks).
    """
    x, y = nets.train_probe
    frames = []
    for r in run_status.probed((*nets.preact, *nets.postact), "alignment"):
        info = block_info(r.model)
        frames.append(block_rows(nets.on_test(probes.block_alignment_per_example, r.model), "cos", info,
                                 **_net(r), trained=True, split="test"))
        frames.append(block_rows(probes.block_alignment_per_example(r.model, x, y), "cos", info, **_net(r),
                                 trained=True, split="train"))
        if r.config.preact:
            cos = nets.on_test(probes.block_alignment_per_example, nets.untrained(r))
            frames.append(block_rows(cos, "cos", info, **{**_net(r), "net": "untrained"}, trained=False,
                                     split="test"))
    return pd.concat(frames, ignore_index=True)


def alignment_over_training(nets: Nets) -> pd.DataFrame:
    """The alignment of every pre-activation net on test data at initialisation (epoch 0, `Nets.untrained`),
    after each epoch whose weights were kept, and at the end.

    One row per (seed, epoch, block): seed, status, epoch, block, stage, cos (the mean over test examples).
    """
    frames = []
    for r in run_status.probed(nets.preact, "alignment_over_training"):
        for epoch in (0, *r.config.checkpoints, r.config.epochs):
            model = nets.untrained(r) if epoch == 0 else r.model_at(epoch)
            cos = nets.on_test(probes.block_alignment_per_example, model) if epoch in (0, r.config.epochs) else \
                probes.block_alignment_per_example(model, nets.data.test_x, nets.data.test_y)
            frames.append(pd.DataFrame({"seed": r.config.seed, "status": run_status.status(r), "epoch": epoch,
                                        "block": np.arange(1, len(cos) + 1),
                                        "stage": model.stages, "cos": cos.mean(axis=1)}))
    return pd.concat(frames, ignore_index=True)


def norm_ratios(nets: Nets) -> pd.DataFrame:
    """Fig. 2 probe, ||F(h)|| / ||h|| on test data: every pre-activation net trained and untrained, and the
    post-activation nets.

    One row per (net, trained, seed, block, example): net, preact, seed, trained, block, stage,
    first_of_stage, downsample, example, ratio.
    """
    frames = [block_rows(nets.on_test(probes.norm_ratios_per_example, model, labels=False), "ratio",
                         block_info(r.model), **_net(r), trained=trained)
              for r in run_status.probed((*nets.preact, *nets.postact), "norm_ratios")
              for trained, model in ((True, r.model), (False, nets.untrained(r) if r.config.preact else None))
              if model is not None]
    return pd.concat(frames, ignore_index=True)


def block_drops(nets: Nets) -> pd.DataFrame:
    """Fig. 3 probe: each pre-activation net's test mistakes with each block dropped (its shortcut kept),
    trained and untrained.

    One row per (trained, seed, block, example): seed, trained, block, stage, first_of_stage, downsample,
    example, mistake (with the block dropped), intact_mistake (with none dropped), chance (the error of a
    guess, 1 - 1 / classes).
    """
    chance = 1 - 1 / nets.data.num_classes
    frames = []
    for r in run_status.probed(nets.preact, "block_drops"):
        for trained, model in ((True, r.model), (False, nets.untrained(r))):
            dropped = nets.on_test(probes.lesion_mistakes, model)
            intact = nets.on_test(probes.mistakes, model)
            frames.append(block_rows(dropped, "mistake", block_info(model), seed=r.config.seed, trained=trained,
                                     status=run_status.status(r), intact_mistake=np.tile(intact, dropped.shape[0]),
                                     chance=chance))
    return pd.concat(frames, ignore_index=True)


def readouts(nets: Nets) -> pd.DataFrame:
    """Fig. 5-6 probe: the head read after every block of the last stage of each pre-activation net (test data),
    trained and untrained (the control of `intermediate_accuracy`).

    One row per (trained, seed, block, example): seed, trained, block, example, correct, loss, entropy,
    borderline, and, for every block but the last, corrected / broken (borderline here, and the next block
    turns it from wrong to right / from right to wrong); chance (the accuracy of a guess).
    """
    frames = []
    for r, trained in ((r, t) for r in run_status.probed(nets.preact, "readouts") for t in (True, False)):
        model = r.model if trained else nets.untrained(r)
        out = probes.readouts_per_example(model, nets.data.test_x, nets.data.test_y)
        positions, examples = out["correct"].shape
        frames.append(pd.DataFrame({
            "seed": r.config.seed, "status": run_status.status(r), "trained": trained,
            "chance": 1 / nets.data.num_classes, "block": np.repeat(out["block"], examples),
            "example": np.tile(np.arange(examples), positions),
            **{k: out[k].ravel() for k in ("correct", "loss", "entropy", "borderline", "corrected", "broken")}}))
    return pd.concat(frames, ignore_index=True)


def unrolling(nets: Nets, steps: int = UNROLL_STEPS) -> pd.DataFrame:
    """Fig. 7 probe: the last block of each pre-activation net applied `steps` more times, naively (scale 1)
    and scaled, the scale chosen per seed on the first half of the training probe examples; and, as the
    control of `unroll_naive`, the untrained net's last block applied naively.

    One row per (seed, trained, kind, split, step, example): seed, trained, kind ("naive" or "scaled"),
    split ("test", or "train": the second half of the training probe examples, never used to choose),
    scale, step, example, norm, loss, correct, borderline (before unrolling).
    """
    x, y = nets.train_probe
    half = len(x) // 2
    frames = []
    for r in run_status.probed(nets.preact, "unrolling"):
        scale = probes.best_scale(probes.unroll_per_example(r.model, x[:half], y[:half], steps))
        test = probes.unroll_per_example(r.model, nets.data.test_x, nets.data.test_y, steps, (1.0, scale))
        train = probes.unroll_per_example(r.model, x[half:], y[half:], steps, (scale,))
        control = probes.unroll_per_example(nets.untrained(r), nets.data.test_x, nets.data.test_y, steps, (1.0,))
        for trained, kind, split, s, out in ((True, "naive", "test", 1.0, test[1.0]),
                                             (True, "scaled", "test", scale, test[scale]),
                                             (True, "scaled", "train", scale, train[scale]),
                                             (False, "naive", "test", 1.0, control[1.0])):
            n_steps, examples = out["norm"].shape
            frames.append(pd.DataFrame({
                "seed": r.config.seed, "status": run_status.status(r), "trained": trained, "kind": kind,
                "split": split, "scale": s,
                "step": np.repeat(np.arange(n_steps), examples), "example": np.tile(np.arange(examples), n_steps),
                **{k: out[k].ravel() for k in ("norm", "loss", "correct")},
                "borderline": np.tile(out["borderline"], n_steps)}))
    return pd.concat(frames, ignore_index=True)


def architectures(nets: Nets) -> pd.DataFrame:
    """Alignment, norm ratio and drop-one mistakes per block on test data, for every seed of each of
    ARCHITECTURES, trained (and the norm ratio untrained too, the control of `single_sharper`).

    One row per (arch, trained, seed, block, example): arch (its name), layout, main, trained, seed, block,
    stage, first_of_stage, downsample, position (0 = first block, 1 = last), example, ratio, and for the
    trained nets cos, mistake (block dropped) and intact_mistake. Empty where they were not trained.
    """
    frames = []
    for name, results in nets.architectures.items():
        for r in run_status.probed(results, f"architectures ({name})"):
            info = {"arch": name, "layout": r.config.arch, "main": ARCHITECTURES[name].main, "seed": r.config.seed,
                    "status": run_status.status(r)}
            model = r.model
            dropped, intact = nets.on_test(probes.lesion_mistakes, model), nets.on_test(probes.mistakes, model)
            ratio = nets.on_test(probes.norm_ratios_per_example, model, labels=False)
            trained = block_rows(ratio, "ratio", block_info(model), **info, trained=True).assign(
                cos=nets.on_test(probes.block_alignment_per_example, model).ravel(), mistake=dropped.ravel(),
                intact_mistake=np.tile(intact, dropped.shape[0]))
            untrained_ratio = nets.on_test(probes.norm_ratios_per_example, nets.untrained(r), labels=False)
            untrained = block_rows(untrained_ratio, "ratio", block_info(model), **info, trained=False)
            frames += [trained, untrained]
    if not frames:
        return pd.DataFrame()
    frame = pd.concat(frames, ignore_index=True)
    last = frame.groupby("arch").block.transform("max")
    return frame.assign(position=(frame.block - 1) / (last - 1).clip(lower=1))


# ---- the claims: one statistic per seed over that seed's test examples (or borderline ones), bootstrapped

def _tables(frame: pd.DataFrame, value: str) -> dict[int, np.ndarray]:
    """seed -> the (examples x blocks) table of `value` in the rows of one net."""
    return per_seed.arrays(frame, value, along="block", index="example", dtype=float)


def _share_negative(cos: np.ndarray) -> float:
    """The share of columns (blocks) whose mean over rows (examples) is below 0."""
    return float((cos.mean(axis=0) < 0).mean())


def alignment_verdicts(dataset: str, alignment: pd.DataFrame) -> list[Verdict]:
    """`alignment_negative` and `alignment_higher` from the pre-activation nets' test rows of `alignment`, each
    against the same nets untrained ("is it learned?")."""
    both = alignment[alignment.preact & (alignment.split == "test") & ~alignment.downsample]
    test = both[both.trained]
    tables = _tables(test, "cos")
    untrained = _tables(both[~both.trained], "cos")
    stage = per_seed.constant(test, "stage")
    first, last = stage == stage.min(), stage == stage.max()

    def higher(cos: np.ndarray) -> float:
        return float(cos[:, last].mean() - cos[:, first].mean())

    def untrained_share() -> str:
        shares = [_share_negative(t) for t in untrained.values()]
        return f"; untrained: {np.mean(shares):.0%} of blocks negative" if shares else ""

    means = {s: t.mean(axis=0) for s, t in tables.items()}
    negative = per_seed.mean({s: (m < 0).sum() for s, m in means.items()})
    lo = min(m.min() for m in means.values())
    hi = max(m.max() for m in means.values())
    first_cos = per_seed.mean({s: m[first] for s, m in means.items()})
    last_cos = per_seed.mean({s: m[last] for s, m in means.items()})
    return [
        check(CLAIMS["alignment_negative"], dataset, *per_seed.paired(_share_negative, tables, untrained),
              detail=f"{negative:g} of {len(stage)} blocks negative (mean over seeds); block means from "
                     f"{lo:+.3f} to {hi:+.3f}{untrained_share()}"),
        check(CLAIMS["alignment_higher"], dataset, *per_seed.paired(higher, tables, untrained),
              detail=f"mean cos: first stage {first_cos:+.4f}, last stage {last_cos:+.4f} (mean over seeds)"),
    ]


def _quarters(ratio: np.ndarray) -> float:
    """Mean ratio of the first quarter of the columns (blocks) over that of the last quarter."""
    q = max(1, ratio.shape[1] // 4)
    return float(ratio[:, :q].mean() / ratio[:, -q:].mean())


def norm_ratio_verdict(dataset: str, ratios: pd.DataFrame) -> Verdict:
    """`norm_ratio` from the pre-activation rows of `norm_ratios`, trained against untrained."""
    pre = ratios[ratios.preact]
    tables = {t: _tables(pre[pre.trained == t], "ratio") for t in (True, False)}
    trained, untrained = per_seed.paired(_quarters, tables[True], tables[False])
    blocks = next(iter(tables[True].values())).shape[1]
    q = max(1, blocks // 4)

    def ends(trained: bool) -> str:
        means = [m.mean(axis=0) for m in tables[trained].values()]
        return (f"first {q} blocks {np.mean([m[:q].mean() for m in means]):.2f}, "
                f"last {q} {np.mean([m[-q:].mean() for m in means]):.2f}")

    return check(CLAIMS["norm_ratio"], dataset, trained, untrained,
                 detail=f"trained: {ends(True)}; untrained: {ends(False)} (mean over seeds)")


def _first_minus_others(first: np.ndarray) -> Callable[[np.ndarray, np.ndarray], float]:
    """Mean rise at the first blocks of a stage minus at the others, the net's first block in neither: the one
    rule for block 1 of both chapters' lesions (it follows a one-conv stem, so it is no stage's start like the
    others and no ordinary block either; Chapter 2's `lesion_downsampling` leaves it out the same way)."""
    first, others = first.copy(), ~first
    first[0] = others[0] = False

    def statistic(dropped: np.ndarray, intact: np.ndarray) -> float:
        rise = dropped.mean(axis=0) - intact.mean()
        return float(rise[first].mean() - rise[others].mean())
    return statistic


def drop_verdict(dataset: str, drops: pd.DataFrame) -> Verdict:
    """`drop_first_blocks` from `block_drops`: first-of-stage rises minus the others', trained against untrained."""
    first = per_seed.constant(drops, "first_of_stage").astype(bool)
    arrays = {}
    for t in (True, False):
        part = drops[drops.trained == t]
        intact = _tables(part, "intact_mistake")  # the same in every column: the net with all its blocks
        arrays[t] = {s: (m, intact[s][:, 0]) for s, m in _tables(part, "mistake").items()}
    trained, untrained = per_seed.paired(_first_minus_others(first), arrays[True], arrays[False])

    def rises(t: bool) -> str:
        r = [a[0].mean(axis=0) - a[1].mean() for a in arrays[t].values()]
        return (f"{100 * np.mean([x[1:][first[1:]].mean() for x in r]):+.1f} pts for the first block of a later "
                f"stage, {100 * np.mean([x[1:][~first[1:]].mean() for x in r]):+.1f} for the others, "
                f"{100 * np.mean([x[0] for x in r]):+.1f} for block 1 (left out)")

    detail = f"error rise trained: {rises(True)}; untrained: {rises(False)} (mean over seeds)"
    control = drops[~drops.trained]
    at_chance = ""
    if "chance" in control and len(control):
        intact = control.groupby("seed").intact_mistake.mean().mean()
        detail += f"; the untrained net's error with every block is {100 * intact:.0f} % (a guess: " \
                  f"{100 * control.chance.iloc[0]:.0f} %)"
        if intact >= control.chance.iloc[0] - AT_CHANCE:  # near a guess: a ceiling
            at_chance = (f"the untrained net errs {100 * intact:.0f} %, near chance, where dropping a block cannot "
                         "make it worse: its rise says nothing")
    return check(CLAIMS["drop_first_blocks"], dataset, trained, untrained, detail=detail, learned_untestable=at_chance)


def readout_verdicts(dataset: str, readouts: pd.DataFrame) -> list[Verdict]:
    """`intermediate_accuracy` (trained against untrained) and `borderline_corrected` (trained) from `readouts`."""
    correct = {t: _tables(readouts[readouts.trained == t], "correct") for t in (True, False)}
    trained_rise, untrained_rise = per_seed.paired(lambda c: float(c[:, -1].mean() - c[:, 0].mean()),
                                                   correct[True], correct[False])
    blocks = sorted(readouts.block.unique())

    def accuracies(t: bool) -> str:
        first = np.mean([c[:, 0].mean() for c in correct[t].values()])
        last = np.mean([c[:, -1].mean() for c in correct[t].values()])
        return f"{100 * first:.1f} % after block {blocks[0]} to {100 * last:.1f} % after block {blocks[-1]}"

    # the same rule as `drop_verdict`'s: an untrained net within AT_CHANCE of a guess after every block cannot
    # show a rise, so its control rules nothing out and the "is it learned?" row is not testable
    at_chance = ""
    if "chance" in readouts and len(correct[False]):
        best = max(c.mean(axis=0).max() for c in correct[False].values())
        if best <= readouts.chance.iloc[0] + AT_CHANCE:
            at_chance = (f"the untrained net's read-outs are at most {100 * best:.0f} % accurate after any block, "
                         f"near chance: it cannot show a rise, so it rules nothing out")

    readouts = readouts[readouts.trained]
    cases = readouts.dropna(subset=["corrected"])
    counts = cases.groupby(["seed", "example"])[["borderline", "corrected", "broken"]].sum()
    counts = counts[counts.borderline > 0]
    present = set(counts.index.get_level_values("seed"))
    missing = [int(s) for s in sorted(readouts.seed.unique()) if s not in present]
    net = per_seed.measure(lambda c: float((c[:, 1].sum() - c[:, 2].sum()) / c[:, 0].sum()),
                           {int(s): counts.loc[s].to_numpy(float) for s in present})
    total = counts.sum()
    seeds = readouts.seed.nunique()
    detail = (f"{total.borderline / seeds:.4g} borderline cases per seed ({len(counts) / seeds:.4g} examples): "
              f"{total.corrected / seeds:.4g} corrected, {total.broken / seeds:.4g} broken by the next block")
    if missing:
        detail += f"; no borderline example in seed(s) {missing}, which give no measurement"
    return [
        check(CLAIMS["intermediate_accuracy"], dataset, trained_rise, untrained_rise,
              detail=f"trained: {accuracies(True)}; untrained: {accuracies(False)} (mean over seeds)",
              learned_untestable=at_chance),
        check(CLAIMS["borderline_corrected"], dataset, net, detail=detail),
    ]


def _ends(frame: pd.DataFrame, value: str) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """seed -> (`value` per example before unrolling, after the last step)."""
    before, after = (per_seed.arrays(frame[frame.step == step], value, along="example", dtype=float)
                     for step in (0, frame.step.max()))
    return per_seed.together(before, after)


def unrolling_verdicts(dataset: str, unrolled: pd.DataFrame) -> list[Verdict]:
    """`unroll_naive` (trained against untrained), `unroll_scaled` and `unroll_borderline` from `unrolling`."""
    naive = unrolled[unrolled.kind == "naive"]
    scaled = unrolled[(unrolled.kind == "scaled") & unrolled.trained]
    steps = int(unrolled.step.max())
    ends = {t: _ends(naive[naive.trained == t], "norm") for t in (True, False)}
    growth, control = per_seed.paired(lambda b, a: float(np.log10(a.mean() / b.mean())), ends[True], ends[False])
    train = scaled[scaled.split == "train"]
    losses = _ends(train, "loss")
    change = per_seed.measure(lambda b, a: float((a.mean() - b.mean()) / b.mean()), losses)
    scales = train.groupby("seed").scale.first()

    test = scaled[(scaled.split == "test") & scaled.borderline.astype(bool)]
    correct = _ends(test, "correct")
    counts = {s: int((scaled[(scaled.split == "test") & (scaled.seed == s) & (scaled.step == 0)].borderline).sum())
              for s in sorted(unrolled.seed.unique())}
    # a seed with fewer borderline examples than MIN_BORDERLINE is left out: one example would move it too far
    few = {s: n for s, n in counts.items() if n < MIN_BORDERLINE}
    correct = {s: pair for s, pair in correct.items() if s not in few}
    # of several seeds, one left alone would decide the claim on its own examples: two at least, or not testable
    enough = len(correct) >= min(2, len(counts))
    fixed = per_seed.measure(lambda b, a: float(a.mean() - b.mean()), correct) if enough else []
    listing = ", ".join(f"seed {s}: {n}" for s, n in counts.items())
    border = f"borderline test examples {listing}"
    if few:
        border += (f"; seed(s) {', '.join(map(str, few))} left out (fewer than {MIN_BORDERLINE}, where one example "
                   f"moves the accuracy by more than {100 / MIN_BORDERLINE:.0f} points)")
    if correct:
        before = np.mean([b.mean() for b, _ in correct.values()])
        after = np.mean([a.mean() for _, a in correct.values()])
        border += f"; accuracy {100 * before:.0f} % to {100 * after:.0f} % (mean of the seeds counted)"

    def times(t: bool) -> str:
        return f"x{np.mean([a.mean() / b.mean() for b, a in ends[t].values()]):.3g}"

    loss_before = np.mean([b.mean() for b, _ in losses.values()])
    loss_after = np.mean([a.mean() for _, a in losses.values()])
    return [
        check(CLAIMS["unroll_naive"], dataset, growth, control,
              detail=f"mean activation norm after {steps} naive extra steps: trained {times(True)}, untrained "
                     f"{times(False)} (mean over seeds)"),
        check(CLAIMS["unroll_scaled"], dataset, change,
              detail=f"scale chosen per seed on other training examples: {', '.join(f'{s:g}' for s in scales)}; "
                     f"training loss {loss_before:.4f} to {loss_after:.4f} (mean over seeds)"),
        check(CLAIMS["unroll_borderline"], dataset, fixed, detail=border,
              untestable="" if enough else f"fewer than {MIN_BORDERLINE} borderline test examples in "
                                           f"{len(counts) - len(correct)} of {len(counts)} seeds: too few seeds to "
                                           "decide on"),
    ]


def _contrast(ratio: np.ndarray) -> float:
    """Change-then-refine: mean ratio of the first FIRST_BLOCKS columns (blocks) over that of the others."""
    return float(ratio[:, :FIRST_BLOCKS].mean() / ratio[:, FIRST_BLOCKS:].mean())


def architecture_verdicts(dataset: str, frame: pd.DataFrame) -> list[Verdict]:
    """`architectures_align` and `single_sharper` from `architectures` (none where it is empty)."""
    if frame.empty:
        return []
    trained = frame[frame.trained]
    names = list(dict.fromkeys(trained.arch))
    cos = {name: _tables(trained[(trained.arch == name) & ~trained.downsample], "cos") for name in names}
    every = per_seed.together(*cos.values())
    seeds = list(every)
    align = per_seed.measure(lambda *tables: min(_share_negative(t) for t in tables), every)
    shares = {name: per_seed.mean({s: _share_negative(cos[name][s]) for s in seeds}) for name in names}

    single = frame.arch[frame.layout == "single"].iloc[0]
    standard = frame.arch[frame.main].iloc[0]

    def ratios(t: bool) -> dict[int, tuple[np.ndarray, np.ndarray]]:
        part = frame[frame.trained == t]
        tables = {name: _tables(part[part.arch == name], "ratio") for name in (single, standard)}
        return {s: (tables[single][s], tables[standard][s]) for s in seeds}

    sharper = {t: ratios(t) for t in (True, False)}
    t_meas, u_meas = per_seed.paired(lambda a, b: _contrast(a) / _contrast(b), sharper[True], sharper[False])

    def contrasts(t: bool) -> str:
        values = np.array([[_contrast(a), _contrast(b)] for a, b in sharper[t].values()]).mean(axis=0)
        return f"{single} {values[0]:.2f}, {standard} {values[1]:.2f}"

    return [
        check(CLAIMS["architectures_align"], dataset, align,
              detail="share of blocks with cos < 0 (mean over seeds): "
                     + ", ".join(f"{name} {v:.0%}" for name, v in shares.items())),
        check(CLAIMS["single_sharper"], dataset, t_meas, u_meas,
              detail=f"first {FIRST_BLOCKS} blocks over the rest, trained: {contrasts(True)}; untrained: "
                     f"{contrasts(False)} (mean over seeds)"),
    ]


def finals(nets: Nets) -> pd.DataFrame:
    """Every run of the chapter on this data set, one row each (`runs.final_frame`: final metrics and `status`),
    `role` pre-activation, post-activation or the name of another architecture: where `verdicts` reads which
    runs behind each claim failed, diverged ones included (the probes never see those)."""
    roles = [("pre-activation", nets.preact), ("post-activation", nets.postact),
             *((name, results) for name, results in nets.architectures.items() if not ARCHITECTURES[name].main)]
    return pd.concat([runs.final_frame(results).assign(role=role) for role, results in roles if results],
                     ignore_index=True)


SINGLE = next(name for name, a in ARCHITECTURES.items() if a.layout == "single")
# the runs of `finals` (by role) behind a claim, where they are not the pre-activation nets alone
RUNS_BEHIND = {"architectures_align": ("pre-activation", *(n for n, a in ARCHITECTURES.items() if not a.main)),
               "single_sharper": ("pre-activation", SINGLE)}
ARCHITECTURE_CLAIMS = ("architectures_align", "single_sharper")


def _learned(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows of runs that trained."""
    return frame[frame.status == run_status.TRAINED] if len(frame) else frame


def _every_architecture_learned(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows of the seeds on which every architecture's run trained: the claims compare them all."""
    if frame.empty:
        return frame
    by_seed = frame.assign(learned=frame.status == run_status.TRAINED).groupby("seed").agg(
        learned=("learned", "all"), nets=("arch", "nunique"))
    every = by_seed.index[by_seed.learned & (by_seed.nets == frame.arch.nunique())]
    return frame[frame.seed.isin(every)]


def verdicts(dataset: str, alignment: pd.DataFrame, ratios: pd.DataFrame, drops: pd.DataFrame,
             readouts: pd.DataFrame, unrolled: pd.DataFrame, architectures: pd.DataFrame,
             finals: pd.DataFrame) -> list[Verdict]:
    """Every claim of Chapter 3 on one data set, from the frames of the steps above, in CLAIMS order.

    Every claim is about nets that learned: each counts only the rows of runs that trained (`run_status`), and the
    architecture claims only the seeds on which every architecture trained. Each verdict's `failed` names the
    runs behind it (`finals`, by `RUNS_BEHIND`; the pre-activation nets elsewhere) that did not train or diverged.
    """
    arch = _every_architecture_learned(architectures)
    learned = _learned(alignment)
    if len(learned) and (learned.preact & (learned.split == "test")).any():
        found = (alignment_verdicts(dataset, learned) + [norm_ratio_verdict(dataset, _learned(ratios)),
                                                         drop_verdict(dataset, _learned(drops))]
                 + readout_verdicts(dataset, _learned(readouts)) + unrolling_verdicts(dataset, _learned(unrolled)))
    else:
        found = [check(c, dataset, [], detail="no net trained") for k, c in CLAIMS.items()
                 if k not in ARCHITECTURE_CLAIMS]
    if len(arch):
        found += architecture_verdicts(dataset, arch)
    elif len(architectures):
        found += [check(CLAIMS[k], dataset, [], detail="no seed on which every architecture trained")
                  for k in ARCHITECTURE_CLAIMS]

    def failed(key: str) -> str:
        behind = finals[finals.role.isin(RUNS_BEHIND.get(key, ("pre-activation",)))]
        return run_status.describe_rows(behind, name="role")

    return [v.with_failed(failed(v.key)) for v in found]


# ---- the text the run writes

def emergence(frame: pd.DataFrame) -> str:
    """What `alignment_over_training` shows about when the negative sign appears, in a sentence or two."""
    cos = frame.dropna(subset=["cos"]).groupby(["epoch", "block"]).cos.mean().unstack("block")
    negative = (cos < 0).sum(axis=1)
    blocks = cos.shape[1]
    final = cos.index.max()

    def at(epoch: int) -> str:
        return f"{negative[epoch]} of {blocks} blocks negative (mean cosine {cos.loc[epoch].mean():+.4f})"

    steps = "; ".join(f"after epoch {e}: {at(e)}" for e in cos.index[1:-1])
    text = (f"At initialisation (epoch 0, mean over seeds): {at(0)}. " + (f"{steps[0].upper()}{steps[1:]}. "
            if steps else "") + f"At the end (epoch {final}): {at(final)}. ")
    if negative[0] >= 0.8 * blocks:
        text += ("So in this run the negative sign is already there before any training: what training "
                 "changes is its size, not its sign.")
    elif negative[final] >= 0.8 * blocks:
        text += ("So in this run the negative sign appears during training: most blocks do not have it at "
                 "initialisation.")
    else:
        text += "Neither at initialisation nor at the end do most blocks have a negative mean cosine in this run."
    return text


# where to look when a claim does not hold (said only for claims that do not)
LIKELY_REASONS = {
    "drop_first_blocks": "the seeds disagree: dropping the first block of a later stage costs some seeds far more "
                         "than others (detail column), which six seeds cannot average out",
    "intermediate_accuracy": "where the trained net is already near its final accuracy after the first block of the "
                             "last stage, little is left for the later blocks to add",
    "norm_ratio:learned": "an untrained pre-activation net already changes its features more in its first blocks "
                          "than in its last (each block adds to a growing sum, so its share falls with depth): the "
                          "paper's contrast is there, but the architecture gives it before training",
    "single_sharper:learned": "the untrained nets show the same contrast: the layout, not training, makes it",
    "unroll_naive:learned": "where the untrained block grows the features as much as the trained one or more (detail "
                    "column), the explosion comes from applying a pre-activation block again and again, with "
                    "nothing to shrink its output, and not from what training taught it: the paper's observation "
                    "is then true of this architecture, but it is no evidence about learned refinement",
    "borderline_corrected": "it rests on the borderline cases counted in the detail column",
    "unroll_scaled": "the detail column gives the training loss before unrolling, which may leave little to remove",
    "unroll_borderline": f"a seed with fewer than {MIN_BORDERLINE} borderline test examples is left out (counts "
                         "in the detail column), so few seeds may remain to decide",
}


# ---- the figures (means over seeds; the spread over seeds where it helps)

def plot_alignment(frame: pd.DataFrame, title: str) -> plt.Figure:
    """Jastrzebski et al. Fig. 4 analogue: cos(F_i(h_i), dL/dh_i) per block, mean ± sd over seeds (gaps at
    the downsampling blocks, where it is undefined)."""
    per_seed = frame.groupby(["net", "split", "seed", "block"]).cos.mean()
    fig, ax = plt.subplots(figsize=(9, 3.4))
    for i, net in enumerate(("pre-activation", "post-activation", "untrained")):
        for split, dashes in (("test", "-"), ("train", "--")):
            if (net, split) not in per_seed.index.droplevel(["seed", "block"]):
                continue
            cos = per_seed.loc[net, split].unstack("block")
            mean, sd = cos.mean(), cos.std(ddof=1) if len(cos) > 1 else None
            colour = "0.55" if net == "untrained" else f"C{i}"
            label = "pre-activation untrained (control), test" if net == "untrained" else f"{net}, {split}"
            ax.plot(mean.index, mean, dashes, color=colour, marker="o", ms=3, label=label)
            if sd is not None:
                ax.fill_between(mean.index, mean - sd, mean + sd, color=colour, alpha=0.15, lw=0)
    ax.axhline(0, color="k", lw=0.8)
    ax.set_xlabel("block")
    ax.set_ylabel("cos(F(h), dL/dh)")
    ax.set_title(f"{title}, mean ± sd over {frame.seed.nunique()} seed(s)")
    ax.legend(loc="upper left", bbox_to_anchor=(1, 1), frameon=False)
    fig.tight_layout()
    return fig


def plot_alignment_over_training(frame: pd.DataFrame, title: str) -> plt.Figure:
    """The alignment per block at initialisation (epoch 0), after a few epochs and at the end, mean over seeds."""
    fig, ax = plt.subplots(figsize=(9, 3.2))
    cos = frame.groupby(["epoch", "block"]).cos.mean().unstack("block")  # NaN at downsampling blocks: gaps
    colours = sns.color_palette("crest", len(cos) - 1)
    for i, (epoch, row) in enumerate(cos.iterrows()):
        style = {"ls": "--", "color": "grey", "label": "0 (untrained)"} if epoch == 0 else \
            {"color": colours[i - 1], "label": str(epoch)}
        ax.plot(row.index, row, marker="o", ms=3, **style)
    ax.axhline(0, color="k", lw=0.8)
    ax.set_xlabel("block")
    ax.set_ylabel("cos(F(h), dL/dh)")
    ax.set_title(f"{title}, mean over {frame.seed.nunique()} seed(s)")
    ax.legend(loc="upper left", bbox_to_anchor=(1, 1), frameon=False, title="after epoch")
    fig.tight_layout()
    return fig


def plot_block_effects(ratios: pd.DataFrame, drops: pd.DataFrame, title: str) -> plt.Figure:
    """Norm ratio ||F(h)||/||h|| per block (Fig. 2), trained and untrained, and the test accuracy with each
    block dropped (Fig. 3); means over seeds, bars ± sd."""
    r = ratios.groupby(["net", "trained", "seed", "block"], as_index=False).ratio.mean()
    r["state"] = r.trained.map({True: "trained", False: "untrained"})
    fig, (a, b) = plt.subplots(1, 2, figsize=(11.5, 3.4))
    sns.lineplot(data=r, x="block", y="ratio", hue="net", style="state", style_order=["trained", "untrained"],
                 marker="o", ms=3, errorbar="sd", ax=a)
    a.set_ylabel("||F(h)|| / ||h||")
    a.set_title("how much each block changes the features", fontsize=10)
    a.legend(fontsize=8, frameon=False)
    d = drops[drops.trained]
    acc = 100 * (1 - d.groupby(["seed", "block"]).mistake.mean()).unstack("block")
    first = per_seed.constant(d, "first_of_stage")
    colours = ["#dd8452" if f else NET_COLOURS["residual"] for f in first]
    b.bar(acc.columns, acc.mean(), yerr=acc.std(ddof=1) if len(acc) > 1 else None, color=colours)
    b.axhline(100 * (1 - d.groupby("seed").intact_mistake.mean().mean()), color="k", lw=1, label="no block dropped")
    b.set_ylabel("test accuracy (%)")
    b.set_xlabel("dropped block (orange: first of a stage)")
    b.set_title("dropping one block (pre-activation nets)", fontsize=10)
    b.legend(loc="lower right", framealpha=0.9)
    fig.suptitle(f"{title}, mean over {drops.seed.nunique()} seed(s)")
    fig.tight_layout()
    return fig


def plot_readouts(frame: pd.DataFrame, title: str) -> plt.Figure:
    """Fig. 5-6: the final classifier read after each block of the last stage; borderline corrections.
    Accuracy, loss and entropy: means over examples and seeds; corrections: counts per seed, mean over seeds.
    The untrained nets' accuracy (the control) is the dashed line."""
    control = frame[~frame.trained].groupby(["seed", "block"]).correct.mean().groupby("block").mean()
    frame = frame[frame.trained]
    per_seed = frame.groupby(["seed", "block"]).agg(accuracy=("correct", "mean"), loss=("loss", "mean"),
                                                    entropy=("entropy", "mean"), corrected=("corrected", "sum"),
                                                    broken=("broken", "sum"))
    m = per_seed.groupby("block").mean()
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.2))
    axes[0].plot(m.index, 100 * m.accuracy, marker="o", label="trained")
    axes[0].plot(control.index, 100 * control, "--", color="grey", marker="o", ms=3, label="untrained")
    axes[0].set_ylabel("test accuracy (%)")
    axes[0].legend(frameon=False, fontsize=8)
    axes[1].plot(m.index, m.loss, marker="o", label="loss")
    axes[1].plot(m.index, m.entropy, marker="s", label="entropy")
    axes[1].legend(frameon=False)
    c = m.iloc[:-1]
    axes[2].bar(c.index - 0.2, c.corrected, width=0.4, label="corrected by the next block")
    axes[2].bar(c.index + 0.2, c.broken, width=0.4, label="broken by the next block")
    axes[2].set_ylabel("borderline test examples")
    axes[2].legend(frameon=False, fontsize=8)
    for ax in axes:
        ax.set_xlabel("block of the last stage")
        ax.xaxis.set_major_locator(plt.MaxNLocator(integer=True))
    fig.suptitle(f"{title}, mean over {frame.seed.nunique()} seed(s)")
    fig.tight_layout()
    return fig


def plot_unrolling(frame: pd.DataFrame, title: str) -> plt.Figure:
    """Fig. 7: the last block applied again and again, naively and with a scaled output (mean over seeds); the
    untrained net's last block applied naively (the control of `unroll_naive`) beside them."""
    frame = frame.assign(kind=frame.kind.where(frame.trained, frame.kind + ", untrained"))
    per_seed = frame.groupby(["kind", "split", "seed", "step"], as_index=False)[["norm", "loss", "correct"]].mean()
    border = frame[frame.borderline.astype(bool) & (frame.split == "test") & (frame.kind == "scaled")]
    border = border.groupby(["seed", "step"], as_index=False).correct.mean().assign(what="the borderline ones")
    scales = ", ".join(f"{s:g}" for s in frame[frame.kind == "scaled"].groupby("seed").scale.first())
    n_border = frame[(frame.step == 0) & (frame.split == "test") & (frame.kind == "scaled")].borderline.sum()
    fig, axes = plt.subplots(1, 3, figsize=(12.5, 3.2))
    test = per_seed[per_seed.split == "test"]
    sns.lineplot(data=test, x="step", y="norm", hue="kind", marker="o", ms=3, errorbar=None, ax=axes[0])
    axes[0].set_yscale("log")
    axes[0].set_ylabel("mean ||h|| (log)")
    axes[0].legend(frameon=False, title=f"scale per seed: {scales}", title_fontsize=7, fontsize=8)
    train = per_seed[per_seed.split == "train"]
    sns.lineplot(data=train, x="step", y="loss", marker="o", ms=3, color="C1", errorbar=None, ax=axes[1])
    axes[1].set_ylabel("training loss (scored half)")
    acc = pd.concat([test[test.kind == "scaled"].assign(what="all test examples"), border])
    sns.lineplot(data=acc.assign(correct=100 * acc.correct), x="step", y="correct", hue="what", marker="o", ms=3,
                 errorbar=None, ax=axes[2])
    axes[2].set_ylabel("test accuracy (%), scaled")
    axes[2].legend(frameon=False, fontsize=8, title=f"borderline: {n_border} over all seeds", title_fontsize=7)
    for ax in axes:
        ax.set_xlabel("extra applications of the last block")
    fig.suptitle(f"{title}, mean over {frame.seed.nunique()} seed(s)")
    fig.tight_layout()
    return fig


def plot_architectures(frame: pd.DataFrame, title: str) -> plt.Figure:
    """Per block of each architecture: alignment, norm ratio and the error after dropping the block (trained
    nets; the mean over seeds of the per-seed means over test examples)."""
    t = frame[frame.trained]
    per_seed = t.groupby(["arch", "seed", "block", "position"], as_index=False)[["cos", "ratio", "mistake"]].mean()
    per_seed["drop_err"] = 100 * per_seed.mistake
    fig, axes = plt.subplots(1, 3, figsize=(15, 3.8))
    panels = (("cos", "cos(F(h), dL/dh)"), ("ratio", "||F(h)|| / ||h||"), ("drop_err", "error without the block (%)"))
    for ax, (column, label) in zip(axes, panels, strict=True):
        sns.lineplot(data=per_seed, x="position", y=column, hue="arch", marker="o", markersize=4, errorbar=None,
                     ax=ax)
        if column == "cos":
            ax.axhline(0, color="black", lw=0.8)
        ax.set_xlabel("block (0 = first, 1 = last)")
        ax.set_ylabel(label)
    for ax in axes[:2]:
        ax.get_legend().remove()
    sns.move_legend(axes[2], "upper left", bbox_to_anchor=(1, 1), frameon=False)
    fig.suptitle(f"{title}, mean over {frame.seed.nunique()} seed(s)", y=1.02)
    fig.tight_layout()
    return fig
