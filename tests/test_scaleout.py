"""Filling the run cache on a real local Ray cluster: parallel runs, a run that fails on purpose, no retraining."""

import pytest

from resbook import profiles, runs
from resbook.chapters import ch1_degradation as ch1
from resbook.runs import scaleout
from resbook.runs.cache import RunCache

pytest.importorskip("ray")

TINY = {"epochs": 2, "depths": [8, 14], "widths": [4, 8, 16]}


@pytest.fixture(scope="module")
def filled(tmp_path_factory):
    """Chapter 1's runs at a tiny ci (4 runs) plus one more that fails on purpose, on 2 Ray workers."""
    cache = RunCache(tmp_path_factory.mktemp("ray-cache"))
    profile = profiles.resolve("ci", TINY)
    configs = ch1.plan(profile)["sweep"]
    doomed = runs.grid(profile, depths=[8], seeds=[1])[0]  # the same label as a run that must succeed
    report = scaleout.fill([*configs, doomed], cache, workers=2, retries=1, fail=[doomed], progress=False)
    return cache, configs, doomed, report


def test_every_run_trained_once_and_stored(filled):
    cache, configs, _, report = filled
    assert len(configs) == 4 and sorted(report.trained) == sorted(scaleout.name(c) for c in configs)
    assert all(c in cache and scaleout.attempts(cache, c) == 1 for c in configs)


def test_a_failing_run_is_retried_a_bounded_number_of_times_then_reported(filled):
    cache, _, doomed, report = filled
    name = scaleout.name(doomed)
    assert list(report.failed) == [name] and "failing on purpose" in report.failed[name]
    assert scaleout.attempts(cache, doomed) == 2  # the first try and one retry
    assert doomed not in cache


def test_runs_in_the_cache_are_never_trained_again(filled, monkeypatch):
    cache, configs, _, _ = filled
    report = scaleout.fill(configs, cache, workers=2, progress=False)
    assert sorted(report.cached) == sorted(scaleout.name(c) for c in configs) and not report.trained
    monkeypatch.setattr(runs, "train", lambda *a, **k: pytest.fail("a cached run was trained again"))
    assert [r.config for r in runs.sweep(configs, cache, progress=False)] == configs
