"""Runs a reader need not train: download a release's run archive and import it into the run cache.

A release attaches each profile's runs as one archive (`python -m resbook export`) and lists it in `published`
(archive name -> repository, tag, sha256, version of the training code), which the release workflow writes with
`register`. `fetch` downloads the archive with pooch, which refuses a file whose sha256 differs from the
published one, then imports it with `runs.cache.import_archive`, which checks every run again (its checksum in
the manifest, the training code's version, its config and weights). A chapter's set-up cell calls
`before_training`: when it cannot fetch (offline, another version of the training code, a refused file) it says
so in one line and the chapter trains as before; at `ci`, or with nothing published, it is silent.
"""

from __future__ import annotations

import gzip
import json
import os
import pathlib
import runpy
import tempfile
import zlib
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import pooch
import requests

from . import __version__, published
from .profiles import PROFILES, Profile
from .runs.cache import MANIFEST, RunCache, import_archive

# The one place a published archive's address is made: a GitHub release asset.
ARCHIVE_URL = "{repository}/releases/download/{tag}/{name}"
# A folder (a mirror, a test's server) holding runs-<profile>.tar.gz, used instead of the release's.
URL_VARIABLE = "RESBOOK_ARCHIVE_URL"
REGISTRY = pathlib.Path(published.__file__)
FETCHED = "fetched.json"  # in the cache: archives imported already, so a chapter does not download one twice
TIMEOUT = (10, 60)  # seconds to connect, and at most between two pieces of the download
OUTCOMES = ("imported", "not published", "other code", "unreachable", "refused", "failed")


def archive_name(profile: str) -> str:
    return f"runs-{profile}.tar.gz"


@dataclass(frozen=True)
class Source:
    """Where a profile's archive is downloaded from, and what it must be."""

    url: str
    sha256: str | None  # None for an address given by hand: then only import_archive's checks apply
    salt: str | None = None  # the training code's version that made its runs, when published
    tag: str | None = None


def source(profile: str, url: str | None = None, sha256: str | None = None) -> Source | None:
    """`url` if given, else $RESBOOK_ARCHIVE_URL/runs-<profile>.tar.gz, else the published archive; None if none."""
    name = archive_name(profile)
    if url:
        return Source(url, sha256)
    if os.environ.get(URL_VARIABLE):
        return Source(f"{os.environ[URL_VARIABLE].rstrip('/')}/{name}", sha256)
    entry = published.ARCHIVES.get(name)
    if entry is None:
        return None
    return Source(ARCHIVE_URL.format(repository=entry["repository"], tag=entry["tag"], name=name), entry["sha256"],
                  entry["salt"], entry["tag"])


@dataclass
class FetchReport:
    """What `fetch` did: `outcome` is one of OUTCOMES; `message` is one line for a reader, naming what follows."""

    profile: str
    outcome: str
    message: str
    url: str | None = None
    imported: list[str] = field(default_factory=list)
    present: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)

    @property
    def downloaded(self) -> bool:
        return self.outcome == "imported"


def fetch(profile: str, url: str | None = None, cache: RunCache | None = None, *, sha256: str | None = None,
          progress: bool = False) -> FetchReport:
    """Download `profile`'s run archive and import its runs into `cache` (default: the run cache).

    From the release (`published`) the file must have the published sha256, or it is refused and nothing is
    imported. From `url` or $RESBOOK_ARCHIVE_URL (a mirror, a test) there is no published hash unless `sha256`
    is given: the archive must still be a whole gzip stream, and `import_archive` still checks every run
    (manifest checksum, training code version, config, weights), which catches damage but cannot prove where
    an archive came from. Network errors, a refused file and a full disk are reported, never raised.
    """
    cache = cache or RunCache()
    name = archive_name(profile)
    src = source(profile, url, sha256)
    if src is None:
        return FetchReport(profile, "not published", f"no run archive of profile {profile} is published for "
                           f"resbook {__version__}: training instead")
    if src.salt is not None and src.salt != cache.salt:
        return FetchReport(profile, "other code", f"the published {name} ({src.tag}) was trained by another version "
                           f"of the training code (salt {src.salt}, this code {cache.salt}): training instead", src.url)
    host = urlsplit(src.url).netloc or src.url
    with tempfile.TemporaryDirectory() as tmp:
        try:
            archive = _download(src, pathlib.Path(tmp) / name, progress)
        except requests.RequestException as err:  # an OSError: caught before the others
            return FetchReport(profile, "unreachable", f"could not download {name} from {host} ({_why(err)}): "
                               "training instead", src.url)
        except ValueError:  # pooch: the sha256 differs from the published one (it has deleted the file)
            return FetchReport(profile, "refused", f"refused {name} from {host}: its sha256 differs from the published "
                               "one; nothing imported, training instead", src.url)
        except OSError as err:
            return FetchReport(profile, "failed", f"could not save {name} ({err}): training instead", src.url)
        try:
            _check_whole(archive)
        except (OSError, EOFError, zlib.error) as err:
            return FetchReport(profile, "refused", f"refused {name} from {host}: its gzip stream is damaged ({err}); "
                               "nothing imported, training instead", src.url)
        try:
            result = import_archive(cache, archive)
        except ValueError as err:
            return FetchReport(profile, "refused", f"refused {name} from {host}: {err}; nothing imported, training "
                               "instead", src.url)
        except OSError as err:  # e.g. a read-only or full cache folder
            return FetchReport(profile, "failed", f"could not import {name} into {cache.root} ({err}): training "
                               "instead", src.url)
        _remember(cache, src.url, pooch.file_hash(str(archive)))
    report = FetchReport(profile, "imported", "", src.url, result["imported"], result["present"], result["refused"])
    report.message = (f"fetched {name} from {host}: {len(report.imported)} runs imported, {len(report.present)} "
                      "already here" + (f", {len(report.refused)} refused (they train)" if report.refused else "")
                      + "; the chapters load them instead of training")
    return report


