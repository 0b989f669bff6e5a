"""What a change does to the knowledge base: rules added, changed, renamed and removed, query diffs,
conversions newly failing or working, new problems, and ATT&CK coverage, Data Needed and trigger deltas.

Only the rule files that differ between the sides are converted; linking (cheap) covers every rule of both sides.
"""

from __future__ import annotations

import difflib
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from atc.convert.cache import ConversionCache
from atc.convert.runner import conversion_text, convert_rules
from atc.convert.targets import Target
from atc.convert.team_targets import TargetError, team_target
from atc.history.gitrev import repo_top
from atc.history.revision import Side, at_revision, load_pair, working_tree
from atc.link.attack import counted_id
from atc.model import KnowledgeBase, Problem, Rule
from atc.settings import Settings


@dataclass(frozen=True, order=True)
class RuleRef:
    path: str
    id: str
    title: str


@dataclass(frozen=True, order=True)
class Unreadable:
    """A rule whose file is still there but no longer loads (broken YAML, a document pySigma rejects): not removed."""

    path: str
    id: str
    title: str
    reason: str


@dataclass(frozen=True, order=True)
class Rename:
    old_path: str
    new_path: str
    id: str
    title: str


@dataclass(frozen=True)
class FieldChange:
    field: str  # a top-level key of the rule, or "linked ..." for what linking derived from it
    before: str | None
    after: str | None


@dataclass(frozen=True)
class QueryDiff:
    target: str
    diff: str  # unified diff of the query text, base → head


@dataclass(frozen=True)
class TargetQuery:
    target: str
    query: str


@dataclass(frozen=True)
class AddedQueries:
    """The queries of a rule the change adds, for the reviewer to read (its failing conversions are in newly_failing)."""

    path: str
    id: str
    title: str
    queries: list[TargetQuery]


@dataclass
class RuleChange:
    path: str
    id: str
    title: str
    old_path: str
    fields: list[FieldChange] = field(default_factory=list)
    queries: list[QueryDiff] = field(default_factory=list)


@dataclass(frozen=True, order=True)
class ConversionChange:
    target: str
    path: str
    id: str
    title: str
    error: str | None = None  # why the head side fails (newly failing only)


@dataclass(frozen=True, order=True)
class ProblemEntry:
    path: str
    kind: str
    message: str
    severity: str
    line: int | None = field(default=None, compare=False)  # where in the file (broken YAML); not part of what makes it new


@dataclass(frozen=True, order=True)
class BrokenRelation:
    """A rule's `related:` entry that named a rule of the knowledge base before the change and names none after it."""

    path: str
    id: str
    title: str
    type: str
    other_id: str
    other_title: str


@dataclass(frozen=True, order=True)
class Named:
    id: str
    name: str


@dataclass
class DiffReport:
    """Everything `atc diff` reports; lists are sorted so that the same change always gives the same report."""

    base: str
    head: str
    targets: list[str]
    rules_before: int
    rules_after: int
    added: list[RuleRef] = field(default_factory=list)
    added_queries: list[AddedQueries] = field(default_factory=list)  # in the order of added
    removed: list[RuleRef] = field(default_factory=list)
    unreadable: list[Unreadable] = field(default_factory=list)  # rules whose file the change broke
    renamed: list[Rename] = field(default_factory=list)
    changed: list[RuleChange] = field(default_factory=list)
    newly_failing: list[ConversionChange] = field(default_factory=list)
    newly_working: list[ConversionChange] = field(default_factory=list)
    new_problems: list[ProblemEntry] = field(default_factory=list)
    fixed_problems: list[ProblemEntry] = field(default_factory=list)
    coverage_before: int = 0
    coverage_after: int = 0
    coverage_gained: list[Named] = field(default_factory=list)
    coverage_lost: list[Named] = field(default_factory=list)
    data_needed_linked: list[str] = field(default_factory=list)
    data_needed_lost: list[str] = field(default_factory=list)
    triggers_linked: list[Named] = field(default_factory=list)
    triggers_lost: list[Named] = field(default_factory=list)
    relations_broken: list[BrokenRelation] = field(default_factory=list)

    def is_empty(self) -> bool:
        """Whether the change leaves the knowledge base as it was."""
        return not any(getattr(self, name) for name in CHANGE_LISTS)


