"""The conversion cache and incremental output: nothing converted twice, exactly the right things redone, pages kept when unchanged."""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from atc.convert.cache import ConversionCache
from atc.convert.runner import convert_rules
from atc.convert.targets import select_targets
from atc.engine import BuildResult, run_build, summarise
from atc.load.rules import load_rules
from atc.settings import REPO_ROOT, Settings, default_settings

TARGETS = ("splunk", "grep")


@pytest.fixture()
def kb_copy(tmp_path: Path) -> Settings:
    """The default knowledge base's rules copied into a temporary folder, with their own docs and cache folders."""
    shutil.copytree(REPO_ROOT / "rules", tmp_path / "rules")
    return replace(
        default_settings(),
        rules=(tmp_path / "rules",),
        docs_dir=tmp_path / "docs",
        site_dir=tmp_path / "site",
        cache_dir=tmp_path / "cache",
        build_site=False,
        targets=TARGETS,
        jobs=1,
    )


def _build(settings: Settings) -> BuildResult:
    return run_build(settings, quiet=True)


def _some_rule(settings: Settings) -> Path:
    return sorted(settings.rules[0].rglob("*.yml"))[0]


def test_second_build_converts_nothing(kb_copy: Settings) -> None:
    first = _build(kb_copy)
    rules = len(first.kb.rules)
    assert first.convert_stats.converted == rules * len(TARGETS) and first.convert_stats.cached == 0
    second = _build(kb_copy)
    assert second.convert_stats.converted == 0 and second.convert_stats.cached == rules * len(TARGETS)
    assert second.pages == first.pages
    out = io.StringIO()
    summarise(second, out)
    assert f"conversions 0 done, {rules * len(TARGETS)} cached" in out.getvalue()


def test_changed_rule_is_the_only_one_converted_again(kb_copy: Settings) -> None:
    _build(kb_copy)
    path = _some_rule(kb_copy)
    path.write_text(path.read_text(encoding="utf-8").replace("description:", "description: Edited.", 1), encoding="utf-8")
    result = _build(kb_copy)
    assert result.convert_stats.converted == len(TARGETS)
    assert result.convert_stats.cached == (len(result.kb.rules) - 1) * len(TARGETS)
    assert result.written is not None and result.written.written >= 1


def test_changed_target_definition_invalidates_that_target_only(kb_copy: Settings) -> None:
    targets = select_targets(TARGETS)
    cache = ConversionCache(kb_copy.cache_dir)
    rules = load_rules(kb_copy.rules, [])
    assert convert_rules(rules, targets, 1, cache=cache).converted == len(rules) * 2
    changed = [replace(targets[0], timeout=targets[0].timeout + 1), targets[1]]
    rules = load_rules(kb_copy.rules, [])
    stats = convert_rules(rules, changed, 1, cache=cache)
    cache.close()
    assert (stats.converted, stats.cached) == (len(rules), len(rules))
    assert all(list(rule.conversions) == list(TARGETS) for rule in rules)


def test_unchanged_pages_keep_their_mtime(kb_copy: Settings) -> None:
    first = _build(kb_copy)
    pages = sorted(first.pages)
    before = {page: (kb_copy.docs_dir / page).stat().st_mtime_ns for page in pages}
    second = _build(kb_copy)
    assert second.written is not None and second.written.written == 0
    assert {page: (kb_copy.docs_dir / page).stat().st_mtime_ns for page in pages} == before


def test_deleted_rule_page_disappears(kb_copy: Settings) -> None:
    first = _build(kb_copy)
    path = _some_rule(kb_copy)
    slug = next(rule.slug for rule in first.kb.rules if rule.path == path)
    page = kb_copy.docs_dir / "Detection_Rules" / f"{slug}.md"
    assert page.is_file()
    path.unlink()
    second = _build(kb_copy)
    assert not page.exists()
    assert f"Detection_Rules/{slug}.md" not in second.pages
    assert second.written is not None and second.written.removed >= 1


