"""Command line: `python -m resbook execute|stage ...` (the Makefile's building blocks)."""

from __future__ import annotations

import argparse
import json
import pathlib
import sys

from . import book
from .profiles import PROFILES


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m resbook")
    sub = parser.add_subparsers(dest="command", required=True)

    ex = sub.add_parser("execute", help="execute the chapters with papermill")
    ex.add_argument("--profile", default="cpu", help=f"one of {', '.join(PROFILES)}")
    ex.add_argument("--out", type=pathlib.Path, required=True, help="folder for the executed notebooks")
    ex.add_argument("--only", nargs="*", help="chapter name prefixes, e.g. 01 03")
    ex.add_argument("--overrides", default="{}", help='JSON, e.g. \'{"depths": [8, 20]}\'')

    st = sub.add_parser("stage", help="assemble a Jupyter Book source folder from executed chapters")
    st.add_argument("--executed", type=pathlib.Path, required=True)
    st.add_argument("--site", type=pathlib.Path, required=True)

    args = parser.parse_args(argv)
    try:
        if args.command == "execute":
            book.execute(args.profile, args.out, args.only, json.loads(args.overrides))
        else:
            book.stage(args.executed, args.site)
    except (ValueError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
