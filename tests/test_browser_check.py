"""The browser check finds what a reader would see go wrong (real headless Chromium, a page made here)."""

import pytest

from resbook.site import browser_check

# needs the system's Chromium, which `make test` installs first where it may (`make system`); else skipped, saying so
pytestmark = pytest.mark.skipif(browser_check.find_chromium() is None, reason="no Chromium on this machine")

BROKEN = """<html><body><main>
<p>An equation left as source: \\(a + b\\)</p>
<img src="missing.png">
<a href="nowhere.html">a broken link</a> <a href="good.html">a good one</a> <a href="https://example.org">out</a>
<div class="cell_output"><div class="output traceback"><pre>ZeroDivisionError: division by zero</pre></div></div>
<script>undefinedFunction()</script>
</main></body></html>"""


def test_a_broken_page_is_reported_and_a_good_one_passes(tmp_path):
    site = tmp_path / "html"
    site.mkdir()
    (site / "broken.html").write_text(BROKEN)
    (site / "good.html").write_text("<html><body><main><p>Fine.</p></main></body></html>")
    (site / "index.html").write_text('<meta http-equiv="Refresh" content="0; url=good.html" />')
    problems = browser_check.check(site, tmp_path / "shots")
    assert all(p.startswith("broken.html") for p in problems)
    text = "\n".join(problems)
    assert "image did not load" in text and "raw TeX" in text and "broken internal link nowhere.html" in text
    assert "undefinedFunction" in text and "execution error" in text
    assert sorted(p.name for p in (tmp_path / "shots").iterdir()) == ["broken.png", "good.png"]


def test_a_table_wider_than_its_column_is_reported_and_one_that_fits_is_not(tmp_path):
    site = tmp_path / "html"
    site.mkdir()
    cells = "".join(f"<td>column{i}_with_a_long_unbreakable_name</td>" for i in range(6))
    # an empty icon: the browser asks for none, so no 404 reaches the console
    page = ('<html><head><link rel="icon" href="data:,"></head><body><main><article style="width: 500px">{}'
            "</article></main></body></html>")
    for name, overflow in (("clipped", "hidden"), ("scrolls", "auto")):
        (site / f"{name}.html").write_text(page.format(f'<div style="overflow-x: {overflow}"><table><tr>{cells}</tr>'
                                                       "</table></div>"))
    (site / "fits.html").write_text(page.format('<table style="width: 100%"><tr><td>a claim</td><td>holds</td></tr>'
                                                "</table>"))
    problems = browser_check.check(site)
    assert sorted(p.split(":")[0] for p in problems) == ["clipped.html", "scrolls.html"]
    assert all("wider than its column" in p and "in 500 px" in p for p in problems)
