"""The one module that uses mkdocs and mkdocs-material beyond their plugin API, and only with the versions we test.

Its interface: `build_site` (the whole site), `LiveSite.update` (these pages again, in a site kept in memory) and the
search-index entries (`SearchEntries`). The page-level helpers below serve the atc plugin (atc/site/plugin.py).
With an mkdocs or mkdocs-material outside `TESTED`, `build_site` says so in one line and runs the plain serial
`mkdocs build`: the plugin then keeps to the plugin API (its pages are the same, built without workers or memory).
"""

from __future__ import annotations

import functools
import logging
import multiprocessing
import os
import re
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, TextIO

import jinja2

FILE_WORKER_SHIM = "javascripts/iframe-worker.js"  # atc/site/static/: search from file:// without a CDN
# the versions the test suite runs (requirements.lock pins one inside each range): [lowest, first untested)
TESTED = {"mkdocs": ("1.6.1", "1.7"), "mkdocs-material": ("9.8.0", "9.9")}


class SiteBuildError(Exception):
    """mkdocs could not build the site; the message says why."""


def installed_version(package: str) -> str | None:
    """The installed version of a package, None when it is missing."""
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def _release(version: str) -> tuple[int, ...]:
    """The numeric release of a version string: "9.8.2" -> (9, 8, 2), "1.7.0rc1" -> (1, 7, 0)."""
    return tuple(int(re.match(r"\d*", part).group() or 0) for part in version.split(".")[:3])  # type: ignore[union-attr]


def untested() -> str | None:
    """Why the installed mkdocs or mkdocs-material is not one we test with; None when both are."""
    for package, (lowest, beyond) in TESTED.items():
        version = installed_version(package)
        if version is None or not _release(lowest) <= _release(version) < _release(beyond):
            return f"{package} {version or 'missing'} is outside the versions atc is tested with ({package} >={lowest},<{beyond})"
    return None


# ---- the search index: material's SearchIndex, leaving out sections and taking entries indexed elsewhere


def search_plugin(config: Any) -> Any | None:
    """mkdocs-material's search plugin when the configuration enables it."""
    from material.plugins.search.plugin import SearchPlugin

    search = next((plugin for plugin in config.plugins.values() if isinstance(plugin, SearchPlugin)), None)
    return search if search is not None and search.config.enabled else None


@functools.cache
def _index_class() -> type:
    """The search index class, made on first use (mkdocs-material is imported only for a site build)."""
    from material.plugins.search.plugin import SearchIndex

    from atc.site.page_html import mark_excluded_sections, search_table_text

    class SectionExcludingIndex(SearchIndex):  # type: ignore[misc]
        """The search plugin's index, leaving out the configured sections of every page (the Markdown carries no marks),
        and taking a worker's (or an earlier build's) entries for a page whose content is still what was indexed."""

        def __init__(self, excluded: frozenset[str], done: dict[str, Converted], **config: Any) -> None:
            super().__init__(**config)
            self.excluded, self.done = excluded, done
            self.by_page: dict[str, list[dict[str, Any]]] = {}  # each page's entries, for the page store and live updates

        def add_entry_from_context(self, page: Any) -> None:
            """Add the entries indexed elsewhere for the page, or index it here without the excluded sections."""
            start = len(self.entries)
            converted = self.done.pop(page.file.src_uri, None)
            if converted is not None and converted.search_entries is not None and converted.content == page.content:
                self.entries.extend(converted.search_entries)
            else:
                content = page.content
                page.content = search_table_text(mark_excluded_sections(content or "", self.excluded))
                try:
                    super().add_entry_from_context(page)
                finally:
                    page.content = content
            self.by_page[page.file.src_uri] = self.entries[start:]

    return SectionExcludingIndex


@dataclass
class SearchEntries:
    """The search plugin's index as atc uses it: the entries of each page, and the pages indexed elsewhere."""

    search: Any  # mkdocs-material's SearchPlugin
    done: dict[str, Converted] = field(default_factory=dict)  # installed pages not indexed yet: their entries come from here

    @classmethod
    def take_over(cls, search: Any, excluded: frozenset[str]) -> SearchEntries:
        """Replace the search plugin's index with one that leaves out the excluded sections."""
        entries = cls(search)
        search.search_index = _index_class()(excluded, entries.done, **search.config)
        return entries

    def of_page(self, src_uri: str) -> list[dict[str, Any]] | None:
        """The entries this build made for a page (None if it was not indexed)."""
        return self.search.search_index.by_page.get(src_uri)

    def index_page(self, page: Any, excluded: frozenset[str]) -> list[dict[str, Any]]:
        """Index one page on its own (in a worker), as the search plugin would."""
        index = _index_class()(excluded, {}, **self.search.config)
        index.add_entry_from_context(page)
        return list(index.entries)

    def reorder(self, src_uris: list[str]) -> None:
        """Put the index's entries in the pages' order, each page's latest entries once (after pages were indexed again)."""
        by_page = self.search.search_index.by_page
        self.search.search_index.entries = [entry for uri in src_uris for entry in by_page.get(uri, ())]


