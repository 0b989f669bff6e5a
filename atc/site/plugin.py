"""The `atc` mkdocs plugin: pages converted and indexed for search in forked workers, remembered between builds, theme whitespace trimmed.

mkdocs and mkdocs-material are used through their plugin API here; what goes beyond it is in atc/site/mkdocs_adapter.py,
used only with the versions atc is tested with (otherwise the plugin keeps to the plugin API: no workers, no memory).
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

import jinja2
from mkdocs.config import base, config_options
from mkdocs.config.defaults import MkDocsConfig
from mkdocs.plugins import BasePlugin, CombinedEvent, event_priority
from mkdocs.structure.files import Files
from mkdocs.structure.nav import Navigation
from mkdocs.structure.pages import Page

from atc.site import mkdocs_adapter as adapter
from atc.site.docs_writer import generated_pages
from atc.site.mkdocs_adapter import BuiltSite, Capture, Converted, SearchEntries
from atc.site.page_html import (
    EXCLUDED_SECTIONS,
    mark_excluded_sections,
    mark_url_links,
    resolve_raw_links,
    search_table_text,
    trim_theme_whitespace,
    unmark_excluded_sections,
)
from atc.site.page_markdown import SNIPPETS, escape_snippet_notation
from atc.site.page_store import PageStore, Remembered, carry_over, link_targets, page_key, site_fingerprint

REMEMBERED_TEMPLATE = "atc-remembered.html"  # renders nothing: mkdocs writes no file, the plugin links the earlier build's
CHUNK = 16  # pages a worker converts per task: small enough to balance the cores, large enough to batch the pipe


class AtcPluginConfig(base.Config):
    """The plugin's options."""

    jobs = config_options.Type(int, default=0)  # worker processes; 0: one per CPU; 1: render in the main process
    page_store = config_options.Type(str, default="")  # file remembering the pages built; "" : every page is built
    previous_site = config_options.Type(str, default="")  # the earlier build's site, whose unchanged pages are linked in
    site_options = config_options.Type(str, default="")  # settings given besides the configuration file (they shape every page)
    search_exclude_sections = config_options.ListOfItems(config_options.Type(str), default=list(EXCLUDED_SECTIONS))  # heading ids


