"""The team's environments in the site: a page each (rules it runs, rules it is blind to and what would unlock them)."""

from __future__ import annotations

from dataclasses import dataclass

from atc.link.environments import EnvironmentView, Unlock, Verdict
from atc.load.rules import safe_slug
from atc.model import Environment, RuleSummary
from atc.render import addresses
from atc.render.attack_pages import ENVIRONMENT_LAYER_PREFIX
from atc.render.context import RenderContext

UNLOCKS_SHOWN = 25  # rows of the "what would unlock the most rules" table


@dataclass(frozen=True)
class EnvironmentSummary:
    """An environment with its counts, for the index."""

    environment: Environment
    page: str  # its page's file name
    runs: int
    blind: int


def _by_title(pairs: list[tuple[RuleSummary, Verdict]]) -> list[tuple[RuleSummary, Verdict]]:
    return sorted(pairs, key=lambda pair: (pair[0].title.lower(), pair[0].slug))


def environment_page(ctx: RenderContext, view: EnvironmentView, page: str) -> tuple[str, int, int]:
    """One environment's page, and how many rules it runs and is blind to."""
    judged = [(rule, view.verdict(rule)) for rule in ctx.summaries]
    runs = _by_title([pair for pair in judged if pair[1].runs])
    blind = _by_title([pair for pair in judged if not pair[1].runs])
    unlocks: list[Unlock] = view.unlocks([rule for rule, _ in blind])
    text = ctx.render(
        "environment.md.j2",
        page,
        environment=view.environment,
        runs=runs,
        blind=blind,
        unlocks=unlocks[:UNLOCKS_SHOWN],
        more_unlocks=max(0, len(unlocks) - UNLOCKS_SHOWN),
        more_unlock_rules=unlocks[UNLOCKS_SHOWN].rules if len(unlocks) > UNLOCKS_SHOWN else 0,  # the most any of those unlocks
        known_items=set(ctx.kb.data_needed),
        known_policies=set(ctx.kb.logging_policies),
        layer=f"{ENVIRONMENT_LAYER_PREFIX}{safe_slug(view.environment.name)}.json",
    )
    return text, len(runs), len(blind)


def environment_pages(ctx: RenderContext) -> dict[str, str]:
    """A page per configured environment and their index; nothing without environments."""
    if not ctx.environment_views:
        return {}
    pages: dict[str, str] = {}
    summaries = []
    for view in ctx.environment_views:
        page = addresses.page("environment", view.environment.name)
        pages[page], runs, blind = environment_page(ctx, view, page)
        summaries.append(EnvironmentSummary(view.environment, addresses.file_name("environment", view.environment.name), runs, blind))
    index = addresses.page("environment")
    pages[index] = ctx.render("environments_index.md.j2", index, environments=summaries, total=len(ctx.summaries))
    return pages
