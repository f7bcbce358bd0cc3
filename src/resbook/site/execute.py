"""Executing the chapters with papermill and staging the executed copies for Jupyter Book."""

from __future__ import annotations

import json
import os
import pathlib
import platform
import shutil
import sys
import time

from .. import record
from ..profiles import resolve
from . import mathjax

ROOT = pathlib.Path(__file__).resolve().parents[3]
BOOK = ROOT / "book"


def chapters(book: pathlib.Path = BOOK) -> list[pathlib.Path]:
    """The chapter notebooks, in file-name order (which is reading order)."""
    return sorted(p for p in book.glob("*.ipynb"))


class ChaptersFailed(RuntimeError):
    """Some chapters raised while executing; the others ran (their names and errors are in the message)."""


def hardware() -> str:
    """The machine in a few words, for "runs in N minutes on M"."""
    import torch

    cpu = f"{os.cpu_count()}-core {platform.machine()} CPU"
    if torch.cuda.is_available():
        return f"one {torch.cuda.get_device_name(0)} GPU and a {cpu}"
    return f"a {cpu}, no GPU"


def execute(profile: str, out: pathlib.Path, only: list[str] | None = None, overrides: dict | None = None,
            book: pathlib.Path = BOOK) -> dict:
    """Run every chapter (or those whose names start with one of `only`) at `profile` into `out`/book.

    Returns and records (in `out`/timings.json) the minutes each chapter took and on what machine; the
    chapters record their claims and front-page figures in `out`/record. A chapter that raises is reported
    (in the terminal, and under "failed" in timings.json for `stage` to mark its page) and the next one
    runs; at the end `ChaptersFailed` names every chapter that failed.
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
    failed = timings.setdefault("failed", {})
    todo = [nb for nb in chapters(book) if not only or any(nb.stem.startswith(prefix) for prefix in only)]
    for i, nb in enumerate(todo, 1):
        print(f"[{i}/{len(todo)}] {nb.stem} at profile {profile}: running (cells below; training inside a cell "
              "shows in the notebook)", flush=True)
        start = time.perf_counter()
        failed.pop(nb.stem, None)
        try:
            papermill.execute_notebook(
                str(nb), str(out / "book" / nb.name), cwd=str(book), kernel_name="python3",
                parameters={"profile": profile, "overrides": overrides or {}}, progress_bar={"desc": nb.stem},
            )
        except papermill.PapermillExecutionError as err:
            failed[nb.stem] = f"{err.ename}: {err.evalue} (cell {err.exec_count})"
            print(f"[{i}/{len(todo)}] {nb.stem} FAILED: {failed[nb.stem]}; going on with the other chapters",
                  file=sys.stderr, flush=True)
        timings[nb.stem] = round((time.perf_counter() - start) / 60, 2)
        print(f"[{i}/{len(todo)}] {nb.stem}: {timings[nb.stem]} min", flush=True)
        timings_file.write_text(json.dumps(timings, indent=2))
    if failed:
        raise ChaptersFailed("chapters that failed: " + "; ".join(f"{k} ({v})" for k, v in failed.items()))
    return timings


def _scorecard(rows_by_chapter: dict[str, list[dict]]) -> str:
    """A Markdown table of every recorded claim, chapter by chapter, with the count of each outcome."""
    from ..claims import OUTCOMES

    # what a reader scans for first (the outcome, on which data) before the numbers, which may run off a narrow page
    lines = ["| ch. | claim | data | outcome | ours (95 % interval) | needs | control | failed runs |",
             "|---|---|---|---|---|---|---|---|"]
    for chapter, rows in rows_by_chapter.items():
        link = f"[{chapter[:2]}]({chapter}.ipynb)"
        for r in rows:
            outcome = f"**{r['outcome']}**" if r["outcome"] != "inconclusive" else r["outcome"]
            # "failed runs": absent from rows recorded before verdicts carried it
            cells = [link, r["claim"], r["data"], outcome, r["ours (95 % interval)"], r["needs"], r["control"],
                     r.get("failed runs", "-")]
            lines.append("| " + " | ".join(str(c).replace("|", "/") for c in cells) + " |")
    rows = [r for rows in rows_by_chapter.values() for r in rows]
    counts = ", ".join(f"{sum(r['outcome'] == o for r in rows)} {o}" for o in OUTCOMES)
    profiles = sorted({r["profile"] for r in rows})
    # a directional claim errs by chance at most 2.5 % of the time (one end of a 95 % interval); an "about the
    # same" claim at most 5 % (two one-sided tests on a 90 % interval)
    chance = sum(0.05 if r["needs"].startswith("within") else 0.025 for r in rows)
    return (f"**{len(rows)} checks at the `{'`, `'.join(profiles)}` profile: {counts}.** Decided at these error "
            f"rates, chance alone would give about {chance:.1f} false decisions among them.\n\n"
            + "\n".join(lines) + "\n")


def _runs_in_note(chapter: str, timings: dict) -> dict:
    minutes = timings.get(chapter)
    text = (f"This page was executed at the `{timings.get('profile', '?')}` profile in {minutes} minutes on "
            f"{timings.get('hardware', 'an unrecorded machine')}; nets already in the run cache were loaded, not "
            "trained. [How to run it yourself](how_to_run.md) gives the times with an empty cache.")
    return {"cell_type": "markdown", "id": "runs-in-note", "metadata": {}, "source": [f"```{{note}}\n{text}\n```"]}


WIDGET = "application/vnd.jupyter.widget-view+json"


def _without_widgets(notebook: dict) -> dict:
    """The notebook without its progress-bar widgets: they are for the person running it, and a page that
    has them loads the widget manager from a CDN (which an offline reader, and the browser check, lack)."""
    notebook["metadata"].pop("widgets", None)
    for cell in notebook["cells"]:
        if "outputs" in cell:
            cell["outputs"] = [o for o in cell["outputs"] if WIDGET not in o.get("data", {})]
    return notebook


def _failed_note(chapter: str, error: str, profile: str) -> dict:
    text = (f"This chapter **failed** to execute at the `{profile}` profile: `{error}`. The page shows the "
            "notebook up to the cell that failed; the traceback is in that cell's output.")
    return {"cell_type": "markdown", "id": "failed-note", "metadata": {}, "source": [f"```{{error}}\n{text}\n```"]}


def _failure_figure(chapter: str, path: pathlib.Path) -> None:
    """A stand-in for a failed chapter's front-page figure, saying so."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 1.5))
    ax.axis("off")
    ax.text(0.5, 0.5, f"{chapter} failed to execute: see its page", ha="center", va="center", color="#c44e52")
    fig.savefig(path, dpi=110)
    plt.close(fig)


