"""ATT&CK in the site: technique and tactic pages, the coverage matrix, the overview and Navigator layers."""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from urllib.parse import quote

from atc.link.attack import counted_id, tactic_shortname
from atc.link.navigator import navigator_layer
from atc.load.rules import safe_slug
from atc.model import AttackSnapshot, RuleSummary, Tactic, TacticRef, Technique, TechniqueRef
from atc.render import addresses
from atc.render.charts import level_chart
from atc.render.context import RenderContext
from atc.render.escape import safe_url
from atc.render.link_filters import technique_name
from atc.render.matrix import by_name, matrix_columns, nest

TECHNIQUE_PAGE_ID = re.compile(r"T\d{4}(?:\.\d{3})?", re.ASCII)
TACTIC_PAGE_ID = re.compile(r"TA\d{4}", re.ASCII)
NAVIGATOR_URL = "https://mitre-attack.github.io/attack-navigator/#layerURL="
ALL_LAYER = "all"
ANALYTICS_LAYER = "analytics"
ENVIRONMENT_LAYER_PREFIX = "environment-"
RULES_SECTION = "#rules"  # a technique or tactic page's own list of rules: what its level chart counts, each with its level


@dataclass
class RuleUse:
    """A rule counted for a technique, with the tags that put it there."""

    rule: RuleSummary
    refs: list[TechniqueRef] = field(default_factory=list)


@dataclass
class Coverage:
    """Which rules count for which technique and tactic, and the tags that count for none."""

    uses: dict[str, dict[str, RuleUse]] = field(default_factory=lambda: defaultdict(dict))  # technique id -> rule slug -> use
    tactic_rules: dict[str, list[RuleSummary]] = field(default_factory=lambda: defaultdict(list))  # tactic id -> rules tagging it
    unknown_techniques: dict[str, list[RuleSummary]] = field(default_factory=lambda: defaultdict(list))
    unknown_tactics: dict[str, list[RuleSummary]] = field(default_factory=lambda: defaultdict(list))
    stale: dict[str, tuple[TechniqueRef, list[RuleSummary]]] = field(default_factory=dict)  # revoked and deprecated tags
    newer_tactics: dict[str, tuple[TacticRef, list[RuleSummary]]] = field(default_factory=dict)  # v19 tactic shortname -> its rules

    def counts(self) -> dict[str, int]:
        """The number of rules counted for each technique id."""
        return {tid: len(uses) for tid, uses in self.uses.items()}

    def stale_tags(self, status: str) -> list[tuple[TechniqueRef, list[RuleSummary]]]:
        """The revoked or deprecated tags with their rules, by id."""
        return [item for _, item in sorted(self.stale.items()) if item[0].status == status]

    def newer_tactic_tags(self) -> list[tuple[str, TacticRef, list[RuleSummary]]]:
        """The ATT&CK v19 tactic tags (shortname, one of its refs, its rules), by shortname."""
        return [(shortname, ref, rules) for shortname, (ref, rules) in sorted(self.newer_tactics.items())]


@dataclass(frozen=True)
class TriggerItem:
    """A trigger shown on an ATT&CK page; `page` is its page's file name when the knowledge base has it."""

    technique_id: str
    name: str
    page: str | None


@dataclass(frozen=True)
class DataNeededItem:
    """A Data Needed id behind a page's rules; `page` is its page's file name when the knowledge base has it."""

    id: str
    page: str | None
    rules: int


@dataclass(frozen=True)
class Layer:
    """A Navigator layer file offered on the overview page."""

    name: str
    file: str
    rules: int
    navigator_url: str | None
    scores: str = "rules"  # what a technique's score counts: "rules" or "analytics"


@dataclass(frozen=True)
class StrategyItem:
    """A detection strategy of a technique: how many of its analytics our rules implement."""

    id: str
    name: str
    analytics: int
    implemented: int


def _count_rule(coverage: Coverage, rule: RuleSummary) -> None:
    """Add one rule's technique and tactic tags to the coverage."""
    for ref in rule.techniques:
        if ref.status == "unknown":
            coverage.unknown_techniques[ref.tag_id].append(rule)
        elif ref.status != "current":
            coverage.stale.setdefault(ref.tag_id, (ref, []))[1].append(rule)
        tid = counted_id(ref)
        if tid is not None:
            coverage.uses[tid].setdefault(rule.slug, RuleUse(rule)).refs.append(ref)
    for tactic_ref in rule.tactics:
        if tactic_ref.tactic is None:
            coverage.unknown_tactics[tactic_ref.tag].append(rule)
        else:
            coverage.tactic_rules[tactic_ref.tactic.id].append(rule)
        if tactic_ref.tactic is not None and tactic_ref.newer:
            coverage.newer_tactics.setdefault(tactic_shortname(tactic_ref.tag), (tactic_ref, []))[1].append(rule)


