"""The build pipeline: load → link → convert → render → site, with a summary of what happened."""

from __future__ import annotations

import gc
import sys
import time
from collections import Counter
from collections.abc import Collection, Iterator, Sequence
from contextlib import ExitStack, closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from atc.common.parallel import in_thread
from atc.common.progress import Progress
from atc.common.resources import templates_dir
from atc.convert.attack_data import use_snapshot, with_attack
from atc.convert.cache import ConversionCache
from atc.convert.deploy import DeployExport, deploy_targets, start_exports
from atc.convert.runner import ConvertStats, conversion_text, convert_rules
from atc.convert.targets import Target, select_targets
from atc.convert.team_targets import configured_targets
from atc.history.gitrev import GitError
from atc.kinds import folder_kinds
from atc.link import link
from atc.load.knowledge_base import load_knowledge_base
from atc.model import KnowledgeBase, Problem, Rule
from atc.render.context import RenderContext
from atc.render.escape import template_error
from atc.render.page_memo import PageMemo
from atc.render.pages import render_pages
from atc.render.rule_extras import edit_urls
from atc.render.rule_pages import some_rule_pages
from atc.render.team_templates import unused_templates
from atc.settings import ConfigError, Settings
from atc.site.assets import site_assets
from atc.site.docs_writer import WriteReport, carry_refused, replace_pages, write_pages
from atc.site.mkdocs_adapter import BuiltSite, build_site
from atc.site.publish import check_output, publishing

if TYPE_CHECKING:
    from atc.history.model import KbHistory
    from atc.verify.runners import VerifyReport

COMPILED = "templates"  # in the cache folder: the templates jinja2 compiled (atc/render/escape.py)
SITE_PAGES = "site-pages.pickle"  # in the cache folder: the pages the last site build wrote (atc/site/page_store.py)


@dataclass
class BuildResult:
    kb: KnowledgeBase
    targets: list[Target]
    pages: dict[str, str]
    written: WriteReport | None = None
    timings: dict[str, float] = field(default_factory=dict)
    convert_stats: ConvertStats = field(default_factory=ConvertStats)
    made: int = 0  # pages and exports rendered; the others were remembered from an earlier build
    history: KbHistory | None = None  # the rule history from git, when the knowledge base is in a repository
    exports: list[DeployExport] = field(default_factory=list)  # deployable exports per target (exports/<target>/)
    site: BuiltSite | None = None  # mkdocs's state after the site build, for live updates (atc/site/live.py)

    @property
    def problems(self) -> list[Problem]:
        return self.kb.problems


def check(settings: Settings) -> KnowledgeBase:
    """The knowledge base as the build would see it, with every problem the build reports plus the validators'."""
    from atc.link.validation import validate  # pySigma's validators: imported by `atc check` alone
    from atc.verify.runners import bad_event_files

    configured_targets(settings.targets, settings.target_entries, settings.base_dir)  # the team's own targets are usable
    kb = load_knowledge_base(settings, remember=False)  # no cache: a check writes nothing
    link(kb)
    kb.problems.extend(unused_templates(settings.templates_dir, templates_dir()))
    kb.problems.extend(validate(kb.rules, settings.validator_exclusions, settings.validators))
    if settings.events is not None and settings.events.is_dir():
        kb.problems.extend(Problem(path, "events", why) for path, why in bad_event_files(kb.rules, settings.events))
    return kb


def verify(settings: Settings, targets: Sequence[str], events: Path | None) -> VerifyReport:
    """`atc verify`: the rules loaded and converted by the build's stages (its cache too), then the runnable targets'
    queries tried on the example events in `events` (when given) and on the SigmaHQ regression tests the rules name.

    A rule file that cannot be read (or a rule id used twice, which makes its events ambiguous) is named in the
    report's `bad_rules`; every other rule is verified."""
    from atc.verify.regression import collect_evidence
    from atc.verify.runners import verify_rules

    kb = load_knowledge_base(settings, only=("rule",))
    cache = ConversionCache(settings.cache_dir)
    try:
        convert_rules(kb.rules, select_targets(list(targets)), settings.jobs, cache=cache)
    finally:
        cache.close()
    report = verify_rules(kb.rules, events, list(targets))
    found = collect_evidence(kb.rules, list(targets), _evidence_roots(settings))
    report.evidence = [f"EVIDENCE {e.target} {rule.path}: {e.line()}" for rule in kb.rules for e in rule.evidence]
    report.evidence += [f"EVIDENCE UNUSABLE {p.path}: {p.message}" for p in found if p.kind == "evidence"]
    report.evidence_failures = sum(p.kind == "evidence-failed" for p in found)
    report.bad_rules = [problem for problem in kb.problems if problem.severity == "error"]
    return report


