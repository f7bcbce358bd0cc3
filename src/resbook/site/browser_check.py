"""Open every page of a built book in headless Chromium and check what a reader would see.

`python -m resbook.site.browser_check _build/ci/_build/html --screenshots _build/screenshots`

The site is served from 127.0.0.1 and Debian's `chromium` runs with the flags of a closed network. For every
page: every image has loaded (natural width > 0), MathJax has typeset the math (no raw `\\(` or `$$` left in
the text, and a MathJax container on pages that have math), every internal link points at a file of the site,
no cell shows an execution error (a traceback), no table is wider than the column it sits in (which would clip
it or make it scroll sideways), and the console shows no errors. A screenshot of each page is kept. Exits 1
with a list of the failures.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import http.server
import pathlib
import re
import shutil
import sys
import threading
import urllib.parse

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--no-first-run"]

REDIRECT = re.compile(r'http-equiv="refresh"[^>]*url=([^"\'>]+)', re.IGNORECASE)

# console messages that are not faults of the page: the theme logs this as an error on a first visit,
# when the browser has no stored light/dark preference yet, and then picks "auto"
KNOWN_HARMLESS = ("Got invalid theme mode: . Resetting to auto.",)

# the tables of the page's text wider than the room they have: beyond their parent's content box (clipped, or
# scrolling sideways when the parent scrolls), beyond the article's column, or with cells running out of the table
WIDE_TABLES = """[...(document.querySelector('main') || document.body).querySelectorAll('table')].map(t => {
    const box = t.getBoundingClientRect();
    const parent = t.parentElement, style = getComputedStyle(parent), outer = parent.getBoundingClientRect();
    const room = outer.right - parseFloat(style.borderRightWidth) - parseFloat(style.paddingRight);
    const column = (t.closest('article') || t.closest('main') || document.body).getBoundingClientRect();
    const right = Math.min(room, column.right);
    const wide = box.right > right + 1 || t.scrollWidth > t.clientWidth + 1;
    const first = (t.querySelector('th, td') || t).textContent.trim().slice(0, 30);
    return wide ? {width: Math.round(Math.max(box.width, t.scrollWidth)), room: Math.round(right - box.left), first}
                : null;
  }).filter(Boolean)"""

# evaluated in the page once it has loaded and MathJax has finished
PAGE_FACTS = """() => ({
  images: [...document.images].map(i => ({src: i.currentSrc || i.src, width: i.naturalWidth})),
  rawMath: (() => {
    const main = document.querySelector('main') || document.body;
    const clone = main.cloneNode(true);
    clone.querySelectorAll('script, style, pre, code, mjx-container, textarea').forEach(e => e.remove());
    const text = clone.textContent;
    return ['\\\\(', '\\\\[', '$$'].filter(m => text.includes(m));
  })(),
  mathSource: document.querySelectorAll('.math, span.math, div.math').length,
  mathRendered: document.querySelectorAll('mjx-container').length,
  links: [...document.querySelectorAll('a[href]')].map(a => a.getAttribute('href')),
  tracebacks: document.querySelectorAll('.output.traceback').length,
  wideTables: WIDE_TABLES,
})""".replace("WIDE_TABLES", WIDE_TABLES)


def find_chromium() -> str | None:
    """The system's Chromium (Debian's name, Ubuntu's, Google's build), or None."""
    return next(filter(None, map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))), None)


def chromium() -> str:
    if path := find_chromium():
        return path
    raise FileNotFoundError("no Chromium found: install it (Debian: apt-get install chromium; Ubuntu: apt-get "
                            "install chromium-browser; macOS: brew install --cask chromium)")


@contextlib.contextmanager
def serve(root: pathlib.Path):
    """The folder on http://127.0.0.1:<free port>/ for as long as the block runs."""
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def internal_target(root: pathlib.Path, page: pathlib.Path, href: str) -> pathlib.Path | None:
    """The file an internal link points at (None for external links, mail and in-page anchors)."""
    parsed = urllib.parse.urlparse(href)
    if parsed.scheme or parsed.netloc or not parsed.path:
        return None
    target = (page.parent / urllib.parse.unquote(parsed.path)).resolve()
    return target / "index.html" if target.is_dir() else target