def build_coverage(rules: list[RuleSummary]) -> Coverage:
    """Count every rule's ATT&CK tags."""
    coverage = Coverage()
    for rule in rules:
        _count_rule(coverage, rule)
    return coverage


def analytics_counts(rules: list[RuleSummary]) -> dict[str, int]:
    """The number of distinct analytics implemented by the rules, per technique id."""
    implemented: dict[str, set[str]] = defaultdict(set)
    for rule in rules:
        for ref in rule.detections:
            implemented[ref.technique].update(ref.implements)
    return {tid: len(ids) for tid, ids in implemented.items() if ids}


def product_slug(product: str) -> str:
    """A layer file name for a log-source product, never the all-rules layer's."""
    slug = safe_slug(product.lower())
    return f"{slug}_" if slug in (ALL_LAYER, ANALYTICS_LAYER) or slug.startswith(ENVIRONMENT_LAYER_PREFIX) else slug


def layer_json(name: str, rules: list[RuleSummary], snapshot: AttackSnapshot, scores: str = "rules") -> str:
    """A Navigator layer of the rules' technique counts (or implemented analytics) as deterministic JSON text."""
    if scores == "analytics":
        description = (
            f"Analytics of ATT&CK's detection strategies implemented by the rules, per technique, ATT&CK {snapshot.version}; 0 marks none"
        )
        counts = analytics_counts(rules)
    else:
        description = f"Rules per technique (score = number of rules), ATT&CK {snapshot.version}; 0 marks a gap"
        counts = build_coverage(rules).counts()
    layer = navigator_layer(name, description, counts, snapshot, "analytic" if scores == "analytics" else "rule")
    return json.dumps(layer, sort_keys=True, indent=1, ensure_ascii=False) + "\n"


def rules_by_product(rules: list[RuleSummary]) -> dict[str, list[RuleSummary]]:
    """Rules grouped by their sanitised log-source product; rules without one are left out."""
    groups: dict[str, list[RuleSummary]] = defaultdict(list)
    for rule in rules:
        if rule.logsource.product:
            groups[product_slug(rule.logsource.product)].append(rule)
    return dict(sorted(groups.items()))


def navigator_link(site_url: str | None, file: str) -> str | None:
    """The Navigator URL that opens a published layer, or None without a usable site URL."""
    if not site_url or safe_url(site_url) is None:
        return None
    return NAVIGATOR_URL + quote(addresses.url(site_url, addresses.layer(file)), safe="")


