"""Chapter 4, block sharing (Jastrzebski et al. 2018, Sec. 4.5): naive sharing fails, unshared batch norm fixes it.

The notebook `book/04_block_sharing.ipynb` calls, in order: `variants` (the nets compared, as `Variant`s),
`train` (every variant, pre-activation, on one data set), `finals` and `table1_analogue` (Table 1 beside
ours), `feature_norms` and `gradient_norms` (the probes at initialisation and after training), then
`verdicts`; each figure is one of the functions at the end.
"""

from __future__ import annotations

from dataclasses import dataclass

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns
import torch

from .. import data, probes, runs
from ..claims import Claim, Verdict, declare, pct
from ..models import SHARED_BN, ResNet, count_parameters
from ..papers import JASTRZEBSKI2018, TABLE1
from ..profiles import Profile
from ..train import TrainConfig, TrainResult
from . import checkpoint_epochs

NOTEBOOK = "04_block_sharing"
# A difference in error rate smaller than this (2 percentage points) is treated as no difference.
ERROR_MARGIN = 0.02
# Jastrzebski et al. share the top 13 of 18 blocks of every stage of a ResNet-110.
PAPER_SHARED_SHARE = 13 / 18
# The norm and gradient probes see the first this many training examples, as one batch in train mode
# (batch statistics, as in training).
PROBE_EXAMPLES = 256

CLAIMS = declare(
    Claim("sharing_naive_fails", JASTRZEBSKI2018, "Sec. 4.5, Fig. 8",
                                      "Naive sharing does worse than an unshared net of the same size",
                                      "shared ResNet-110 (13 of 18 blocks a stage shared) worse than ResNet-38"),
    Claim("sharing_ubn_fixes", JASTRZEBSKI2018, "Table 1", "Unshared batch norm rescues the shared net",
                                    "ResNet-110-UBN 0.63 / 6.62 vs ResNet-38 1.20 / 6.99 (570k vs 565k params)"),
    Claim("sharing_explodes", JASTRZEBSKI2018, "Sec. 4.5",
                                   "Naive sharing makes activations grow through the repeated block",
                                   "activations explode at initialisation; UBN (scale 0.1) keeps them small"),
    Claim("sharing_stats_matter", JASTRZEBSKI2018, "Sec. 4.5 ablation",
                                       "Of UBN's parts, unsharing the statistics matters most",
                                       "unshared BN statistics give most of the gain"),
)


# ---- the nets

# What a variant is for in the comparison:
#   unshared  - the deep net, nothing shared;   naive - its top blocks shared, batch norm shared too;
#   same size - an unshared net with as many distinct blocks as the shared one;   ubn - shared with unshared BN;
#   ablation  - shared, keeping one part of unshared BN (its `shared_bn` says which: stats / affine / init).
ROLES = ("unshared", "naive", "same size", "ubn", "ablation")
MAIN_ROLES = ROLES[:4]  # the paper's comparison; the ablations come on top where the profile trains them
ABLATION_ROW = "ablation (Sec. 4.5)"


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
                paper_row="shared ResNet-110 (naive, Fig. 8)"),
        Variant(f"unshared-{small} (same size)", "same size", small, paper_row="ResNet-38"),
        Variant(f"shared-{depth}, UBN", "ubn", depth, shared, "unshared", paper_row="ResNet-110-UBN"),
    ]
    if profile.ablations:
        found += [Variant(f"shared-{depth}, {what}", "ablation", depth, shared, mode)
                  for mode, what in (("stats", "own BN statistics only"), ("affine", "own BN scale/shift only"),
                                     ("init", "BN scale 0.1 only"))]
    return found


def plan(profile: Profile) -> dict[str, list[TrainConfig]]:
    """Every variant on every data set of the profile, keyed "dataset: variant" (the notebook shows the first)."""
    return {f"{dataset}: {v.name}": v.configs(profile, dataset)
            for dataset in profile.datasets for v in variants(profile)}


def train(profile: Profile, dataset: str, *, progress: bool = True) -> dict[Variant, list[TrainResult]]:
    """Every variant's runs on `dataset`, trained where the run cache lacks them."""
    return {v: runs.sweep(v.configs(profile, dataset), progress=progress) for v in variants(profile)}


