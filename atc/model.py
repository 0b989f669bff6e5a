"""The plain data model passed between the pipeline stages (load → link → convert → render → site)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from atc.kinds import KINDS

Severity = Literal["error", "warning"]


@dataclass(frozen=True, order=True)
class Problem:
    """Something wrong with one input file; the build reports it and carries on."""

    path: str
    kind: str
    message: str
    line: int | None = None
    severity: Severity = "error"

    @property
    def where(self) -> str:
        """The file, with the line when there is one (path:line)."""
        return f"{self.path}:{self.line}" if self.line else self.path

    def __str__(self) -> str:
        return f"{self.where}: {self.severity}: [{self.kind}] {self.message}"


@dataclass(frozen=True, order=True)
class LogSource:
    """A Sigma log source: product / service / category (any may be None)."""

    product: str | None = None
    service: str | None = None
    category: str | None = None

    def describe(self) -> str:
        parts = [f"{k}={v}" for k, v in (("product", self.product), ("service", self.service), ("category", self.category)) if v]
        return " ".join(parts) or "no log source"


# --- ATT&CK -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tactic:
    id: str  # TA0008
    shortname: str  # lateral-movement
    name: str  # Lateral Movement
    url: str


@dataclass(frozen=True)
class Technique:
    id: str  # T1021.002
    name: str
    url: str
    tactics: tuple[str, ...] = ()  # tactic shortnames
    platforms: tuple[str, ...] = ()
    parent: str | None = None  # T1021 for T1021.002
    deprecated: bool = False
    revoked: bool = False
    revoked_by: str | None = None  # end of the revoked-by chain
    data_components: tuple[str, ...] = ()


@dataclass(frozen=True)
class AttackLogSource:
    """A log source as ATT&CK names it: `WinEventLog:Security` / `EventCode=5145`, `auditd:SYSCALL` / `execve`."""

    name: str
    channel: str


@dataclass(frozen=True)
class DataComponent:
    """An ATT&CK data component (DC0102 Network Share Access) and the log sources that carry it."""

    id: str
    name: str
    url: str
    log_sources: tuple[AttackLogSource, ...] = ()


@dataclass(frozen=True)
class AnalyticLogSource:
    """One log source an analytic reads, with the data component it belongs to."""

    data_component: str  # DC id
    name: str
    channel: str


@dataclass(frozen=True)
class Analytic:
    """An ATT&CK analytic (AN1468): one platform's way of carrying out a detection strategy."""

    id: str
    platforms: tuple[str, ...]
    log_sources: tuple[AnalyticLogSource, ...] = ()
    mutable_elements: tuple[str, ...] = ()  # the fields a team tunes: TimeWindow, UserContext, ...


@dataclass(frozen=True)
class DetectionStrategy:
    """An ATT&CK detection strategy (DET0530): the techniques it detects and its analytics."""

    id: str
    name: str
    url: str
    techniques: tuple[str, ...] = ()
    analytics: tuple[str, ...] = ()  # AN ids


@dataclass
class AttackSnapshot:
    """Compact offline ATT&CK facts, loaded from the snapshot shipped in the package."""

    version: str
    source: str
    tactics: list[Tactic]  # matrix order
    techniques: dict[str, Technique]
    data_components: dict[str, DataComponent] = field(default_factory=dict)
    detection_strategies: dict[str, DetectionStrategy] = field(default_factory=dict)
    analytics: dict[str, Analytic] = field(default_factory=dict)

    def strategies_for(self, technique_id: str) -> list[DetectionStrategy]:
        """The detection strategies that detect a technique, by id."""
        return self._strategies_by_technique.get(technique_id, [])

    @cached_property
    def _strategies_by_technique(self) -> dict[str, list[DetectionStrategy]]:
        found: dict[str, list[DetectionStrategy]] = {}
        for strategy in sorted(self.detection_strategies.values(), key=lambda s: s.id):
            for tid in strategy.techniques:
                found.setdefault(tid, []).append(strategy)
        return found

    def tactic_by_shortname(self, shortname: str) -> Tactic | None:
        for tactic in self.tactics:
            if tactic.shortname == shortname:
                return tactic
        return None


TechniqueStatus = Literal["current", "revoked", "deprecated", "unknown", "newer"]  # newer: an ATT&CK v19 id the snapshot predates


