"""Fetching a published run archive from a real HTTP server started here, and training when it cannot be had."""

import functools
import http.server
import pathlib
import runpy
import socket
import threading

import pytest
import yaml

from resbook import fetch, profiles, published, runs, train
from resbook.runs.cache import RunCache, export_archive

CONFIGS = [train.TrainConfig("digits", 8, width=(4, 8, 16), epochs=1, batch_size=256, seed=s) for s in (0, 1)]
TAG = "v0.0.0-test"


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep the test output to the test's own
        pass


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> pathlib.Path:
    """runs-cpu.tar.gz holding two tiny trained runs (a stand-in for the cpu profile's hundreds)."""
    folder = tmp_path_factory.mktemp("exported")
    source = RunCache(folder / "source")
    for config in CONFIGS:
        runs.run(config, source, progress=False)
    assert export_archive(source, folder / "runs-cpu.tar.gz") == len(CONFIGS)
    return folder / "runs-cpu.tar.gz"


@pytest.fixture
def server(tmp_path, monkeypatch):
    """A real HTTP server on 127.0.0.1 serving `tmp_path/www`, laid out as GitHub serves release assets."""
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    monkeypatch.delenv(fetch.URL_VARIABLE, raising=False)
    www = tmp_path / "www"
    www.mkdir()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(www)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield www, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def _publish(exported, www, repository, monkeypatch, tmp_path, change=None) -> pathlib.Path:
    """Attach the archive to release TAG on the server (bytes changed by `change` after registering, if given) and
    register it, as the release workflow does, in a copy of the registry that `fetch` then reads."""
    asset = www / "releases" / "download" / TAG / exported.name
    asset.parent.mkdir(parents=True)
    asset.write_bytes(exported.read_bytes())
    registry = tmp_path / "published.py"
    registry.write_text(fetch.REGISTRY.read_text())
    fetch.register(asset, TAG, repository, registry)
    monkeypatch.setattr(published, "ARCHIVES", runpy.run_path(str(registry))["ARCHIVES"])
    if change:
        asset.write_bytes(change(asset.read_bytes()))
    return asset


def _flip_middle_byte(blob: bytes) -> bytes:
    middle = len(blob) // 2
    return blob[:middle] + bytes([blob[middle] ^ 0xFF]) + blob[middle + 1:]


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed on leaving: nothing listens there


def test_the_release_address_is_made_in_one_place_from_the_registry(exported, tmp_path):
    registry = tmp_path / "published.py"
    registry.write_text(fetch.REGISTRY.read_text())
    entry = fetch.register(exported, "v9.9.9", "https://github.com/owner/repo/", registry)
    archives = runpy.run_path(str(registry))["ARCHIVES"]  # the rewritten module is valid Python
    assert archives == {"runs-cpu.tar.gz": entry} and entry["runs"] == len(CONFIGS)
    assert entry["salt"] == RunCache().salt and len(entry["sha256"]) == 64
    assert fetch.ARCHIVE_URL.format(name="runs-cpu.tar.gz", **entry) == \
        "https://github.com/owner/repo/releases/download/v9.9.9/runs-cpu.tar.gz"
    assert registry.read_text().startswith(fetch.REGISTRY.read_text().split("ARCHIVES")[0])  # docstring kept
    misnamed = tmp_path / "my-runs.tar.gz"
    misnamed.write_bytes(exported.read_bytes())
    with pytest.raises(ValueError, match="runs-<profile>.tar.gz"):
        fetch.register(misnamed, "v9.9.9", "https://github.com/owner/repo", registry)


def test_fetch_imports_every_run_and_nothing_trains_afterwards(exported, server, monkeypatch, tmp_path):
    www, address = server
    _publish(exported, www, address, monkeypatch, tmp_path)
    target = RunCache(tmp_path / "target")
    report = fetch.fetch("cpu", cache=target)
    assert report.outcome == "imported" and report.downloaded, report.message
    assert sorted(report.imported) == sorted(c.label for c in CONFIGS) and not report.refused
    assert report.url == f"{address}/releases/download/{TAG}/runs-cpu.tar.gz"
    assert f"{len(CONFIGS)} runs imported" in report.message
    runs.sweep(CONFIGS, target, workers=1, progress=False)
    assert all(config in target and not target.trainings(config) for config in CONFIGS)  # loaded, never trained
    assert fetch.fetch("cpu", cache=target).present == report.imported  # a second fetch overwrites nothing


def test_a_tampered_release_archive_is_refused_and_nothing_imported(exported, server, monkeypatch, tmp_path):
    www, address = server
    _publish(exported, www, address, monkeypatch, tmp_path, change=_flip_middle_byte)
    target = RunCache(tmp_path / "target")
    report = fetch.fetch("cpu", cache=target)
    assert report.outcome == "refused" and "sha256 differs from the published one" in report.message
    assert "nothing imported, training instead" in report.message
    assert not any(config in target for config in CONFIGS)


