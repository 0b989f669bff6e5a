"""`atc check`: validate the knowledge base without writing anything (for pre-commit and CI)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from atc.commands.options import add_settings_options, settings_from_args

CHECK_EPILOG = """\
Settings come from the built-in defaults, an atc.yml (or --config), then these
options, as for `atc build`. `validators:` in atc.yml names the validator sets
to run: pysigma (pySigma's own, the default), sigmahq (SigmaHQ's conventions,
from pysigma-validators-sigmahq) or any other installed validator plugin.
Skipped: validators that download data at run time (pySigma's attacktag and
d3_fendtag, SigmaHQ's taxonomy, file name and event id checks; ATT&CK tags are
checked against the offline snapshot instead) and identifier_uniqueness
(reported as duplicate-id).

exit status: 0 no errors (warnings allowed); 1 a file has an error, or --strict
and any problem (warnings included); 2 unusable settings.
"""


def register(commands: argparse._SubParsersAction) -> None:
    check = commands.add_parser(
        "check",
        help="validate the knowledge base without writing anything (for pre-commit and CI)",
        description="Load and cross-link the knowledge base exactly as `atc build` does and report the same problems "
        "(broken YAML, files that are not Sigma rules, rules pySigma rejects, duplicate ids, dangling references, "
        "broken Atomic Red Team tests, oversized files), plus pySigma's offline rule-quality validators as warnings. "
        "Writes no file and converts no query.",
        epilog=CHECK_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_settings_options(check, "check")


def run(args: argparse.Namespace) -> int:
    from atc.engine import check as run_check
    from atc.engine import print_problems
    from atc.link.validator_sets import chosen_sets

    settings = settings_from_args(args, Path.cwd())
    kb = run_check(settings)
    counts = print_problems(kb.problems, sys.stderr, verbose=args.verbose)
    for found in chosen_sets(settings.validators):
        skipped = f"; skipped (they download data at run time): {', '.join(found.needs_download)}" if found.needs_download else ""
        print(f"validators {found.name}: {len(found.runs)} run{skipped}", file=sys.stderr)
    print(
        f"check: {len(kb.rules)} rules, {len(kb.data_needed)} Data Needed, {len(kb.logging_policies)} logging policies, {len(kb.triggers)} triggers; problems: {counts}",
        file=sys.stderr,
    )
    errors = any(problem.severity == "error" for problem in kb.problems)
    return 1 if errors or (settings.strict and kb.problems) else 0
