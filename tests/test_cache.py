import pathlib

import pytest
import torch

from resbook import runs, train
from resbook.runs.cache import RunCache

CONFIG = train.TrainConfig("digits", 8, width=(4, 8, 16), epochs=1, batch_size=256)


@pytest.fixture
def cache(tmp_path):
    return RunCache(tmp_path / "runs")


def test_miss_then_hit_without_training(cache, monkeypatch):
    assert cache.load(CONFIG) is None
    first = runs.run(CONFIG, cache, progress=False)
    assert CONFIG in cache

    def no_training(*args, **kwargs):
        raise AssertionError("a cached run was trained again")

    monkeypatch.setattr(runs, "train", no_training)
    second = runs.run(CONFIG, cache, progress=False)
    assert second.history == first.history
    for a, b in zip(first.model.state_dict().values(), second.model.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_key_depends_on_config_and_code_salt(cache, tmp_path):
    other = train.TrainConfig(**{**CONFIG.as_dict(), "seed": 1})
    assert cache.key(CONFIG) != cache.key(other)
    assert cache.key(CONFIG) != RunCache(tmp_path, salt="older-code").key(CONFIG)


def test_corrupt_entry_is_reported_moved_aside_and_retrained(cache):
    runs.run(CONFIG, cache, progress=False)
    path = cache.path(CONFIG)
    path.write_bytes(path.read_bytes()[:100])  # a truncated write
    with pytest.warns(UserWarning, match="cannot read"):
        assert cache.load(CONFIG) is None
    assert not path.exists()
    assert len(list(cache.root.glob("*.corrupt-*"))) == 1  # kept for inspection, not deleted
    runs.run(CONFIG, cache, progress=False)
    assert cache.load(CONFIG) is not None


def test_entry_filed_under_the_wrong_key_is_not_served(cache):
    runs.run(CONFIG, cache, progress=False)
    newer = RunCache(cache.root, salt="newer-code")
    cache.path(CONFIG).rename(newer.path(CONFIG))  # e.g. a file copied in by hand
    with pytest.warns(UserWarning, match="different config, code version or numerics"):
        assert newer.load(CONFIG) is None


def test_writes_leave_no_temporary_files_and_no_state(cache):
    runs.run(CONFIG, cache, progress=False)
    files = [p.relative_to(cache.root).as_posix() for p in cache.root.rglob("*") if p.is_file()]
    assert sorted(files) == sorted([cache.path(CONFIG).name, f".locks/{cache.key(CONFIG)}.lock", "journal.log"])
    assert len(cache.trainings(CONFIG)) == 1


def test_sweep_trains_missing_runs_in_workers_and_returns_in_order(cache):
    configs = [train.TrainConfig(**{**CONFIG.as_dict(), "seed": s}) for s in (0, 1)]
    results = runs.sweep(configs, cache, workers=2, progress=False)
    assert [r.config.seed for r in results] == [0, 1]
    assert all(c in cache for c in configs)
    frame = runs.final_frame(results)
    assert list(frame.seed) == [0, 1] and {"train_err", "test_err", "net", "depth"} <= set(frame.columns)


def test_key_hashes_the_training_maths_and_the_numerics_but_not_the_speed_code():
    from resbook.runs import cache as cache_mod

    # speed.py and resume.py change no number
    assert cache_mod._TRAINING_CODE == ("data.py", "models.py", "train.py", "batched.py")
    assert "class Speedups" not in (cache_mod.PACKAGE_DIR / "train.py").read_text()
    cpu, gpu = RunCache("x", numerics="cpu-fp32"), RunCache("x", numerics="cuda-bf16")
    assert cpu.key(CONFIG) != gpu.key(CONFIG)


def test_changing_any_hashed_maths_changes_the_key_and_changing_the_speed_code_does_not(tmp_path):
    """Seeding, the model build, the optimizer, the loss and the epoch loop live in hashed files; speed.py is not."""
    import inspect
    import shutil

    from resbook import batched, speed
    from resbook.runs import cache as cache_mod

    hashed = {cache_mod.PACKAGE_DIR / name for name in cache_mod._TRAINING_CODE}
    for maths in (train.TrainConfig.initial_model, train.Stepper, train.fit, train.learning_rate,
                  train.prepare_batch, batched.GroupStepper):
        assert pathlib.Path(inspect.getsourcefile(maths)) in hashed, maths.__qualname__
    assert "from .train" not in inspect.getsource(speed) and "import train" not in inspect.getsource(speed)
    package = tmp_path / "resbook"
    shutil.copytree(cache_mod.PACKAGE_DIR, package, ignore=shutil.ignore_patterns("__pycache__"))
    before = cache_mod.code_salt(package)
    assert before == cache_mod.CODE_SALT
    with open(package / "speed.py", "a") as f:
        f.write("\n# a faster kernel\n")
    assert cache_mod.code_salt(package) == before
    for name in cache_mod._TRAINING_CODE:
        copy = tmp_path / f"copy-{name}"
        shutil.copytree(package, copy)
        with open(copy / name, "a") as f:
            f.write("\n# another loss\n")
        changed = RunCache("x", salt=cache_mod.code_salt(copy))
        assert cache_mod.code_salt(copy) != before and changed.key(CONFIG) != RunCache("x").key(CONFIG), name


def test_a_run_trained_with_other_numerics_is_found_and_read(cache):
    runs.run(CONFIG, cache, progress=False)  # trained here, on the CPU
    gpu_machine = RunCache(cache.root, numerics="cuda-bf16")  # a GPU machine that shares the cache
    result = gpu_machine.load(CONFIG)
    assert result is not None and result.numerics == "cpu-fp32"


def test_entries_of_the_first_key_scheme_are_reported_and_not_read(cache, monkeypatch):
    from resbook.runs import cache as cache_mod

    monkeypatch.setattr(cache_mod, "_reported_old", set())
    cache.root.mkdir(parents=True)
    (cache.root / "0123456789abcdef01234567.pt").write_bytes(b"an entry of the first scheme")
    with pytest.warns(UserWarning, match="first key scheme"):
        assert cache.load(CONFIG) is None
    assert (cache.root / "0123456789abcdef01234567.pt").exists()  # reported, never deleted
