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
