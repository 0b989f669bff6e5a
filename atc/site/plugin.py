"""The `atc` mkdocs plugin: pages converted and indexed for search in forked workers, theme navigation and whitespace trimmed."""

from __future__ import annotations

import functools
import hashlib
import logging
import multiprocessing
import os
import posixpath
import re
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import jinja2
from material.plugins.search.plugin import SearchIndex, SearchPlugin
from mkdocs.config import base, config_options
from mkdocs.config.defaults import MkDocsConfig
from mkdocs.plugins import BasePlugin, event_priority
from mkdocs.structure.files import Files
from mkdocs.structure.nav import Navigation
from mkdocs.structure.pages import Page
from mkdocs.structure.toc import TableOfContents

from atc.site.page_store import PageStore, Remembered, carry_over, link_targets, page_key, site_fingerprint

REMEMBERED_TEMPLATE = "atc-remembered.html"  # renders nothing: mkdocs writes no file, the plugin links the earlier build's
CHUNK = 16  # pages a worker converts per task: small enough to balance the cores, large enough to batch the pipe
_LINE_INDENT = re.compile(r"\n[\t\n\r ]+")  # a line break and the blank lines and indentation after it
_HEADING = re.compile(r"<h([1-6])((?:\s[^>]*)?)>")
_ID = re.compile(r"""\sid=["']([^"']*)["']""")
EXCLUDED_SECTIONS = ("detection-rules", "related-rules", "history")  # a rule page's Sigma text, queries, neighbours and commits
_RAW_MD_HREF = re.compile(r'href="([^":?#<>]+\.md)(#[^"<>]*)?"')  # a link to a page left as written: raw HTML such as a chart's SVG


def resolve_raw_links(html: str, page: Page, files: Files) -> str:
    """The page's HTML with the links to pages that Markdown did not convert (in raw HTML blocks) turned into page URLs, as mkdocs turns its own."""
    if 'href="' not in html or ".md" not in html:
        return html

    def url(match: re.Match[str]) -> str:
        target = files.get_file_from_path(posixpath.normpath(posixpath.join(posixpath.dirname(page.file.src_uri), match.group(1))))
        if target is None:
            return match.group(0)
        return f'href="{target.url_relative_to(page.file)}{match.group(2) or ""}"'

    return _RAW_MD_HREF.sub(url, html)


def mark_excluded_sections(html: str, excluded: frozenset[str]) -> str:
    """The page's HTML with the headings of the excluded sections (by heading id) and of their subsections marked for the search plugin to skip."""
    if not excluded:
        return html
    parts: list[str] = []
    position, inside = 0, 0  # inside: the level of the excluded section being walked, 0 outside one
    for match in _HEADING.finditer(html):
        level, attrs = int(match.group(1)), match.group(2)
        heading_id = _ID.search(attrs)
        if inside and level <= inside:
            inside = 0
        if not inside and heading_id is not None and heading_id.group(1) in excluded:
            inside = level
        if inside:
            parts += [html[position : match.start()], f"<h{level} data-search-exclude{attrs}>"]
            position = match.end()
    return "".join(parts) + html[position:]


class _SectionExcludingIndex(SearchIndex):
    """The search plugin's index, leaving out the configured sections of every page (the Markdown carries no marks)."""

    def __init__(self, excluded: frozenset[str], **config: Any) -> None:
        super().__init__(**config)
        self.excluded = excluded

    def add_entry_from_context(self, page: Page) -> None:
        """Index the page as the search plugin does, without the excluded sections."""
        content = page.content
        page.content = mark_excluded_sections(content or "", self.excluded)
        try:
            super().add_entry_from_context(page)
        finally:
            page.content = content


@dataclass
class Converted:
    """A page as a worker rendered it: what Page.render sets, its search entries and the log records of its rendering."""

    content: str
    toc: TableOfContents
    title: str | None
    anchor_ids: set[str] | None
    links_to_anchors: dict[str, dict[str, str]] | None  # keyed by the linked file's src_uri
    search_entries: list[dict[str, Any]] | None  # None: the search plugin is off
    records: list[logging.LogRecord]