# ---- a page rendered elsewhere: in a worker, or remembered from an earlier build


@dataclass
class Converted:
    """A page as a worker rendered it: what Page.render sets, its search entries and the log records of its rendering."""

    content: str
    toc: Any  # mkdocs TableOfContents
    title: str | None
    anchor_ids: set[str] | None
    links_to_anchors: dict[str, dict[str, str]] | None  # keyed by the linked file's src_uri
    search_entries: list[dict[str, Any]] | None  # None: the search plugin is off
    records: list[logging.LogRecord]


class Capture(logging.Handler):
    """Keeps the records logged while a page renders, each once, made picklable."""

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


def rendering(page: Any) -> tuple[str | None, set[str] | None, dict[str, dict[str, str]] | None]:
    """What Page.render found besides the HTML: the title, the anchors, the links to anchors (by the linked file's src_uri)."""
    links = None if page.links_to_anchors is None else {to.src_uri: anchors for to, anchors in page.links_to_anchors.items()}
    return page._title_from_render, page.present_anchor_ids, links


def install(page: Any, files: Any, title: str | None, anchor_ids: set[str] | None, links: dict[str, dict[str, str]] | None) -> None:
    """Give a page the title, anchors and links a rendering found (as Page.render sets them)."""
    page._title_from_render, page.present_anchor_ids = title, anchor_ids
    if links is not None:
        page.links_to_anchors = {files.get_file_from_path(uri): anchors for uri, anchors in links.items()}


def _rendered_elsewhere(page: Any, config: Any, files: Any) -> None:
    """Stands in for Page.render on a page a worker or an earlier build rendered: no Markdown instance to set up for it."""
    page.content = ""


def stand_in_render(page: Any) -> None:
    """Let mkdocs's render of this page do nothing: its HTML comes from elsewhere."""
    page.render = functools.partial(_rendered_elsewhere, page)


def drop_stand_in(page: Any) -> None:
    """Page.render again from now on."""
    vars(page).pop("render", None)


def configured_title(page: Any) -> str | None:
    """The page's title as the navigation in mkdocs.yml gives it, None when the page names it."""
    return vars(page).get("title")


def empty_toc() -> Any:
    """A table of contents with nothing in it."""
    from mkdocs.structure.toc import TableOfContents

    return TableOfContents([])


_worker: tuple[Any, Any, SearchEntries | None, frozenset[str], Capture] | None = None  # set in each forked worker


def _start_worker(config: Any, files: Any, search: SearchEntries | None, excluded: frozenset[str]) -> None:
    """Worker initializer: keep the build's state and send every log record to a capture."""
    global _worker
    capture = Capture()
    root = logging.getLogger()
    for logger in [root, *logging.Logger.manager.loggerDict.values()]:
        if isinstance(logger, logging.Logger) and (logger.handlers or logger is root):
            logger.handlers = [capture]
    _worker = (config, files, search, excluded, capture)


def _convert(src_uris: list[str]) -> list[tuple[str, Converted | None]]:
    """Worker task: render the pages as mkdocs would; None for a page that failed (the main process renders it again)."""
    from mkdocs.structure.pages import Page

    from atc.site.page_html import resolve_raw_links

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
            entries = search.index_page(page, excluded) if search is not None else None
        except Exception:
            results.append((src_uri, None))
            continue
        finally:
            config._current_page = None
        assert page.content is not None and page.toc is not None
        results.append((src_uri, Converted(page.content, page.toc, *rendering(page), entries, capture.records)))
    return results


def render_in_workers(
    config: Any, files: Any, search: SearchEntries | None, excluded: frozenset[str], chunks: list[list[str]], jobs: int
) -> tuple[ProcessPoolExecutor, Iterator[list[tuple[str, Converted | None]]]] | None:
    """Fork workers that render the chunks of pages in order; None where forking is not available."""
    if "fork" not in multiprocessing.get_all_start_methods():
        return None
    fork = multiprocessing.get_context("fork")  # the workers inherit config, files and navigation: nothing is pickled
    pool = ProcessPoolExecutor(jobs, fork, _start_worker, (config, files, search, excluded))
    return pool, pool.map(_convert, chunks)


# ---- the theme's navigation, rendered once for the pages outside it


