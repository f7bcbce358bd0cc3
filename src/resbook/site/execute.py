"""Executing the chapters with papermill and staging the executed copies for Jupyter Book."""

from __future__ import annotations

import json
import os
import pathlib
import platform
import shutil
import time

from ..profiles import resolve
from . import mathjax, record

ROOT = pathlib.Path(__file__).resolve().parents[3]
BOOK = ROOT / "book"


def chapters() -> list[pathlib.Path]:
    """The chapter notebooks, in file-name order (which is reading order)."""
    return sorted(p for p in BOOK.glob("*.ipynb"))


def hardware() -> str:
    """The machine in a few words, for "runs in N minutes on M"."""
    import torch

    cpu = f"{os.cpu_count()}-core {platform.machine()} CPU"
    if torch.cuda.is_available():
        return f"one {torch.cuda.get_device_name(0)} GPU and a {cpu}"
    return f"a {cpu}, no GPU"


def execute(profile: str, out: pathlib.Path, only: list[str] | None = None, overrides: dict | None = None) -> dict:
    """Run every chapter (or those whose names start with one of `only`) at `profile` into `out`/book.

    Returns and records (in `out`/timings.json) the minutes each chapter took and on what machine; the
    chapters record their claims and front-page figures in `out`/record.
    """
    import papermill

    resolve(profile, overrides)  # fail here, before any notebook starts, on a bad profile or override
    (out / "book").mkdir(parents=True, exist_ok=True)
    os.environ[record.ENV] = str((out / "record").resolve())  # the kernels inherit it
    # figures inline on the page, whatever backend the caller chose for itself (tests choose Agg)
    os.environ["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"
    timings_file = out / "timings.json"
    timings = json.loads(timings_file.read_text()) if timings_file.exists() else {}
    timings.update(profile=profile, hardware=hardware())
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


def _scorecard(rows_by_chapter: dict[str, list[dict]]) -> str:
    """A Markdown table of every recorded claim, chapter by chapter."""
    lines = ["| ch. | claim | paper | ours | verdict | data |", "|---|---|---|---|---|---|"]
    for chapter, rows in rows_by_chapter.items():
        link = f"[{chapter[:2]}]({chapter}.ipynb)"
        for r in rows:
            verdict = "**holds**" if r["verdict"] == "holds" else "does not hold"
            cells = [link, r["claim"], r["paper"], r["ours"], verdict, r["data"]]
            lines.append("| " + " | ".join(str(c).replace("|", "/") for c in cells) + " |")
    held = sum(r["verdict"] == "holds" for rows in rows_by_chapter.values() for r in rows)
    total = sum(len(rows) for rows in rows_by_chapter.values())
    profiles = sorted({r["profile"] for rows in rows_by_chapter.values() for r in rows})
    return (f"**{held} of {total} checks hold** at the `{'`, `'.join(profiles)}` profile.\n\n"
            + "\n".join(lines) + "\n")


def _runs_in_note(chapter: str, timings: dict) -> dict:
    minutes = timings.get(chapter)
    text = (f"This page was executed at the `{timings.get('profile', '?')}` profile in {minutes} minutes on "
            f"{timings.get('hardware', 'an unrecorded machine')}; nets already in the run cache were loaded, not "
            "trained. [How to run it yourself](how_to_run.md) gives the times with an empty cache.")
    return {"cell_type": "markdown", "metadata": {}, "source": [f"```{{note}}\n{text}\n```"]}


def stage(executed: pathlib.Path, site: pathlib.Path) -> pathlib.Path:
    """A Jupyter Book source folder: config, pages and bibliography from the repo, executed notebooks, and the
    pages made from what the chapters recorded (scorecard, front-page figures, "runs in" notes)."""
    if site.exists():
        shutil.rmtree(site)
    (site / "book" / "figures").mkdir(parents=True)
    for name in ("_config.yml", "_toc.yml"):
        shutil.copy(ROOT / name, site / name)
    # outside _static, which Jupyter Book scans to add every .js file it finds as a script of every page
    mathjax.install(site / "_vendor")
    for page in BOOK.iterdir():
        if page.suffix in (".md", ".bib", ".png", ".svg"):
            shutil.copy(page, site / "book" / page.name)
    timings_file = executed / "timings.json"
    timings = json.loads(timings_file.read_text()) if timings_file.exists() else {}
    for nb in chapters():
        executed_nb = executed / "book" / nb.name
        if not executed_nb.exists():
            raise FileNotFoundError(f"{executed_nb} is missing: execute the chapters first (make book)")
        figure = executed / "record" / f"{nb.stem}.png"
        if not figure.exists():
            raise FileNotFoundError(f"{figure} is missing: execute the chapters with `python -m resbook execute`")
        shutil.copy(figure, site / "book" / "figures" / figure.name)
        notebook = json.loads(executed_nb.read_text())
        for cell in notebook["cells"]:  # the page shows the parameters papermill injected, not the defaults
            tags = cell.get("metadata", {}).get("tags", [])
            if "parameters" in tags and "remove-cell" not in tags:
                tags.append("remove-cell")
        notebook["cells"].insert(1, _runs_in_note(nb.stem, timings))  # right under the title
        (site / "book" / nb.name).write_text(json.dumps(notebook, indent=1))
    scorecard = site / "book" / "scorecard.md"
    table = _scorecard(record.load_claims(executed / "record"))
    scorecard.write_text(scorecard.read_text().replace("<!-- scorecard -->", table))
    return site
