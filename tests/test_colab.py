"""Every chapter's Colab install cell is written from `_config.yml`'s repository address (the one place) and the
package's version (the release tag), so that a changed address or version fails here until the cells are
re-written (`python -m resbook.site.colab`)."""

import nbformat
import tomllib

import resbook
from resbook.site import colab
from resbook.site import execute as book


def test_every_chapter_installs_from_the_configured_repository_at_this_release_first():
    url = colab.repository_url()
    for chapter in book.chapters():
        cells = nbformat.read(chapter, as_version=4).cells
        assert cells[1].source == colab.install_source(url, colab.release_tag()), \
            f"{chapter.name}: run python -m resbook.site.colab"
        assert {"colab-install", "remove-cell"} <= set(cells[1].metadata["tags"])  # hidden in the rendered book
        assert any("parameters" in c.metadata.get("tags", []) for c in cells[2:])  # papermill's cell follows


def test_the_tag_is_the_one_the_release_workflow_creates():
    version = tomllib.loads((book.ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert resbook.__version__ == version  # the release workflow refuses to tag otherwise
    assert colab.release_tag() == f"v{version}"
    release = (book.ROOT / ".github" / "workflows" / "release.yml").read_text()
    assert 'echo "tag=v$version"' in release and "git tag ${{ steps.tag.outputs.tag }}" in release
    assert f'git+{colab.repository_url()}@v{version}"' in colab.install_source(colab.repository_url(), "v" + version)


def test_sync_rewrites_the_cell_for_another_address_and_is_idempotent(tmp_path):
    first = book.chapters()[0]
    (tmp_path / first.name).write_text(first.read_text())
    assert colab.sync(tmp_path, "https://github.com/a-fork/book", "v9.9") == [first.name]
    cell = nbformat.read(tmp_path / first.name, as_version=4).cells[1]
    assert cell.source.endswith('"resbook[reader] @ git+https://github.com/a-fork/book@v9.9"')
    assert colab.sync(tmp_path, "https://github.com/a-fork/book", "v9.9") == []
    assert colab.sync(tmp_path, "https://github.com/a-fork/book") == [first.name]  # this version's tag by default
    cells = nbformat.read(tmp_path / first.name, as_version=4).cells
    assert sum("colab-install" in c.metadata.get("tags", []) for c in cells) == 1  # replaced, never added twice


def test_the_pages_workflow_rewrites_the_cells_for_the_repository_it_runs_in():
    workflow = (book.ROOT / ".github" / "workflows" / "pages.yml").read_text()
    assert workflow.index("url: https://github.com/${{ github.repository }}") < workflow.index(
        "-m resbook.site.colab") < workflow.index("run: make book")
