"""Build settings: defaults for the embedded knowledge base, an optional `atc.yml`, then command-line options."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import yaml

from atc.model import Environment, LogSource

REPO_ROOT = Path(__file__).resolve().parent.parent
CONFIG_NAME = "atc.yml"


class ConfigError(Exception):
    """The configuration file or an option is unusable; the message says what to fix."""


OptionValue = str | int | tuple[str | int, ...]


@dataclass(frozen=True)
class TargetEntry:
    """A team's own target from atc.yml: an installed pySigma backend with its pipelines, format and options."""

    key: str
    backend: str  # sigma-cli's backend identifier (`sigma list targets`)
    pipelines: tuple[str, ...] = ()  # installed pipeline names or YAML files relative to atc.yml, as sigma-cli's -p
    format: str = "default"
    options: tuple[tuple[str, OptionValue], ...] = ()  # sigma-cli's -O key=value, as sigma-cli passes them
    language: str = "text"  # code-block language
    label: str = ""
    export: str | None = None  # deployable output format for exports/<key>/ (None: the backend's usual one, "": none)


TARGET_ENTRY_KEYS = ("key", "backend", "pipelines", "format", "options", "language", "label", "export")
TARGET_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*\Z")


@dataclass(frozen=True)
class HistorySettings:
    """`history:` in atc.yml: what the rule pages, the changes page and rules.json show of the git history, and what it may cost."""

    enabled: bool = True  # false: no history section, changes page, feed or dates (a folder outside git is skipped anyway)
    depth: int = 1000  # commits read back from HEAD, in one `git log` pass
    revisions: int = 5  # per rule, the newest changes whose queries are converted (with today's targets) and diffed
    periods: int = 12  # the changes page: the last N tags, or months when the repository has no tags
    commit_url: str | None = None  # a commit's web page, "{sha}" replaced; default: derived from repo_url (GitHub, GitLab)


@dataclass(frozen=True)
class Settings:
    rules: tuple[Path, ...]
    data_needed: tuple[Path, ...]
    logging_policies: tuple[Path, ...]
    triggers: tuple[Path, ...]
    docs_dir: Path
    site_dir: Path
    templates_dir: Path
    mkdocs_config: Path
    cache_dir: Path
    targets: tuple[str, ...] | None = None  # None: the registry's defaults
    target_entries: tuple[TargetEntry, ...] = ()  # the team's own targets defined in atc.yml (selected by key in targets)
    jobs: int = field(default_factory=lambda: os.cpu_count() or 1)
    build_site: bool = True
    strict: bool = False
    repo_url: str | None = None  # for "edit this rule" links: the URL of base_dir in the team's repository
    offline: bool = False  # build a site usable from the file system (mkdocs-material's offline plugin)
    exports: bool = True  # deployable exports per target under exports/<target>/ (a conversion per rule in each deploy format)
    base_dir: Path = REPO_ROOT  # the folder of atc.yml; "edit this rule" paths are relative to it (not an atc.yml key)
    attack_snapshot: Path | None = None  # None: the snapshot shipped in the package
    validator_exclusions: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (rule id, pySigma validators `atc check` skips for it)
    events: Path | None = None  # example events per rule id (atc verify); grep and SQLite queries are checked when it exists
    environments: tuple[Environment, ...] = ()  # the team's environments and what each collects (rule pages say where rules run)
    given: frozenset[str] = (
        frozenset()
    )  # settings given in atc.yml or as options: a missing path among them is an error (not an atc.yml key)
    history: HistorySettings = HistorySettings()  # rule history from git
    validators: tuple[str, ...] = ("pysigma",)  # validator sets `atc check` runs: pysigma (pySigma's own), sigmahq, ...


_PATH_LISTS = ("rules", "data_needed", "logging_policies", "triggers")
_PATHS = ("docs_dir", "site_dir", "templates_dir", "mkdocs_config", "cache_dir", "attack_snapshot", "events")


