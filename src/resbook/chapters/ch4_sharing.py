"""Chapter 4, block sharing (Jastrzebski et al. 2018, Sec. 4.5): naive sharing fails, unshared batch norm fixes it.

The notebook `book/04_block_sharing.ipynb` calls, in order: `variants` (the nets compared, as `Variant`s),
`train` (every variant, pre-activation, on the profile's hardest data set, `dataset_of`, every seed), `finals` and
`mistakes` (which test examples each net gets wrong), `table1_analogue` (Table 1 beside ours),
`feature_norms` and `gradient_norms` (the probes at initialisation and after training, every seed),
`initial_growth` (untrained nets at the paper's size, a ResNet-110 with 0 to 13 shared repeats, 10 seeds), then
`verdicts` (read out with `claims.reading` and `LIKELY_REASONS`); each figure is one of the functions at the end.

Whether a run trained is `run_status`'s call, read from the `status` column of every frame. A shared net that
trains badly is the effect naive sharing is said to have, so the claims that compare test errors count every run
but a diverged one (no final error: the detail names it); "UBN is about as good" is a claim about nets that
learned, and counts only seeds where both nets trained. A diverged run is never probed after training (NaN
weights); its initial net is. Every claims row names the runs that failed; the error figure marks them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
import torch

from .. import data, per_seed, plots, probes, run_status, runs, stats
from ..claims import NEGLIGIBLE, SAME_MARGIN, Basis, Claim, Direction, Verdict, check, declare
from ..models import SHARED_BN, ResNet, blocks_per_stage, count_parameters
from ..papers import JASTRZEBSKI2018, TABLE1
from ..profiles import Profile
from ..train import TRAIN_EVAL_EXAMPLES, TrainConfig, TrainResult
from . import checkpoint_epochs

NOTEBOOK = "04_block_sharing"
# Jastrzebski et al. share the top 13 of 18 blocks of every stage of a ResNet-110.
PAPER_SHARED_SHARE = 13 / 18
# The norm and gradient probes see the first this many training examples, as one batch (the units that the
# growth claim resamples).
PROBE_EXAMPLES = 256

CLAIMS = declare(
    Claim("sharing_naive_fails", JASTRZEBSKI2018, "Sec. 4.5",
          "Naive sharing does worse than an unshared net of the same size",
          "shared ResNet-110 (13 of 18 blocks a stage shared) underfits and overfits, worse than a ResNet-32 "
          "of similar size (our same-size net has the shared net's distinct blocks, like Table 1's ResNet-38)",
          "test error, naively shared net minus the unshared net of the same size", Direction.ABOVE, 0.01,
          "Sec. 4.5 says worse, without the naive net's error", points=True),
    Claim("sharing_ubn_fixes", JASTRZEBSKI2018, "Table 1",
          "With unshared batch norm the shared net is at least as good as an unshared net of its size",
          "ResNet-110-UBN 0.63 / 6.62 vs ResNet-38 1.20 / 6.99 (570k vs 565k params)",
          f"test error, shared net with UBN minus the unshared net of the same size (seeds where both nets "
          f"trained: training error below {100 * run_status.STARTED_ERR:.0f} %, loss finite)", Direction.BELOW,
          SAME_MARGIN, "one-sided (non-inferiority): at least as good as the unshared net, as in Table 1 "
          "(6.62 vs 6.99 %)", points=True, basis=Basis.SAME, neutral=SAME_MARGIN),
    Claim("sharing_explodes", JASTRZEBSKI2018, "Sec. 4.5",
          "Naive sharing makes activations grow through the repeated block",
          "naive sharing leads to representation explosion",
          "growth of mean ||h|| from stem to output at initialisation (batch statistics), naively shared net "
          "over the unshared net of the same depth, at the paper's ResNet-110 with 13 of 18 blocks a stage "
          "shared", Direction.ABOVE, NEGLIGIBLE["ratio"],
          "Sec. 4.5 says the activations explode, with no number (the book's own 2.0 was dropped for the "
          "direction-only rule after a cpu value of 1.88 at 6 repeats had been seen)",
          neutral=1.0, unit="ratio"),
    Claim("sharing_stats_matter", JASTRZEBSKI2018, "Sec. 4.5 ablation",
          "Of UBN's parts, unsharing the statistics matters most",
          "unshared BN statistics give most of the gain",
          "test error, the better ablation that shares BN statistics (own scale/shift, or scale 0.1) minus the "
          "ablation with its own statistics", Direction.ABOVE, 0.01, "the ablation is described in words",
          points=True),
)


# ---- the nets

# What a variant is for in the comparison:
#   unshared  - the deep net, nothing shared;   naive - its top blocks shared, batch norm shared too;
#   same size - an unshared net with as many distinct blocks as the shared one;   ubn - shared with unshared BN;
#   ablation  - shared, keeping one part of unshared BN (its `shared_bn` says which: stats / affine / init).
ROLES = ("unshared", "naive", "same size", "ubn", "ablation")
MAIN_ROLES = ROLES[:4]  # the paper's comparison; the ablations come on top where the profile trains them
ABLATION_ROW = "ablation (Sec. 4.5)"
# The batch-norm modes in which every application of a shared block keeps its own statistics (models.SHARED_BN)
OWN_STATISTICS = ("unshared", "stats")


@dataclass(frozen=True)
class Variant:
    """One net of the chapter: its display name, its role in the comparison, and its model options."""

    name: str  # for people (tables, legends); code decides by the fields below, never by this
    role: str  # one of ROLES
    depth: int
    shared: int = 0  # the top `shared` blocks of every stage share their weights (0: none)
    shared_bn: str = "-"  # how the shared blocks treat batch norm (models.SHARED_BN); "-" when none are shared
    paper_row: str = ABLATION_ROW  # the net of Jastrzebski et al.'s Table 1 it stands for

    def __post_init__(self):
        if self.role not in ROLES:
            raise ValueError(f"role must be one of {ROLES}; got {self.role!r}")
        if self.shared and self.shared_bn not in SHARED_BN:
            raise ValueError(f"a shared net's shared_bn must be one of {SHARED_BN}; got {self.shared_bn!r}")
        if not self.shared and self.shared_bn != "-":
            raise ValueError(f"{self.name}: shared_bn {self.shared_bn!r} without shared blocks")

    def configs(self, profile: Profile, dataset: str) -> list[TrainConfig]:
        """The runs of this variant at `profile` on `dataset`: pre-activation, one per seed, with checkpoints."""
        sharing = {"shared": self.shared, "shared_bn": self.shared_bn} if self.shared else {}
        return runs.grid(profile, datasets=[dataset], depths=[self.depth], preact=True,
                         checkpoints=checkpoint_epochs(profile), **sharing)


def variants(profile: Profile) -> list[Variant]:
    """The nets of the chapter at the profile's deepest depth: the paper's four, then the ablations if any."""
    depth = profile.deepest
    n = (depth - 2) // 6
    shared = max(2, min(n - 1, round(PAPER_SHARED_SHARE * n)))
    small = 6 * (n - shared + 1) + 2  # an unshared net with the same distinct blocks
    found = [
        Variant(f"unshared-{depth}", "unshared", depth, paper_row="ResNet-110"),
        Variant(f"shared-{depth}, naive", "naive", depth, shared, "shared",
                paper_row="shared ResNet-110 (naive, Sec. 4.5)"),
        Variant(f"unshared-{small} (same size)", "same size", small, paper_row="ResNet-38"),
        Variant(f"shared-{depth}, UBN", "ubn", depth, shared, "unshared", paper_row="ResNet-110-UBN"),
    ]
    if profile.ablations:
        found += [Variant(f"shared-{depth}, {what}", "ablation", depth, shared, mode)
                  for mode, what in (("stats", "own BN statistics only"), ("affine", "own BN scale/shift only"),
                                     ("init", "BN scale 0.1 only"))]
    return found


def dataset_of(profile: Profile) -> str:
    """The one data set the chapter runs on: the profile's last. Profiles list their data sets from the easiest
    to the hardest, and Table 1's differences (0.2 to 0.6 points) need errors with room to differ: on digits
    every net of the chapter is within about 2 % of perfect."""
    return profile.datasets[-1]


def plan(profile: Profile) -> dict[str, list[TrainConfig]]:
    """Every variant, every seed, on the chapter's data set (`dataset_of`)."""
    dataset = dataset_of(profile)
    return {v.name: v.configs(profile, dataset) for v in variants(profile)}


