"""How the book shows its verdicts: a forest plot of the claims, and the compact table that goes under it.

Both read the rows `claims.Verdict.row` gives (and `record` keeps), so that a chapter and the scorecard show
its claims the same way. The statistics have different units (points of error, ratios, shares, log10 of a
gradient, correlations), so the plot gives each row its own scale: 0 is no effect (the claim's neutral value)
and 1 the smallest effect that counts, with the paper's direction to the right. An "about the same" claim
wants its interval inside ± 1 (its margin). A one-sided "barely changes" claim (its smallest effect *is* its
neutral value) has no 1: it is scaled by its own interval, so that the sign is what shows, and decided at 0.
The table keeps to five narrow columns that fit the text column; the long reasons open under each claim.
"""

from __future__ import annotations

import base64
import html
import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import matplotlib.pyplot as plt
import seaborn as sns
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.transforms import blended_transform_factory

from . import record
from .claims import OUTCOMES, UNTESTABLE, Verdict, rows_of

# one colour per outcome, in the plot and the tables alike; dark enough to read as text on white
OUTCOME_COLOURS = dict(zip(OUTCOMES, ("#1e7b34", "#b8860b", "#c0392b", "#6e6e6e", "#a6a6a6"), strict=True))
# the axis every row shares once scaled: far enough right for a claim twice its smallest effect and more,
# far enough left for an effect the other way; beyond it a row ends in an arrow
XLIM = (-2.5, 4.0)
# what the rows' ticks mean, under the axis and in the captions
AXIS = ("each claim on its own scale: 0 = no effect, 1 = the smallest effect that counts\n"
        "(the paper's direction to the right; ± 1: an \"about the same\" margin)")
CAPTION = ("Each row is one claim on one data set: the dot is our estimate, the line its interval (95 %; 90 % for "
           "an \"about the same\" claim), the dark tick the smallest effect that counts and the faint line no effect. "
           "The statistics have different units, so each row is scaled to its own claim: 0 is no effect and 1 the "
           "smallest effect that counts, the paper's direction to the right; an \"about the same\" claim needs its "
           "interval inside the two ticks at ± 1; a claim that needs only a direction is scaled by its interval and "
           "decided at 0. A filled dot was measured on the paper's own data, a hollow one on a stand-in data set; "
           "an arrow means the interval runs on beyond the axis.")
# the columns a claims table (a chapter's, the scorecard's) always shows: narrow enough for the text column; the
# long ones (`DETAILS`) open under each claim, and the recorded rows keep every field (the plot's numbers)
SHOWN = ("claim", "data", "outcome", "ours (95 % interval)", "needs")


ALT = "a forest plot of the claims: each claim's interval against its smallest effect, coloured by outcome"
HINT = ("Click a claim for what the paper reports, the statistic, why its smallest effect has that size, the "
        "numbers behind it and its failed runs.")
# the long columns, behind each row's toggle (`SHOWN` are always in view)
DETAILS = ("paper", "statistic", "why that size", "detail", "failed runs")
LABEL_CHARS = 44  # a row's label at most (the claim shortened to fit), so that the axis keeps its share
ROW_INCHES = 0.27
FONT = 9  # points: about the size of a caption once the figure is shrunk to the text column
INCHES_AROUND = 1.75  # the legend above and the axis below
WIDTH_INCHES = 7.5
DPI = 150  # sharp at the text column's width, on a screen that has twice the pixels
NO_EFFECT = "0.55"  # the faint line at 0, darker than the grid, lighter than the ticks


@dataclass(frozen=True)
class Scaled:
    """A row's estimate on its own claim's scale (not clipped): where its dot, its interval and its ticks go."""

    value: float
    lo: float
    hi: float
    ticks: tuple[float, ...]  # where the smallest effect that counts sits


def _number(x) -> float:
    return math.nan if x is None else float(x)


def scaled(row: Mapping) -> Scaled | None:
    """`row` on its claim's scale: 0 no effect, 1 the smallest effect that counts in the paper's direction (None:
    nothing measured). "About the same": ± 1 is the margin. "Barely changes" (smallest effect = neutral value):
    the interval's far end from the neutral value is 1 in size, the sign is the paper's, and 0 decides."""
    value, lo, hi = (_number(row.get(k)) for k in ("value", "lo", "hi"))
    if not math.isfinite(value):
        return None
    threshold, neutral = float(row["threshold"]), float(row["neutral"])
    if row["direction"] == "within":
        unit, ticks = threshold, (-1.0, 1.0)
    elif not math.isclose(threshold, neutral):
        unit, ticks = threshold - neutral, (1.0,)  # negative for a claim "below": its direction turns right
    else:  # also a one-sided "barely changes" claim, whose neutral value is its margin
        sign = 1.0 if row["direction"] == "above" else -1.0
        spread = max((abs(x - neutral) for x in (value, lo, hi) if math.isfinite(x)), default=0.0)
        unit, ticks = sign * (spread or 1.0), (0.0,)
    ends = sorted(((lo - neutral) / unit, (hi - neutral) / unit))
    return Scaled((value - neutral) / unit, *ends, ticks=ticks)


