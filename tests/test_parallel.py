"""`runs.parallel.map_runs`: the serial loop's answers, from worker processes, in order."""

import os

from resbook.runs import parallel


def _seed_and_pid(result, offset):
    return result.config.seed + offset, os.getpid()


class _Config:
    def __init__(self, seed):
        self.seed = seed


class _Result:  # what a probe reads of a run; picklable, as a TrainResult is
    def __init__(self, seed):
        self.config = _Config(seed)


def test_map_runs_gives_the_serial_answers_in_order_from_other_processes():
    results = [_Result(s) for s in range(5)]
    found = parallel.map_runs(_seed_and_pid, results, 10, workers=2)
    assert [answer for answer, _ in found] == [10, 11, 12, 13, 14]
    assert {pid for _, pid in found} != {os.getpid()}  # the work left this process


def test_one_worker_or_one_run_stays_in_this_process():
    found = parallel.map_runs(_seed_and_pid, [_Result(3)], 1, workers=2)
    assert found == [(4, os.getpid())]
    assert parallel.map_runs(_seed_and_pid, [_Result(1), _Result(2)], 0, workers=1) == [(1, os.getpid()),
                                                                                        (2, os.getpid())]


def test_a_probe_that_fails_in_a_worker_raises_here():
    import pytest

    with pytest.raises(AttributeError):
        parallel.map_runs(_seed_and_pid, [_Result(0), object()], 0, workers=2)
