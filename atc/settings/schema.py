"""Every setting declared once: its atc.yml key, type, default, help and command-line options; atc.yml is read through it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from atc.common.yaml_reader import read_documents
from atc.kinds import Kind, folder_kinds
from atc.model import Environment
from atc.settings.model import REPO_ROOT, SETTINGS_FIELDS, ConfigError, HistorySettings, Settings, kind_keys, merged
from atc.settings.values import (
    TARGET_KEY,
    BackendOptions,
    Bool,
    Exclusions,
    Export,
    Ids,
    LogSources,
    Mapping,
    Name,
    Named,
    NameList,
    Option,
    PathList,
    PathValue,
    Setting,
    Targets,
    Text,
    Url,
    Where,
    WholeNumber,
    refuse_unknown,
)

KB_COMMANDS = ("build", "serve", "check")  # the commands that read the whole knowledge base
SETTINGS_COMMANDS = (*KB_COMMANDS, "diff", "verify")  # every command that reads settings


HISTORY = (
    Setting("enabled", Bool(), "a history section per rule page, the changes page and feed"),
    Setting("depth", WholeNumber(), "commits read back from HEAD (one git log pass)"),
    Setting("revisions", WholeNumber(minimum=0), "per rule, the newest changes whose queries are diffed (0: none)"),
    Setting("periods", WholeNumber(), "the changes page: the last N tags, else months"),
    Setting(
        "commit_url",
        Url("{sha}", optional=True),
        "a commit's web page, e.g. https://git.example/rules/commit/{sha}",
        shown="derived from a GitHub or GitLab repo_url",
    ),
)

ENVIRONMENT = (
    Setting("title", Text(), "the page title", shown="the name"),
    Setting("data_needed", Ids(), "Data Needed ids collected"),
    Setting("logging_policies", Ids(), "logging policies switched on (an item whose policies all are is collected)"),
    Setting("data_components", Ids(), "ATT&CK data component ids collected (DC0032, ...)"),
    Setting(
        "log_sources", LogSources(), "Sigma log sources collected: mappings of product, service, category (a part left out matches any)"
    ),
)


def _environment(name: str, title: str | None = None, **collects: tuple) -> Environment:
    return Environment(name, title if title is not None else name, **collects)


TARGET_ENTRY = (
    Setting(
        "key",
        Name(TARGET_KEY, "may hold only letters, digits, '.', '_' and '-'"),
        "its name in targets lists and on the pages (letters, digits, '.', '_', '-')",
        required=True,
    ),
    Setting("backend", Name(), "an installed pySigma backend (`sigma list targets`)", required=True),
    Setting(
        "pipelines",
        NameList("pipeline names or YAML file paths", single=True, empty=True),
        "installed pipeline names (`sigma list pipelines`) or YAML files relative to atc.yml",
    ),
    Setting("format", Name(), "the backend's output format"),
    Setting("options", BackendOptions(), "backend options, as sigma-cli's -O key=value"),
    Setting(
        "language",
        Name(TARGET_KEY, "must be a name (a code-block language: letters, digits, '.', '_', '-')"),
        "the code-block language on the pages",
    ),
    Setting("label", Name(), "the tab's title", shown="the key"),
    Setting("export", Export(), "a deployable output format written to exports/<key>/ (false: none)", shown="the backend's usual one"),
)


def _kind_setting(key: str, kind: Kind) -> Setting:
    """The folders an entity kind is read from (`Kind.settings_key`; default: a folder of that name), with its --KEY DIR option."""
    text = kind.folder_help or f"a folder of {key.replace('_', ' ')} YAML"
    commands = (*KB_COMMANDS, "verify") if key == "rules" else KB_COMMANDS
    flag = f"--{key.replace('_', '-')}"
    return Setting(key, PathList(), f"{text} (or a list of them)", key, (Option((flag,), commands, f"{text} (repeatable)", "DIR"),))


_BUILD_SERVE = ("build", "serve")

_OTHERS = (
    Setting(
        "docs_dir",
        PathValue(),
        "where the Markdown pages go",
        "docs",
        (Option(("--docs-dir",), _BUILD_SERVE, "where the Markdown pages go", "DIR"),),
    ),
    Setting(
        "site_dir",
        PathValue(),
        "where the static site goes",
        "site",
        (Option(("--site-dir",), _BUILD_SERVE, "where the static site goes", "DIR"),),
    ),
    Setting("templates_dir", PathValue(), "the team's template overrides (atc's own are used for the rest)", "templates"),
    Setting("mkdocs_config", PathValue(), "the mkdocs.yml the site is built with", "mkdocs.yml"),
    Setting(
        "cache_dir",
        PathValue(),
        "where converted queries are cached",
        ".atc-cache",
        (Option(("--cache-dir",), _BUILD_SERVE, "where converted queries are cached", "DIR"),),
    ),
    Setting(
        "targets",
        Targets(TARGET_ENTRY),
        "query languages in page order: built-in keys or the team's own targets (below)",
        shown="all",
        options=(
            Option(("--targets",), _BUILD_SERVE, "comma-separated query languages, in page order", "LIST"),
            Option(
                ("--targets",), ("diff",), "comma-separated query languages to compare (default: the configured ones, else all)", "LIST"
            ),
            Option(
                ("--targets",),
                ("verify",),
                "comma-separated runnable targets: grep, sqlite, powershell (simulated); default: atc.yml's targets that can run here, else grep,sqlite",
                "LIST",
            ),
        ),
        example=(
            "targets: [splunk, {key: splunk-ours, backend: splunk, pipelines: [splunk_windows, pipelines/fields.yml],",
            "          format: default, options: {index: main}, language: spl, export: savedsearches}]",
        ),
    ),
    Setting(
        "jobs",
        WholeNumber(),
        "processes for conversion and for the site's pages",
        shown="all cores",
        options=(
            Option(("--jobs", "-j"), _BUILD_SERVE, "processes for conversion and for the site's pages", "N"),
            Option(("--jobs", "-j"), ("diff",), "processes for parsing and converting (default: all cores)", "N"),
            Option(("--jobs", "-j"), ("verify",), "conversion processes (default: 1, or atc.yml's jobs)", "N"),
        ),
    ),
    Setting(
        "build_site",
        Bool(),
        "build the static site with mkdocs (false: the Markdown pages only)",
        True,
        (Option(("--no-site",), ("build",), "write the Markdown pages only, do not run mkdocs", sets=False),),
    ),
    Setting(
        "strict",
        Bool(),
        "exit with status 1 when any problem was found",
        False,
        (
            Option(("--strict",), ("build", "check"), "exit with status 1 when any problem was found", sets=True),
            Option(
                ("--strict",),
                ("serve",),
                "fail a site build on any mkdocs warning (a rebuild keeps the last good site served)",
                sets=True,
            ),
        ),
    ),
    Setting(
        "repo_url",
        Url(),
        'http(s) URL of the rules\' repository (the atc.yml folder) for "edit this rule" links',
        shown="none",
        options=(
            Option(
                ("--repo-url",), ("build",), 'http(s) URL of the rules\' repository (the atc.yml folder) for "edit this rule" links', "URL"
            ),
        ),
    ),
    Setting(
        "offline",
        Bool(),
        "build a site that works from the file system, without a server (air-gapped use)",
        False,
        (Option(("--offline",), ("build",), "build a site that works from the file system, without a server (air-gapped use)", sets=True),),
    ),
    Setting(
        "exports",
        Bool(),
        "deployable exports under exports/<target>/ (a conversion per rule in each deploy format)",
        True,
        (
            Option(
                ("--no-exports",),
                ("build",),
                "no deployable exports under exports/<target>/ (no conversions in deploy formats)",
                sets=False,
            ),
        ),
    ),
    Setting("attack_snapshot", PathValue(), "an ATT&CK snapshot file (`atc attack update` writes one)", shown="the one shipped with atc"),
    Setting(
        "events",
        PathValue(),
        "example events per rule id: the grep and SQLite queries are checked on them",
        "events",
        (
            Option(("--events",), ("build",), "example events per rule id: check the grep and SQLite queries on them", "DIR"),
            Option(("--events",), ("check",), "example events per rule id: report event files that cannot be read", "DIR"),
            Option(("--events",), ("verify",), "the events folder, one folder per rule id (default: atc.yml's events)", "DIR"),
        ),
    ),
    Setting(
        "validators",
        NameList("validator set names (pysigma, sigmahq, ...)"),
        "validator sets `atc check` runs: pysigma (pySigma's own), sigmahq, or another installed plugin",
        ["pysigma"],
    ),
    Setting("validator_exclusions", Exclusions(), "rule id -> pySigma validator names `atc check` skips for that rule", {}, shown="none"),
    Setting(
        "environments",
        Named(ENVIRONMENT, _environment, "environment names to what each collects"),
        "the team's environments: name -> what each collects (below); each gets a page of the rules it can run and "
        "those it is blind to, and a Navigator layer",
        {},
        shown="none",
        example=(
            "environments: {corp: {data_needed: [DN_...], data_components: [DC0032],",
            "                      log_sources: [{product: windows, service: sysmon}]}}",
        ),
    ),
    Setting(
        "history",
        Mapping(HISTORY, HistorySettings),
        "what rule pages show of the git history, and what it may cost (below)",
        {},
        (
            Option(
                ("--no-history",),
                ("build",),
                "leave out the rule history from git (history: {enabled: false})",
                sets=False,
                key="history.enabled",
            ),
        ),
    ),
)


def schema() -> tuple[Setting, ...]:
    """Every setting: the registered entity kinds' folders first (from atc/kinds.py), then the rest."""
    return (*(_kind_setting(key, kind) for key, kind in folder_kinds().items()), *_OTHERS)


