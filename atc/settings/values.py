"""The types of setting values: each checks a value from atc.yml or an option and says what it expected when it is wrong."""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from atc.model import LogSource
from atc.settings.model import ConfigError, OptionValue, TargetEntry


@dataclass(frozen=True)
class Where:
    """Where a value was written, as messages name it: an atc.yml key (with the file) or a command-line option."""

    key: str  # "jobs", "history.depth", or "--jobs"
    file: Path | None = None  # None: a command-line option
    folder: Path | None = None  # relative paths are relative to it (atc.yml's folder); None: as given

    def error(self, text: str) -> ConfigError:
        """An error about this value: `atc.yml: 'key' text`, or `--option text`."""
        return ConfigError(f"{self.file}: '{self.key}' {text}" if self.file else f"{self.key} {text}")

    def child(self, key: str) -> Where:
        return replace(self, key=f"{self.key}.{key}")

    def path(self, text: str) -> Path:
        return self.folder / text if self.folder else Path(text)


def refuse_unknown(keys: Any, known: tuple[str, ...], file: str, within: str = "") -> None:
    """An error naming the keys that are not settings (of the mapping `within`), with the closest known one for a likely typo."""
    prefix = f"{within}." if within else ""
    unknown = sorted(str(key) for key in keys if key not in known)
    if not unknown:
        return
    hints = [
        f"'{prefix}{key}' (did you mean '{prefix}{close[0]}'?)"
        if (close := difflib.get_close_matches(key, known, 1))
        else f"'{prefix}{key}'"
        for key in unknown
    ]
    allowed = f"'{within}' may only set {', '.join(known)}" if within else f"known: {', '.join(sorted(known))}"
    raise ConfigError(f"{file}: unknown setting(s) {', '.join(hints)}; {allowed}")


class Value:
    """A setting's type (mkdocs' config_options are the model): `parse` checks a value, `expected` completes "must ..."."""

    expected = "be set"
    arg_type: Callable[[str], Any] = str  # how argparse reads the option's text

    def parse(self, raw: Any, where: Where) -> Any:
        """The value from atc.yml or an option's text (a list of texts for a repeatable one), checked; a ConfigError from `where` when wrong."""
        return raw

    def fields(self, key: str, value: Any) -> dict[str, Any]:
        """The Settings fields the value sets (usually the key's own)."""
        return {key: value}

    def wrong(self, where: Where) -> ConfigError:
        return where.error(f"must {self.expected}")


class Bool(Value):
    expected = "be true or false"

    def parse(self, raw: Any, where: Where) -> bool:
        if not isinstance(raw, bool):
            raise self.wrong(where)
        return raw


@dataclass(frozen=True)
class WholeNumber(Value):
    minimum: int = 1
    arg_type = int

    @property
    def expected(self) -> str:  # type: ignore[override]
        return f"be a whole number of at least {self.minimum}"

    def parse(self, raw: Any, where: Where) -> int:
        if isinstance(raw, bool) or not isinstance(raw, int) or raw < self.minimum:
            raise self.wrong(where)
        return raw


@dataclass(frozen=True)
class Url(Value):
    placeholder: str = ""  # a text the URL must contain, e.g. "{sha}"
    optional: bool = False  # null is allowed

    @property
    def expected(self) -> str:  # type: ignore[override]
        return f"be a URL containing {self.placeholder}" if self.placeholder else "be an http(s) URL"

    def parse(self, raw: Any, where: Where) -> str | None:
        if raw is None and self.optional:
            return None
        if not isinstance(raw, str) or self.placeholder not in raw or not (self.placeholder or re.match(r"https?://\S+\Z", raw)):
            raise self.wrong(where)
        return raw


class PathValue(Value):
    expected = "be a path"

    def parse(self, raw: Any, where: Where) -> Path:
        if not isinstance(raw, str):
            raise self.wrong(where)
        return where.path(raw)


class PathList(Value):
    expected = "be a folder path or a list of folder paths"

    def parse(self, raw: Any, where: Where) -> tuple[Path, ...]:
        items = raw if isinstance(raw, list) else [raw]
        if not all(isinstance(item, str) for item in items):
            raise self.wrong(where)
        return tuple(where.path(item) for item in items)


@dataclass(frozen=True)
class NameList(Value):
    names: str = "names"  # what the names are, for messages

    @property
    def expected(self) -> str:  # type: ignore[override]
        return f"be a list of {self.names}"

    def parse(self, raw: Any, where: Where) -> tuple[str, ...]:
        if not isinstance(raw, list) or not raw or not all(isinstance(item, str) and item.strip() for item in raw):
            raise self.wrong(where)
        return tuple(item.strip() for item in raw)


def _keys(entries: tuple[Any, ...], raw: Any, where: Where) -> dict[str, Any]:
    """The checked values of a mapping whose keys are the sub-settings `entries` (schema.Setting)."""
    by_key = {entry.key: entry for entry in entries}
    refuse_unknown(raw, tuple(by_key), str(where.file or where.key), where.key)
    return {key: by_key[key].value.parse(item, where.child(key)) for key, item in raw.items()}


@dataclass(frozen=True)
class Mapping(Value):
    """A mapping with its own schema (e.g. `history:`), made into one value (`make(**values)`; keys left out: its defaults)."""

    entries: tuple[Any, ...]  # the sub-settings (schema.Setting)
    make: Callable[..., Any]

    @property
    def expected(self) -> str:  # type: ignore[override]
        return f"be a mapping (keys: {', '.join(entry.key for entry in self.entries)})"

    def parse(self, raw: Any, where: Where) -> Any:
        if not isinstance(raw, dict):
            raise self.wrong(where)
        return self.make(**_keys(self.entries, raw, where))