def train(profile: Profile, dataset: str | None = None, *, progress: bool = True) -> dict[Variant, list[TrainResult]]:
    """Every variant's runs (every seed) on `dataset` (default: `dataset_of`), trained where the cache lacks them."""
    dataset = dataset or dataset_of(profile)
    return {v: runs.sweep(v.configs(profile, dataset), progress=progress) for v in variants(profile)}


def _described(v: Variant) -> dict:
    """The variant's fields as frame columns (`variant` is its display name)."""
    return {"variant": v.name, "role": v.role, "shared": v.shared, "shared_bn": v.shared_bn}


def finals(trained: dict[Variant, list[TrainResult]]) -> pd.DataFrame:
    """One row per run: final metrics, the variant's fields, `paper_row` and the net's parameter count."""
    return pd.concat([runs.final_frame(results).assign(**_described(v), paper_row=v.paper_row,
                                                       params=count_parameters(results[0].model))
                      for v, results in trained.items()], ignore_index=True)


def mistakes(trained: dict[Variant, list[TrainResult]]) -> pd.DataFrame:
    """Which examples every run gets wrong: one row per (variant, seed, split) with the bool array `wrong` and
    the run's `status` (`run_status`). A diverged run keeps its rows, `wrong` None: it is not probed (NaN
    weights), and the claims count it among the failed runs.

    The test split is the test set; the train split is the one training error is measured on (the first
    `train.TRAIN_EVAL_EXAMPLES`). The nets of a seed see the same examples, so the claims resample them in pairs.
    """
    probed = {id(r) for r in run_status.probed([r for rs in trained.values() for r in rs], "mistakes")}
    rows = []
    for v, results in trained.items():
        for r in results:
            ds = data.load(r.config.dataset)
            n = TRAIN_EVAL_EXAMPLES
            for split, (x, y) in (("train", (ds.train_x[:n], ds.train_y[:n])), ("test", (ds.test_x, ds.test_y))):
                wrong = probes.mistakes(r.model, x, y) if id(r) in probed else None
                rows.append({**_described(v), "paper_row": v.paper_row, "dataset": r.config.dataset,
                             "seed": r.config.seed, "status": run_status.status(r), "split": split, "wrong": wrong})
    return pd.DataFrame(rows)


