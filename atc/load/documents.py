"""Sigma documents other than a plain rule: correlation and filter rules, Sigma 1 collections and aggregations, rejected rules.

Each becomes a `Rule` with its `kind`, so that every rule document of a repository gets a page.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from sigma.collection import deep_dict_update
from sigma.correlations import SigmaCorrelationRule
from sigma.filters import SigmaFilter

from atc.load.aggregation import equivalent
from atc.load.yamlfile import one_line, type_name
from atc.model import Correlation, LogSource, Problem, Rule

_TEXT_KEYS = ("title", "id", "description", "status", "level", "author", "name")
_LIST_KEYS = ("references", "falsepositives", "tags")


def _text(value: Any) -> str | None:
    """A metadata value as text, as far as it can be read (lists joined)."""
    if value is None:
        return None
    if isinstance(value, list):
        return ", ".join(str(item) for item in value)
    return str(value)


def metadata(data: dict, path: Path, text: str, document: int) -> dict[str, Any]:
    """The Rule fields every kind of document has, read leniently from its mapping."""
    logsource = data.get("logsource") if isinstance(data.get("logsource"), dict) else {}
    lists = {key: [str(item) for item in data[key]] if isinstance(data.get(key), list) else [] for key in _LIST_KEYS}
    return dict(
        path=path,
        source_text=text,
        data=data,
        id=_text(data.get("id")) or "",
        title=_text(data.get("title")) or path.stem,
        slug=path.stem,
        description=_text(data.get("description")) or "",
        status=_text(data.get("status")),
        level=_text(data.get("level")),
        author=_text(data.get("author")),
        date=_text(data.get("date")),
        logsource=LogSource(_text(logsource.get("product")), _text(logsource.get("service")), _text(logsource.get("category"))),
        document=document,
        name=_text(data.get("name")),
        **lists,
    )


def metadata_error(data: dict) -> str | None:
    """Why a correlation or filter document's metadata is unusable (wrong types), or None."""
    if not isinstance(data.get("title"), str):
        return "a correlation or filter rule needs a `title:` line of text"
    for key in _TEXT_KEYS:
        if data.get(key) is not None and not isinstance(data[key], (str, int, float)):
            return f"'{key}' must be text, not {type_name(data[key])}"
    return None


def rejected_rule(data: dict, path: Path, text: str, reason: str, document: int = 0) -> Rule:
    """A rule pySigma rejects: its metadata as far as it can be read, its text and pySigma's reason for the page's banner."""
    return Rule(**metadata(data, path, text, document), kind="rejected", problem=reason)


def aggregation_rule(data: dict, path: Path, text: str, problems: list[Problem], document: int = 0) -> Rule:
    """A Sigma 1 aggregation: its page, and the Sigma 2 correlation atc writes for it (converted in its place)."""
    written = equivalent(data)
    problems.append(
        Problem(
            str(path),
            "sigma-aggregation",
            "Sigma 1 aggregation (`| count() ...`), which pySigma no longer reads; "
            + (
                "its page shows the equivalent Sigma 2 correlation atc wrote: adopt it"
                if written.text
                else f"no equivalent written: {written.note}"
            ),
            severity="warning",
        )
    )
    return Rule(
        **metadata(data, path, text, document),
        kind="aggregation",
        equivalent=written.text,
        equivalent_note=written.note,
        conversion_docs=written.documents,
    )


def correlation_rule(data: dict, path: Path, text: str, problems: list[Problem], document: int = 0) -> Rule | None:
    """A Sigma 2 correlation rule, checked by pySigma (its `rules:` are resolved when linking)."""
    error = metadata_error(data)
    if error:
        problems.append(Problem(str(path), "rule", error))
        return None
    try:
        parsed = SigmaCorrelationRule.from_dict(copy.deepcopy(data))
    except Exception as exc:  # pySigma parses untrusted text: anything it raises is the file's problem
        reason = f"pySigma rejects the correlation rule: {one_line(exc)}"
        problems.append(Problem(str(path), "sigma", reason))
        return rejected_rule(data, path, text, reason, document)
    condition = data["correlation"].get("condition")
    written = ", ".join(f"{key}: {value}" for key, value in condition.items()) if isinstance(condition, dict) else _text(condition)
    settings = Correlation(
        type=parsed.type.name.lower(),
        rules=tuple(str(ref.reference) for ref in parsed.rules),
        group_by=tuple(parsed.group_by or ()),
        timespan=_text(data["correlation"].get("timespan")),
        condition=written,
        generate=bool(parsed.generate),
    )
    return Rule(**metadata(data, path, text, document), kind="correlation", correlation=settings)


def filter_rule(data: dict, path: Path, text: str, problems: list[Problem], document: int = 0) -> Rule | None:
    """A Sigma filter: the rules it applies to (resolved when linking); it has no query of its own."""
    error = metadata_error(data)
    if error:
        problems.append(Problem(str(path), "rule", error))
        return None
    try:
        parsed = SigmaFilter.from_dict(copy.deepcopy(data))
    except Exception as exc:
        reason = f"pySigma rejects the filter: {one_line(exc)}"
        problems.append(Problem(str(path), "sigma", reason))
        return rejected_rule(data, path, text, reason, document)
    refs = tuple(str(getattr(ref, "reference", ref)) for ref in parsed.filter.rules)
    return Rule(**metadata(data, path, text, document), kind="filter", filter_rules=refs)


def collection_documents(documents: list[Any], path: Path, problems: list[Problem]) -> list[tuple[int, Any]]:
    """The rule documents of a multi-document file, numbered from 0: Sigma 1 collection actions applied as pySigma applies them."""
    found: list[tuple[int, Any]] = []
    global_rule: dict = {}
    previous: dict = {}
    for number, document in enumerate(documents):
        if not isinstance(document, dict):
            found.append((number, document))  # reported as "not a Sigma rule" by the rule loader
            continue
        action = document.get("action")
        own = {key: value for key, value in document.items() if key != "action"}
        if action is None:
            if "correlation" in document or "filter" in document:  # pySigma merges no global part into these
                found.append((number, document))
            else:
                previous = document
                found.append((number, deep_dict_update(copy.deepcopy(document), copy.deepcopy(global_rule))))
        elif action == "global":
            global_rule = previous = own
        elif action == "reset":
            global_rule = {}
        elif action == "repeat":
            previous = deep_dict_update(copy.deepcopy(previous), own)
            found.append((number, previous))
        else:
            problems.append(
                Problem(
                    str(path), "rule", f"document {number + 1}: unknown Sigma collection action {_text(action)!r} (global, reset or repeat)"
                )
            )
    return found