class AtcPlugin(BasePlugin[AtcPluginConfig]):
    """Renders the pages' Markdown in forked workers and installs the results at mkdocs's own page events."""

    def __init__(self) -> None:
        self._guarded = False  # mkdocs and mkdocs-material are versions we test: the adapter's helpers may be used
        self._pool: ProcessPoolExecutor | None = None
        self._results: Iterator[list[tuple[str, Converted | None]]] = iter(())
        self._ready: dict[str, Converted | None] = {}
        self._search: SearchEntries | None = None
        self._installing: tuple[Converted, str] | None = None
        self._nav: Navigation | None = None
        self._files: Files | None = None
        self._excluded: frozenset[str] = frozenset(EXCLUDED_SECTIONS)
        self._store: PageStore | None = None
        self._keys: dict[str, bytes] = {}  # the pages the store may remember -> their keys
        self._hits: dict[str, Remembered] = {}  # pages an earlier build wrote as this one would
        self._made: dict[str, Remembered] = {}  # pages built now (size and time filled in once written)
        self._capture: Capture | None = None  # the records of a page rendered in this process
        self._shown: str | None = None  # mkdocs's own build: a page's HTML while the search plugin reads its search text
        self._dest_uris: dict[str, str] = {}  # the pages the store may remember -> their HTML file under the site folder
        self.built: BuiltSite | None = None  # mkdocs's state once the pages are rendered, for live updates
        self._generated: frozenset[str] = frozenset()  # atc's own pages, whose rule text snippets notation must not act on

    @event_priority(-100)  # after the search plugin made its index
    def on_config(self, config: MkDocsConfig) -> MkDocsConfig:
        """Find the search plugin and let its index take the workers' entries (with the versions we test)."""
        self._guarded = adapter.untested() is None
        self._excluded = frozenset(self.config.search_exclude_sections)
        self._generated = frozenset(generated_pages(Path(config.docs_dir))) if SNIPPETS in config.markdown_extensions else frozenset()
        search = adapter.search_plugin(config) if self._guarded else None
        self._search = SearchEntries.take_over(search, self._excluded) if search is not None else None
        return config

    @event_priority(-100)  # the navigation is final: the workers' pages get the same titles as the main process's
    def on_nav(self, nav: Navigation, config: MkDocsConfig, files: Files) -> Navigation:
        """Fork the workers and hand them the documentation pages in build order, a chunk at a time."""
        self._nav, self._files = nav, files
        if not self._guarded:
            return nav
        self._remembered_pages(nav, config, files)
        jobs = self.config.jobs or (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)
        uris = [file.src_uri for file in files.documentation_pages() if file.src_uri not in self._hits]
        chunks = [uris[start : start + CHUNK] for start in range(0, len(uris), CHUNK)]
        if jobs > 1 and len(chunks) > 1:
            started = adapter.render_in_workers(config, files, self._search, self._excluded, chunks, min(jobs, len(chunks)))
            if started is not None:
                self._pool, self._results = started
        return nav

    def _remembered_pages(self, nav: Navigation, config: MkDocsConfig, files: Files) -> None:
        """Find the pages that an earlier build wrote from the same Markdown and site."""
        if not self.config.page_store or not self.config.previous_site:
            return
        self._store = PageStore(Path(self.config.page_store))
        previous = Path(self.config.previous_site)
        # the navigation every page shows: its titles come from mkdocs.yml, or else from the page (its source stands in)
        titles = [
            (page.file.src_uri, adapter.configured_title(page) or hashlib.sha256(page.file.content_bytes).hexdigest()) for page in nav.pages
        ]
        config_file = Path(config.config_file_path) if config.config_file_path else None
        options = {"options": self.config.site_options, "navigation": titles}
        fingerprint = site_fingerprint(config_file, options, list(config.theme.dirs))
        urls = {file.src_uri: file.url for file in files}
        for file in files.documentation_pages():
            source = file.content_bytes
            links = [(target, urls.get(target)) for target in link_targets(file.src_uri, source)]
            key = self._keys[file.src_uri] = page_key(fingerprint, file.src_uri, source, links)
            self._dest_uris[file.src_uri] = file.dest_uri
            found = self._store.usable(file.src_uri, key, previous / file.dest_uri)
            if found is not None:
                self._hits[file.src_uri] = found

    def _take(self, src_uri: str) -> Converted | None:
        """The worker's result for a page, waiting for it; None if no worker rendered it."""
        while src_uri not in self._ready:
            chunk = next(self._results, None)
            if chunk is None:
                return None
            self._ready.update(chunk)
        return self._ready.pop(src_uri)

    @event_priority(-100)  # the other plugins saw the Markdown, as they did in the worker
    def on_page_markdown(self, markdown: str, page: Page, config: MkDocsConfig, files: Files) -> str:
        """Replay the worker's (or the earlier build's) log records for a page and leave mkdocs nothing to convert."""
        remembered = self._hits.get(page.file.src_uri)
        if remembered is not None:
            for record in remembered.records:
                logging.getLogger(record.name).handle(record)
            page.meta["template"] = REMEMBERED_TEMPLATE
            adapter.stand_in_render(page)
            return ""
        converted = self._take(page.file.src_uri) if self._pool is not None else None
        if converted is None:
            if page.file.src_uri in self._keys:  # rendered here: keep its records for the store
                self._capture = Capture()
                logging.getLogger().addHandler(self._capture)
            return escape_snippet_notation(markdown) if page.file.src_uri in self._generated else markdown
        for record in converted.records:
            logging.getLogger(record.name).handle(record)
        self._installing = (converted, markdown)
        adapter.stand_in_render(page)
        return ""

    @event_priority(100)  # the other plugins see the worker's HTML
    def on_page_content(self, html: str, page: Page, config: MkDocsConfig, files: Files) -> str:
        """Install the worker's rendering of the page in place of mkdocs's empty one (or resolve the raw links of mkdocs's own)."""
        if not self._guarded:  # the search plugin finds the marks in the page (and takes them out of it)
            return mark_excluded_sections(resolve_raw_links(html, page, files), self._excluded)
        uri = page.file.src_uri
        adapter.drop_stand_in(page)
        remembered = self._hits.get(uri)
        if remembered is not None:
            page.toc = adapter.empty_toc()
            adapter.install(page, files, remembered.title, remembered.anchor_ids, remembered.links_to_anchors)
            if self._search is not None:
                self._search.done[uri] = Converted("", page.toc, remembered.title, None, None, remembered.search_entries, [])
            return ""
        if self._installing is None:
            records: list[logging.LogRecord] = []
            if self._capture is not None:
                logging.getLogger().removeHandler(self._capture)
                records, self._capture = self._capture.records, None
            content = resolve_raw_links(html, page, files)
            if uri in self._keys:
                self._made[uri] = Remembered(self._keys[uri], *adapter.rendering(page), None, records, 0, 0)
            return content
        converted, page.markdown = self._installing
        self._installing = None
        if uri in self._keys:
            self._made[uri] = Remembered(
                self._keys[uri], converted.title, converted.anchor_ids, converted.links_to_anchors, None, converted.records, 0, 0
            )
        page.toc = converted.toc
        adapter.install(page, files, converted.title, converted.anchor_ids, converted.links_to_anchors)
        if self._search is not None:
            self._search.done[uri] = converted
        return converted.content

    @event_priority(100)
    def _search_text(self, context: dict[str, Any], page: Page, config: MkDocsConfig, nav: Navigation) -> dict[str, Any]:
        """mkdocs's own build: the search plugin, next, indexes the page's tables as the guarded build does (search_table_text)."""
        if not self._guarded and page.content:
            self._shown, page.content = page.content, search_table_text(page.content)
        return context

    @event_priority(-100)
    def _shown_text(self, context: dict[str, Any], page: Page, config: MkDocsConfig, nav: Navigation) -> dict[str, Any]:
        """The page's own HTML back once the search plugin has read it."""
        if self._shown is not None:  # the search plugin took its marks out of the text it read: out of the page's own too
            page.content, self._shown = unmark_excluded_sections(self._shown), None
        return context

    on_page_context = CombinedEvent(_search_text, _shown_text)

    def on_env(self, env: jinja2.Environment, config: MkDocsConfig, files: Files) -> jinja2.Environment:
        """Every page is converted: let the workers go; render the theme's navigation once for the pages outside it."""
        self._close()
        if not self._guarded:
            return env
        if self._hits:  # a remembered page renders nothing: mkdocs writes no file for it
            env.loader = jinja2.ChoiceLoader([jinja2.DictLoader({REMEMBERED_TEMPLATE: ""}), env.loader])
        assert self._nav is not None
        adapter.cache_navigation(env, self._nav, config)
        self.built = BuiltSite(config, files, self._nav, env, self._search)
        return env

    def on_post_page(self, output: str, page: Page, config: MkDocsConfig) -> str:
        """Drop the theme's indentation and blank lines around the page content (one line break stays, HTML-wise the same); mark
        the links that show their own URL, whose URL a printed page need not repeat."""
        return mark_url_links(trim_theme_whitespace(output, page.content))

    def on_post_build(self, config: MkDocsConfig) -> None:
        """Link the remembered pages' files from the earlier build into this one and remember this build's pages."""
        if self._store is None:
            return
        site, previous = Path(config.site_dir), Path(self.config.previous_site)
        pages: dict[str, Remembered] = {}
        for uri, remembered in self._hits.items():
            dest = self._dest_uris[uri]
            stat = carry_over(previous / dest, site / dest)
            pages[uri] = replace(remembered, size=stat.st_size, mtime_ns=stat.st_mtime_ns, inode=stat.st_ino)
        for uri, made in self._made.items():
            try:
                stat = (site / self._dest_uris[uri]).stat()
            except OSError:  # mkdocs wrote nothing for it
                continue
            made.search_entries = self._search.of_page(uri) if self._search is not None else None
            made.size, made.mtime_ns, made.inode = stat.st_size, stat.st_mtime_ns, stat.st_ino
            pages[uri] = made
        self._store.save(pages)
        self._store, self._hits, self._made, self._keys = None, {}, {}, {}  # built: a page built again later is built here

    def on_build_error(self, error: Exception) -> None:
        """Drop the chunks no worker started and wait for the workers to exit."""
        self._close()
        self.built = None

    def _close(self) -> None:
        """Wait for the workers to exit and forget their results."""
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
        self._pool, self._results, self._installing = None, iter(()), None
        self._ready.clear()
