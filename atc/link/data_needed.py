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
   conditions) offers either side's, and whatever is under `not` (filters) needs no field, unless the
   condition is made of negations only (`not 1 of filter_*`): then those are what it inspects. Field names
   lose their modifiers (`CommandLine|contains` -> CommandLine) and EventID, Channel and Provider_Name are
   left out (filter 2 covers them). An item that lists fields must carry every field of at least one way
   ("fields match"); an item that lists no fields, or a rule with a way that needs no field (keywords
   only), passes without proving anything. On auditd rules a plain `type: EXECVE` also pins the record
   type, as an EventID would: the way needs `type=EXECVE`, which an item stating another audit record
   type (ATC writes EXECVE, SYSCALL, PATH as its `type`) cannot give; an item stating none needs `type`.
4. Preference. If any item passed with a fields match, items that passed without one are dropped.
5. No guessing. A rule that names no EventID is not linked when several items remain and the choice is
   loose: none of them has a fields match, or more than MAX_UNPINNED remain (common fields such as
   SubjectUserName exist on most events of a channel), or they are every item of the rule's channel (a
   rule without a category, e.g. `service: auditd` with only `type`). Its gap says so instead.

When nothing is linked, `rule.data_needed_gap` names the filter that removed the last candidate, e.g.
"no Data Needed for product=linux category=process_creation".
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from sigma.conditions import ConditionAND, ConditionIdentifier, ConditionItem, ConditionNOT, ConditionOR, ConditionSelector, SigmaCondition
from sigma.exceptions import SigmaError

from atc.link.references import inherit_data_needed
from atc.model import DataNeeded, KnowledgeBase, LogSource, Rule

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
# auditd record types an item may state as its `type`; a rule's `type: EXECVE` then picks the item, like an EventID
AUDIT_RECORD_TYPES = frozenset(
    {
        "execve",
        "syscall",
        "path",
        "cwd",
        "proctitle",
        "sockaddr",
        "config_change",
        "user_cmd",
        "user_auth",
        "user_acct",
        "user_login",
        "user_start",
        "user_end",
        "user_chauthtok",
        "add_user",
        "del_user",
        "add_group",
        "del_group",
        "cred_acq",
        "login",
        "service_start",
        "service_stop",
        "kern_module",
        "netfilter_cfg",
        "avc",
        "tty",
        "mmap",
        "bprm_fcaps",
    }
)
_PINNED = "type="  # a way's pseudo-field for a pinned auditd record type: type=EXECVE
MAX_ALTERNATIVES = 64  # smallest field sets kept per step; `and` over long lists could otherwise multiply without bound


@dataclass(frozen=True)
class _Source:
    """A log source with every value lower-cased, for comparison."""

    product: str | None
    service: str | None
    category: str | None

    @classmethod
    def of(cls, logsource: LogSource) -> _Source:
        """The lower-cased copy of a model LogSource."""
        return cls(*((value or "").lower() or None for value in (logsource.product, logsource.service, logsource.category)))


def link_kind(kb: KnowledgeBase) -> None:
    """The Data Needed kind's linker: each rule's items, then a correlation's from its base rules."""
    link_data_needed(kb.rules, kb.data_needed)
    inherit_data_needed(kb)


def link_data_needed(rules: list[Rule], items: dict[str, DataNeeded]) -> None:
    """Set every rule's `data_needed` (sorted ids) and, when it stays empty, its `data_needed_gap`."""
    candidates = [(item, _Source.of(item.logsource), _item_fields(item)) for item in items.values()]
    for rule in rules:
        rule.data_needed, rule.data_needed_gap = _choose(rule, candidates)