def _inputs(settings: Settings) -> list[Path]:
    """Every path the build reads: output folders must not hold any of them."""
    paths = [folder for key in folder_kinds() for folder in settings.folders(key)]
    paths += [settings.templates_dir, settings.mkdocs_config, settings.cache_dir, settings.base_dir]
    return paths + ([settings.events] if settings.events is not None else [])


def _site_meta(settings: Settings) -> tuple[str, str | None]:
    """The site's name and published URL from the mkdocs configuration."""
    import yaml

    try:
        data = yaml.safe_load(mkdocs_config(settings).read_text(encoding="utf-8"))
        url = data.get("site_url")
        return str(data.get("site_name", "Detection knowledge base")), str(url) if url else None
    except (OSError, yaml.YAMLError, AttributeError):
        return "Detection knowledge base", None


def mkdocs_config(settings: Settings) -> Path:
    """The mkdocs configuration: atc's default, with the team's mkdocs.yml (when there is one) merged over it."""
    from atc.site.mkdocs_config import site_config

    return site_config(settings.mkdocs_config, settings.cache_dir)


def template_dirs(settings: Settings) -> list[Path]:
    """Where templates are looked up: the team's override folder first (when it exists), then atc's own."""
    own = templates_dir()
    team = settings.templates_dir
    return [team, own] if team.is_dir() and team.resolve() != own.resolve() else [own]


def verify_queries(kb: KnowledgeBase, rules: list[Rule], targets: list[Target], events: Path) -> None:
    """Check the runnable targets' queries on the example events (marks the pages); a failure is a problem."""
    from atc.verify.runners import SIMULATED, VERIFIABLE, VerifyError, verify_rules

    try:
        report = verify_rules(rules, events, [target.key for target in targets if target.key in VERIFIABLE + SIMULATED])
    except VerifyError as exc:
        kb.problems.append(Problem(str(events), "verify", str(exc)))
        return
    for outcome in report.failures:
        kb.problems.append(Problem(outcome.rule, "verify-failed", f"{outcome.target}: {outcome.detail}"))
    kb.problems.extend(Problem(path, "events", why) for path, why in report.bad_events)


def _evidence_roots(settings: Settings) -> list[Path]:
    """Where a rule's `regression_tests_path` (SigmaHQ's layout) is resolved from: the knowledge base and above its rule folders."""
    return [settings.base_dir, *(folder.parent for folder in settings.rules)]


def _check_queries(kb: KnowledgeBase, rules: list[Rule], targets: list[Target], settings: Settings, timings: dict[str, float]) -> None:
    """The rules' queries tried on the team's example events and on SigmaHQ's regression events, where there are some."""
    if settings.events is not None and settings.events.is_dir():
        started = time.perf_counter()
        verify_queries(kb, rules, targets, settings.events)
        timings["verify"] = time.perf_counter() - started
    if any("regression_tests_path" in rule.data for rule in rules if isinstance(rule.data, dict)):
        from atc.verify.regression import collect_evidence

        started = time.perf_counter()
        kb.problems += collect_evidence(rules, [target.key for target in targets], _evidence_roots(settings))
        timings["evidence"] = time.perf_counter() - started


