"""Atomic output: a build killed or failing at any point leaves the previous docs/ and site/ whole; hand-written pages stay."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from atc.settings import REPO_ROOT
from atc.site import publish

RULES = REPO_ROOT / "rules" / "windows" / "security"
FIRST = ["win_security_susp_psexec_execution.yml", "win_security_audit_log_cleared.yml"]
ADDED = "win_security_shadow_copy_deletion_vssadmin.yml"
HAND_WRITTEN = {"notes/runbook.md": "# Runbook\n\nWritten by hand.\n", "stylesheets/extra.css": "body {}\n"}


def tree(root: Path) -> dict[str, bytes]:
    """Every file below root, by relative path, with its bytes."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _command(kb: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "atc",
        "build",
        "--rules",
        str(kb / "rules"),
        "--data-needed",
        str(kb / "none"),
        "--logging-policies",
        str(kb / "none"),
        "--triggers",
        str(kb / "none"),
        "--docs-dir",
        str(kb / "docs"),
        "--site-dir",
        str(kb / "site"),
        "--targets",
        "splunk",
        "-j",
        "1",
        "-q",
    ]


def _build(kb: Path) -> subprocess.CompletedProcess:
    return subprocess.run(_command(kb), capture_output=True, text=True, timeout=300)


def _staging(kb: Path, name: str) -> list[Path]:
    return list(kb.glob(f".{name}.atc-new-*"))


