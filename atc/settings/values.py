"""The schema's vocabulary: a Setting (key, type, help, options) and the value types, each checking a value from atc.yml or
an option and saying what it expected when it is wrong."""

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

    key: str  # "jobs", "history.depth", "" for the whole file, or "--jobs"
    file: Path | None = None  # None: a command-line option
    folder: Path | None = None  # relative paths are relative to it (atc.yml's folder); None: as given
    label: str = ""  # the item the key belongs to, e.g. "targets entry 2 (ours)"

    @property
    def at(self) -> str:
        """The file and item, as a message starts."""
        return f"{self.file}: {self.label}: " if self.label else f"{self.file}: "

    def error(self, text: str) -> ConfigError:
        """An error about this value: `atc.yml: 'key' text`, or `--option text`."""
        return ConfigError(f"{self.at}'{self.key}' {text}" if self.file else f"{self.key} {text}")

    def child(self, key: str) -> Where:
        return replace(self, key=f"{self.key}.{key}" if self.key else key)

    def path(self, text: str) -> Path:
        """The path a value names: `~` is the home folder, as in a shell; relative to atc.yml's folder when written there."""
        try:
            path = Path(text).expanduser()
        except RuntimeError:  # ~name of no user, or no home folder known
            raise self.error(f"names a home folder that is not known here: {text!r}") from None
        return self.folder / path if self.folder else path


@dataclass(frozen=True)
class Option:
    """A command-line option setting a key, on the commands named."""

    flags: tuple[str, ...]  # the long flag first: "--jobs", "-j"
    commands: tuple[str, ...]
    help: str
    metavar: str | None = None  # None: a flag without a value, setting `sets`
    sets: Any = None  # what a flag without a value sets
    key: str | None = None  # the key it sets when not the setting's own, e.g. "history.enabled"

    @property
    def dest(self) -> str:
        return self.flags[0].lstrip("-").replace("-", "_")


@dataclass(frozen=True)
class Setting:
    key: str  # the atc.yml key (and, for most, the Settings field)
    value: Value
    help: str  # one line for --help
    default: Any = None  # its atc.yml value when not given (paths relative to atc.yml); None: the Settings field's own
    options: tuple[Option, ...] = ()
    shown: str = ""  # the default as --help says it, when not the default value itself
    example: tuple[str, ...] = ()  # lines of atc.yml that --help shows
    required: bool = False  # a key of a mapping that must be there


def refuse_unknown(keys: Any, known: tuple[str, ...], where: Where, noun: str = "setting") -> None:
    """An error naming the keys that are not in `known` (of the mapping at `where`), with the closest known one for a likely typo."""
    prefix = f"{where.key}." if where.key else ""
    unknown = sorted(str(key) for key in keys if key not in known)
    if not unknown:
        return
    hints = [
        f"{prefix}{key} (did you mean {prefix}{close[0]}?)" if (close := difflib.get_close_matches(key, known, 1)) else f"{prefix}{key}"
        for key in unknown
    ]
    allowed = f"'{where.key}' may only set" if where.key else "known:"
    raise ConfigError(f"{where.at}unknown {noun}(s) {', '.join(hints)}; {allowed} {', '.join(known)}")


def parse_keys(entries: tuple[Setting, ...], raw: dict, where: Where, noun: str = "setting") -> dict[str, Any]:
    """The checked values of a mapping whose keys are the settings `entries`; a required one left out is an error."""
    by_key = {entry.key: entry for entry in entries}
    refuse_unknown(raw, tuple(by_key), where, noun)
    for entry in entries:
        if entry.required and entry.key not in raw:
            raise where.child(entry.key).error("is required")
    return {key: by_key[key].value.parse(item, where.child(key)) for key, item in raw.items()}


class Value:
    """A setting's type (mkdocs' config_options are the model): `parse` checks a value, `expected` completes "must ..."."""

    expected = "be set"
    arg_type: Callable[[str], Any] = str  # how argparse reads the option's text
    repeatable = False  # its option may be given several times, each adding a value

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
    repeatable = True

    def parse(self, raw: Any, where: Where) -> tuple[Path, ...]:
        items = raw if isinstance(raw, list) else [raw]
        if not all(isinstance(item, str) for item in items):
            raise self.wrong(where)
        return tuple(where.path(item) for item in items)


@dataclass(frozen=True)
class NameList(Value):
    names: str = "names"  # what the names are, for messages
    single: bool = False  # one name without a list is allowed
    empty: bool = False  # an empty list is allowed

    @property
    def expected(self) -> str:  # type: ignore[override]
        return f"be a list of {self.names}"

    def parse(self, raw: Any, where: Where) -> tuple[str, ...]:
        items = [raw] if self.single and isinstance(raw, str) else raw
        if not isinstance(items, list) or not (items or self.empty) or not all(isinstance(item, str) and item.strip() for item in items):
            raise self.wrong(where)
        return tuple(item.strip() for item in items)


