"""The GitHub Pages workflow cannot run here: parse it and check the steps it must have."""

import pathlib

import yaml

from resbook.site import execute as book

WORKFLOW = book.ROOT / ".github" / "workflows" / "pages.yml"


def load():
    workflow = yaml.safe_load(WORKFLOW.read_text())
    workflow["on"] = workflow.pop(True, workflow.get("on"))  # YAML 1.1 reads the key `on` as True
    return workflow


def test_runs_on_main_with_pages_permissions():
    workflow = load()
    assert workflow["on"]["push"]["branches"] == ["main"]
    assert workflow["permissions"] == {"contents": "read", "pages": "write", "id-token": "write"}


def test_builds_with_the_readme_command_and_publishes_the_html():
    jobs = load()["jobs"]
    build, deploy = jobs["build"]["steps"], jobs["deploy"]["steps"]
    uses = [s.get("uses", "").split("@")[0] for s in build]
    assert uses[:2] == ["actions/checkout", "actions/setup-python"]
    assert "actions/upload-pages-artifact" in uses and "actions/configure-pages" in uses
    commands = [s["run"] for s in build if "run" in s]
    assert "make book" in commands
    assert "make book" in (book.ROOT / "README.md").read_text()
    upload = next(s for s in build if s.get("uses", "").startswith("actions/upload-pages-artifact"))
    assert upload["with"]["path"] == "_build/html"
    assert uses.index("actions/upload-pages-artifact") > next(i for i, s in enumerate(build) if "run" in s)
    assert jobs["deploy"]["needs"] == "build"
    assert [s["uses"].split("@")[0] for s in deploy] == ["actions/deploy-pages"]
    assert jobs["deploy"]["environment"]["name"] == "github-pages"


def test_the_book_links_to_the_repository_it_publishes_from():
    config = yaml.safe_load((book.ROOT / "_config.yml").read_text())
    url = config["repository"]["url"]
    assert url.startswith("https://github.com/") and config["repository"]["branch"] == "main"
    assert config["launch_buttons"]["binderhub_url"] and config["launch_buttons"]["colab_url"]
    assert config["html"]["use_repository_button"]
    assert url not in pathlib.Path(book.BOOK / "how_to_run.md").read_text()  # _config.yml is the one place
    workflow = (book.ROOT / ".github" / "workflows" / "pages.yml").read_text()
    assert "url: https://github.com/${{ github.repository }}" in workflow  # a fork's buttons point at the fork


def test_the_run_cache_key_covers_every_hashed_file_and_each_build_saves_its_own():
    from resbook.runs import cache

    build = load()["jobs"]["build"]["steps"]
    step = next(s for s in build if s.get("uses", "").startswith("actions/cache"))
    key, restore = step["with"]["key"], step["with"]["restore-keys"]
    assert all(f"src/resbook/{name}" in key for name in cache._TRAINING_CODE)
    assert key.endswith("${{ github.run_id }}") and key.startswith(restore)  # a new key each build: re-saved
