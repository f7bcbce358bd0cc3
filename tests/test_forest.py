"""The forest plot puts every claim on its own scale (0 no effect, 1 the smallest effect that counts, the paper's
direction to the right), and the compact table keeps the long columns behind each claim's toggle."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from resbook import claims, forest  # noqa: E402
from resbook.claims import Basis, Claim, Direction, Verdict  # noqa: E402
from resbook.stats import Estimate  # noqa: E402


def row(direction: str, threshold: float, neutral: float, est: tuple | None, dataset: str = "digits",
        key: str = "gap", **claim) -> dict:
    """The row a chapter records for a claim of the book's own size (any threshold) and `est` (value, lo, hi)."""
    c = Claim(key, "he2016deep", "Fig. 1", f"The {key} claim", "a number", "a statistic", Direction(direction),
              threshold, "a reason", basis=Basis.BOOK, neutral=neutral, **claim)
    return Verdict(c, dataset, Estimate(*est, 3, "t over 3 seeds") if est else None).row("ci")


@pytest.mark.parametrize(("direction", "threshold", "neutral", "est", "expected", "ticks"), [
    ("above", 0.02, 0.0, (0.03, 0.01, 0.05), (1.5, 0.5, 2.5), (1.0,)),
    ("below", -0.01, 0.0, (-0.02, -0.03, -0.01), (2.0, 1.0, 3.0), (1.0,)),  # a fall reads to the right too
    ("within", 0.01, 0.0, (0.002, -0.004, 0.006), (0.2, -0.4, 0.6), (-1.0, 1.0)),  # ± 1: the margin
    # a direction-only ratio: 1 is the negligible factor 1.1 (1 / 1.1 for a fall), no longer the neutral value
    ("above", 1.1, 1.0, (1.21, 1.15, 1.3), (2.1, 1.5, 3.0), (1.0,)),
    ("below", 1 / 1.1, 1.0, (0.8, 0.7, 0.9), (2.2, 1.1, 3.3), (1.0,)),
    # a smallest effect at the neutral value (a one-sided "barely changes" claim, as direction-only claims once
    # were): scaled by its interval
    ("above", 1.0, 1.0, (1.1, 0.95, 1.2), (0.5, -0.25, 1.0), (0.0,)),
    ("below", 1.0, 1.0, (0.9, 0.8, 1.05), (0.5, -0.25, 1.0), (0.0,)),
])
def test_each_row_is_scaled_to_its_own_claim(direction, threshold, neutral, est, expected, ticks):
    s = forest.scaled(row(direction, threshold, neutral, est))
    assert (s.value, s.lo, s.hi) == pytest.approx(expected) and s.ticks == ticks


def test_a_row_with_nothing_measured_has_no_scale_and_says_so_in_the_plot():
    missing = row("above", 0.02, 0.0, None)
    assert missing["outcome"] == claims.UNTESTABLE and forest.scaled(missing) is None
    fig = forest.plot([missing])
    assert any(t.get_text() == "not testable here: nothing measured" for t in fig.axes[0].texts)
    plt.close(fig)


def dots(fig) -> list:
    """The estimate markers of a forest plot, top row first (dots, or arrows where beyond the axis)."""
    return [line for line in fig.axes[0].get_lines() if line.get_marker() in ("o", ">", "<")
            and line.get_markersize() > 6.4]


def test_one_line_per_row_hollow_on_a_stand_in_filled_on_the_papers_data_and_an_arrow_beyond_the_axis():
    rows = [row("above", 0.02, 0.0, (0.04, 0.03, 0.05)),
            row("above", 0.02, 0.0, (0.04, 0.03, 0.05), dataset="cifar10"),
            row("above", 0.02, 0.0, (0.5, 0.4, 0.6))]  # 25 times its smallest effect
    fig = forest.plot(rows)
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert labels == ["The gap claim [digits]", "The gap claim [cifar10]", "The gap claim [digits]"]
    stand_in, paper, far = dots(fig)
    assert stand_in.get_markerfacecolor() == "white" and paper.get_markerfacecolor() != "white"
    assert far.get_marker() == ">" and far.get_xdata()[0] == forest.XLIM[1]
    assert {t.get_text() for t in fig.axes[0].texts if t.get_gid() == "outcome"} == {"holds"}
    taller = forest.plot(rows * 4)
    assert taller.get_figheight() - fig.get_figheight() == pytest.approx(9 * forest.ROW_INCHES)
    plt.close("all")


