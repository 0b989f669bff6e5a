"""What the settings are: the Settings dataclasses, the embedded defaults, and the checks made once they are merged."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from atc.kinds import folder_kinds
from atc.model import Environment

REPO_ROOT = Path(__file__).resolve().parents[2]
CONFIG_NAME = "atc.yml"


class ConfigError(Exception):
    """The configuration file or an option is unusable; the message says what to fix."""


class MissingPathError(ConfigError):
    """A rules or data path that was given does not exist."""


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
    """One build's settings. What each atc.yml key and option sets, and its default, is declared in atc/settings/schema.py."""

    rules: tuple[Path, ...]
    data_needed: tuple[Path, ...]
    logging_policies: tuple[Path, ...]
    triggers: tuple[Path, ...]
    docs_dir: Path
    site_dir: Path
    templates_dir: Path  # the team's template overrides (atc's own templates are used for the rest)
    mkdocs_config: Path
    cache_dir: Path
    build_site: bool
    strict: bool
    offline: bool  # build a site usable from the file system (mkdocs-material's offline plugin)
    exports: bool  # deployable exports per target under exports/<target>/ (a conversion per rule in each deploy format)
    events: Path | None  # example events per rule id (atc verify); grep and SQLite queries are checked when it exists
    validators: tuple[str, ...]  # validator sets `atc check` runs: pysigma (pySigma's own), sigmahq, ...
    validator_exclusions: tuple[tuple[str, tuple[str, ...]], ...]  # (rule id, pySigma validators `atc check` skips for it)
    environments: tuple[Environment, ...]  # the team's environments and what each collects (rule pages say where rules run)
    history: HistorySettings  # rule history from git
    base_dir: Path  # the folder of atc.yml; "edit this rule" paths are relative to it (not an atc.yml key)
    targets: tuple[str, ...] | None = None  # None: the registry's defaults
    target_entries: tuple[TargetEntry, ...] = ()  # the team's own targets defined in atc.yml (selected by key in targets)
    jobs: int = field(default_factory=lambda: os.cpu_count() or 1)
    repo_url: str | None = None  # for "edit this rule" links: the URL of base_dir in the team's repository
    attack_snapshot: Path | None = None  # None: the snapshot shipped in the package
    given: frozenset[str] = frozenset()  # keys given in atc.yml or as options: a missing path among them is an error
    kind_folders: tuple[tuple[str, tuple[Path, ...]], ...] = ()  # folders of registered kinds that have no field above

    def folders(self, key: str) -> tuple[Path, ...]:
        """The folders an entity kind is read from, by its settings key (`Kind.settings_key`)."""
        if key in SETTINGS_FIELDS:
            return getattr(self, key)
        return dict(self.kind_folders).get(key, ())

    def not_rules(self) -> tuple[Path, ...]:
        """What may lie inside a rule folder but holds no rule: the other kinds' folders, atc.yml, the outputs, the team's
        templates, mkdocs.yml, events, ATT&CK snapshot and pipeline files (a team's `rules: .` or its Data Needed under
        its rule folder)."""
        folders = [path for key in kind_keys() if key != "rules" for path in self.folders(key)]
        pipelines = [self.base_dir / spec for entry in self.target_entries for spec in entry.pipelines if (self.base_dir / spec).exists()]
        singles = [self.docs_dir, self.site_dir, self.cache_dir, self.templates_dir, self.mkdocs_config, self.events, self.attack_snapshot]
        return tuple(path for path in (*folders, *singles, *pipelines, self.base_dir / CONFIG_NAME) if path is not None)

    def with_folders(self, key: str, paths: tuple[Path, ...]) -> Settings:
        """These settings with a kind's folders replaced."""
        if key in SETTINGS_FIELDS:
            return replace(self, **{key: paths})
        return replace(self, kind_folders=tuple(sorted({**dict(self.kind_folders), key: paths}.items())))


SETTINGS_FIELDS = frozenset(Settings.__dataclass_fields__)


def kind_keys() -> tuple[str, ...]:
    """The settings keys of the registered entity kinds read from folders (rules, data_needed, ...), in registry order."""
    return tuple(folder_kinds())


# single paths naming inputs that must exist when given (besides the kinds' folders)
_INPUT_PATHS = ("templates_dir", "mkdocs_config", "attack_snapshot", "events")


def check_paths(settings: Settings) -> Settings:
    """The settings with missing default input folders dropped; a missing path that was given (or a missing rules folder) is an error."""
    for key in (*kind_keys(), *_INPUT_PATHS):
        value = settings.folders(key) if key not in _INPUT_PATHS else getattr(settings, key)
        paths = value if isinstance(value, tuple) else (value,) if value is not None else ()
        missing = [path for path in paths if not path.exists()]
        if missing and (key in settings.given or key == "rules"):
            where = "atc.yml or the options" if key in settings.given else "the default, as atc.yml does not set it"
            raise MissingPathError(f"{missing[0]}: {key.replace('_', ' ')} path not found ({where}); fix the path or create it")
        if missing and isinstance(value, tuple):
            settings = settings.with_folders(key, tuple(path for path in value if path.exists()))
    return settings


def find_config(explicit: Path | None, cwd: Path) -> Path | None:
    """The atc.yml to use: the one given, else the nearest one from the current folder up to the top of the git
    repository it is in (as git finds its own configuration), else none. Outside a repository only the current
    folder's counts: an atc.yml further up belongs to someone else."""
    if explicit is not None:
        if not explicit.is_file():
            raise ConfigError(f"{explicit}: configuration file not found")
        return explicit.absolute()  # its folder's paths as when found by looking up: the same cache keys and messages
    for folder in (cwd, *cwd.parents):
        candidate = folder / CONFIG_NAME
        if candidate.is_file():
            return candidate if folder == cwd or any((up / ".git").exists() for up in (folder, *folder.parents)) else None
        if (folder / ".git").exists():  # the repository's top: nothing above it is this repository's
            return None
    return None


def merged(settings: Settings, changes: dict[str, Any]) -> Settings:
    """The settings with changes by key ("history.enabled" for a key of a mapping setting), each recorded as given."""
    flat: dict[str, Any] = {}
    for key, value in changes.items():
        top, _, sub = key.partition(".")
        flat[top] = replace(flat.get(top, getattr(settings, top)), **{sub: value}) if sub else value
    result = settings
    for key, value in flat.items():
        result = result.with_folders(key, value) if key in kind_keys() else replace(result, **{key: value})
    return replace(result, given=settings.given | set(flat))