def default_settings(root: Path = REPO_ROOT) -> Settings:
    """The embedded default knowledge base of the repository."""
    return Settings(
        rules=(root / "rules",),
        data_needed=(root / "data_needed",),
        logging_policies=(root / "logging_policies",),
        triggers=(root / "triggers",),
        docs_dir=root / "docs",
        site_dir=root / "site",
        templates_dir=root / "templates",  # the team's template overrides (atc's own templates are used for the rest)
        mkdocs_config=root / "mkdocs.yml",
        cache_dir=root / ".atc-cache",
        base_dir=root,
        events=root / "events",
    )


def _as_paths(value: Any, key: str, base: Path) -> tuple[Path, ...]:
    items = value if isinstance(value, list) else [value]
    if not all(isinstance(item, str) for item in items):
        raise ConfigError(f"'{key}' must be a folder path or a list of folder paths")
    return tuple(base / item for item in items)


def load_config_file(path: Path) -> Settings:
    """Settings from an atc.yml; its paths are relative to the file's folder, as are the defaults it leaves out."""
    base = default_settings(path.parent)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read configuration: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the configuration must be a mapping of settings")
    known = {f.name for f in fields(Settings)} - {"base_dir", "given", "target_entries"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"{path}: unknown setting(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    folder = path.parent
    changes: dict[str, Any] = {}
    for key, value in data.items():
        if key in _PATH_LISTS:
            changes[key] = _as_paths(value, key, folder)
        elif key in _PATHS:
            if not isinstance(value, str):
                raise ConfigError(f"{path}: '{key}' must be a path")
            changes[key] = folder / value
        elif key == "targets":
            changes[key], changes["target_entries"] = _targets(value, path)
        elif key == "validators":
            changes[key] = _name_list(value, f"{path}: 'validators' must be a list of validator set names (pysigma, sigmahq, ...)")
        elif key == "jobs":
            changes[key] = _positive_int(value, f"{path}: 'jobs'")
        elif key == "validator_exclusions":
            changes[key] = _exclusions(value, path)
        elif key == "environments":
            changes[key] = environments(value, path)
        elif key == "history":
            changes[key] = _history(value, path)
        elif key in ("build_site", "strict", "offline", "exports"):
            if not isinstance(value, bool):
                raise ConfigError(f"{path}: '{key}' must be true or false")
            changes[key] = value
        else:
            changes[key] = str(value)
    return replace(base, **changes, given=frozenset(changes))


def _exclusions(value: Any, path: Path) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """A mapping of rule id to the pySigma validator names to skip for that rule."""
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, list) and all(isinstance(name, str) for name in v) for k, v in value.items()
    ):
        raise ConfigError(f"{path}: 'validator_exclusions' must map rule ids to lists of pySigma validator names")
    return tuple(sorted((rule_id, tuple(sorted(names))) for rule_id, names in value.items()))


_ENVIRONMENT_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
_ENVIRONMENT_KEYS = ("title", "data_needed", "logging_policies", "data_components", "log_sources")
_LOGSOURCE_KEYS = ("product", "service", "category")


def environments(value: Any, path: Path) -> tuple[Environment, ...]:
    """`environments:` a mapping of environment name to what it collects (Data Needed, logging policies, data components, log sources)."""
    if not isinstance(value, dict):
        raise ConfigError(f"{path}: 'environments' must map environment names to what each collects ({', '.join(_ENVIRONMENT_KEYS)})")
    found = []
    for name, spec in value.items():
        where = f"{path}: environment {name!r}"
        if not isinstance(name, str) or not _ENVIRONMENT_NAME.fullmatch(name):
            raise ConfigError(f"{where}: a name is letters, digits, '-' and '_' (it names the page); put other text in 'title'")
        spec = spec or {}
        if not isinstance(spec, dict) or set(spec) - set(_ENVIRONMENT_KEYS):
            raise ConfigError(f"{where} may only set {', '.join(_ENVIRONMENT_KEYS)}")
        lists = {key: _names(spec.get(key), f"{where}: '{key}'") for key in ("data_needed", "logging_policies", "data_components")}
        title = spec.get("title", name)
        if not isinstance(title, str):
            raise ConfigError(f"{where}: 'title' must be text")
        found.append(Environment(name, title, log_sources=_log_sources(spec.get("log_sources"), where), **lists))
    return tuple(found)