def _measured(rows: pd.DataFrame) -> pd.DataFrame:
    """The rows of runs that did not diverge: those that have mistakes to count."""
    return rows[rows.status != run_status.DIVERGED]


def _interval(measured: list[stats.Measurement]) -> str:
    """An error rate over seeds as the table shows it: the mean and its 95 % interval, in percent."""
    est = stats.estimate(measured)
    return f"{100 * est.value:.1f} % [{100 * est.lo:.1f}, {100 * est.hi:.1f}]"


def table1_analogue(mistakes: pd.DataFrame, finals: pd.DataFrame) -> pd.DataFrame:
    """Jastrzebski et al. Table 1 beside ours: train / test error, the mean over seeds with its 95 % interval
    (Student's t over seeds; with one seed, the bootstrap over examples), and parameters. Every run counts but a
    diverged one, which has no final error; `failed runs` names those that did not train or diverged."""
    params = finals.groupby("variant").params.first()
    rows = []
    for name, f in mistakes.groupby("variant", sort=False):
        values = TABLE1.get(f.paper_row.iloc[0])
        measured = _measured(f)
        errors = {split: _interval(per_seed.measure(np.mean, per_seed.arrays(g, "wrong")))
                  for split, g in measured.groupby("split")}
        rows.append({
            "ours": name,
            "params": f"{params[name] / 1e3:.0f}k",
            "train error": errors.get("train", "-"),
            "test error": errors.get("test", "-"),
            "seeds": measured.seed.nunique(),
            "failed runs": run_status.summary(name, run_status.by_seed(f[f.split == "test"])) or "-",
            "paper's counterpart": f.paper_row.iloc[0],
            "paper train / test (params)": f"{values[0]:.2f} / {values[1]:.2f} % ({values[2]}k)" if values else "-",
        })
    return pd.DataFrame(rows)


# ---- the probes

def _probe_batch(dataset: str) -> tuple[torch.Tensor, torch.Tensor]:
    ds = data.load(dataset)
    return ds.train_x[:PROBE_EXAMPLES], ds.train_y[:PROBE_EXAMPLES]


# (when, statistics) of each norm probe: the claim uses the first, its detail the second, the figure the third
PROBED = (("initialisation", "batch"), ("initialisation", "running"), ("trained", "batch"))