def check(site: pathlib.Path, screenshots: pathlib.Path | None = None) -> list[str]:
    """Problems found on the pages of the built site under `site` (empty: all good)."""
    from playwright.sync_api import sync_playwright

    site = site.resolve()
    pages = sorted(p for p in site.rglob("*.html") if not {"_static", "_sources", "_images"} & set(p.parts)
                   and p.name not in ("genindex.html", "search.html"))
    if not pages:
        raise FileNotFoundError(f"no HTML pages under {site}: build the book first (make test or make book)")
    if screenshots:
        screenshots.mkdir(parents=True, exist_ok=True)
    problems: list[str] = []
    with serve(site) as base, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium(), args=CHROMIUM_FLAGS)
        for page_path in pages:
            name = page_path.relative_to(site).as_posix()
            redirect = REDIRECT.search(page_path.read_text(errors="replace"))
            if redirect:  # a stub that only forwards (the site root): check where it points
                target = internal_target(site, page_path, redirect.group(1))
                if target is not None and not target.exists():
                    problems.append(f"{name}: redirects to a missing page {redirect.group(1)}")
                continue
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            errors: list[str] = []
            page.on("console", lambda msg, errors=errors: msg.type == "error" and errors.append(msg.text))
            page.on("pageerror", lambda exc, errors=errors: errors.append(str(exc)))
            page.on("requestfailed", lambda req, errors=errors: errors.append(f"request failed: {req.url}"))
            page.on("response", lambda r, errors=errors: r.status >= 400 and errors.append(f"{r.status}: {r.url}"))
            page.goto(base + name, wait_until="load")
            # MathJax's startup promise resolves once the page's math is typeset (evaluate awaits it)
            page.evaluate("() => window.MathJax && MathJax.startup ? MathJax.startup.promise.then(() => true) : null")
            facts = page.evaluate(PAGE_FACTS)
            for image in facts["images"]:
                if image["width"] == 0:
                    problems.append(f"{name}: image did not load: {image['src']}")
            if facts["tracebacks"]:
                problems.append(f"{name}: shows {facts['tracebacks']} execution error(s) (a traceback on the page)")
            for table in facts["wideTables"]:
                problems.append(f"{name}: a table is wider than its column ({table['width']} px in {table['room']} "
                                f"px; it starts \"{table['first']}\"): it is clipped or scrolls sideways")
            if facts["rawMath"]:
                problems.append(f"{name}: raw TeX left on the page ({', '.join(facts['rawMath'])})")
            if facts["mathSource"] and not facts["mathRendered"]:
                problems.append(f"{name}: {facts['mathSource']} math elements but nothing typeset by MathJax")
            for href in facts["links"]:
                target = internal_target(site, page_path, href)
                if target is not None and not target.exists():
                    problems.append(f"{name}: broken internal link {href}")
            problems.extend(f"{name}: console: {e}" for e in errors if not any(k in e for k in KNOWN_HARMLESS))
            if screenshots:
                page.screenshot(path=str(screenshots / (name.replace("/", "__").removesuffix(".html") + ".png")),
                                full_page=True)
            page.close()
        browser.close()
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m resbook.site.browser_check", description=__doc__.splitlines()[0])
    parser.add_argument("site", type=pathlib.Path, help="the built HTML folder, e.g. _build/ci/_build/html")
    parser.add_argument("--screenshots", type=pathlib.Path, default=None, help="folder for one PNG per page")
    args = parser.parse_args(argv)
    try:
        problems = check(args.site, args.screenshots)
    except FileNotFoundError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for problem in problems:
        print(problem, file=sys.stderr)
    pages = len(list(args.screenshots.glob("*.png"))) if args.screenshots else "all"
    print(f"browser check: {pages} pages, {len(problems)} problems", flush=True)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