CHANGE_LISTS = (
    "added",
    "removed",
    "unreadable",
    "renamed",
    "changed",
    "newly_failing",
    "newly_working",
    "new_problems",
    "fixed_problems",
    "coverage_gained",
    "coverage_lost",
    "data_needed_linked",
    "data_needed_lost",
    "triggers_linked",
    "triggers_lost",
    "relations_broken",
)


def run_diff(cwd: Path, base: str, head: str | None, config: str | None, targets: list[Target], jobs: int) -> DiffReport:
    """Compare the knowledge base at revision base with revision head (None: the working tree)."""
    top = repo_top(cwd)
    work = working_tree(top, config)
    cache = ConversionCache(work.settings.cache_dir)  # the build's cache: queries of unchanged text are not converted again
    try:
        with tempfile.TemporaryDirectory(prefix="atc-diff-") as tmp:
            base_side = at_revision(top, base, Path(tmp) / "base", config)
            head_side = work if head is None else at_revision(top, head, Path(tmp) / "head", config)
            base_kb, head_kb = load_pair(top, base_side, head_side, jobs)
            base_targets = [as_at(target, base_side.settings) for target in targets]
            return compare(base_side, base_kb, head_side, head_kb, targets, jobs, cache, base_targets)
    finally:
        cache.close()


def as_at(target: Target, settings: Settings) -> Target:
    """A team target as a revision's atc.yml defines it, with that revision's pipeline files (the target itself when the
    revision has no such entry, or one that cannot be used)."""
    entry = next((entry for entry in settings.target_entries if entry.key == target.key), None)
    if target.shown_pipelines is None or entry is None:
        return target
    try:
        return team_target(entry, settings.base_dir)
    except TargetError:
        return target


def _same(target: Target, other: Target) -> bool:
    """Whether two definitions of a target convert alike (pipeline files by content, wherever they lie)."""
    return replace(other, pipelines=target.pipelines) == target


def pair_rules(
    base: Side, base_rules: list[Rule], head: Side, head_rules: list[Rule]
) -> tuple[list[tuple[Rule, Rule]], list[Rule], list[Rule]]:
    """Match rules across sides: same path and id, then same id (a move), then same text (a move of an id-less rule)."""
    left = {id(rule): rule for rule in base_rules}  # unmatched base rules, in order
    right = list(head_rules)
    pairs: list[tuple[Rule, Rule]] = []
    for key in (lambda r, s: (s.rel(r.path), r.id), lambda r, s: r.id or None, lambda r, s: r.source_text):
        index: dict[Any, list[Rule]] = {}
        for rule in left.values():
            if (k := key(rule, base)) is not None:
                index.setdefault(k, []).append(rule)
        unmatched: list[Rule] = []
        for rule in right:
            candidates = index.get(key(rule, head))
            if candidates:
                match = candidates.pop(0)
                del left[id(match)]
                pairs.append((match, rule))
            else:
                unmatched.append(rule)
        right = unmatched
    return pairs, list(left.values()), right


