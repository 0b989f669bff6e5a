"""A page per rule (rendered in forked workers, each remembered on its own) and the rule index."""

from __future__ import annotations

import unicodedata
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from functools import cached_property

from atc.link.environments import verdicts
from atc.model import Problem, Rule, RuleSummary
from atc.render import addresses
from atc.render.context import RenderContext, RenderFailure
from atc.render.rule_extras import RelatedIndex


class PendingPages(Mapping[str, str]):
    """Pages being made in forked workers while the caller makes others: waited for when first read."""

    def __init__(self, finish: Callable[[], dict[str, str]]) -> None:
        self._finish = finish

    @cached_property
    def _pages(self) -> dict[str, str]:
        return self._finish()

    def __getitem__(self, path: str) -> str:
        return self._pages[path]

    def __iter__(self) -> Iterator[str]:
        return iter(self._pages)

    def __len__(self) -> int:
        return len(self._pages)


def render_problem(rule: Rule, exc: Exception) -> Problem:
    """A rule whose page could not be rendered: its problem (the page is left out)."""
    message = " ".join(str(exc).split())[:300]
    if not isinstance(exc, RenderFailure):
        message = f"{type(exc).__name__}: {message}"
    return Problem(str(rule.path), "render", f"cannot render the rule's page ({message}); the page is left out")


def _seen_as(title: str) -> str:
    """A title as a reader tells it apart: compatibility forms, case, invisible format characters and spacing aside."""
    shown = "".join(char for char in unicodedata.normalize("NFKC", title) if unicodedata.category(char) != "Cf")
    return " ".join(shown.casefold().split())


def shared_titles(ctx: RenderContext) -> frozenset[str]:
    """The titles (as _seen_as reads them) that more than one rule of the knowledge base has."""
    counts = Counter(_seen_as(summary.title) for summary in ctx.summaries)
    return frozenset(title for title, count in counts.items() if count > 1)


def page_title(rule: Rule, shared: frozenset[str]) -> str:
    """A rule page's title: the rule's, followed by its page name (and "deprecated") when another rule has the same title
    (or one that looks the same), so that search results and browser tabs tell the pages apart."""
    if _seen_as(rule.title) not in shared:
        return rule.title
    return f"{rule.title} ({'deprecated, ' if rule.status == 'deprecated' else ''}{rule.slug})"


def rule_context(ctx: RenderContext, rule: Rule, summary: RuleSummary, related: RelatedIndex) -> dict[str, object]:
    """What rule.md.j2 is rendered with for one rule."""
    history = ctx.history.rules.get(rule.slug) if ctx.history else None
    return dict(
        page=addresses.page("rule", rule.slug),
        title=page_title(rule, ctx.shared(shared_titles)),
        rule=rule,
        targets=ctx.targets,
        related=related.related(summary),
        edit_url=ctx.edit_urls.get(rule.slug),
        environments=verdicts(summary, ctx.environment_views),
        history=history,
    )


def rule_pages(ctx: RenderContext) -> Mapping[str, str]:
    """Every rule's page, started in forked workers: the mapping waits for them when first read.

    A rule whose page cannot be made is the rule's problem, not the build's end: its page is left out.
    """
    kb = ctx.kb
    related = RelatedIndex(kb, ctx.summaries)
    contexts: list[dict[str, object] | None] = []
    for rule, summary in zip(kb.rules, ctx.summaries):
        try:
            contexts.append(rule_context(ctx, rule, summary, related))
        except Exception as exc:  # a value no check foresaw: this rule's problem, not the build's end
            contexts.append(None)
            kb.problems.append(render_problem(rule, exc))
    made = ctx.render_all("rule.md.j2", contexts)

    def finish() -> dict[str, str]:
        pages: dict[str, str] = {}
        for rule, text in zip(kb.rules, made()):
            if isinstance(text, str):
                pages[addresses.page("rule", rule.slug)] = text
            elif text is not None:
                kb.problems.append(render_problem(rule, text))
        return pages

    return PendingPages(finish)


def some_rule_pages(ctx: RenderContext, rules: list[Rule]) -> dict[str, str]:
    """The pages of some of the knowledge base's rules, rendered here and now (`atc serve` shows an edited rule first);
    a page that cannot be made is left out (the whole pipeline reports why)."""
    related = RelatedIndex(ctx.kb, ctx.summaries)
    wanted = {id(rule) for rule in rules}
    template = ctx.env.get_template("rule.md.j2")
    pages: dict[str, str] = {}
    for rule, summary in zip(ctx.kb.rules, ctx.summaries):
        if id(rule) in wanted:
            try:
                context = rule_context(ctx, rule, summary, related)
                pages[str(context["page"])] = template.render(**context)
            except Exception:  # a value no check foresaw: the rule's problem, which the build reports with its page left out
                continue
    return pages


def rules_index(ctx: RenderContext) -> dict[str, str]:
    """The rule index: every rule in a filterable table, by title."""
    page = addresses.page("rule")
    return {
        page: ctx.render(
            "rules_index.md.j2",
            page,
            rules=sorted(ctx.summaries, key=lambda r: (r.title.lower(), r.slug)),
            dates=ctx.dates,
            history=ctx.history is not None,
        )
    }
