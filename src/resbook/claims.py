"""Each chapter's verdicts: a paper claim, the paper's value, ours (computed from the run), holds or not."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .models import count_parameters, resnet
from .papers import CLAIMS, TABLE6_PARAMS_M

# A difference in error rate smaller than this (2 percentage points) is treated as no difference.
ERROR_MARGIN = 0.02


@dataclass(frozen=True)
class Verdict:
    key: str  # the claim's key in papers.CLAIMS
    ours: str
    holds: bool
    dataset: str = "-"

    def row(self, profile: str) -> dict:
        paper = CLAIMS[self.key]
        return {
            "claim": paper.claim,
            "paper": f"{paper.value} ({paper.where})",
            "ours": self.ours,
            "verdict": "holds" if self.holds else "does not hold",
            "data": self.dataset,
            "profile": profile,
        }


def table(verdicts: list[Verdict], profile: str) -> pd.DataFrame:
    return pd.DataFrame([v.row(profile) for v in verdicts])


def report(verdicts: list[Verdict], profile: str, chapter: str):
    """The claims table as a chapter shows it; also recorded for the book's scorecard page."""
    from . import record

    frame = table(verdicts, profile)
    record.claims(chapter, frame.to_dict("records"))
    return frame.style.hide(axis="index")


def summary(verdicts: list[Verdict]) -> str:
    """One line per verdict, without numbers, so that it is stable across runs of a profile."""
    return "\n".join(f"{v.key} [{v.dataset}]: {'holds' if v.holds else 'does not hold'}" for v in verdicts)


def _pct(mean: float, std: float) -> str:
    return f"{100 * mean:.1f} ± {100 * std:.1f} %"


def parameter_verdict() -> Verdict:
    """Our residual and plain nets at width 16 on 3x32x32 input against Table 6."""
    ours, holds = [], True
    for depth, paper_m in TABLE6_PARAMS_M.items():
        res = count_parameters(resnet(depth))
        plain = count_parameters(resnet(depth, residual=False))
        holds &= res == plain and round(res / 1e6, 2 if paper_m < 1 else 1) == paper_m
        ours.append(f"{res / 1e6:.3f}M")
    return Verdict("params", " / ".join(ours) + " (plain = residual)", holds)


def degradation_verdicts(finals: pd.DataFrame, responses: pd.DataFrame) -> list[Verdict]:
    """Chapter 1's claims for every data set in `finals` (one row per run) and `responses` (per layer)."""
    verdicts = [parameter_verdict()]
    for dataset, runs in finals.groupby("dataset", sort=False):
        stats = runs.groupby(["net", "depth"])[["train_err", "test_err"]].agg(["mean", "std"]).fillna(0.0)
        lo, hi = runs.depth.min(), runs.depth.max()

        def err(net: str, depth: int, split: str = "train_err", stats=stats) -> tuple[float, float]:
            return stats.loc[(net, depth), (split, "mean")], stats.loc[(net, depth), (split, "std")]

        p_lo, p_hi = err("plain", lo), err("plain", hi)
        r_lo, r_hi = err("residual", lo), err("residual", hi)
        t_lo, t_hi = err("residual", lo, "test_err"), err("residual", hi, "test_err")
        verdicts += [
            Verdict("degradation", f"train error plain-{lo} {_pct(*p_lo)}, plain-{hi} {_pct(*p_hi)}",
                    p_hi[0] > p_lo[0] + ERROR_MARGIN, dataset),
            Verdict("residual_beats_plain", f"train error at depth {hi}: residual {_pct(*r_hi)}, plain {_pct(*p_hi)}",
                    r_hi[0] + ERROR_MARGIN < p_hi[0], dataset),
            Verdict("residual_train_depth", f"train error residual-{lo} {_pct(*r_lo)}, residual-{hi} {_pct(*r_hi)}",
                    r_hi[0] <= r_lo[0] + ERROR_MARGIN / 2, dataset),
            Verdict("residual_test_depth", f"test error residual-{lo} {_pct(*t_lo)}, residual-{hi} {_pct(*t_hi)}",
                    t_hi[0] < t_lo[0], dataset),
        ]
        resp = responses[responses.dataset == dataset].groupby(["net", "depth"])["std"].mean()
        verdicts += [
            Verdict("responses_smaller",
                    f"mean std at depth {hi}: residual {resp['residual', hi]:.2f}, plain {resp['plain', hi]:.2f}",
                    resp["residual", hi] < resp["plain", hi], dataset),
            Verdict("responses_depth",
                    f"mean std residual-{lo} {resp['residual', lo]:.2f}, residual-{hi} {resp['residual', hi]:.2f}",
                    resp["residual", hi] < resp["residual", lo], dataset),
        ]
    return verdicts