def compare(
    base: Side,
    base_kb: KnowledgeBase,
    head: Side,
    head_kb: KnowledgeBase,
    targets: list[Target],
    jobs: int,
    cache: ConversionCache | None = None,
    base_targets: list[Target] | None = None,
) -> DiffReport:
    """The report for two linked knowledge bases; converts the rules whose text differs, and every rule for a team target
    whose definition or pipeline files differ (base_targets: the targets as the base defines them, in the same order)."""
    base_targets = base_targets or targets
    redefined = [target.key for target, before in zip(targets, base_targets) if not _same(target, before)]
    pairs, removed, added = pair_rules(base, base_kb.rules, head, head_kb.rules)
    edited = {id(new) for old, new in pairs if conversion_text(old) != conversion_text(new)}  # a rule's own documents, with its filters
    converted = pairs if redefined else [(old, new) for old, new in pairs if id(new) in edited]
    convert_rules([old for old, _ in converted], base_targets, jobs, cache=cache)
    convert_rules([new for _, new in converted] + added, targets, jobs, cache=cache)
    changed = [(old, new) for old, new in converted if id(new) in edited or _queries_differ(old, new, redefined)]
    report = DiffReport(base.label, head.label, [t.key for t in targets], len(base_kb.rules), len(head_kb.rules))
    added.sort(key=lambda rule: (head.rel(rule.path), rule.id, rule.title))
    report.added = [RuleRef(head.rel(r.path), r.id, r.title) for r in added]
    report.added_queries = [
        AddedQueries(
            head.rel(r.path), r.id, r.title, [TargetQuery(t.key, r.conversions[t.key].query or "") for t in targets if _ok(r, t.key)]
        )
        for r in added
    ]
    broken = {  # files that do not load, with why (and where)
        head.rel(p.path): f"line {p.line}: {p.message}" if p.line else p.message
        for p in head_kb.problems
        if p.kind == "rule" and p.severity == "error"
    }
    for rule in removed:
        path = base.rel(rule.path)
        if path in broken:
            report.unreadable.append(Unreadable(path, rule.id, rule.title, broken[path]))
        else:
            report.removed.append(RuleRef(path, rule.id, rule.title))
    report.removed.sort()
    report.unreadable.sort()
    report.renamed = sorted(
        Rename(base.rel(old.path), head.rel(new.path), new.id, new.title) for old, new in pairs if base.rel(old.path) != head.rel(new.path)
    )
    for old, new in sorted(changed, key=lambda pair: head.rel(pair[1].path)):
        report.changed.append(rule_change(base, old, head, new, targets))
        for target in targets:  # a filter or a rule pySigma rejects has no conversion at all
            after = new.conversions.get(target.key)
            was, now = _ok(old, target.key), _ok(new, target.key)
            if was and not now:
                report.newly_failing.append(
                    ConversionChange(
                        target.key, head.rel(new.path), new.id, new.title, after.error if after else f"not converted (a {new.kind} rule)"
                    )
                )
            elif now and not was:
                report.newly_working.append(ConversionChange(target.key, head.rel(new.path), new.id, new.title))
    for rule in added:
        report.newly_failing.extend(
            ConversionChange(c.target, head.rel(rule.path), rule.id, rule.title, c.error)
            for c in rule.conversions.values()
            if c.status != "ok"
        )
    report.newly_failing.sort()
    report.newly_working.sort()
    # `atc check`'s validators, on what differs, with each side's own exclusions
    from atc.link.validation import (
        validate,  # imported here: pySigma's validators take a while to import, and the history stage uses this module without them
    )

    base_problems = base_kb.problems + validate([old for old, _ in changed] + removed, base.settings.validator_exclusions)
    head_problems = head_kb.problems + validate([new for _, new in changed] + added, head.settings.validator_exclusions)
    _problem_deltas(report, base, base_problems, head, head_problems)
    link_deltas(report, base_kb, head_kb)
    report.relations_broken = broken_relations(base_kb, head, head_kb)
    return report


def _show(value: Any) -> str | None:
    """A rule value as one line of YAML (None when absent)."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    return (
        yaml.safe_dump(value, default_flow_style=True, sort_keys=False, width=10**9, allow_unicode=True).strip().removesuffix("...").strip()
    )


def _linked_facts(rule: Rule) -> dict[str, str]:
    """What linking derived from a rule, as comparable text."""
    return {
        "linked ATT&CK techniques": ", ".join(sorted({tid for ref in rule.techniques if (tid := counted_id(ref))})),
        "linked Data Needed": ", ".join(sorted(rule.data_needed)),
        "linked triggers": ", ".join(sorted(ref.technique_id for ref in rule.triggers)),
    }


def _ok(rule: Rule, key: str) -> bool:
    """Whether the rule converted for this target."""
    conversion = rule.conversions.get(key)
    return conversion is not None and conversion.status == "ok"


def _queries_differ(old: Rule, new: Rule, keys: list[str]) -> bool:
    """Whether a rule's queries for these targets differ between its two versions."""
    return any(old.conversions.get(key) != new.conversions.get(key) for key in keys)