def test_a_learned_row_under_its_claim_is_labelled_as_the_books_question_and_chapters_get_headings():
    paper = row("above", 0.02, 0.0, (0.03, 0.01, 0.05), key="responses")
    learned = {**row("above", 0.0, 0.0, (0.01, 0.0, 0.02), key="responses:learned"), "asks": "book's question"}
    assert forest.label(learned, paper) == "↳ book: is it learned? [digits]"
    assert forest.label(learned).startswith("book: ")
    assert forest.label({**paper, "claim": "word " * 30}).endswith("… [digits]")
    fig = forest.plot_chapters({"01_plain_vs_residual": [paper, learned], "02_unravelled_view": [paper]})
    ticks = fig.axes[0].get_yticklabels()
    assert [t.get_text() for t in ticks][::3] == ["01 plain vs residual", "02 unravelled view"]
    assert ticks[2].get_fontstyle() == "italic" and ticks[0].get_fontweight() == "bold"
    plt.close(fig)


def test_the_table_shows_the_short_columns_and_hides_the_long_ones_behind_each_claim():
    rows = [{**row("below", -0.01, 0.0, (-0.02, -0.03, -0.01)), "failed runs": "plain-56: seed 1 diverged",
             "detail": "plain-56 8 %, plain-8 6 %", "chapter": "01_plain_vs_residual"}]
    html = forest.table(rows, {"01_plain_vs_residual": "01_plain_vs_residual.html#claims-checked"})
    assert "\n\n" not in html  # one Markdown block: a blank line would end the raw HTML
    assert '<td><a href="01_plain_vs_residual.html#claims-checked">01</a></td>' in html
    assert "<td>&lt; -0.01</td>" in html  # "needs", escaped
    assert "<td>-0.02 [-0.03, -0.01]</td>" in html  # the interval; how it was made sits behind the toggle
    assert "<dt>interval from</dt><dd>t over 3 seeds</dd>" in html
    assert all(f"<dt>{c}</dt>" in html for c in forest.DETAILS) and "some runs failed" in html
    assert "digits<br><small>stand-in</small>" in html


def test_the_table_gives_an_interval_its_unit_once_and_a_learned_row_under_its_claim_says_only_that():
    paper = row("above", 0.02, 0.0, (0.04, 0.03, 0.05), key="gap", points=True)
    learned = {**row("above", 0.0, 0.0, (0.01, 0.0, 0.02), key="gap:learned", points=True), "asks": "book's question"}
    html = forest.table([paper, learned])
    assert "<td>+4.0 [+3.0, +5.0] pts</td>" in html
    assert "<summary>↳ Is it learned? More so trained than untrained <em>(the book's question)</em></summary>" in html


def test_a_learned_rows_outcome_says_what_it_means_about_training():
    paper = row("above", 0.02, 0.0, (0.04, 0.03, 0.05), key="gap", points=True)
    built_in = {**row("above", 0.01, 0.0, (0.0, -0.005, 0.005), key="gap:learned", points=True),
                "asks": "book's question"}
    assert built_in["outcome"] == "contradicted"
    html = forest.table([paper, built_in])
    assert ">contradicted (built in)</strong>" in html and ">holds</strong>" in html  # the paper's row: plain
    assert forest.shown_outcome({**built_in, "outcome": "holds"}) == "holds (learned)"
    assert forest.shown_outcome({**built_in, "outcome": "inconclusive"}) == "inconclusive"
