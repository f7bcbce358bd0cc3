"""A Sphinx extension for the book's build: every script at most once per page.

Under Jupyter Book 1.x, the inline configuration scripts that sphinx-thebe and sphinx-togglebutton add
from build events end up twice in each page; the second `const THEBE_JS_URL` is a console error. This
drops exact repeats from a page's scripts just before the page is written.
"""

from __future__ import annotations


def _drop_repeated_scripts(app, pagename, templatename, context, doctree) -> None:
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, kept = set(), []
    for script in scripts:
        # the repeats differ only in an empty file name given as None or as ""
        name = getattr(script, "filename", script) or ""
        key = (str(name), repr(sorted(getattr(script, "attributes", {}).items())))
        if key not in seen:
            seen.add(key)
            kept.append(script)
    context["script_files"] = kept


def setup(app):
    app.connect("html-page-context", _drop_repeated_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
