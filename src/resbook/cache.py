"""The run cache: a finished training run stored under a key made of its full config and the code version.

One file per run (`<key>.pt`: config, code salt, metrics, weights), written to a temporary name and
renamed into place, so a reader never sees half a file. A corrupt or mismatched entry is moved aside
(never deleted) and reported, and the run is trained again.
"""

from __future__ import annotations

import hashlib
import json
import os
import pathlib
import tempfile
import time
import warnings

import torch

from .train import TrainConfig, TrainResult

PACKAGE_DIR = pathlib.Path(__file__).resolve().parent
# the modules whose code decides what a run computes; editing any of them invalidates the cache
_TRAINING_CODE = ("data.py", "models.py", "train.py")
FORMAT = 1


def code_salt() -> str:
    digest = hashlib.sha256()
    for name in _TRAINING_CODE:
        digest.update((PACKAGE_DIR / name).read_bytes())
    return digest.hexdigest()[:16]


CODE_SALT = code_salt()


def default_root() -> pathlib.Path:
    """$RESBOOK_CACHE, else `.cache/runs` at the repository root (git-ignored)."""
    if "RESBOOK_CACHE" in os.environ:
        return pathlib.Path(os.environ["RESBOOK_CACHE"])
    return PACKAGE_DIR.parent.parent / ".cache" / "runs"


class CorruptEntry(Exception):
    """A cache file that cannot be read or does not describe the run it is filed under."""


class RunCache:
    def __init__(self, root: str | os.PathLike | None = None, salt: str = CODE_SALT):
        self.root = pathlib.Path(root) if root is not None else default_root()
        self.salt = salt

    def key(self, config: TrainConfig) -> str:
        blob = json.dumps({"config": config.as_dict(), "salt": self.salt, "format": FORMAT}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:24]

    def path(self, config: TrainConfig) -> pathlib.Path:
        return self.root / f"{self.key(config)}.pt"

    def __contains__(self, config: TrainConfig) -> bool:
        return self.path(config).exists()

    def load(self, config: TrainConfig) -> TrainResult | None:
        """The stored run, or None when there is none (or it was corrupt and has been moved aside)."""
        path = self.path(config)
        if not path.exists():
            return None
        try:
            return self._read(path, config)
        except CorruptEntry as err:
            aside = path.with_name(f"{path.name}.corrupt-{int(time.time())}")
            path.replace(aside)
            warnings.warn(f"run cache: {err}; moved it to {aside.name} and will train {config.label} again",
                          stacklevel=2)
            return None

    def _read(self, path: pathlib.Path, config: TrainConfig) -> TrainResult:
        try:
            entry = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001 - any unreadable file is a corrupt entry
            raise CorruptEntry(f"cannot read {path.name} ({type(exc).__name__}: {exc})") from exc
        if not isinstance(entry, dict) or entry.get("format") != FORMAT:
            raise CorruptEntry(f"{path.name} is not a run-cache entry of format {FORMAT}")
        if entry.get("config") != _jsonable(config.as_dict()) or entry.get("salt") != self.salt:
            raise CorruptEntry(f"{path.name} holds a different config or code version than its key says")
        model = config.build_model()
        try:
            model.load_state_dict(entry["state_dict"])
        except (KeyError, RuntimeError) as exc:
            raise CorruptEntry(f"{path.name}: weights do not fit the model ({exc})") from exc
        return TrainResult(config, model.eval(), entry["history"], entry.get("checkpoints", {}))

    def save(self, result: TrainResult) -> pathlib.Path:
        """Store atomically: write a temporary file beside the target, then rename it into place."""
        path = self.path(result.config)
        self.root.mkdir(parents=True, exist_ok=True)
        entry = {
            "format": FORMAT,
            "config": _jsonable(result.config.as_dict()),
            "salt": self.salt,
            "history": result.history,
            "state_dict": result.model.state_dict(),
            "checkpoints": result.checkpoints,
        }
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=f".{path.stem}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                torch.save(entry, f)
            os.replace(tmp, path)
        except BaseException:
            pathlib.Path(tmp).unlink(missing_ok=True)
            raise
        return path


def _jsonable(d: dict) -> dict:
    """Tuples become lists, as they would after a JSON round trip, so stored and fresh configs compare."""
    return json.loads(json.dumps(d))