@dataclass(frozen=True)
class TechniqueRef:
    """A technique id as a rule tagged it, resolved against the snapshot."""

    tag_id: str  # as tagged, upper-case: T1077
    status: TechniqueStatus
    technique: Technique | None = None  # the technique the tag names (None when unknown)
    current: Technique | None = None  # where a revoked id now lives (end of the chain); for "newer", the embedded id it counts as
    embedded: tuple[str, ...] = ()  # "newer": the embedded snapshot's ids for this v19 id (atc/link/attack_v19.py)


@dataclass(frozen=True)
class DetectionRef:
    """A detection strategy of a rule's technique, and the analytics whose log sources the rule reads."""

    strategy: str  # DET id
    technique: str  # the current technique id it detects
    implements: tuple[str, ...] = ()  # AN ids on the rule's platforms; empty: same technique, other data


@dataclass(frozen=True)
class RelationRef:
    """A Sigma `related:` entry of a rule (or, `incoming`, of another rule naming it), with the page when the knowledge base holds it."""

    type: str  # derived, obsolete, merged, renamed, similar (as written)
    id: str  # the other rule's id
    slug: str | None = None  # the other rule's page, None when no rule of the knowledge base has the id
    title: str | None = None
    incoming: bool = False  # the other rule names this one in its `related:`

    @property
    def phrase(self) -> str:
        """How the relation reads before the other rule: "derived from", "obsoleted by", ..."""
        phrases = RELATION_PHRASES.get(self.type.lower())
        return phrases[self.incoming] if phrases else f"{self.type} ({'named by' if self.incoming else 'names'})"


RELATION_PHRASES = {  # Sigma's relation types: (this rule names the other, the other names this rule)
    "derived": ("derived from", "source of"),
    "obsolete": ("obsoletes", "obsoleted by"),
    "merged": ("merged from", "merged into"),
    "renamed": ("renamed from", "renamed to"),
    "similar": ("similar to", "similar to"),
}


@dataclass(frozen=True)
class TacticRef:
    tag: str  # as tagged: lateral_movement
    tactic: Tactic | None  # None when the snapshot does not know it
    newer: str | None = None  # an ATT&CK v19 tactic the snapshot predates: its v19 id and name, e.g. "TA0112 Defense Impairment"


# --- knowledge base items ----------------------------------------------------------------------


@dataclass
class Rule:
    """One Sigma rule: its facts, its own YAML text and (after linking) its cross-links."""

    path: Path
    source_text: str
    data: dict
    id: str
    title: str
    slug: str  # page name under Detection_Rules/
    description: str = ""
    status: str | None = None
    level: str | None = None
    author: str | None = None
    date: str | None = None
    references: list[str] = field(default_factory=list)
    falsepositives: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    logsource: LogSource = field(default_factory=LogSource)
    fields: list[str] = field(default_factory=list)  # detection fields, modifiers stripped
    event_ids: list[int] = field(default_factory=list)
    conditions: tuple[object, ...] = ()  # pySigma's parse trees of the conditions, selections unresolved (none: pySigma rejected it)
    # filled by the link stage
    tactics: list[TacticRef] = field(default_factory=list)
    techniques: list[TechniqueRef] = field(default_factory=list)
    data_needed: list[str] = field(default_factory=list)  # Data Needed ids
    data_needed_gap: str | None = None  # why no Data Needed matched
    triggers: list[TriggerRef] = field(default_factory=list)
    data_components: list[str] = field(default_factory=list)  # ATT&CK DC ids of what the rule reads
    detections: list[DetectionRef] = field(default_factory=list)  # the detection strategies of its techniques
    # filled by the convert stage: target key -> conversion
    conversions: dict[str, Conversion] = field(default_factory=dict)
    # filled by the verifier: target key -> one line on how its query did on the rule's example events
    verification: dict[str, str] = field(default_factory=dict)
    # filled from the rule's SigmaHQ regression tests (regression_tests_path), when that path resolves
    evidence: list[Evidence] = field(default_factory=list)
    evidence_source: str | None = None  # the info.yml, relative to the folder it resolved in
    # what kind of Sigma document the page shows, and what belongs to that kind (atc/load/documents.py)
    kind: RuleKind = "rule"
    page_stem: str = ""  # the wanted page name before collisions are resolved: the file's stem, plus a suffix after its first document
    document: int = 0  # the document's position in a multi-document file
    shares_file: bool = False  # the file holds other rule documents too (its reproduce line converts them all)
    name: str | None = None  # Sigma `name:`, by which correlation and filter rules refer to it
    problem: str | None = None  # "rejected": pySigma's reason, shown in a banner
    correlation: Correlation | None = None
    filter_rules: tuple[str, ...] = ()  # "filter": the names or ids of the rules it applies to
    equivalent: str | None = None  # "aggregation": the Sigma 2 correlation atc writes for it (YAML text)
    equivalent_note: str | None = None  # what atc assumed writing it, or why it wrote none
    conversion_docs: list[dict] | None = None  # the documents converted together (base rules, filters, this one); None: `data` alone
    # filled by the link stage (atc/link/references.py): (slug, title) of the pages linked both ways
    base_rules: list[tuple[str, str]] = field(default_factory=list)  # a correlation's rules, a filter's rules
    used_by: list[tuple[str, str]] = field(default_factory=list)  # the correlation rules that use this rule
    filters: list[tuple[str, str]] = field(default_factory=list)  # the filters applied to this rule's queries
    relations: list[RelationRef] = field(default_factory=list)  # its `related:` ids and the rules naming it in theirs
    base_files: list[Path] = field(
        default_factory=list
    )  # other files converted with it (a correlation's base rules), for the reproduce line
    filter_files: list[Path] = field(default_factory=list)  # the files of the filters applied to it (sigma convert --filter)

    @property
    def convertible(self) -> bool:
        """Whether targets convert this document: not a filter (no query of its own), a rule pySigma rejects, an aggregation
        atc wrote no equivalent for, nor a correlation none of whose rules the knowledge base holds."""
        if self.kind == "correlation":
            return bool(self.base_rules)
        return self.kind == "rule" or (self.kind == "aggregation" and self.conversion_docs is not None)