def _item_fields(item: DataNeeded) -> set[str]:
    """The item's field names, lower-cased, plus `type=<record>` when an auditd item states its record type."""
    fields = {f.lower() for f in item.fields}
    record = (item.type or "").lower()
    if (item.logsource.service or "").lower() == "auditd" and record in AUDIT_RECORD_TYPES:
        fields.add(_PINNED + record)
    return fields


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
        return (
            [],
            f"{len(chosen)} of the {len(passed)} Data Needed items for {where} fit; the rule names no EventID or distinctive field to pick among them",
        )
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
    return (
        rule.service is None
        and source.product == "windows"
        and any(
            service == source.service and ids & set(item.event_ids) for service, ids in _WINDOWS_EQUIVALENTS.get(rule.category or "", ())
        )
    )


def _fields_verdict(alternatives: list[tuple[str, ...]], item_fields: set[str]) -> str:
    """Filter 3: "match" (carries a needed alternative), "fail" (carries none) or "unknown" (cannot tell)."""
    if any(alt and _carries(item_fields, alt) for alt in alternatives):
        return "match"
    if not item_fields or not alternatives or not all(alternatives):
        return "unknown"
    return "fail"


def _carries(item_fields: set[str], way: tuple[str, ...]) -> bool:
    """Whether the item has every field of the way; a pinned record type needs the item's own, or any when it states none."""
    wanted = {f.lower() for f in way}
    pinned = {f for f in wanted if f.startswith(_PINNED)}
    if pinned and not any(f.startswith(_PINNED) for f in item_fields):
        wanted = (wanted - pinned) | {"type"}
    return wanted <= item_fields


def _field_alternatives(rule: Rule) -> list[tuple[str, ...]]:
    """The field sets (original spelling, envelope fields left out) of the ways the rule's condition can be met."""
    detection = rule.data.get("detection") if isinstance(rule.data, dict) else None
    if not isinstance(detection, dict):
        return _minimal([tuple(f for f in rule.fields if f.lower() not in _ENVELOPE_FIELDS)])
    pin = (rule.logsource.service or "").lower() == "auditd"
    selections = {
        str(key): _selection_alternatives(value, pin) for key, value in detection.items() if key not in ("condition", "timeframe")
    }
    conditions = detection.get("condition")
    trees = rule.conditions or [str(condition or "") for condition in (conditions if isinstance(conditions, list) else [conditions])]
    alternatives: list[tuple[str, ...]] = []
    for tree in trees:
        try:
            alternatives += _ConditionWays.of(tree, selections)
        except (SigmaError, ValueError):  # pySigma accepted the rule, so this is rare: any one selection may be enough
            alternatives += [alt for alts in selections.values() for alt in alts]
    return _minimal(alternatives)


def _selection_alternatives(selection: object, pin: bool) -> list[tuple[str, ...]]:
    """A selection's field sets: a mapping is one, a list gives one per entry (keywords need no field)."""
    entries = selection if isinstance(selection, list) else [selection]
    return _minimal([way for entry in entries for way in (_mapping_ways(entry, pin) if isinstance(entry, dict) else [()])] or [()])


def _mapping_ways(mapping: dict, pin: bool) -> list[tuple[str, ...]]:
    """A mapping's field set; with `pin` (auditd) its plain `type` values become one way each: (a0, type=EXECVE)."""
    names = _field_names(mapping)
    values = mapping.get("type") if pin else None
    records = (
        [values] if isinstance(values, str) else values if isinstance(values, list) and all(isinstance(v, str) for v in values) else []
    )
    if not records:
        return [names]
    rest = tuple(name for name in names if name != "type")
    return [rest + (_PINNED + record,) for record in records]


def _field_names(mapping: dict) -> tuple[str, ...]:
    """The mapping's field names without modifiers and envelope fields, in order, without repeats."""
    names = [str(key).split("|")[0] for key in mapping]
    return tuple(dict.fromkeys(name for name in names if name and name.lower() not in _ENVELOPE_FIELDS))