def feature_norms(trained: dict[Variant, list[TrainResult]], dataset: str) -> pd.DataFrame:
    """Per-example ||h|| after the stem and after every block (`probes.activation_norms_per_example`), for every
    run, as `PROBED` lists them: at initialisation with batch statistics (train mode, as in training) and with
    running statistics (eval mode, as at test time), and trained with batch statistics; on the first
    `PROBE_EXAMPLES` training examples.

    One row per (variant, seed, when, statistics) with the array `norms` of shape (blocks + 1, examples), and
    the run's `status`. The initial net is each seed's own initialisation (`probes.untrained`, seeded as training
    seeds it), its running statistics set from the same examples: probed for every run. The trained net is not
    probed where the run diverged (NaN weights).
    """
    x, _ = _probe_batch(dataset)
    probed = {id(r) for r in run_status.probed([r for rs in trained.values() for r in rs], "feature_norms, trained")}
    rows = []
    for v, results in trained.items():
        for r in results:
            initial = probes.untrained(r.config, x)
            for when, statistics in PROBED:
                if when == "trained" and id(r) not in probed:
                    continue
                model = initial if when == "initialisation" else r.model
                rows.append({**_described(v), "dataset": dataset, "seed": r.config.seed, "when": when,
                             "statistics": statistics, "status": run_status.status(r),
                             "norms": probes.activation_norms_per_example(model, x, statistics == "batch")})
    return pd.DataFrame(rows)


def gradient_norms(trained: dict[Variant, list[TrainResult]], dataset: str) -> pd.DataFrame:
    """`probes.stage_gradient_norms` of every run's initial net (its seed's initialisation), on training data:
    one row per (variant, seed, stage), with the run's `status`."""
    x, y = _probe_batch(dataset)
    rows = []
    for v, results in trained.items():
        for r in results:
            model = r.config.initial_model()  # the weights this run started from
            rows += [{**_described(v), "dataset": dataset, "seed": r.config.seed, "when": "initialisation",
                      "status": run_status.status(r), "stage": s + 1, "norm": norm}
                     for s, norm in enumerate(probes.stage_gradient_norms(model, x, y))]
    return pd.DataFrame(rows)


def block_means(norms: pd.DataFrame) -> pd.DataFrame:
    """`feature_norms` as mean ||h|| over the examples: one row per (variant, seed, when, statistics, block)."""
    keys = [c for c in norms.columns if c != "norms"]
    return pd.DataFrame([{**{k: row[k] for k in keys}, "block": b, "norm": float(value)}
                         for _, row in norms.iterrows() for b, value in enumerate(row.norms.mean(axis=1))])


# ---- the paper's configuration at initialisation

# Jastrzebski et al.'s net (Sec. 4.5): a pre-activation ResNet-110 at the paper's widths, the top 13 of the 18 blocks
# of every stage shared. The explosion is a claim about initialisation, so it needs no training: it is measured
# at this size at every profile, not on the chapter's smaller trained nets.
PAPER_DEPTH = 110
PAPER_WIDTHS = (16, 32, 64)
PAPER_REPEATS = 13
# the numbers of shared repeats the growth probe builds: 0 is the unshared net (the reference), the last the paper's
GROWTH_REPEATS = (0, 2, 4, 8, PAPER_REPEATS)
# untrained nets are cheap to probe (10 seeds x 5 ResNet-110s on the probe batch: about half a minute on two
# cores), so every profile measures 10 seeds
GROWTH_SEEDS = tuple(range(10))


def initial_net(dataset: str, depth: int, repeats: int, seed: int, width: Sequence[int] = PAPER_WIDTHS) -> ResNet:
    """The chapter's kind of net (pre-activation; the top `repeats` blocks of every stage shared naively, batch norm
    shared too; 0: nothing shared) with the weights that a training run of `seed` would start from."""
    config = TrainConfig(dataset, depth, width=tuple(width), preact=True, seed=seed, shared=repeats,
                         shared_bn="shared")
    return config.initial_model()


def _growth(stem: np.ndarray, output: np.ndarray) -> float:
    return float(output.mean() / stem.mean())


def initial_growth(dataset: str, repeats: Sequence[int] = GROWTH_REPEATS, seeds: Iterable[int] = GROWTH_SEEDS,
                   depth: int = PAPER_DEPTH, width: Sequence[int] = PAPER_WIDTHS) -> pd.DataFrame:
    """Per-example ||h|| after the stem and at the output, with batch statistics
    (`probes.activation_norms_per_example`), of untrained nets: for every seed, the net of `depth` with each number
    of shared `repeats` (`initial_net`; 0 is the unshared net, which the claim compares against), on the chapter's
    probe batch of `dataset`.

    One row per (seed, repeats): the arrays `stem` and `output` (one entry per probe example) and `growth`, mean
    ||h|| at the output over mean ||h|| after the stem. The nets of a seed see the same examples, so the claim
    resamples them in pairs."""
    if 0 not in repeats:
        raise ValueError(f"the unshared net is the reference: include 0 in repeats, e.g. (0, 2, 13); got {repeats}")
    x, _ = _probe_batch(dataset)
    rows = []
    for seed in seeds:
        for m in repeats:
            norms = probes.activation_norms_per_example(initial_net(dataset, depth, m, seed, width), x)
            rows.append({"dataset": dataset, "depth": depth, "seed": seed, "repeats": m, "stem": norms[0],
                         "output": norms[-1], "growth": _growth(norms[0], norms[-1])})
    return pd.DataFrame(rows)


