"""Benchmark the rule history on a git copy of a Sigma corpus's rules/ with a synthetic history (cold and warm).

    .venv/bin/python bench/history_bench.py [CORPUS] [--months 6] [--commits 20] [--repeat 3] [--jobs 2] [--keep DIR]

Makes a git repository in a temporary folder: every rule of CORPUS/rules committed, then --commits commits a month
for --months months, each editing about five rules (a detection value, level, description or title), moving,
deleting or adding one now and then. Then measures `atc build --no-site` with and without history (cold: empty
cache; warm: nothing changed; medians) and the size of docs/ and site/ built with and without history.
Not part of the test suite: it takes minutes on the full corpus.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_CORPUS = REPO.parent / "shared" / "corpora" / "sigma"
_STAGE = re.compile(r"\b(load|link|convert|verify|history|render|write|site) ([\d.]+) s\b")
_OLD = re.compile(r"old revisions: (\d+) conversions done, (\d+) cached")
_VALUE = re.compile(r"^(\s+- ')([^'\n]+)('\s*)$", re.M)


def git(repo: Path, *args: str, when: str | None = None) -> None:
    env = {**os.environ, "GIT_AUTHOR_DATE": when, "GIT_COMMITTER_DATE": when} if when else None
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, env=env)


def _edit(text: str, pick: random.Random) -> str | None:
    """One plausible change to a rule's text, or None when the rule has nothing of that kind."""
    kind = pick.choice(["detection", "detection", "level", "description", "title"])
    if kind == "detection":
        values = list(_VALUE.finditer(text.split("detection:", 1)[-1]))
        if not values:
            return None
        match = pick.choice(values)
        start = text.index("detection:") + match.start(2)
        return text[:start] + match.group(2) + "_v2" + text[start + len(match.group(2)) :]
    if kind == "level":
        for old, new in (("level: medium", "level: high"), ("level: high", "level: medium"), ("level: low", "level: medium")):
            if old in text:
                return text.replace(old, new, 1)
        return None
    if kind == "description":
        return (
            re.sub(r"^(description: .+)$", r"\1 Updated.", text, count=1, flags=re.M)
            if re.search(r"^description: .+$", text, re.M)
            else None
        )
    return re.sub(r"^(title: .+)$", r"\1 (revised)", text, count=1, flags=re.M) if re.search(r"^title: .+$", text, re.M) else None


def make_history(corpus: Path, repo: Path, months: int, commits: int) -> int:
    """The corpus's rules/ committed, then the synthetic commits; returns the number of commits."""
    shutil.copytree(corpus / "rules", repo / "rules")
    (repo / "atc.yml").write_text(
        f"rules: rules\ndata_needed: {REPO / 'data_needed'}\nlogging_policies: {REPO / 'logging_policies'}\ntriggers: {REPO / 'triggers'}\n",
        encoding="utf-8",
    )
    git(repo, "init", "-q", "-b", "main")
    git(repo, "config", "user.name", "Bench")
    git(repo, "config", "user.email", "bench@example.invalid")
    git(repo, "add", "-A")
    start = time.mktime((2026, 11 - months, 1, 12, 0, 0, 0, 0, 0))
    git(repo, "commit", "-q", "-m", "Import the rules", when=f"@{int(start) - 86400} +0000")
    pick = random.Random(19)
    count = 1
    for month in range(months):
        for number in range(commits):
            files = sorted((repo / "rules").rglob("*.yml"))
            for path in pick.sample(files, 5):
                changed = _edit(path.read_text(encoding="utf-8"), pick)
                if changed:
                    path.write_text(changed, encoding="utf-8")
            roll = pick.random()
            victim = pick.choice(files)
            if roll < 0.15:
                target = victim.parent / "moved" / victim.name
                target.parent.mkdir(exist_ok=True)
                git(repo, "mv", str(victim), str(target))
            elif roll < 0.2:
                git(repo, "rm", "-q", str(victim))
            elif roll < 0.25:
                text = re.sub(
                    r"^id: .+$", f"id: 00000000-0000-4000-8000-{count:012d}", victim.read_text(encoding="utf-8"), count=1, flags=re.M
                )
                (victim.parent / f"new_{count}_{victim.name}").write_text(text, encoding="utf-8")
            git(repo, "add", "-A")
            when = int(start + month * 30 * 86400 + number * 86400 * 30 / commits)
            git(repo, "commit", "-q", "--allow-empty", "-m", f"Rule updates {month}.{number}", when=f"@{when} +0000")
            count += 1
    return count


def build(repo: Path, cache: Path, out: Path, *extra: str) -> tuple[float, dict[str, float], str]:
    """One `atc build` in the repository: wall time, stage times, the history line."""
    started = time.perf_counter()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "atc",
            "build",
            "--cache-dir",
            str(cache),
            "--docs-dir",
            str(out / "docs"),
            "--site-dir",
            str(out / "site"),
            *extra,
        ],
        cwd=repo,
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - started
    summary = next((line for line in done.stderr.splitlines() if line.startswith("summary:")), "")
    if not summary:
        sys.exit(f"build failed:\n{done.stderr[-2000:]}")
    history = next((line for line in done.stderr.splitlines() if line.startswith("history:") and "old revisions" in line), "")
    return wall, {k: float(v) for k, v in _STAGE.findall(summary)}, history


def size_mb(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", nargs="?", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--months", type=int, default=6)
    parser.add_argument("--commits", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--jobs", default="2")
    parser.add_argument("--keep", type=Path, help="make the repository here and keep it")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="atc-history-bench-"))
    repo = args.keep or tmp / "kb"
    repo.mkdir(parents=True, exist_ok=True)
    try:
        started = time.perf_counter()
        commits = make_history(args.corpus, repo, args.months, args.commits) if not (repo / ".git").exists() else 0
        print(f"repository: {repo}, {commits} commits made in {time.perf_counter() - started:.0f} s")
        common = ["--jobs", args.jobs]  # not --quiet: the history line counts the conversions of old revisions
        nosite = [*common, "--no-site"]
        for label, extra in (("with history", []), ("--no-history", ["--no-history"])):
            cache = tmp / f"cache-{len(extra)}"
            wall, stages, line = build(repo, cache, tmp / "out", *nosite, *extra)
            print(f"cold --no-site {label}: {wall:.1f} s; stages {stages}; {line}")
            runs = [build(repo, cache, tmp / "out", *nosite, *extra) for _ in range(args.repeat + 1)][
                1:
            ]  # the first re-renders after the other mode
            walls = sorted(run[0] for run in runs)
            print(f"warm --no-site {label}: median {statistics.median(walls):.2f} s of {[f'{w:.2f}' for w in walls]}; stages {runs[0][1]}")
        for label, extra in (("with history", []), ("--no-history", ["--no-history"])):
            out = tmp / f"site{len(extra)}"
            wall, stages, _ = build(repo, tmp / "cache-0", out, *common, *extra)
            print(
                f"site {label}: {wall:.1f} s (site stage {stages.get('site', 0):.1f} s); docs {size_mb(out / 'docs'):.1f} MB, site {size_mb(out / 'site'):.1f} MB, "
                f"search index {size_mb(out / 'site' / 'search'):.2f} MB"
            )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
