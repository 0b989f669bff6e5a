"""The `atc` command line."""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

from atc.config import CONFIG_NAME, ConfigError, Settings, check_paths, default_settings, find_config, load_config_file, parse_targets
from atc.convert.targets import OPTIONAL_TARGETS, TARGETS, UnknownTargetError
from atc.queries_cli import add_query_parsers, run_convert, run_verify

DESCRIPTION = """\
Turn a detection team's Sigma rules into a browsable, searchable knowledge base:
one page per rule with its ATT&CK mapping, the log data it needs (Data Needed),
the logging policy behind that data, the Atomic Red Team tests that fire it,
and the rule translated into every configured query language through pySigma.
"""

BUILD_EPILOG = (
    """\
Settings come from, in order: the built-in defaults (folders named rules,
data_needed, ... next to atc.yml, or in the current folder when only --rules
is given), an atc.yml in the current folder or given with --config
(keys: rules, data_needed, logging_policies, triggers, docs_dir, site_dir,
templates_dir, mkdocs_config, cache_dir, targets, jobs, build_site, strict,
repo_url, offline, exports, attack_snapshot, events, validators, validator_exclusions,
environments, history; paths relative to the file), then these options.

environments (atc.yml only): a mapping of name to what the environment collects,
e.g. corp: {data_needed: [DN_...], logging_policies: [LP_...], data_components:
[DC0032], log_sources: [{product: windows, service: sysmon}]}; each gets a page
of the rules it can run and those it is blind to, and a Navigator layer.

history (when the knowledge base is in git; defaults shown):
  history:
    enabled: true     # a history section per rule page, the changes page and feed
    depth: 1000       # commits read back from HEAD (one git log pass)
    revisions: 5      # per rule, the newest changes whose queries are diffed
    periods: 12       # the changes page: the last N tags, else months
    commit_url: null  # e.g. https://git.example/rules/commit/{sha}; default:
                      # derived from a GitHub or GitLab repo_url

A targets entry is a built-in key or a target of the team's own:
  - {key: splunk-ours, backend: splunk, pipelines: [splunk_windows, pipelines/fields.yml],
     format: default, options: {index: main}, language: spl, export: savedsearches}
backend: an installed pySigma backend (`sigma list targets`); pipelines: installed
names (`sigma list pipelines`) or YAML files; options: sigma-cli's -O key=value;
export: a deployable output format written to exports/<key>/ (false: none).

targets: """
    + ", ".join(t.key for t in TARGETS)
    + "; optional: "
    + ", ".join(t.key for t in OPTIONAL_TARGETS)
    + """

Without an atc.yml and without --rules, atc build stops: run `atc init` first.
A rules, Data Needed, logging policy, trigger or events path that is given but
does not exist is an error naming it.

exit status: 0 built; 1 --strict and problems were found; 2 unusable settings
(no atc.yml, a missing path).
"""
)


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


