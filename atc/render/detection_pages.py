"""ATT&CK's detection model in the site: a page per data component and per detection strategy, and their indexes."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from atc.link.detection import DetectionLinker
from atc.model import Analytic, DataComponent, DetectionStrategy, RuleSummary
from atc.render import addresses
from atc.render.attack_pages import AttackPages
from atc.render.context import RenderContext


def _by_title(rules: list[RuleSummary]) -> list[RuleSummary]:
    return sorted(rules, key=lambda rule: (rule.title.lower(), rule.slug))


@dataclass(frozen=True)
class AnalyticRow:
    """An analytic on a strategy's page: its log sources (with their component's name) and the rules implementing it."""

    analytic: Analytic
    url: str
    sources: list[tuple[str, str, str, str]]  # (DC id, DC name, log source name, channel)
    rules: list[RuleSummary]


@dataclass(frozen=True)
class ComponentRow:
    """A data component in the index: how many Data Needed items and rules use it."""

    component: DataComponent
    items: int
    rules: int


class DetectionPages:
    """Works out the data component and detection strategy pages and renders them (holding no reference to the context)."""

    def __init__(self, ctx: RenderContext) -> None:
        self.known_items = set(ctx.kb.data_needed)
        self.attack = attack = ctx.shared(AttackPages)
        self.snapshot = attack.snapshot
        linker = DetectionLinker(self.snapshot, {})
        self.items_by_component: dict[str, list[str]] = defaultdict(list)
        for item in sorted(ctx.kb.data_needed.values(), key=lambda item: item.id):
            for component in linker.item_components(item):
                self.items_by_component[component].append(item.id)
        self.rules_by_component: dict[str, list[RuleSummary]] = defaultdict(list)
        self.rules_by_strategy: dict[str, list[RuleSummary]] = defaultdict(list)
        for rule in ctx.summaries:
            for component in rule.data_components:
                self.rules_by_component[component].append(rule)
            for ref in rule.detections:
                self.rules_by_strategy[ref.strategy].append(rule)
        self.strategy_pages = attack.strategy_pages()
        self.strategies_by_component: dict[str, list[DetectionStrategy]] = defaultdict(list)
        for strategy_id in self.strategy_pages:
            strategy = self.snapshot.detection_strategies[strategy_id]
            read = {
                s.data_component for a in strategy.analytics if a in self.snapshot.analytics for s in self.snapshot.analytics[a].log_sources
            }
            for component in sorted(read):
                self.strategies_by_component[component].append(strategy)
        self._rows: dict[str, list[AnalyticRow]] = {}

    def component_page(self, ctx: RenderContext, component: DataComponent) -> str:
        """A data component's page: its log sources, the Data Needed items and rules that use it, strategies reading it."""
        return ctx.render(
            "data_component.md.j2",
            addresses.page("data_component", component.id),
            component=component,
            version=self.snapshot.version,
            items=self.items_by_component.get(component.id, []),
            known_items=self.known_items,
            rules=_by_title(self.rules_by_component.get(component.id, [])),
            strategies=self.strategies_by_component.get(component.id, []),
        )

    def analytic_rows(self, strategy: DetectionStrategy) -> list[AnalyticRow]:
        """The strategy's analytics by platform, each with the rules that implement it (worked out once)."""
        if strategy.id not in self._rows:
            self._rows[strategy.id] = self._analytic_rows(strategy)
        return self._rows[strategy.id]

    def _analytic_rows(self, strategy: DetectionStrategy) -> list[AnalyticRow]:
        rows = []
        rules = self.rules_by_strategy.get(strategy.id, [])
        for analytic_id in strategy.analytics:
            analytic = self.snapshot.analytics.get(analytic_id)
            if analytic is None:
                continue
            components = self.snapshot.data_components
            sources = [
                (s.data_component, components[s.data_component].name if s.data_component in components else "", s.name, s.channel)
                for s in analytic.log_sources
            ]
            implementing = [
                rule for rule in rules if any(ref.strategy == strategy.id and analytic.id in ref.implements for ref in rule.detections)
            ]
            rows.append(AnalyticRow(analytic, f"{strategy.url}#{analytic.id}", sources, _by_title(implementing)))
        return sorted(rows, key=lambda row: (row.analytic.platforms, row.analytic.id))

    def strategy_page(self, ctx: RenderContext, strategy: DetectionStrategy) -> str:
        """A detection strategy's page: its analytics per platform, their log sources, tunable elements and our rules."""
        rows = self.analytic_rows(strategy)
        implementing = {rule.slug for row in rows for rule in row.rules}
        others = [rule for rule in self.rules_by_strategy.get(strategy.id, []) if rule.slug not in implementing]
        return ctx.render(
            "detection_strategy.md.j2",
            addresses.page("detection_strategy", strategy.id),
            strategy=strategy,
            version=self.snapshot.version,
            techniques=[self.snapshot.techniques[tid] for tid in strategy.techniques if tid in self.snapshot.techniques],
            technique_pages=set(self.attack.technique_pages),
            rows=rows,
            others=_by_title(others),
            tagged=bool(self.rules_by_strategy.get(strategy.id)),
            component_pages=set(self.snapshot.data_components),
        )


def data_component_pages(ctx: RenderContext) -> dict[str, str]:
    """Every data component's page and their index (always made: the index is in the navigation)."""
    detection = ctx.shared(DetectionPages)
    components = sorted(detection.snapshot.data_components.values(), key=lambda c: c.id)
    pages = {addresses.page("data_component", c.id): detection.component_page(ctx, c) for c in components}
    rows = [
        ComponentRow(c, len(detection.items_by_component.get(c.id, [])), len(detection.rules_by_component.get(c.id, [])))
        for c in components
    ]
    index = addresses.page("data_component")
    pages[index] = ctx.render(
        "data_components_index.md.j2",
        index,
        rows=sorted(rows, key=lambda row: (-row.rules, row.component.id)),
        version=detection.snapshot.version,
        unmapped=sum(1 for rule in ctx.summaries if not rule.data_components),
        total=len(ctx.summaries),
    )
    return pages


def detection_strategy_pages(ctx: RenderContext) -> dict[str, str]:
    """The page of every detection strategy of a technique with a page, and their index (always made: it is in the navigation)."""
    detection = ctx.shared(DetectionPages)
    strategies = {sid: detection.snapshot.detection_strategies[sid] for sid in detection.strategy_pages}
    pages = {addresses.page("detection_strategy", sid): detection.strategy_page(ctx, strategy) for sid, strategy in strategies.items()}
    index = addresses.page("detection_strategy")
    pages[index] = ctx.render(
        "detection_strategies_index.md.j2",
        index,
        strategies=[(strategy, detection.strategy_pages[sid], detection.analytic_rows(strategy)) for sid, strategy in strategies.items()],
        version=detection.snapshot.version,
    )
    return pages
