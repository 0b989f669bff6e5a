"""A build session that lives between edits (`atc serve`): the docs made again by the warm pipeline, then only the site
pages whose Markdown changed built again in the site kept in memory; the whole (incremental) build when more changed."""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from atc.engine import BuildResult, mkdocs_config, run_build, run_rule_pages
from atc.load.rules import RULE_SUFFIXES
from atc.model import KnowledgeBase
from atc.settings import Settings
from atc.site.mkdocs_adapter import LiveSite, SiteBuildError

if TYPE_CHECKING:
    from atc.history.model import KbHistory

FIRST_PAGES = 1.0  # seconds of page building before the browsers reload; the larger pages left follow in the next round


@dataclass
class LiveBuild:
    """Builds for `atc serve`: the first one whole, each later one proportional to the change."""

    load_settings: Callable[[], Settings]
    stream: TextIO
    budget: float | None = FIRST_PAGES  # None: every changed page in one round
    site: LiveSite | None = None
    updated: list[str] | None = None  # the pages the last round built again alone (their src_uri); None after a whole build
    edited: set[Path] = field(default_factory=set)  # the input files the watcher saw change since the last round began
    kb: KnowledgeBase | None = None  # the last whole pipeline's knowledge base and history: they serve an edit's first pages
    history: KbHistory | None = None
    follow: bool = False  # the edited rules' pages were shown first: the whole pipeline runs in the next round

    @property
    def pending(self) -> bool:
        """Whether another round is due: the whole pipeline after an edited rule's page was shown, or larger pages."""
        return self.follow or (self.site is not None and bool(self.site.pending))

    def changed(self, paths: list[str]) -> None:
        """The watcher saw these input files change (the next round takes them)."""
        self.edited.update(Path(path) for path in paths)

    def build(self) -> BuildResult | None:
        """One round: the docs and the site again, building only the HTML pages whose Markdown changed when that is
        enough; or, when no input changed since pages were left waiting, those pages (None: no pipeline ran).

        When only rule files were edited, the round first makes and shows their pages alone (`run_rule_pages`) and the
        whole pipeline follows in the next round. What the round leaves (the site in memory, the knowledge base) is
        frozen out of the garbage collector's scans: the next round's collections look at its own objects only."""
        try:
            return self._round()
        finally:
            gc.freeze()

    def _round(self) -> BuildResult | None:
        if self.site is not None and self.site.pending and not self.edited and not self.follow:
            self.updated = self._update()
            if self.updated is not None:
                return None
        edited, self.edited = self.edited, set()
        settings = self.load_settings()
        config = mkdocs_config(settings)  # a team's mkdocs.yml created or deleted: a whole build
        if self.site is not None and self.site.matches(settings.docs_dir, settings.site_dir, config):
            rules = _edited_rules(edited, settings) if edited and not self.follow else []
            if rules and self._show_first(settings, rules):
                return None
            self.follow = False
            self.kb = self.history = None  # not kept alive while the next is made
            result = run_build(replace(settings, build_site=False), self.stream)
            self.kb, self.history = result.kb, result.history
            started = time.perf_counter()
            self.updated = self._update()
            if self.updated is not None:
                result.timings["site"] = time.perf_counter() - started
                return result
        self.site, self.updated, self.follow = None, None, False  # a failed whole build leaves no site to update
        self.kb = self.history = None
        result = run_build(settings, self.stream)
        self.kb, self.history = result.kb, result.history
        self.site = LiveSite(result.site, settings.docs_dir, settings.site_dir) if result.site is not None else None
        return result

    def _show_first(self, settings: Settings, rules: list[Path]) -> bool:
        """Make and build the edited rules' pages alone; whether they were (else the whole pipeline runs now)."""
        started = time.perf_counter()
        pages = run_rule_pages(settings, rules, self.kb, self.history)
        if not pages:
            return False
        made = time.perf_counter() - started
        self.updated = self._update()
        if self.updated is None:
            return False
        self.follow = True
        print(f"serve: the edited rules' {len(pages)} pages made in {made:.2f} s; the whole pipeline follows", file=self.stream, flush=True)
        return True

    def _update(self) -> list[str] | None:
        """Build the changed pages that fit the budget; None when a whole build is needed."""
        assert self.site is not None
        started = time.perf_counter()
        try:
            pages = self.site.update(self.budget)
        except SiteBuildError:  # a page half built: the next round builds the whole site
            self.site = None
            raise
        if pages is not None:
            waiting = f"; {len(self.site.pending)} larger pages follow" if self.site.pending else ""
            print(f"site: {len(pages)} pages built again in {time.perf_counter() - started:.2f} s{waiting}", file=self.stream, flush=True)
        return pages


def _edited_rules(paths: set[Path], settings: Settings) -> list[Path]:
    """The rule files edited, when nothing else changed: every path lies in a rule folder, and each rule file still
    exists (not deleted or moved away); other names there are an editor's temporary files. Empty: something else changed."""
    folders = [folder.resolve() for folder in settings.rules]
    if not all(any(path.resolve().is_relative_to(folder) for folder in folders) for path in paths):
        return []
    rules = sorted(path for path in paths if path.suffix in RULE_SUFFIXES)
    return rules if all(path.is_file() for path in rules) else []