def mean_growth(growth: pd.DataFrame) -> pd.Series:
    """`initial_growth`'s growth, the mean over seeds at each number of repeats (ascending)."""
    return growth.groupby("repeats").growth.mean().sort_index()


# ---- the claims

def _test_rows(mistakes: pd.DataFrame, fields: dict) -> pd.DataFrame:
    """The test rows of the one variant whose fields equal `fields` (e.g. role="naive")."""
    rows = per_seed.select(mistakes, split="test", **fields)
    if rows.variant.nunique() > 1:
        raise ValueError(f"several variants have {fields}: {sorted(rows.variant.unique())}")
    return rows


def _wrong(mistakes: pd.DataFrame, **fields) -> dict[int, np.ndarray]:
    """seed -> the test mistakes of the one variant whose fields equal `fields` (e.g. role="naive"); a diverged
    run has none."""
    return per_seed.arrays(_measured(_test_rows(mistakes, fields)), "wrong")


def _statuses(mistakes: pd.DataFrame, **fields) -> dict[int, str]:
    """seed -> the status of the run of the one variant whose fields equal `fields`."""
    return run_status.by_seed(_test_rows(mistakes, fields))


def _name(mistakes: pd.DataFrame, **fields) -> str:
    rows = _test_rows(mistakes, fields)
    return rows.variant.iloc[0] if len(rows) else f"(no net with {fields})"


def _mean_error(wrong: dict[int, np.ndarray], seeds: list[int]) -> str:
    return f"{100 * per_seed.mean(wrong, seeds):.1f} %"


def train_errors(mistakes: pd.DataFrame, **fields) -> dict[int, float]:
    """seed -> the final training error of the one variant whose fields equal `fields` (its train rows; none
    for a diverged run)."""
    wrong = per_seed.arrays(_measured(per_seed.select(mistakes, split="train", **fields)), "wrong")
    return {seed: float(np.mean(w)) for seed, w in wrong.items()}


def _skipped(counted: run_status.Counted, errors: dict[str, dict[int, float]]) -> str:
    """Which seeds `counted` left out, net by net with their training errors, e.g. "net 2 did not train (seed 0
    90.0 %), so those seeds give no measurement"; "" when none was."""
    seeds: dict[tuple[str, str], list[int]] = {}
    for seed, why in counted.left_out.items():
        for name, status in why.items():
            seeds.setdefault((name, status), []).append(seed)
    if not seeds:
        return ""
    parts = [f"{name} diverged, no final error ({', '.join(f'seed {s}' for s in found)})"
             if status == run_status.DIVERGED else
             f"{name} {status} ({', '.join(f'seed {s} {100 * errors[name][s]:.1f} %' for s in found)})"
             for (name, status), found in seeds.items()]
    return f"{'; '.join(parts)}, so those seeds give no measurement"


def error_gap(claim: Claim, mistakes: pd.DataFrame, worse: dict, better: dict, learned: bool = False) -> Verdict:
    """The verdict on "test error of the variant `worse` minus that of `better`" (fields such as role="naive"),
    seed by seed, the two nets' test examples resampled in pairs. Which seeds count is `run_status.count`'s
    rule: with `learned`, only seeds where both nets trained ("the same" as a net that did not train says
    nothing about the shared net); without, the `better` net (the reference) must have trained (two nets at
    chance show no gap) and the `worse` one counts whatever it did, unless it diverged (no final error)."""
    dataset = mistakes.dataset.iloc[0]
    nets = {_name(mistakes, **fields): fields for fields in (worse, better)}
    counted = run_status.count({name: _statuses(mistakes, **f) for name, f in nets.items()},
                               learned=list(nets) if learned else [_name(mistakes, **better)])
    a, b = _wrong(mistakes, **worse), _wrong(mistakes, **better)
    pairs = {s: (a[s], b[s]) for s in counted.seeds}
    seeds = list(pairs)
    detail = (f"test error {_name(mistakes, **worse)} {_mean_error(a, seeds)}, {_name(mistakes, **better)} "
              f"{_mean_error(b, seeds)} "
              f"(mean of {per_seed.count(len(seeds))})") if seeds else "no seed has both nets"
    skipped = _skipped(counted, {name: train_errors(mistakes, **f) for name, f in nets.items()})
    if skipped:
        detail = f"{'no net trained' if learned else 'no seed has both nets measured'}: {skipped}" if not seeds \
            else f"{detail}; {skipped}"
    return check(claim, dataset, per_seed.measure(per_seed.mean_gap, pairs), detail=detail, failed=counted.failed)