RuleKind = Literal["rule", "correlation", "filter", "aggregation", "rejected"]


@dataclass(frozen=True)
class Correlation:
    """A Sigma 2 correlation rule's settings, as written."""

    type: str
    rules: tuple[str, ...]
    group_by: tuple[str, ...] = ()
    timespan: str | None = None
    condition: str | None = None  # e.g. "gte: 10", or a field's condition written out
    generate: bool = False


@dataclass(frozen=True)
class Evidence:
    """One target's query run on one of a rule's SigmaHQ regression tests (real events rendered from EVTX as JSON)."""

    target: str
    test: str  # the test's name in info.yml
    matched: int  # events the query matched
    events: int  # events in the test's data file
    expected: int | None  # the test's match_count
    simulated: bool = False  # the PowerShell logic evaluated by atc, no PowerShell ran
    detail: str = ""  # why the query could not run (not convertible, no data file)

    @property
    def passed(self) -> bool:
        return not self.detail and self.matched == (self.events if self.expected is None else self.expected)

    def line(self) -> str:
        """The sentence a rule page shows under the query."""
        if self.detail:
            return f"{self.test}: not run ({self.detail})"
        how = " (simulated)" if self.simulated else ""
        expected = "" if self.expected is None else f", expected {self.expected}"
        verdict = "as expected" if self.passed else "FAILED"
        return f"{self.test}: matches {self.matched} of {self.events} regression events{how}{expected}: {verdict}"


@dataclass(frozen=True)
class RuleSummary:
    """What lists, indexes, ATT&CK pages and exports show of a rule: never its description, detection or queries.

    Pages built from summaries are remembered by the summaries' digests, so editing a rule's text or queries renders
    its own page again and no other.
    """

    id: str
    title: str
    slug: str
    level: str | None
    status: str | None
    logsource: LogSource
    tactics: tuple[TacticRef, ...]
    techniques: tuple[TechniqueRef, ...]
    data_needed: tuple[str, ...]
    data_needed_gap: str | None
    triggers: tuple[TriggerRef, ...]
    converted: tuple[str, ...]  # keys of the targets with a working query
    data_components: tuple[str, ...] = ()
    detections: tuple[DetectionRef, ...] = ()

    @classmethod
    def of(cls, rule: Rule) -> RuleSummary:
        return cls(
            rule.id,
            rule.title,
            rule.slug,
            rule.level,
            rule.status,
            rule.logsource,
            tuple(rule.tactics),
            tuple(rule.techniques),
            tuple(rule.data_needed),
            rule.data_needed_gap,
            tuple(rule.triggers),
            tuple(key for key, c in rule.conversions.items() if c.status == "ok"),
            tuple(rule.data_components),
            tuple(rule.detections),
        )


