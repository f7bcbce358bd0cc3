"""Every chapter's Colab install cell is written from `_config.yml`'s repository address (the one place)."""

import nbformat

from resbook.site import colab
from resbook.site import execute as book


def test_every_chapter_installs_from_the_configured_repository_first():
    url = colab.repository_url()
    for chapter in book.chapters():
        cells = nbformat.read(chapter, as_version=4).cells
        assert cells[1].source == colab.install_source(url), f"{chapter.name}: run python -m resbook.site.colab"
        assert {"colab-install", "remove-cell"} <= set(cells[1].metadata["tags"])  # hidden in the rendered book
        assert any("parameters" in c.metadata.get("tags", []) for c in cells[2:])  # papermill's cell follows


def test_sync_rewrites_the_cell_for_another_address_and_is_idempotent(tmp_path):
    for chapter in book.chapters()[:1]:
        (tmp_path / chapter.name).write_text(chapter.read_text())
    assert colab.sync(tmp_path, "https://github.com/a-fork/book") == [book.chapters()[0].name]
    assert "git+https://github.com/a-fork/book" in (tmp_path / book.chapters()[0].name).read_text()
    assert colab.sync(tmp_path, "https://github.com/a-fork/book") == []
