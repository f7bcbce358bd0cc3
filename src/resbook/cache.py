"""The run cache: a finished training run stored under a key made of its full config and the code version.

One file per run (`<key>.pt`: config, code salt, metrics, weights), written to a temporary name and
renamed into place, so a reader never sees half a file. A corrupt or mismatched entry is moved aside
(never deleted) and reported, and the run is trained again.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import pathlib
import shutil
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


# ---- one archive for a whole cache: train once on a GPU, build the book anywhere ----

MANIFEST = "manifest.json"


def _sha256(path: pathlib.Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def export_archive(cache: RunCache, archive: str | os.PathLike, configs=None) -> int:
    """Write the entries of `configs` (default: every entry) to one .tar.gz with a manifest of checksums.

    Returns the number of runs written; a config without an entry is an error naming it.
    """
    import tarfile

    if configs is None:
        paths = sorted(cache.root.glob("*.pt"))
    else:
        missing = [c.label for c in configs if c not in cache]
        if missing:
            raise FileNotFoundError(f"{len(missing)} run(s) are not in {cache.root} (e.g. {missing[0]}): "
                                    "fill the cache first (python -m resbook fill ...)")
        paths = [cache.path(c) for c in dict.fromkeys(configs)]
    manifest = {"format": FORMAT, "salt": cache.salt, "entries": {}}
    for path in paths:
        entry = torch.load(path, map_location="cpu", weights_only=True)
        manifest["entries"][path.name] = {"sha256": _sha256(path), "config": entry["config"], "salt": entry["salt"]}
    archive = pathlib.Path(archive)
    archive.parent.mkdir(parents=True, exist_ok=True)
    tmp = archive.with_name(f".{archive.name}.tmp")
    with tarfile.open(tmp, "w:gz") as tar:
        blob = json.dumps(manifest, indent=1).encode()
        info = tarfile.TarInfo(MANIFEST)
        info.size = len(blob)
        tar.addfile(info, fileobj=io.BytesIO(blob))
        for path in paths:
            tar.add(path, arcname=path.name)
    os.replace(tmp, archive)
    return len(paths)


def import_archive(cache: RunCache, archive: str | os.PathLike) -> dict[str, list[str]]:
    """Add an exported archive's runs to `cache`, verifying each; returns {imported, present, refused}.

    An entry is refused (with the reason) when its checksum differs from the manifest, when it was made
    by another version of the training code (salt), or when its config does not match its file name or
    its own contents. Nothing already in the cache is overwritten.
    """
    import tarfile

    from .train import TrainConfig

    archive = pathlib.Path(archive)
    if not archive.exists():
        raise FileNotFoundError(f"no run-cache archive at {archive}")
    report: dict[str, list[str]] = {"imported": [], "present": [], "refused": []}
    try:
        tar = tarfile.open(archive, "r:gz")
    except (tarfile.TarError, OSError) as err:
        raise ValueError(f"{archive} is not a run-cache archive (.tar.gz): {err}") from err
    with tar, tempfile.TemporaryDirectory() as tmp:
        try:
            manifest = json.load(tar.extractfile(MANIFEST))
        except (KeyError, json.JSONDecodeError) as err:
            raise ValueError(f"{archive} has no readable {MANIFEST}: not made by `python -m resbook export`") from err
        cache.root.mkdir(parents=True, exist_ok=True)
        for name, meta in manifest.get("entries", {}).items():
            try:
                config = TrainConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in meta["config"].items()})
            except TypeError as err:
                report["refused"].append(f"{name}: unknown config fields ({err})")
                continue
            if meta.get("salt") != cache.salt:
                report["refused"].append(f"{config.label} ({name}): trained by another version of the training "
                                         f"code (salt {meta.get('salt')}, this code {cache.salt})")
                continue
            if cache.key(config) + ".pt" != name:
                report["refused"].append(f"{config.label} ({name}): its config does not give its file name")
                continue
            if config in cache:
                report["present"].append(config.label)
                continue
            try:
                tar.extract(name, tmp, filter="data")
            except KeyError:
                report["refused"].append(f"{config.label} ({name}): listed in the manifest but not in the archive")
                continue
            extracted = pathlib.Path(tmp) / name
            if _sha256(extracted) != meta.get("sha256"):
                report["refused"].append(f"{config.label} ({name}): checksum differs from the manifest")
                continue
            try:
                RunCache(tmp, cache.salt)._read(extracted, config)  # the file's own config, salt and weights
            except CorruptEntry as err:
                report["refused"].append(f"{config.label} ({name}): {err}")
                continue
            staged = cache.root / f".{name}.import"
            shutil.copyfile(extracted, staged)
            os.replace(staged, cache.path(config))
            report["imported"].append(config.label)
    return report
