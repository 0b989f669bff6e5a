"""Time `atc diff` for a 5-rule change on a copy of a Sigma rule folder in a temporary git repository.

    .venv/bin/python bench/diff_bench.py ../shared/corpora/sigma/rules > bench/DIFF.md

The change, left uncommitted as in a pull-request check: two rules edited (description and detection),
one added, one moved, one deleted. Each `atc diff HEAD` runs three times with an empty cache (cold, as on a
fresh CI runner) and three times with the cache the first runs filled (warm: parsed rules and converted queries,
as when a pull-request check restores the main branch's cache); the median is reported.
"""

from __future__ import annotations

import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from atc.settings import REPO_ROOT

RUNS = 3
CONDITION = "    condition: selection\n"
FILTER = "    filter_bench:\n        CommandLine|contains: 'atc-bench'\n    condition: selection and not filter_bench\n"


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)


def make_repo(rules: Path, root: Path) -> None:
    """A git repository holding the rules and this repository's Data Needed, logging policies and triggers."""
    shutil.copytree(rules, root / "rules")
    for folder in ("data_needed", "logging_policies", "triggers"):
        shutil.copytree(REPO_ROOT / folder, root / folder)
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.name", "bench")
    git(root, "config", "user.email", "bench@example.invalid")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "corpus")


def change_five(root: Path) -> list[str]:
    """Edit two rules, add one, move one, delete one; return what was done."""
    files = sorted(p for p in (root / "rules").rglob("*.yml") if CONDITION in p.read_text(encoding="utf-8"))
    edited, added_from, moved, deleted = files[100:102], files[200], files[300], files[400]
    for path in edited:
        text = path.read_text(encoding="utf-8").replace(CONDITION, FILTER, 1)
        path.write_text(text.replace("\ndescription: ", "\ndescription: (edited) ", 1), encoding="utf-8")
    copy = added_from.with_name("bench_added_" + added_from.name)
    text = added_from.read_text(encoding="utf-8")
    copy.write_text(re.sub(r"^id: .*$", "id: 00000000-0000-4000-8000-000000000b0e", text, count=1, flags=re.M), encoding="utf-8")
    git(root, "mv", str(moved.relative_to(root)), str(moved.with_name("bench_moved_" + moved.name).relative_to(root)))
    git(root, "rm", "-q", str(deleted.relative_to(root)))
    return [f"edited {p.relative_to(root)}" for p in edited] + [
        f"added {copy.relative_to(root)}",
        f"moved {moved.relative_to(root)}",
        f"deleted {deleted.relative_to(root)}",
    ]


def timed_diff(root: Path, cache: Path, cold: bool) -> tuple[float, str]:
    if cold:
        shutil.rmtree(cache, ignore_errors=True)
    (root / "atc.yml").write_text(f"cache_dir: {cache}\n", encoding="utf-8")
    started = time.perf_counter()
    done = subprocess.run(
        [str(Path(sys.executable).with_name("atc")), "diff", "HEAD", "--output", str(cache.parent / "diff.md")],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    )
    return time.perf_counter() - started, done.stderr.strip().splitlines()[-1]


def main() -> None:
    rules = Path(sys.argv[1]).resolve()
    with tempfile.TemporaryDirectory(prefix="atc-diff-bench-") as tmp:
        root = Path(tmp) / "repo"
        root.mkdir()
        make_repo(rules, root)
        count = sum(1 for _ in (root / "rules").rglob("*.yml"))
        done = change_five(root)
        cache = Path(tmp) / "cache"
        load_before = os.getloadavg()[0]
        cold = [timed_diff(root, cache, cold=True) for _ in range(RUNS)]
        warm = [timed_diff(root, cache, cold=False) for _ in range(RUNS)]
        load_after = os.getloadavg()[0]
    print("# `atc diff` on a 5-rule change\n")
    print(f"Corpus: `{os.path.relpath(rules, REPO_ROOT)}` ({count} rule files) copied into a temporary git repository with this")
    print("repository's Data Needed, logging policies and triggers; `atc diff HEAD` against the uncommitted change, all 12 targets,")
    print(f"{os.cpu_count()} cores (1-minute load average {load_before:.1f} before, {load_after:.1f} after: the machine was shared),")
    print(f"wall time of the whole command (Python start-up included), median of {RUNS} runs.\n")
    print("The change:\n")
    print("\n".join(f"- {item}" for item in done) + "\n")
    print("| cache | runs (s) | median (s) |\n|:--|:--|--:|")
    for label, runs in (("cold (empty, as on a fresh CI runner)", cold), ("warm (parsed rules and queries of an earlier run)", warm)):
        print(f"| {label} | {', '.join(f'{t:.2f}' for t, _ in runs)} | {statistics.median(t for t, _ in runs):.2f} |")
    print(f"\n`atc diff` said: `{cold[0][1]}`")


if __name__ == "__main__":
    main()
