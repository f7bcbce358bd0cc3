"""A teacher's pack from the executed chapters: every figure with its caption in one archive, and slides.

A figure's caption is where it stands (chapter and section), the profile its runs were executed at and the
cell that drew it, so that a figure projected in class can be traced back to its code. The slides are one deck
per chapter: a title slide, then per section its heading, its opening paragraph and its figures (no code), as
reveal.js pages by nbconvert (the page loads reveal.js from its CDN when opened).
"""

from __future__ import annotations

import base64
import json
import pathlib
import re
import zipfile
from dataclasses import dataclass

import nbformat

CHAPTER = re.compile(r"^(\d\d)_")


@dataclass(frozen=True)
class Figure:
    chapter: str  # "01"
    title: str  # the chapter's title
    section: str  # the heading of the section it stands in
    number: int  # its place in the chapter, from 1
    code: str  # the cell that drew it
    png: bytes


def _heading(source: str, level: int) -> str | None:
    first = source.lstrip().splitlines()[0] if source.strip() else ""
    prefix = "#" * level + " "
    return first[len(prefix):].strip() if first.startswith(prefix) else None


def figures(notebook: pathlib.Path) -> list[Figure]:
    """Every PNG output of an executed chapter notebook, in order, with where it stands."""
    nb = nbformat.read(notebook, as_version=4)
    match = CHAPTER.match(notebook.name)
    chapter = match.group(1) if match else notebook.stem
    title, section, found = notebook.stem, "", []
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            title = _heading(cell.source, 1) or title
            section = _heading(cell.source, 2) or section
            continue
        for output in cell.get("outputs", []):
            png = output.get("data", {}).get("image/png")
            if png:
                found.append(Figure(chapter, title, section, len(found) + 1, cell.source.strip(),
                                    base64.b64decode(png)))
    return found


def caption(figure: Figure, profile: str) -> str:
    """Where the figure stands and at which profile it was executed, then the cell that drew it."""
    return (f"Chapter {int(figure.chapter)}, {figure.title}, section \"{figure.section}\", figure {figure.number}, "
            f"executed at the `{profile}` profile. Drawn by:\n\n```python\n{figure.code}\n```")


def _profile(executed: pathlib.Path) -> str:
    timings = executed / "timings.json"
    return json.loads(timings.read_text()).get("profile", "?") if timings.exists() else "?"


def _chapters(executed: pathlib.Path) -> list[pathlib.Path]:
    found = sorted(p for p in (executed / "book").glob("*.ipynb") if CHAPTER.match(p.name))
    if not found:
        raise FileNotFoundError(f"no executed chapters in {executed / 'book'}: execute them first (make book)")
    return found


def figure_pack(executed: pathlib.Path, archive: pathlib.Path) -> int:
    """Write every chapter's figures as `NN/figure-K.png` and their captions (`captions.md`) into one zip;
    the number of figures."""
    profile, lines, count = _profile(executed), ["# Figures of Residual Networks, Reproduced", ""], 0
    archive.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as pack:
        for notebook in _chapters(executed):
            for figure in figures(notebook):
                name = f"{figure.chapter}/figure-{figure.number}.png"
                pack.writestr(name, figure.png)
                lines += [f"## `{name}`", "", caption(figure, profile), ""]
                count += 1
        pack.writestr("captions.md", "\n".join(lines) + "\n")
    return count


def slide_deck(notebook: pathlib.Path, profile: str) -> nbformat.NotebookNode:
    """One chapter as slides: its title, then per section its heading and opening paragraph, then each figure
    on a slide of its own (cells with `slideshow` metadata, for nbconvert's slides)."""
    nb = nbformat.read(notebook, as_version=4)
    deck = nbformat.v4.new_notebook(metadata=nb.metadata)

    def add(cell, kind: str) -> None:
        cell.metadata["slideshow"] = {"slide_type": kind}
        deck.cells.append(cell)

    section_open = False
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            title, heading = _heading(cell.source, 1), _heading(cell.source, 2)
            if title:
                add(nbformat.v4.new_markdown_cell(f"# {title}\n\n*Residual Networks, Reproduced*: executed at the "
                                                  f"`{profile}` profile"), "slide")
            elif heading:
                paragraphs = [p for p in cell.source.split("\n\n")[1:] if p.strip()]
                opening = paragraphs[0] if paragraphs else ""
                add(nbformat.v4.new_markdown_cell(f"## {heading}\n\n{opening}"), "slide")
                section_open = True
            continue
        images = [o for o in cell.get("outputs", []) if "image/png" in o.get("data", {})]
        if images and section_open:
            for image in images:
                figure = nbformat.v4.new_code_cell("")
                png = image["data"]["image/png"]
                figure.outputs = [nbformat.v4.new_output("display_data", data={"image/png": png})]
                add(figure, "subslide")
    return deck


def slides(executed: pathlib.Path, folder: pathlib.Path) -> list[pathlib.Path]:
    """Each chapter's deck (`slide_deck`) as a reveal.js page in `folder`; the pages written."""
    from nbconvert import SlidesExporter

    exporter = SlidesExporter(exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for notebook in _chapters(executed):
        body, _ = exporter.from_notebook_node(slide_deck(notebook, _profile(executed)))
        page = folder / f"{notebook.stem}.slides.html"
        page.write_text(body)
        written.append(page)
    return written
