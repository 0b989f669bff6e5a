"""Options and settings shared by the commands that read a knowledge base: defaults, then atc.yml, then the options."""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

from atc.settings import CONFIG_NAME, ConfigError, Settings, check_paths, default_settings, find_config, load_config_file, parse_targets


def add_kb_options(parser: argparse.ArgumentParser) -> None:
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