def run_rule_pages(
    settings: Settings, paths: Collection[Path], last: KnowledgeBase | None = None, history: KbHistory | None = None
) -> list[str]:
    """`atc serve`'s first answer to an edit: the pages of the rules in the files `paths`, written into docs/ in place.

    The stages run as in a build over the whole knowledge base (so links and related rules are the whole build's), but
    only these rules are converted (not for the exports; the other rules keep their conversions in the `last` build's
    knowledge base when their text is the same) and only their pages rendered, with the last build's `history` (an edit
    not yet committed has none of its own). The whole pipeline follows. Returns the pages that changed.
    """
    with _long_lived_heap(), _templates_checked():
        return _run_rule_pages(settings, paths, last, history)


def _run_rule_pages(settings: Settings, paths: Collection[Path], last: KnowledgeBase | None, history: KbHistory | None) -> list[str]:
    targets = configured_targets(settings.targets, settings.target_entries, settings.base_dir)
    kb = load_knowledge_base(settings)
    link(kb)
    wanted = {path.resolve() for path in paths}
    folders = {folder: folder.resolve() for folder in {rule.path.parent for rule in kb.rules}}  # once per folder, not per rule
    rules = [rule for rule in kb.rules if folders[rule.path.parent] / rule.path.name in wanted]
    if not rules:
        return []
    targets = with_attack(targets, use_snapshot(kb.attack, settings.cache_dir))
    before = {(rule.path, rule.document): rule for rule in last.rules} if last is not None else {}
    edited = {id(rule) for rule in rules}
    keys = {target.key for target in targets}
    converting = []
    for rule in kb.rules:
        old = before.get((rule.path, rule.document))
        if id(rule) not in edited and old is not None and old.conversions.keys() >= keys and conversion_text(old) == conversion_text(rule):
            rule.conversions = old.conversions
        else:
            converting.append(rule)
    cache = ConversionCache(settings.cache_dir)
    try:
        convert_rules(converting, targets, settings.jobs, cache=cache)
    finally:
        cache.close()
    _check_queries(kb, rules, targets, settings, {})
    site_name, site_url = _site_meta(settings)
    links = edit_urls(rules, settings.repo_url, [settings.base_dir, *settings.rules])
    ctx = RenderContext.of(
        kb,
        targets,
        template_dirs(settings),
        settings.cache_dir / COMPILED,
        site_name=site_name,
        site_url=site_url,
        edit_urls=links,
        history=history,
    )
    return replace_pages(some_rule_pages(ctx, rules), settings.docs_dir)


@contextmanager
def _templates_checked() -> Iterator[None]:
    """A team template's error (syntax, a missing template, an undefined name on a shared page) as a ConfigError naming the template."""
    import jinja2

    try:
        yield
    except jinja2.TemplateError as exc:
        raise ConfigError(template_error(exc)) from exc


@contextmanager
def _long_lived_heap() -> Iterator[None]:
    """Fewer garbage collections during a build: young objects are collected less often, and the stages freeze what lives
    until the end (thawed after, unless the caller had frozen its own long-lived objects: `atc serve` between rounds)."""
    threshold = gc.get_threshold()
    thaw = gc.get_freeze_count() == 0
    gc.set_threshold(50_000, 20, 20)
    try:
        yield
    finally:
        gc.set_threshold(*threshold)
        if thaw:
            gc.unfreeze()


def run_build(settings: Settings, stream: TextIO = sys.stderr, quiet: bool = False, only_changed: str | None = None) -> BuildResult:
    """Run the whole pipeline and return what it produced (only_changed: a preview of the rules that differ from that git revision)."""
    with _long_lived_heap(), _templates_checked(), ExitStack() as at_end:
        return _run_build(settings, stream, quiet, only_changed, at_end)