def _names(value: Any, what: str) -> tuple[str, ...]:
    """A list of ids (or one id), as a tuple without repeats."""
    items = [] if value is None else [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
        raise ConfigError(f"{what} must be a list of ids")
    return tuple(dict.fromkeys(items))


def _log_sources(value: Any, where: str) -> tuple[LogSource, ...]:
    """Sigma log sources: mappings of product / service / category (a part left out matches any)."""
    items = [] if value is None else value
    if not isinstance(items, list) or not all(
        isinstance(item, dict) and item and set(item) <= set(_LOGSOURCE_KEYS) and all(isinstance(v, str) for v in item.values())
        for item in items
    ):
        raise ConfigError(f"{where}: 'log_sources' must be a list of mappings of {', '.join(_LOGSOURCE_KEYS)}")
    return tuple(LogSource(**item) for item in items)


def _history(value: Any, path: Path) -> HistorySettings:
    """The `history:` mapping: enabled, depth, revisions, periods, commit_url."""
    if not isinstance(value, dict):
        raise ConfigError(f"{path}: 'history' must be a mapping (keys: {', '.join(f.name for f in fields(HistorySettings))})")
    known = [f.name for f in fields(HistorySettings)]
    unknown = sorted(str(key) for key in value if key not in known)
    if unknown:
        raise ConfigError(f"{path}: unknown history setting(s) {', '.join(unknown)}; known: {', '.join(known)}")
    changes: dict[str, Any] = {}
    for key, item in value.items():
        if key == "enabled":
            if not isinstance(item, bool):
                raise ConfigError(f"{path}: 'history.enabled' must be true or false")
            changes[key] = item
        elif key == "commit_url":
            if item is not None and (not isinstance(item, str) or "{sha}" not in item):
                raise ConfigError(f"{path}: 'history.commit_url' must be a URL containing {{sha}}")
            changes[key] = item
        elif key == "revisions" and item == 0:
            changes[key] = 0  # no query diffs
        else:
            changes[key] = _positive_int(item, f"{path}: 'history.{key}'")
    return replace(HistorySettings(), **changes)


def _name_list(value: Any, message: str) -> tuple[str, ...]:
    """A non-empty list of names."""
    if not isinstance(value, list) or not value or not all(isinstance(item, str) and item.strip() for item in value):
        raise ConfigError(message)
    return tuple(item.strip() for item in value)


def _targets(value: Any, path: Path) -> tuple[tuple[str, ...], tuple[TargetEntry, ...]]:
    """The target keys in page order, and the team's own target definitions among them."""
    if not isinstance(value, list):
        return tuple(parse_targets(value)), ()
    keys: list[str] = []
    entries: list[TargetEntry] = []
    for number, item in enumerate(value, 1):
        if isinstance(item, dict):
            entries.append(target_entry(item, f"{path}: targets entry {number}"))
            keys.append(entries[-1].key)
        elif isinstance(item, str) and item.strip():
            keys.append(item.strip())
        else:
            raise ConfigError(f"{path}: targets entry {number} must be a target key or a mapping with key and backend")
    duplicates = sorted({key for key in keys if keys.count(key) > 1})
    if duplicates:
        raise ConfigError(f"{path}: target(s) {', '.join(duplicates)} listed more than once")
    return tuple(keys), tuple(entries)


def target_entry(item: dict, where: str) -> TargetEntry:
    """One team target mapping, checked for shape (whether its backend, format and pipelines exist is checked on use)."""
    unknown = sorted(str(k) for k in set(item) - set(TARGET_ENTRY_KEYS))
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)}; known: {', '.join(TARGET_ENTRY_KEYS)}")
    for required in ("key", "backend"):
        if not isinstance(item.get(required), str) or not item[required].strip():
            raise ConfigError(f"{where}: '{required}' is required (a name)")
    key = item["key"].strip()
    where = f"{where} ({key})"
    if not TARGET_KEY.match(key):
        raise ConfigError(f"{where}: 'key' may hold only letters, digits, '.', '_' and '-'")
    pipelines = item.get("pipelines", [])
    if isinstance(pipelines, str):
        pipelines = [pipelines]
    if not isinstance(pipelines, list) or not all(isinstance(p, str) and p.strip() for p in pipelines):
        raise ConfigError(f"{where}: 'pipelines' must be a list of pipeline names or YAML file paths")
    for name in ("format", "language", "label"):
        if name in item and not (isinstance(item[name], str) and item[name].strip()):
            raise ConfigError(f"{where}: '{name}' must be a name")
    if "language" in item and not TARGET_KEY.match(item["language"].strip()):
        raise ConfigError(f"{where}: 'language' must be a name (a code-block language: letters, digits, '.', '_', '-')")
    export = item.get("export")
    if export is not None and export is not False and not (isinstance(export, str) and export.strip()):
        raise ConfigError(f"{where}: 'export' must be an output format of the backend, or false for none")
    return TargetEntry(
        key=key,
        backend=item["backend"].strip(),
        pipelines=tuple(p.strip() for p in pipelines),
        format=str(item.get("format", "default")).strip(),
        options=_options(item.get("options") or {}, where),
        language=str(item.get("language", "text")).strip(),
        label=str(item.get("label", "")).strip(),
        export="" if export is False else (export.strip() if isinstance(export, str) else None),
    )


