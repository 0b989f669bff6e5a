"""The `atc` command line: one module per command, each with `register` (its options) and `run` (what it does)."""

from __future__ import annotations

import argparse
import importlib.metadata
import platform
import sys

from atc.commands import attack, build, check, convert, diff, init, serve, verify
from atc.convert.targets import UnknownTargetError
from atc.kinds import register_plugins
from atc.settings import ConfigError

DESCRIPTION = """\
Turn a detection team's Sigma rules into a browsable, searchable knowledge base:
one page per rule with its ATT&CK mapping, the log data it needs (Data Needed),
the logging policy behind that data, the Atomic Red Team tests that fire it,
and the rule translated into every configured query language through pySigma.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="atc", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=version_text(), help="print atc's, pySigma's and Python's versions and exit")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    build.register(commands)
    serve.register(commands)
    check.register(commands)
    diff.register(commands)
    init.register(commands)
    convert.register(commands)
    verify.register(commands)
    attack.register(commands)
    return parser


def version_text() -> str:
    """What `atc --version` prints: atc's version and those of what its pages depend on most."""
    found = {name: _installed(name) for name in ("atc", "pySigma", "mkdocs-material")}
    return (
        f"atc {found['atc']} (pySigma {found['pySigma']}, mkdocs-material {found['mkdocs-material']}, Python {platform.python_version()})"
    )


def _installed(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


RUN = {
    "build": build.run,
    "serve": serve.run,
    "check": check.run,
    "diff": diff.run,
    "init": init.run,
    "convert": convert.run,
    "verify": verify.run,
    "attack": attack.run,
}


def main(argv: list[str] | None = None) -> int:
    for message in register_plugins():  # before the options: a plugin kind's folders are settings too
        print(f"atc: {message}", file=sys.stderr)
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return RUN[args.command](args)
    except (ConfigError, UnknownTargetError) as exc:
        for line in str(exc).splitlines():  # one problem a line (atc.yml's wrong keys are reported together)
            print(f"atc: {line}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("atc: interrupted", file=sys.stderr)
        return 130
