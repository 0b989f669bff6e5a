"""The incremental site build: pages whose Markdown and site did not change are linked from the last build, and the
site is byte-identical to a full build's."""

from __future__ import annotations

import logging
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from atc.engine import SITE_PAGES, run_build
from atc.settings import REPO_ROOT, default_settings
from atc.site.mkdocs_adapter import SiteBuildError, build_site
from tests.test_deterministic import tree
from tests.test_site_plugin import _config, _docs, _rule


def _linked(new: Path, old: Path) -> set[str]:
    """The files of the new site that are the old site's files (hard links: the same inode)."""
    return {
        path.relative_to(new).as_posix()
        for path in new.rglob("*.html")
        if (old / path.relative_to(new)).is_file() and (old / path.relative_to(new)).stat().st_ino == path.stat().st_ino
    }


def _build(tmp: Path, name: str, docs: Path, previous: Path | None, store: Path | None, jobs: int = 2) -> Path:
    site = tmp / name
    build_site(_config(tmp / f"{name}.yml", 2), docs, site, strict=True, jobs=jobs, previous_site=previous, page_store=store)
    return site


def test_an_edit_rebuilds_its_page_only_and_the_site_equals_a_full_build(tmp_path: Path) -> None:
    docs, store = _docs(tmp_path / "docs"), tmp_path / "store.pickle"
    first = _build(tmp_path, "first", docs, tmp_path / "none", store)
    assert _linked(first, tmp_path / "none") == set()
    (docs / "rules/r05.md").write_text(_rule(5).replace("Rule 5", "Rule five"), encoding="utf-8")
    second = _build(tmp_path, "second", docs, first, store)
    pages = {f"rules/r{number:02d}/index.html" for number in range(len(list((docs / "rules").glob("*.md"))))}
    pages |= {"index.html", "about/notes/index.html", "about/more/index.html"}
    assert _linked(second, first) == pages - {"rules/r05/index.html"}
    assert "Rule five" in (second / "rules/r05/index.html").read_text(encoding="utf-8")
    full = _build(tmp_path, "full", docs, None, None)
    assert tree(second) == tree(full)
    third = _build(tmp_path, "third", docs, second, store, jobs=1)  # nothing changed: every page is linked
    assert _linked(third, second) == pages and tree(third) == tree(full)


def test_a_page_in_the_navigation_without_a_title_there_rebuilds_every_page(tmp_path: Path) -> None:
    docs, store = _docs(tmp_path / "docs"), tmp_path / "store.pickle"
    config = _config(tmp_path / "untitled.yml", 2)
    config.write_text(config.read_text(encoding="utf-8").replace("- Notes: about/notes.md", "- about/notes.md"), encoding="utf-8")
    first = tmp_path / "first"
    build_site(config, docs, first, strict=True, previous_site=tmp_path / "none", page_store=store)
    (docs / "about/notes.md").write_text("# Field notes\n", encoding="utf-8")  # its title shows in every page's navigation
    second = tmp_path / "second"
    build_site(config, docs, second, strict=True, previous_site=first, page_store=store)
    assert _linked(second, first) == set() and "Field notes" in (second / "rules/r07/index.html").read_text(encoding="utf-8")


def test_a_page_whose_link_target_appears_is_built_again_and_so_is_everything_after_a_lost_site(tmp_path: Path) -> None:
    docs, store = _docs(tmp_path / "docs", {"rules/r30.md": _rule(30) + "\nSee [the new rule](new.md).\n"}), tmp_path / "store.pickle"
    first = tmp_path / "first"
    build_site(
        _config(tmp_path / "lax.yml", 2), docs, first, previous_site=tmp_path / "none", page_store=store
    )  # new.md missing: a warning
    (docs / "rules/new.md").write_text("# New\n", encoding="utf-8")
    second = _build(tmp_path, "second", docs, first, store)
    rebuilt = {name for name in tree(second) if name.endswith(".html")} - _linked(second, first)
    assert rebuilt == {"rules/new/index.html", "rules/r30/index.html", "404.html"}  # r30's Markdown is the same; its link now resolves
    assert 'href="../new/"' in (second / "rules/r30/index.html").read_text(encoding="utf-8")
    assert tree(second) == tree(_build(tmp_path, "full", docs, None, None))
    (tmp_path / "second").rename(tmp_path / "gone")
    third = _build(tmp_path, "third", docs, second, store)  # the earlier files are gone: built again
    assert _linked(third, tmp_path / "gone") == set() and tree(third) == tree(tmp_path / "full")


def test_a_remembered_page_repeats_its_warnings_so_strict_still_fails(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    docs, store = _docs(tmp_path / "docs"), tmp_path / "store.pickle"
    (docs / "rules/r30.md").write_text(_rule(30) + "\nA [broken link](missing.md).\n", encoding="utf-8")
    site = tmp_path / "first"
    build_site(_config(tmp_path / "lax.yml", 2), docs, site, previous_site=tmp_path / "none", page_store=store)
    with caplog.at_level(logging.WARNING), pytest.raises(SiteBuildError, match="Aborted with 1 warnings in strict mode"):
        _build(tmp_path, "second", docs, site, store)
    assert [record for record in caplog.records if "missing.md" in record.getMessage()]


def test_warm_atc_build_with_an_edited_rule_gives_the_full_builds_site(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(REPO_ROOT / "rules", rules)
    settings = replace(
        default_settings(),
        rules=(rules,),
        docs_dir=tmp_path / "docs",
        site_dir=tmp_path / "site",
        cache_dir=tmp_path / "cache",
        jobs=2,
        strict=True,
    )
    run_build(settings, quiet=True)
    assert (tmp_path / "cache" / SITE_PAGES).is_file()
    before = tmp_path / "before"
    shutil.copytree(tmp_path / "site", before, copy_function=lambda src, dst: Path(dst).hardlink_to(src))
    seed = rules / "windows/security/win_security_susp_psexec_execution.yml"
    seed.write_text(seed.read_text(encoding="utf-8").replace("detects execution of psexec", "detects runs of psexec"), encoding="utf-8")
    run_build(settings, quiet=True)
    rebuilt = {name for name in tree(tmp_path / "site") if name.endswith(".html")} - _linked(tmp_path / "site", before)
    assert "Detection_Rules/win_security_susp_psexec_execution/index.html" in rebuilt and len(rebuilt) < 30
    full = replace(settings, docs_dir=tmp_path / "docs2", site_dir=tmp_path / "site2", cache_dir=tmp_path / "cache2")
    run_build(full, quiet=True)
    assert tree(tmp_path / "site") == tree(tmp_path / "site2")
