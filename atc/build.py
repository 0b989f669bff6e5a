"""The build pipeline: load → link → convert → render → site, with a summary of what happened."""
from __future__ import annotations

import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from atc.config import REPO_ROOT, Settings
from atc.convert.runner import convert_rules
from atc.convert.targets import Target, select_targets
from atc.link import link
from atc.load.attack import load_snapshot
from atc.load.data_needed import load_data_needed
from atc.load.logging_policies import load_logging_policies
from atc.load.rules import load_rules
from atc.load.triggers import load_triggers
from atc.model import KnowledgeBase, Problem
from atc.progress import Progress
from atc.render.pages import PageRenderer
from atc.site.docs_writer import WriteReport, write_pages
from atc.site.mkdocs_build import build_site


@dataclass
class BuildResult:
    kb: KnowledgeBase
    targets: list[Target]
    pages: dict[str, str]
    written: WriteReport | None = None
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def problems(self) -> list[Problem]:
        return self.kb.problems


def load_knowledge_base(settings: Settings) -> KnowledgeBase:
    """Stage 1: read every input; bad files become problems."""
    problems: list[Problem] = []
    rules = load_rules(settings.rules, problems)
    policies = load_logging_policies(list(settings.logging_policies), problems)
    data_needed = load_data_needed(list(settings.data_needed), problems, policies)
    triggers = load_triggers(list(settings.triggers), problems)
    attack = load_snapshot(settings.attack_snapshot)
    return KnowledgeBase(rules, data_needed, policies, triggers, attack, problems)


def _site_name(settings: Settings) -> str:
    import yaml

    try:
        data = yaml.safe_load(mkdocs_config(settings).read_text(encoding="utf-8"))
        return str(data.get("site_name", "Detection knowledge base"))
    except (OSError, yaml.YAMLError, AttributeError):
        return "Detection knowledge base"


def mkdocs_config(settings: Settings) -> Path:
    """The mkdocs configuration: the one configured, else the repository's default."""
    return settings.mkdocs_config if settings.mkdocs_config.is_file() else REPO_ROOT / "mkdocs.yml"


def run_build(settings: Settings, stream: TextIO = sys.stderr, quiet: bool = False) -> BuildResult:
    """Run the whole pipeline and return what it produced."""
    targets = select_targets(settings.targets)
    timings: dict[str, float] = {}

    started = time.perf_counter()
    kb = load_knowledge_base(settings)
    timings["load"] = time.perf_counter() - started
    _log(stream, quiet, f"load: {len(kb.rules)} rules, {len(kb.data_needed)} Data Needed, {len(kb.logging_policies)} logging policies, {len(kb.triggers)} triggers in {timings['load']:.2f} s")

    started = time.perf_counter()
    link(kb)
    timings["link"] = time.perf_counter() - started

    progress = Progress("convert", len(kb.rules), stream, quiet)
    convert_rules(kb.rules, targets, settings.jobs, progress.advance)
    timings["convert"] = progress.close()
    for rule in kb.rules:
        for conversion in rule.conversions.values():
            if conversion.status != "ok":
                kb.problems.append(Problem(str(rule.path), f"conversion-{conversion.status}", f"{conversion.target}: {conversion.error}", severity="warning"))

    started = time.perf_counter()
    pages = PageRenderer(kb, targets, settings.templates_dir).pages(_site_name(settings))
    timings["render"] = time.perf_counter() - started

    started = time.perf_counter()
    written = write_pages(pages, settings.docs_dir)
    timings["write"] = time.perf_counter() - started
    _log(stream, quiet, f"write: {written.written} pages written, {written.unchanged} unchanged, {written.removed} removed in {settings.docs_dir}")

    if settings.build_site:
        started = time.perf_counter()
        build_site(mkdocs_config(settings), settings.docs_dir, settings.site_dir)
        timings["site"] = time.perf_counter() - started
        _log(stream, quiet, f"site: built {settings.site_dir} in {timings['site']:.2f} s")
    return BuildResult(kb, targets, pages, written, timings)


def _log(stream: TextIO, quiet: bool, message: str) -> None:
    if not quiet:
        print(message, file=stream, flush=True)


def summarise(result: BuildResult, stream: TextIO, per_kind: int = 20) -> None:
    """Print the problems (a bounded number per kind) and the closing counts."""
    by_kind: dict[str, list[Problem]] = {}
    for problem in sorted(result.problems):
        by_kind.setdefault(problem.kind, []).append(problem)
    for kind, problems in sorted(by_kind.items()):
        for problem in problems[:per_kind]:
            print(problem, file=stream)
        if len(problems) > per_kind:
            print(f"... and {len(problems) - per_kind} more [{kind}] problems (use --verbose to list all)", file=stream)
    conversions = Counter(c.status for rule in result.kb.rules for c in rule.conversions.values())
    counts = ", ".join(f"{kind}: {len(items)}" for kind, items in sorted(by_kind.items())) or "none"
    stages = ", ".join(f"{stage} {seconds:.2f} s" for stage, seconds in result.timings.items())
    print(
        f"summary: {len(result.kb.rules)} rules, {len(result.pages)} pages; conversions ok {conversions['ok']}, "
        f"failed {conversions['failed']}, timed out {conversions['timeout']}; problems: {counts}; {stages}",
        file=stream,
    )
