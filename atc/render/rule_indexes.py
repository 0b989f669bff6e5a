"""The rule index pages that replace rule pages in the navigation: by log source, by ATT&CK tactic, by level."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING

from atc.model import RuleSummary

if TYPE_CHECKING:
    from atc.render.pages import PageRenderer

INDEX_DIR = "Detection_Rules/by"  # a folder: no rule page name can collide with it
LEVELS = ("critical", "high", "medium", "low", "informational")
PAGES = {"log_source.md": "Rules by log source", "tactic.md": "Rules by ATT&CK tactic", "level.md": "Rules by level"}


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


def by_tactic(renderer: PageRenderer) -> list[Group]:
    """ATT&CK tactics in matrix order (a rule under each tactic it is tagged with), then untagged rules."""
    tagged: dict[str, list[RuleSummary]] = defaultdict(list)
    untagged: list[RuleSummary] = []
    for rule in renderer.summaries:
        ids = dict.fromkeys(ref.tactic.id for ref in rule.tactics if ref.tactic is not None)
        for tactic_id in ids:
            tagged[tactic_id].append(rule)
        if not ids:
            untagged.append(rule)
    groups = [Group(f"{t.id}: {t.name}", [SubGroup(None, _by_title(tagged[t.id]))]) for t in renderer.kb.attack.tactics if tagged[t.id]]
    return groups + ([Group("No ATT&CK tactic tagged", [SubGroup(None, _by_title(untagged))])] if untagged else [])


def by_level(rules: list[RuleSummary]) -> list[Group]:
    """Sigma levels from critical down; other or missing levels last."""
    found: dict[str, list[RuleSummary]] = defaultdict(list)
    for rule in rules:
        found[rule.level if rule.level in LEVELS else "no or other level"].append(rule)
    order = [*LEVELS, "no or other level"]
    return [Group(level, [SubGroup(None, _by_title(found[level]))]) for level in order if found[level]]


def rule_index_pages(renderer: PageRenderer) -> dict[str, str]:
    """Detection_Rules/by/*.md: every rule reachable from the navigation without a navigation entry of its own."""
    rules = renderer.summaries
    groups = {"log_source.md": by_log_source(rules), "tactic.md": by_tactic(renderer), "level.md": by_level(rules)}
    notes = {"tactic.md": "a rule tagged with several tactics is listed under each"}
    pages = {}
    for name, title in PAGES.items():
        others = [(other, label) for other, label in PAGES.items() if other != name] + [("../index.md", "all rules")]
        pages[f"{INDEX_DIR}/{name}"] = renderer.render(
            "rules_by.md.j2", title=title, groups=groups[name], rules_count=len(rules), note=notes.get(name), others=others
        )
    return pages
