"""Each chapter's experiment on one data set, bundled: the runs it needs, the probes, the verdicts.

Notebooks call these so that their cells stay short; every piece is also usable on its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from . import claims, data, probes, runs
from .profiles import Profile
from .train import TrainResult

# Veit et al. trained ResNet-110 (54 blocks) with 23 active blocks per mini-batch: the same share here.
VEIT_ACTIVE_SHARE = 23 / 54


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
    residuals = runs.for_profile(profile, datasets=[dataset], depths=[profile.deepest], progress=progress)
    residual = residuals[0]
    plain = deepest_plain_that_trains(
        runs.for_profile(profile, datasets=[dataset], nets=(False,), seeds=profile.seeds[:1], progress=progress))
    n = len(residual.model.blocks)
    short = runs.for_profile(profile, datasets=[dataset], depths=[profile.deepest], progress=progress,
                             active_branches=max(1, round(VEIT_ACTIVE_SHARE * n)))
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
    verdicts: list[claims.Verdict] = field(default_factory=list)


def checkpoint_epochs(profile: Profile) -> tuple[int, ...]:
    """A few early epochs at which to look at a net during training."""
    return tuple(sorted({1, max(1, profile.epochs // 5), max(1, profile.epochs // 2)} - {profile.epochs}))


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
    preact = runs.for_profile(profile, datasets=[dataset], depths=[profile.deepest], preact=True,
                              checkpoints=checkpoint_epochs(profile), progress=progress)
    postact = runs.for_profile(profile, datasets=[dataset], depths=[profile.deepest], progress=progress)
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
    pre_test = alignment[(alignment.net == "pre-activation") & (alignment.split == "test")]
    mean_cos = pre_test.groupby(["block", "stage"], as_index=False).cos.mean()
    study.verdicts = claims.refinement_verdicts(
        dataset, mean_cos, ratios[ratios.net == "pre-activation"], drops, baseline, readouts, study.naive,
        study.scaled_train, study.scaled_test)
    return study
