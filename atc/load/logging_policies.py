"""Load logging policies (how to switch a log on), plus the typed key readers the item loaders share."""
from __future__ import annotations

from pathlib import Path

from atc.load.rules import find_files, safe_slug
from atc.load.yamlfile import read_yaml, type_name
from atc.model import LoggingPolicy, Problem

KIND = "logging_policy"
PLACEHOLDERS = ("", "none", "null", "n/a")  # ATC writes "None" where it has nothing to say


class FieldError(ValueError):
    """A key of an item has the wrong type; the message says what to write instead."""


def text(data: dict, key: str, *, required: bool = False) -> str | None:
    """The key's text (stripped), or None when absent or a placeholder such as "None"."""
    value = data.get(key)
    if value is not None and not isinstance(value, str):
        raise FieldError(f"'{key}' must be text, not {type_name(value)}")
    value = (value or "").strip()
    if value.lower() in PLACEHOLDERS:
        if required:
            raise FieldError(f"'{key}' is missing; add it as text")
        return None
    return value


def text_list(data: dict, key: str) -> list[str]:
    """The key's list of texts (placeholders dropped); a missing key is an empty list."""
    value = data.get(key)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value if item is not None):
        raise FieldError(f"'{key}' must be a list of text (one '- item' line each), not {type_name(value)}")
    return [item.strip() for item in value if item is not None and item.strip().lower() not in PLACEHOLDERS]


def event_id_list(data: dict, *keys: str) -> list[int]:
    """Sorted unique event ids from the first present key; digit strings are accepted, "None" is skipped."""
    key = next((k for k in keys if data.get(k) is not None), None)
    if key is None:
        return []
    value = data[key] if isinstance(data[key], list) else [data[key]]
    ids: set[int] = set()
    for item in value:
        if isinstance(item, str) and item.strip().lower() in PLACEHOLDERS:
            continue
        if isinstance(item, bool) or not (isinstance(item, int) or (isinstance(item, str) and item.strip().isdigit())):
            raise FieldError(f"'{key}' must be a list of event id numbers; {item!r} is not one")
        ids.add(int(item))
    return sorted(ids)


def read_mapping(path: Path, problems: list[Problem], kind: str, what: str) -> dict | None:
    """The file's YAML mapping, or None with a Problem when it is unreadable or not a mapping."""
    data = read_yaml(path, problems, kind)
    if data is None:
        return None
    if not isinstance(data, dict):
        problems.append(Problem(str(path), kind, f"expected a mapping with {what}, found {type_name(data)}"))
        return None
    return data


def load_logging_policies(dirs: list[Path], problems: list[Problem]) -> dict[str, LoggingPolicy]:
    """Every logging policy below the folders, keyed by its title; bad files and duplicates become Problems."""
    policies: dict[str, LoggingPolicy] = {}
    pages: dict[str, LoggingPolicy] = {}  # page name -> policy: titles that differ only in punctuation would share a page
    for path in find_files(dirs, problems, KIND):
        policy = _load_policy(path, problems)
        if policy is None:
            continue
        if policy.id in policies:
            problems.append(Problem(str(path), KIND, f"duplicate logging policy id {policy.id} (also in {policies[policy.id].path}); rename one title"))
            continue
        page = safe_slug(policy.id).lower()
        if page in pages:
            problems.append(Problem(str(path), KIND, f"title {policy.id!r} gives the same page name as {pages[page].id!r} ({pages[page].path}); rename one title"))
            continue
        policies[policy.id] = pages[page] = policy
    return policies


def _load_policy(path: Path, problems: list[Problem]) -> LoggingPolicy | None:
    """One logging policy file, or None with the reason recorded."""
    data = read_mapping(path, problems, KIND, "title, description, eventID, configuration")
    if data is None:
        return None
    try:
        title = text(data, "title", required=True)
        return LoggingPolicy(
            id=title,
            path=path,
            title=title,
            description=text(data, "description") or "",
            default=text(data, "default"),
            volume=text(data, "volume"),
            event_ids=event_id_list(data, "event_ids", "eventID"),
            configuration=text(data, "configuration") or "",
            references=text_list(data, "references"),
        )
    except FieldError as exc:
        problems.append(Problem(str(path), KIND, f"{exc}; the logging policy is skipped"))
        return None
