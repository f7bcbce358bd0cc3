import os

import pytest

from resbook import resources

GIB = 2**30


def write(root, path, text):
    file = root / path
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text(text)


@pytest.fixture
def eight_cpus(monkeypatch):
    """A process allowed on 8 CPUs, so that only the constructed cgroup files can lower the count."""
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(8)), raising=False)


def test_cgroup_v2_quota_of_two_cpus(tmp_path, eight_cpus):
    write(tmp_path, "sys/fs/cgroup/cpu.max", "200000 100000\n")
    assert resources.usable_cpus(tmp_path) == 2


def test_no_quota_leaves_the_affinity(tmp_path, eight_cpus):
    write(tmp_path, "sys/fs/cgroup/cpu.max", "max 100000\n")
    assert resources.usable_cpus(tmp_path) == 8
    assert resources.usable_cpus(tmp_path / "nothing-here") == 8


def test_cgroup_v1_quota_rounds_down_and_is_at_least_one(tmp_path, eight_cpus):
    write(tmp_path, "sys/fs/cgroup/cpu/cpu.cfs_quota_us", "150000\n")
    write(tmp_path, "sys/fs/cgroup/cpu/cpu.cfs_period_us", "100000\n")
    assert resources.usable_cpus(tmp_path) == 1
    write(tmp_path, "sys/fs/cgroup/cpu/cpu.cfs_quota_us", "50000\n")
    assert resources.usable_cpus(tmp_path) == 1
    write(tmp_path, "sys/fs/cgroup/cpu/cpu.cfs_quota_us", "-1\n")
    assert resources.usable_cpus(tmp_path) == 8


def test_affinity_smaller_than_the_quota(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    write(tmp_path, "sys/fs/cgroup/cpu.max", "400000 100000\n")
    assert resources.usable_cpus(tmp_path) == 2


def test_quota_of_the_process_own_cgroup_and_its_parent(tmp_path, eight_cpus):
    # A host without a cgroup namespace: the process sits in a nested cgroup; the parent's limit binds too.
    write(tmp_path, "proc/self/cgroup", "0::/jobs/42\n")
    write(tmp_path, "sys/fs/cgroup/jobs/cpu.max", "300000 100000\n")
    write(tmp_path, "sys/fs/cgroup/jobs/42/cpu.max", "max 100000\n")
    assert resources.usable_cpus(tmp_path) == 3


def test_memory_limit_below_meminfo(tmp_path):
    write(tmp_path, "proc/meminfo", "MemTotal:       32000000 kB\nMemAvailable:   16000000 kB\n")
    write(tmp_path, "sys/fs/cgroup/memory.max", f"{2 * GIB}\n")
    assert resources.available_memory_bytes(tmp_path) == 2 * GIB


def test_meminfo_below_memory_limit(tmp_path):
    write(tmp_path, "proc/meminfo", "MemAvailable:   1048576 kB\n")
    write(tmp_path, "sys/fs/cgroup/memory.max", f"{2 * GIB}\n")
    assert resources.available_memory_bytes(tmp_path) == 1 * GIB


def test_no_memory_limit(tmp_path):
    write(tmp_path, "proc/meminfo", "MemAvailable:   1048576 kB\n")
    write(tmp_path, "sys/fs/cgroup/memory.max", "max\n")
    assert resources.available_memory_bytes(tmp_path) == GIB
    write(tmp_path, "sys/fs/cgroup/memory.max", "")
    write(tmp_path, "sys/fs/cgroup/memory/memory.limit_in_bytes", "9223372036854771712\n")  # v1: no limit
    assert resources.available_memory_bytes(tmp_path) == GIB
    assert resources.available_memory_bytes(tmp_path / "nothing-here") is None


def test_this_machine():
    assert resources.usable_cpus() >= 1
    memory = resources.available_memory_bytes()
    assert memory is None or memory > 0