def change_then_refine(frame: pd.DataFrame, first: int = 3) -> float:
    """Mean ||F(h)||/||h|| of the first `first` blocks over that of the others (per architecture frame)."""
    ratios = frame.sort_values("block").ratio.to_numpy()
    return float(ratios[:first].mean() / ratios[first:].mean())


def architecture_verdicts(dataset: str, frame: pd.DataFrame) -> list[Verdict]:
    """Chapter 3's comparison of architectures (`frame` from studies: one row per arch and block)."""
    share = frame.dropna(subset=["cos"]).groupby("arch", sort=False).cos.apply(lambda c: (c < 0).mean())
    contrast = {arch: change_then_refine(f) for arch, f in frame.groupby("arch", sort=False)}
    single, standard = contrast["single representation"], contrast["ResNet"]
    return [
        Verdict("architectures_align", "share of blocks with cos < 0: "
                + ", ".join(f"{arch} {v:.0%}" for arch, v in share.items()), bool((share >= 0.8).all()), dataset),
        Verdict("single_sharper", f"ratio of the first 3 blocks / the rest: single representation {single:.1f}, "
                f"ResNet {standard:.1f}", single > standard, dataset),
    ]


def shortcut_verdicts(finals: pd.DataFrame) -> list[Verdict]:
    """Option B and highway shortcuts against option A, at the deepest depth of `finals` (one data set)."""
    dataset = finals.dataset.iloc[0]
    deepest = finals.depth.max()
    at = finals[finals.depth == deepest]
    mean = at.groupby("variant")[["train_err", "test_err"]].mean()
    std = at.groupby("variant")[["train_err", "test_err"]].std().fillna(0.0)

    def pct(variant: str, split: str = "test_err") -> str:
        return _pct(mean.loc[variant, split], std.loc[variant, split])

    a, b, gated = "residual (A)", "residual (B)", "highway"
    gap_b = mean.loc[b, "test_err"] - mean.loc[a, "test_err"]
    worse = [split for split in ("train_err", "test_err")
             if mean.loc[gated, split] > mean.loc[a, split] + ERROR_MARGIN]
    return [
        Verdict("option_b", f"test error at depth {deepest}: A {pct(a)}, B {pct(b)} ({gap_b * 100:+.1f} points)",
                abs(gap_b) <= ERROR_MARGIN, dataset),
        Verdict("highway_worse", f"at depth {deepest}: train error highway {pct(gated, 'train_err')}, identity "
                f"{pct(a, 'train_err')}; test error highway {pct(gated)}, identity {pct(a)}",
                bool(worse), dataset),
    ]


def _share_of_paths(n: int, lo: int, hi: int) -> float:
    return sum(math.comb(n, k) for k in range(lo, hi + 1)) / 2**n


def _spearman(a, b) -> float:
    from scipy.stats import spearmanr

    return float(spearmanr(a, b).statistic)


