"""`atc convert`: one rule's query for a target, exactly as its page shows it."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from atc.convert.targets import BY_KEY
from atc.model import Problem


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
    convert.add_argument(
        "files",
        nargs="+",
        type=Path,
        metavar="RULE",
        help="Sigma rule files (-: standard input), each converted alone; files holding a correlation are converted together with "
        "the others, as sigma convert does (a correlation page's line names its base rules' files)",
    )


def run(args: argparse.Namespace) -> int:
    """Print each file's query (a correlation's with the other files), or its reason on standard error (exit 1 when any is not convertible)."""
    from atc.convert.runner import convert_one

    status = 0
    filters: list = []
    for path in args.filter:
        problems: list[Problem] = []
        found = _documents(path, problems)
        if found is None:
            print(f"atc: {path}: not a filter: {_reasons(problems)}", file=sys.stderr)
            return 1
        filters.extend(found)
    read = [(path, *_read(path)) for path in args.files]
    documents = [document for _, found, _ in read for document in found or []]
    if len(read) > 1 and all(found for _, found, _ in read) and any("correlation" in document for document in documents):
        # a correlation and its base rules' files (its page's reproduce line): one collection, as sigma convert reads them
        read = [(Path(" ".join(map(str, args.files))), documents, [problem for _, _, problems in read for problem in problems])]
    for path, found, problems in read:
        found = found + filters if found else found
        data = found[0] if found and len(found) == 1 else found  # several: converted together, as a collection
        conversion = convert_one(data, BY_KEY[args.target]) if isinstance(data, (dict, list)) else None
        for warning in (problem for problem in problems if problem.severity == "warning"):  # a repeated key: the query uses its last value
            print(f"atc: {warning}", file=sys.stderr)
        if conversion is None or conversion.status != "ok":
            reason = conversion.error if conversion else _reasons(problems) or "not a YAML mapping"
            print(f"atc: {path}: not convertible: {reason}", file=sys.stderr)
            status = 1
            continue
        print(conversion.query)
    return status


def _read(path: Path) -> tuple[list[Any] | None, list[Problem]]:
    """A rule file's documents (None when it cannot be read) and its problems."""
    problems: list[Problem] = []
    return _documents(path, problems), problems


def _documents(path: Path, problems: list[Problem]) -> list[Any] | None:
    """The YAML documents of a rule or filter file (`-`: standard input), or None with the problems that stopped them."""
    from atc.load.yamlfile import parse_yaml_documents, read_stream, read_text

    text = read_stream(sys.stdin.buffer, path, problems, "rule") if str(path) == "-" else read_text(path, problems, "rule")
    documents = parse_yaml_documents(text, path, problems, "rule") if text is not None else None
    for number, document in enumerate(documents or [], 1):
        if not isinstance(document, dict):
            what = {"str": "text", "list": "a list"}.get(type(document).__name__, type(document).__name__)
            problems.append(Problem(str(path), "rule", f"YAML document {number} is {what}, not a mapping of rule keys"))
            return None
    return documents


def _reasons(problems: list[Problem]) -> str:
    """The problems' messages, with their lines (the file is named once, before them)."""
    return "; ".join(f"line {problem.line}: {problem.message}" if problem.line else problem.message for problem in problems)
