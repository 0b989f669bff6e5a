"""The rule index pages that replace rule pages in the navigation: by log source, by ATT&CK tactic, by level."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from atc.model import RuleSummary
from atc.render import addresses
from atc.render.charts import LEVELS
from atc.render.context import RenderContext

FIELDS = {"log_source": "Rules by log source", "tactic": "Rules by ATT&CK tactic", "level": "Rules by level"}  # a page each


@dataclass(frozen=True)
class SubGroup:
    """Rules under one sub-heading (None: directly under the group's heading)."""

    heading: str | None
    rules: list[RuleSummary]


@dataclass(frozen=True)
class Group:
    """One section of an index page."""

    heading: str
    subgroups: list[SubGroup]

    @property
    def count(self) -> int:
        """The group's number of rules."""
        return sum(len(sub.rules) for sub in self.subgroups)


def _by_title(rules: list[RuleSummary]) -> list[RuleSummary]:
    """Rules by title, then page name."""
    return sorted(rules, key=lambda rule: (rule.title.lower(), rule.slug))


def by_log_source(rules: list[RuleSummary]) -> list[Group]:
    """Product, then category (or service) within it."""
    tree: dict[str, dict[str, list[RuleSummary]]] = defaultdict(lambda: defaultdict(list))
    for rule in rules:
        source = rule.logsource
        sub = (
            " / ".join(f"{k} {v}" for k, v in (("category", source.category), ("service", source.service)) if v)
            or "any category or service"
        )
        tree[source.product or "any product"][sub].append(rule)
    return [Group(product, [SubGroup(sub, _by_title(tree[product][sub])) for sub in sorted(tree[product])]) for product in sorted(tree)]


def by_tactic(ctx: RenderContext) -> list[Group]:
    """ATT&CK tactics in matrix order (a rule under each tactic it is tagged with), then untagged rules."""
    tagged: dict[str, list[RuleSummary]] = defaultdict(list)
    untagged: list[RuleSummary] = []
    for rule in ctx.summaries:
        ids = dict.fromkeys(ref.tactic.id for ref in rule.tactics if ref.tactic is not None)
        for tactic_id in ids:
            tagged[tactic_id].append(rule)
        if not ids:
            untagged.append(rule)
    groups = [Group(f"{t.id}: {t.name}", [SubGroup(None, _by_title(tagged[t.id]))]) for t in ctx.kb.attack.tactics if tagged[t.id]]
    return groups + ([Group("No ATT&CK tactic tagged", [SubGroup(None, _by_title(untagged))])] if untagged else [])


def by_level(rules: list[RuleSummary]) -> list[Group]:
    """Sigma levels from critical down; other or missing levels last."""
    found: dict[str, list[RuleSummary]] = defaultdict(list)
    for rule in rules:
        found[rule.level if rule.level in LEVELS else "no or other level"].append(rule)
    order = [*LEVELS, "no or other level"]
    return [Group(level, [SubGroup(None, _by_title(found[level]))]) for level in order if found[level]]


def rule_index_pages(ctx: RenderContext) -> dict[str, str]:
    """The rules grouped by log source, by tactic and by level: every rule reachable from the navigation without an entry of its own."""
    rules = ctx.summaries
    groups = {"log_source": by_log_source(rules), "tactic": by_tactic(ctx), "level": by_level(rules)}
    notes = {"tactic": "a rule tagged with several tactics is listed under each"}
    pages = {}
    for field, title in FIELDS.items():
        page = addresses.rules_by(field)
        others = [(addresses.relative(page, addresses.rules_by(other)), label) for other, label in FIELDS.items() if other != field]
        others.append((addresses.relative(page, addresses.page("rule")), "all rules"))
        pages[page] = ctx.render(
            "rules_by.md.j2", page, title=title, groups=groups[field], rules_count=len(rules), note=notes.get(field), others=others
        )
    return pages
