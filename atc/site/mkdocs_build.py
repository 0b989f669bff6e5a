"""Build the static site from docs/ with mkdocs and the mkdocs-material theme."""
from __future__ import annotations

import logging
from pathlib import Path


class SiteBuildError(Exception):
    """mkdocs could not build the site; the message says why."""


def build_site(config_file: Path, docs_dir: Path, site_dir: Path) -> None:
    """Run mkdocs with the given configuration, reading docs_dir and writing site_dir."""
    from mkdocs.commands.build import build
    from mkdocs.config import load_config
    from mkdocs.exceptions import MkDocsException

    logging.getLogger("mkdocs").setLevel(logging.WARNING)
    try:
        config = load_config(config_file=str(config_file), docs_dir=str(docs_dir.resolve()), site_dir=str(site_dir.resolve()))
        build(config)
    except MkDocsException as exc:
        raise SiteBuildError(f"{config_file}: mkdocs failed: {exc}") from exc
