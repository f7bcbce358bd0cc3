"""Runs survive interruption; a run is trained by one process at a time; cache writes survive crashes.

The fault tests use real processes (tests/run_worker.py) on real file systems: kill -9 while training and
while writing an entry, a read-only cache folder and a disk that fills up (tmpfs mounts in a private
mount namespace, `unshare -rm`), and two fills racing on one cache.
"""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import subprocess
import sys
import time
from dataclasses import replace

import pytest
import torch

from resbook import data, durable, resume, runs, train
from resbook.runs.cache import RunCache
from tests.run_worker import digest

WORKER = pathlib.Path(__file__).with_name("run_worker.py")
ROOT = WORKER.parent.parent
# long enough (8 epochs of 23 steps, ~2 s) to be killed part-way
CONFIG = train.TrainConfig("digits", 20, width=(4, 8, 16), epochs=8, batch_size=64)


def start(root, configs, **env) -> subprocess.Popen:
    blob = json.dumps([c.as_dict() for c in configs])
    return subprocess.Popen([sys.executable, str(WORKER), str(root), blob], cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, "RESBOOK_STATE_SECONDS": "0", "PYTHONPATH": str(ROOT), **env})


def finish(proc: subprocess.Popen, timeout: float = 180) -> list[dict]:
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> str:
    """The digest of CONFIG trained once, uninterrupted, keeping no state (the default interval)."""
    env = {"RESBOOK_STATE_SECONDS": "1000"}
    return finish(start(tmp_path_factory.mktemp("reference"), [CONFIG], **env))[0]["digest"]


