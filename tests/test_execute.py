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


def test_the_scorecard_counts_the_papers_claims_and_the_books_questions_apart_plots_them_and_links_them(tmp_path):
    from tests.test_forest import row

    first = [row("above", 0.02, 0.0, (0.04, 0.03, 0.05)),  # holds
             row("above", 0.02, 0.0, (-0.01, -0.02, 0.0), key="gone"),  # contradicted
             {**row("above", 0.0, 0.0, (0.01, 0.005, 0.02), key="gone:learned"), "asks": "book's question"}]
    second = [row("within", 0.01, 0.0, (0.0, -0.02, 0.02)),  # inconclusive
              row("above", 0.02, 0.0, None)]  # not testable here
    card = execute._scorecard({"01_first": first, "02_second": second}, tmp_path)
    assert ("**5 checks at the `ci` profile. The papers' claims: 1 holds, 0 weaker, 1 contradicted, 1 inconclusive "
            "(1 not testable here, not counted); the book's questions: 1 holds, 0 weaker, 0 contradicted, "
            "0 inconclusive.**") in card
    # three directional checks at 2.5 % and one "about the same" at 5 %; the untestable one decides nothing
    assert "about 0.1 false decisions among the 4 checks that could be decided" in card
    assert "```{figure} figures/scorecard.png" in card and (tmp_path / "scorecard.png").stat().st_size > 10_000
    assert card.count('<a href="01_first.html#claims-checked">01</a>') == 3
    assert card.count('<a href="02_second.html#claims-checked">02</a>') == 2
    assert "No chapter recorded" in execute._scorecard({}, tmp_path)


def test_the_scorecard_page_states_the_rules_of_the_smallest_effect():
    from resbook import claims

    rules = execute._rules()
    assert all(text in rules for text in claims.RULES.values()) and "<!-- rules -->" in execute.BOOK.joinpath(
        "scorecard.md").read_text()


def test_the_front_page_says_what_each_chapters_verdicts_support_and_nothing_more():
    rows = {"01_plain_vs_residual": [
        {"claim": "Deeper plain nets have higher training error", "data": "digits", "outcome": "holds",
         "asks": "paper", "profile": "cpu"},
        {"claim": "Residual nets' test error falls with depth", "data": "mnist1d", "outcome": "contradicted",
         "asks": "paper", "profile": "cpu"},
        {"claim": "Is it learned? x", "data": "digits", "outcome": "holds", "asks": "book's question",
         "profile": "cpu"}]}
    page = execute._front_page("A <!-- verdicts:01_plain_vs_residual --> B <!-- verdicts:04_block_sharing -->", rows)
    assert ("At this build's `cpu` profile, *holds*: deeper plain nets have higher training error (digits). "
            "*contradicted*: residual nets' test error falls with depth (mnist1d).") in page
    assert "Is it learned" not in page and "<!--" not in page and "*Not executed in this build.*" in page


def test_the_front_page_names_a_papers_observation_the_untrained_net_shows_too():
    rows = {"03_iterative_refinement": [
        {"key": "norm_ratio", "claim": "Early blocks change the features most", "data": "digits", "outcome": "holds",
         "asks": "paper", "profile": "cpu"},
        {"key": "norm_ratio:learned", "claim": "Is it learned? x", "data": "digits", "outcome": "contradicted",
         "asks": "book's question", "profile": "cpu"}]}
    page = execute._front_page("<!-- verdicts:03_iterative_refinement -->", rows)
    assert "*holds*: early blocks change the features most (digits)" in page
    assert "*built into the architecture* (the untrained net shows as much: the book's question): `norm_ratio` " \
           "(digits)" in page
    rows["03_iterative_refinement"][1]["outcome"] = "holds"  # learned: nothing to add
    assert "built into" not in execute._front_page("<!-- verdicts:03_iterative_refinement -->", rows)
