"""A page per logging policy (the Data Needed items it enables and the rules behind them) and their index."""

from __future__ import annotations

from atc.render import addresses
from atc.render.charts import has_policy
from atc.render.context import RenderContext
from atc.render.data_needed_pages import rules_by_data_needed


def logging_policy_pages(ctx: RenderContext) -> dict[str, str]:
    """Every logging policy's page and the index."""
    kb = ctx.kb
    rules = ctx.shared(rules_by_data_needed)
    pages: dict[str, str] = {}
    for policy in kb.logging_policies.values():
        enabled = [item for item in kb.data_needed.values() if policy.id in item.logging_policies]
        behind = sorted({rule.slug: rule for item in enabled for rule in rules[item.id]}.values(), key=lambda r: r.slug)
        page = addresses.page("logging_policy", policy.id)
        pages[page] = ctx.render("logging_policy.md.j2", page, policy=policy, data_needed=enabled, rules=behind)
    index = addresses.page("logging_policy")
    without = [item for item in kb.data_needed.values() if not has_policy(item, kb.logging_policies)]
    pages[index] = ctx.render(
        "logging_policies_index.md.j2", index, policies=list(kb.logging_policies.values()), items=len(kb.data_needed), without=without
    )
    return pages
