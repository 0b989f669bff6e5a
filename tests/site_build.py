"""Build the default knowledge base's site in a temporary folder, as `make site` builds it into docs/ and site/."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

from atc.engine import mkdocs_config, run_build
from atc.settings import REPO_ROOT, default_settings
from atc.site.mkdocs_adapter import build_site


def build_default_site(out: Path, offline: bool = False) -> Path:
    """Render the default knowledge base next to a copy of the hand-written docs/ pages, then build the site with --strict."""
    docs, site = out / "docs", out / "site"
    shutil.copytree(REPO_ROOT / "docs", docs)
    settings = replace(default_settings(), docs_dir=docs, site_dir=site, build_site=False, jobs=2, cache_dir=out / "cache")
    run_build(settings, quiet=True)
    build_site(mkdocs_config(settings), docs, site, offline=offline, strict=True)
    return site
