"""What every page maker is given: the knowledge base, its rule summaries, the targets, the templates and the page memo."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import jinja2

from atc.common.parallel import ForkedMap
from atc.convert.deploy import DeployExport
from atc.convert.targets import Target
from atc.link.environments import EnvironmentView
from atc.model import KnowledgeBase, RuleSummary
from atc.render.escape import code_text, template_environment
from atc.render.link_filters import LinkFilters, link_to, tag_item, technique_name
from atc.render.page_memo import PageMemo
from atc.render.target_text import reproduce, versions_text

if TYPE_CHECKING:
    from atc.history.model import KbHistory, RuleDates

T = TypeVar("T")
_rendering: tuple[jinja2.Template, list[dict[str, object]]] | None = None  # what forked workers render (set before the fork)


class RenderFailure(Exception):
    """A page a worker could not render: the error's type and message."""


def _render_page(number: int) -> str | Exception:
    """Worker task: one page of the template being rendered in parallel, or what stopped it."""
    assert _rendering is not None
    template, contexts = _rendering
    try:
        return template.render(**contexts[number])
    except Exception as exc:  # a value no check foresaw: the page's problem, reported by the caller
        return RenderFailure(f"{type(exc).__name__}: {exc}")  # picklable, whatever the error held


def page_environment(kb: KnowledgeBase, templates_dir: Path | Sequence[Path], compiled: Path | None = None) -> jinja2.Environment:
    """The jinja2 environment of the site's pages: the escaping filters, the link filters and `link_to` (compiled: see
    template_environment)."""
    env = template_environment(templates_dir, compiled)
    links = LinkFilters(kb)  # no reference back to the context, nor to the rules: no reference cycle keeps a build alive
    env.filters.update(
        code_span=code_text,
        tag_item=tag_item,
        tactic_item=links.tactic_item,
        technique_item=links.technique_item,
        data_needed_item=links.data_needed_item,
        logging_policy_item=links.logging_policy_item,
        trigger_item=links.trigger_item,
        rule_link=links.rule_link,
        data_component_item=links.data_component_item,
        detection_item=links.detection_item,
        environment_item=links.environment_item,
        reproduce=reproduce,
        versions=versions_text,
    )
    env.globals["link_to"] = link_to
    return env


@dataclass
class RenderContext:
    """The inputs of the render stage and the memo-aware ways of making pages from templates."""

    kb: KnowledgeBase
    targets: list[Target]
    env: jinja2.Environment
    site_name: str = "Detection knowledge base"
    site_url: str | None = None
    exports_made: Callable[[], list[DeployExport]] = list  # gives the deployable exports per target (exports/<target>/)
    edit_urls: dict[str, str] = field(default_factory=dict)  # rule slug -> "edit this rule" URL
    history: KbHistory | None = None  # the rule history, when the knowledge base is in git
    memo: PageMemo | None = None  # pages remembered across builds
    jobs: int = 1  # processes rendering the rule pages
    _shared: dict[Callable[..., Any], Any] = field(default_factory=dict, init=False, repr=False)

    @classmethod
    def of(
        cls, kb: KnowledgeBase, targets: list[Target], templates_dir: Path | Sequence[Path], compiled: Path | None = None, **settings: Any
    ) -> RenderContext:
        """A context with the page environment of the templates in `templates_dir` (a team's folder first; compiled
        templates kept in `compiled`)."""
        return cls(kb, targets, page_environment(kb, templates_dir, compiled), **settings)

    @cached_property
    def summaries(self) -> list[RuleSummary]:
        """What every page but a rule's own shows of the rules, in knowledge-base order."""
        return [RuleSummary.of(rule) for rule in self.kb.rules]

    @cached_property
    def exports(self) -> list[DeployExport]:
        """The deployable exports, waited for when a page first shows them (they are made while pages are rendered)."""
        return self.exports_made()

    @cached_property
    def environment_views(self) -> list[EnvironmentView]:
        """The configured environments, in configuration order, judged against the Data Needed items."""
        return [EnvironmentView(environment, self.kb.data_needed, self.kb.logging_policies) for environment in self.kb.environments]

    @property
    def dates(self) -> dict[str, RuleDates]:
        """Each rule's first and last commit and number of revisions, by slug (empty without history)."""
        return self.history.dates if self.history else {}

    def shared(self, make: Callable[[RenderContext], T]) -> T:
        """make(self), worked out once per context: what several page families derive from the knowledge base."""
        if make not in self._shared:
            self._shared[make] = make(self)
        return self._shared[make]  # type: ignore[no-any-return]

    def technique_name(self, tid: str) -> str:
        """A technique's name in the snapshot, else its trigger's, else the id."""
        return technique_name(self.kb.attack, self.kb.triggers, tid)

    def render(self, template: str, page: str, **context: object) -> str:
        """The page at docs-relative path `page` from a template (remembered from an earlier build made from the same inputs)."""
        return self.remember((template, page, context), lambda: self.env.get_template(template).render(page=page, **context))

    def render_all(self, template: str, contexts: list[dict[str, object] | None]) -> Callable[[], list[str | Exception | None]]:
        """Start making pages from one template (those an earlier build made are remembered, the others rendered in forked
        workers); the returned function waits for them and gives them in order: a page, what stopped it, or None (no context).
        Each context names its page (`page`: the docs-relative path)."""
        global _rendering
        memo = self.memo
        recalled = [memo.recall((template, context)) if memo and context is not None else (None, None) for context in contexts]
        missing = [number for number, (_, text) in enumerate(recalled) if text is None and contexts[number] is not None]
        _rendering = (self.env.get_template(template), [context for number in missing if (context := contexts[number]) is not None])
        work = ForkedMap(_render_page, range(len(missing)), self.jobs)

        def finish() -> list[str | Exception | None]:
            global _rendering
            made: list[str | Exception | None] = [text for _, text in recalled]
            for number, text in zip(missing, work.results()):
                made[number] = text
                digest = recalled[number][0]
                if memo is not None and digest is not None and isinstance(text, str):
                    memo.keep(digest, text)
            _rendering = None
            return made

        return finish

    def remember(self, inputs: object, make: Callable[[], T]) -> T:
        """make(), or what it gave an earlier build for the same inputs when the build remembers pages."""
        return make() if self.memo is None else self.memo.remember(inputs, make)