def stage(executed: pathlib.Path, site: pathlib.Path, book: pathlib.Path = BOOK) -> pathlib.Path:
    """A Jupyter Book source folder: config, pages and bibliography from the repo, executed notebooks, and the
    pages made from what the chapters recorded (scorecard, front-page figures, "runs in" notes). A chapter
    that failed to execute gets an error note at its top and a stand-in front-page figure."""
    if site.exists():
        shutil.rmtree(site)
    (site / "book" / "figures").mkdir(parents=True)
    for name in ("_config.yml", "_toc.yml"):
        shutil.copy(ROOT / name, site / name)
    # outside _static, which Jupyter Book scans to add every .js file it finds as a script of every page
    mathjax.install(site / "_vendor")
    for page in book.iterdir():
        if page.suffix in (".md", ".bib", ".png", ".svg"):
            shutil.copy(page, site / "book" / page.name)
    timings_file = executed / "timings.json"
    timings = json.loads(timings_file.read_text()) if timings_file.exists() else {}
    failed = timings.get("failed", {})
    for nb in chapters(book):
        executed_nb = executed / "book" / nb.name
        if not executed_nb.exists():
            raise FileNotFoundError(f"{executed_nb} is missing: execute the chapters first (make book)")
        figure = executed / "record" / f"{nb.stem}.png"
        if figure.exists():
            shutil.copy(figure, site / "book" / "figures" / figure.name)
        elif nb.stem in failed:
            _failure_figure(nb.stem, site / "book" / "figures" / figure.name)
        else:
            raise FileNotFoundError(f"{figure} is missing: execute the chapters with `python -m resbook execute`")
        notebook = _without_widgets(json.loads(executed_nb.read_text()))
        for cell in notebook["cells"]:  # the page shows the parameters papermill injected, not the defaults
            tags = cell.get("metadata", {}).get("tags", [])
            if "parameters" in tags and "remove-cell" not in tags:
                tags.append("remove-cell")
        notebook["cells"].insert(1, _runs_in_note(nb.stem, timings))  # right under the title
        if nb.stem in failed:
            notebook["cells"].insert(1, _failed_note(nb.stem, failed[nb.stem], timings.get("profile", "?")))
        (site / "book" / nb.name).write_text(json.dumps(notebook, indent=1))
    scorecard = site / "book" / "scorecard.md"
    table = _scorecard(record.load_claims(executed / "record"))
    scorecard.write_text(scorecard.read_text().replace("<!-- scorecard -->", table))
    return site
