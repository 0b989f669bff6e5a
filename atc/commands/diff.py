"""`atc diff BASE [HEAD]`: report what a change does to the knowledge base."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from atc.commands.options import add_settings_options, settings_from_args
from atc.settings import find_config

DIFF_EPILOG = """\
The repository is the git working tree holding the current folder. Each side is
read with its own atc.yml (--config or the nearest one up to the top, at the
same path in the revision) or, without one, the default folders (rules, data_needed,
logging_policies, triggers) at the repository's top. Nothing is checked out.
Only rules whose text differs are converted, so a small change on a large
repository reports in seconds; a team target whose definition or pipeline files
differ converts every rule, each side with its own.

The report: rules added (with their queries), removed, moved or renamed (matched by Sigma id, or by
text when a rule has none), rules whose file no longer loads, and changed (the fields that differ, a unified diff
of each target's query), conversions newly failing or working, new and fixed
problems (`atc check`), ATT&CK techniques newly covered or uncovered, Data
Needed and triggers newly linked or no longer linked, and rules whose `related:`
names a rule the change removes.

examples:
  atc diff origin/main                 # origin/main against the working tree
  atc diff v1.0 v1.1 --format json     # two revisions, for machines
  atc diff origin/main --output diff.md --targets splunk,kusto

exit status: 0 report written; 1 the --output file cannot be written; 2 unknown
revision, not a git repository or unusable settings.
"""


MIN_CHARS = 2_000  # the heading, the counts and the notes of what is left out


def _room(value: str) -> int:
    """--max-chars: a whole number of characters, with room for the report's summary."""
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {value!r}") from None
    if number < MIN_CHARS:
        raise argparse.ArgumentTypeError(f"{number} leaves no room for the report's summary: give at least {MIN_CHARS}")
    return number


def register(commands: argparse._SubParsersAction) -> None:
    diff = commands.add_parser(
        "diff",
        help="report what a change does to the knowledge base (for pull-request previews)",
        description="Compare the knowledge base at git revision BASE with HEAD (a revision, default: the working tree) "
        "and write a Markdown (or JSON) report of what changed.",
        epilog=DIFF_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    diff.add_argument("base", metavar="BASE", help="the revision to compare against: a branch, tag or commit (e.g. origin/main)")
    diff.add_argument(
        "head", metavar="HEAD", nargs="?", help="the revision with the change (default: the working tree, uncommitted edits included)"
    )
    diff.add_argument("--format", choices=("markdown", "json"), default="markdown", help="report format (default: markdown)")
    diff.add_argument("--output", "-o", type=Path, metavar="FILE", help="write the report to FILE (default: standard output)")
    diff.add_argument(
        "--max-chars",
        type=_room,
        metavar="N",
        help="keep the Markdown report within N characters (a pull-request comment: GitHub takes at most 65,536): the changed "
        "rules, then the added ones, beyond what fits are listed without their queries, then lists are cut short, each saying how much is left out",
    )
    add_settings_options(diff, "diff")


def run(args: argparse.Namespace) -> int:
    import time

    from atc.common.resources import templates_dir
    from atc.convert.team_targets import configured_targets
    from atc.history.diff import run_diff
    from atc.history.gitrev import GitError, repo_top
    from atc.history.revision import config_rel
    from atc.render.diff_report import to_json, to_markdown

    if args.max_chars is not None and args.format == "json":
        print("atc: --max-chars shortens the Markdown report; the JSON report is always whole", file=sys.stderr)
        return 2
    started = time.perf_counter()
    cwd = Path.cwd()
    try:
        top = repo_top(cwd)
        config = config_rel(find_config(args.config, cwd), top)
        settings = settings_from_args(args, cwd, defaults=top, check=False)
        targets = configured_targets(settings.targets, settings.target_entries, settings.base_dir)
        report = run_diff(cwd, args.base, args.head, config, targets, settings.jobs)
    except GitError as exc:
        print(f"atc: {exc}", file=sys.stderr)
        return 2
    text = to_json(report) if args.format == "json" else to_markdown(report, templates_dir(), args.max_chars)
    if args.output:
        try:
            args.output.write_text(text, encoding="utf-8")
        except OSError as exc:
            print(f"atc: {args.output}: cannot write the report: {exc.strerror or exc}", file=sys.stderr)
            return 1
    else:
        sys.stdout.write(text)
    summary = f"{len(report.added)} added, {len(report.changed)} changed, {len(report.renamed)} moved, {len(report.removed)} removed"
    summary += f", {len(report.unreadable)} no longer load" if report.unreadable else ""
    print(f"diff: {report.base} → {report.head}: {summary} in {time.perf_counter() - started:.2f} s", file=sys.stderr)
    return 0