class _Capture(logging.Handler):
    """Keeps the records logged in a worker, each once, made picklable."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        """Keep the record unless another logger's handler already kept it."""
        if self.records and self.records[-1] is record:
            return
        record.msg, record.args = record.getMessage(), None
        if record.exc_info:
            record.exc_text, record.exc_info = logging.Formatter().formatException(record.exc_info), None
        self.records.append(record)


_worker: tuple[MkDocsConfig, Files, SearchPlugin | None, frozenset[str], _Capture] | None = None  # set in each forked worker


def _start_worker(config: MkDocsConfig, files: Files, search: SearchPlugin | None, excluded: frozenset[str]) -> None:
    """Worker initializer: keep the build's state and send every log record to a capture."""
    global _worker
    capture = _Capture()
    root = logging.getLogger()
    for logger in [root, *logging.Logger.manager.loggerDict.values()]:
        if isinstance(logger, logging.Logger) and (logger.handlers or logger is root):
            logger.handlers = [capture]
    _worker = (config, files, search, excluded, capture)


def _convert(src_uris: list[str]) -> list[tuple[str, Converted | None]]:
    """Worker task: render the pages as mkdocs would; None for a page that failed (the main process renders it again)."""
    assert _worker is not None
    config, files, search, excluded, capture = _worker
    results: list[tuple[str, Converted | None]] = []
    for src_uri in src_uris:
        file = files.get_file_from_path(src_uri)
        assert file is not None
        page = file.page or Page(None, file, config)
        capture.records = []
        config._current_page = page
        try:
            page.read_source(config)
            page.markdown = config.plugins.on_page_markdown(page.markdown, page=page, config=config, files=files)
            page.render(config, files)
            page.content = resolve_raw_links(page.content or "", page, files)
            entries = None
            if search is not None:
                index = _SectionExcludingIndex(excluded, **search.config)
                index.add_entry_from_context(page)
                entries = index.entries
        except Exception:
            results.append((src_uri, None))
            continue
        finally:
            config._current_page = None
        links = None if page.links_to_anchors is None else {to.src_uri: anchors for to, anchors in page.links_to_anchors.items()}
        assert page.content is not None and page.toc is not None
        converted = Converted(page.content, page.toc, page._title_from_render, page.present_anchor_ids, links, entries, capture.records)
        results.append((src_uri, converted))
    return results


def _rendered_elsewhere(page: Page, config: MkDocsConfig, files: Files) -> None:
    """Stands in for Page.render on a page a worker or an earlier build rendered: no Markdown instance to set up for it."""
    page.content = ""


class _PrecomputedSearchIndex(_SectionExcludingIndex):
    """The search plugin's index, taking a worker's entries for a page whose content is still what the worker indexed."""

    def __init__(self, done: dict[str, Converted], excluded: frozenset[str], **config: Any) -> None:
        super().__init__(excluded, **config)
        self.done = done
        self.by_page: dict[str, list[dict[str, Any]]] = {}  # each page's entries, for the page store

    def add_entry_from_context(self, page: Page) -> None:
        """Add the worker's (or an earlier build's) entries for the page, or index the page here."""
        start = len(self.entries)
        converted = self.done.pop(page.file.src_uri, None)
        if converted is not None and converted.search_entries is not None and converted.content == page.content:
            self.entries.extend(converted.search_entries)
        else:
            super().add_entry_from_context(page)
        self.by_page[page.file.src_uri] = self.entries[start:]


