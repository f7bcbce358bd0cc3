"""What an executed chapter leaves for the book's shared pages: its claims table and its front-page figure.

The chapters (and `forest.show`) write here and the website tooling reads it back, so it sits with the
science and `site` imports it, never the reverse. `site.execute.execute` points RESBOOK_RECORD at a folder
before it runs the chapters; `stage` turns what is there into the scorecard page and the front page's figures.
Run by hand (Jupyter, plain papermill), a chapter records nothing.
"""

from __future__ import annotations

import json
import os
import pathlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # only for hints: recording a claims table needs no plotting library
    import matplotlib.pyplot as plt

ENV = "RESBOOK_RECORD"


def folder() -> pathlib.Path | None:
    path = os.environ.get(ENV)
    if not path:
        return None
    path = pathlib.Path(path)
    path.mkdir(parents=True, exist_ok=True)
    return path


def claims(chapter: str, rows: list[dict]) -> None:
    """Store a chapter's claims table (one dict per claim: claim, paper, ours, verdict, data, profile)."""
    if (where := folder()) is not None:
        (where / f"{chapter}.claims.json").write_text(json.dumps(rows, indent=1))


def figure(chapter: str, fig: plt.Figure) -> plt.Figure:
    """Store `fig` as the chapter's figure on the front page; returns it, so a cell still shows it."""
    if (where := folder()) is not None:
        fig.savefig(where / f"{chapter}.png", dpi=110, bbox_inches="tight")
    return fig


def load_claims(where: pathlib.Path) -> dict[str, list[dict]]:
    """chapter -> its recorded claims rows, in chapter order."""
    return {p.name.removesuffix(".claims.json"): json.loads(p.read_text())
            for p in sorted(where.glob("*.claims.json"))}
