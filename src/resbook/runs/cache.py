"""The run cache: a finished training run stored under a key made of what decides its numbers.

The key hashes the full config, the training maths (`data.py`, `models.py`, `train.py`, `batched.py`: the
seeding, model, optimizer, loss, schedule and epoch loop; not `speed.py` or `resume.py`, whose changes only
alter speed or when work is kept) and the numerics the run was
trained with (device type and precision, e.g. "cpu-fp32" or "cuda-bf16"). A lookup takes this machine's
numerics first and then any other, so a cache filled on a GPU serves a laptop. One file per run
(`<key>.v2.pt`: config, code salt, numerics, metrics, weights), written to a temporary name, synced and
renamed into place (`durable`), so a reader never sees half a file, even after a power cut. A corrupt or
mismatched entry is moved aside (never deleted) and reported, and the run is trained again. Entries of the
first key scheme (`<key>.pt`) are reported once and never read.

Beside the entries: `.state/<key>.pt`, the resumable state of a run in training (removed once it is stored);
`.locks/<key>.lock`, held by the one process training that run (an OS lock: it goes with the process, so a
killed trainer blocks nobody); `journal.log`, one line per run started or stored.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import pathlib
import tempfile
import time
import warnings

import filelock
import torch

from .. import durable
from ..speed import local_numerics
from ..train import TrainConfig, TrainResult

PACKAGE_DIR = pathlib.Path(__file__).resolve().parent.parent
# the modules whose code decides what a run computes; editing any of them invalidates the cache
_TRAINING_CODE = ("data.py", "models.py", "train.py", "batched.py")
FORMAT = 2
SUFFIX = f".v{FORMAT}.pt"
# every numerics a run can be trained with, in the order a lookup falls back to them
NUMERICS = ("cpu-fp32", "cuda-fp32", "cuda-bf16")
_reported_old: set[pathlib.Path] = set()


def code_salt(package_dir: pathlib.Path = PACKAGE_DIR) -> str:
    """The hash of the training maths (`_TRAINING_CODE` in `package_dir`): part of every run's key."""
    digest = hashlib.sha256()
    for name in _TRAINING_CODE:
        digest.update((package_dir / name).read_bytes())
    return digest.hexdigest()[:16]


CODE_SALT = code_salt()


def default_root() -> pathlib.Path:
    """$RESBOOK_CACHE; else `.cache/runs` at the repository root (git-ignored) when the package runs from a
    checkout; else (an installed package, e.g. on Colab) `~/.cache/resbook/runs`, never inside the package."""
    if "RESBOOK_CACHE" in os.environ:
        return pathlib.Path(os.environ["RESBOOK_CACHE"])
    checkout = PACKAGE_DIR.parent.parent
    if (checkout / ".git").exists() and (checkout / "book").is_dir():
        return checkout / ".cache" / "runs"
    return pathlib.Path.home() / ".cache" / "resbook" / "runs"


class CorruptEntry(Exception):
    """A cache file that cannot be read or does not describe the run it is filed under."""


