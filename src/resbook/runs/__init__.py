"""Getting trained runs: from the cache when they exist, trained (in parallel worker processes) when not.

`grid` names runs (configs) from a profile; `sweep` returns them trained; `history_frame` / `final_frame`
describe them as tidy tables. Submodules: `cache` (the run cache and its archives), `scaleout` (Ray).
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed

import filelock
import pandas as pd
import torch
from tqdm.auto import tqdm

from .. import batched, durable, run_status
from ..profiles import Profile
from ..resources import available_memory_bytes, usable_cpus
from ..train import HISTORY_KEYS, TrainConfig, TrainResult, config_for, describe_divergence, train
from .cache import RunCache


def group(config: TrainConfig) -> list[TrainConfig]:
    """The runs trained in one computation with `config`: its seeds' group (`trained_with`), or itself alone."""
    return batched.members(config) if config.trained_with else [config]


def leader(config: TrainConfig) -> TrainConfig:
    """The run that stands for `config`'s group (its lock, its resumable state, its job in a sweep)."""
    return group(config)[0]


def run(config: TrainConfig, cache: RunCache | None = None, *, progress: bool = True) -> TrainResult:
    """The trained run `config` names: loaded from the cache, or trained and stored.

    One process trains a run at a time: another that needs it meanwhile waits for the run's lock and then
    loads what the first stored. A run interrupted before (killed, pre-empted, out of memory) continues
    from its resumable state; the state is removed once the run is stored. A run trained together with
    others (`trained_with`) is trained with its whole group, and every member is stored.
    """
    cache = cache or RunCache()
    result = cache.load(config)
    if result is not None:
        return result
    cache.check_writable(config)  # a read-only cache fails here, before any training
    lock = cache.lock(leader(config))
    try:
        lock.acquire(timeout=0)
    except filelock.Timeout:
        if progress:
            tqdm.write(f"{config.label} (seed {config.seed}): another process is training it; waiting for it")
        lock.acquire()
    try:
        result = cache.load(config)  # stored by the process we waited for
        return result if result is not None else _train_and_store(config, cache, progress)
    finally:
        lock.release()  # also when training fails (and the OS releases it if this process dies)


def _train_and_store(config: TrainConfig, cache: RunCache, progress: bool) -> TrainResult:
    """Train `config` (with its group) and store it; called with the run's lock held."""
    members = group(config)
    state = cache.state_path(members[0])
    for leftover in durable.leftovers(state) + [t for c in members for t in durable.leftovers(cache.path(c))]:
        leftover.unlink(missing_ok=True)  # half-written by a process killed mid-write
    together = f" (together with seeds {config.trained_with})" if config.trained_with else ""
    for member in members:
        cache.journal(member, "training" + together + (" (resuming)" if state.exists() else ""))
    if config.trained_with:
        results = batched.train_together(members, progress=progress, state=state)
    else:
        results = [train(config, progress=progress, state=state)]
    for result in results:
        if result.config not in cache:  # a member already stored stays as it is
            cache.save(result)
        where = result.resumed_from
        event = "stored" + (f" (resumed at epoch {where[0]}, batch {where[1]})" if where else "")
        if result.diverged:
            event += f": {describe_divergence(result.diverged)}; served as it is until `RunCache.forget` moves it aside"
        cache.journal(result.config, event)
    state.unlink(missing_ok=True)
    return next(r for r in results if r.config == config)


# what one training worker process holds at most (torch, the data set, a net and its optimizer): a
# pre-activation ResNet-56 of widths 16/32/64 peaked at 0.87 GiB (digits) and 0.92 GiB (MNIST-1D) of resident
# memory here (2026-12-01); the limit keeps a 2 GB Binder container to one worker
WORKER_MEMORY = 1 << 30


