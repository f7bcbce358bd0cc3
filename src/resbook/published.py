"""Run archives attached to releases: written by `python -m resbook register` (the release workflow), not by hand.

Each entry, by archive name (`runs-<profile>.tar.gz`): the GitHub repository and the release tag it is attached
to (its address is `fetch.ARCHIVE_URL`), its sha256 (a download that differs is refused), the version of the
training code that made its runs (`salt`: an archive of other code is not downloaded), and how many runs it holds.
`register` rewrites this file from `ARCHIVES` to its end: keep it the last statement.
"""

ARCHIVES: dict[str, dict] = {}