def before_training(profile: Profile, cache: RunCache | None = None) -> FetchReport | None:
    """A chapter's set-up: fetch the published runs of `profile` unless there is nothing to gain; one line if tried.

    Silent at `ci` (the tests train their own runs), when nothing is published for the profile, when every run
    the chapters plan is in the cache, and when this archive was imported before (what it lacked trains).
    """
    if profile.name == "ci":
        return None
    cache = cache or RunCache()
    src = source(profile.name)
    if src is None or src.url in _fetched(cache):
        return None
    from . import chapters

    if all(config in cache for config in chapters.plan(profile)):
        return None
    try:
        report = fetch(profile.name, cache=cache)
    except Exception as err:  # noqa: BLE001 - a chapter can always train what it lacks; a fetch bug must not stop it
        print(f"could not fetch the published runs ({type(err).__name__}: {err}): training instead")
        return None
    print(report.message)
    return report


def register(archive: str | os.PathLike, tag: str, repository: str, registry: pathlib.Path = REGISTRY) -> dict:
    """List an exported archive, attached to release `tag` of `repository` (e.g. https://github.com/owner/repo),
    in `registry` (the release workflow does). Returns the new entry."""
    archive = pathlib.Path(archive)
    profile = archive.name.removeprefix("runs-").removesuffix(".tar.gz")
    if archive.name != archive_name(profile) or profile not in PROFILES:
        raise ValueError(f"{archive.name} is not named runs-<profile>.tar.gz for a profile in {', '.join(PROFILES)}: "
                         f"export it as such (python -m resbook export runs-cpu.tar.gz --profile cpu)")
    import tarfile

    try:
        with tarfile.open(archive, "r:gz") as tar:
            manifest = json.load(tar.extractfile(MANIFEST))
    except (tarfile.TarError, OSError, KeyError, json.JSONDecodeError) as err:
        raise ValueError(f"{archive} is not an archive of `python -m resbook export` ({err})") from err
    entry = {"repository": repository.rstrip("/"), "tag": tag, "sha256": pooch.file_hash(str(archive)),
             "salt": manifest["salt"], "runs": len(manifest["entries"])}
    archives = {**runpy.run_path(str(registry))["ARCHIVES"], archive.name: entry}
    text = registry.read_text()
    head = text[:text.index("ARCHIVES:")]  # the module's docstring; ARCHIVES is its last statement
    tmp = registry.with_name(f".{registry.name}.tmp")
    tmp.write_text(f"{head}ARCHIVES: dict[str, dict] = {json.dumps(archives, indent=4, sort_keys=True)}\n")
    os.replace(tmp, registry)
    return entry


def _download(src: Source, path: pathlib.Path, progress: bool) -> pathlib.Path:
    logger = pooch.get_logger()
    level = logger.level
    logger.setLevel("WARNING")  # pooch logs each download at INFO; the caller prints the one line that matters
    try:
        return pathlib.Path(pooch.retrieve(
            src.url, known_hash=f"sha256:{src.sha256}" if src.sha256 else None, fname=path.name, path=path.parent,
            downloader=pooch.HTTPDownloader(progressbar=progress, timeout=TIMEOUT)))
    finally:
        logger.setLevel(level)


def _check_whole(archive: pathlib.Path) -> None:
    """Read the gzip stream to its end, where its CRC is checked: a damaged download fails before any import."""
    with gzip.open(archive) as f:
        while f.read(1 << 20):
            pass


def _why(err: Exception) -> str:
    response = getattr(err, "response", None)
    if response is not None:
        return f"HTTP {response.status_code}"
    return f"{type(err).__name__}: offline, or the server is unreachable"


def _fetched(cache: RunCache) -> dict[str, str]:
    path = cache.root / FETCHED
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return {}


def _remember(cache: RunCache, url: str, sha256: str) -> None:
    path = cache.root / FETCHED
    tmp = path.with_name(f".{FETCHED}.tmp")
    tmp.write_text(json.dumps({**_fetched(cache), url: sha256}, indent=1))
    os.replace(tmp, path)