def rule_change(base: Side, old: Rule, head: Side, new: Rule, targets: list[Target]) -> RuleChange:
    """The metadata fields and the queries that differ between two versions of a rule."""
    change = RuleChange(head.rel(new.path), new.id, new.title, base.rel(old.path))
    for key in dict.fromkeys([*new.data, *old.data]):
        if old.data.get(key) == new.data.get(key):  # equal values show alike: skip dumping them
            continue
        before, after = _show(old.data.get(key)), _show(new.data.get(key))
        if before != after:
            change.fields.append(FieldChange(str(key), before, after))
    old_links, new_links = _linked_facts(old), _linked_facts(new)
    change.fields.extend(
        FieldChange(name, old_links[name] or None, new_links[name] or None) for name in new_links if old_links[name] != new_links[name]
    )
    for target in targets:
        before, after = (rule.conversions[target.key].query or "" if target.key in rule.conversions else "" for rule in (old, new))
        if before != after:
            lines = difflib.unified_diff(before.splitlines(), after.splitlines(), f"a/{change.old_path}", f"b/{change.path}", lineterm="")
            change.queries.append(QueryDiff(target.key, "\n".join(lines)))
    return change


def _problem_set(side: Side, problems: list[Problem]) -> dict[tuple[str, str, str], ProblemEntry]:
    """A side's problems keyed by (repository path, kind, message), independent of where the side's files are."""
    entries: dict[tuple[str, str, str], ProblemEntry] = {}
    for problem in problems:
        entry = _entry(side, problem)
        entries.setdefault((entry.path, entry.kind, entry.message), entry)
    return entries


def _entry(side: Side, problem: Problem) -> ProblemEntry:
    message = problem.message.replace(str(side.root) + "/", "")
    return ProblemEntry(side.rel(problem.path), problem.kind, message, problem.severity, problem.line)


def _problem_deltas(report: DiffReport, base: Side, base_problems: list[Problem], head: Side, head_problems: list[Problem]) -> None:
    before, after = _problem_set(base, base_problems), _problem_set(head, head_problems)
    report.new_problems = sorted(after[key] for key in after.keys() - before.keys())
    report.fixed_problems = sorted(before[key] for key in before.keys() - after.keys())


def coverage(kb: KnowledgeBase) -> dict[str, str]:
    """The ATT&CK techniques any rule covers (revoked ids counted as their replacement): id -> name."""
    covered: dict[str, str] = {}
    for rule in kb.rules:
        for ref in rule.techniques:
            tid = counted_id(ref)
            if tid:
                technique = kb.attack.techniques.get(tid)
                covered[tid] = technique.name if technique else tid
    return covered


def _trigger_names(kb: KnowledgeBase) -> dict[str, str]:
    return {
        ref.technique_id: kb.triggers[ref.technique_id].display_name
        for rule in kb.rules
        for ref in rule.triggers
        if ref.technique_id in kb.triggers
    }


def link_deltas(report: DiffReport, base_kb: KnowledgeBase, head_kb: KnowledgeBase) -> None:
    before, after = coverage(base_kb), coverage(head_kb)
    report.coverage_before, report.coverage_after = len(before), len(after)
    report.coverage_gained = sorted(Named(tid, after[tid]) for tid in after.keys() - before.keys())
    report.coverage_lost = sorted(Named(tid, before[tid]) for tid in before.keys() - after.keys())
    dn_before = {item for rule in base_kb.rules for item in rule.data_needed}
    dn_after = {item for rule in head_kb.rules for item in rule.data_needed}
    report.data_needed_linked, report.data_needed_lost = sorted(dn_after - dn_before), sorted(dn_before - dn_after)
    tr_before, tr_after = _trigger_names(base_kb), _trigger_names(head_kb)
    report.triggers_linked = sorted(Named(tid, tr_after[tid]) for tid in tr_after.keys() - tr_before.keys())
    report.triggers_lost = sorted(Named(tid, tr_before[tid]) for tid in tr_before.keys() - tr_after.keys())


def broken_relations(base_kb: KnowledgeBase, head: Side, head_kb: KnowledgeBase) -> list[BrokenRelation]:
    """The `related:` entries of head's rules that name no rule of head's knowledge base but named one of base's (a rule
    the change removed, or whose id it changed): the rule page shows the id where it linked the rule."""
    linked = {
        (rule.id or rule.source_text, ref.type, ref.id): ref.title or ref.id
        for rule in base_kb.rules
        for ref in rule.relations
        if not ref.incoming and ref.slug is not None
    }
    return sorted(
        BrokenRelation(head.rel(rule.path), rule.id, rule.title, ref.type, ref.id, linked[key])
        for rule in head_kb.rules
        for ref in rule.relations
        if not ref.incoming and ref.slug is None and (key := (rule.id or rule.source_text, ref.type, ref.id)) in linked
    )
