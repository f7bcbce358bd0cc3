"""Runs trained together (one vmapped computation per group of seeds) agree with the same runs trained alone."""

from dataclasses import replace

import pytest
import torch

from resbook import batched, data, profiles, resume, runs, train
from resbook.runs.cache import RunCache
from tests.run_worker import digest

GROUP = train.TrainConfig("digits", 8, width=(4, 8, 16), epochs=17, batch_size=128, trained_with=(0, 1, 2))


@pytest.fixture(scope="module")
def float64_runs():
    """The group trained together and each run alone, in float64: 17 epochs of 12 steps, 204 steps.

    A vmapped step differs from a lone one by rounding (2e-15 of a gradient, measured), and training
    amplifies that (to ~4e-7 of a weight after 204 steps at lr 0.1, measured); a difference in the maths
    (data order, initialisation, batch-norm statistics, loss) shows from the first steps at 1e-2 and more."""
    return _together_and_alone(GROUP)


def _together_and_alone(group: train.TrainConfig):
    """`group`'s runs trained as one vmapped computation and each alone, in float64 on the digits."""
    default = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        ds = data.load("digits")
        ds = replace(ds, train_x=ds.train_x.double(), test_x=ds.test_x.double())
        together = batched.train_together(batched.members(group), ds, progress=False)
        alone = [train.train(replace(c, trained_with=()), ds, progress=False) for c in batched.members(group)]
    finally:
        torch.set_default_dtype(default)
    return together, alone


def _largest_difference(a, b) -> float:
    """The largest difference of any weight or statistic, relative to the largest value of its tensor."""
    sa, sb = a.model.state_dict(), b.model.state_dict()
    return max(((sa[k] - sb[k]).abs().max() / sb[k].abs().max().clamp(min=1e-12)).item()
               for k in sa if sa[k].is_floating_point())


def test_each_run_of_a_group_is_the_run_trained_alone(float64_runs):
    together, alone = float64_runs
    for t, a in zip(together, alone, strict=True):
        assert _largest_difference(t, a) < 1e-5  # weights and batch-norm statistics, after 204 steps
        for key in ("train_loss", "test_loss"):
            assert t.history[key] == pytest.approx(a.history[key], rel=1e-6, abs=1e-9)
        assert t.history["train_err"] == a.history["train_err"] and t.history["test_err"] == a.history["test_err"]


def test_the_comparison_tells_runs_apart(float64_runs):
    """The check above can fail: two different seeds of the group differ by far more than its tolerance."""
    together, alone = float64_runs
    assert _largest_difference(together[1], alone[0]) > 1e-2


def test_a_group_must_be_one_config_over_its_seeds():
    members = batched.members(GROUP)
    with pytest.raises(ValueError, match="a group is"):
        batched.train_together([members[0], replace(members[1], depth=14)], progress=False)
    with pytest.raises(ValueError, match="not in its group"):
        replace(GROUP, seed=7)


def test_the_group_is_part_of_a_runs_identity_and_trains_once(tmp_path, monkeypatch):
    tiny = replace(GROUP, epochs=1)
    cache = RunCache(tmp_path)
    alone = replace(tiny, trained_with=())
    assert cache.key(tiny) != cache.key(alone)
    first = runs.run(batched.members(tiny)[1], cache, progress=False)  # asks for one, trains the group
    assert all(c in cache for c in batched.members(tiny)) and alone not in cache
    monkeypatch.setattr(batched, "train_together", lambda *a, **k: pytest.fail("trained twice"))
    assert digest(runs.sweep(batched.members(tiny), cache, progress=False)[1]) == digest(first)


def test_profiles_that_batch_seeds_name_their_groups():
    config = runs.grid(profiles.resolve("images"), depths=[20], seeds=[1])[0]
    assert config.trained_with == (0, 1, 2) and config.seed == 1
    assert runs.grid(profiles.resolve("cpu"), depths=[20])[0].trained_with == ()
    assert train.config_for(profiles.resolve("images"), "fashion_mnist", 20, active_branches=3).trained_with == ()


def test_an_interrupted_group_resumes_bit_identical(tmp_path, monkeypatch):
    # crops and flips draw from each run's generator every batch; checkpoints are kept along the way
    group = batched.members(replace(GROUP, epochs=3, augment=True, checkpoints=(1, 2)))
    augmented = replace(data.load("digits"), pad=2, flip=True)
    whole = batched.train_together(group, augmented, progress=False)
    monkeypatch.setattr(resume, "STATE_SECONDS", 0.0)
    monkeypatch.setattr(resume, "EPOCH_END_SECONDS", 0.0)
    real_write = resume.Keeper.write
    writes = iter(range(10**6))

    def write_then_stop(self, snapshot):
        real_write(self, snapshot)
        if next(writes) == 16:  # the 17th state: epoch 2, batch 5
            raise KeyboardInterrupt

    with monkeypatch.context() as m:
        m.setattr(resume.Keeper, "write", write_then_stop)
        with pytest.raises(KeyboardInterrupt):
            batched.train_together(group, augmented, progress=False, state=tmp_path / "state.pt")
    resumed = batched.train_together(group, augmented, progress=False, state=tmp_path / "state.pt")
    assert resumed[0].resumed_from == (2, 5)
    assert [digest(r) for r in resumed] == [digest(r) for r in whole]


def test_every_chapter_plans_the_images_profile_in_groups():
    from resbook import chapters

    configs = chapters.plan(profiles.resolve("images"))
    assert configs and all(c.dataset == "fashion_mnist" for c in configs)
    assert all(c.trained_with == (0, 1, 2) or c.active_branches for c in configs)


def test_groups_need_no_seed_zero():
    config = runs.grid(profiles.resolve("images", {"seeds": [1, 2]}), depths=[20], seeds=[2])[0]
    assert config.trained_with == (1, 2) and runs.leader(config).seed == 1
    assert [c.seed for c in runs.group(config)] == [1, 2]


def test_a_group_without_normalisation_and_with_skipinit_is_each_run_alone():
    """Chapter 5's nets (no batch norm: no statistics to stack; SkipInit's scalars) train together as alone."""
    group = replace(GROUP, epochs=2, norm="none", skipinit=True, lr=0.02, trained_with=(0, 1))
    together, alone = _together_and_alone(group)
    for t, a in zip(together, alone, strict=True):
        # 1e-5 as for the batch-norm group: unnormalised training amplifies float64 rounding (1.5e-6 seen on one
        # run), far below the 1e-2 that separates two seeds (below)
        assert _largest_difference(t, a) < 1e-5
        assert t.model.blocks[0].branch[-1].alpha.item() != 0  # the branches learned away from zero
    assert _largest_difference(together[1], alone[0]) > 1e-2
