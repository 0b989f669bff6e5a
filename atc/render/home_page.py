"""The home page: the knowledge base in figures and charts, with the way into every part of the site."""

from __future__ import annotations

from atc.render import addresses
from atc.render.attack_pages import AttackPages
from atc.render.charts import Chart, conversion_chart, gaps_chart, level_chart, status_chart, tactic_chart
from atc.render.context import RenderContext
from atc.render.targets_page import export_summary


def home_charts(ctx: RenderContext, page: str) -> list[Chart]:
    """The home page's charts: coverage by tactic, rules by level and status, conversion health, Data Needed and logging gaps."""
    attack = ctx.shared(AttackPages)
    rules = ctx.summaries

    def link(path: str) -> str:
        return addresses.relative(page, path)

    return [
        tactic_chart(
            attack.columns, {tid: link(addresses.page("tactic", tid)) for tid in attack.tactic_pages}, link(addresses.named("matrix"))
        ),
        level_chart(rules, link(addresses.rules_by("level"))),
        status_chart(rules, link(addresses.page("rule"))),
        conversion_chart(rules, ctx.targets, link(addresses.named("targets"))),
        gaps_chart(
            rules, ctx.kb.data_needed, ctx.kb.logging_policies, link(addresses.named("gaps")), link(addresses.page("logging_policy"))
        ),
    ]


def home_page(ctx: RenderContext) -> dict[str, str]:
    """index.md: the counts, the charts and the links into the site."""
    kb = ctx.kb
    covered = {
        ref.current.id if ref.current else ref.tag_id for rule in ctx.summaries for ref in rule.techniques if ref.status != "unknown"
    }
    page = addresses.named("home")
    text = ctx.render(
        "home.md.j2",
        page,
        site_name=ctx.site_name,
        rules=ctx.summaries,
        technique_count=len(covered),
        data_needed=kb.data_needed,
        logging_policies=kb.logging_policies,
        triggers=kb.triggers,
        targets=ctx.targets,
        exports=[export_summary(export) for export in ctx.exports],
        attack_version=kb.attack.version,
        attack_source=kb.attack.source,
        environments=kb.environments,
        charts=home_charts(ctx, page),
    )
    return {page: text}
