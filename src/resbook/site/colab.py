"""The first cell of every chapter: on Colab only, install this package from the book's repository, at a release.

`_config.yml`'s `repository: url:` is the one place the address is typed, and the package's version names the
release: the cell installs `git+<url>@v<version>`, the tag `.github/workflows/release.yml` creates. This module
writes the cell into every chapter (`python -m resbook.site.colab` after changing the address or the version; the
Pages workflow runs it for a fork) and the tests check that every notebook's cell matches. Elsewhere (a checkout,
Binder) the package is installed already and the cell does nothing. The rendered book hides the cell
(`remove-cell`).
"""

from __future__ import annotations

import argparse
import pathlib

import nbformat
import yaml

from .. import __version__
from .execute import BOOK, ROOT, chapters

TAG = "colab-install"


def repository_url(config: pathlib.Path = ROOT / "_config.yml") -> str:
    return yaml.safe_load(config.read_text())["repository"]["url"]


def release_tag() -> str:
    """The release the cell installs: v<package version> (pyproject.toml's; the release workflow tags it)."""
    return f"v{__version__}"


def install_source(url: str, tag: str) -> str:
    return (f"# On Colab only: install this book's package from its repository at release {tag} "
            "(a checkout or Binder has it).\n"
            "import sys\n\n"
            'if "google.colab" in sys.modules:\n'
            f'    %pip install --quiet "resbook[reader] @ git+{url}@{tag}"')


def sync(book: pathlib.Path = BOOK, url: str | None = None, tag: str | None = None) -> list[str]:
    """Put the install cell, for `url` at `tag` (default: _config.yml's, this version's), first in every chapter;
    returns the names of the chapters changed."""
    source = install_source(url or repository_url(), tag or release_tag())
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
    parser = argparse.ArgumentParser(prog="python -m resbook.site.colab", description=sync.__doc__)
    parser.add_argument("--url", help="the repository (default: _config.yml's repository url)")
    parser.add_argument("--tag", help="the release (default: v<package version>)")
    args = parser.parse_args()
    print("updated:", ", ".join(sync(url=args.url, tag=args.tag))
          or "nothing (every chapter's install cell matches _config.yml and the version)")