class _NavCache:
    """Material's primary navigation for pages outside it: the same HTML wherever its links have the same relative URLs."""

    def __init__(self, template: jinja2.Template, env: jinja2.Environment, nav: Any, config: Any) -> None:
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


def cache_navigation(env: jinja2.Environment, nav: Any, config: Any) -> None:
    """Render mkdocs-material's navigation once per distinct set of links for the pages outside it."""
    try:
        template = env.get_template("partials/nav.html")
    except jinja2.TemplateNotFound:  # a theme other than mkdocs-material
        return
    template.root_render_func = _NavCache(template, env, nav, config)  # type: ignore[method-assign]


# ---- whole builds and live updates


@dataclass
class BuiltSite:
    """mkdocs's state after a whole build, kept to build single pages again (LiveSite)."""

    config: Any  # MkDocsConfig
    files: Any  # Files
    nav: Any  # Navigation
    env: jinja2.Environment
    search: SearchEntries | None


def offline_overrides(config_file: Path) -> dict[str, object]:
    """Settings for a site opened from the file system: mkdocs-material's offline plugin, file links, no instant navigation."""
    from mkdocs.utils import yaml_load

    with config_file.open(encoding="utf-8") as handle:
        raw = yaml_load(handle) or {}
    plugins = raw.get("plugins", ["search"])
    items = [{name: options} for name, options in plugins.items()] if isinstance(plugins, dict) else list(plugins)
    names = {next(iter(item)) if isinstance(item, dict) else item for item in items}
    theme = dict(raw.get("theme") or {"name": "material"})
    # instant navigation fetches pages, which file:// forbids, and then never signals a loaded page to scripts
    theme["features"] = [name for name in theme.get("features", []) if not str(name).startswith("navigation.instant")]
    return {"plugins": items if "offline" in names else [*items, "offline"], "theme": theme, "use_directory_urls": False}


def build_site(
    config_file: Path,
    docs_dir: Path,
    site_dir: Path,
    offline: bool = False,
    strict: bool = False,
    jobs: int | None = None,
    previous_site: Path | None = None,
    page_store: Path | None = None,
    stream: TextIO | None = None,
) -> BuiltSite | None:
    """Run mkdocs with the given configuration, reading docs_dir and writing site_dir; `strict` fails on any warning.

    `jobs` sets the worker processes of the atc plugin (atc/site/plugin.py) when the configuration uses it. With
    `previous_site` (the last build's site) and `page_store` (what that build wrote), pages whose Markdown and site did
    not change are linked from the previous site instead of being built again: the site is the same as a full build's.
    Returns mkdocs's state for live updates (None outside the tested versions or without the atc plugin).
    """
    from mkdocs.commands.build import build
    from mkdocs.config import load_config
    from mkdocs.exceptions import MkDocsException

    logging.getLogger("mkdocs").setLevel(logging.WARNING)
    overrides = offline_overrides(config_file) if offline else {}
    if strict:
        overrides["strict"] = True
    why = untested()
    if why is not None:
        print(f"atc: {why}: building the whole site with mkdocs's own serial build", file=stream or sys.stderr, flush=True)
    try:
        config = load_config(config_file=str(config_file), docs_dir=str(docs_dir.resolve()), site_dir=str(site_dir.resolve()), **overrides)
        plugin = config.plugins.get("atc")  # ours (the entry point's name), with the options of AtcPluginConfig
        if plugin is not None and why is None:
            if jobs is not None:
                plugin.config.jobs = jobs
            if previous_site is not None and page_store is not None:
                plugin.config.previous_site, plugin.config.page_store = str(previous_site.resolve()), str(page_store.resolve())
                plugin.config.site_options = repr(
                    sorted((key, repr(value)) for key, value in overrides.items() if key != "strict")
                )  # strict: same pages
        if offline:  # our own file:// worker shim, so that the offline plugin adds no CDN script
            config.extra["polyfills"] = [*config.extra.get("polyfills", []), FILE_WORKER_SHIM]
        build(config)
    except MkDocsException as exc:
        raise SiteBuildError(f"{config_file}: mkdocs failed: {exc}") from exc
    except (RecursionError, ValueError, UnicodeError) as exc:  # raised by Markdown or the theme on a page: one line, no traceback
        raise SiteBuildError(f"{config_file}: mkdocs failed ({type(exc).__name__}): {' '.join(str(exc).split())[:300]}") from exc
    return getattr(plugin, "built", None) if plugin is not None and why is None else None


def _state(path: str) -> tuple[int, int, int]:
    """A file's identity and version: inode, size, modification time."""
    stat = os.stat(path)
    return stat.st_ino, stat.st_size, stat.st_mtime_ns


