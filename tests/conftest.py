"""Shared fixtures: the repository's default knowledge base built once, and the shared corpora when present."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from atc.engine import BuildResult, run_build
from atc.settings import REPO_ROOT, default_settings
from tests.hostile_kb import hostile_build  # noqa: F401  (a session fixture: the hostile corpus, built once)

SHARED = REPO_ROOT.parent / "shared"
CORPORA = SHARED / "corpora"
SEED_PAGE = SHARED / "seed" / "000_163445dfde4e37e0.txt"
SEED_SLUG = "win_security_susp_psexec_execution"


def needs_corpora() -> pytest.MarkDecorator:
    return pytest.mark.skipif(not CORPORA.is_dir(), reason="../shared/corpora is not present (a fresh clone has no shared material)")


@pytest.fixture(scope="session")
def default_build(tmp_path_factory: pytest.TempPathFactory) -> BuildResult:
    """The embedded default knowledge base rendered to Markdown (no site) in a temporary folder."""
    out = tmp_path_factory.mktemp("default-build")
    settings = replace(default_settings(), docs_dir=out / "docs", site_dir=out / "site", build_site=False, jobs=2)
    return run_build(settings, quiet=True)


def grep_build(out: Path, rules: Path, triggers: tuple[Path, ...] = ()) -> BuildResult:
    """A small knowledge base (rules, and atomics when given) built into out: grep only, no site, exports or Data Needed."""
    settings = replace(
        default_settings(),
        rules=(rules,),
        data_needed=(),
        logging_policies=(),
        triggers=triggers,
        events=None,
        targets=("grep",),
        docs_dir=out / "docs",
        site_dir=out / "site",
        cache_dir=out / "cache",
        build_site=False,
        exports=False,
        jobs=1,
    )
    return run_build(settings, quiet=True)
