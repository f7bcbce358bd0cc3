"""The first cell of every chapter: on Colab only, install this package from the book's repository.

`_config.yml`'s `repository: url:` is the one place the address is typed; this module writes the cell from
it (`python -m resbook.site.colab` after changing the address, e.g. in a fork) and the tests check that
every notebook's cell matches. Elsewhere (a checkout, Binder) the package is installed already and the
cell does nothing. The rendered book hides the cell (`remove-cell`).
"""

from __future__ import annotations

import pathlib
import sys

import nbformat
import yaml

from .execute import BOOK, ROOT, chapters

TAG = "colab-install"


def repository_url(config: pathlib.Path = ROOT / "_config.yml") -> str:
    return yaml.safe_load(config.read_text())["repository"]["url"]


def install_source(url: str) -> str:
    return ("# On Colab only: install this book's package from its repository (a checkout or Binder has it).\n"
            "import sys\n\n"
            'if "google.colab" in sys.modules:\n'
            f'    %pip install --quiet "resbook[reader] @ git+{url}"')


def sync(book: pathlib.Path = BOOK, url: str | None = None) -> list[str]:
    """Put the install cell, for `url` (default: _config.yml's), first in every chapter; returns those changed."""
    source = install_source(url or repository_url())
    changed = []
    for path in chapters(book):
        nb = nbformat.read(path, as_version=4)
        cells = [c for c in nb.cells if TAG not in c.metadata.get("tags", [])]
        cell = nbformat.v4.new_code_cell(source)
        cell.metadata["tags"] = [TAG, "remove-cell"]
        old = [c for c in nb.cells if TAG in c.metadata.get("tags", [])]
        if old and old[0].source == source and nb.cells.index(old[0]) == 1:
            continue
        if old:
            cell.id = old[0].id
        nb.cells = [cells[0], cell, *cells[1:]]  # under the title, above the parameters
        nbformat.write(nb, path)
        changed.append(path.name)
    return changed


if __name__ == "__main__":
    print("updated:", ", ".join(sync()) or "nothing (every chapter's install cell matches _config.yml)")
    sys.exit(0)