def _run_build(settings: Settings, stream: TextIO, quiet: bool, only_changed: str | None, at_end: ExitStack) -> BuildResult:
    targets = configured_targets(settings.targets, settings.target_entries, settings.base_dir)
    timings: dict[str, float] = {}
    check_output(
        settings.docs_dir, settings.site_dir if settings.build_site else None, _inputs(settings)
    )  # before any work: refuse folders that are not atc's

    started = time.perf_counter()
    kb = load_knowledge_base(settings, progress=Progress("load", 0, stream, quiet))
    gc.freeze()  # the knowledge base lives until the end: never scanned by the collector again
    timings["load"] = time.perf_counter() - started
    _log(
        stream,
        quiet,
        f"load: {kb.counts()} in {timings['load']:.2f} s",
    )

    started = time.perf_counter()
    link(kb)
    kb.problems.extend(unused_templates(settings.templates_dir, templates_dir()))
    timings["link"] = time.perf_counter() - started

    converted = kb.rules
    if only_changed is not None:
        from atc.render.preview import changed_since

        converted = changed_since(kb.rules, only_changed, settings.base_dir)
        _log(stream, quiet, f"preview: {len(converted)} rules differ from {only_changed}")
    progress = Progress("convert", len(converted), stream, quiet)
    cache = at_end.enter_context(closing(ConversionCache(settings.cache_dir)))  # open until the exports are stored
    attack = use_snapshot(kb.attack, settings.cache_dir)  # formats naming ATT&CK techniques read the snapshot, never the network
    targets = with_attack(targets, attack)
    deploy = (
        with_attack(deploy_targets(targets), attack) if settings.exports and only_changed is None else []
    )  # no whole-base export in a preview
    convert_stats = convert_rules(converted, targets + deploy, settings.jobs, progress.advance, cache)
    exports_made = start_exports(kb.rules, deploy, cache, settings.jobs)  # finalised in workers while pages are rendered
    at_end.callback(exports_made)  # waited for even when the build stops before
    timings["convert"] = progress.close()
    gc.freeze()
    for rule in kb.rules:
        for conversion in rule.conversions.values():
            if conversion.status != "ok":
                kb.problems.append(
                    Problem(
                        str(rule.path), f"conversion-{conversion.status}", f"{conversion.target}: {conversion.error}", severity="warning"
                    )
                )
            for warning in conversion.warnings:  # a backend's warnings go to the problem report, not to the terminal
                kb.problems.append(Problem(str(rule.path), "conversion-warning", f"{conversion.target}: {warning}", severity="warning"))
    _check_queries(kb, converted, targets, settings, timings)

    history = None
    if settings.history.enabled and only_changed is None:  # a preview shows the change itself
        from atc.history.stage import read_history

        started = time.perf_counter()
        try:
            history = read_history(kb, settings, targets)
        except GitError as exc:
            kb.problems.append(Problem(str(settings.base_dir), "history", f"the rule history is left out: {exc}", severity="warning"))
        timings["history"] = time.perf_counter() - started
        if history is not None:
            stats = history.convert_stats
            _log(
                stream,
                quiet,
                f"history: {len(history.dates)} rules with commits, {len(history.periods)} {history.grouping} periods; old revisions: "
                f"{stats.converted} conversions done, {stats.cached} cached; in {timings['history']:.2f} s",
            )
            for note in history.limits:
                _log(stream, quiet, f"history: {note}")

    started = time.perf_counter()
    links = edit_urls(kb.rules, settings.repo_url, [settings.base_dir, *settings.rules])
    templates = template_dirs(settings)
    site_name, site_url = _site_meta(settings)
    ctx = RenderContext.of(
        kb,
        targets,
        templates,
        settings.cache_dir / COMPILED,
        site_name=site_name,
        site_url=site_url,
        exports_made=exports_made,
        edit_urls=links,
        history=history,
        jobs=settings.jobs,
    )
    if only_changed is None:  # a preview's partial pages are not worth remembering
        ctx.memo = PageMemo(kb, targets, ctx.summaries, templates, settings.cache_dir)
    pages = render_pages(ctx) | site_assets()
    made = ctx.memo.made if ctx.memo else len(pages)
    remembering = in_thread(ctx.memo.close) if ctx.memo else None  # stored while the pages are written
    if only_changed is not None:
        from atc.render.preview import preview_pages

        pages = preview_pages(pages, kb, converted)
    timings["render"] = time.perf_counter() - started
    _log(stream, quiet, f"render: {len(pages)} pages in {timings['render']:.2f} s ({made} made, the rest remembered from the last build)")
    exports = ctx.exports
    kb.problems.extend(
        Problem(
            f"exports/{e.target}", "export", f"{e.target}: the backend could not write the {e.format} file: {e.error}", severity="warning"
        )
        for e in exports
        if e.error
    )

    site = None
    with publishing(settings.docs_dir, settings.site_dir if settings.build_site else None) as staging:  # swapped in on success only
        started = time.perf_counter()
        try:
            written = write_pages(pages, settings.docs_dir, staging.docs)
        finally:
            if remembering:
                remembering.result()
        timings["write"] = time.perf_counter() - started
        kb.problems.extend(Problem(str(settings.docs_dir / relative), "docs", why) for relative, why in written.refused)
        kb.problems.extend(
            Problem(
                str(settings.docs_dir / relative),
                "docs",
                "a hand-written file has the name of a generated page; kept, the page is not written (rename the file)",
            )
            for relative in written.clashes
        )
        _log(
            stream,
            quiet,
            f"write: {written.written} pages written, {written.unchanged} unchanged, {written.removed} removed in {settings.docs_dir}",
        )

        if staging.site is not None:
            started = time.perf_counter()
            site = build_site(
                mkdocs_config(settings),
                staging.docs,
                staging.site,
                offline=settings.offline,
                strict=settings.strict,
                jobs=settings.jobs,
                previous_site=settings.site_dir,
                page_store=settings.cache_dir / SITE_PAGES,
                stream=stream,
            )
            timings["site"] = time.perf_counter() - started
            _log(stream, quiet, f"site: built {settings.site_dir} in {timings['site']:.2f} s")
        carry_refused(written, settings.docs_dir, staging.docs)
    return BuildResult(kb, targets, pages, written, timings, convert_stats, made, history, exports, site)