_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")


@dataclass(frozen=True)
class Named(Value):
    """A mapping of names (they name pages: letters, digits, '-', '_') to mappings of one schema, e.g. `environments:`."""

    entries: tuple[Any, ...]  # the sub-settings of each name's mapping (schema.Setting)
    make: Callable[..., Any]  # make(name, **values)
    what: str  # what the names are and their mappings say, for messages

    @property
    def expected(self) -> str:  # type: ignore[override]
        return f"map {self.what} ({', '.join(entry.key for entry in self.entries)})"

    def parse(self, raw: Any, where: Where) -> tuple[Any, ...]:
        if not isinstance(raw, dict):
            raise self.wrong(where)
        found = []
        for name, spec in raw.items():
            at = where.child(str(name))
            if not isinstance(name, str) or not _NAME.fullmatch(name):
                raise at.error("is not a name: letters, digits, '-' and '_' (it names a page); put other text in 'title'")
            if spec is not None and not isinstance(spec, dict):
                raise at.error(f"must be a mapping (keys: {', '.join(entry.key for entry in self.entries)})")
            found.append(self.make(name, **_keys(self.entries, spec or {}, at)))
        return tuple(found)


class Text(Value):
    expected = "be text"

    def parse(self, raw: Any, where: Where) -> str:
        if not isinstance(raw, str):
            raise self.wrong(where)
        return raw


class Ids(Value):
    """A list of ids (or one id), kept in order without repeats."""

    expected = "be a list of ids"

    def parse(self, raw: Any, where: Where) -> tuple[str, ...]:
        items = [] if raw is None else [raw] if isinstance(raw, str) else raw
        if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
            raise self.wrong(where)
        return tuple(dict.fromkeys(items))


_LOGSOURCE_KEYS = ("product", "service", "category")


class LogSources(Value):
    """Sigma log sources: mappings of product / service / category (a part left out matches any)."""

    expected = f"be a list of mappings of {', '.join(_LOGSOURCE_KEYS)}"

    def parse(self, raw: Any, where: Where) -> tuple[LogSource, ...]:
        items = [] if raw is None else raw
        if not isinstance(items, list) or not all(
            isinstance(item, dict) and item and set(item) <= set(_LOGSOURCE_KEYS) and all(isinstance(v, str) for v in item.values())
            for item in items
        ):
            raise self.wrong(where)
        return tuple(LogSource(**item) for item in items)


class Exclusions(Value):
    expected = "map rule ids to lists of pySigma validator names"

    def parse(self, raw: Any, where: Where) -> tuple[tuple[str, tuple[str, ...]], ...]:
        if not isinstance(raw, dict) or not all(
            isinstance(k, str) and isinstance(v, list) and all(isinstance(name, str) for name in v) for k, v in raw.items()
        ):
            raise self.wrong(where)
        return tuple(sorted((rule_id, tuple(sorted(names))) for rule_id, names in raw.items()))


TARGET_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*\Z")
TARGET_ENTRY_KEYS = {
    "key": "its name in targets lists and on the pages (letters, digits, '.', '_', '-')",
    "backend": "an installed pySigma backend (`sigma list targets`)",
    "pipelines": "installed pipeline names (`sigma list pipelines`) or YAML files relative to atc.yml",
    "format": "the backend's output format (default: default)",
    "options": "backend options, as sigma-cli's -O key=value",
    "language": "the code-block language on the pages (default: text)",
    "label": "the tab's title (default: the key)",
    "export": "a deployable output format written to exports/<key>/ (false: none)",
}


class Targets(Value):
    """`targets`: target keys in page order (a list, or comma-separated text), each a built-in key or a team target mapping."""

    expected = "be a list of target keys (or comma-separated text)"

    def parse(self, raw: Any, where: Where) -> tuple[str | TargetEntry, ...]:
        if not isinstance(raw, list):
            if not isinstance(raw, str):
                raise self.wrong(where)
            return tuple(item.strip() for item in raw.split(",") if item.strip())
        found: list[str | TargetEntry] = []
        for number, item in enumerate(raw, 1):
            if isinstance(item, dict):
                found.append(target_entry(item, f"{where.file}: targets entry {number}"))
            elif isinstance(item, str) and item.strip():
                found.append(item.strip())
            else:
                raise ConfigError(f"{where.file}: targets entry {number} must be a target key or a mapping with key and backend")
        keys = [item if isinstance(item, str) else item.key for item in found]
        duplicates = sorted({key for key in keys if keys.count(key) > 1})
        if duplicates:
            raise ConfigError(f"{where.file}: target(s) {', '.join(duplicates)} listed more than once")
        return tuple(found)

    def fields(self, key: str, value: Any) -> dict[str, Any]:
        """`targets` gets the keys; the team's own target definitions among them go to `target_entries`."""
        entries = tuple(item for item in value if isinstance(item, TargetEntry))
        keys = tuple(item if isinstance(item, str) else item.key for item in value)
        return {key: keys, "target_entries": entries} if entries else {key: keys}


def target_entry(item: dict, where: str) -> TargetEntry:
    """One team target mapping, checked for shape (whether its backend, format and pipelines exist is checked on use)."""
    refuse_key = sorted(str(k) for k in set(item) - set(TARGET_ENTRY_KEYS))
    if refuse_key:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(refuse_key)}; known: {', '.join(TARGET_ENTRY_KEYS)}")
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