def default_workers() -> int:
    """One process per usable core on a CPU (the book's nets are too small to use two threads well), as many
    as the available memory holds; 1 on a GPU. `RESBOOK_WORKERS` overrides.

    Usable cores are those this process may run on (affinity, container quota), not the host's count.
    """
    if "RESBOOK_WORKERS" in os.environ:
        return int(os.environ["RESBOOK_WORKERS"])
    if torch.cuda.is_available():
        return 1
    memory = available_memory_bytes()
    return max(1, min(usable_cpus(), memory // WORKER_MEMORY if memory else usable_cpus()))


def _train_in_worker(config: TrainConfig, cache_root: str, salt: str, threads: int) -> str:
    torch.set_num_threads(threads)
    run(config, RunCache(cache_root, salt), progress=False)
    return config.label


def sweep(
    configs: Sequence[TrainConfig],
    cache: RunCache | None = None,
    *,
    workers: int | None = None,
    progress: bool = True,
) -> list[TrainResult]:
    """All the runs in `configs`, in order. Missing ones train in `workers` processes that share the cache."""
    cache = cache or RunCache()
    workers = workers or default_workers()
    absent = [c for c in dict.fromkeys(configs) if cache.load(c) is None]
    missing = list({leader(c): c for c in absent}.values())  # one job per group trained together
    # longest first (epochs x depth stands for a run's cost): the last job to start is a short one, so the
    # workers finish together instead of one waiting on a long run started last
    missing.sort(key=lambda c: c.epochs * c.depth, reverse=True)
    if missing:
        cache.check_writable(missing[0])
        jobs = f" ({len(missing)} groups trained together)" if len(missing) < len(absent) else ""
        bar = tqdm(total=len(missing), desc=f"training {len(absent)} of {len(configs)} runs{jobs}",
                   disable=not progress)
        if workers == 1 or len(missing) == 1:
            for config in missing:
                run(config, cache, progress=progress)
                bar.update()
        else:
            threads = max(1, usable_cpus() // workers)
            context = multiprocessing.get_context("spawn")  # fork is unsafe once torch has started threads
            with ProcessPoolExecutor(min(workers, len(missing)), mp_context=context) as pool:
                futures = [pool.submit(_train_in_worker, c, str(cache.root), cache.salt, threads) for c in missing]
                for future in as_completed(futures):
                    bar.set_postfix_str(f"finished {future.result()}")
                    bar.update()
        bar.close()
    results = []
    for config in configs:
        result = cache.load(config)
        if result is None:  # lost between training and now (e.g. the cache folder was removed)
            result = run(config, cache, progress=progress)
        results.append(result)
    return results


def grid(
    profile: Profile,
    *,
    datasets: Sequence[str] | None = None,
    depths: Sequence[int] | None = None,
    nets: Sequence[bool] = (True,),
    seeds: Sequence[int] | None = None,
    **model,
) -> list[TrainConfig]:
    """Every data set x depth x net (residual=True/False) x seed; defaults from the profile."""
    return [
        config_for(profile, dataset, depth, seed=seed, residual=residual, **model)
        for dataset in (datasets or profile.datasets)
        for depth in (depths or profile.depths)
        for residual in nets
        for seed in (seeds if seeds is not None else profile.seeds)
    ]


def describe(result: TrainResult) -> dict:
    """The columns that say which run a row is about (data set, depth, kind of net, seed, model options) and
    how its training went (`status`: trained, did not train or diverged, from `run_status`)."""
    config = result.config
    return {
        "dataset": config.dataset,
        "depth": config.depth,
        "net": config.kind.value,
        "label": config.label,
        "seed": config.seed,
        "shortcut": config.shortcut,
        "preact": config.preact,
        "arch": config.arch,
        "width": "-".join(map(str, config.width)),
        "status": run_status.status(result),
    }


def history_frame(results: Sequence[TrainResult]) -> pd.DataFrame:
    """One row per run and epoch: the run's description plus that epoch's metrics. A run that completed no
    epoch (it diverged in its first) keeps one row, epoch 0 with NaN metrics, so that the frame still shows it."""
    empty = {key: [float("nan")] for key in HISTORY_KEYS} | {"epoch": [0]}
    frames = [pd.DataFrame(r.history if any(r.history.values()) else empty).assign(**describe(r))
              for r in results]
    return pd.concat(frames, ignore_index=True)


def final_frame(results: Sequence[TrainResult]) -> pd.DataFrame:
    """One row per run: its description (with its `status`) and its metrics after the last epoch; NaN for a run
    that diverged (its last completed epoch is not where it ended) or completed no epoch."""
    return pd.DataFrame([{**describe(r), **r.final, **({k: float("nan") for k in r.final if k != "epoch"}
                                                         if r.diverged else {})} for r in results])