def wait_for_state(cache: RunCache, config, proc, epoch: int, timeout: float = 120) -> dict:
    """Poll the run's resumable state until it has reached `epoch` (fails if the process ends first)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"the run ended before it could be interrupted: {proc.stderr.read()}"
        try:
            saved = torch.load(cache.state_path(config), weights_only=True)
            if saved["epoch"] >= epoch:
                return saved
        except (FileNotFoundError, EOFError, RuntimeError):
            pass
        time.sleep(0.01)
    raise AssertionError("no resumable state appeared")


# ---- in one process: the resumed run is the uninterrupted run, bit for bit ----

# crops, flips and short-path training draw from the run's generator every batch, and checkpoints are kept
# along the way: resuming must restore all of it exactly
SHORT = train.TrainConfig("digits", 8, width=(4, 8, 16), epochs=3, batch_size=64, active_branches=2, augment=True,
                          checkpoints=(1, 2))
AUGMENTED = replace(data.load("digits"), pad=2, flip=True)  # digits do not augment; these crop and flip


def _interrupt_after(monkeypatch, steps: int) -> None:
    real = train.Stepper.step
    count = iter(range(10**9))

    def step(self, *args):
        if next(count) >= steps:
            raise KeyboardInterrupt
        return real(self, *args)

    monkeypatch.setattr(train.Stepper, "step", step)


@pytest.mark.parametrize(("steps", "position"), [(5, (1, 5)), (23, (2, 0)), (50, (3, 4))])
def test_an_interrupted_run_resumes_to_the_same_weights_and_history(tmp_path, monkeypatch, steps, position):
    whole = train.train(SHORT, AUGMENTED, progress=False)
    monkeypatch.setattr(resume, "STATE_SECONDS", 0.0)
    monkeypatch.setattr(resume, "EPOCH_END_SECONDS", 0.0)
    state = tmp_path / "state.pt"
    with monkeypatch.context() as m:
        _interrupt_after(m, steps)  # 23 steps make one epoch of digits at batch 64
        with pytest.raises(KeyboardInterrupt):
            train.train(SHORT, AUGMENTED, progress=False, state=state)
    resumed = train.train(SHORT, AUGMENTED, progress=False, state=state)
    assert resumed.resumed_from == position
    assert digest(resumed) == digest(whole)


def test_the_comparison_sees_a_resume_that_loses_the_generator(tmp_path, monkeypatch):
    """The check above can fail: a state whose generator is replaced gives a different run."""
    whole = train.train(SHORT, AUGMENTED, progress=False)
    monkeypatch.setattr(resume, "STATE_SECONDS", 0.0)
    state = tmp_path / "state.pt"
    with monkeypatch.context() as m:
        _interrupt_after(m, 5)
        with pytest.raises(KeyboardInterrupt):
            train.train(SHORT, AUGMENTED, progress=False, state=state)
    saved = torch.load(state, weights_only=True)
    saved["generators"] = [torch.Generator().manual_seed(123).get_state()]
    torch.save(saved, state)
    assert digest(train.train(SHORT, AUGMENTED, progress=False, state=state)) != digest(whole)


def test_a_compiled_run_resumes_bit_identical(tmp_path, monkeypatch):
    """torch.compile with static shapes: a batch runs the kernels of its size, whatever ran before it."""
    monkeypatch.setenv("RESBOOK_COMPILE", "1")
    compiled = replace(SHORT, active_branches=0)  # short-path training is never compiled
    whole = train.train(compiled, AUGMENTED, progress=False)
    monkeypatch.setattr(resume, "STATE_SECONDS", 0.0)
    monkeypatch.setattr(resume, "EPOCH_END_SECONDS", 0.0)
    with monkeypatch.context() as m:
        _interrupt_after(m, 30)
        with pytest.raises(KeyboardInterrupt):
            train.train(compiled, AUGMENTED, progress=False, state=tmp_path / "state.pt")
    resumed = train.train(compiled, AUGMENTED, progress=False, state=tmp_path / "state.pt")
    assert resumed.resumed_from == (2, 7) and digest(resumed) == digest(whole)


def test_a_corrupt_state_is_moved_aside_and_the_run_starts_again(tmp_path):
    state = tmp_path / "state.pt"
    state.write_bytes(b"not a state")
    with pytest.warns(UserWarning, match="cannot be used"):
        result = train.train(SHORT, AUGMENTED, progress=False, state=state)
    assert result.resumed_from is None and len(list(tmp_path.glob("state.pt.corrupt-*"))) == 1


# ---- real processes, real file systems ----

def test_a_run_killed_while_training_resumes_in_the_next_process(tmp_path, reference):
    cache = RunCache(tmp_path)
    proc = start(tmp_path, [CONFIG])
    saved = wait_for_state(cache, CONFIG, proc, epoch=3)
    proc.kill()
    proc.wait()
    assert proc.returncode == -9 and CONFIG not in cache
    # the lock file stays behind, but the OS released its lock with the process: the next one is not blocked
    assert pathlib.Path(cache.lock(CONFIG).lock_file).exists()
    (out,) = finish(start(tmp_path, [CONFIG]))
    assert tuple(out["resumed_from"]) >= (saved["epoch"], saved["batch"])  # nothing before the state retrained
    assert out["digest"] == reference
    assert not cache.state_path(CONFIG).exists()  # removed once the run was stored
    trainings = cache.trainings(CONFIG)
    assert len(trainings) == 2 and trainings[1].endswith("training (resuming)")


def test_a_process_killed_while_writing_an_entry_leaves_nothing_that_is_served(tmp_path, reference):
    cache = RunCache(tmp_path)
    proc = start(tmp_path, [CONFIG], FAULT="slow-entry-write")
    assert proc.stdout.readline().strip() == "WRITING"  # half the entry is on disk, under a temporary name
    proc.kill()
    proc.wait()
    assert durable.temporaries(cache.path(CONFIG)) and not cache.path(CONFIG).exists()
    assert cache.load(CONFIG) is None
    (out,) = finish(start(tmp_path, [CONFIG]))
    assert tuple(out["resumed_from"]) == (CONFIG.epochs + 1, 0)  # the finished run's state: nothing retrained
    assert out["digest"] == reference
    assert not durable.temporaries(cache.path(CONFIG))  # the killed writer's leftover is cleared


def test_a_second_process_waits_for_the_trainer_and_loads_its_run(tmp_path, reference):
    cache = RunCache(tmp_path)
    trainer = start(tmp_path, [CONFIG])
    wait_for_state(cache, CONFIG, trainer, epoch=2)  # the trainer holds the run's lock now
    waiter = start(tmp_path, [CONFIG])
    (trained,), (loaded,) = finish(trainer), finish(waiter)
    assert trained["digest"] == loaded["digest"] == reference and loaded["resumed_from"] is None
    assert len(cache.trainings(CONFIG)) == 1  # the waiter never trained it


def test_a_failed_run_releases_its_lock(tmp_path, monkeypatch):
    cache = RunCache(tmp_path)
    tiny = train.TrainConfig("digits", 8, width=(4, 8, 16), epochs=1, batch_size=256)

    def fail(*args, **kwargs):
        raise RuntimeError("out of memory, say")

    monkeypatch.setattr(runs, "train", fail)
    with pytest.raises(RuntimeError) as failure:  # keeps the traceback (and its frames) alive, as Jupyter does
        runs.run(tiny, cache, progress=False)
    probe = "import filelock, sys; filelock.FileLock(sys.argv[1]).acquire(timeout=0)"
    taken = subprocess.run([sys.executable, "-c", probe, cache.lock(tiny).lock_file], capture_output=True)
    assert taken.returncode == 0, taken.stderr
    assert failure.value is not None


def test_two_fills_racing_on_one_cache_train_each_run_once(tmp_path):
    configs = [train.TrainConfig("digits", 8, width=(4, 8, 16), epochs=2, batch_size=64, seed=s) for s in range(4)]
    first, second = start(tmp_path, configs), start(tmp_path, configs[::-1])
    a, b = finish(first), finish(second)
    assert [r["digest"] for r in a] == [r["digest"] for r in b][::-1]
    cache = RunCache(tmp_path)
    assert [len(cache.trainings(c)) for c in configs] == [1, 1, 1, 1]


def test_without_the_lock_racing_fills_would_train_runs_twice(tmp_path, monkeypatch):
    """The check above can fail: with a lock that locks nothing, both processes train every run."""
    configs = [train.TrainConfig("digits", 8, width=(4, 8, 16), epochs=2, batch_size=64, seed=s) for s in range(2)]
    sitecustomize = tmp_path / "site" / "sitecustomize.py"
    sitecustomize.parent.mkdir()
    sitecustomize.write_text("import filelock\nfilelock.FileLock.acquire = lambda self, *a, **k: self\n"
                             "filelock.FileLock.release = lambda self, *a, **k: None\n")
    env = {"PYTHONPATH": f"{sitecustomize.parent}{os.pathsep}{ROOT}"}
    procs = [start(tmp_path / "runs", configs, **env) for _ in range(2)]
    for proc in procs:
        finish(proc)
    cache = RunCache(tmp_path / "runs")
    assert sum(len(cache.trainings(c)) for c in configs) > len(configs)


def _private_mounts_work() -> bool:
    return shutil.which("unshare") is not None and subprocess.run(
        ["unshare", "-rm", "true"], capture_output=True).returncode == 0


private_mounts = pytest.mark.skipif(not _private_mounts_work(),
                                    reason="needs a private mount namespace (unshare -rm) for a real tmpfs")


def in_private_mount(script: str, **env) -> subprocess.CompletedProcess:
    """Run a shell script in its own mount namespace, where it may mount tmpfs file systems."""
    return subprocess.run(["unshare", "-rm", "sh", "-c", script], capture_output=True, text=True, cwd=ROOT,
                          timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT), **env})


def _args(root, config) -> str:
    return f"{sys.executable} {WORKER} {root} '{json.dumps([config.as_dict()])}'"


@private_mounts
def test_a_read_only_cache_serves_its_runs_and_refuses_new_ones_before_training(tmp_path):
    cache_dir = tmp_path / "ro"
    cache_dir.mkdir()
    tiny = train.TrainConfig("digits", 8, width=(4, 8, 16), epochs=1, batch_size=256)
    other = train.TrainConfig(**{**tiny.as_dict(), "seed": 1, "width": (4, 8, 16)})
    script = f"""
        mount -t tmpfs -o size=16m tmpfs {cache_dir}
        {_args(cache_dir, tiny)} > /dev/null
        mount -o remount,ro {cache_dir}
        FAULT=no-training {_args(cache_dir, tiny)}; echo "stored run: rc=$?"
        FAULT=no-training {_args(cache_dir, other)}; echo "new run: rc=$?"
    """
    done = in_private_mount(script)
    assert "stored run: rc=0" in done.stdout  # read without writing anything
    assert "new run: rc=1" in done.stdout and "TRAINING STARTED" not in done.stdout
    assert f"the run cache folder {cache_dir} is not writable" in done.stderr and "RESBOOK_CACHE" in done.stderr


@private_mounts
def test_a_disk_that_fills_up_keeps_the_state_and_says_what_to_free(tmp_path, reference):
    disk = tmp_path / "disk"
    disk.mkdir()
    state = RunCache(disk).state_path(CONFIG)
    script = f"""
        mount -t tmpfs -o size=8m tmpfs {disk}
        {_args(disk, CONFIG)} > {tmp_path}/out1 2> {tmp_path}/err1 &
        pid=$!
        while [ ! -e {state} ]; do sleep 0.02; done
        dd if=/dev/zero of={disk}/filler bs=64k 2> /dev/null || true
        wait $pid; echo "full disk: rc=$?"
        [ -e {state} ] && echo "state kept"
        rm {disk}/filler
        {_args(disk, CONFIG)} > {tmp_path}/out2 2> {tmp_path}/err2; echo "after freeing: rc=$?"
    """
    done = in_private_mount(script, RESBOOK_STATE_SECONDS="0")
    err = (tmp_path / "err1").read_text()
    assert "full disk: rc=1" in done.stdout and "state kept" in done.stdout, done.stderr + err
    assert f"no space left in {disk}" in err and "Free at least" in err and "resumable state is kept" in err
    assert "after freeing: rc=0" in done.stdout, (tmp_path / "err2").read_text()
    (out,) = [json.loads(line) for line in (tmp_path / "out2").read_text().splitlines()]
    assert out["resumed_from"] is not None and out["digest"] == reference