def _minimal(alternatives: list[tuple[str, ...]]) -> list[tuple[str, ...]]:
    """Distinct alternatives, dropping any that asks for more than another (an item carrying it carries the other)."""
    keyed = [(frozenset(f.lower() for f in alt), alt) for alt in alternatives]
    kept: list[tuple[frozenset[str], tuple[str, ...]]] = []
    for key, alt in sorted(keyed, key=lambda pair: len(pair[0])):
        if len(kept) == MAX_ALTERNATIVES:
            break
        if not any(other <= key for other, _ in kept):
            kept.append((key, alt))
    return [alt for _, alt in kept]


def _both(left: list[tuple[str, ...]], right: list[tuple[str, ...]]) -> list[tuple[str, ...]]:
    """`left and right`: every pairing of an alternative of each side, fields combined."""
    return _minimal([a + tuple(f for f in b if f not in a) for a in left for b in right])


@lru_cache(maxsize=4096)
def _parsed(condition: str) -> ConditionItem:
    """pySigma's parse tree of a condition, its selections unresolved (read, never changed: shared by the rules that write it)."""
    return SigmaCondition(condition, None).parse(postprocess=False)  # type: ignore[arg-type,return-value]


@dataclass
class _Names:
    """The selection names a condition can refer to, shaped as pySigma's selectors look them up (`detections.detections`)."""

    detections: dict[str, list[tuple[str, ...]]]


@dataclass
class _ConditionWays:
    """Reads pySigma's parse tree of a condition into the field sets that can satisfy it; anything under `not` needs no field."""

    selections: dict[str, list[tuple[str, ...]]]
    through_not: bool = False  # read negated selections like the others
    positive: bool = False  # whether a selection was used outside any `not`

    @classmethod
    def of(cls, condition: object, selections: dict[str, list[tuple[str, ...]]]) -> list[tuple[str, ...]]:
        """The condition's field sets; one made only of negations (`not 1 of filter_*`) inspects its negated fields.

        The tree is pySigma's, before its selections are resolved into detection items: the field sets come from the
        rule's own selections. The load stage keeps it; a condition given as text (a rule pySigma rejected, such as an
        aggregation in the old syntax, whose part after `|` chooses no fields) is parsed here, SigmaError when it is not
        one well-formed expression.
        """
        tree = _parsed(condition.split("|")[0]) if isinstance(condition, str) else condition
        reader = cls(selections)
        found = reader.ways(tree, negated=False)
        return found if reader.positive else cls(selections, through_not=True).ways(tree, negated=False)

    def ways(self, node: object, negated: bool) -> list[tuple[str, ...]]:
        """The field sets of one node of the tree."""
        if isinstance(node, ConditionNOT):
            inner = self.ways(node.args[0], negated=True)
            return inner if self.through_not else [()]
        if isinstance(node, (ConditionAND, ConditionOR)):
            return self.combine(type(node), [self.ways(arg, negated) for arg in node.args])
        self.positive = self.positive or not negated
        if isinstance(node, ConditionIdentifier):
            if node.identifier not in self.selections:
                raise ValueError(f"unknown selection {node.identifier!r}")
            return self.selections[node.identifier]
        if isinstance(node, ConditionSelector):  # `1 of sel_*`, `all of them`: the selections pySigma would pick
            names = [found.identifier for found in node.resolve_referenced_detections(_Names(self.selections))]  # type: ignore[arg-type]
            if not names:
                raise ValueError(f"no selection matches {node.pattern!r}")
            return self.combine(node.cond_class, [self.selections[name] for name in names])
        raise ValueError(f"unexpected {type(node).__name__} in the condition")

    @staticmethod
    def combine(operator: type, sides: list[list[tuple[str, ...]]]) -> list[tuple[str, ...]]:
        """`or`: either side's field sets; `and`: every pairing of a set of each side."""
        if operator is ConditionOR:
            return _minimal([alt for side in sides for alt in side])
        result = sides[0]
        for side in sides[1:]:
            result = _both(result, side)
        return result