class RunCache:
    def __init__(self, root: str | os.PathLike | None = None, salt: str = CODE_SALT, numerics: str | None = None):
        self.root = pathlib.Path(root) if root is not None else default_root()
        self.salt = salt
        self.numerics = numerics or local_numerics()  # what a run trained here would use

    def key(self, config: TrainConfig, numerics: str | None = None) -> str:
        blob = json.dumps({"config": config.as_dict(), "salt": self.salt, "format": FORMAT,
                           "numerics": numerics or self.numerics}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:24]

    def path(self, config: TrainConfig, numerics: str | None = None) -> pathlib.Path:
        return self.root / f"{self.key(config, numerics)}{SUFFIX}"

    def find(self, config: TrainConfig) -> pathlib.Path | None:
        """The entry of `config`: trained with this machine's numerics if there is one, else with any other."""
        for numerics in dict.fromkeys((self.numerics, *NUMERICS)):
            if (path := self.path(config, numerics)).exists():
                return path
        return None

    def __contains__(self, config: TrainConfig) -> bool:
        return self.find(config) is not None

    def _report_old_entries(self) -> None:
        if self.root in _reported_old or not self.root.is_dir():
            return
        _reported_old.add(self.root)
        old = [p for p in self.root.glob("*.pt") if not p.name.endswith(SUFFIX)]
        if old:
            warnings.warn(f"run cache: {len(old)} entries in {self.root} were stored under the first key scheme "
                          "(code hash of train.py with its speed-ups); they are not read, and their runs train "
                          f"again. Delete them to free space: rm {self.root}/*.pt after keeping the *{SUFFIX} ones",
                          stacklevel=3)

    def load(self, config: TrainConfig) -> TrainResult | None:
        """The stored run, or None when there is none (or it was corrupt and has been moved aside)."""
        self._report_old_entries()
        path = self.find(config)
        if path is None:
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
        if (entry.get("config") != _jsonable(config.as_dict()) or entry.get("salt") != self.salt
                or path.name != self.path(config, entry.get("numerics")).name):
            raise CorruptEntry(f"{path.name} holds a different config, code version or numerics than its key says")
        model = config.build_model()
        try:
            model.load_state_dict(entry["state_dict"])
        except (KeyError, RuntimeError) as exc:
            raise CorruptEntry(f"{path.name}: weights do not fit the model ({exc})") from exc
        return TrainResult(config, model.eval(), entry["history"], entry.get("checkpoints", {}), entry["numerics"],
                           diverged=entry.get("diverged"))

    def forget(self, config: TrainConfig) -> bool:
        """Move `config`'s stored run aside (never deleted), so that asking for it trains it again; e.g. a run
        that diverged, to retrain it on purpose. Returns whether there was one."""
        path = self.find(config)
        if path is None:
            return False
        path.replace(path.with_name(f"{path.name}.forgotten-{int(time.time())}"))
        self.journal(config, "forgotten (moved aside on request; the next request trains it again)")
        return True

    def state_path(self, config: TrainConfig) -> pathlib.Path:
        """Where a run trained here keeps its resumable state while it trains."""
        return self.root / ".state" / f"{self.key(config)}.pt"

    def lock(self, config: TrainConfig) -> filelock.FileLock:
        """The lock that the one process training `config` here holds (an fcntl lock: released if it dies)."""
        (self.root / ".locks").mkdir(parents=True, exist_ok=True)
        return filelock.FileLock(self.root / ".locks" / f"{self.key(config)}.lock")

    def check_writable(self, config: TrainConfig) -> None:
        """Raise `durable.NotWritable` (naming the folder and RESBOOK_CACHE) before `config` would train."""
        durable.check_writable(self.root, f"{config.label} (seed {config.seed})", (".state", ".locks"))

    def journal(self, config: TrainConfig, event: str) -> None:
        """Append one line (time, pid, key, run, event) to journal.log: who trained what, and when."""
        line = f"{time.strftime('%Y-%m-%dT%H:%M:%S')} pid {os.getpid()} {self.key(config)} {config.label} " \
               f"seed {config.seed}: {event}\n"
        with open(self.root / "journal.log", "a") as f:  # one short append: whole lines even from many writers
            f.write(line)

    def trainings(self, config: TrainConfig) -> list[str]:
        """The journal's "training" lines of `config` (one per process that started or resumed training it)."""
        path = self.root / "journal.log"
        lines = path.read_text().splitlines() if path.exists() else []
        return [line for line in lines if f" {self.key(config)} " in line and ": training" in line]

    def save(self, result: TrainResult) -> pathlib.Path:
        """Store atomically and durably (`durable.save`): a reader sees the whole entry or none."""
        path = self.path(result.config, result.numerics)
        entry = {
            "format": FORMAT,
            "config": _jsonable(result.config.as_dict()),
            "salt": self.salt,
            "numerics": result.numerics,
            "history": result.history,
            "state_dict": result.model.state_dict(),
            "checkpoints": result.checkpoints,
            "diverged": result.diverged,  # kept, so asking again serves the failed run instead of retraining it
        }
        kept = self.state_path(result.config)
        hint = (f"Its resumable state is kept ({kept}): asking for the run again continues from there, not from "
                "scratch." if kept.exists() else "")
        durable.save(entry, path, hint=hint)
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
        paths = sorted(cache.root.glob(f"*{SUFFIX}"))
    else:
        missing = [c.label for c in configs if c not in cache]
        if missing:
            raise FileNotFoundError(f"{len(missing)} run(s) are not in {cache.root} (e.g. {missing[0]}): "
                                    "fill the cache first (python -m resbook fill ...)")
        paths = [cache.find(c) for c in dict.fromkeys(configs)]
    manifest = {"format": FORMAT, "salt": cache.salt, "entries": {}}
    for path in paths:
        entry = torch.load(path, map_location="cpu", weights_only=True)
        manifest["entries"][path.name] = {"sha256": _sha256(path), "config": entry["config"], "salt": entry["salt"],
                                          "numerics": entry["numerics"]}
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
            if cache.path(config, meta.get("numerics")).name != name:
                report["refused"].append(f"{config.label} ({name}): its config does not give its file name")
                continue
            if cache.path(config, meta.get("numerics")).exists():
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
            durable.copy(extracted, cache.path(config, meta.get("numerics")))
            report["imported"].append(config.label)
    return report