def default_settings(root: Path = REPO_ROOT) -> Settings:
    """The settings when atc.yml sets nothing: each setting's default, its paths relative to `root` (a folder per kind, docs, ...)."""
    values: dict[str, Any] = {}
    for setting in schema():
        if setting.default is not None:
            values.update(setting.value.fields(setting.key, setting.value.parse(setting.default, Where(setting.key, folder=root))))
    folders = {key: values.pop(key) for key in kind_keys() if key not in SETTINGS_FIELDS}
    return Settings(**values, base_dir=root, kind_folders=tuple(sorted(folders.items())))


def load_config_file(path: Path) -> Settings:
    """Settings from an atc.yml; its paths are relative to the file's folder, as are the defaults it leaves out."""
    try:
        documents, repeated = read_documents(path.read_text(encoding="utf-8"))
        data = documents[0] or {}
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        raise ConfigError(f"{where}: not valid YAML: {exc.problem or exc.context}; fix the syntax at this line") from exc
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read configuration: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the configuration must be a mapping of settings")
    if repeated:  # YAML would keep the last silently: which one the author meant is not atc's guess
        raise ConfigError("\n".join(f"{path}:{line}: {key!r} is set again in the same mapping; keep one" for key, line in repeated))
    entries = {entry.key: entry for entry in schema()}
    where = Where("", path, path.parent)
    problems: list[str] = []  # every wrong key at once, as mkdocs reports its configuration errors
    changes: dict[str, Any] = {}
    try:
        refuse_unknown(data, tuple(entries), where)
    except ConfigError as exc:
        problems.append(str(exc))
    for key, raw in data.items():
        value = entries[key].value if key in entries else None
        try:
            changes.update(value.fields(key, value.parse(raw, where.child(key))) if value else {})
        except ConfigError as exc:
            problems.append(str(exc))
    if problems:
        raise ConfigError("\n".join(problems))
    return merged(default_settings(path.parent), changes)
