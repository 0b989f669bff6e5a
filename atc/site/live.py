"""A build session that lives between edits (`atc serve`): the docs made again by the warm pipeline, then only the site
pages whose Markdown changed built again in the site kept in memory; the whole (incremental) build when more changed."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TextIO

from atc.engine import BuildResult, run_build
from atc.settings import Settings
from atc.site.mkdocs_adapter import LiveSite, SiteBuildError

FIRST_PAGES = 1.0  # seconds of page building before the browsers reload; the larger pages left follow in the next round


@dataclass
class LiveBuild:
    """Builds for `atc serve`: the first one whole, each later one proportional to the change."""

    load_settings: Callable[[], Settings]
    stream: TextIO
    budget: float | None = FIRST_PAGES  # None: every changed page in one round
    site: LiveSite | None = None
    updated: list[str] | None = None  # the pages the last round built again alone (their src_uri); None after a whole build
    inputs_changed: bool = True  # an input changed since the last round began (set by the watcher)

    @property
    def pending(self) -> bool:
        """Whether pages whose Markdown changed wait for the next round."""
        return self.site is not None and bool(self.site.pending)

    def build(self) -> BuildResult | None:
        """One round: the docs and the site again, building only the HTML pages whose Markdown changed when that is
        enough; or, when no input changed since pages were left waiting, those pages (None: no pipeline ran)."""
        if self.site is not None and self.site.pending and not self.inputs_changed:
            self.updated = self._update()
            if self.updated is not None:
                return None
        self.inputs_changed = False
        settings = self.load_settings()
        if self.site is not None and self.site.matches(settings.docs_dir, settings.site_dir):
            result = run_build(replace(settings, build_site=False), self.stream)
            started = time.perf_counter()
            self.updated = self._update()
            if self.updated is not None:
                result.timings["site"] = time.perf_counter() - started
                return result
        self.site, self.updated = None, None  # a failed whole build leaves no site to update
        result = run_build(settings, self.stream)
        self.site = LiveSite(result.site, settings.docs_dir, settings.site_dir) if result.site is not None else None
        return result

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
