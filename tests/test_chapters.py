"""Every chapter executed at the `ci` profile with papermill, and the verdicts each is expected to reach.

The executed copies go to _build/executed/ci/book, where nbval and the book build pick them up.
"""

import json
import pathlib

import pytest

from resbook.site import execute as book

pytestmark = pytest.mark.chapters
OUT = book.ROOT / "_build" / "executed" / "ci"

# Regression pins, not evidence: claims that hold at the ci scale (digits, depths 8 and 56, and Chapter 1's
# Fashion-MNIST slice; the interval is the bootstrap over one run's examples) with room to spare on any machine.
# The rule (issue 20): a claim is pinned only when it holds at ci with seed 0, seed 1 and seed 2 alike, each
# time with its interval's near end clearing the threshold by at least a quarter of the interval's width. Another
# seed moves a trained net about as much as another CPU's rounding does: a fresh clone on an AMD EPYC turned
# architectures_align [digits] from holds to inconclusive (0.88 [0.76, 0.92] against > 0.8), so it stays unpinned
# although it now passes the rule here (its lower end cleared 0.75 by 0.05, 0.09 and 0.13). Measured on this
# 2-core machine, 2026-12-03, after the thresholds were set by the book's rules (`claims.RULES`). sharing_explodes
# is measured at initialisation over seeds 0-9 at every profile, so no training rounding reaches it. Every
# claim's decision is unit-tested on constructed inputs for each of its outcomes (the chapter test files).
EXPECTED = {
    "01_plain_vs_residual": {
        "degradation [digits]": "holds",
        "residual_beats_plain [digits]": "holds",
        # the Fashion-MNIST slice at ci: depths 8 and 56, 3 epochs (48 steps)
        "degradation [fashion_slice]": "holds",
        "residual_beats_plain [fashion_slice]": "holds",
    },
    "02_unravelled_view": {
        "lesion_plain [digits]": "holds",
        "gradient_decay [digits]": "holds",
        "gradient_decay:learned [digits]": "holds",
        "effective_paths [digits]": "holds",
    },
    "03_iterative_refinement": {
        "alignment_negative [digits]": "holds",
        "alignment_higher [digits]": "holds",
        "norm_ratio [digits]": "holds",
        # drop_first_blocks unpinned: block 1 left out by the one block-1 rule, its ci statistic is new and not yet
        # checked at seeds 1 and 2; intermediate_accuracy:learned is not testable by rule (a control at chance)
        "intermediate_accuracy [digits]": "holds",
        "borderline_corrected [digits]": "holds",
        "unroll_naive [digits]": "holds",
        "single_sharper [digits]": "holds",
    },
    "04_block_sharing": {
        "sharing_explodes [digits]": "holds",
    },
    # Chapter 5's initialisation claims (10 seeds each, no training) cleared their thresholds by far at ci on this
    # machine (shattering_plain -0.89 [-0.91, -0.86] against < -0.1; shattering_residual 0.45 [0.40, 0.51] against
    # > 0.1, at depths up to 110 then; bn_downscales_branches -1.01 [-1.11, -0.92] against < -0.63;
    # unnormalised_doubles 0.21 [0.18, 0.24] against > 0.15, the nearest). The trained claims stay unpinned: one seed,
    # not yet checked at seeds 1 and 2 as the rule asks
    "05_why_they_train": {
        "shattering_plain [digits]": "holds",
        "shattering_residual [digits]": "holds",
        "bn_downscales_branches [digits]": "holds",
    },
}


@pytest.fixture(scope="module")
def executed() -> pathlib.Path:
    """Every run the chapters plan, trained first in one pool of workers (balanced across chapters, each run
    once), then every chapter executed from the filled cache; nbval re-runs them later without training."""
    from resbook import chapters, profiles, runs
    from resbook.runs.cache import RunCache

    runs.sweep(chapters.plan(profiles.resolve("ci")), progress=False)
    journal = RunCache().root / "journal.log"

    def lines() -> list[str]:
        return journal.read_text().splitlines() if journal.exists() else []

    before = len(lines())
    book.execute("ci", OUT)
    trained_by_chapters = [line for line in lines()[before:] if ": training" in line]
    (OUT / "trained_by_chapters.txt").write_text("\n".join(trained_by_chapters))
    return OUT / "book"


def verdicts_of(notebook: pathlib.Path) -> dict[str, str]:
    nb = json.loads(notebook.read_text())
    for cell in nb["cells"]:
        if "nbval-check-output" in cell["metadata"].get("tags", []):
            text = "".join("".join(o.get("text", "")) for o in cell["outputs"])
            return dict(line.rsplit(": ", 1) for line in text.strip().splitlines())
    raise AssertionError(f"{notebook.name} has no verdict cell tagged nbval-check-output")


@pytest.mark.parametrize("chapter", sorted(EXPECTED))
def test_chapter_reaches_expected_verdicts(executed, chapter):
    verdicts = verdicts_of(executed / f"{chapter}.ipynb")
    for claim, expected in EXPECTED[chapter].items():
        assert verdicts.get(claim) == expected, f"{chapter}: {claim} is {verdicts.get(claim)!r}, expected {expected!r}"


def test_every_verdict_is_one_of_the_chapters_claims(executed):
    from resbook import chapters

    for module in chapters.modules().values():
        keys = {line.split(" [")[0].removesuffix(":learned")  # a claim's "is it learned?" row
                for line in verdicts_of(executed / f"{module.NOTEBOOK}.ipynb")}
        assert keys <= set(module.CLAIMS), f"{module.NOTEBOOK}: verdicts {keys - set(module.CLAIMS)} not declared"


def test_every_chapter_has_expectations():
    assert {nb.stem for nb in book.chapters()} == set(EXPECTED)


def test_plans_name_every_run_the_chapters_trained(executed):
    """`python -m resbook fill` trains what the chapters need: once their plans are trained, executing the
    chapters trains nothing more (the journal has no new training line)."""
    trained = (OUT / "trained_by_chapters.txt").read_text().strip()
    assert not trained, f"the chapters trained runs their plans do not name: {trained}"


def test_every_chapter_shows_its_figures(executed):
    for chapter in EXPECTED:
        nb = json.loads((executed / f"{chapter}.ipynb").read_text())
        images = sum("image/png" in o.get("data", {}) for c in nb["cells"] for o in c.get("outputs", []))
        assert images >= 2, f"{chapter} shows {images} figures"


def test_chapters_record_their_claims_and_front_figures(executed):
    from resbook import claims, record

    recorded = record.load_claims(OUT / "record")
    assert set(recorded) == set(EXPECTED)
    for chapter, rows in recorded.items():
        assert {r["outcome"] for r in rows} <= set(claims.OUTCOMES) and all(r["profile"] == "ci" for r in rows)
        assert (OUT / "record" / f"{chapter}.png").stat().st_size > 10_000