class _NavCache:
    """Material's primary navigation for pages outside it: the same HTML wherever its links have the same relative URLs."""

    def __init__(self, template: jinja2.Template, env: jinja2.Environment, nav: Navigation, config: MkDocsConfig) -> None:
        self.render, self.url, self.nav = template.root_render_func, env.filters["url"], nav
        items, self.targets = (
            list(nav.items),
            [nav.homepage.url if nav.homepage else None, config.extra.get("homepage"), config.theme.get("logo")],
        )
        while items:  # the URLs the template passes through the url filter: every page and link of the navigation
            item = items.pop()
            items.extend(item.children or [])
            self.targets.append(getattr(item, "url", None))
        self.cache: dict[tuple[str, ...], str] = {}

    def __call__(self, context: jinja2.runtime.Context) -> Iterator[str]:
        """Render the navigation, or repeat it for a page outside it whose links come out the same."""
        if any(item.active for item in self.nav.items):  # the page is in the navigation, which marks it
            yield from self.render(context)
            return
        key = tuple(self.url(context, target) for target in self.targets if target is not None)
        if key not in self.cache:
            self.cache[key] = "".join(self.render(context))
        yield self.cache[key]


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
        self._pool: ProcessPoolExecutor | None = None
        self._results: Iterator[list[tuple[str, Converted | None]]] = iter(())
        self._ready: dict[str, Converted | None] = {}
        self._indexed: dict[str, Converted] = {}  # shared with the search index: installed pages not indexed yet
        self._search: SearchPlugin | None = None
        self._installing: tuple[Converted, str] | None = None
        self._nav: Navigation | None = None
        self._excluded: frozenset[str] = frozenset(EXCLUDED_SECTIONS)
        self._store: PageStore | None = None
        self._keys: dict[str, bytes] = {}  # the pages the store may remember -> their keys
        self._hits: dict[str, Remembered] = {}  # pages an earlier build wrote as this one would
        self._made: dict[str, Remembered] = {}  # pages built now (size and time filled in once written)
        self._capture: _Capture | None = None  # the records of a page rendered in this process
        self._dest_uris: dict[str, str] = {}  # the pages the store may remember -> their HTML file under the site folder

    @event_priority(-100)  # after the search plugin made its index
    def on_config(self, config: MkDocsConfig) -> MkDocsConfig:
        """Find the search plugin and let its index take the workers' entries."""
        self._excluded = frozenset(self.config.search_exclude_sections)
        search = next((plugin for plugin in config.plugins.values() if isinstance(plugin, SearchPlugin)), None)
        self._search = search if search is not None and search.config.enabled else None
        if self._search is not None:
            self._search.search_index = _PrecomputedSearchIndex(self._indexed, self._excluded, **self._search.config)
        return config

    @event_priority(-100)  # the navigation is final: the workers' pages get the same titles as the main process's
    def on_nav(self, nav: Navigation, config: MkDocsConfig, files: Files) -> Navigation:
        """Fork the workers and hand them the documentation pages in build order, a chunk at a time."""
        self._nav = nav
        self._remembered_pages(nav, config, files)
        jobs = self.config.jobs or (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)
        uris = [file.src_uri for file in files.documentation_pages() if file.src_uri not in self._hits]
        chunks = [uris[start : start + CHUNK] for start in range(0, len(uris), CHUNK)]
        if jobs > 1 and len(chunks) > 1 and "fork" in multiprocessing.get_all_start_methods():
            fork = multiprocessing.get_context("fork")  # the workers inherit config, files and navigation: nothing is pickled
            self._pool = ProcessPoolExecutor(min(jobs, len(chunks)), fork, _start_worker, (config, files, self._search, self._excluded))
            self._results = self._pool.map(_convert, chunks)
        return nav

    def _remembered_pages(self, nav: Navigation, config: MkDocsConfig, files: Files) -> None:
        """Find the pages that an earlier build wrote from the same Markdown and site."""
        if not self.config.page_store or not self.config.previous_site:
            return
        self._store = PageStore(Path(self.config.page_store))
        previous = Path(self.config.previous_site)
        # the navigation every page shows: its titles come from mkdocs.yml, or else from the page (its source stands in)
        titles = [
            (page.file.src_uri, vars(page)["title"] if "title" in vars(page) else hashlib.sha256(page.file.content_bytes).hexdigest())
            for page in nav.pages
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
            page.render = functools.partial(_rendered_elsewhere, page)  # type: ignore[method-assign]
            return ""
        converted = self._take(page.file.src_uri) if self._pool is not None else None
        if converted is None:
            if page.file.src_uri in self._keys:  # rendered here: keep its records for the store
                self._capture = _Capture()
                logging.getLogger().addHandler(self._capture)
            return markdown
        for record in converted.records:
            logging.getLogger(record.name).handle(record)
        self._installing = (converted, markdown)
        page.render = functools.partial(_rendered_elsewhere, page)  # type: ignore[method-assign]
        return ""

    @event_priority(100)  # the other plugins see the worker's HTML
    def on_page_content(self, html: str, page: Page, config: MkDocsConfig, files: Files) -> str:
        """Install the worker's rendering of the page in place of mkdocs's empty one (or resolve the raw links of mkdocs's own)."""
        uri = page.file.src_uri
        if "render" in vars(page):  # the stand-in: Page.render again from now on
            del page.render
        remembered = self._hits.get(uri)
        if remembered is not None:
            page.toc = TableOfContents([])
            self._install(page, files, remembered.title, remembered.anchor_ids, remembered.links_to_anchors)
            if self._search is not None:
                self._indexed[uri] = Converted("", page.toc, remembered.title, None, None, remembered.search_entries, [])
            return ""
        if self._installing is None:
            records: list[logging.LogRecord] = []
            if self._capture is not None:
                logging.getLogger().removeHandler(self._capture)
                records, self._capture = self._capture.records, None
            content = resolve_raw_links(html, page, files)
            if uri in self._keys:
                links = None if page.links_to_anchors is None else {to.src_uri: anchors for to, anchors in page.links_to_anchors.items()}
                self._made[uri] = Remembered(self._keys[uri], page._title_from_render, page.present_anchor_ids, links, None, records, 0, 0)
            return content
        converted, page.markdown = self._installing
        self._installing = None
        if uri in self._keys:
            self._made[uri] = Remembered(
                self._keys[uri], converted.title, converted.anchor_ids, converted.links_to_anchors, None, converted.records, 0, 0
            )
        page.toc = converted.toc
        self._install(page, files, converted.title, converted.anchor_ids, converted.links_to_anchors)
        if self._search is not None:
            self._indexed[page.file.src_uri] = converted
        return converted.content

    @staticmethod
    def _install(page: Page, files: Files, title: str | None, anchor_ids: set[str] | None, links: dict[str, dict[str, str]] | None) -> None:
        """Give a page the title, anchors and links a rendering found (as Page.render sets them)."""
        page._title_from_render, page.present_anchor_ids = title, anchor_ids
        if links is not None:
            page.links_to_anchors = {files.get_file_from_path(uri): anchors for uri, anchors in links.items()}

    def on_env(self, env: jinja2.Environment, config: MkDocsConfig, files: Files) -> jinja2.Environment:
        """Every page is converted: let the workers go; render the theme's navigation once for the pages outside it."""
        self._close()
        if self._hits:  # a remembered page renders nothing: mkdocs writes no file for it
            env.loader = jinja2.ChoiceLoader([jinja2.DictLoader({REMEMBERED_TEMPLATE: ""}), env.loader])
        try:
            template = env.get_template("partials/nav.html")
        except jinja2.TemplateNotFound:  # a theme other than mkdocs-material
            return env
        assert self._nav is not None
        template.root_render_func = _NavCache(template, env, self._nav, config)
        return env

    def on_post_page(self, output: str, page: Page, config: MkDocsConfig) -> str:
        """Drop the theme's indentation and blank lines around the page content (one line break stays, HTML-wise the same)."""
        if not page.content or output.count(page.content) != 1:  # no content to tell from the theme's HTML
            return output
        before, content, after = output.partition(page.content)
        return _LINE_INDENT.sub("\n", before) + content + _LINE_INDENT.sub("\n", after)

    def on_post_build(self, config: MkDocsConfig) -> None:
        """Link the remembered pages' files from the earlier build into this one and remember this build's pages."""
        if self._store is None:
            return
        site, previous = Path(config.site_dir), Path(self.config.previous_site)
        index = self._search.search_index if self._search is not None else None
        entries = index.by_page if isinstance(index, _PrecomputedSearchIndex) else {}
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
            made.search_entries = entries.get(uri) if self._search is not None else None
            made.size, made.mtime_ns, made.inode = stat.st_size, stat.st_mtime_ns, stat.st_ino
            pages[uri] = made
        self._store.save(pages)

    def on_build_error(self, error: Exception) -> None:
        """Drop the chunks no worker started and wait for the workers to exit."""
        self._close()

    def _close(self) -> None:
        """Wait for the workers to exit and forget their results."""
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
        self._pool, self._results, self._installing = None, iter(()), None
        self._ready.clear()