def _shorten(text: str, chars: int) -> str:
    if len(text) <= chars:
        return text
    return text[:chars - 1].rsplit(" ", 1)[0].rstrip(",;:") + "…"


def is_book(row: Mapping) -> bool:
    return row.get("asks", "paper") != "paper"


def learned_under_its_claim(row: Mapping, above: Mapping | None) -> bool:
    """Whether `row` is the "is it learned?" row of the claim right `above` it (same data): it need not repeat it."""
    return (above is not None and is_book(row) and row.get("key") == f"{above.get('key')}:learned"
            and row["data"] == above["data"])


def label(row: Mapping, above: Mapping | None = None) -> str:
    """"claim [data]", shortened; a book's "is it learned?" row right under its claim says only that."""
    data = f" [{row['data']}]"
    if learned_under_its_claim(row, above):
        return "↳ book: is it learned?" + data
    prefix = "book: " if is_book(row) else ""
    return prefix + _shorten(row["claim"], LABEL_CHARS - len(prefix) - len(data)) + data


def _chapter_title(chapter: str) -> str:
    """"01_plain_vs_residual" -> "01 plain vs residual"."""
    return chapter.replace("_", " ")


def plot(rows: Sequence[Mapping]) -> Figure:
    """A chapter's forest plot: one line per row of `rows` (`claims.Verdict.row`), in their order."""
    return plot_chapters({"": rows})


def plot_chapters(rows_by_chapter: Mapping[str, Sequence[Mapping]]) -> Figure:
    """The forest plot of several chapters' rows, each chapter under its own heading (none for a lone "")."""
    lines: list[tuple[str, Mapping | None]] = []  # (label, row; None for a chapter's heading)
    for chapter, rows in rows_by_chapter.items():
        if chapter:
            lines.append((_chapter_title(chapter), None))
        lines += [(label(r, rows[i - 1] if i else None), r) for i, r in enumerate(rows)]
    with sns.axes_style("whitegrid"):  # the book's style, also where no chapter set it (the scorecard's staging)
        fig, ax = plt.subplots(figsize=(WIDTH_INCHES, ROW_INCHES * len(lines) + INCHES_AROUND))
    ax.axvline(0, color=NO_EFFECT, lw=1.2, zorder=1)
    for y, (_, row) in enumerate(lines):
        if row is None:
            ax.axhline(y - 0.5, color="0.6", lw=0.8)
        else:
            _draw_row(ax, y, row)
    _label_rows(ax, lines)
    _legend(fig)
    _lay_out(fig, ax)
    return fig


# What an "is it learned?" row's outcome means, said beside it: "contradicted" there is about training, not the paper
LEARNED_MEANING = {"holds": "learned", "weaker": "learned, a little", "contradicted": "built in"}


def shown_outcome(row: Mapping) -> str:
    """The outcome as a reader sees it: an "is it learned?" row's with what it means ("contradicted (built in)")."""
    meaning = LEARNED_MEANING.get(row["outcome"]) if str(row.get("key", "")).endswith(":learned") else None
    return f"{row['outcome']} ({meaning})" if meaning else row["outcome"]


def _is_stand_in(row: Mapping) -> bool:
    return str(row.get("setting", "stand-in")).startswith("stand-in")


def _draw_row(ax: plt.Axes, y: float, row: Mapping) -> None:
    """One claim's interval, dot, ticks and outcome at height `y` (its note where nothing was measured)."""
    colour = OUTCOME_COLOURS.get(row["outcome"], "k")
    at_right = blended_transform_factory(ax.transAxes, ax.transData)
    ax.text(1.035, y, shown_outcome(row), transform=at_right, va="center", fontsize=FONT, color=colour,
            fontweight="bold" if row["outcome"] != UNTESTABLE else "normal", gid="outcome")
    s = scaled(row)
    if s is None:
        ax.text(sum(XLIM) / 2, y, "not testable here: nothing measured", ha="center", va="center", fontsize=FONT,
                style="italic", color=OUTCOME_COLOURS[UNTESTABLE])
        return
    low, high = XLIM
    for tick in s.ticks:
        ax.plot([tick, tick], [y - 0.32, y + 0.32], color="0.15", lw=1.5, zorder=2)
    if math.isfinite(s.lo) and math.isfinite(s.hi):
        ax.plot([max(s.lo, low), min(s.hi, high)], [y, y], color=colour, lw=2.2, solid_capstyle="butt", zorder=3)
        for end, edge, arrow in ((s.lo, low, "<"), (s.hi, high, ">")):
            beyond = end < low if arrow == "<" else end > high
            if beyond:
                ax.plot(edge, y, marker=arrow, color=colour, ms=6, zorder=4, clip_on=False)
    face = "white" if _is_stand_in(row) else colour
    if low <= s.value <= high:
        ax.plot(s.value, y, marker="o", ms=6.5, mfc=face, mec=colour, mew=1.6, zorder=5)
    else:
        edge, arrow = (high, ">") if s.value > high else (low, "<")
        ax.plot(edge, y, marker=arrow, ms=8, mfc=face, mec=colour, mew=1.6, zorder=5, clip_on=False)