@dataclass(frozen=True)
class Name(Value):
    """A non-empty name, stripped; with a pattern, `refusal` says what it may hold."""

    pattern: re.Pattern | None = None
    refusal: str = ""
    expected = "be a name"

    def parse(self, raw: Any, where: Where) -> str:
        if not isinstance(raw, str) or not raw.strip():
            raise self.wrong(where)
        if self.pattern and not self.pattern.match(raw.strip()):
            raise where.error(self.refusal)
        return raw.strip()


@dataclass(frozen=True)
class Mapping(Value):
    """A mapping with its own schema (e.g. `history:`), made into one value (`make(**values)`; keys left out: its defaults)."""

    entries: tuple[Setting, ...]  # the sub-settings
    make: Callable[..., Any]

    @property
    def expected(self) -> str:  # type: ignore[override]
        return f"be a mapping (keys: {', '.join(entry.key for entry in self.entries)})"

    def parse(self, raw: Any, where: Where) -> Any:
        if not isinstance(raw, dict):
            raise self.wrong(where)
        return self.make(**parse_keys(self.entries, raw, where))


_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")


@dataclass(frozen=True)
class Named(Value):
    """A mapping of names (they name pages: letters, digits, '-', '_') to mappings of one schema, e.g. `environments:`."""

    entries: tuple[Setting, ...]  # the sub-settings of each name's mapping
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
            found.append(self.make(name, **parse_keys(self.entries, spec or {}, at)))
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


class Export(Value):
    """A deployable output format of the backend, or false for none (None: the backend's usual one)."""

    expected = "be an output format of the backend, or false for none"

    def parse(self, raw: Any, where: Where) -> str | None:
        if raw is False:
            return ""
        if raw is None:
            return None
        if not isinstance(raw, str) or not raw.strip():
            raise self.wrong(where)
        return raw.strip()


def _option_value(value: Any) -> str | int | None:
    """A value as sigma-cli's -O key=value passes it: a whole number when it reads as one, else the text."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        return None
    try:
        return int(str(value))
    except ValueError:
        return str(value)


class BackendOptions(Value):
    """Backend options (-O key=value): text or whole-number values, or lists of them (a key given several times)."""

    expected = "map option names to text or whole numbers (or lists of them), as sigma-cli's -O key=value"

    def parse(self, raw: Any, where: Where) -> tuple[tuple[str, OptionValue], ...]:
        if raw is None:
            return ()
        if not isinstance(raw, dict):
            raise self.wrong(where)
        options: list[tuple[str, OptionValue]] = []
        for name, value in sorted(raw.items(), key=lambda kv: str(kv[0])):
            items = value if isinstance(value, list) else [value]
            converted = [_option_value(v) for v in items]
            if not isinstance(name, str) or not TARGET_KEY.match(name) or not converted or any(v is None for v in converted):
                raise self.wrong(where)
            options.append((name, tuple(converted) if len(converted) > 1 else converted[0]))  # type: ignore[arg-type]  # one value: as sigma-cli
        return tuple(options)


TARGET_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*\Z")


@dataclass(frozen=True)
class Targets(Value):
    """`targets`: target keys in page order (a list, or comma-separated text), each a built-in key or a team target mapping."""

    entries: tuple[Setting, ...]  # the keys of a team target mapping
    make: Callable[..., Any] = TargetEntry
    expected = "be a list of target keys (or comma-separated text)"

    def parse(self, raw: Any, where: Where) -> tuple[str | TargetEntry, ...]:
        if not isinstance(raw, list):
            if not isinstance(raw, str):
                raise self.wrong(where)
            return tuple(item.strip() for item in raw.split(",") if item.strip())
        found: list[str | TargetEntry] = []
        for number, item in enumerate(raw, 1):
            if isinstance(item, dict):
                found.append(self._entry(item, replace(where, key="", label=f"targets entry {number}")))
            elif isinstance(item, str) and item.strip():
                found.append(item.strip())
            else:
                raise ConfigError(f"{where.at}targets entry {number} must be a target key or a mapping with key and backend")
        keys = [item if isinstance(item, str) else item.key for item in found]
        duplicates = sorted({key for key in keys if keys.count(key) > 1})
        if duplicates:
            raise ConfigError(f"{where.at}target(s) {', '.join(duplicates)} listed more than once")
        return tuple(found)

    def _entry(self, item: dict, where: Where) -> TargetEntry:
        """One team target, checked for shape (whether its backend, format and pipelines exist is checked on use)."""
        key = item.get("key")
        named = replace(where, label=f"{where.label} ({key.strip()})") if isinstance(key, str) and key.strip() else where
        return self.make(**parse_keys(self.entries, item, named, noun="key"))

    def fields(self, key: str, value: Any) -> dict[str, Any]:
        """`targets` gets the keys; the team's own target definitions among them go to `target_entries`."""
        entries = tuple(item for item in value if isinstance(item, TargetEntry))
        keys = tuple(item if isinstance(item, str) else item.key for item in value)
        return {key: keys, "target_entries": entries} if entries else {key: keys}