def _described(v: Variant) -> dict:
    """The variant's fields as frame columns (`variant` is its display name)."""
    return {"variant": v.name, "role": v.role, "shared": v.shared, "shared_bn": v.shared_bn}


def finals(trained: dict[Variant, list[TrainResult]]) -> pd.DataFrame:
    """One row per run: final metrics, the variant's fields, `paper_row` and the net's parameter count."""
    return pd.concat([runs.final_frame(results).assign(**_described(v), paper_row=v.paper_row,
                                                       params=count_parameters(results[0].model))
                      for v, results in trained.items()], ignore_index=True)


def table1_analogue(finals: pd.DataFrame) -> pd.DataFrame:
    """Jastrzebski et al. Table 1 beside ours: train / test error (mean ± std over seeds) and parameters."""
    rows = []
    for name, f in finals.groupby("variant", sort=False):
        values = TABLE1.get(f.paper_row.iloc[0])
        rows.append({
            "ours": name,
            "params": f"{f.params.iloc[0] / 1e3:.0f}k",
            "train error": pct(f.train_err.mean(), f.train_err.std() if len(f) > 1 else 0.0),
            "test error": pct(f.test_err.mean(), f.test_err.std() if len(f) > 1 else 0.0),
            "paper's counterpart": f.paper_row.iloc[0],
            "paper train / test (params)": f"{values[0]} / {values[1]} % ({values[2]}k)" if values else "-",
        })
    return pd.DataFrame(rows)


# ---- the probes

def _initial_and_trained(results: list[TrainResult]) -> tuple[tuple[str, ResNet], ...]:
    """The first run's net at initialisation and after training."""
    first = results[0]
    torch.manual_seed(first.config.seed)  # the weights the first run started from: training seeds the same way
    return ("initialisation", first.config.build_model()), ("trained", first.model)


def _probe_batch(dataset: str) -> tuple[torch.Tensor, torch.Tensor]:
    ds = data.load(dataset)
    return ds.train_x[:PROBE_EXAMPLES], ds.train_y[:PROBE_EXAMPLES]


def feature_norms(trained: dict[Variant, list[TrainResult]], dataset: str) -> pd.DataFrame:
    """`probes.activation_norms` of each variant's first run, at initialisation and trained, on training data:
    one row per (variant, when, block) with block 0 the stem."""
    x, _ = _probe_batch(dataset)
    return pd.DataFrame([{**_described(v), "dataset": dataset, "when": when, "block": i, "norm": norm}
                         for v, results in trained.items() for when, model in _initial_and_trained(results)
                         for i, norm in enumerate(probes.activation_norms(model, x))])


def gradient_norms(trained: dict[Variant, list[TrainResult]], dataset: str) -> pd.DataFrame:
    """`probes.stage_gradient_norms` of each variant's first run, at initialisation and trained, on training data:
    one row per (variant, when, stage)."""
    x, y = _probe_batch(dataset)
    return pd.DataFrame([{**_described(v), "dataset": dataset, "when": when, "stage": s + 1, "norm": norm}
                         for v, results in trained.items() for when, model in _initial_and_trained(results)
                         for s, norm in enumerate(probes.stage_gradient_norms(model, x, y))])


# ---- the claims

def _test_error(finals: pd.DataFrame, by: str) -> tuple[pd.DataFrame, dict[str, str]]:
    """Test error (mean, std over seeds) per value of column `by`, and the variant name each value stands for."""
    test = finals.groupby(by).test_err.agg(["mean", "std"]).fillna(0.0)
    names = finals.groupby(by).variant.unique()
    if (names.map(len) > 1).any():
        raise ValueError(f"several variants share one {by}: {dict(names)}")
    return test, {key: found[0] for key, found in names.items()}


