"""The `atc convert` and `atc verify` subcommands: one rule's query for a target, and queries proven on events."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from atc.convert.targets import BY_KEY

VERIFY_EPILOG = """\
settings: --rules, --events and --targets default to those of atc.yml (./atc.yml or
--config), as `atc build` reads them; without an atc.yml, to the embedded knowledge base.
Rules whose regression_tests_path (SigmaHQ's layout) resolves are also checked on the
events their info.yml names, against its match_count.

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
    convert.add_argument(
        "--filter",
        type=Path,
        action="append",
        default=[],
        metavar="PATH",
        help="a Sigma filter file applied to the rules (repeatable, as sigma convert --filter)",
    )
    convert.add_argument("files", nargs="+", type=Path, metavar="RULE", help="Sigma rule files")

    verify = commands.add_parser(
        "verify",
        help="run the grep and SQLite queries of rules over example events and report which pass",
        description="Convert every rule for the runnable targets and check each query on the rule's positive and "
        "negative example events; print a per-target table and every failure.",
        epilog=VERIFY_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    verify.add_argument("--config", type=Path, help="an atc.yml to read rules, events and targets from (default: ./atc.yml when present)")
    verify.add_argument(
        "--rules", type=Path, action="append", metavar="DIR", help="a folder of Sigma rules (repeatable; default: atc.yml's rules)"
    )
    verify.add_argument("--events", type=Path, metavar="DIR", help="the events folder, one folder per rule id (default: atc.yml's events)")
    verify.add_argument(
        "--targets",
        metavar="LIST",
        help="comma-separated runnable targets: grep, sqlite, powershell (simulated); default: "
        "atc.yml's targets that can run here, else grep,sqlite",
    )
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
    """Print the verification table; 1 when any query failed (on example events or regression tests) or an event file was refused."""
    from atc.config import ConfigError, default_settings, find_config, load_config_file, parse_targets
    from atc.verify import SIMULATED, VERIFIABLE, VerifyError, verify

    try:
        config = find_config(args.config, Path.cwd())
        settings = load_config_file(config) if config else default_settings()
    except ConfigError as exc:
        print(f"atc: {exc}", file=sys.stderr)
        return 2
    rules = args.rules or list(settings.rules)
    events = args.events if args.events is not None else settings.events if settings.events and settings.events.is_dir() else None
    runnable = VERIFIABLE + SIMULATED
    configured = [t for t in settings.targets or () if t in runnable]
    targets = tuple(parse_targets(args.targets)) if args.targets else tuple(configured or VERIFIABLE)
    try:
        report = verify(rules, events, targets, max(1, args.jobs), roots=(settings.base_dir, *(folder.parent for folder in rules)))
    except VerifyError as exc:
        print(f"atc: {exc}", file=sys.stderr)
        return 2
    print(report.table())
    return 1 if report.failures or report.evidence_failures or report.bad_events else 0
