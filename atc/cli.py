"""The `atc` command line."""
from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

from atc.config import ConfigError, Settings, default_settings, find_config, load_config_file, parse_targets
from atc.convert.targets import TARGETS, UnknownTargetError

DESCRIPTION = """\
Turn a detection team's Sigma rules into a browsable, searchable knowledge base:
one page per rule with its ATT&CK mapping, the log data it needs (Data Needed),
the logging policy behind that data, the Atomic Red Team tests that fire it,
and the rule translated into every configured query language through pySigma.
"""

BUILD_EPILOG = """\
Settings come from, in order: the built-in defaults (the repository's own
knowledge base), an atc.yml in the current folder or given with --config
(keys: rules, data_needed, logging_policies, triggers, docs_dir, site_dir,
templates_dir, mkdocs_config, cache_dir, targets, jobs, build_site, strict,
repo_url, offline, attack_snapshot; paths relative to the file), then these options.

targets: """ + ", ".join(t.key for t in TARGETS) + """

exit status: 0 built; 1 --strict and problems were found; 2 unusable settings.
"""


CHECK_EPILOG = """\
Settings come from the built-in defaults, an atc.yml (or --config), then these
options, as for `atc build`. Skipped validators: attacktag and d3_fendtag (they
download MITRE data; ATT&CK tags are checked against the offline snapshot
instead) and identifier_uniqueness (reported as duplicate-id).

exit status: 0 no errors (warnings allowed); 1 a file has an error, or --strict
and any problem (warnings included); 2 unusable settings.
"""


def _add_kb_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, help="an atc.yml with the settings (default: ./atc.yml when present)")
    parser.add_argument("--rules", type=Path, action="append", metavar="DIR", help="a folder of Sigma rules, searched recursively (repeatable)")
    parser.add_argument("--data-needed", type=Path, action="append", metavar="DIR", help="a folder of Data Needed YAML (repeatable)")
    parser.add_argument("--logging-policies", type=Path, action="append", metavar="DIR", help="a folder of logging policy YAML (repeatable)")
    parser.add_argument("--triggers", type=Path, action="append", metavar="DIR", help="an Atomic Red Team atomics/ folder (repeatable)")
    parser.add_argument("--strict", action="store_true", default=None, help="exit with status 1 when any problem was found")
    parser.add_argument("--verbose", "-v", action="store_true", help="list every problem, not the first 20 of each kind")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="atc", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    build = commands.add_parser(
        "build",
        help="render the knowledge base into Markdown pages and build the site",
        description="Render one Markdown page per rule, Data Needed item, logging policy and trigger into the docs folder, then build the static site with mkdocs-material.",
        epilog=BUILD_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_kb_options(build)
    build.add_argument("--docs-dir", type=Path, metavar="DIR", help="where the Markdown pages go (default: docs)")
    build.add_argument("--site-dir", type=Path, metavar="DIR", help="where the static site goes (default: site)")
    build.add_argument("--cache-dir", type=Path, metavar="DIR", help="where converted queries are cached (default: .atc-cache)")
    build.add_argument("--no-site", action="store_true", help="write the Markdown pages only, do not run mkdocs")
    build.add_argument("--offline", action="store_true", help="build a site that works from the file system, without a server (air-gapped use)")
    build.add_argument("--repo-url", metavar="URL", help="http(s) URL of the rules' repository (the atc.yml folder) for \"edit this rule\" links")
    build.add_argument("--targets", metavar="LIST", help="comma-separated query languages, in page order (default: all)")
    build.add_argument("--jobs", "-j", type=int, metavar="N", help="conversion processes (default: all cores)")
    build.add_argument("--quiet", "-q", action="store_true", help="no progress output, only problems and the summary")

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
    _add_kb_options(check)
    attack = commands.add_parser("attack", help="manage the bundled MITRE ATT&CK snapshot")
    attack_commands = attack.add_subparsers(dest="attack_command", metavar="ACTION", required=True)
    update = attack_commands.add_parser(
        "update",
        help="regenerate the ATT&CK snapshot with attackcti",
        description="Rebuild the compact ATT&CK snapshot that `atc build` reads, through attackcti: from a local STIX bundle or folder (offline), or from MITRE's TAXII server when no --from-stix is given.",
    )
    update.add_argument("--from-stix", type=Path, metavar="PATH", help="an enterprise-attack STIX bundle file or folder (no network)")
    update.add_argument("--output", type=Path, metavar="PATH", help="where to write the snapshot (default: the one shipped in the package)")
    update.add_argument("--version", dest="attack_version", metavar="X.Y", help="the ATT&CK version, when the bundle does not say (e.g. 18.1)")
    return parser


def settings_from_args(args: argparse.Namespace, cwd: Path) -> Settings:
    """Defaults, then atc.yml, then the command-line options."""
    config_file = find_config(args.config, cwd)
    settings = load_config_file(config_file) if config_file else default_settings()
    changes: dict[str, object] = {}
    for option in ("rules", "data_needed", "logging_policies", "triggers"):
        value = getattr(args, option, None)
        if value:
            changes[option] = tuple(value)
    for option in ("docs_dir", "site_dir", "cache_dir"):
        value = getattr(args, option, None)
        if value is not None:
            changes[option] = value
    if getattr(args, "no_site", False):
        changes["build_site"] = False
    if getattr(args, "offline", False):
        changes["offline"] = True
    if getattr(args, "repo_url", None):
        changes["repo_url"] = args.repo_url
    if args.strict:
        changes["strict"] = True
    if getattr(args, "targets", None):
        changes["targets"] = tuple(parse_targets(args.targets))
    jobs = getattr(args, "jobs", None)
    if jobs is not None:
        if jobs < 1:
            raise ConfigError("--jobs must be at least 1")
        changes["jobs"] = jobs
    return replace(settings, **changes)


def _build(args: argparse.Namespace) -> int:
    from atc.build import run_build, summarise
    from atc.site.mkdocs_build import SiteBuildError

    settings = settings_from_args(args, Path.cwd())
    try:
        result = run_build(settings, quiet=args.quiet)
    except SiteBuildError as exc:
        print(f"atc: {exc}", file=sys.stderr)
        return 1
    summarise(result, sys.stderr, per_kind=10**9 if args.verbose else 20)
    return 1 if settings.strict and result.problems else 0


def _check(args: argparse.Namespace) -> int:
    from atc.build import print_problems
    from atc.check import run_check

    settings = settings_from_args(args, Path.cwd())
    kb = run_check(settings)
    counts = print_problems(kb.problems, sys.stderr, per_kind=10**9 if args.verbose else 20)
    print(f"check: {len(kb.rules)} rules, {len(kb.data_needed)} Data Needed, {len(kb.logging_policies)} logging policies, {len(kb.triggers)} triggers; problems: {counts}", file=sys.stderr)
    errors = any(problem.severity == "error" for problem in kb.problems)
    return 1 if errors or (settings.strict and kb.problems) else 0


def _attack_update(args: argparse.Namespace) -> int:
    from atc.attack_update import run_update
    from atc.load.attack import DEFAULT_SNAPSHOT

    return run_update(args.from_stix, args.output or DEFAULT_SNAPSHOT, args.attack_version)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        if args.command == "build":
            return _build(args)
        if args.command == "check":
            return _check(args)
        return _attack_update(args)
    except (ConfigError, UnknownTargetError) as exc:
        print(f"atc: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("atc: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