def _option_value(value: Any) -> str | int | None:
    """A value as sigma-cli's -O key=value passes it: a whole number when it reads as one, else the text."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        return None
    try:
        return int(str(value))
    except ValueError:
        return str(value)


def _options(value: Any, where: str) -> tuple[tuple[str, OptionValue], ...]:
    """Backend options (-O key=value): text or whole-number values, or lists of them (a key given several times)."""
    message = f"{where}: 'options' must map option names to text or whole numbers (or lists of them), as sigma-cli's -O key=value"
    if not isinstance(value, dict):
        raise ConfigError(message)
    options: list[tuple[str, OptionValue]] = []
    for name, raw in sorted(value.items(), key=lambda kv: str(kv[0])):
        items = raw if isinstance(raw, list) else [raw]
        converted = [_option_value(v) for v in items]
        if not isinstance(name, str) or not TARGET_KEY.match(name) or not converted or any(v is None for v in converted):
            raise ConfigError(message)
        options.append((name, tuple(converted) if len(converted) > 1 else converted[0]))  # type: ignore[arg-type]  # one value: as sigma-cli
    return tuple(options)


def parse_targets(value: Any) -> list[str]:
    """Targets from a comma-separated string or a list."""
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
        raise ConfigError("targets must be a comma-separated list of target keys")
    return [item.strip() for item in items if item.strip()]


def _positive_int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{what} must be a whole number of at least 1")
    return value


class MissingPathError(ConfigError):
    """A rules or data path that was given does not exist."""


# settings naming inputs that must exist when given; the rule folders must exist even when left to their default
_INPUTS = ("rules", "data_needed", "logging_policies", "triggers", "templates_dir", "mkdocs_config", "attack_snapshot", "events")


def check_paths(settings: Settings) -> Settings:
    """The settings with missing default input folders dropped; a missing path that was given (or a missing rules folder) is an error."""
    changes: dict[str, Any] = {}
    for key in _INPUTS:
        value = getattr(settings, key)
        paths = value if isinstance(value, tuple) else (value,) if value is not None else ()
        missing = [path for path in paths if not path.exists()]
        if missing and (key in settings.given or key == "rules"):
            where = "atc.yml or the options" if key in settings.given else "the default, as atc.yml does not set it"
            raise MissingPathError(f"{missing[0]}: {key.replace('_', ' ')} path not found ({where}); fix the path or create it")
        if missing and isinstance(value, tuple):
            changes[key] = tuple(path for path in value if path.exists())
    return replace(settings, **changes)


def find_config(explicit: Path | None, cwd: Path) -> Path | None:
    """The atc.yml to use: the one given, else one in the current folder, else none."""
    if explicit is not None:
        if not explicit.is_file():
            raise ConfigError(f"{explicit}: configuration file not found")
        return explicit
    candidate = cwd / CONFIG_NAME
    return candidate if candidate.is_file() else None
