"""What of the machine this process may use: its CPUs and memory, as a container sees them.

`os.cpu_count()` counts the host's cores. In a container (Binder, CI, a cluster job) what counts is the
process's CPU affinity and its cgroup's CPU quota and memory limit, so worker counts come from here.
Every path starts at `root`, so that tests can build a small /proc and /sys of their own.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

_NO_LIMIT = 2**60  # cgroup v1 writes "no memory limit" as a number near 2**63


def usable_cpus(root: str | os.PathLike[str] = "/") -> int:
    """The CPUs this process may use: its affinity, limited by a cgroup CPU quota, rounded down, at least 1."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS and Windows have no affinity call
        cpus = os.cpu_count() or 1
    for folder in _cgroup_folders(Path(root), "cpu"):
        quota = _cpu_quota(folder)
        if quota is not None:
            cpus = min(cpus, math.floor(quota))
    return max(1, cpus)


def available_memory_bytes(root: str | os.PathLike[str] = "/") -> int | None:
    """Memory this process may still use: /proc/meminfo's MemAvailable, capped by a cgroup memory limit.

    None when neither is known (not Linux).
    """
    root = Path(root)
    found = []
    for folder in _cgroup_folders(root, "memory"):
        for name in ("memory.max", "memory.limit_in_bytes"):  # cgroup v2, v1
            value = _read(folder / name)
            if value and value != "max" and int(value) < _NO_LIMIT:
                found.append(int(value))
    for line in (_read(root / "proc/meminfo") or "").splitlines():
        if line.startswith("MemAvailable:"):
            found.append(int(line.split()[1]) * 1024)  # given in kB
    return min(found, default=None)


def _cpu_quota(folder: Path) -> float | None:
    """CPUs' worth of time a cgroup folder allows per period, or None for no quota."""
    v2 = _read(folder / "cpu.max")  # "max 100000" (none) or "200000 100000" (2 CPUs)
    if v2:
        quota, period = v2.split()
        return None if quota == "max" else int(quota) / int(period)
    quota, period = _read(folder / "cpu.cfs_quota_us"), _read(folder / "cpu.cfs_period_us")  # v1; -1 is none
    if quota and period and int(quota) > 0:
        return int(quota) / int(period)
    return None


def _cgroup_folders(root: Path, controller: str) -> list[Path]:
    """The cgroup folders whose limits bind this process: its own and their parents, for v2 and v1.

    A limit set on a parent cgroup binds its children too, so the caller takes the smallest.
    """
    own = {"": "/", controller: "/"}  # "": the v2 hierarchy; "/" where /proc/self/cgroup says nothing
    for line in (_read(root / "proc/self/cgroup") or "").splitlines():
        _, names, path = line.split(":", 2)  # "0::/user.slice" (v2) or "4:memory:/docker/1f2e" (v1)
        for name in names.split(",") if names else [""]:
            if name in own:
                own[name] = path
    folders = []
    for name, path in own.items():
        top = root / "sys/fs/cgroup" / name
        folder = top / path.lstrip("/")
        if not folder.is_dir():  # no cgroup namespace: the container's own cgroup is mounted at the top
            folder = top
        while True:
            folders.append(folder)
            if folder == top:
                break
            folder = folder.parent
    return folders


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None