def _log(stream: TextIO, quiet: bool, message: str) -> None:
    if not quiet:
        print(message, file=stream, flush=True)


def print_problems(problems: list[Problem], stream: TextIO, verbose: bool = False, per_kind: int = 20) -> str:
    """Print the problems (a bounded number per kind, conversions as a per-target digest unless verbose); return the counts as text."""
    by_kind: dict[str, list[Problem]] = {}
    for problem in sorted(problems):
        by_kind.setdefault(problem.kind, []).append(problem)
    for kind, items in sorted(by_kind.items()):
        if kind.startswith("conversion-") and not verbose:
            _print_conversion_digest(kind, items, stream)
            continue
        shown = items if verbose else items[:per_kind]
        for problem in shown:
            print(problem, file=stream)
        if len(items) > len(shown):
            print(f"... and {len(items) - len(shown)} more [{kind}] problems (use --verbose to list all)", file=stream)
    return ", ".join(f"{kind}: {len(items)}" for kind, items in sorted(by_kind.items())) or "none"


def _print_conversion_digest(kind: str, items: list[Problem], stream: TextIO) -> None:
    """Conversion problems by target with the commonest reason: one line per target instead of one per rule."""
    by_target: dict[str, Counter[str]] = {}
    for problem in items:
        target, _, reason = problem.message.partition(": ")
        by_target.setdefault(target, Counter())[reason[:110]] += 1
    print(f"[{kind}] {len(items)} rule conversions, by target (--verbose names every file):", file=stream)
    for target, reasons in sorted(by_target.items()):
        reason, count = reasons.most_common(1)[0]
        print(f"  {target:<14} {sum(reasons.values()):>5}  commonest ({count}): {reason}", file=stream)


def summarise(result: BuildResult, stream: TextIO, verbose: bool = False) -> None:
    """Print the problems and the closing counts."""
    counts = print_problems(result.problems, stream, verbose)
    conversions = Counter(c.status for rule in result.kb.rules for c in rule.conversions.values())
    stages = ", ".join(f"{stage} {seconds:.2f} s" for stage, seconds in result.timings.items())
    print(
        f"summary: {len(result.kb.rules)} rules, {len(result.pages)} pages, {result.written.written if result.written else 0} written; "
        f"conversions {result.convert_stats.converted} done, {result.convert_stats.cached} cached ({result.convert_stats.for_exports} more for exports); ok {conversions['ok']}, "
        f"failed {conversions['failed']}, timed out {conversions['timeout']}; problems: {counts}; {stages}",
        file=stream,
    )
