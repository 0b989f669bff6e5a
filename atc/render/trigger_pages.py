"""A page per trigger (Atomic Red Team tests of a technique, with the rules they should fire) and their index."""

from __future__ import annotations

from collections import defaultdict

from atc.link.attack import technique_url
from atc.model import RuleSummary
from atc.render import addresses
from atc.render.context import RenderContext


def rules_by_trigger(ctx: RenderContext) -> dict[str, list[RuleSummary]]:
    """Technique id -> the rules its tests should fire, in knowledge-base order."""
    found: dict[str, list[RuleSummary]] = defaultdict(list)
    for rule in ctx.summaries:
        for technique_id in dict.fromkeys(ref.technique_id for ref in rule.triggers):  # a simulation's test and the tag's tests: once
            found[technique_id].append(rule)
    return found


def trigger_pages(ctx: RenderContext) -> dict[str, str]:
    """Every trigger's page and the index."""
    kb = ctx.kb
    rules = ctx.shared(rules_by_trigger)
    pages: dict[str, str] = {}
    for trigger in kb.triggers.values():
        page = addresses.page("trigger", trigger.technique_id)
        pages[page] = ctx.render(
            "trigger.md.j2",
            page,
            trigger=trigger,
            name=ctx.technique_name(trigger.technique_id),
            technique_url=technique_url(trigger.technique_id),
            rules=rules[trigger.technique_id],
        )
    index = addresses.page("trigger")
    pages[index] = ctx.render(
        "triggers_index.md.j2",
        index,
        triggers=list(kb.triggers.values()),
        names={tid: ctx.technique_name(tid) for tid in kb.triggers},
        rule_counts={tid: len(rules[tid]) for tid in kb.triggers},
    )
    return pages
