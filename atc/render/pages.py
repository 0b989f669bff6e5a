"""The render stage: every page of the knowledge base, as a mapping of docs-relative path to page text.

Each entity kind's pages come from the page maker the registry names (`atc.kinds.KINDS[name].pages`); the pages of
no kind (home, rule indexes by field, ATT&CK overview, targets, exports, evidence, changes) from the fixed list below.
The rule pages show each rule's whole text: they are rendered in forked workers, each remembered on its own, while
this process makes the others, which are made from the rule summaries and remembered together while none changes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from atc.kinds import KINDS, resolve
from atc.render import addresses
from atc.render.attack_pages import overview_pages
from atc.render.context import RenderContext
from atc.render.exports import exports
from atc.render.history_pages import changes_pages
from atc.render.home_page import home_page
from atc.render.rule_indexes import rule_index_pages
from atc.render.rule_pages import rules_index
from atc.render.targets_page import deploy_files, export_summary, targets_page

PageMaker = Callable[[RenderContext], Mapping[str, str]]
RULE_KIND = "rule"  # its pages are rendered apart from the others (see above)


def export_files(ctx: RenderContext) -> dict[str, str]:
    """rules.json and analytics.csv (remembered while the summaries and dates are the same)."""
    return ctx.remember(("exports", ctx.summaries, ctx.dates), lambda: exports(ctx.summaries, ctx.targets, ctx.dates))


OTHER_PAGES: tuple[PageMaker, ...] = (home_page, rules_index, rule_index_pages, overview_pages, targets_page, export_files)


def kind_pages(name: str) -> PageMaker | None:
    """The page maker the registry names for a kind (None: the kind has no pages of its own)."""
    reference = KINDS[name].pages
    return resolve(reference) if reference else None


def knowledge_base_pages(ctx: RenderContext) -> dict[str, str]:
    """Every page made from the rule summaries: each kind's but the rules' own, then the pages of no kind."""
    makers = [maker for name in KINDS if name != RULE_KIND and (maker := kind_pages(name)) is not None]
    pages: dict[str, str] = {}
    for maker in [*makers, *OTHER_PAGES]:
        pages.update(maker(ctx))
    return pages


def evidence_page(ctx: RenderContext) -> dict[str, str]:
    """evidence.md: every rule with SigmaHQ regression tests, each target's verdict, and every failure."""
    rules = [rule for rule in ctx.kb.rules if rule.evidence_source]
    runnable = [t.key for t in ctx.targets if t.key in ("grep", "sqlite", "powershell")]
    failures = [(rule, evidence) for rule in rules for evidence in rule.evidence if not evidence.passed]
    unread = [rule for rule in rules if not rule.evidence]
    page = addresses.named("evidence")
    return {
        page: ctx.render("evidence.md.j2", page, rules=rules, targets=runnable, failures=failures, unread=unread, total=len(ctx.kb.rules))
    }


ABOUT = {"data-needed-matching": "about_data_needed_matching.md.j2", "data-component-matching": "about_data_component_matching.md.j2"}


def about_pages(ctx: RenderContext) -> dict[str, str]:
    """The explanations of how atc links rules (written once, their links to generated pages from the address book)."""
    return {addresses.named(name): ctx.render(template, addresses.named(name)) for name, template in ABOUT.items()}


def render_pages(ctx: RenderContext) -> dict[str, str]:
    """Every generated page, keyed by its path relative to docs/."""
    maker = kind_pages(RULE_KIND)
    rule_pages = maker(ctx) if maker else {}  # started in forked workers: read last
    others = evidence_page(ctx) | about_pages(ctx)
    shown_exports = [export_summary(export) for export in ctx.exports]
    kinds = [(kind.name, kind.folder, kind.pages) for kind in KINDS.values()]  # a team's kind: its page maker's code is not in atc's
    kb_inputs = ("knowledge-base pages", kinds, ctx.summaries, ctx.dates, shown_exports, ctx.site_name, ctx.site_url, ctx.kb.environments)
    others.update(ctx.remember(kb_inputs, lambda: knowledge_base_pages(ctx)))
    history = ctx.history
    periods = (history.periods, history.grouping, history.limits) if history else None
    slugs = {rule.id: rule.slug for rule in ctx.summaries if rule.id}  # the changes page links the rules that still exist
    others.update(ctx.remember(("changes", periods, slugs, ctx.site_name, ctx.site_url), lambda: changes_pages(ctx, slugs)))
    others.update(deploy_files(ctx.exports))
    return {**rule_pages, **others}
