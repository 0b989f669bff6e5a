"""Resolve the `rules:` references of correlation and filter rules (by name or id), linking both pages and gathering what converts together,
and the `related:` ids of every rule, linked both ways."""

from __future__ import annotations

from atc.model import KnowledgeBase, Problem, RelationRef, Rule


def link_references(kb: KnowledgeBase) -> None:
    """Link filters to their rules and correlations to their base rules; set the documents each converts with."""
    by_ref: dict[str, Rule] = {}
    for rule in kb.rules:
        if rule.kind in ("rule", "correlation", "aggregation", "rejected"):
            for ref in (rule.id, rule.name):
                if ref:
                    by_ref.setdefault(ref, rule)
    filters: dict[str, list[Rule]] = {}  # rule slug -> filters applied to it
    for item in (rule for rule in kb.rules if rule.kind == "filter"):
        for target in _targets(item, item.filter_rules, by_ref, kb.problems):
            item.base_rules.append((target.slug, target.title))
            target.filters.append((item.slug, item.title))
            target.filter_files.append(item.path)
            filters.setdefault(target.slug, []).append(item)
    for rule in kb.rules:
        if rule.kind == "rule" and rule.slug in filters:
            rule.conversion_docs = [rule.data, *(item.data for item in filters[rule.slug])]
    for item in (rule for rule in kb.rules if rule.kind == "correlation" and rule.correlation):
        documents: list[dict] = []
        for target in _targets(item, item.correlation.rules, by_ref, kb.problems):
            item.base_rules.append((target.slug, target.title))
            target.used_by.append((item.slug, item.title))
            documents.extend(_documents(target, by_ref, filters, set()))
            item.base_files.extend(path for path in (target.path, *target.base_files) if path != item.path and path not in item.base_files)
            item.filter_files.extend(path for path in target.filter_files if path not in item.filter_files)
        item.conversion_docs = [*_unique(documents), item.data]


def link_relations(kb: KnowledgeBase) -> None:
    """Each rule's `related:` entries, linked to the rule with that id when the knowledge base holds it (which then names the
    relation back); an id it does not hold (a deprecated or deleted rule) is shown as an id."""
    by_id: dict[str, Rule] = {}
    for rule in kb.rules:
        if rule.id:
            by_id.setdefault(rule.id, rule)
    # each rule's relations once each (two rules may name each other, or a rule an id twice), in a dict: a `related:` list
    # may hold tens of thousands
    found = {id(rule): dict.fromkeys(rule.relations) for rule in kb.rules}
    for rule in kb.rules:
        for kind, ref in _relations(rule.data):
            other = by_id.get(ref)
            if other is None:
                found[id(rule)][RelationRef(kind, ref)] = None
            elif other is not rule:
                found[id(rule)][RelationRef(kind, ref, other.slug, other.title)] = None
                found[id(other)][RelationRef(kind, rule.id, rule.slug, rule.title, incoming=True)] = None
    for rule in kb.rules:
        rule.relations[:] = found[id(rule)]


def _relations(data: dict) -> list[tuple[str, str]]:
    """The (type, id) pairs of a rule's `related:` list; entries of another shape are left out (pySigma reports them)."""
    entries = data.get("related")
    if not isinstance(entries, list):
        return []
    return [
        (str(entry.get("type") or "related"), str(entry["id"]))
        for entry in entries
        if isinstance(entry, dict) and isinstance(entry.get("id"), str) and entry["id"].strip()
    ]


def _targets(rule: Rule, refs: tuple[str, ...], by_ref: dict[str, Rule], problems: list[Problem]) -> list[Rule]:
    """The rules a correlation or filter names; a name the knowledge base does not hold is a dangling reference."""
    found = []
    for ref in refs:
        target = by_ref.get(ref)
        if target is None:
            problems.append(
                Problem(
                    str(rule.path),
                    "dangling-ref",
                    f"{rule.kind} rule '{rule.title}' refers to rule {ref!r}, which no rule has as name or id",
                )
            )
        elif target.kind in ("rejected", "aggregation"):
            problems.append(
                Problem(
                    str(rule.path),
                    "dangling-ref",
                    f"{rule.kind} rule '{rule.title}' refers to rule {ref!r}, which pySigma cannot read",
                    severity="warning",
                )
            )
        else:
            found.append(target)
    return found


def _documents(rule: Rule, by_ref: dict[str, Rule], filters: dict[str, list[Rule]], seen: set[str]) -> list[dict]:
    """What a base rule brings into its correlation's conversion: itself, its filters, and for a correlation its own base rules."""
    if rule.slug in seen:
        return []
    seen.add(rule.slug)
    if rule.kind == "correlation" and rule.correlation:
        inner = [doc for ref in rule.correlation.rules if ref in by_ref for doc in _documents(by_ref[ref], by_ref, filters, seen)]
        return [*inner, rule.data]
    return [rule.data, *(item.data for item in filters.get(rule.slug, []))]


def _unique(documents: list[dict]) -> list[dict]:
    """The documents without repeats (a rule used twice), in order."""
    seen: set[int] = set()
    return [doc for doc in documents if id(doc) not in seen and not seen.add(id(doc))]


def inherit_data_needed(kb: KnowledgeBase) -> None:
    """A correlation needs the data of its base rules: their Data Needed items, in order (run after Data Needed matching)."""
    by_slug = {rule.slug: rule for rule in kb.rules}
    for rule in kb.rules:
        if rule.kind == "correlation" and rule.base_rules:
            bases = [by_slug[slug] for slug, _ in rule.base_rules if slug in by_slug]
            rule.data_needed = list(dict.fromkeys(item for base in bases for item in base.data_needed))
            rule.data_needed_gap = None if rule.data_needed else "no Data Needed item serves its base rules"
