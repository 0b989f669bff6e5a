"""Link each rule to the Data Needed items (log events) it needs, or say in one line why none fits.

How an item is chosen for a rule: three filters, a preference and a safeguard.

1. Log source. The rule must name at least a product, service or category. An item agrees when
   a. each of the rule's product and service is unset or equal to the item's, and both have the same
      category (an item with a category, e.g. a Sysmon event, only serves rules of that category); or
   b. the rule names the item's service without a category and an event id the item lists
      (`service: sysmon` + `EventID: 1` is the Sysmon process_creation item); or
   c. the rule's generic Windows category has an equivalent event on another channel, the ones pySigma's
      pipelines use: process_creation <-> Security 4688; registry_event/_set/_add <-> Security 4657;
      registry_event <-> Sysmon 12/13/14; registry_delete <-> Sysmon 12; ps_script <-> PowerShell 4104;
      ps_module <-> 4103; ps_classic_start / _provider_start / _script <-> Windows PowerShell 400 / 600 / 800.
      Field names are not translated: such an item must still pass filter 3 with the rule's own field names.
   Values are compared case-insensitively.
2. Event ids. When the rule's detection names EventIDs, the item must list at least one of them.
3. Fields. The rule's detection is read per selection: the selections the condition uses other than under
   `not` (filters) are "needed", and a selection written as a list of mappings counts as one alternative
   per mapping. Field names lose their modifiers (`CommandLine|contains` -> CommandLine) and EventID,
   Channel and Provider_Name are left out (filter 2 covers them). An item that lists fields must carry
   every field of at least one needed alternative ("fields match"); an item that lists no fields, or a rule
   whose needed selections include one without fields (keywords), passes without proving anything.
4. Preference. If any item passed with a fields match, items that passed without one are dropped.
5. No guessing. A rule that names no EventID is not linked when several items remain and the choice is
   loose: none of them has a fields match, or more than MAX_UNPINNED remain (common fields such as
   SubjectUserName exist on most events of a channel), or they are every item of the rule's channel (a
   rule without a category, e.g. `service: auditd` with only `type`). Its gap says so instead.

When nothing is linked, `rule.data_needed_gap` names the filter that removed the last candidate, e.g.
"no Data Needed for product=linux category=process_creation".
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from fnmatch import fnmatchcase

from atc.model import DataNeeded, LogSource, Rule

MAX_UNPINNED = 4  # most items a rule without EventIDs may link to
_ENVELOPE_FIELDS = {"eventid", "channel", "provider_name"}
_WINDOWS_EQUIVALENTS: dict[str, tuple[tuple[str, frozenset[int]], ...]] = {
    "process_creation": (("security", frozenset({4688})),),
    "registry_event": (("sysmon", frozenset({12, 13, 14})), ("security", frozenset({4657}))),
    "registry_set": (("security", frozenset({4657})),),
    "registry_add": (("security", frozenset({4657})),),
    "registry_delete": (("sysmon", frozenset({12})),),
    "ps_script": (("powershell", frozenset({4104})),),
    "ps_module": (("powershell", frozenset({4103})),),
    "ps_classic_start": (("powershell-classic", frozenset({400})),),
    "ps_classic_provider_start": (("powershell-classic", frozenset({600})),),
    "ps_classic_script": (("powershell-classic", frozenset({800})),),
}
_CONDITION_TOKEN = re.compile(r"\(|\)|[^\s()]+")
_CONDITION_WORDS = {"and", "or", "of", "all", "any", "1"}


@dataclass(frozen=True)
class _Source:
    """A log source with every value lower-cased, for comparison."""

    product: str | None
    service: str | None
    category: str | None

    @classmethod
    def of(cls, logsource: LogSource) -> "_Source":
        """The lower-cased copy of a model LogSource."""
        return cls(*((value or "").lower() or None for value in (logsource.product, logsource.service, logsource.category)))


def link_data_needed(rules: list[Rule], items: dict[str, DataNeeded]) -> None:
    """Set every rule's `data_needed` (sorted ids) and, when it stays empty, its `data_needed_gap`."""
    candidates = [(item, _Source.of(item.logsource), {f.lower() for f in item.fields}) for item in items.values()]
    for rule in rules:
        rule.data_needed, rule.data_needed_gap = _choose(rule, candidates)