def error_verdicts(mistakes: pd.DataFrame) -> list[Verdict]:
    """Naive sharing and UBN, each against the unshared net of the same size (one data set's `mistakes`)."""
    # naive sharing training badly is the effect: every run counts
    return [error_gap(CLAIMS["sharing_naive_fails"], mistakes, {"role": "naive"}, {"role": "same size"}),
            # "about the same" holds trivially between nets that did not learn: both must have trained
            error_gap(CLAIMS["sharing_ubn_fixes"], mistakes, {"role": "ubn"}, {"role": "same size"}, learned=True)]


def ablation_verdicts(mistakes: pd.DataFrame) -> list[Verdict]:
    """The ablation that keeps its own BN statistics against the better of those that share them (decided by
    each variant's `shared_bn`); not testable where the profile trains no ablations."""
    ablations = mistakes[(mistakes.role == "ablation") & (mistakes.split == "test")]
    if ablations.empty:
        return [check(CLAIMS["sharing_stats_matter"], mistakes.dataset.iloc[0], [], detail="no ablation nets",
                      untestable="this profile trains no ablation nets (`ablations=False`: three more nets a seed "
                      "would take the chapter over its 10 minutes); the override `{\"ablations\": true}` adds them")]
    own = [m for m in dict.fromkeys(ablations.shared_bn) if m in OWN_STATISTICS]
    sharing = [m for m in dict.fromkeys(ablations.shared_bn) if m not in OWN_STATISTICS]
    if len(own) != 1 or not sharing:
        raise ValueError(f"the ablations need one mode with own statistics and some without; got {own}, {sharing}")
    # which part of UBN matters is read from how badly each ablation trains: every run counts but a diverged one
    counted = run_status.count({_name(ablations, shared_bn=m): _statuses(ablations, shared_bn=m)
                                for m in (own[0], *sharing)})
    mine = _wrong(ablations, shared_bn=own[0])
    others = [_wrong(ablations, shared_bn=m) for m in sharing]
    every = {s: units for s, units in per_seed.together(mine, *others).items() if s in counted.seeds}
    seeds = list(every)

    def gap(own_wrong: np.ndarray, *shared_wrong: np.ndarray) -> float:
        return min(w.mean() for w in shared_wrong) - own_wrong.mean()

    measured = per_seed.measure(gap, every)
    detail = "no seed has every ablation measured"
    if seeds:
        detail = "test error " + "; ".join(f"{_name(ablations, shared_bn=m)} {_mean_error(w, seeds)}"
                                           for m, w in ((own[0], mine), *zip(sharing, others, strict=True)))
        detail += f" (mean of {per_seed.count(len(seeds))})"
    if counted.says():
        detail += f"; {counted.says()}"
    return [check(CLAIMS["sharing_stats_matter"], ablations.dataset.iloc[0], measured, detail=detail,
                  failed=counted.failed)]


def _stem_and_output(growth: pd.DataFrame, repeats: int) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """seed -> per-example ||h|| after the stem and at the output, of the net with `repeats` shared repeats."""
    rows = per_seed.select(growth, repeats=repeats)
    stem, output = per_seed.arrays(rows, "stem"), per_seed.arrays(rows, "output")
    return {seed: (stem[seed], output[seed]) for seed in stem}


def _growth_ratio(stem_a: np.ndarray, out_a: np.ndarray, stem_b: np.ndarray, out_b: np.ndarray) -> float:
    return _growth(stem_a, out_a) / _growth(stem_b, out_b)


def _configuration(growth: pd.DataFrame, seeds: int) -> str:
    """The nets the growth claim compares, in words: "pre-activation ResNet-110 with the top 13 of 18 ..."."""
    depth, most = int(growth.depth.iloc[0]), int(growth.repeats.max())
    return (f"pre-activation ResNet-{depth} with the top {most} of {blocks_per_stage(depth)} blocks a stage shared "
            f"naively over the unshared ResNet-{depth}, {per_seed.count(seeds)} at initialisation (batch "
            f"statistics, {len(growth.stem.iloc[0])} probe examples)")


