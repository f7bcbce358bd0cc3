"""Each chapter's experiment on one data set, bundled: the runs it needs, the probes, the verdicts.

Notebooks call these so that their cells stay short; every piece is also usable on its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd
import torch

from . import claims, data, plans, probes, runs
from .profiles import Profile
from .train import TrainResult, config_for

checkpoint_epochs = plans.checkpoint_epochs
sharing_variants = plans.sharing_variants


@dataclass
class Unravelled:
    dataset: str
    residual: TrainResult
    plain: TrainResult
    lesions: pd.DataFrame
    baselines: dict[str, float]
    random: pd.DataFrame
    reorder: pd.DataFrame
    gradients: pd.DataFrame
    timings: dict[str, float]
    effective: tuple[int, int]
    short_paths: pd.DataFrame
    verdicts: list[claims.Verdict] = field(default_factory=list)


def deepest_plain_that_trains(results: list[TrainResult], max_train_err: float = 0.05) -> TrainResult:
    """The deepest plain net that reached `max_train_err` (a failed net says nothing about deleting layers)."""
    trained = [r for r in results if r.final["train_err"] <= max_train_err] or results
    return max(trained, key=lambda r: r.config.depth)


def unravelled(profile: Profile, dataset: str, *, progress: bool = True) -> Unravelled:
    """Chapter 2 on one data set: lesions, reorderings, gradient per path length, short-path training."""
    draws, samples, gradient_batch = profile.draws, profile.path_samples, profile.probe_batch
    test = data.load(dataset)
    x, y = test.test_x, test.test_y
    plan = plans.unravelled(profile, dataset)
    residuals = runs.sweep(plan["residual"], progress=progress)
    residual = residuals[0]
    plain = deepest_plain_that_trains(runs.sweep(plan["plain"], progress=progress))
    short = runs.sweep(plan["short paths"], progress=progress)
    short_paths = pd.concat([runs.final_frame(residuals).assign(training="normal"),
                             runs.final_frame(short).assign(training="short paths")], ignore_index=True)

    baselines, lesions = {}, []
    for net in (residual, plain):
        baselines[net.config.label] = probes.error_rate(net.model, x, y)
        lesions.append(probes.single_lesions(net.model, x, y).assign(net=net.config.label))
    random = probes.random_lesions(residual.model, x, y, draws=draws).assign(net=residual.config.label)
    reorder = probes.random_reorderings(residual.model, x, y, draws=max(1, draws // 2)).assign(
        net=residual.config.label)
    gradients, timings = probes.gradient_by_length(residual.model, x[:gradient_batch], y[:gradient_batch],
                                                   samples=samples)
    gradients = gradients.assign(dataset=dataset)
    effective = probes.effective_range(gradients.exact_total.to_numpy())
    study = Unravelled(dataset, residual, plain, pd.concat(lesions, ignore_index=True), baselines, random, reorder,
                       gradients, timings, effective, short_paths)
    study.verdicts = claims.unravelled_verdicts(dataset, study.lesions, baselines, random, reorder, gradients,
                                                effective, short_paths)
    return study


@dataclass
class Refinement:
    dataset: str
    alignment: pd.DataFrame  # net, split, seed, block, stage, cos
    over_training: pd.DataFrame  # epoch, block, stage, cos (pre-activation net, seed 0, test data)
    ratios: pd.DataFrame  # net, block, ratio (seed 0)
    drops: pd.DataFrame  # block, downsample, first_of_stage, error (pre-activation, seed 0)
    baseline: float
    readouts: pd.DataFrame
    naive: pd.DataFrame
    scaled_train: pd.DataFrame
    scaled_test: pd.DataFrame
    scale: float
    architectures: pd.DataFrame | None = None  # arch, block, position (0-1), downsample, cos, ratio, drop_err (seed 0)
    verdicts: list[claims.Verdict] = field(default_factory=list)


def _stages(model) -> list[int]:
    stage, out = 0, []
    for i, block in enumerate(model.blocks):
        stage += int(block.downsample and i > 0)
        out.append(stage + 1)
    return out


def refinement(profile: Profile, dataset: str, *, unroll_steps: int = 20, progress: bool = True) -> Refinement:
    """Chapter 3 on one data set: pre-activation nets (post-activation beside them) probed block by block."""
    from . import refinement as ref

    ds = data.load(dataset)
    x_train, y_train = ds.train_x[:1000], ds.train_y[:1000]
    plan = plans.refinement(profile, dataset)
    preact = runs.sweep(plan["pre-activation"], progress=progress)
    postact = runs.sweep(plan["post-activation"], progress=progress)
    stages = _stages(preact[0].model)

    rows = []
    for net, results in (("pre-activation", preact), ("post-activation", postact)):
        for r in results:
            for split, (x, y) in (("test", (ds.test_x, ds.test_y)), ("train", (x_train, y_train))):
                for i, c in enumerate(ref.block_alignment(r.model, x, y)):
                    rows.append({"net": net, "split": split, "seed": r.config.seed, "block": i + 1,
                                 "stage": stages[i], "cos": c})
    alignment = pd.DataFrame(rows)
    main = preact[0]
    over = [{"epoch": epoch, "block": i + 1, "stage": stages[i], "cos": c}
            for epoch in (*checkpoint_epochs(profile), profile.epochs)
            for i, c in enumerate(ref.block_alignment(main.model_at(epoch), ds.test_x, ds.test_y))]
    ratios = pd.DataFrame([{"net": net, "block": i + 1, "ratio": v}
                           for net, r in (("pre-activation", main), ("post-activation", postact[0]))
                           for i, v in enumerate(ref.norm_ratios(r.model, ds.test_x))])
    drops = probes.single_lesions(main.model, ds.test_x, ds.test_y)
    drops["first_of_stage"] = [i == 0 or b.downsample for i, b in enumerate(main.model.blocks)]
    baseline = probes.error_rate(main.model, ds.test_x, ds.test_y)
    readouts = ref.intermediate_readouts(main.model, ds.test_x, ds.test_y)
    scale = ref.choose_unroll_scale(main.model, x_train, y_train, unroll_steps)
    study = Refinement(
        dataset, alignment, pd.DataFrame(over), ratios, drops, baseline, readouts,
        naive=ref.unroll_last_block(main.model, ds.test_x, ds.test_y, unroll_steps, 1.0),
        scaled_train=ref.unroll_last_block(main.model, x_train, y_train, unroll_steps, scale),
        scaled_test=ref.unroll_last_block(main.model, ds.test_x, ds.test_y, unroll_steps, scale),
        scale=scale,
    )
    study.architectures = _architectures(plan, main, ds, progress)
    pre_test = alignment[(alignment.net == "pre-activation") & (alignment.split == "test")]
    mean_cos = pre_test.groupby(["block", "stage"], as_index=False).cos.mean()
    study.verdicts = claims.refinement_verdicts(
        dataset, mean_cos, ratios[ratios.net == "pre-activation"], drops, baseline, readouts, study.naive,
        study.scaled_train, study.scaled_test) + claims.architecture_verdicts(dataset, study.architectures)
    return study


def _architectures(plan: dict, main: TrainResult, ds: data.Dataset, progress: bool) -> pd.DataFrame:
    """Alignment, norm ratio and drop-one error per block for each of Jastrzebski et al.'s four nets."""
    from . import refinement as ref

    nets = {name: (main if name == "ResNet" else runs.sweep(plan[name], progress=progress)[0])
            for name in plans.ARCHITECTURES}
    rows = []
    for name, r in nets.items():
        blocks = r.model.blocks
        cos = ref.block_alignment(r.model, ds.test_x, ds.test_y)
        ratios = ref.norm_ratios(r.model, ds.test_x)
        drops = probes.single_lesions(r.model, ds.test_x, ds.test_y).error
        baseline = probes.error_rate(r.model, ds.test_x, ds.test_y)
        rows += [{"arch": name, "block": i + 1, "position": i / max(1, len(blocks) - 1),
                  "downsample": bool(block.downsample), "cos": cos[i], "ratio": ratios[i],
                  "drop_err": float(drops.iloc[i]), "baseline_err": baseline} for i, block in enumerate(blocks)]
    return pd.DataFrame(rows)


