"""Command line: `python -m resbook execute|stage|teaching|fill|export|import|fetch|register ...` (the Makefile's
and the release workflow's building blocks)."""

from __future__ import annotations

import argparse
import json
import pathlib
import sys

from .profiles import PROFILES
from .site import execute as book


def _profile_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--profile", default="cpu", help=f"one of {', '.join(PROFILES)}")
    parser.add_argument("--overrides", default="{}", help='JSON, e.g. \'{"depths": [8, 20]}\'')


def _configs(args):
    from . import chapters
    from .profiles import resolve

    profile = resolve(args.profile, json.loads(args.overrides))
    return chapters.plan(profile, args.chapters)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m resbook")
    sub = parser.add_subparsers(dest="command", required=True)

    ex = sub.add_parser("execute", help="execute the chapters with papermill")
    _profile_arguments(ex)
    ex.add_argument("--out", type=pathlib.Path, required=True, help="folder for the executed notebooks")
    ex.add_argument("--only", nargs="*", help="chapter name prefixes, e.g. 01 03")

    st = sub.add_parser("stage", help="assemble a Jupyter Book source folder from executed chapters")
    st.add_argument("--executed", type=pathlib.Path, required=True)
    st.add_argument("--site", type=pathlib.Path, required=True)

    te = sub.add_parser("teaching", help="a teacher's pack from executed chapters: figures.zip and slides/")
    te.add_argument("--executed", type=pathlib.Path, required=True)
    te.add_argument("--out", type=pathlib.Path, required=True)

    fill = sub.add_parser("fill", help="train every run the chapters need into the run cache (no book)")
    _profile_arguments(fill)
    fill.add_argument("--chapters", nargs="*", help="01 02 03 04 (default: all)")
    fill.add_argument("--workers", type=int, default=None, help="parallel training processes (local Ray: CPUs)")
    fill.add_argument("--engine", choices=("local", "ray"), default="local",
                      help="local: worker processes on this machine; ray: Ray tasks (a local cluster, or --address)")
    fill.add_argument("--address", default=None, help="Ray cluster to join, e.g. auto or ray://head:10001")
    fill.add_argument("--retries", type=int, default=2, help="Ray: retries of a failed run before it is reported")
    fill.add_argument("--gpus-per-run", type=float, default=1.0, help="Ray: GPU share of one run (0.25: 4 per GPU)")

    exp = sub.add_parser("export", help="write run-cache entries to one verified archive")
    exp.add_argument("archive", type=pathlib.Path, help="e.g. runs-paper.tar.gz")
    exp.add_argument("--profile", default=None, help="only the runs this profile's chapters need (default: all)")
    exp.add_argument("--overrides", default="{}")
    exp.add_argument("--chapters", nargs="*")

    imp = sub.add_parser("import", help="add an exported archive's runs to the run cache, verifying each")
    imp.add_argument("archive", type=pathlib.Path)

    fe = sub.add_parser("fetch", help="download a release's run archive and import it, verifying each run")
    fe.add_argument("--profile", default="cpu", help=f"one of {', '.join(PROFILES)}")
    fe.add_argument("--url", default=None, help="the archive's address instead of the release's (a mirror); "
                    "default: $RESBOOK_ARCHIVE_URL/runs-<profile>.tar.gz if set, else the published one")
    fe.add_argument("--sha256", default=None, help="the sha256 the archive at --url must have (else only the "
                    "import's checks of each run apply)")

    reg = sub.add_parser("register", help="list an archive attached to a release in the package (release workflow)")
    reg.add_argument("archive", type=pathlib.Path, help="runs-<profile>.tar.gz, from `export`")
    reg.add_argument("--tag", default=None, help="the release it is attached to (default: v<package version>)")
    reg.add_argument("--repository", default=None, help="e.g. https://github.com/owner/repo (default: _config.yml's)")

    args = parser.parse_args(argv)
    try:
        if args.command == "execute":
            book.execute(args.profile, args.out, args.only, json.loads(args.overrides))
        elif args.command == "stage":
            book.stage(args.executed, args.site)
        elif args.command == "teaching":
            from .site import teaching

            count = teaching.figure_pack(args.executed, args.out / "figures.zip")
            decks = teaching.slides(args.executed, args.out / "slides")
            print(f"teacher's pack: {count} figures in {args.out / 'figures.zip'}, {len(decks)} slide decks in "
                  f"{args.out / 'slides'}")
        elif args.command == "fill":
            from . import runs

            configs = _configs(args)
            print(f"{len(configs)} runs at profile {args.profile}", flush=True)
            if args.engine == "ray":
                from .runs import scaleout

                report = scaleout.fill(configs, address=args.address, workers=args.workers, retries=args.retries,
                                        gpus_per_run=args.gpus_per_run)
                print(f"trained {len(report.trained)}, already cached {len(report.cached)}, failed "
                      f"{len(report.failed)} in {report.seconds:.0f} s", flush=True)
                for label, error in report.failed.items():
                    print(f"  failed: {label}: {error}", file=sys.stderr)
                return 1 if report.failed else 0
            runs.sweep(configs, workers=args.workers)
            print(f"all {len(configs)} runs are in the cache", flush=True)
        elif args.command == "export":
            from .runs.cache import RunCache, export_archive

            configs = _configs(args) if args.profile else None
            count = export_archive(RunCache(), args.archive, configs)
            print(f"wrote {count} runs to {args.archive}")
        elif args.command == "fetch":
            from . import fetch

            report = fetch.fetch(args.profile, args.url, sha256=args.sha256, progress=True)
            print(report.message)
            for reason in report.refused:
                print(f"  refused: {reason}", file=sys.stderr)
            return 0 if report.downloaded and not report.refused else 1
        elif args.command == "register":
            from . import __version__, fetch
            from .site import colab

            entry = fetch.register(args.archive, args.tag or f"v{__version__}",
                                   args.repository or colab.repository_url())
            print(f"registered {args.archive.name}: {entry['runs']} runs, sha256 {entry['sha256']}, "
                  f"{fetch.ARCHIVE_URL.format(name=args.archive.name, **entry)}")
        else:
            from .runs.cache import RunCache, import_archive

            report = import_archive(RunCache(), args.archive)
            print(f"imported {len(report['imported'])}, already present {len(report['present'])}, "
                  f"refused {len(report['refused'])}")
            for reason in report["refused"]:
                print(f"  refused: {reason}", file=sys.stderr)
            return 1 if report["refused"] else 0
    except book.ChaptersFailed as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except (ValueError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
