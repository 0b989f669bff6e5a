"""`atc attack update`: regenerate the bundled ATT&CK snapshot with attackcti."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(commands: argparse._SubParsersAction) -> None:
    attack = commands.add_parser("attack", help="manage the bundled MITRE ATT&CK snapshot")
    attack_commands = attack.add_subparsers(dest="attack_command", metavar="ACTION", required=True)
    update = attack_commands.add_parser(
        "update",
        help="regenerate the ATT&CK snapshot with attackcti",
        description="Rebuild the compact ATT&CK snapshot that `atc build` reads, through attackcti: from a local STIX bundle or folder (offline), or from MITRE's TAXII server when no --from-stix is given.",
    )
    update.add_argument("--from-stix", type=Path, metavar="PATH", help="an enterprise-attack STIX bundle file or folder (no network)")
    update.add_argument(
        "--output",
        type=Path,
        metavar="PATH",
        help="where to write the snapshot (default: atc.yml's attack_snapshot when it names one, else the one shipped in the package)",
    )
    update.add_argument(
        "--timeout",
        type=float,
        default=60,
        metavar="SECONDS",
        help="give up when the TAXII server has not answered (or sent more) for this long (default: 60)",
    )
    update.add_argument(
        "--version", dest="attack_version", metavar="X.Y", help="the ATT&CK version, when the bundle does not say (e.g. 18.1)"
    )


def run(args: argparse.Namespace) -> int:
    from atc.load.attack_update import run_update

    return run_update(args.from_stix, args.output or default_output(Path.cwd()), args.attack_version, args.timeout)


def default_output(cwd: Path) -> Path:
    """The snapshot the build reads: the one atc.yml names (found as every command finds it), else the packaged one."""
    from atc.commands.options import found_settings
    from atc.load.attack import DEFAULT_SNAPSHOT

    settings = found_settings(cwd)
    return (settings.attack_snapshot if settings is not None else None) or DEFAULT_SNAPSHOT
