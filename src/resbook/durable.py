"""Files that survive a crash or a power cut: written whole under a temporary name, synced, renamed into place.

Used for run-cache entries and for the resumable state of a run in progress. A reader sees either the old
file or the new one, never part of one; after the rename returns, the new one is on the disk.
"""

from __future__ import annotations

import errno
import io
import os
import pathlib
import shutil
import socket
import tempfile
from collections.abc import Callable
from typing import BinaryIO

import torch


class DiskFull(OSError):
    """No room left to write a file; the message says where, how much was needed and what to free."""


class NotWritable(PermissionError):
    """A folder that files must be written to is read-only (or not ours); the message names the fix."""


def fsync_folder(folder: pathlib.Path) -> None:
    """Make a rename or a new name in `folder` durable (a file's fsync does not cover its directory entry)."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _host() -> str:
    return socket.gethostname().replace(".", "_")  # no dots: the temporary's name is split on them


def _write(path: pathlib.Path, fill: Callable[[BinaryIO], object]) -> None:
    """Write `path` through `fill` under a temporary name beside it; sync the file, rename, sync the folder."""
    folder = path.parent
    folder.mkdir(parents=True, exist_ok=True)
    # the writer's host and pid in the name say whose leftover a temporary is (a writer killed before its rename)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.{_host()}-{os.getpid()}.",
                               suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            fill(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        fsync_folder(folder)
    except BaseException:
        pathlib.Path(tmp).unlink(missing_ok=True)
        raise


def save(obj: object, path: pathlib.Path, *, hint: str = "") -> int:
    """`torch.save(obj)` to `path` atomically and durably; returns the bytes written.

    When the disk is full, the partial temporary file is removed, whatever was at `path` before is
    untouched, and `DiskFull` says how much room was needed; `hint` adds what the caller keeps.
    """
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    blob = buffer.getbuffer()
    try:
        _write(path, lambda f: f.write(blob))
    except OSError as err:
        if err.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        free = shutil.disk_usage(path.parent).free
        raise DiskFull(err.errno, f"no space left in {path.parent} to write {path.name} ({len(blob) / 2**20:.1f} "
                                  f"MiB needed, {free / 2**20:.1f} MiB free). Free at least that much on that disk "
                                  "(or set RESBOOK_CACHE to a folder on a disk with room) and run again. "
                                  f"{hint}".strip()) from err
    return len(blob)


def copy(source: pathlib.Path, path: pathlib.Path) -> None:
    """Copy a file to `path` as `save` writes one: whole, synced, renamed into place."""
    with open(source, "rb") as src:
        _write(path, lambda f: shutil.copyfileobj(src, f))


def temporaries(path: pathlib.Path) -> list[pathlib.Path]:
    """The temporary files of writers of `path` (in progress, or left by a writer killed before its rename)."""
    return sorted(path.parent.glob(f".{path.name}.*.tmp"))


def leftovers(path: pathlib.Path) -> list[pathlib.Path]:
    """The temporaries of `path` whose writer (named by host and pid in the file name) ran on this host and
    no longer runs; another host's are never judged (its processes cannot be seen from here)."""
    def dead(tmp: pathlib.Path) -> bool:
        host, _, pid = tmp.name[len(path.name) + 2:].split(".", 1)[0].rpartition("-")
        if host != _host() or not pid.isdigit():
            return False
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return True
        except PermissionError:  # someone else's live process
            return False
        return False
    return [tmp for tmp in temporaries(path) if dead(tmp)]


def check_writable(folder: pathlib.Path, what: str, subfolders: tuple[str, ...] = ()) -> None:
    """Raise `NotWritable` naming `folder` and RESBOOK_CACHE unless files can be created in it (and in its
    `subfolders`)."""
    try:
        for place in (folder, *(folder / sub for sub in subfolders)):
            place.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryFile(dir=place):
                pass
    except OSError as err:
        raise NotWritable(err.errno, f"the run cache folder {folder} is not writable ({err.strerror}), so {what} "
                                     "cannot be trained and stored there. Set RESBOOK_CACHE to a folder you can "
                                     "write (e.g. export RESBOOK_CACHE=$HOME/resbook-runs; copy this folder's "
                                     "*.v2.pt files there to keep its runs), or make this one writable.") from err