def growth_verdict(growth: pd.DataFrame) -> Verdict:
    """`sharing_explodes` from `initial_growth`: per seed, the growth of the net with the most shared repeats over
    that of the unshared net (0 repeats) of the same depth and seed, the probe examples resampled in pairs. The
    detail gives the growth at every number of repeats. Nothing is trained, so no run can fail."""
    most = int(growth.repeats.max())
    if most == 0:
        raise ValueError("the growth claim needs a shared net: initial_growth with repeats above 0, e.g. (0, 13)")
    pairs = per_seed.together(_stem_and_output(growth, most), _stem_and_output(growth, 0))
    measured = per_seed.measure(_growth_ratio, {seed: (*a, *b) for seed, (a, b) in pairs.items()})
    if not measured:
        return check(CLAIMS["sharing_explodes"], growth.dataset.iloc[0], [],
                     detail="no seed has both the shared and the unshared net")
    steps = ", ".join(f"{m or 'none (unshared)'} x{g:.2f}"
                      for m, g in mean_growth(growth[growth.seed.isin(list(pairs))]).items())
    detail = (f"{_configuration(growth, len(measured))}; growth of mean ||h|| from stem to output, mean over seeds, "
              f"by shared repeats: {steps}")
    return check(CLAIMS["sharing_explodes"], growth.dataset.iloc[0], measured, detail=detail)


def verdicts(mistakes: pd.DataFrame, growth: pd.DataFrame) -> list[Verdict]:
    """Chapter 4's claims on one data set, from `mistakes` (one row per run and split) and `initial_growth`."""
    return error_verdicts(mistakes) + [growth_verdict(growth)] + ablation_verdicts(mistakes)


# What a reader should know about a verdict that does not hold here, by claim: the likely reason at small scale.
LIKELY_REASONS = {
    "sharing_naive_fails": "our shared groups repeat a block fewer times than the paper's 13, and a small data set "
                           "leaves few test examples, so a gap of a point or two is hard to resolve",
    "sharing_ubn_fixes": "a one-sided claim (no more than a point worse) needs an interval whose upper end is under "
                         "the 1-point margin: with few test examples or seeds it reaches past it even when the two "
                         "nets are close; and a seed where either net did not train is not measured (detail and "
                         "failed-runs columns)",
    "sharing_explodes": "the unshared net of the same depth also grows its features (every block adds to them), "
                        "so the ratio is smaller than the naive net's own growth; and our stand-in's small inputs "
                        "(8x8 images, 1-D signals) are not CIFAR-10's",
    "sharing_stats_matter": "the three ablations differ by a point or so, close to the seed-to-seed spread",
}


# ---- the figures

def errors(finals: pd.DataFrame, title: str) -> plt.Figure:
    """Train and test error of every sharing variant: mean over seeds with its 95 % interval (Table 1, Sec. 4.5).
    Each run that did not train is an x at its own error, each that diverged a dagger at the right edge of its
    variant's row (`plots.mark_failed`); a diverged run has no final error, so it is not in the mean."""
    keep = [c for c in ("variant", "seed", "status") if c in finals]
    long = finals.melt(id_vars=keep, value_vars=["train_err", "test_err"], var_name="split", value_name="error")
    long["error"] *= 100
    long["split"] = long.split.map({"train_err": "train", "test_err": "test"})
    order, splits = list(dict.fromkeys(finals.variant)), ["train", "test"]
    fig, ax = plt.subplots(figsize=(10, 0.5 * finals.variant.nunique() + 1.5))
    sns.barplot(data=long, y="variant", x="error", hue="split", order=order, hue_order=splits, ax=ax, orient="h",
                errorbar=lambda v: tuple(np.clip(per_seed.t_interval(v), 0, 100)))  # an error rate lies in [0, 100] %
    # seaborn dodges the two splits' bars 0.2 either side of the variant's row (width 0.8, two bars)
    row = [order.index(v) + (-0.2 if s == "train" else 0.2) for v, s in zip(long.variant, long.split, strict=True)]
    plots.legend_failed(ax, plots.mark_failed(ax, long.assign(row=row), "error", "row", horizontal=True))
    seeds = finals.seed.nunique()
    lost = "status" in long and (long.status == run_status.DIVERGED).any()
    ax.set_xlabel(f"error (%), mean of {per_seed.count(seeds)}" + (" with 95 % interval" if seeds > 1 else "")
                  + (" (a diverged run has none: not in it)" if lost else ""))
    ax.set_ylabel("")
    ax.set_title(title)
    sns.move_legend(ax, "upper left", bbox_to_anchor=(1, 1), frameon=False)
    fig.tight_layout()
    return fig


