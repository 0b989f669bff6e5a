"""`atc build`: render the knowledge base into Markdown pages and build the site."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from atc.commands.options import add_kb_options, settings_from_args
from atc.convert.targets import OPTIONAL_TARGETS, TARGETS

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


def register(commands: argparse._SubParsersAction) -> argparse.ArgumentParser:
    build = commands.add_parser(
        "build",
        help="render the knowledge base into Markdown pages and build the site",
        description="Render one Markdown page per rule, Data Needed item, logging policy and trigger into the docs folder, then build the static site with mkdocs-material.",
        epilog=BUILD_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_kb_options(build)
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
    return build


def run(args: argparse.Namespace) -> int:
    from atc.engine import run_build, summarise
    from atc.history.gitrev import GitError
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