class AttackPages:
    """Works out which ATT&CK pages exist and renders them (holding no reference to the context: it keeps this object)."""

    def __init__(self, ctx: RenderContext) -> None:
        self.kb = ctx.kb
        self.summaries = ctx.summaries
        self.environment_views = ctx.environment_views
        self.snapshot = self.kb.attack
        self.site_url = ctx.site_url
        self.coverage = build_coverage(ctx.summaries)
        self.counts = self.coverage.counts()
        self.children: dict[str, list[Technique]] = defaultdict(list)
        for technique in self.snapshot.techniques.values():
            if technique.parent:
                self.children[technique.parent].append(technique)
        self.technique_pages = self._technique_pages()
        self.tactic_pages = self._tactic_pages()
        self.columns = matrix_columns(self.snapshot, self.counts)
        self.analytics = analytics_counts(ctx.summaries)

    def strategy_pages(self) -> dict[str, list[str]]:
        """The detection strategies of the techniques with pages (DET id -> those technique ids), by id."""
        found: dict[str, list[str]] = defaultdict(list)
        for tid in self.technique_pages:
            for strategy in self.snapshot.strategies_for(tid):
                found[strategy.id].append(tid)
        return dict(sorted(found.items()))

    def strategies(self, tid: str) -> list[StrategyItem]:
        """The detection strategies of a technique, with how many of their analytics the rules implement."""
        implemented = {an for use in self.uses(tid) for ref in use.rule.detections if ref.technique == tid for an in ref.implements}
        return [
            StrategyItem(s.id, s.name, len(s.analytics), len(implemented & set(s.analytics))) for s in self.snapshot.strategies_for(tid)
        ]

    def _technique_pages(self) -> dict[str, Technique]:
        """Touched techniques and the parents of touched sub-techniques, by id."""
        touched = set(self.coverage.uses)
        touched |= {self.snapshot.techniques[tid].parent for tid in touched if tid in self.snapshot.techniques} - {None}
        pages = {
            tid: self.snapshot.techniques[tid] for tid in touched if tid in self.snapshot.techniques and TECHNIQUE_PAGE_ID.fullmatch(tid)
        }
        return dict(sorted(pages.items()))

    def _tactic_pages(self) -> dict[str, Tactic]:
        """Tactics of the touched techniques and tactics tagged directly, in matrix order."""
        shortnames = {name for technique in self.technique_pages.values() for name in technique.tactics}
        return {
            tactic.id: tactic
            for tactic in self.snapshot.tactics
            if (tactic.shortname in shortnames or tactic.id in self.coverage.tactic_rules) and TACTIC_PAGE_ID.fullmatch(tactic.id)
        }

    # --- what a page lists -------------------------------------------------------------------

    def uses(self, tid: str) -> list[RuleUse]:
        """The rules counted for a technique, by title."""
        return sorted(self.coverage.uses.get(tid, {}).values(), key=lambda use: (use.rule.title.lower(), use.rule.slug))

    def triggers(self, tid: str) -> list[TriggerItem]:
        """Triggers of the technique, its sub-techniques and the tags counted for it."""
        related = {tid} | {sub.id for sub in self.children[tid]} | {ref.tag_id for use in self.uses(tid) for ref in use.refs}
        ids = {ref.technique_id for use in self.uses(tid) for ref in use.rule.triggers if ref.technique_id in related}
        ids |= {tid} & set(self.kb.triggers)
        return [self.trigger_item(trigger_id) for trigger_id in sorted(ids)]

    def trigger_item(self, tid: str) -> TriggerItem:
        """A trigger id with its name and, when the knowledge base has it, its page."""
        page = addresses.file_name("trigger", tid) if tid in self.kb.triggers else None
        return TriggerItem(tid, technique_name(self.snapshot, self.kb.triggers, tid), page)

    def data_needed(self, rules: list[RuleSummary]) -> list[DataNeededItem]:
        """The Data Needed ids behind the rules, with how many of them need each."""
        counts = Counter(item_id for rule in rules for item_id in dict.fromkeys(rule.data_needed))
        return [
            DataNeededItem(item_id, addresses.file_name("data_needed", item_id) if item_id in self.kb.data_needed else None, count)
            for item_id, count in sorted(counts.items())
        ]

    def subs(self, tid: str) -> list[Technique]:
        """The sub-techniques of a technique that have pages, by name."""
        return [sub for sub in by_name(self.children[tid]) if sub.id in self.technique_pages]

    def tactic_rows(self, tactic: Tactic) -> list[tuple[Technique, bool]]:
        """The tactic's techniques that have pages, each parent followed by its sub-techniques."""
        return nest([t for t in self.technique_pages.values() if tactic.shortname in t.tactics])

    def tactic_rules(self, tactic: Tactic, rows: list[tuple[Technique, bool]]) -> list[tuple[RuleSummary, list[str]]]:
        """Every rule of the tactic with the technique ids it counts for there (empty: tagged with the tactic only)."""
        found: dict[str, tuple[RuleSummary, list[str]]] = {}
        for technique, _ in rows:
            for use in self.uses(technique.id):
                found.setdefault(use.rule.slug, (use.rule, []))[1].append(technique.id)
        for rule in self.coverage.tactic_rules.get(tactic.id, []):
            found.setdefault(rule.slug, (rule, []))
        return sorted(found.values(), key=lambda item: (item[0].title.lower(), item[0].slug))

    # --- pages ---------------------------------------------------------------------------------

    def technique_page(self, ctx: RenderContext, technique: Technique) -> str:
        """A technique's page: its rules, sub-techniques, triggers and Data Needed."""
        uses = self.uses(technique.id)
        tactics = [t for t in self.snapshot.tactics if t.shortname in technique.tactics]
        subs = self.subs(technique.id)
        page = addresses.page("technique", technique.id)
        return ctx.render(  # only what the page shows: the context is the page's memo key
            "technique.md.j2",
            page,
            technique=technique,
            version=self.snapshot.version,
            parent=self.technique_pages.get(technique.parent or ""),
            tactics=tactics,
            tactic_pages=[t.id for t in tactics if t.id in self.tactic_pages],
            uses=uses,
            subs=subs,
            counts={sub.id: self.counts.get(sub.id, 0) for sub in subs},
            triggers=self.triggers(technique.id),
            data_needed=self.data_needed([use.rule for use in uses]),
            strategies=self.strategies(technique.id),
            components={c.name: c.id for c in self.snapshot.data_components.values() if c.name in technique.data_components},
            levels=level_chart([use.rule for use in uses], RULES_SECTION) if uses else None,
        )

    def tactic_page(self, ctx: RenderContext, tactic: Tactic) -> str:
        """A tactic's page: its techniques, rules, triggers and Data Needed."""
        rows = self.tactic_rows(tactic)
        rules = self.tactic_rules(tactic, rows)
        triggers = {item.technique_id: item for technique, _ in rows for item in self.triggers(technique.id)}
        page = addresses.page("tactic", tactic.id)
        return ctx.render(
            "tactic.md.j2",
            page,
            tactic=tactic,
            column=next(column for column in self.columns if column.tactic.id == tactic.id),
            rows=rows,
            counts={technique.id: self.counts.get(technique.id, 0) for technique, _ in rows},
            rules=rules,
            triggers=[triggers[tid] for tid in sorted(triggers)],
            data_needed=self.data_needed([rule for rule, _ in rules]),
            tagged=len({rule.slug for rule in self.coverage.tactic_rules.get(tactic.id, [])}),
            by_tactic=addresses.relative(page, addresses.rules_by("tactic")),
            levels=level_chart([rule for rule, _ in rules], RULES_SECTION) if rules else None,
        )

    def layers(self) -> dict[str, tuple[str, list[RuleSummary], str]]:
        """Layer file name -> (layer name, rules, scores): all rules, analytics implemented, per environment, per product."""
        summaries = self.summaries
        layers = {f"{ALL_LAYER}.json": ("All rules", summaries, "rules")}
        if self.snapshot.detection_strategies:
            layers[f"{ANALYTICS_LAYER}.json"] = ("Analytics implemented", summaries, "analytics")
        for view in self.environment_views:
            name, title = view.environment.name, view.environment.title
            rules = [rule for rule in summaries if view.runs(rule)]
            layers[f"{ENVIRONMENT_LAYER_PREFIX}{safe_slug(name)}.json"] = (f"Rules that can run in {title}", rules, "rules")
        for slug, rules in rules_by_product(summaries).items():
            layers[f"{slug}.json"] = (f"Rules for {rules[0].logsource.product}", rules, "rules")
        return layers

    def index_page(self, ctx: RenderContext, layers: dict[str, tuple[str, list[RuleSummary], str]]) -> str:
        """The overview: coverage per tactic, layers, and the tags that count for no current technique."""
        coverage = self.coverage
        return ctx.render(
            "attack_index.md.j2",
            addresses.named("attack"),
            snapshot=self.snapshot,
            columns=self.columns,
            tactic_pages=self.tactic_pages,
            technique_pages=self.technique_pages,
            layers=[
                Layer(name, file, len(rules), navigator_link(self.site_url, file), scores) for file, (name, rules, scores) in layers.items()
            ],
            detection_model=bool(self.snapshot.detection_strategies),
            unknown_techniques=sorted(coverage.unknown_techniques.items()),
            unknown_tactics=sorted(coverage.unknown_tactics.items()),
            revoked=coverage.stale_tags("revoked"),
            deprecated=coverage.stale_tags("deprecated"),
            newer=coverage.stale_tags("newer"),
            newer_tactics=coverage.newer_tactic_tags(),
        )


