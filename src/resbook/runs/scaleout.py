"""Filling the run cache on Ray: a local cluster by default, a real one with `address` (one GPU per run there).

The cache is the meeting point: a run that is already in it (finished here, elsewhere, or by another
job) is never trained again, each worker checks it again just before training, and entries are written
atomically. A run that fails, or whose worker dies, is retried by Ray up to `retries` times (continuing from
its resumable state, see `runs.run`) and then reported; the others go on.

    python -m resbook fill --profile paper --engine ray                   # local cluster, all cores/GPUs
    python -m resbook fill --profile paper --engine ray --address auto    # the cluster this machine is in
"""

from __future__ import annotations

import os
import pathlib
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from tqdm.auto import tqdm

from ..resources import usable_cpus
from ..train import TrainConfig
from . import leader
from .cache import RunCache


@dataclass
class FillReport:
    trained: list[str] = field(default_factory=list)
    cached: list[str] = field(default_factory=list)  # already in the cache: not trained again
    failed: dict[str, str] = field(default_factory=dict)  # name (label and seed) -> last error
    seconds: float = 0.0


class FailOnPurpose(RuntimeError):
    """Raised inside a worker for runs named in `fail` (to test retries and reporting)."""


def name(config: TrainConfig) -> str:
    """A run's name in reports: its label and seed."""
    return f"{config.label} (seed {config.seed})"


def _train_one(config: dict, cache_root: str, salt: str, threads: int, fail: bool, kill: bool) -> str:
    """One run, on a Ray worker: unless it is in the cache by now, train it and store it there."""
    import torch

    from . import run

    config = TrainConfig(**config)
    cache = RunCache(cache_root, salt)
    first_try = attempts(cache, config) == 0
    log = pathlib.Path(cache_root) / ".attempts" / f"{cache.key(config)}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "a") as f:  # one line per try, for the report
        f.write(f"{time.time():.0f} pid {os.getpid()}\n")
    if fail:
        raise FailOnPurpose(f"{name(config)}: failing on purpose")
    if kill and first_try:
        _kill_when_state_kept(cache.state_path(leader(config)))  # a group keeps its state under its leader
    torch.set_num_threads(threads)
    run(config, cache, progress=False)
    return config.label


def _kill_when_state_kept(state: pathlib.Path) -> None:
    """SIGKILL this worker once the run has kept a resumable state (a worker lost mid-run, for tests)."""
    import signal
    import threading

    def watch():
        while not state.exists():
            time.sleep(0.01)
        os.kill(os.getpid(), signal.SIGKILL)

    threading.Thread(target=watch, daemon=True).start()


def attempts(cache: RunCache, config: TrainConfig) -> int:
    """How many times workers have started `config` (retries included)."""
    path = cache.root / ".attempts" / f"{cache.key(config)}.log"
    return len(path.read_text().splitlines()) if path.exists() else 0


def fill(
    configs: Sequence[TrainConfig],
    cache: RunCache | None = None,
    *,
    address: str | None = None,
    workers: int | None = None,
    retries: int = 2,
    gpus_per_run: float = 1.0,
    fail: Sequence[TrainConfig] = (),
    kill: Sequence[TrainConfig] = (),
    progress: bool = True,
) -> FillReport:
    """Train every config missing from `cache` as parallel Ray tasks; returns what was trained or failed.

    Without `address`, starts a local Ray cluster of `workers` CPUs (default: all cores) and the local
    GPUs; each run takes one CPU, or `gpus_per_run` GPUs where there are GPUs (0.25: four small nets share
    a GPU). For tests, `fail` lists runs that fail on purpose and `kill` runs whose worker is killed
    (SIGKILL) once, after the run's first resumable state. Reports name runs by label and seed.
    """
    import ray

    cache = cache or RunCache()
    report = FillReport()
    start = time.perf_counter()
    absent = [c for c in dict.fromkeys(configs) if c not in cache]
    report.cached = [name(c) for c in dict.fromkeys(configs) if c in cache]
    groups: dict[TrainConfig, list[TrainConfig]] = {}  # one task per group of runs trained together
    for config in absent:
        groups.setdefault(leader(config), []).append(config)
    todo = [members[0] for members in groups.values()]
    if not todo:
        report.seconds = time.perf_counter() - start
        return report

    started_here = not ray.is_initialized()
    if started_here:
        if address:
            ray.init(address=address, log_to_driver=False)
        else:
            ray.init(num_cpus=workers or usable_cpus(), include_dashboard=False, log_to_driver=False,
                     runtime_env={"env_vars": {"PYTHONWARNINGS": "ignore"}})
    try:
        gpus = ray.cluster_resources().get("GPU", 0)
        task = ray.remote(_train_one).options(
            num_cpus=1, num_gpus=gpus_per_run if gpus else 0, max_retries=retries, retry_exceptions=True)
        pending = {task.remote(c.as_dict(), str(cache.root), cache.salt, 1, c in fail, c in kill): c for c in todo}
        bar = tqdm(total=len(todo), desc=f"training {len(todo)} runs on Ray", disable=not progress)
        slots = _slots(gpus_per_run)
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            config = pending.pop(done[0])
            group = groups[leader(config)]
            try:
                ray.get(done[0])
                report.trained += [name(c) for c in group]
            except Exception as err:  # noqa: BLE001 - a failed run is reported, the others go on
                report.failed.update({name(c): str(err).strip().splitlines()[-1] for c in group})
            bar.set_postfix_str(f"done {len(report.trained)} / running {min(len(pending), slots)} / "
                                f"waiting {max(0, len(pending) - slots)} / failed {len(report.failed)}")
            bar.update()
        bar.close()
    finally:
        if started_here:
            ray.shutdown()
    report.seconds = time.perf_counter() - start
    return report


def _slots(gpus_per_run: float = 1.0) -> int:
    """How many runs the cluster can hold at once."""
    import ray

    resources = ray.cluster_resources()
    if resources.get("GPU", 0):
        return int(resources["GPU"] / gpus_per_run)
    return int(resources.get("CPU", 1))
