"""Exporting the run cache to one archive and importing it elsewhere, with every entry verified."""

import io
import json
import tarfile

import pytest

from resbook import runs, train
from resbook.runs.cache import RunCache, export_archive, import_archive

CONFIGS = [train.TrainConfig("digits", 8, width=(4, 8, 16), epochs=1, batch_size=256, seed=s) for s in (0, 1)]


@pytest.fixture
def archive(tmp_path):
    source = RunCache(tmp_path / "source")
    for config in CONFIGS:
        runs.run(config, source, progress=False)
    path = tmp_path / "runs.tar.gz"
    assert export_archive(source, path) == 2
    return path


def _rewrite(archive, out, change):
    """A copy of `archive` with `change(name, bytes) -> bytes` applied to each member."""
    with tarfile.open(archive) as src, tarfile.open(out, "w:gz") as dst:
        for member in src.getmembers():
            blob = change(member.name, src.extractfile(member).read())
            member.size = len(blob)
            dst.addfile(member, io.BytesIO(blob))
    return out


def test_round_trip_gives_the_same_runs(archive, tmp_path):
    target = RunCache(tmp_path / "target")
    report = import_archive(target, archive)
    assert sorted(report["imported"]) == sorted(c.label for c in CONFIGS) and not report["refused"]
    source = RunCache(tmp_path / "source")
    for config in CONFIGS:
        assert target.load(config).history == source.load(config).history
    again = import_archive(target, archive)  # nothing is overwritten
    assert len(again["present"]) == 2 and not again["imported"]


def test_tampered_entry_is_refused_and_the_rest_imported(archive, tmp_path):
    victim = RunCache().path(CONFIGS[0]).name

    def flip_a_byte(name, blob):
        return blob[:-10] + bytes([blob[-10] ^ 1]) + blob[-9:] if name == victim else blob

    bad = _rewrite(archive, tmp_path / "bad.tar.gz", flip_a_byte)
    target = RunCache(tmp_path / "target")
    report = import_archive(target, bad)
    assert len(report["imported"]) == 1 and "checksum" in report["refused"][0]
    assert CONFIGS[0] not in target and CONFIGS[1] in target


def test_entries_from_other_training_code_are_refused(archive, tmp_path):
    report = import_archive(RunCache(tmp_path / "target", salt="0123456789abcdef"), archive)
    assert not report["imported"] and len(report["refused"]) == 2
    assert all("another version of the training code" in r for r in report["refused"])


def test_manifest_that_lies_about_a_config_is_refused(archive, tmp_path):
    def swap_seed(name, blob):
        if name != "manifest.json":
            return blob
        manifest = json.loads(blob)
        first = sorted(manifest["entries"])[0]
        manifest["entries"][first]["config"]["seed"] = 7
        return json.dumps(manifest).encode()

    report = import_archive(RunCache(tmp_path / "target"), _rewrite(archive, tmp_path / "lie.tar.gz", swap_seed))
    assert len(report["refused"]) == 1 and "file name" in report["refused"][0]


def test_not_an_archive_is_a_clear_error(tmp_path):
    junk = tmp_path / "junk.tar.gz"
    junk.write_bytes(b"not a tar file")
    with pytest.raises(ValueError, match="not a run-cache archive"):
        import_archive(RunCache(tmp_path / "target"), junk)
    with pytest.raises(FileNotFoundError, match="no run-cache archive"):
        import_archive(RunCache(tmp_path / "target"), tmp_path / "missing.tar.gz")


def test_exporting_runs_that_are_not_cached_names_the_fix(tmp_path):
    with pytest.raises(FileNotFoundError, match="fill the cache first"):
        export_archive(RunCache(tmp_path / "empty"), tmp_path / "x.tar.gz", CONFIGS)