def test_results_do_not_depend_on_jobs(kb_copy: Settings, tmp_path: Path) -> None:
    one = _build(kb_copy)
    two = _build(replace(kb_copy, jobs=2, docs_dir=tmp_path / "docs2", cache_dir=tmp_path / "cache2"))
    assert two.convert_stats.converted == one.convert_stats.converted > 0
    assert two.pages == one.pages


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{path}: {old!r} not found"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def _fresh(settings: Settings, tmp_path: Path, name: str) -> BuildResult:
    """A build of the same rules with nothing remembered."""
    return _build(replace(settings, docs_dir=tmp_path / name / "docs", cache_dir=tmp_path / name / "cache"))


def test_description_edit_renders_that_rule_page_only(kb_copy: Settings, tmp_path: Path) -> None:
    first = _build(kb_copy)
    seed = next(rule for rule in first.kb.rules if rule.slug == "win_security_susp_psexec_execution")
    _edit(seed.path, "description: ", "description: Edited for the test. ")
    second = _build(kb_copy)
    assert second.made == 1
    changed = {page for page in second.pages if second.pages[page] != first.pages.get(page)}
    assert changed == {f"Detection_Rules/{seed.slug}.md", "exports/splunk/savedsearches.conf"}  # the Splunk export holds descriptions
    assert second.pages == _fresh(kb_copy, tmp_path, "fresh").pages


def test_remembered_pages_equal_a_fresh_build_after_every_kind_of_edit(kb_copy: Settings, tmp_path: Path) -> None:
    """Title, level, tag and log-source edits reach every list, index, ATT&CK page and export that shows them."""
    _build(kb_copy)
    paths = sorted(kb_copy.rules[0].rglob("*.yml"))
    _edit(paths[0], "title: ", "title: Renamed ")
    _edit(paths[1], "level: ", "level: critical\nx_old_level: ")
    _edit(paths[2], "tags:\n", "tags:\n    - attack.t1059.001\n")
    _edit(paths[3], "logsource:\n", "logsource:\n    product: edited_product\n")
    paths[4].unlink()
    remembered = _build(kb_copy)
    assert 1 < remembered.made < len(remembered.pages)
    fresh = _fresh(kb_copy, tmp_path, "fresh")
    assert remembered.pages == fresh.pages


def test_a_new_process_remembers_every_page(kb_copy: Settings) -> None:
    """Nothing in a page's inputs depends on the process (string hashing, object identity): a second run renders nothing."""
    command = [
        sys.executable,
        "-m",
        "atc",
        "build",
        "--rules",
        str(kb_copy.rules[0]),
        "--no-site",
        "--docs-dir",
        str(kb_copy.docs_dir),
        "--cache-dir",
        str(kb_copy.cache_dir),
    ]
    logs = [
        subprocess.run(
            command, cwd=REPO_ROOT, capture_output=True, text=True, env={**os.environ, "PYTHONHASHSEED": seed}, check=True
        ).stderr
        for seed in ("1", "2")
    ]
    assert re.search(r"render: \d+ pages in [\d.]+ s \(0 made", logs[1]), logs[1]
    assert not re.search(r"render: \d+ pages in [\d.]+ s \(0 made", logs[0])


@pytest.mark.parametrize("jobs", [1, 2])  # with 2, the page makers run in forked workers and their memo use comes back
def test_a_family_remembered_whole_keeps_its_pages_remembered(kb_copy: Settings, jobs: int) -> None:
    """A description edit takes the non-rule pages from one memo entry; a later retitle still finds most of them."""
    kb_copy = replace(kb_copy, jobs=jobs)
    first = _build(kb_copy)
    seed = next(rule for rule in first.kb.rules if rule.slug == "win_security_susp_psexec_execution")
    _edit(seed.path, "description: ", "description: Edited for the test. ")
    assert _build(kb_copy).made == 1
    _edit(seed.path, "title: ", "title: Retitled ")
    retitled = _build(kb_copy)
    assert 1 < retitled.made < len(retitled.pages) // 4