@dataclass
class LoggingPolicy:
    id: str
    path: Path
    title: str
    description: str = ""
    default: str | None = None
    volume: str | None = None
    event_ids: list[int] = field(default_factory=list)
    configuration: str = ""
    references: list[str] = field(default_factory=list)
    sample: str | None = None
    author: str | None = None


@dataclass
class DataNeeded:
    """A log event a rule needs: where it comes from, its fields and the policy that enables it."""

    id: str
    path: Path
    title: str
    description: str = ""
    logsource: LogSource = field(default_factory=LogSource)
    platform: str | None = None
    type: str | None = None
    channel: str | None = None
    provider: str | None = None
    event_ids: list[int] = field(default_factory=list)
    fields: list[str] = field(default_factory=list)
    logging_policies: list[str] = field(default_factory=list)
    references: list[str] = field(default_factory=list)
    sample: str | None = None
    category: str | None = None  # ATC's kind of log ("OS Logs"), as stated
    author: str | None = None


@dataclass
class AtomicTest:
    name: str
    guid: str
    description: str = ""
    platforms: list[str] = field(default_factory=list)
    input_arguments: dict[str, dict] = field(default_factory=dict)
    executor: str = ""
    command: str = ""
    cleanup_command: str = ""
    elevation_required: bool = False
    dependency_executor: str | None = None
    dependencies: list[dict] = field(default_factory=list)


@dataclass(frozen=True)
class TriggerRef:
    """A rule's link to a trigger page: the technique, and which of its tests apply."""

    technique_id: str
    via_parent: bool = False  # a sub-technique's tests, listed because the rule tags the parent
    test_guids: tuple[str, ...] = ()
    simulation: str | None = None  # the test's name when the rule's `simulation:` names it by atomic_guid (listed first)


@dataclass
class Trigger:
    """The Atomic Red Team tests of one technique (atomics/TXXXX/TXXXX.yaml)."""

    technique_id: str
    display_name: str
    path: Path
    tests: list[AtomicTest] = field(default_factory=list)


# --- conversion ------------------------------------------------------------------------------


ConversionStatus = Literal["ok", "failed", "timeout"]


@dataclass(frozen=True)
class Conversion:
    target: str
    status: ConversionStatus
    query: str | None = None
    error: str | None = None  # one line, when not ok
    warnings: tuple[str, ...] = ()  # what the backend warned about (UserWarning: ...), reported as problems


@dataclass(frozen=True)
class Environment:
    """One of the team's environments (atc.yml `environments:`) and what it collects."""

    name: str  # the key in atc.yml
    title: str
    data_needed: tuple[str, ...] = ()  # Data Needed ids collected
    logging_policies: tuple[str, ...] = ()  # logging policies switched on: an item whose policies all are is collected
    data_components: tuple[str, ...] = ()  # ATT&CK DC ids collected
    log_sources: tuple[LogSource, ...] = ()  # Sigma log sources collected (an unset part matches any)


@dataclass(kw_only=True)
class KnowledgeBase:
    """Every item loaded, by entity kind (the registry, atc/kinds.py), with the ATT&CK snapshot and the problems found.

    `items` maps a kind's name to what its loader gave: rules a list, every other kind a dict by id. The kinds atc
    ships are also attributes (`kb.rules`, `kb.data_needed`, ...), as the code and the templates use them.
    """

    attack: AttackSnapshot
    items: dict[str, Any] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    environments: tuple[Environment, ...] = ()

    @property
    def rules(self) -> list[Rule]:
        return self.items.setdefault("rule", [])

    @property
    def data_needed(self) -> dict[str, DataNeeded]:
        return self.items.setdefault("data_needed", {})

    @property
    def logging_policies(self) -> dict[str, LoggingPolicy]:
        return self.items.setdefault("logging_policy", {})

    @property
    def triggers(self) -> dict[str, Trigger]:
        return self.items.setdefault("trigger", {})

    def with_rules(self, rules: list[Rule]) -> KnowledgeBase:
        """The same knowledge base with other rules (another revision's) and no problems yet."""
        return replace(self, items={**self.items, "rule": rules}, problems=[])

    def named_items(self) -> dict[str, dict[str, Any]]:
        """The items of every kind but rules, by kind name in registry order: what pages refer to by kind and id."""
        return {name: self.items[name] for name in KINDS if name != "rule" and name in self.items}

    def counts(self) -> str:
        """How many items of each kind read from folders: "12 rules, 3 Data Needed, ..." in registry order."""
        return ", ".join(kind.counted(len(self.items.get(kind.name, ()))) for kind in KINDS.values() if kind.loader)