def error_verdicts(finals: pd.DataFrame) -> list[Verdict]:
    """Naive sharing against the unshared net of the same size, and UBN against both (one data set's runs)."""
    dataset = finals.dataset.iloc[0]
    test, name = _test_error(finals[finals.role.isin(MAIN_ROLES)], "role")

    def err(role: str) -> str:
        return f"{name[role]} {pct(test.loc[role, 'mean'], test.loc[role, 'std'])}"

    naive, small, ubn = (test.loc[role, "mean"] for role in ("naive", "same size", "ubn"))
    return [
        Verdict(CLAIMS["sharing_naive_fails"], f"test error {err('naive')}; {err('same size')}",
                naive > small + ERROR_MARGIN, dataset),
        Verdict(CLAIMS["sharing_ubn_fixes"], f"test error {err('ubn')}; {err('same size')}; {err('naive')}",
                ubn <= small + ERROR_MARGIN and ubn < naive, dataset),
    ]


def growth_verdict(norms: pd.DataFrame) -> Verdict:
    """How much ||h|| grows from the stem to the output at initialisation, naive against UBN (one data set)."""
    dataset = norms.dataset.iloc[0]
    init = norms[(norms.when == "initialisation") & norms.role.isin(MAIN_ROLES)]
    growth = {}
    for role, g in init.groupby("role"):
        norm = g.sort_values("block").norm
        growth[role] = norm.iloc[-1] / norm.iloc[0]
    return Verdict(CLAIMS["sharing_explodes"],
                   f"||h|| grows x{growth['naive']:.1f} from stem to output at initialisation when naively "
                   f"shared, x{growth['ubn']:.1f} with UBN, x{growth['unshared']:.1f} unshared",
                   growth["naive"] > growth["ubn"], dataset)


def ablation_verdicts(finals: pd.DataFrame) -> list[Verdict]:
    """Which single part of UBN gives the lowest test error (none where the profile trains no ablations)."""
    ablations = finals[finals.role == "ablation"]
    if ablations.empty:
        return []
    test, name = _test_error(ablations, "shared_bn")
    order = list(dict.fromkeys(ablations.shared_bn))
    best = min(order, key=lambda mode: test.loc[mode, "mean"])
    ours = "; ".join(f"{name[mode]} {pct(test.loc[mode, 'mean'], test.loc[mode, 'std'])}" for mode in order)
    return [Verdict(CLAIMS["sharing_stats_matter"], f"test error {ours}", best == "stats",
                    ablations.dataset.iloc[0])]


def verdicts(finals: pd.DataFrame, norms: pd.DataFrame) -> list[Verdict]:
    """Chapter 4's claims for every data set in `finals` (one row per run) and `norms` (`feature_norms`)."""
    found = []
    for dataset, f in finals.groupby("dataset", sort=False):
        found += error_verdicts(f) + [growth_verdict(norms[norms.dataset == dataset])] + ablation_verdicts(f)
    return found


# ---- the figures

def errors(finals: pd.DataFrame, title: str) -> plt.Figure:
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


def norms_and_gradients(norms: pd.DataFrame, gradients: pd.DataFrame, title: str,
                        roles: tuple[str, ...] = MAIN_ROLES) -> plt.Figure:
    """||h|| after every block (train-mode statistics), at initialisation and after training, and the
    gradient norm of each stage's convolutions at initialisation, for the variants of the given roles."""
    norms, gradients = norms[norms.role.isin(roles)], gradients[gradients.role.isin(roles)]
    order = list(dict.fromkeys(norms.variant))
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.4))
    for ax, when in zip(axes[:2], ("initialisation", "trained"), strict=True):
        sns.lineplot(data=norms[norms.when == when], x="block", y="norm", hue="variant", hue_order=order, ax=ax,
                     marker="o", ms=3)
        ax.set_yscale("log")
        ax.set_title(f"mean ||h|| at {when}" if when == "initialisation" else "mean ||h|| after training",
                     fontsize=10)
        ax.set_xlabel("block (0 = stem)")
        ax.get_legend().remove()
    sns.barplot(data=gradients[gradients.when == "initialisation"], x="stage", y="norm", hue="variant",
                hue_order=order, ax=axes[2])
    axes[2].set_yscale("log")
    axes[2].set_title("gradient norm per stage at initialisation", fontsize=10)
    sns.move_legend(axes[2], "upper left", bbox_to_anchor=(1, 1), frameon=False)
    fig.suptitle(title)
    fig.tight_layout()
    return fig
