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
3. Fields. The rule's condition is read into its "ways to fire": the field sets that can satisfy it.
   A selection mapping is one field set, a selection written as a list of mappings one per entry;
   `a and b` (and `all of sel_*`) combines a set of each side, `a or b` (and `1 of sel_*`, several
   conditions) offers either side's, and whatever is under `not` (filters) needs no field. Field names
   lose their modifiers (`CommandLine|contains` -> CommandLine) and EventID, Channel and Provider_Name are
   left out (filter 2 covers them). An item that lists fields must carry every field of at least one way
   ("fields match"); an item that lists no fields, or a rule with a way that needs no field (keywords
   only), passes without proving anything.
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
MAX_ALTERNATIVES = 256  # field sets kept per rule; `and` over long lists could otherwise multiply without bound


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


def _fields_verdict(alternatives: list[tuple[str, ...]], item_fields: set[str]) -> str:
    """Filter 3: "match" (carries a needed alternative), "fail" (carries none) or "unknown" (cannot tell)."""
    if any(alt and {f.lower() for f in alt} <= item_fields for alt in alternatives):
        return "match"
    if not item_fields or not alternatives or not all(alternatives):
        return "unknown"
    return "fail"


def _field_alternatives(rule: Rule) -> list[tuple[str, ...]]:
    """The field sets (original spelling, envelope fields left out) of the ways the rule's condition can be met."""
    detection = rule.data.get("detection") if isinstance(rule.data, dict) else None
    if not isinstance(detection, dict):
        return _minimal([tuple(f for f in rule.fields if f.lower() not in _ENVELOPE_FIELDS)])
    selections = {str(key): _selection_alternatives(value) for key, value in detection.items() if key not in ("condition", "timeframe")}
    conditions = detection.get("condition")
    alternatives: list[tuple[str, ...]] = []
    for condition in conditions if isinstance(conditions, list) else [conditions]:
        try:
            alternatives += _Condition(str(condition or ""), selections).parse()
        except ValueError:  # pySigma accepted it, so this is rare: any one selection may be enough
            alternatives += [alt for alts in selections.values() for alt in alts]
    return _minimal(alternatives)


def _selection_alternatives(selection: object) -> list[tuple[str, ...]]:
    """A selection's field sets: a mapping is one, a list gives one per entry (keywords need no field)."""
    entries = selection if isinstance(selection, list) else [selection]
    return _minimal([_field_names(entry) if isinstance(entry, dict) else () for entry in entries] or [()])


def _field_names(mapping: dict) -> tuple[str, ...]:
    """The mapping's field names without modifiers and envelope fields, in order, without repeats."""
    names = [str(key).split("|")[0] for key in mapping]
    return tuple(dict.fromkeys(name for name in names if name and name.lower() not in _ENVELOPE_FIELDS))


def _minimal(alternatives: list[tuple[str, ...]]) -> list[tuple[str, ...]]:
    """Distinct alternatives, dropping any that asks for more than another (an item carrying it carries the other)."""
    keyed = [(frozenset(f.lower() for f in alt), alt) for alt in alternatives]
    kept: list[tuple[frozenset[str], tuple[str, ...]]] = []
    for key, alt in sorted(keyed, key=lambda pair: len(pair[0])):
        if not any(other <= key for other, _ in kept):
            kept.append((key, alt))
    return [alt for _, alt in kept[:MAX_ALTERNATIVES]]


def _both(left: list[tuple[str, ...]], right: list[tuple[str, ...]]) -> list[tuple[str, ...]]:
    """`left and right`: every pairing of an alternative of each side, fields combined."""
    return _minimal([a + tuple(f for f in b if f not in a) for a in left for b in right])


class _Condition:
    """Reads a Sigma condition into the field sets that can satisfy it; anything under `not` needs no field."""

    def __init__(self, condition: str, selections: dict[str, list[tuple[str, ...]]]) -> None:
        self.tokens = _CONDITION_TOKEN.findall(condition.split("|")[0])
        self.position = 0
        self.selections = selections

    def parse(self) -> list[tuple[str, ...]]:
        """The whole condition's alternatives; ValueError when it is not one well-formed expression."""
        result = self._or()
        if self.position != len(self.tokens):
            raise ValueError(f"unexpected {self.tokens[self.position]!r}")
        return result

    def _peek(self) -> str:
        return self.tokens[self.position].lower() if self.position < len(self.tokens) else ""

    def _take(self) -> str:
        if self.position >= len(self.tokens):
            raise ValueError("condition ends too early")
        self.position += 1
        return self.tokens[self.position - 1]

    def _or(self) -> list[tuple[str, ...]]:
        result = self._and()
        while self._peek() == "or":
            self._take()
            result = _minimal(result + self._and())
        return result

    def _and(self) -> list[tuple[str, ...]]:
        result = self._operand()
        while self._peek() == "and":
            self._take()
            result = _both(result, self._operand())
        return result

    def _operand(self) -> list[tuple[str, ...]]:
        token = self._take()
        word = token.lower()
        if word == "not":
            self._operand()
            return [()]
        if token == "(":
            result = self._or()
            if self._take() != ")":
                raise ValueError("unbalanced parentheses")
            return result
        if self._peek() == "of":
            self._take()
            return self._quantified(word, self._take())
        if token not in self.selections:
            raise ValueError(f"unknown selection {token!r}")
        return self.selections[token]

    def _quantified(self, quantity: str, pattern: str) -> list[tuple[str, ...]]:
        """`1 of sel_*` (any one of the named selections) or `all of them` (every one)."""
        names = [n for n in self.selections if (pattern.lower() == "them" and not n.startswith("_")) or fnmatchcase(n, pattern)]
        if not names:
            raise ValueError(f"no selection matches {pattern!r}")
        if quantity != "all":
            return _minimal([alt for name in names for alt in self.selections[name]])
        result = self.selections[names[0]]
        for name in names[1:]:
            result = _both(result, self.selections[name])
        return result