@dataclass
class Sharing:
    dataset: str
    variants: dict[str, dict]  # name -> model options
    finals: pd.DataFrame  # variant, seed, params, train_err, test_err
    norms: pd.DataFrame  # variant, when, block, norm
    gradients: pd.DataFrame  # variant, when, stage, norm
    verdicts: list[claims.Verdict] = field(default_factory=list)


def sharing(profile: Profile, dataset: str, *, progress: bool = True) -> Sharing:
    """Chapter 4 on one data set: train every variant (pre-activation) and probe norms and gradients."""
    from . import sharing as probes_sharing
    from .models import count_parameters

    ds = data.load(dataset)
    x, y = ds.train_x[:256], ds.train_y[:256]
    variants = sharing_variants(profile)
    finals, norms, grads = [], [], []
    for name, configs in plans.sharing(profile, dataset).items():
        results = runs.sweep(configs, progress=progress)
        params = count_parameters(results[0].model)
        finals.append(runs.final_frame(results).assign(variant=name, params=params))
        torch.manual_seed(results[0].config.seed)  # the same initial weights on every run of the chapter
        initial = results[0].config.build_model()
        for when, model in (("initialisation", initial), ("trained", results[0].model)):
            for i, v in enumerate(probes_sharing.activation_norms(model, x)):
                norms.append({"variant": name, "when": when, "block": i, "norm": v})
            for s, v in enumerate(probes_sharing.stage_gradient_norms(model, x, y)):
                grads.append({"variant": name, "when": when, "stage": s + 1, "norm": v})
    study = Sharing(dataset, variants, pd.concat(finals, ignore_index=True), pd.DataFrame(norms),
                    pd.DataFrame(grads))
    study.verdicts = claims.sharing_verdicts(dataset, study.finals, study.norms, list(variants))
    return study