def _choose(rule: Rule, candidates: list[tuple[DataNeeded, _Source, set[str]]]) -> tuple[list[str], str | None]:
    """The ids of the items the rule needs, or no ids and the one-line reason."""
    source = _Source.of(rule.logsource)
    where = rule.logsource.describe()
    if not (source.product or source.service or source.category):
        return [], "the rule has no log source (product, service or category)"
    event_ids = set(rule.event_ids)
    passed = [c for c in candidates if _source_agrees(source, event_ids, c[0], c[1])]
    if not passed:
        return [], f"no Data Needed for {where}"
    if event_ids:
        passed = [c for c in passed if event_ids & set(c[0].event_ids)]
        if not passed:
            return [], f"no Data Needed for {where} lists EventID {', '.join(map(str, sorted(event_ids)))}"
    alternatives = _field_alternatives(rule)
    verdicts = [(item, _fields_verdict(alternatives, fields)) for item, _, fields in passed]
    kept = [(item, verdict) for item, verdict in verdicts if verdict != "fail"]
    if not kept:
        wanted = next(alt for alt in alternatives if alt)
        return [], f"no Data Needed for {where} carries all of the fields {', '.join(wanted)}"
    matched = [item for item, verdict in kept if verdict == "match"]
    chosen = sorted(item.id for item in (matched or [item for item, _ in kept]))
    if not event_ids and _too_loose(len(chosen), len(passed), bool(matched), source.category is not None):
        return [], f"{len(chosen)} of the {len(passed)} Data Needed items for {where} fit; the rule names no EventID or distinctive field to pick among them"
    return chosen, None


def _too_loose(chosen: int, of_source: int, fields_matched: bool, has_category: bool) -> bool:
    """Filter 5, for rules without EventIDs: several items and no fields match, too many, or a whole channel."""
    whole_channel = not has_category and chosen == of_source
    return chosen > 1 and (not fields_matched or chosen > MAX_UNPINNED or whole_channel)


def _source_agrees(rule: _Source, event_ids: set[int], item: DataNeeded, source: _Source) -> bool:
    """Filter 1: the item's log source can serve the rule's (directly, by service + event id, or by equivalent)."""
    if rule.product not in (None, source.product):
        return False
    if rule.service in (None, source.service) and rule.category == source.category:
        return True
    if rule.category is None and rule.service is not None and rule.service == source.service:
        return bool(event_ids)  # filter 2 then keeps the items that list them
    return rule.service is None and source.product == "windows" and any(
        service == source.service and ids & set(item.event_ids) for service, ids in _WINDOWS_EQUIVALENTS.get(rule.category or "", ())
    )


def _fields_verdict(alternatives: list[list[str]], item_fields: set[str]) -> str:
    """Filter 3: "match" (carries a needed alternative), "fail" (carries none) or "unknown" (cannot tell)."""
    if any(alt and {f.lower() for f in alt} <= item_fields for alt in alternatives):
        return "match"
    if not item_fields or not alternatives or not all(alternatives):
        return "unknown"
    return "fail"


def _field_alternatives(rule: Rule) -> list[list[str]]:
    """Field lists (original spelling, envelope fields left out), one per needed selection alternative."""
    detection = rule.data.get("detection") if isinstance(rule.data, dict) else None
    if not isinstance(detection, dict):
        raw = [rule.fields]
    else:
        needed = _needed_selections(detection)
        raw = [alt for name in needed for alt in _selection_alternatives(detection[name])]
    cleaned = [[f for f in alt if f.lower() not in _ENVELOPE_FIELDS] for alt in raw]
    return [alt for i, alt in enumerate(cleaned) if alt not in cleaned[:i]]


def _selection_alternatives(selection: object) -> list[list[str]]:
    """A selection's alternatives: a mapping is one, a list gives one per entry (keywords have no fields)."""
    entries = selection if isinstance(selection, list) else [selection]
    return [_field_names(entry) if isinstance(entry, dict) else [] for entry in entries] or [[]]


def _field_names(mapping: dict) -> list[str]:
    """The mapping's field names without modifiers, in order, without repeats."""
    names = [str(key).split("|")[0] for key in mapping]
    return [name for i, name in enumerate(names) if name and name not in names[:i]]


def _needed_selections(detection: dict) -> list[str]:
    """Selections the condition uses outside `not` (all selections when the condition names none)."""
    names = [str(key) for key in detection if key not in ("condition", "timeframe")]
    conditions = detection.get("condition")
    needed: set[str] = set()
    for condition in conditions if isinstance(conditions, list) else [conditions]:
        needed |= _positive_names(str(condition or ""), names)
    return [name for name in names if name in needed] or names


def _positive_names(condition: str, names: list[str]) -> set[str]:
    """Names a condition references without negation; `1 of sel_*` and `them` expand to matching names."""
    found: set[str] = set()
    negated, pending_not = [False], False
    for token in _CONDITION_TOKEN.findall(condition.split("|")[0]):
        word = token.lower()
        if word == "not":
            pending_not = not pending_not
        elif word in _CONDITION_WORDS:
            continue
        elif token == "(":
            negated.append(negated[-1] ^ pending_not)
            pending_not = False
        elif token == ")":
            negated = negated[:-1] or [False]
        else:
            if not negated[-1] ^ pending_not:
                found.update(n for n in names if word == "them" or fnmatchcase(n, token))
            pending_not = False
    return found
