"""The same input gives byte-identical docs/ and site/: no timestamps, set iteration, dict order or input paths in output."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.hostile_kb import GENERATED_EVENTS, Built, kb_options, plant_in_docs


def tree(root: Path) -> dict[str, bytes]:
    """Every file below root, by relative path, with its bytes."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_two_builds_of_the_same_input_are_byte_identical(hostile_build: Built, tmp_path: Path) -> None:
    """Rebuild the hostile corpus from another folder, with another hash seed, and compare every file."""
    kb = tmp_path / "elsewhere" / "kb"
    shutil.copytree(hostile_build.kb, kb, symlinks=True, ignore=lambda folder, names: [n for n in names if n in ("fifo.yml", "fifo.json")])
    os.mkfifo(kb / "rules" / "generated" / "fifo.yml")  # copytree refuses named pipes
    os.mkfifo(kb / GENERATED_EVENTS["event_fifo"])
    plant_in_docs(tmp_path / "docs", tmp_path)  # the same hand-written docs/ entries as the first build
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "atc",
            "build",
            *kb_options(kb),
            "--events",
            str(kb / "events"),
            "--docs-dir",
            str(tmp_path / "docs"),
            "--site-dir",
            str(tmp_path / "site"),
            "-j",
            "1",
            "-q",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    for part, before in (("docs", hostile_build.docs), ("site", hostile_build.site)):
        first, second = tree(before), tree(tmp_path / part)
        assert len(first) > 30
        assert first.keys() == second.keys()
        assert [name for name in first if first[name] != second[name]] == [], part