def technique_pages(ctx: RenderContext) -> dict[str, str]:
    """A page per technique a rule counts for (and per parent of such a sub-technique)."""
    attack = ctx.shared(AttackPages)
    return {addresses.page("technique", tid): attack.technique_page(ctx, t) for tid, t in attack.technique_pages.items()}


def tactic_pages(ctx: RenderContext) -> dict[str, str]:
    """A page per tactic of those techniques and per tactic tagged directly."""
    attack = ctx.shared(AttackPages)
    return {addresses.page("tactic", tid): attack.tactic_page(ctx, t) for tid, t in attack.tactic_pages.items()}


def overview_pages(ctx: RenderContext) -> dict[str, str]:
    """The coverage matrices (by rules and by analytics), the Navigator layer files and the ATT&CK overview."""
    attack = ctx.shared(AttackPages)
    snapshot = attack.snapshot
    matrix = addresses.named("matrix")
    pages = {
        matrix: ctx.render(
            "matrix.md.j2",
            matrix,
            columns=attack.columns,
            technique_pages=attack.technique_pages,
            tactic_pages=attack.tactic_pages,
            version=snapshot.version,
            measure="rules",
            detection_model=bool(snapshot.detection_strategies),
        )
    }
    by_analytics = addresses.named("matrix-analytics")
    pages[by_analytics] = ctx.render(  # in the navigation: made even when the snapshot has no analytics
        "matrix.md.j2",
        by_analytics,
        columns=matrix_columns(snapshot, attack.analytics),
        technique_pages=attack.technique_pages,
        tactic_pages=attack.tactic_pages,
        version=snapshot.version,
        measure="analytics",
        detection_model=True,
    )
    layers = attack.layers()
    for file, (name, rules, scores) in layers.items():
        pages[addresses.layer(file)] = ctx.remember(
            ("layer", name, rules, scores), lambda name=name, rules=rules, scores=scores: layer_json(name, rules, snapshot, scores)
        )
    pages[addresses.named("attack")] = attack.index_page(ctx, layers)
    return pages
