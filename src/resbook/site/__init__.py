"""Building the book's website from the chapters: not the science, the tooling around it.

- `execute`: run every chapter notebook with papermill at a profile, then stage a Jupyter Book source folder
- `mathjax`: MathJax vendored into the site, so formulas render offline
- `sphinx_scripts`: a Sphinx extension that keeps each script once per page
- `browser_check`: every built page opened in headless Chromium
"""
