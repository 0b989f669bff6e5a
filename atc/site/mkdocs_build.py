"""Build the static site from docs/ with mkdocs and the mkdocs-material theme."""

from __future__ import annotations

import logging
from pathlib import Path

FILE_WORKER_SHIM = "javascripts/iframe-worker.js"  # atc/site/static/: search from file:// without a CDN


class SiteBuildError(Exception):
    """mkdocs could not build the site; the message says why."""


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
) -> None:
    """Run mkdocs with the given configuration, reading docs_dir and writing site_dir; `strict` fails on any warning.

    `jobs` sets the worker processes of the atc plugin (atc/site/plugin.py) when the configuration uses it. With
    `previous_site` (the last build's site) and `page_store` (what that build wrote), pages whose Markdown and site did
    not change are linked from the previous site instead of being built again: the site is the same as a full build's.
    """
    from mkdocs.commands.build import build
    from mkdocs.config import load_config
    from mkdocs.exceptions import MkDocsException

    from atc.site.plugin import AtcPlugin

    logging.getLogger("mkdocs").setLevel(logging.WARNING)
    overrides = offline_overrides(config_file) if offline else {}
    if strict:
        overrides["strict"] = True
    try:
        config = load_config(config_file=str(config_file), docs_dir=str(docs_dir.resolve()), site_dir=str(site_dir.resolve()), **overrides)
        plugin = config.plugins.get("atc")
        if jobs is not None and isinstance(plugin, AtcPlugin):
            plugin.config.jobs = jobs
        if previous_site is not None and page_store is not None and isinstance(plugin, AtcPlugin):
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