def _label_rows(ax: plt.Axes, lines: Sequence[tuple[str, Mapping | None]]) -> None:
    ax.set_yticks(range(len(lines)), [text for text, _ in lines], fontsize=FONT)
    for tick, (_, row) in zip(ax.get_yticklabels(), lines, strict=True):
        if row is None:
            tick.set_fontweight("bold")
            tick.set_fontsize(FONT + 1)
        elif is_book(row):
            tick.set_fontstyle("italic")
    ax.tick_params(axis="y", length=0)
    ax.set_ylim(len(lines) - 0.5, -0.5)  # the first row on top
    ax.grid(False, axis="y")


def _legend(fig: Figure) -> None:
    """What the colours, the dots and the marks mean, above the plot."""
    handles = [Line2D([], [], color=c, lw=2.2, marker="o", ms=6, label=o) for o, c in OUTCOME_COLOURS.items()]
    handles += [Line2D([], [], ls="", marker="o", ms=6.5, mfc="0.3", mec="0.3", label="paper's data"),
                Line2D([], [], ls="", marker="o", ms=6.5, mfc="white", mec="0.3", mew=1.6, label="stand-in data")]
    handles += [Line2D([], [], ls="", marker="|", ms=11, mew=1.5, color="0.15", label="smallest effect that counts"),
                Line2D([], [], ls="", marker="|", ms=11, mew=1.2, color=NO_EFFECT, label="no effect"),
                Line2D([], [], ls="", marker=">", ms=6, color="0.3", label="beyond the axis")]
    fig.legend(handles=handles, loc="upper center", ncol=4, fontsize=FONT - 0.5, frameon=False, handlelength=1.6,
               columnspacing=1.2, bbox_to_anchor=(0.5, 1.0))


def _lay_out(fig: Figure, ax: plt.Axes) -> None:
    """Room in inches, whatever the number of rows: as much as the labels take on the left, as much as the
    outcomes take on the right, the legend on top and the axis's two-line label below."""
    ax.set_xlim(*XLIM)
    ax.set_xticks(range(math.ceil(XLIM[0]), math.floor(XLIM[1]) + 1))
    ax.tick_params(axis="x", labelsize=FONT)
    ax.grid(True, axis="x", color="0.92", lw=0.6)
    ax.set_xlabel(AXIS, fontsize=FONT)
    width, height = fig.get_size_inches()
    renderer = fig.canvas.get_renderer()
    inches = fig.dpi_scale_trans.inverted()
    left = max([t.get_window_extent(renderer).transformed(inches).width for t in ax.get_yticklabels()],
               default=0.0)
    right = max([t.get_window_extent(renderer).transformed(inches).width for t in ax.texts
                 if t.get_gid() == "outcome"], default=0.0)
    fig.subplots_adjust(left=(left + 0.3) / width, right=1 - (right + 0.25) / width, top=1 - 0.85 / height,
                        bottom=0.85 / height)