def _walk(folder: Path) -> dict[str, tuple[int, int, int]]:
    """Every file below folder (relative POSIX path) with its state."""
    found: dict[str, tuple[int, int, int]] = {}
    for root, _, names in os.walk(folder):
        base = os.path.relpath(root, folder)
        prefix = "" if base == "." else base.replace(os.sep, "/") + "/"
        for name in names:
            try:
                found[prefix + name] = _state(os.path.join(root, name))
            except OSError:  # gone meanwhile, or a dangling link
                continue
    return found


class LiveSite:
    """A built site kept in memory (mkdocs's configuration, files, navigation, theme and search index), whose pages are
    built again one by one when their Markdown changes. The build may have run in staging folders: the site is
    moved to the folders it was swapped into."""

    def __init__(self, built: BuiltSite, docs_dir: Path, site_dir: Path) -> None:
        self.built, self.docs_dir, self.site_dir = built, docs_dir.resolve(), site_dir.resolve()
        config = built.config
        staged = config.docs_dir  # the theme's files keep their own folder
        config.docs_dir, config.site_dir = str(self.docs_dir), str(self.site_dir)
        for file in built.files:
            if file.src_dir == staged:
                file.src_dir = str(self.docs_dir)
            file.dest_dir = str(self.site_dir)
            for cached in ("abs_src_path", "abs_dest_path"):
                vars(file).pop(cached, None)
        self.fingerprint = self._fingerprint()
        self.seen = _walk(self.docs_dir)
        self.pending: list[Any] = []  # pages whose Markdown changed, not built again yet (mkdocs File objects)

    def _fingerprint(self) -> bytes:
        """What every page depends on besides its Markdown: the configuration, the versions, a custom theme's files."""
        from atc.site.page_store import site_fingerprint

        config = self.built.config
        return site_fingerprint(Path(config.config_file_path) if config.config_file_path else None, {}, list(config.theme.dirs))

    def matches(self, docs_dir: Path, site_dir: Path, config_file: Path) -> bool:
        """Whether this is the site of these folders, built with this configuration file (atc's own, or the team's merged)."""
        built = Path(self.built.config.config_file_path or "").resolve()
        return (docs_dir.resolve(), site_dir.resolve(), config_file.resolve()) == (self.docs_dir, self.site_dir, built)

    def update(self, budget: float | None = None) -> list[str] | None:
        """Build again the pages whose Markdown file changed since the last look and return them (their src_uri); None
        when the change needs a whole build: files added or removed, an extra template changed, the configuration
        or the theme changed, or a page in the navigation has a new title (every page shows it).

        The smallest pages go first (a rule's page before the lists showing it); with a budget (seconds), the pages
        left when it is spent wait in `pending` for the next call, and the search index is written once none wait."""
        from mkdocs.commands.build import _build_page, _populate_page
        from mkdocs.structure.files import InclusionLevel

        started = time.perf_counter()
        now = _walk(self.docs_dir)
        if now.keys() != self.seen.keys() or self._fingerprint() != self.fingerprint:
            return None
        files, config, nav = self.built.files, self.built.config, self.built.nav
        changed, copied = {file.src_uri: file for file in self.pending}, []
        for relative, state in now.items():
            if self.seen[relative] == state:
                continue
            file = files.get_file_from_path(relative)
            if file is None or file.inclusion.is_excluded():  # a file mkdocs leaves out (hidden, the manifest)
                continue
            if file.is_documentation_page() and file.page is not None:
                changed[file.src_uri] = file
            elif file.src_uri in config.extra_templates:  # rendered with the navigation
                return None
            else:  # exports, layers, scripts: copied as they are
                copied.append(file)
        self.seen = now
        self.pending = sorted(changed.values(), key=lambda file: (now[file.src_uri][1], file.src_uri))  # by size
        in_nav = {id(page) for page in nav.pages}
        doc_files = files.documentation_pages(inclusion=InclusionLevel.is_included)
        built: list[str] = []
        try:
            for file in copied:
                file.copy_file()
            while self.pending and (budget is None or not built or time.perf_counter() - started < budget):
                file = self.pending.pop(0)
                title = file.page.title if id(file.page) in in_nav else None
                _populate_page(file.page, config, files)
                if title is not None and file.page.title != title:
                    return None
                _build_page(file.page, config, doc_files, nav, self.built.env)
                built.append(file.src_uri)
        except Exception as exc:
            raise SiteBuildError(f"{config.config_file_path}: mkdocs failed on {file.src_uri}: {exc}") from exc
        if self.built.search is not None and built and not self.pending:
            self.built.search.reorder([file.src_uri for file in doc_files])
            self.built.search.search.on_post_build(config=config)
        return built