def _killed_when(kb: Path, ready: Callable[[], bool]) -> bool:
    """Start a build and SIGKILL it as soon as ready() holds; whether it was killed before it finished."""
    process = subprocess.Popen(_command(kb), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while process.poll() is None and time.monotonic() < deadline:
        if ready():
            process.send_signal(signal.SIGKILL)
            process.wait()
            return True
        time.sleep(0.002)
    process.wait()
    return False


@pytest.fixture(scope="module")
def kb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small knowledge base, built once, with hand-written pages in its docs/; then one more rule is added."""
    root = tmp_path_factory.mktemp("atomic")
    (root / "rules").mkdir()
    (root / "none").mkdir()
    for name in FIRST:
        shutil.copy(RULES / name, root / "rules" / name)
    for name, text in HAND_WRITTEN.items():
        (root / "docs" / name).parent.mkdir(parents=True, exist_ok=True)
        (root / "docs" / name).write_text(text, encoding="utf-8")
    assert _build(root).returncode == 0
    shutil.copy(RULES / ADDED, root / "rules" / ADDED)
    return root


def test_a_build_killed_at_any_point_leaves_a_whole_old_or_new_tree(kb: Path) -> None:
    """SIGKILL the build at each stage and after several delays; then let one finish and clean up."""
    old_docs, old_site = tree(kb / "docs"), tree(kb / "site")
    assert all(old_docs[name].decode() == text for name, text in HAND_WRITTEN.items()) and "index.html" in old_site
    stages = {
        "pages staged": lambda: any((folder / ".atc-generated.json").exists() for folder in _staging(kb, "docs")),
        "mkdocs writing the site": lambda: any((folder / "assets").exists() for folder in _staging(kb, "site")),
    }
    for stage, ready in stages.items():
        assert _killed_when(kb, ready), f"the build finished before {stage}"
        assert tree(kb / "docs") == old_docs and tree(kb / "site") == old_site, stage
    after_delay = []
    for delay in (1.0, 2.5, 5.0):
        started = time.monotonic()
        _killed_when(kb, lambda started=started, delay=delay: time.monotonic() - started > delay)
        after_delay.append((delay, tree(kb / "docs"), tree(kb / "site")))
    assert _build(kb).returncode == 0
    new_docs, new_site = tree(kb / "docs"), tree(kb / "site")
    assert "Detection_Rules/win_security_shadow_copy_deletion_vssadmin.md" in new_docs
    assert all(new_docs[name].decode() == text for name, text in HAND_WRITTEN.items())
    for delay, docs, site in after_delay:
        assert docs in (old_docs, new_docs) and site in (old_site, new_site), delay
    assert _staging(kb, "docs") == [] and _staging(kb, "site") == []


def test_unchanged_pages_keep_their_mtime_and_removed_rules_lose_their_page(kb: Path) -> None:
    page = kb / "docs" / "Detection_Rules" / "win_security_susp_psexec_execution.md"
    before = page.stat().st_mtime_ns
    (kb / "rules" / ADDED).unlink()
    assert _build(kb).returncode == 0
    assert page.stat().st_mtime_ns == before
    assert not (kb / "docs" / "Detection_Rules" / "win_security_shadow_copy_deletion_vssadmin.md").exists()
    assert (kb / "docs" / "notes" / "runbook.md").is_file()


def test_a_failing_site_build_changes_nothing(kb: Path) -> None:
    docs, site = tree(kb / "docs"), tree(kb / "site")
    (kb / "rules" / "extra.yml").write_bytes((RULES / ADDED).read_bytes().replace(b"title: ", b"title: Extra "))
    (kb / "atc.yml").write_text("mkdocs_config: broken-mkdocs.yml\n", encoding="utf-8")
    (kb / "broken-mkdocs.yml").write_text("site_name: x\ntheme: {name: no-such-theme}\n", encoding="utf-8")
    try:
        result = subprocess.run(_command(kb), cwd=kb, capture_output=True, text=True, timeout=300)
    finally:
        os.unlink(kb / "atc.yml")
        (kb / "rules" / "extra.yml").unlink()
    assert result.returncode != 0 and "Traceback" not in result.stderr, result.stderr[-2000:]
    assert tree(kb / "docs") == docs and tree(kb / "site") == site
    assert _staging(kb, "docs") == [] and _staging(kb, "site") == []


def test_the_fallback_swap_and_its_repair(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without renameat2 the swap is two renames; a kill between them leaves a backup that the next build puts back."""
    monkeypatch.setattr(publish, "_exchange", lambda new, target: False)
    target = tmp_path / "docs"
    target.mkdir()
    (target / "old.md").write_text("old", encoding="utf-8")
    new = publish.staging_dir(target)
    (new / "new.md").write_text("new", encoding="utf-8")
    publish.swap_in(new, target)
    assert [p.name for p in target.iterdir()] == ["new.md"] and [p.name for p in tmp_path.iterdir()] == ["docs"]
    target.rename(tmp_path / ".docs.atc-old")  # as if killed between the two renames
    publish.recover(target)
    assert [p.name for p in target.iterdir()] == ["new.md"] and [p.name for p in tmp_path.iterdir()] == ["docs"]


def test_only_staging_folders_of_dead_builds_are_removed(tmp_path: Path) -> None:
    target = tmp_path / "docs"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True).stdout.strip()
    (tmp_path / f".docs.atc-new-{dead}-abc").mkdir()
    mine = publish.staging_dir(target)
    assert [p.name for p in tmp_path.iterdir()] == [mine.name]
    publish.recover(target)
    assert mine.is_dir()


def test_folders_emptied_of_generated_pages_go_and_hand_made_ones_stay(tmp_path: Path) -> None:
    from atc.site.docs_writer import write_pages

    docs = tmp_path / "docs"
    first = {
        "exports/loki/ruler.yml": "a",
        "exports/loki/not-converted.csv": "b",
        "exports/splunk/savedsearches.conf": "c",
        "index.md": "i",
    }
    first["deep/a/b/page.md"] = "d"
    staged = tmp_path / "first"
    staged.mkdir()
    write_pages(first, docs, staged)
    staged.rename(docs)
    (docs / "notes").mkdir()  # made by hand, empty
    (docs / "exports" / "mine").mkdir()  # made by hand among generated folders
    (docs / "deep" / "a" / "keep.md").write_text("by hand", encoding="utf-8")
    second = tmp_path / "second"
    second.mkdir()
    report = write_pages({"exports/splunk/savedsearches.conf": "c", "index.md": "i"}, docs, second)
    folders = sorted(p.relative_to(second).as_posix() for p in second.rglob("*") if p.is_dir())
    assert folders == ["deep", "deep/a", "exports", "exports/mine", "exports/splunk", "notes"]
    assert report.removed == 3 and (second / "deep/a/keep.md").read_text(encoding="utf-8") == "by hand"
