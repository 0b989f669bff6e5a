"""Render every page of the knowledge base: a mapping of relative Markdown path to page text."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import jinja2

from atc.common.parallel import ForkedMap
from atc.convert.deploy import DeployExport
from atc.convert.targets import Target
from atc.link.attack import technique_url
from atc.link.detection import DetectionLinker
from atc.link.environments import EnvironmentView, verdicts
from atc.load.rules import safe_slug
from atc.model import KnowledgeBase, Problem, Rule, RuleSummary
from atc.render.charts import Chart, conversion_chart, gaps_chart, level_chart, status_chart, tactic_chart
from atc.render.escape import code_text, template_environment
from atc.render.gaps import gap_groups
from atc.render.link_filters import DATA_NEEDED_DIR, POLICIES_DIR, RULES_DIR, TRIGGERS_DIR, LinkFilters
from atc.render.page_memo import PageMemo
from atc.render.rule_indexes import rule_index_pages
from atc.render.targets_page import deploy_files, export_summary, reproduce, targets_page, versions_text

if TYPE_CHECKING:  # rule_extras and attack_pages import this module; the history stage imports the renderer's escaping, via diff
    from atc.history.model import KbHistory, RuleDates
    from atc.render.attack_pages import AttackPages
    from atc.render.rule_extras import RelatedIndex

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


def _render_problem(rule: Rule, exc: Exception) -> Problem:
    """A rule whose page could not be rendered: its problem (the page is left out)."""
    message = " ".join(str(exc).split())[:300]
    if not isinstance(exc, RenderFailure):
        message = f"{type(exc).__name__}: {message}"
    return Problem(str(rule.path), "render", f"cannot render the rule's page ({message}); the page is left out")


class PageRenderer:
    """Holds the jinja2 environment and the knowledge base's link targets."""

    def __init__(
        self,
        kb: KnowledgeBase,
        targets: list[Target],
        templates_dir: Path | Sequence[Path],
        edit_urls: dict[str, str] | None = None,
        exports: list[DeployExport] | None = None,
    ) -> None:
        self.kb = kb
        self.targets = targets
        self.exports = exports or []  # deployable exports per target, written under exports/<target>/
        self.edit_urls = edit_urls or {}  # rule slug -> "edit this rule" URL
        self.memo: PageMemo | None = None  # set by the build: pages remembered across builds
        self.history: KbHistory | None = None  # set by the build when the knowledge base is in git
        self.jobs = 1  # processes rendering the rule pages
        self.env = template_environment(templates_dir)
        self.links = LinkFilters(kb)  # no reference back to the renderer, nor to the rules: no reference cycle keeps a build alive
        self.env.filters.update(
            code_span=code_text,
            tactic_item=self.links.tactic_item,
            technique_item=self.links.technique_item,
            data_needed_item=self.links.data_needed_item,
            logging_policy_item=self.links.logging_policy_item,
            trigger_item=self.links.trigger_item,
            rule_link=self.links.rule_link,
            data_component_item=self.links.data_component_item,
            detection_item=self.links.detection_item,
            environment_item=self.links.environment_item,
            reproduce=reproduce,
            versions=versions_text,
        )

    def technique_name(self, tid: str) -> str:
        return self.links.technique_name(tid)

    # --- pages -------------------------------------------------------------------------------

    @cached_property
    def summaries(self) -> list[RuleSummary]:
        """What every page but a rule's own shows of the rules, in knowledge-base order."""
        return [RuleSummary.of(rule) for rule in self.kb.rules]

    @cached_property
    def environment_views(self) -> list[EnvironmentView]:
        """The configured environments, in configuration order, judged against the Data Needed items."""
        return [EnvironmentView(environment, self.kb.data_needed) for environment in self.kb.environments]

    def environment_rules(self) -> dict[str, tuple[str, list[RuleSummary]]]:
        """Environment name -> (title, the rules it can run)."""
        return {
            view.environment.name: (view.environment.title, [rule for rule in self.summaries if view.verdict(rule).runs])
            for view in self.environment_views
        }

    def render(self, template: str, **context: object) -> str:
        """A page from a template (remembered from an earlier build when made from the same template and context)."""
        return self.remember((template, context), lambda: self.env.get_template(template).render(**context))

    def render_all(self, template: str, contexts: list[dict[str, object] | None]) -> Callable[[], list[str | Exception | None]]:
        """Start making pages from one template (those an earlier build made are remembered, the others rendered in forked
        workers); the returned function waits for them and gives them in order: a page, what stopped it, or None (no context)."""
        global _rendering
        recalled = [self.memo.recall((template, context)) if self.memo and context is not None else (None, None) for context in contexts]
        missing = [number for number, (_, text) in enumerate(recalled) if text is None and contexts[number] is not None]
        _rendering = (self.env.get_template(template), [context for number in missing if (context := contexts[number]) is not None])
        work = ForkedMap(_render_page, range(len(missing)), self.jobs)

        def finish() -> list[str | Exception | None]:
            global _rendering
            made: list[str | Exception | None] = [text for _, text in recalled]
            for number, text in zip(missing, work.results()):
                made[number] = text
                digest = recalled[number][0]
                if self.memo is not None and digest is not None and isinstance(text, str):
                    self.memo.keep(digest, text)
            _rendering = None
            return made

        return finish

    def remember(self, inputs: object, make: Callable[[], T]) -> T:
        """make(), or what it gave an earlier build for the same inputs when the build remembers pages."""
        return make() if self.memo is None else self.memo.remember(inputs, make)

    def rule_context(self, rule: Rule, summary: RuleSummary, related: RelatedIndex) -> dict[str, object]:
        """What rule.md.j2 is rendered with for one rule."""
        history = self.history.rules.get(rule.slug) if self.history else None
        return dict(
            rule=rule,
            targets=self.targets,
            related=related.related(summary),
            edit_url=self.edit_urls.get(rule.slug),
            environments=verdicts(summary, self.environment_views),
            history=history,
        )

    @property
    def dates(self) -> dict[str, RuleDates]:
        """Each rule's first and last commit and number of revisions, by slug (empty without history)."""
        return self.history.dates if self.history else {}

    def pages(self, site_name: str, site_url: str | None = None) -> dict[str, str]:
        """Every generated page, keyed by its path relative to docs/."""
        kb = self.kb
        from atc.render.rule_extras import RelatedIndex  # imported here: it imports attack_pages, which imports this module

        related = RelatedIndex(kb, self.summaries)
        contexts: list[dict[str, object] | None] = []
        for rule, summary in zip(kb.rules, self.summaries):
            try:
                contexts.append(self.rule_context(rule, summary, related))
            except Exception as exc:  # a value no check foresaw: this rule's problem, not the build's end
                contexts.append(None)
                kb.problems.append(_render_problem(rule, exc))
        rule_pages = self.render_all("rule.md.j2", contexts)  # in forked workers, while this process makes the other pages
        others = {"evidence.md": self.evidence_page()}
        # every other page is made from the summaries: one memo entry while none of them changes
        shown_exports = [export_summary(export) for export in self.exports]
        others.update(
            self.remember(
                ("knowledge-base pages", self.summaries, self.dates, shown_exports, site_name, site_url, kb.environments),
                lambda: self.knowledge_base_pages(site_name, site_url),
            )
        )
        from atc.render.history_pages import changes_pages

        periods = (self.history.periods, self.history.grouping, self.history.limits) if self.history else None
        slugs = {rule.id: rule.slug for rule in self.summaries if rule.id}  # the changes page links the rules that still exist
        others.update(
            self.remember(("changes", periods, slugs, site_name, site_url), lambda: changes_pages(self, slugs, site_name, site_url))
        )
        others.update(deploy_files(self.exports))
        pages: dict[str, str] = {}
        for rule, made in zip(kb.rules, rule_pages()):
            if isinstance(made, str):
                pages[f"{RULES_DIR}/{rule.slug}.md"] = made
            elif made is not None:
                kb.problems.append(_render_problem(rule, made))
        pages.update(others)
        return pages

    def evidence_page(self) -> str:
        """evidence.md: every rule with SigmaHQ regression tests, each target's verdict, and every failure."""
        rules = [rule for rule in self.kb.rules if rule.evidence_source]
        runnable = [t.key for t in self.targets if t.key in ("grep", "sqlite", "powershell")]
        failures = [(rule, evidence) for rule in rules for evidence in rule.evidence if not evidence.passed]
        unread = [rule for rule in rules if not rule.evidence]
        return self.render("evidence.md.j2", rules=rules, targets=runnable, failures=failures, unread=unread, total=len(self.kb.rules))

    def knowledge_base_pages(self, site_name: str, site_url: str | None) -> dict[str, str]:
        """The Data Needed, logging policy, trigger, index, ATT&CK and target pages and the exports."""
        kb = self.kb
        rules_by_dn: dict[str, list[RuleSummary]] = defaultdict(list)
        rules_by_trigger: dict[str, list[RuleSummary]] = defaultdict(list)
        for rule in self.summaries:
            for item_id in rule.data_needed:
                rules_by_dn[item_id].append(rule)
            for technique_id in dict.fromkeys(ref.technique_id for ref in rule.triggers):  # a simulation's test and the tag's tests: once
                rules_by_trigger[technique_id].append(rule)
        pages: dict[str, str] = {}
        linker = DetectionLinker(kb.attack, kb.data_needed)
        for item in kb.data_needed.values():
            pages[f"{DATA_NEEDED_DIR}/{safe_slug(item.id)}.md"] = self.render(
                "data_needed.md.j2", item=item, rules=rules_by_dn[item.id], components=linker.item_components(item)
            )
        for policy in kb.logging_policies.values():
            enabled = [item for item in kb.data_needed.values() if policy.id in item.logging_policies]
            behind = sorted({rule.slug: rule for item in enabled for rule in rules_by_dn[item.id]}.values(), key=lambda r: r.slug)
            pages[f"{POLICIES_DIR}/{safe_slug(policy.id)}.md"] = self.render(
                "logging_policy.md.j2", policy=policy, data_needed=enabled, rules=behind
            )
        for trigger in kb.triggers.values():
            pages[f"{TRIGGERS_DIR}/{safe_slug(trigger.technique_id)}.md"] = self.render(
                "trigger.md.j2",
                trigger=trigger,
                name=self.technique_name(trigger.technique_id),
                technique_url=technique_url(trigger.technique_id),
                rules=rules_by_trigger[trigger.technique_id],
            )
        from atc.render.attack_pages import AttackPages  # imported here: both modules import this one
        from atc.render.exports import exports

        attack = AttackPages(self, site_url)
        pages.update(self.index_pages(site_name, rules_by_dn, rules_by_trigger, attack))
        pages.update(targets_page(self))
        pages.update(rule_index_pages(self))
        pages.update(attack.pages())
        from atc.render.environment_pages import environment_pages

        pages.update(environment_pages(self))
        pages.update(self.remember(("exports", self.summaries, self.dates), lambda: exports(self.summaries, self.targets, self.dates)))
        return pages

    def home_charts(self, attack: AttackPages) -> list[Chart]:
        """The home page's charts: coverage by tactic, rules by level and status, conversion health, Data Needed and logging gaps."""
        rules = self.summaries
        return [
            tactic_chart(attack.columns, set(attack.tactic_pages), "ATTACK/"),
            level_chart(rules, f"{RULES_DIR}/by/level.md"),
            status_chart(rules, f"{RULES_DIR}/index.md"),
            conversion_chart(rules, self.targets, "targets.md"),
            gaps_chart(rules, self.kb.data_needed, f"{DATA_NEEDED_DIR}/gaps.md", f"{POLICIES_DIR}/index.md"),
        ]

    def index_pages(
        self, site_name: str, rules_by_dn: dict[str, list[RuleSummary]], rules_by_trigger: dict[str, list[RuleSummary]], attack: AttackPages
    ) -> dict[str, str]:
        kb = self.kb
        covered = {
            ref.current.id if ref.current else ref.tag_id for rule in self.summaries for ref in rule.techniques if ref.status != "unknown"
        }
        return {
            "index.md": self.render(
                "home.md.j2",
                site_name=site_name,
                rules=self.summaries,
                technique_count=len(covered),
                data_needed=kb.data_needed,
                logging_policies=kb.logging_policies,
                triggers=kb.triggers,
                targets=self.targets,
                exports=[export_summary(export) for export in self.exports],
                attack_version=kb.attack.version,
                attack_source=kb.attack.source,
                environments=kb.environments,
                charts=self.home_charts(attack),
            ),
            f"{RULES_DIR}/index.md": self.render(
                "rules_index.md.j2",
                rules=sorted(self.summaries, key=lambda r: (r.title.lower(), r.slug)),
                dates=self.dates,
                history=self.history is not None,
            ),
            f"{DATA_NEEDED_DIR}/index.md": self.render(
                "data_needed_index.md.j2",
                items=list(kb.data_needed.values()),
                rule_counts={k: len(rules_by_dn[k]) for k in kb.data_needed},
                unserved=sum(1 for rule in self.summaries if not rule.data_needed),
            ),
            f"{DATA_NEEDED_DIR}/gaps.md": self.render("gaps.md.j2", groups=gap_groups(self.summaries), total=len(self.summaries)),
            f"{POLICIES_DIR}/index.md": self.render("logging_policies_index.md.j2", policies=list(kb.logging_policies.values())),
            f"{TRIGGERS_DIR}/index.md": self.render(
                "triggers_index.md.j2",
                triggers=list(kb.triggers.values()),
                names={tid: self.technique_name(tid) for tid in kb.triggers},
                rule_counts={tid: len(rules_by_trigger[tid]) for tid in kb.triggers},
            ),
        }
