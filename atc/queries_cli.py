"""The `atc convert` and `atc verify` subcommands: one rule's query for a target, and queries proven on events."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from atc.convert.targets import BY_KEY

VERIFY_EPILOG = """\
events layout: EVENTS/<rule id>/positive/*.json and EVENTS/<rule id>/negative/*.json,
one JSON event per file (EVTX-to-JSON Windows events, or any JSON record such as
CloudTrail or auditd; see atc/verify.py for how they are flattened). Positive events
must match the rule's query and negative ones must not; grep runs as a real
`grep -P` process, SQLite in an in-memory database.

exit status: 0 every verified query passed; 1 a query failed; 2 unusable input.
"""


def add_query_parsers(commands: argparse._SubParsersAction) -> None:
    """Register `convert` and `verify`."""
    convert = commands.add_parser(
        "convert",
        help="print one rule's query for a target, exactly as its page shows it",
        description="Convert Sigma rule files with atc's target registry (the reproduction command for atc's own "
        "backends: powershell, xpack-watcher, graylog, grep; the other targets are reproducible with sigma-cli).",
    )
    convert.add_argument("--target", "-t", required=True, choices=list(BY_KEY), help="the target's key")
    convert.add_argument("--filter", type=Path, action="append", default=[], metavar="PATH", help="a Sigma filter file applied to the rules (repeatable, as sigma convert --filter)")
    convert.add_argument("files", nargs="+", type=Path, metavar="RULE", help="Sigma rule files")

    verify = commands.add_parser(
        "verify",
        help="run the grep and SQLite queries of rules over example events and report which pass",
        description="Convert every rule for the runnable targets and check each query on the rule's positive and "
        "negative example events; print a per-target table and every failure.",
        epilog=VERIFY_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    verify.add_argument("--rules", type=Path, action="append", required=True, metavar="DIR", help="a folder of Sigma rules (repeatable)")
    verify.add_argument("--events", type=Path, required=True, metavar="DIR", help="the events folder (one folder per rule id)")
    verify.add_argument("--targets", default="grep,sqlite", metavar="LIST", help="comma-separated runnable targets (default: grep,sqlite)")
    verify.add_argument("--jobs", "-j", type=int, default=1, metavar="N", help="conversion processes (default: 1)")


def run_convert(args: argparse.Namespace) -> int:
    """Print each file's query, or its reason on standard error (exit 1 when any is not convertible)."""
    from atc.convert.runner import convert_one
    from atc.load.yamlfile import parse_yaml_documents, read_text
    from atc.model import Problem

    status = 0
    filters: list = []
    for path in args.filter:
        problems: list[Problem] = []
        text = read_text(path, problems, "rule")
        found = parse_yaml_documents(text, path, problems, "rule") if text is not None else None
        if found is None:
            print(f"atc: {path}: not a filter: {'; '.join(str(p) for p in problems)}", file=sys.stderr)
            return 1
        filters.extend(found)
    for path in args.files:
        problems = []
        text = read_text(path, problems, "rule")
        documents = parse_yaml_documents(text, path, problems, "rule") if text is not None else None
        documents = documents + filters if documents else documents
        data = documents[0] if documents and len(documents) == 1 else documents  # several: converted together, as a collection
        conversion = convert_one(data, BY_KEY[args.target]) if isinstance(data, (dict, list)) else None
        if conversion is None or conversion.status != "ok":
            reason = conversion.error if conversion else "; ".join(str(p) for p in problems) or "not a YAML mapping"
            print(f"atc: {path}: not convertible: {reason}", file=sys.stderr)
            status = 1
            continue
        print(conversion.query)
    return status


def run_verify(args: argparse.Namespace) -> int:
    """Print the verification table; 1 when any query failed."""
    from atc.config import parse_targets
    from atc.verify import VerifyError, verify

    try:
        report = verify(args.rules, args.events, tuple(parse_targets(args.targets)), max(1, args.jobs))
    except VerifyError as exc:
        print(f"atc: {exc}", file=sys.stderr)
        return 2
    print(report.table())
    return 1 if report.failures else 0
