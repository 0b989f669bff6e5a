"""A page per Data Needed item, their index and the gaps page (the rules no item serves)."""

from __future__ import annotations

from collections import defaultdict

from atc.link.detection import DetectionLinker
from atc.model import RuleSummary
from atc.render import addresses
from atc.render.context import RenderContext
from atc.render.gaps import gap_groups


def rules_by_data_needed(ctx: RenderContext) -> dict[str, list[RuleSummary]]:
    """Data Needed id -> the rules it serves, in knowledge-base order."""
    found: dict[str, list[RuleSummary]] = defaultdict(list)
    for rule in ctx.summaries:
        for item_id in rule.data_needed:
            found[item_id].append(rule)
    return found


def data_needed_pages(ctx: RenderContext) -> dict[str, str]:
    """Every Data Needed item's page (its rules and ATT&CK data components), the index and the gaps page."""
    kb = ctx.kb
    rules = ctx.shared(rules_by_data_needed)
    linker = DetectionLinker(kb.attack, kb.data_needed)
    pages: dict[str, str] = {}
    for item in kb.data_needed.values():
        page = addresses.page("data_needed", item.id)
        pages[page] = ctx.render("data_needed.md.j2", page, item=item, rules=rules[item.id], components=linker.item_components(item))
    index = addresses.page("data_needed")
    pages[index] = ctx.render(
        "data_needed_index.md.j2",
        index,
        items=list(kb.data_needed.values()),
        rule_counts={k: len(rules[k]) for k in kb.data_needed},
        unserved=sum(1 for rule in ctx.summaries if not rule.data_needed),
    )
    gaps = addresses.named("gaps")
    pages[gaps] = ctx.render("gaps.md.j2", gaps, groups=gap_groups(ctx.summaries), total=len(ctx.summaries))
    return pages
