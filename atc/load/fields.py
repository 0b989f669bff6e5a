"""Typed readers for the keys of Data Needed, logging policy and trigger files: wrong types become FieldError."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from atc.load.rules import EVENT_ID_TEXT, find_files, safe_slug
from atc.load.yamlfile import list_found, read_yaml, type_name
from atc.model import Problem

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
        raise FieldError(f"'{key}' must be a list of text (one '- item' line each), not {list_found(value)}")
    return [item.strip() for item in value if item is not None and item.strip().lower() not in PLACEHOLDERS]


def names(data: dict, key: str) -> str | None:
    """The key's text, or its list of texts joined with commas (an author may be one name or several); None when absent."""
    value = data.get(key)
    return (", ".join(text_list(data, key)) or None) if isinstance(value, list) else text(data, key)


def shown_only(data: dict, key: str, read: Callable[[dict, str], Item], problems: list[Problem], path: Path, kind: str) -> Item | None:
    """A field pages only show (author, sample, references): a wrong value is left out with a warning; the item stays."""
    try:
        return read(data, key)
    except FieldError as exc:
        problems.append(Problem(str(path), kind, f"{exc}; the field is left out", severity="warning"))
        return None


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
        if isinstance(item, bool) or not (isinstance(item, int) or (isinstance(item, str) and EVENT_ID_TEXT.fullmatch(item.strip()))):
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


Item = TypeVar("Item")


def load_unique(
    dirs: list[Path], problems: list[Problem], kind: str, label: str, load_one: Callable[[Path], Item | None], key: Callable[[Item], str]
) -> dict[str, Item]:
    """Every item below the folders keyed by its id; duplicate ids and ids that would share a page become Problems."""
    items: dict[str, Item] = {}
    pages: dict[str, Item] = {}  # page name -> item: ids that differ only in punctuation would share a page
    for path in find_files(dirs, problems, kind):
        item = load_one(path)
        if item is None:
            continue
        item_id = key(item)
        if item_id in items:
            problems.append(Problem(str(path), kind, f"duplicate {label} id {item_id} (also in {items[item_id].path}); rename one title"))  # type: ignore[attr-defined]
            continue
        page = safe_slug(item_id).lower()
        if page in pages:
            other = pages[page]
            problems.append(
                Problem(str(path), kind, f"title {item_id!r} gives the same page name as {key(other)!r} ({other.path}); rename one title")
            )  # type: ignore[attr-defined]
            continue
        items[item_id] = pages[page] = item
    return items