def unravelled_verdicts(
    dataset: str,
    lesions: pd.DataFrame,
    baselines: dict[str, float],
    random: pd.DataFrame,
    reorder: pd.DataFrame,
    gradients: pd.DataFrame,
    effective: tuple[int, int],
    short_paths: pd.DataFrame,
) -> list[Verdict]:
    """Chapter 2's claims on one data set.

    lesions: single_lesions rows with a `net` column ('residual-…' and 'plain-…'); baselines: error of
    each net intact; random / reorder: rows of the residual net; gradients: one row per length k with
    path_norm; effective: the 90 % range of lengths; short_paths: final rows with a `training` column
    ('normal' or 'short paths').
    """
    res_name = next(n for n in baselines if n.startswith("residual"))
    plain_name = next(n for n in baselines if n.startswith("plain"))
    res = lesions[lesions.net == res_name].assign(rise=lambda f: f.error - baselines[res_name])
    plain = lesions[lesions.net == plain_name]
    n = len(res)
    by_k = random.groupby("k").error.mean()
    steps = by_k.diff().dropna()
    total_rise = by_k.iloc[-1] - by_k.iloc[0]  # smooth: no single step (a cliff) holds a third of the rise
    rise_down = res[res.downsample].rise.mean()
    rise_other = res[~res.downsample].rise.mean()
    slope = np.polyfit(gradients.k, np.log(gradients.path_norm), 1)[0]
    decay = gradients.path_norm.iloc[-1] / gradients.path_norm.iloc[0]
    lo, hi = effective
    normal = short_paths[short_paths.training == "normal"].test_err
    short = short_paths[short_paths.training == "short paths"].test_err
    rho_reorder = _spearman(reorder.tau, reorder.error)
    return [
        Verdict("lesion_residual",
                f"{res_name}: median rise {100 * res.rise.median():.1f} points, largest {100 * res.rise.max():.1f}",
                res.rise.median() < 2.5 * ERROR_MARGIN, dataset),
        Verdict("lesion_plain",
                f"{plain_name}: mean error after one deletion {100 * plain.error.mean():.0f} % "
                f"(lowest {100 * plain.error.min():.0f} %)",
                plain.error.mean() > 0.5, dataset),
        Verdict("lesion_downsampling",
                f"mean rise {100 * rise_down:.1f} points at downsampling blocks, {100 * rise_other:.1f} elsewhere",
                rise_down > 2 * max(rise_other, 0.0) + 0.005, dataset),
        Verdict("lesion_smooth",
                f"{100 * by_k.iloc[1]:.0f} % (k=1) to {100 * by_k.iloc[-1]:.0f} % (k={n}); largest step between "
                f"successive k {100 * steps.max():.0f} of {100 * total_rise:.0f} points",
                total_rise > 0 and steps.max() <= total_rise / 3, dataset),
        Verdict("reorder_smooth", f"Spearman(tau, error) = {rho_reorder:.2f} over {len(reorder)} orders",
                rho_reorder <= -0.5, dataset),
        Verdict("gradient_decay", f"log-slope {slope:.2f} per block; length {n} / length 0 = {decay:.1e}",
                slope < 0 and decay < 0.1, dataset),
        Verdict("effective_paths",
                f"90 % of the gradient from lengths {lo}-{hi} of {n} ({lo / n:.2f}n-{hi / n:.2f}n), "
                f"{100 * _share_of_paths(n, lo, hi):.1f} % of paths",
                hi < n / 2, dataset),
        Verdict("short_paths_training",
                f"test error {_pct(short.mean(), short.std() if len(short) > 1 else 0.0)} with short paths, "
                f"{_pct(normal.mean(), normal.std() if len(normal) > 1 else 0.0)} normal",
                short.mean() <= normal.mean() + ERROR_MARGIN, dataset),
    ]


def binomial_verdict(n: int = 54, lo: int = 19, hi: int = 35) -> Verdict:
    share = _share_of_paths(n, lo, hi)
    return Verdict("paths_binomial", f"{100 * share:.1f} % of the 2^{n} paths have length {lo}-{hi} (exact count)",
                   share > 0.95)


