"""Sigma 1 aggregations (`selection | count(field) by group > 5`, `a | near b`): read the pipe, and write the Sigma 2 correlation that means the same."""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass

import yaml

_AGGREGATION = re.compile(
    r"^(?P<search>.+?)\s*\|\s*(?P<function>count|sum|avg|min|max)\(\s*(?P<field>[\w.-]*)\s*\)"
    r"(?:\s+by\s+(?P<group>[\w.-]+(?:\s*,\s*[\w.-]+)*))?\s*(?P<operator>>=|<=|==|=|>|<)\s*(?P<value>\d+)\s*$",
    re.IGNORECASE,
)
_NEAR = re.compile(r"^(?P<search>.+?)\s*\|\s*near\s+(?P<others>.+?)\s*$", re.IGNORECASE)
_IDENTIFIER = re.compile(r"^[\w.*-]+$")
_OPERATORS = {">": "gt", ">=": "gte", "<": "lt", "<=": "lte", "=": "eq", "==": "eq"}
# Sigma 1 aggregation function (with or without a field) -> Sigma 2 correlation type
_TYPES = {("count", False): "event_count", ("count", True): "value_count", ("sum", True): "value_sum", ("avg", True): "value_avg"}
DEFAULT_TIMESPAN = "1d"  # Sigma 1 counted over the search's window when the rule gave no timeframe; a correlation needs one


@dataclass(frozen=True)
class Equivalent:
    """The atc-written Sigma 2 form of a legacy aggregation: its documents and text, or why none was written."""

    documents: list[dict] | None
    text: str | None
    note: str


def is_aggregation(data: dict) -> bool:
    """Whether the rule's condition uses Sigma 1's pipe syntax (an aggregation or `near`)."""
    detection = data.get("detection")
    condition = detection.get("condition") if isinstance(detection, dict) else None
    conditions = condition if isinstance(condition, list) else [condition]
    return any(isinstance(item, str) and "|" in item for item in conditions)


def equivalent(data: dict) -> Equivalent:
    """The Sigma 2 correlation for a Sigma 1 aggregation: a base rule plus event_count / value_count / value_sum / value_avg, or temporal for `near`."""
    condition = data["detection"].get("condition")
    if not isinstance(condition, str):
        return Equivalent(None, None, "the rule has several conditions; atc writes an equivalent for a single aggregation only")
    near = _NEAR.match(condition)
    if near:
        return _temporal(data, near["search"], near["others"])
    match = _AGGREGATION.match(condition)
    if match is None:
        return Equivalent(None, None, "the aggregation is not of the form `search | function(field) by group <op> number`")
    function, field = match["function"].lower(), match["field"]
    kind = _TYPES.get((function, bool(field)))
    if kind is None:
        return Equivalent(None, None, f"Sigma 2 has no correlation type for {function}({field})")
    name = _name(data)
    base = copy.deepcopy(data)
    base.pop("id", None)  # the base rule is the search only; the correlation is what the legacy rule meant
    base["title"] = f"{data.get('title', 'Rule')} (search)"
    base["name"] = name
    timeframe = base["detection"].pop("timeframe", None)
    base["detection"]["condition"] = match["search"]
    correlation: dict = {"type": kind, "rules": [name]}
    if match["group"]:
        correlation["group-by"] = [item.strip() for item in match["group"].split(",")]
    correlation["timespan"] = str(timeframe) if timeframe else DEFAULT_TIMESPAN
    threshold: dict = {_OPERATORS[match["operator"]]: int(match["value"])}
    if field:
        threshold["field"] = field
    correlation["condition"] = threshold
    rule = {key: data[key] for key in ("title", "id", "status", "description", "author", "date", "level", "tags") if key in data}
    rule["correlation"] = correlation
    documents = [base, rule]
    text = yaml.safe_dump_all(documents, sort_keys=False, allow_unicode=True, default_flow_style=False)
    note = "timespan from the rule's timeframe" if timeframe else f"the rule gives no timeframe: timespan {DEFAULT_TIMESPAN} assumed"
    return Equivalent(documents, text, note)


def _temporal(data: dict, search: str, others: str) -> Equivalent:
    """`search | near a and b`: a temporal correlation of one base rule per part (every part within the timeframe)."""
    parts = [part.strip() for part in re.split(r"\s+and\s+", others, flags=re.IGNORECASE)]
    if not all(_IDENTIFIER.match(part) for part in parts):
        return Equivalent(
            None, None, "`near` with `not` or parentheses has no one-to-one Sigma 2 form; write the temporal correlation by hand"
        )
    base_name = _name(data)
    timeframe = data["detection"].get("timeframe")
    documents: list[dict] = []
    names = []
    for number, part in enumerate([search, *parts]):
        base = copy.deepcopy(data)
        base.pop("id", None)
        base["detection"].pop("timeframe", None)
        base["detection"]["condition"] = part
        base["name"] = f"{base_name}_{number + 1}"
        base["title"] = f"{data.get('title', 'Rule')} ({part})"
        documents.append(base)
        names.append(base["name"])
    rule = {key: data[key] for key in ("title", "id", "status", "description", "author", "date", "level", "tags") if key in data}
    rule["correlation"] = {"type": "temporal", "rules": names, "timespan": str(timeframe) if timeframe else DEFAULT_TIMESPAN}
    documents.append(rule)
    text = yaml.safe_dump_all(documents, sort_keys=False, allow_unicode=True, default_flow_style=False)
    note = (
        "`near` as a temporal correlation; timespan from the rule's timeframe"
        if timeframe
        else f"`near` as a temporal correlation; the rule gives no timeframe: timespan {DEFAULT_TIMESPAN} assumed"
    )
    return Equivalent(documents, text, note)


def _name(data: dict) -> str:
    """A Sigma `name` for the base rule: its own, else one made from its title."""
    given = data.get("name")
    if isinstance(given, str) and given:
        return given
    slug = re.sub(r"[^a-z0-9]+", "_", str(data.get("title", "rule")).lower()).strip("_")
    return f"{slug or 'rule'}_search"
