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


# the heading of every chapter's claims section ("Claims, checked"), as Sphinx makes it the section's anchor
CLAIMS_SECTION = "claims-checked"


def _scorecard(rows_by_chapter: dict[str, list[dict]], figures: pathlib.Path | None = None) -> str:
    """The scorecard: every recorded claim counted, drawn in one forest plot (written into `figures` as
    scorecard.png, when given) and listed in a compact table whose rows link to their chapters' claims."""
    from .. import forest

    rows = [{**r, "chapter": chapter} for chapter, chapter_rows in rows_by_chapter.items() for r in chapter_rows]
    if not rows:
        return "*No chapter recorded its claims in this build.*\n"
    parts = [_scorecard_counts(rows)]
    if figures is not None:
        (figures / "scorecard.png").write_bytes(forest.png(forest.plot_chapters(rows_by_chapter)))
        parts.append(f"```{{figure}} figures/scorecard.png\n:alt: {forest.ALT}\n"
                     f":width: 100%\n\n{forest.CAPTION}\n```")
    links = {chapter: f"{chapter}.html#{CLAIMS_SECTION}" for chapter in rows_by_chapter}
    parts.append(forest.HINT)
    parts.append(forest.table(rows, links))  # raw HTML: one block, so Markdown leaves it as it is
    return "\n\n".join(parts) + "\n"


def _scorecard_counts(rows: list[dict]) -> str:
    """The papers' claims and the book's questions counted apart, by outcome, and what chance alone would do."""
    from ..claims import UNTESTABLE, counts

    papers = [r["outcome"] for r in rows if r.get("asks", "paper") == "paper"]
    book = [r["outcome"] for r in rows if r.get("asks", "paper") != "paper"]
    decidable = [r for r in rows if r["outcome"] != UNTESTABLE]
    # a directional claim errs by chance at most 2.5 % of the time (one end of a 95 % interval); an "about the
    # same" claim at most 5 % (two one-sided tests on a 90 % interval); a row that cannot be decided, never
    chance = sum(0.05 if r.get("direction", "") == "within" or r["needs"].startswith("within") else 0.025
                 for r in decidable)
    profiles = "`, `".join(sorted({r["profile"] for r in rows}))
    told = f"the papers' claims: {counts(papers)}" + (f"; the book's questions: {counts(book)}" if book else "")
    return (f"**{len(rows)} checks at the `{profiles}` profile. {told[0].upper()}{told[1:]}.** Decided at these "
            f"error rates, chance alone would give about {chance:.1f} false decisions among the {len(decidable)} "
            "checks that could be decided, if they were independent; they are not (a claim's \"is it learned?\" "
            "row shares its trained nets, and a chapter's claims share their runs), so read it as the expected "
            "number, not as a bound on how many could be wrong together.")


def _chapter_verdicts(rows: list[dict]) -> str:
    """What one chapter's verdicts support, for the front page: its papers' claims by outcome, in its own words,
    so that the page says no more than the runs of this build do."""
    from ..claims import by_outcome, lowered

    papers = [r for r in rows if r.get("asks", "paper") == "paper"]
    if not papers:
        return "*Not executed in this build.*"
    grouped = by_outcome((r["outcome"], f"{lowered(r['claim'])} ({r['data']})") for r in papers)
    parts = [f"*{outcome}*: " + "; ".join(items) for outcome, items in grouped]
    # a paper's observation that the untrained net shows too is true of the architecture, not learned: said here,
    # so that "holds" on the front page does not read as "training did it"
    built_in = [r for r in rows if r.get("asks", "paper") != "paper" and r.get("key", "").endswith(":learned")
                and r["outcome"] == "contradicted"]
    if built_in:
        names = "; ".join(dict.fromkeys(f"`{r['key'].removesuffix(':learned')}` ({r['data']})" for r in built_in))
        parts.append(f"*built into the architecture* (the untrained net shows as much: the book's question): {names}")
    return f"At this build's `{papers[0]['profile']}` profile, " + ". ".join(parts) + "."


def _front_page(text: str, rows_by_chapter: dict[str, list[dict]]) -> str:
    """book/intro.md with each chapter's `<!-- verdicts:<chapter> -->` replaced by `_chapter_verdicts`."""
    for chapter in chapters(BOOK):
        verdicts = _chapter_verdicts(rows_by_chapter.get(chapter.stem, []))
        text = text.replace(f"<!-- verdicts:{chapter.stem} -->", verdicts)
    return text


def _rules() -> str:
    """The rules that set every claim's smallest effect, as `claims.RULES` words them."""
    from ..claims import ABSENT_RULE, RULE_NAMES, RULES

    rules = [f"- *{RULE_NAMES[basis]}*: {text}." for basis, text in RULES.items()]
    return "\n".join([*rules, f"- *absent*: {ABSENT_RULE}."])


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
    recorded = record.load_claims(executed / "record")
    intro = site / "book" / "intro.md"
    intro.write_text(_front_page(intro.read_text(), recorded))
    table = _scorecard(recorded, site / "book" / "figures")
    scorecard.write_text(scorecard.read_text().replace("<!-- rules -->", _rules()).replace("<!-- scorecard -->", table))
    return site
