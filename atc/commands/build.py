"""`atc build`: render the knowledge base into Markdown pages and build the site."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from atc.commands.options import add_settings_options, settings_from_args, settings_help

BUILD_EXIT = """
atc.yml is --config, else the nearest one from the current folder up to the top of
its git repository. Without one and without --rules, atc build stops: run
`atc init` first.
A rules, Data Needed, logging policy, trigger or events path that is given but
does not exist is an error naming it.

exit status: 0 built; 1 --strict and problems were found; 2 unusable settings
(no atc.yml, a missing path).
"""


def register(commands: argparse._SubParsersAction) -> None:
    build = commands.add_parser(
        "build",
        help="render the knowledge base into Markdown pages and build the site",
        description="Render one Markdown page per rule, Data Needed item, logging policy and trigger into the docs folder, then build the static site with mkdocs-material.",
        epilog=settings_help("build") + BUILD_EXIT,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_settings_options(build, "build")
    build.add_argument("--quiet", "-q", action="store_true", help="no progress output, only problems and the summary")
    build.add_argument(
        "--only-changed",
        metavar="BASE",
        help="preview: pages only for the rules that differ from git revision BASE, the pages they link to and the index pages",
    )


def run(args: argparse.Namespace) -> int:
    from atc.engine import run_build, summarise
    from atc.history.gitrev import GitError
    from atc.site.mkdocs_adapter import SiteBuildError
    from atc.site.publish import OutputError

    settings = settings_from_args(args, Path.cwd())
    try:
        result = run_build(settings, quiet=args.quiet, only_changed=args.only_changed)
    except GitError as exc:
        print(f"atc: --only-changed: {exc}", file=sys.stderr)
        return 2
    except (SiteBuildError, OutputError) as exc:
        print(f"atc: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:  # an unwritable cache or output folder: one line, no traceback
        print(f"atc: {exc.filename or ''}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    summarise(result, sys.stderr, verbose=args.verbose)
    return 1 if settings.strict and result.problems else 0