def refinement_verdicts(dataset: str, alignment: pd.DataFrame, ratios: pd.DataFrame, drops: pd.DataFrame,
                        baseline: float, readouts: pd.DataFrame, naive: pd.DataFrame,
                        scaled_train: pd.DataFrame, scaled_test: pd.DataFrame) -> list[Verdict]:
    """Chapter 3's claims on one data set, for the pre-activation net.

    alignment: rows (block, stage, cos) on test data, mean over seeds; ratios: rows (block, ratio);
    drops: single_lesions rows with a `first_of_stage` column; readouts: intermediate_readouts rows;
    naive / scaled_*: unroll_last_block rows.
    """
    cos = alignment.dropna(subset=["cos"])
    by_stage = cos.groupby("stage").cos.mean()
    quarter = max(1, len(ratios) // 4)
    early, late = ratios.ratio.iloc[:quarter].mean(), ratios.ratio.iloc[-quarter:].mean()
    rise = drops.error - baseline
    first, later = rise[drops.first_of_stage].mean(), rise[~drops.first_of_stage].mean()
    acc = readouts.accuracy
    corrected, broken = readouts.corrected.sum(), readouts.broken.sum()
    growth = naive.norm.iloc[-1] / naive.norm.iloc[0]
    lt0, lt1 = scaled_train.loss.iloc[0], scaled_train.loss.iloc[-1]
    bt0, bt1 = scaled_test.borderline_accuracy.iloc[0], scaled_test.borderline_accuracy.iloc[-1]
    n_borderline = int(scaled_test.borderline_count.iloc[0])
    return [
        Verdict("alignment_negative", f"{(cos.cos < 0).sum()} of {len(cos)} blocks negative; "
                f"range {cos.cos.min():.3f} to {cos.cos.max():.3f}", bool((cos.cos < 0).all()), dataset),
        Verdict("alignment_higher", "mean cos per stage: " + ", ".join(f"{c:.3f}" for c in by_stage),
                by_stage.iloc[-1] < by_stage.iloc[0], dataset),
        Verdict("norm_ratio", f"first {quarter} blocks {early:.2f}, last {quarter} blocks {late:.2f}; "
                f"largest {ratios.ratio.max():.2f}", early > 2 * late, dataset),
        Verdict("drop_first_blocks", f"error rise {100 * first:.1f} points for the first block of a stage, "
                f"{100 * later:.1f} for the others", first > 3 * max(later, 0.0) + 0.01, dataset),
        Verdict("intermediate_accuracy", f"{100 * acc.iloc[0]:.1f} % after block {readouts.block.iloc[0]} to "
                f"{100 * acc.iloc[-1]:.1f} % after block {readouts.block.iloc[-1]}",
                acc.iloc[-1] > acc.iloc[0] and _spearman(readouts.block, acc) >= 0.7, dataset),
        Verdict("borderline_corrected", f"{corrected:.0f} corrected, {broken:.0f} broken by the next block",
                corrected > broken, dataset),
        Verdict("unroll_naive", f"activation norm x{growth:.1f} after {len(naive) - 1} extra steps",
                growth > 2, dataset),
        Verdict("unroll_scaled", f"scale {scaled_train.scale.iloc[0]}: train loss {lt0:.4f} to {lt1:.4f}",
                lt1 < lt0, dataset),
        Verdict("unroll_borderline",
                f"{n_borderline} borderline test examples: accuracy {100 * bt0:.0f} % to {100 * bt1:.0f} %"
                if n_borderline else "no borderline test examples: nothing to test", bool(bt1 > bt0), dataset),
    ]


def sharing_verdicts(dataset: str, finals: pd.DataFrame, norms: pd.DataFrame, names: list[str]) -> list[Verdict]:
    """Chapter 4's claims. `names` in the order of studies.sharing_variants: unshared, naive, same size, UBN,
    then the ablations if any."""
    unshared, naive, small, ubn = names[:4]
    test = finals.groupby("variant").test_err.agg(["mean", "std"]).fillna(0.0)

    def err(name: str) -> str:
        return f"{name} {_pct(test.loc[name, 'mean'], test.loc[name, 'std'])}"

    init = norms[norms.when == "initialisation"]
    growth = {v: g.norm.iloc[-1] / g.norm.iloc[0] for v, g in init.groupby("variant")}
    verdicts = [
        Verdict("sharing_naive_fails", f"test error {err(naive)}; {err(small)}",
                test.loc[naive, "mean"] > test.loc[small, "mean"] + ERROR_MARGIN, dataset),
        Verdict("sharing_ubn_fixes", f"test error {err(ubn)}; {err(small)}; {err(naive)}",
                test.loc[ubn, "mean"] <= test.loc[small, "mean"] + ERROR_MARGIN
                and test.loc[ubn, "mean"] < test.loc[naive, "mean"], dataset),
        Verdict("sharing_explodes", f"||h|| grows x{growth[naive]:.1f} from stem to output at initialisation "
                f"when naively shared, x{growth[ubn]:.1f} with UBN, x{growth[unshared]:.1f} unshared",
                growth[naive] > growth[ubn], dataset),
    ]
    ablations = names[4:]
    if ablations:
        best = min(ablations, key=lambda v: test.loc[v, "mean"])
        verdicts.append(Verdict("sharing_stats_matter", "test error " + "; ".join(err(v) for v in ablations),
                                "statistics" in best, dataset))
    return verdicts


def table1_analogue(finals: pd.DataFrame, names: list[str]) -> pd.DataFrame:
    """Jastrzebski et al. Table 1 beside ours: train / test error (mean ± std over seeds) and parameters."""
    from .papers import TABLE1

    paper_rows = {names[0]: "ResNet-110", names[1]: "shared ResNet-110 (naive, Fig. 8)",
                  names[2]: "ResNet-38", names[3]: "ResNet-110-UBN"}
    rows = []
    for name in names:
        f = finals[finals.variant == name]
        paper = paper_rows.get(name, "ablation (Sec. 4.5)")
        values = TABLE1.get(paper)
        rows.append({
            "ours": name,
            "params": f"{f.params.iloc[0] / 1e3:.0f}k",
            "train error": _pct(f.train_err.mean(), f.train_err.std() if len(f) > 1 else 0.0),
            "test error": _pct(f.test_err.mean(), f.test_err.std() if len(f) > 1 else 0.0),
            "paper's counterpart": paper,
            "paper train / test (params)": f"{values[0]} / {values[1]} % ({values[2]}k)" if values else "-",
        })
    return pd.DataFrame(rows)
