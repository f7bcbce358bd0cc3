"""The resumable state of a run in progress: when to keep it, and reading it back.

`train` hands a `Keeper` a snapshot (weights, optimizer, position in the data, every random generator,
history so far) whenever `due` says so; a restarted run reads the newest snapshot and continues from it,
bit for bit on the CPU. Not hashed by the run cache: it changes when work is kept, never what is computed
(tests/test_resume.py checks that).
"""

from __future__ import annotations

import json
import os
import pathlib
import time
import warnings

import torch

from . import durable

FORMAT = 1
# a state is kept at the first step after this many seconds since the last one (bounding the work an
# interruption loses), and at an epoch's end once a few seconds have passed (short runs: one per epoch at most)
STATE_SECONDS = float(os.environ.get("RESBOOK_STATE_SECONDS", 120))
EPOCH_END_SECONDS = min(5.0, STATE_SECONDS)


class Keeper:
    """Keeps the resumable state of the run `config` names in the file `path`."""

    def __init__(self, path: str | os.PathLike, config_dict: dict):
        self.path = pathlib.Path(path)
        self.config = json.loads(json.dumps(config_dict))  # as stored: tuples become lists
        self.last = time.monotonic()
        self.written = 0  # snapshots written (for the benchmark and the tests)
        self._warned = False

    def due(self, *, epoch_end: bool = False) -> bool:
        return time.monotonic() - self.last >= (EPOCH_END_SECONDS if epoch_end else STATE_SECONDS)

    def write(self, snapshot: dict) -> None:
        """Store `snapshot` durably; a failure (e.g. a full disk) is reported once and training goes on."""
        try:
            durable.save({"format": FORMAT, "config": self.config, **snapshot}, self.path,
                         hint="Training goes on; its previous resumable state is kept.")
            self.written += 1
        except OSError as err:
            if not self._warned:
                warnings.warn(f"could not keep the resumable state of this run: {err}", stacklevel=2)
                self._warned = True
        self.last = time.monotonic()

    def read(self) -> dict | None:
        """The newest snapshot of this run, or None (none kept; or unreadable, which is moved aside and reported)."""
        if not self.path.exists():
            return None
        try:
            saved = torch.load(self.path, map_location="cpu", weights_only=True)
            if saved.get("format") != FORMAT or saved.get("config") != self.config:
                raise ValueError("it belongs to another run or another format")
        except Exception as err:  # noqa: BLE001 - any unreadable state means starting from scratch
            aside = self.path.with_name(f"{self.path.name}.corrupt-{int(time.time())}")
            self.path.replace(aside)
            warnings.warn(f"resumable state {self.path.name} cannot be used ({err}); moved it to {aside.name} "
                          "and training from scratch", stacklevel=2)
            return None
        return saved

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)
