"""`atc convert`: one rule's query for a target, exactly as its page shows it."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from atc.convert.targets import BY_KEY


def register(commands: argparse._SubParsersAction) -> None:
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


def run(args: argparse.Namespace) -> int:
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