def _add_kb_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, help="an atc.yml with the settings (default: ./atc.yml when present)")
    parser.add_argument(
        "--rules", type=Path, action="append", metavar="DIR", help="a folder of Sigma rules, searched recursively (repeatable)"
    )
    parser.add_argument("--data-needed", type=Path, action="append", metavar="DIR", help="a folder of Data Needed YAML (repeatable)")
    parser.add_argument(
        "--logging-policies", type=Path, action="append", metavar="DIR", help="a folder of logging policy YAML (repeatable)"
    )
    parser.add_argument("--triggers", type=Path, action="append", metavar="DIR", help="an Atomic Red Team atomics/ folder (repeatable)")
    parser.add_argument("--strict", action="store_true", default=None, help="exit with status 1 when any problem was found")
    parser.add_argument(
        "--verbose",
        "-v",
        action="store_true",
        help="list every problem with its file; without it, 20 per kind and conversion failures as one line per target",
    )


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
    build.add_argument(
        "--no-exports", action="store_true", help="no deployable exports under exports/<target>/ (no conversions in deploy formats)"
    )
    build.add_argument(
        "--offline", action="store_true", help="build a site that works from the file system, without a server (air-gapped use)"
    )
    build.add_argument(
        "--repo-url", metavar="URL", help='http(s) URL of the rules\' repository (the atc.yml folder) for "edit this rule" links'
    )
    build.add_argument("--targets", metavar="LIST", help="comma-separated query languages, in page order (default: all)")
    build.add_argument(
        "--events", type=Path, metavar="DIR", help="example events per rule id: check the grep and SQLite queries on them (default: events)"
    )
    build.add_argument("--jobs", "-j", type=int, metavar="N", help="processes for conversion and for the site's pages (default: all cores)")
    build.add_argument("--no-history", action="store_true", help="leave out the rule history from git (history: {enabled: false})")
    build.add_argument("--quiet", "-q", action="store_true", help="no progress output, only problems and the summary")
    build.add_argument(
        "--only-changed",
        metavar="BASE",
        help="preview: pages only for the rules that differ from git revision BASE, the pages they link to and the index pages",
    )

    serve = commands.add_parser(
        "serve",
        help="build, serve the site with live reload, and rebuild what an edit affects",
        description="Build the knowledge base and its site, serve it, and watch the rules, Data Needed, logging policies, "
        "triggers, templates, atc.yml and mkdocs.yml: an edit re-renders the pages it affects, rebuilds only those HTML "
        "pages and search entries, and reloads the browser.",
        epilog=BUILD_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_kb_options(serve)
    serve.add_argument("-a", "--dev-addr", default="127.0.0.1:8000", metavar="HOST:PORT", help="where to serve (default: 127.0.0.1:8000)")
    for option in ("--docs-dir", "--site-dir", "--cache-dir"):
        serve.add_argument(option, type=Path, metavar="DIR", help=build._option_string_actions[option].help)
    serve.add_argument("--targets", metavar="LIST", help="comma-separated query languages, in page order (default: all)")
    serve.add_argument("--jobs", "-j", type=int, metavar="N", help="processes for conversion and for the site's pages (default: all cores)")

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
    check.add_argument(
        "--events", type=Path, metavar="DIR", help="example events per rule id: report event files that cannot be read (default: events)"
    )
    _add_diff_parser(commands)
    init = commands.add_parser(
        "init",
        help="write a commented atc.yml for the repository here (and its GitHub workflows)",
        description="Look through the current folder for Sigma rules, Data Needed items, logging policies and Atomic Red Team "
        "atomics, and write a commented atc.yml naming them (with an example rule when there is none). With --workflows, "
        "also write .github/workflows/ (pull-request check, report comment, GitHub Pages) that install atc from a pinned checkout.",
        epilog="exit status: 0 written; 1 atc.yml (or a workflow) exists and --force was not given.",
    )
    init.add_argument("--force", action="store_true", help="overwrite an existing atc.yml and workflows")
    init.add_argument("--workflows", action="store_true", help="also write the GitHub workflows into .github/workflows/")
    init.add_argument(
        "--atc-repo",
        default="your-org/atc",
        metavar="OWNER/NAME",
        help="the GitHub repository the workflows install atc from (default: your-org/atc)",
    )
    init.add_argument(
        "--atc-ref", default="main", metavar="REF", help="the tag or commit of atc the workflows install (default: main; pin a tag)"
    )
    add_query_parsers(commands)
    attack = commands.add_parser("attack", help="manage the bundled MITRE ATT&CK snapshot")
    attack_commands = attack.add_subparsers(dest="attack_command", metavar="ACTION", required=True)
    update = attack_commands.add_parser(
        "update",
        help="regenerate the ATT&CK snapshot with attackcti",
        description="Rebuild the compact ATT&CK snapshot that `atc build` reads, through attackcti: from a local STIX bundle or folder (offline), or from MITRE's TAXII server when no --from-stix is given.",
    )
    update.add_argument("--from-stix", type=Path, metavar="PATH", help="an enterprise-attack STIX bundle file or folder (no network)")
    update.add_argument("--output", type=Path, metavar="PATH", help="where to write the snapshot (default: the one shipped in the package)")
    update.add_argument(
        "--version", dest="attack_version", metavar="X.Y", help="the ATT&CK version, when the bundle does not say (e.g. 18.1)"
    )
    return parser


def settings_from_args(args: argparse.Namespace, cwd: Path) -> Settings:
    """Defaults, then atc.yml, then the command-line options."""
    config_file = find_config(args.config, cwd)
    if config_file is None and not getattr(args, "rules", None):
        raise ConfigError(f"no {CONFIG_NAME} in {cwd} and no --rules: run `atc init` to write one for this repository, or give --rules DIR")
    settings = load_config_file(config_file) if config_file else default_settings(cwd)
    changes: dict[str, object] = {}
    for option in ("rules", "data_needed", "logging_policies", "triggers"):
        value = getattr(args, option, None)
        if value:
            changes[option] = tuple(value)
    for option in ("docs_dir", "site_dir", "cache_dir", "events"):
        value = getattr(args, option, None)
        if value is not None:
            changes[option] = value
    if getattr(args, "no_exports", False):
        changes["exports"] = False
    if getattr(args, "no_site", False):
        changes["build_site"] = False
    if getattr(args, "offline", False):
        changes["offline"] = True
    if getattr(args, "no_history", False):
        changes["history"] = replace(settings.history, enabled=False)
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
    return check_paths(replace(settings, **changes, given=settings.given | set(changes)))


def _build(args: argparse.Namespace) -> int:
    from atc.build import run_build, summarise
    from atc.gitrev import GitError
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


def _serve(args: argparse.Namespace) -> int:
    from atc.site.serve import serve

    cwd = Path.cwd()
    return serve(lambda: settings_from_args(args, cwd), args.dev_addr, find_config(args.config, cwd), verbose=args.verbose)


def _check(args: argparse.Namespace) -> int:
    from atc.build import print_problems
    from atc.check import run_check
    from atc.validator_sets import chosen_sets

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


DIFF_EPILOG = """\
The repository is the git working tree holding the current folder. Each side is
read with its own atc.yml (./atc.yml or --config, at the same path in the
revision) or, without one, the default folders (rules, data_needed,
logging_policies, triggers) at the repository's top. Nothing is checked out.
Only rules whose text differs are converted, so a small change on a large
repository reports in seconds.

The report: rules added, removed, moved or renamed (matched by Sigma id, or by
text when a rule has none) and changed (the fields that differ, a unified diff
of each target's query), conversions newly failing or working, new and fixed
problems (`atc check`), ATT&CK techniques newly covered or uncovered, and Data
Needed and triggers newly linked or no longer linked.

examples:
  atc diff origin/main                 # origin/main against the working tree
  atc diff v1.0 v1.1 --format json     # two revisions, for machines
  atc diff origin/main --output diff.md --targets splunk,kusto

exit status: 0 report written; 2 unknown revision, not a git repository or
unusable settings.
"""


def _add_diff_parser(commands: argparse._SubParsersAction) -> None:
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
        "--targets", metavar="LIST", help="comma-separated query languages to compare (default: the configured ones, else all)"
    )
    diff.add_argument("--config", type=Path, help="the atc.yml, inside the repository (default: ./atc.yml when present)")
    diff.add_argument("--jobs", "-j", type=int, metavar="N", help="processes for parsing and converting (default: all cores)")


