"""Executing the book: a chapter that fails is reported and marked, and the others still run and stage."""

import json
import shutil

import nbformat
import pytest

from resbook.site import execute


def notebook(path, body: str) -> None:
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell('profile = "cpu"\noverrides = {}')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [nbformat.v4.new_markdown_cell(f"# {path.stem}"), params, nbformat.v4.new_code_cell(body)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


def test_a_failing_chapter_does_not_stop_the_others_and_its_page_says_so(tmp_path):
    book = tmp_path / "book"
    book.mkdir()
    for page in execute.BOOK.iterdir():
        if page.suffix in (".md", ".bib", ".png"):
            shutil.copy(page, book)
    notebook(book / "01_fails.ipynb", "raise ZeroDivisionError('on purpose')")
    notebook(book / "02_works.ipynb", "import matplotlib.pyplot as plt\nfrom resbook import record\n"
                                      "record.figure('02_works', plt.figure(figsize=(2, 2)))\nprint('fine')")
    out = tmp_path / "executed"
    with pytest.raises(execute.ChaptersFailed, match="01_fails.*ZeroDivisionError"):
        execute.execute("ci", out, book=book)
    timings = json.loads((out / "timings.json").read_text())
    assert list(timings["failed"]) == ["01_fails"] and "02_works" in timings  # the second chapter still ran
    ran = json.loads((out / "book" / "02_works.ipynb").read_text())
    assert "fine" in "".join(ran["cells"][-1]["outputs"][0]["text"])

    site = execute.stage(out, tmp_path / "site", book=book)
    failed_page = json.loads((site / "book" / "01_fails.ipynb").read_text())
    assert "failed" in "".join(failed_page["cells"][1]["source"]) and "ZeroDivisionError" in "".join(
        failed_page["cells"][1]["source"])
    assert (site / "book" / "figures" / "01_fails.png").stat().st_size > 1000  # a stand-in, saying so
    assert (site / "book" / "figures" / "02_works.png").exists()


def test_staged_pages_drop_progress_bar_widgets():
    nb = {"metadata": {"widgets": {"state": {}}}, "cells": [{"cell_type": "code", "outputs": [
        {"output_type": "display_data", "data": {execute.WIDGET: {"model_id": "x"}, "text/plain": "bar"}},
        {"output_type": "stream", "name": "stdout", "text": "kept"}]}]}
    cleaned = execute._without_widgets(nb)
    assert "widgets" not in cleaned["metadata"] and [o["output_type"] for o in cleaned["cells"][0]["outputs"]] == [
        "stream"]
