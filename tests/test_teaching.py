"""The teacher's pack: every figure of the executed chapters with its caption, and one slide deck per chapter."""

import base64
import io
import json
import zipfile

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import nbformat  # noqa: E402
import pytest  # noqa: E402

from resbook.site import teaching  # noqa: E402


def _png() -> str:
    fig, ax = plt.subplots(figsize=(1, 1))
    ax.plot([0, 1])
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode()


def _executed(tmp_path):
    nb = nbformat.v4.new_notebook()
    def figure():
        cell = nbformat.v4.new_code_cell("ch1.error_vs_depth(finals)")
        cell.outputs = [nbformat.v4.new_output("display_data", data={"image/png": _png()})]
        return cell

    code_only = nbformat.v4.new_code_cell("x = 1")
    nb.cells = [nbformat.v4.new_markdown_cell("# Plain vs residual\n\nIntro."),
                nbformat.v4.new_markdown_cell("## Final error against depth\n\nDeeper plain nets train worse."
                                              "\n\nMore."),
                code_only, figure(), figure()]
    (tmp_path / "book").mkdir(parents=True)
    nbformat.write(nb, tmp_path / "book" / "01_plain_vs_residual.ipynb")
    (tmp_path / "timings.json").write_text(json.dumps({"profile": "cpu"}))
    return tmp_path


def test_the_figure_pack_holds_every_figure_with_a_caption_that_traces_it(tmp_path):
    executed = _executed(tmp_path / "executed")
    assert teaching.figure_pack(executed, tmp_path / "pack" / "figures.zip") == 2
    with zipfile.ZipFile(tmp_path / "pack" / "figures.zip") as pack:
        assert sorted(pack.namelist()) == ["01/figure-1.png", "01/figure-2.png", "captions.md"]
        assert pack.read("01/figure-1.png").startswith(b"\x89PNG")
        captions = pack.read("captions.md").decode()
    assert ('## `01/figure-2.png`\n\nChapter 1, Plain vs residual, section "Final error against depth", figure 2, '
            'executed at the `cpu` profile. Drawn by:\n\n```python\nch1.error_vs_depth(finals)\n```') in captions


def test_slides_have_a_title_then_each_section_with_its_opening_and_its_figures(tmp_path):
    executed = _executed(tmp_path / "executed")
    deck = teaching.slide_deck(executed / "book" / "01_plain_vs_residual.ipynb", "cpu")
    kinds = [(c.cell_type, c.metadata.slideshow["slide_type"]) for c in deck.cells]
    assert kinds == [("markdown", "slide"), ("markdown", "slide"), ("code", "subslide"), ("code", "subslide")]
    assert deck.cells[1].source == "## Final error against depth\n\nDeeper plain nets train worse."
    assert all(c.source == "" for c in deck.cells if c.cell_type == "code")  # no code on a slide
    (page,) = teaching.slides(executed, tmp_path / "slides")
    html = page.read_text()
    assert page.name == "01_plain_vs_residual.slides.html" and "reveal" in html and "data:image/png;base64" in html
    assert "error_vs_depth" not in html


def test_a_pack_without_executed_chapters_says_what_to_do(tmp_path):
    with pytest.raises(FileNotFoundError, match="make book"):
        teaching.figure_pack(tmp_path, tmp_path / "figures.zip")
