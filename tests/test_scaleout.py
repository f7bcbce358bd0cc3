"""Filling the run cache on a real local Ray cluster: parallel runs, a run that fails on purpose, a worker
killed mid-run that resumes, no retraining."""

import os
import re

import pytest
import torch

from resbook import profiles, runs, train
from resbook.chapters import ch1_degradation as ch1
from resbook.runs import scaleout
from resbook.runs.cache import RunCache

pytest.importorskip("ray")

TINY = {"epochs": 2, "depths": [8, 14], "widths": [4, 8, 16], "image_dataset": ""}


@pytest.fixture(scope="module")
def filled(tmp_path_factory):
    """Chapter 1's runs at a tiny ci (4 runs) plus one more that fails on purpose, on 2 Ray workers."""
    cache = RunCache(tmp_path_factory.mktemp("ray-cache"))
    profile = profiles.resolve("ci", TINY)
    configs = ch1.plan(profile)["sweep"]
    doomed = runs.grid(profile, depths=[8], seeds=[1])[0]  # the same label as a run that must succeed
    victim = train.TrainConfig("digits", 20, width=(4, 8, 16), epochs=6, batch_size=64)
    os.environ["RESBOOK_STATE_SECONDS"] = "0"  # keep state after every step (the workers inherit it)
    try:
        report = scaleout.fill([*configs, doomed, victim], cache, workers=2, retries=1, fail=[doomed],
                               kill=[victim], progress=False)
    finally:
        del os.environ["RESBOOK_STATE_SECONDS"]
    return cache, configs, doomed, victim, report


def test_every_run_trained_once_and_stored(filled):
    cache, configs, _, victim, report = filled
    assert len(configs) == 4 and sorted(report.trained) == sorted(scaleout.name(c) for c in [*configs, victim])
    assert all(c in cache and scaleout.attempts(cache, c) == 1 for c in configs)


def test_a_failing_run_is_retried_a_bounded_number_of_times_then_reported(filled):
    cache, _, doomed, _, report = filled
    name = scaleout.name(doomed)
    assert list(report.failed) == [name] and "failing on purpose" in report.failed[name]
    assert scaleout.attempts(cache, doomed) == 2  # the first try and one retry
    assert doomed not in cache


def test_runs_in_the_cache_are_never_trained_again(filled, monkeypatch):
    cache, configs, *_ = filled
    report = scaleout.fill(configs, cache, workers=2, progress=False)
    assert sorted(report.cached) == sorted(scaleout.name(c) for c in configs) and not report.trained
    monkeypatch.setattr(runs, "train", lambda *a, **k: pytest.fail("a cached run was trained again"))
    assert [r.config for r in runs.sweep(configs, cache, progress=False)] == configs


def test_a_worker_killed_mid_run_is_retried_and_resumes_from_its_state(filled):
    from tests.run_worker import digest

    cache, _, _, victim, report = filled
    assert scaleout.name(victim) in report.trained and scaleout.attempts(cache, victim) == 2
    first, second = cache.trainings(victim)
    assert first.endswith("training") and second.endswith("training (resuming)")
    journal = (cache.root / "journal.log").read_text()
    assert re.search(rf"{cache.key(victim)} .*: stored \(resumed at epoch \d+, batch \d+\)", journal)  # state used
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the workers trained
    try:
        alone = train.train(victim, progress=False)
    finally:
        torch.set_num_threads(threads)
    assert digest(cache.load(victim)) == digest(alone)