def test_a_tampered_archive_at_a_hand_given_url_is_refused_by_the_import_checks(exported, server, tmp_path):
    www, address = server
    (www / "runs-cpu.tar.gz").write_bytes(_flip_middle_byte(exported.read_bytes()))
    target = RunCache(tmp_path / "target")
    report = fetch.fetch("cpu", f"{address}/runs-cpu.tar.gz", target)  # no published hash for this address
    assert report.outcome == "refused" and "gzip stream is damaged" in report.message, report.message
    assert "nothing imported" in report.message
    assert not any(config in target for config in CONFIGS)


def test_an_unreachable_server_says_so_and_training_goes_on(tmp_path, monkeypatch):
    monkeypatch.setenv(fetch.URL_VARIABLE, f"http://127.0.0.1:{_closed_port()}/mirror")
    target = RunCache(tmp_path / "target")
    report = fetch.fetch("cpu", cache=target)  # no exception
    assert report.outcome == "unreachable" and report.message.endswith("training instead")
    assert "offline, or the server is unreachable" in report.message and "127.0.0.1" in report.message
    result = runs.run(CONFIGS[0], target, progress=False)  # the chapter trains as it did before fetch existed
    assert result.history and len(target.trainings(CONFIGS[0])) == 1


def test_a_missing_asset_is_reported_with_its_http_status(server, tmp_path):
    _, address = server
    report = fetch.fetch("cpu", f"{address}/nothing-here.tar.gz", RunCache(tmp_path / "target"))
    assert report.outcome == "unreachable" and "HTTP 404" in report.message


def test_an_archive_of_other_training_code_is_not_downloaded(monkeypatch, tmp_path):
    monkeypatch.delenv(fetch.URL_VARIABLE, raising=False)
    entry = {"repository": f"http://127.0.0.1:{_closed_port()}", "tag": TAG, "sha256": "0" * 64, "salt": "another",
             "runs": 1}
    monkeypatch.setattr(published, "ARCHIVES", {"runs-cpu.tar.gz": entry})
    report = fetch.fetch("cpu", cache=RunCache(tmp_path / "target"))
    assert report.outcome == "other code" and "training instead" in report.message


def test_the_notebooks_set_up_cell_fetches_once_and_prints_one_line(exported, server, monkeypatch, tmp_path, capsys):
    www, address = server
    _publish(exported, www, address, monkeypatch, tmp_path)
    target = RunCache(tmp_path / "target")
    report = fetch.before_training(profiles.resolve("cpu"), target)
    assert report.outcome == "imported"
    assert capsys.readouterr().out == report.message + "\n"
    assert fetch.before_training(profiles.resolve("cpu"), target) is None  # fetched before: silent, no download
    assert capsys.readouterr().out == ""


def test_the_notebooks_set_up_cell_prints_one_line_when_offline(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv(fetch.URL_VARIABLE, f"http://127.0.0.1:{_closed_port()}")
    report = fetch.before_training(profiles.resolve("cpu"), RunCache(tmp_path / "target"))
    assert report.outcome == "unreachable"
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 1 and out[0].endswith("training instead")


def test_the_notebooks_set_up_cell_is_silent_at_ci_and_when_nothing_is_published(exported, server, monkeypatch,
                                                                                   tmp_path, capsys):
    www, address = server
    monkeypatch.setattr(published, "ARCHIVES", {})
    assert fetch.before_training(profiles.resolve("cpu"), RunCache(tmp_path / "target")) is None
    _publish(exported, www, address, monkeypatch, tmp_path)
    monkeypatch.setenv(fetch.URL_VARIABLE, address)
    assert fetch.before_training(profiles.resolve("ci"), RunCache(tmp_path / "target")) is None
    assert capsys.readouterr().out == "" and not (tmp_path / "target").exists()


def test_the_command_line_fetches_and_says_what_it_did(exported, server, capsys, tmp_path, monkeypatch):
    from resbook.__main__ import main

    www, address = server
    (www / "runs-cpu.tar.gz").write_bytes(exported.read_bytes())
    monkeypatch.setenv("RESBOOK_CACHE", str(tmp_path / "target"))
    assert main(["fetch", "--profile", "cpu", "--url", f"{address}/runs-cpu.tar.gz", "--sha256", "0" * 64]) == 1
    assert "sha256 differs" in capsys.readouterr().out
    assert main(["fetch", "--profile", "cpu", "--url", f"{address}/runs-cpu.tar.gz"]) == 0
    assert f"{len(CONFIGS)} runs imported" in capsys.readouterr().out


def test_the_release_workflow_exports_registers_and_attaches_the_cpu_archive():
    workflow = yaml.safe_load((fetch.REGISTRY.parents[2] / ".github" / "workflows" / "release.yml").read_text())
    steps = workflow["jobs"]["release"]["steps"]
    script = "\n".join(s.get("run", "") for s in steps)
    for command in ("make fill PROFILE=cpu", "-m resbook export runs-cpu.tar.gz --profile cpu",
                    "-m resbook register runs-cpu.tar.gz", "sha256sum runs-cpu.tar.gz",
                    "gh release create", "git tag"):
        assert command in script, f"release.yml lacks {command!r}"
    assert workflow["permissions"] == {"contents": "write"}