@dataclass
class Shortcuts:
    dataset: str
    finals: pd.DataFrame  # one row per run, with `variant`: plain, residual (A), residual (B), highway
    params: pd.DataFrame  # depth x variant -> parameters
    verdicts: list[claims.Verdict] = field(default_factory=list)


def shortcuts(profile: Profile, *, progress: bool = True) -> Shortcuts:
    """Chapter 1's shortcut comparison on the profile's first data set: none, A, B and highway gates."""
    dataset = profile.datasets[0]
    sweep = [c for c in plans.plain_vs_residual(profile)["sweep"] if c.dataset == dataset]
    frames = []
    for configs in (sweep, *plans.shortcuts(profile).values()):
        frame = runs.final_frame(runs.sweep(configs, progress=progress))
        frame["variant"] = [{"plain": "plain", "highway": "highway"}.get(net, f"residual ({shortcut})")
                            for net, shortcut in zip(frame.net, frame.shortcut, strict=True)]
        frames.append(frame)
    finals = pd.concat(frames, ignore_index=True)
    study = Shortcuts(dataset, finals, _parameter_table(profile, dataset))
    study.verdicts = claims.shortcut_verdicts(finals)
    return study


def _parameter_table(profile: Profile, dataset: str) -> pd.DataFrame:
    """Parameters of each kind of net at each depth of the profile (the profile's widths, this data set)."""
    from .models import count_parameters

    rows = {}
    for variant, options in (("plain", {"residual": False}), ("residual (A)", {}),
                             ("residual (B)", {"shortcut": "B"}), ("highway", {"shortcut": "gated"})):
        rows[variant] = {depth: count_parameters(config_for(profile, dataset, depth, **options).build_model())
                         for depth in profile.depths}
    return pd.DataFrame(rows).rename_axis("depth")