def _diff(args: argparse.Namespace) -> int:
    import time

    from atc.convert.team_targets import configured_targets
    from atc.diff import run_diff
    from atc.gitrev import GitError, repo_top
    from atc.render.diff_report import to_json, to_markdown
    from atc.resources import templates_dir
    from atc.revision import config_rel, working_tree

    started = time.perf_counter()
    cwd = Path.cwd()
    try:
        top = repo_top(cwd)
        config = config_rel(find_config(args.config, cwd), top)
        settings = working_tree(top, config).settings
        targets = configured_targets(
            parse_targets(args.targets) if args.targets else settings.targets, settings.target_entries, settings.base_dir
        )
        if args.jobs is not None and args.jobs < 1:
            raise ConfigError("--jobs must be at least 1")
        report = run_diff(cwd, args.base, args.head, config, targets, args.jobs or settings.jobs)
    except GitError as exc:
        print(f"atc: {exc}", file=sys.stderr)
        return 2
    text = to_json(report) if args.format == "json" else to_markdown(report, templates_dir())
    if args.output:
        args.output.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    summary = f"{len(report.added)} added, {len(report.changed)} changed, {len(report.renamed)} moved, {len(report.removed)} removed"
    print(f"diff: {report.base} → {report.head}: {summary} in {time.perf_counter() - started:.2f} s", file=sys.stderr)
    return 0


def _init(args: argparse.Namespace) -> int:
    from atc.init import run_init

    messages: list[str] = []
    status = run_init(Path.cwd(), args.force, args.workflows, args.atc_repo, args.atc_ref, messages)
    for line in messages:
        print(f"atc init: {line}", file=sys.stderr)
    return status


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
        if args.command == "serve":
            return _serve(args)
        if args.command == "diff":
            return _diff(args)
        if args.command == "init":
            return _init(args)
        if args.command == "convert":
            return run_convert(args)
        if args.command == "verify":
            return run_verify(args)
        return _attack_update(args)
    except (ConfigError, UnknownTargetError) as exc:
        print(f"atc: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("atc: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
