"""Probing trained runs in parallel: one worker process per usable core, as training does.

A probe of a small net (a lesion curve, a gradient decomposition) runs one tiny convolution after another; two
threads in one process speed it up by 1.2-1.7x (measured on 2 cores), two processes by nearly 2x. `map_runs`
shares a chapter's runs out among worker processes that live as long as the kernel, so only the first call
pays for starting them.
"""

from __future__ import annotations

import functools
import multiprocessing
import signal
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

import torch

from ..resources import usable_cpus
from ..train import TrainResult

T = TypeVar("T")


def map_runs(function: Callable[..., T], results: Sequence[TrainResult], *args: Any,
             workers: int | None = None) -> list[T]:
    """`[function(r, *args) for r in results]`, the runs shared out among worker processes (`default_workers`).

    `function` must be defined at the top level of a module (a worker imports it by name); each run travels
    with its weights, so the runs need not be in any cache. The answers are the serial loop's: each probe
    seeds its own draws. A worker that dies (out of memory) costs nothing computed here: the runs are then
    probed one after another in this process.
    """
    from . import default_workers  # the package imports this module's users, not this module

    results = list(results)
    workers = min(workers or default_workers(), len(results))
    if workers <= 1:
        return [function(r, *args) for r in results]
    try:
        return list(_pool(workers).map(_call, [function] * len(results), results, [args] * len(results)))
    except BrokenProcessPool:
        _pool.cache_clear()
        print(f"{getattr(function, '__name__', 'probe')}: a worker process died; probing one run at a time")
        return [function(r, *args) for r in results]


def _call(function: Callable[..., T], result: TrainResult, args: tuple) -> T:
    return function(result, *args)


@functools.cache
def _pool(workers: int) -> ProcessPoolExecutor:
    context = multiprocessing.get_context("spawn")  # fork is unsafe once torch has started threads
    threads = max(1, usable_cpus() // workers)
    return ProcessPoolExecutor(workers, mp_context=context, initializer=_start_worker, initargs=(threads,))


def _start_worker(threads: int) -> None:
    # Ctrl-C (or a kernel's interrupt) is the calling process's to handle: an idle worker that takes it too
    # prints a traceback for nothing; the pool ends its workers itself
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    torch.set_num_threads(threads)