def png(fig: Figure) -> bytes:
    """`fig` as PNG bytes, then closed (so that a notebook does not show it a second time)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI)
    plt.close(fig)
    return buffer.getvalue()


# ---- the compact table

STYLE = """<style>
table.resbook-claims {width: 100%; font-size: 0.85em; line-height: 1.35;}
table.resbook-claims th, table.resbook-claims td {text-align: left; vertical-align: top; padding: 0.3em 0.45em;}
table.resbook-claims tbody tr {border-top: 1px solid rgba(128, 128, 128, 0.3);}
table.resbook-claims summary {cursor: pointer;}
table.resbook-claims details dl {margin: 0.4em 0 0.2em; overflow-wrap: anywhere; font-size: 0.95em;}
table.resbook-claims details dt {font-weight: 600;}
table.resbook-claims details dd {margin: 0 0 0.3em 0.8em;}
table.resbook-claims small {opacity: 0.75; white-space: nowrap;}
</style>"""


def _interval_and_method(ours: str) -> tuple[str, str]:
    """"+1.2 pts [+0.3 pts, +2.1 pts], t over 3 seeds" -> "+1.2 [+0.3, +2.1] pts" (the unit once, which keeps
    the column narrow), and how the interval was made."""
    interval, _, method = ours.partition("], ")
    if not method:
        return ours, ""
    interval += "]"
    return (interval.replace(" pts", "") + " pts" if " pts" in interval else interval), method


def _claim_cell(row: Mapping, above: Mapping | None) -> str:
    """The claim, which opens onto the long columns (an "is it learned?" row under its claim: only that)."""
    e = html.escape
    claim = ("↳ Is it learned? More so trained than untrained" if learned_under_its_claim(row, above)
             else row["claim"])
    book = " <em>(the book's question)</em>" if is_book(row) else ""
    failed = " <small>· some runs failed</small>" if row.get("failed runs", "-") not in ("-", "") else ""
    method = _interval_and_method(row.get("ours (95 % interval)", ""))[1]
    details = [(k, row[k]) for k in DETAILS if row.get(k) not in (None, "", "-")]
    details += [("interval from", method)] if method else []
    body = "".join(f"<dt>{e(k)}</dt><dd>{e(str(v))}</dd>" for k, v in details)
    return f"<details><summary>{e(claim)}{book}{failed}</summary><dl>{body}</dl></details>"


def _cell(row: Mapping, column: str, above: Mapping | None) -> str:
    e = html.escape
    if column == "claim":
        return _claim_cell(row, above)
    if column == "data":
        setting = "stand-in" if _is_stand_in(row) else "paper's data"
        return f"{e(str(row['data']))}<br><small>{setting}</small>"
    if column == "outcome":
        colour = OUTCOME_COLOURS.get(row["outcome"], "inherit")
        return f'<strong style="color: {colour}">{e(shown_outcome(row))}</strong>'
    if column == "ours (95 % interval)":
        return e(_interval_and_method(row[column])[0])
    return e(str(row.get(column, "-")))


def table(rows: Sequence[Mapping], chapter_link: Mapping[str, str] | None = None) -> str:
    """The compact HTML table of `rows`: the `SHOWN` columns, the long ones behind each claim's toggle.
    `chapter_link`: chapter -> its link, for a first column that says where each row (key "chapter") comes from.
    One block with no blank line, so that Markdown passes it through as it is."""
    columns = (["chapter"] if chapter_link else []) + list(SHOWN)
    # aligned on the element itself: the theme right-aligns a notebook output's table headers more specifically
    head = "".join(f'<th style="text-align: left">{"ch." if c == "chapter" else html.escape(c)}</th>' for c in columns)
    body = []
    for i, row in enumerate(rows):
        above = rows[i - 1] if i else None
        cells = [f'<a href="{html.escape(chapter_link[row["chapter"]])}">{html.escape(row["chapter"][:2])}</a>'
                 if c == "chapter" else _cell(row, c, above) for c in columns]
        body.append("<tr>" + "".join(f"<td>{cell}</td>" for cell in cells) + "</tr>")
    return (STYLE.replace("\n", " ") + f'<table class="dataframe resbook-claims"><thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(body)}</tbody></table>")


@dataclass(frozen=True, repr=False)
class Report:
    """A chapter's claims as the page shows them: its forest plot above its compact table."""

    rows: list[dict]
    figure: bytes  # PNG (empty with no rows)

    def __repr__(self) -> str:  # the plain-text view of a notebook's output: not the PNG's bytes
        return f"<the claims: a forest plot and a table of {len(self.rows)} rows>"

    def _repr_html_(self) -> str:
        if not self.rows:
            return "<p>No claim could be checked at this profile.</p>"
        image = base64.b64encode(self.figure).decode()
        return (f'<img src="data:image/png;base64,{image}" alt="{html.escape(ALT)}" '
                f'style="width: 100%; max-width: {WIDTH_INCHES * 110:.0f}px"><p><small>{html.escape(HINT)}</small></p>'
                + table(self.rows))


def report(rows: Sequence[Mapping]) -> Report:
    """A chapter's forest plot and compact table of `rows` (a notebook shows it as it is)."""
    return Report([dict(r) for r in rows], png(plot(rows)) if rows else b"")


def show(verdicts: Sequence[Verdict], profile: str, chapter: str) -> Report:
    """A chapter's claims as its page shows them: the forest plot above the compact table. Every row, with all its
    fields, is also recorded for the book's scorecard page."""
    rows = [v.row(profile) for v in rows_of(verdicts)]  # not through a frame, which would turn None into NaN
    record.claims(chapter, rows)
    return report(rows)