def norms_and_gradients(norms: pd.DataFrame, gradients: pd.DataFrame, title: str,
                        roles: tuple[str, ...] = MAIN_ROLES) -> plt.Figure:
    """Mean ||h|| after every block (batch statistics), at initialisation and after training, and the gradient
    norm of each stage's convolutions at initialisation: mean over seeds, the band their range."""
    means = block_means(norms[norms.role.isin(roles) & (norms.statistics == "batch")])
    gradients = gradients[gradients.role.isin(roles)]
    order = list(dict.fromkeys(means.variant))
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.4))
    for ax, when in zip(axes[:2], ("initialisation", "trained"), strict=True):
        sns.lineplot(data=means[means.when == when], x="block", y="norm", hue="variant", hue_order=order, ax=ax,
                     errorbar=("pi", 100), marker="o", ms=3, markeredgewidth=0)
        ax.set_yscale("log")
        ax.set_title(f"mean ||h|| at {when}" if when == "initialisation" else "mean ||h|| after training",
                     fontsize=10)
        ax.set_xlabel("block (0 = stem)")
        ax.get_legend().remove()
    sns.barplot(data=gradients[gradients.when == "initialisation"], x="stage", y="norm", hue="variant",
                hue_order=order, errorbar=("pi", 100), ax=axes[2])
    axes[2].set_yscale("log")
    axes[2].set_title("gradient norm per stage at initialisation", fontsize=10)
    sns.move_legend(axes[2], "upper left", bbox_to_anchor=(1, 1), frameon=False)
    seeds = means.seed.nunique()
    fig.suptitle(f"{title}: mean of {per_seed.count(seeds)}" + (", band the range" if seeds > 1 else ""))
    fig.tight_layout()
    return fig


def growth_with_repeats(growth: pd.DataFrame) -> plt.Figure:
    """`initial_growth` as a figure: the growth of mean ||h|| from stem to output at initialisation against the
    number of shared repeats (naive sharing), each seed a dot, the mean over seeds with its 95 % interval; the
    unshared net (0 repeats) a square, its growth the dashed line, and each shared net's mean growth over it beside
    its point."""
    means = mean_growth(growth)
    lo, hi = np.array([per_seed.t_interval(g.growth) for _, g in growth.groupby("repeats", sort=True)]).T
    colour = plots.NET_COLOURS["residual"]
    fig, ax = plt.subplots(figsize=(7, 4.2))
    # a small sideways jitter keeps the seeds' dots apart
    jitter = np.random.default_rng(0).uniform(-0.15, 0.15, len(growth))
    ax.scatter(growth.repeats + jitter, growth.growth, s=12, color="0.6", alpha=0.7, linewidths=0, label="one seed")
    ax.errorbar(means.index, means.values, yerr=[means.values - lo, hi - means.values], color=colour, marker="o",
                capsize=3, label="mean over seeds, 95 % interval")
    ax.axhline(means[0], color="0.3", ls="--", lw=1)
    ax.scatter([0], [means[0]], marker="s", s=70, color="0.3", zorder=3, label="unshared net (0 repeats), dashed")
    for m, g in means.items():
        if m:
            ax.annotate(f"×{g / means[0]:.2f}", (m, g), textcoords="offset points", xytext=(9, -4), fontsize=9,
                        color=colour, fontweight="bold")
    ax.set_xticks(list(means.index))
    ax.set_xlim(-1, means.index.max() + 2)  # room for the last point's label
    depth = int(growth.depth.iloc[0])
    ax.set_xlabel(f"shared repeats: top blocks of each stage (of {blocks_per_stage(depth)}) sharing one set of weights")
    ax.set_ylabel("growth of ||h||: output / after the stem")
    ax.set_ylim(bottom=0)
    ax.set_title(f"Naive sharing, pre-activation ResNet-{depth} at initialisation\n({growth.dataset.iloc[0]}, "
                 f"{per_seed.count(growth.seed.nunique())}; beside each point: its growth over the unshared net's)",
                 fontsize=10)
    ax.legend(loc="upper left", frameon=False, fontsize=9)
    fig.tight_layout()
    return fig
