"""Executing the chapters with papermill and staging the executed copies for Jupyter Book."""

from __future__ import annotations

import json
import pathlib
import shutil
import time

from .profiles import resolve

ROOT = pathlib.Path(__file__).resolve().parents[2]
BOOK = ROOT / "book"


def chapters() -> list[pathlib.Path]:
    """The chapter notebooks, in file-name order (which is reading order)."""
    return sorted(p for p in BOOK.glob("*.ipynb"))


def execute(profile: str, out: pathlib.Path, only: list[str] | None = None, overrides: dict | None = None) -> dict:
    """Run every chapter (or those whose names start with one of `only`) at `profile` into `out`/book.

    Returns and records (in `out`/timings.json) the minutes each chapter took.
    """
    import papermill

    resolve(profile, overrides)  # fail here, before any notebook starts, on a bad profile or override
    (out / "book").mkdir(parents=True, exist_ok=True)
    timings_file = out / "timings.json"
    timings = json.loads(timings_file.read_text()) if timings_file.exists() else {}
    for nb in chapters():
        if only and not any(nb.stem.startswith(prefix) for prefix in only):
            continue
        start = time.perf_counter()
        papermill.execute_notebook(
            str(nb), str(out / "book" / nb.name), cwd=str(BOOK), kernel_name="python3",
            parameters={"profile": profile, "overrides": overrides or {}}, progress_bar=False,
        )
        timings[nb.stem] = round((time.perf_counter() - start) / 60, 2)
        print(f"{nb.stem}: {timings[nb.stem]} min at profile {profile}", flush=True)
        timings_file.write_text(json.dumps(timings, indent=2))
    return timings


def stage(executed: pathlib.Path, site: pathlib.Path) -> pathlib.Path:
    """A Jupyter Book source folder: config, pages and bibliography from the repo, executed notebooks."""
    if site.exists():
        shutil.rmtree(site)
    (site / "book").mkdir(parents=True)
    for name in ("_config.yml", "_toc.yml"):
        shutil.copy(ROOT / name, site / name)
    for page in BOOK.iterdir():
        if page.suffix in (".md", ".bib", ".png", ".svg"):
            shutil.copy(page, site / "book" / page.name)
    for nb in chapters():
        executed_nb = executed / "book" / nb.name
        if not executed_nb.exists():
            raise FileNotFoundError(f"{executed_nb} is missing: execute the chapters first (make book)")
        notebook = json.loads(executed_nb.read_text())
        for cell in notebook["cells"]:  # the page shows the parameters papermill injected, not the defaults
            tags = cell.get("metadata", {}).get("tags", [])
            if "parameters" in tags and "remove-cell" not in tags:
                tags.append("remove-cell")
        (site / "book" / nb.name).write_text(json.dumps(notebook, indent=1))
    return site
