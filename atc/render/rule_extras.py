"""What a rule page shows below its queries: related rules and the "edit this rule" link."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from atc.link.attack import counted_id
from atc.model import KnowledgeBase, Rule, RuleSummary
from atc.render import addresses
from atc.render.attack_pages import TECHNIQUE_PAGE_ID
from atc.render.escape import safe_url

RELATED_SHOWN = 10  # rules listed per shared technique or Data Needed; the rest are counted


@dataclass(frozen=True)
class RelatedGroup:
    """Other rules sharing one technique or one Data Needed item with a rule: the first few by title, the rest counted."""

    key: str  # technique id or Data Needed id
    label: str
    page: str | None  # the knowledge base page listing all of them, relative to docs/
    shown: list[RuleSummary]
    more: int  # how many more rules share it


@dataclass(frozen=True)
class Related:
    """A rule's related rules: by shared technique, then by shared Data Needed."""

    techniques: list[RelatedGroup]
    data_needed: list[RelatedGroup]


def _title_order(rule: RuleSummary) -> tuple[str, str]:
    return rule.title.lower(), rule.slug


class RelatedIndex:
    """Rule summaries indexed by counted technique and by Data Needed, to list a rule's neighbours."""

    def __init__(self, kb: KnowledgeBase, summaries: list[RuleSummary]) -> None:
        self.kb = kb
        self.by_technique: dict[str, list[RuleSummary]] = defaultdict(list)
        self.by_data_needed: dict[str, list[RuleSummary]] = defaultdict(list)
        for rule in sorted(summaries, key=_title_order):
            for tid in self.technique_ids(rule):
                self.by_technique[tid].append(rule)
            for item_id in dict.fromkeys(rule.data_needed):
                self.by_data_needed[item_id].append(rule)

    @staticmethod
    def technique_ids(rule: RuleSummary) -> list[str]:
        """The techniques a rule counts for, in tag order, once each."""
        return list(dict.fromkeys(tid for ref in rule.techniques if (tid := counted_id(ref)) is not None))

    @staticmethod
    def _group(key: str, label: str, page: str | None, members: list[RuleSummary], slug: str) -> RelatedGroup:
        """The group of `members` (which include the rule itself) seen from the rule named `slug`."""
        shown = [other for other in members[: RELATED_SHOWN + 1] if other.slug != slug][:RELATED_SHOWN]
        return RelatedGroup(key, label, page, shown, len(members) - 1 - len(shown))

    def related(self, rule: RuleSummary) -> Related:
        """The other rules sharing a technique or a Data Needed item with `rule` (one of the indexed summaries)."""
        techniques = []
        for tid in self.technique_ids(rule):
            technique = self.kb.attack.techniques.get(tid)
            page = addresses.page("technique", tid) if technique and TECHNIQUE_PAGE_ID.fullmatch(tid) else None
            label = f"{tid}: {technique.name}" if technique else tid
            techniques.append(self._group(tid, label, page, self.by_technique[tid], rule.slug))
        data_needed = []
        for item_id in dict.fromkeys(rule.data_needed):
            page = addresses.page("data_needed", item_id) if item_id in self.kb.data_needed else None
            data_needed.append(self._group(item_id, item_id, page, self.by_data_needed[item_id], rule.slug))
        return Related([g for g in techniques if g.shown], [g for g in data_needed if g.shown])


def edit_url(rule: Rule, repo_url: str | None, roots: list[Path]) -> str | None:
    """The rule's source in the team's repository: repo_url joined with its path under the first root holding it."""
    base = safe_url(repo_url) if repo_url else None
    if base is None:
        return None
    source = rule.path.resolve()
    for root in roots:
        folder = root.resolve()
        if source.is_relative_to(folder):
            return f"{base.rstrip('/')}/{quote(source.relative_to(folder).as_posix())}"
    return None


def edit_urls(rules: list[Rule], repo_url: str | None, roots: list[Path]) -> dict[str, str]:
    """The "edit this rule" URL of every rule that has one, by slug."""
    return {rule.slug: url for rule in rules if (url := edit_url(rule, repo_url, roots)) is not None}
