"""Benchmark `atc build` over a Sigma corpus: bare pySigma loop, cold, warm, one-rule edits and site build (medians).

    .venv/bin/python bench/build_bench.py [CORPUS] [--folders GLOB] [--repeat N] [--jobs N] [--targets LIST] [--work-dir DIR] [--no-site] [--no-baseline] [--no-edits]

CORPUS defaults to ../shared/corpora/sigma; its rules*/ folders are used (deprecated/ is not), or those --folders names.
Each cold build runs right after the bare loops on the same cores; the ratio of each such pair is printed with the machine's
load average (other work on the machine moves both sides of a pair alike, so the ratios are steadier than the times).
The bare loop is timed two ways: its conversions alone (the clock starts after it has read every rule with the C YAML
loader) and as a whole process, the way `atc build` is timed (interpreter start, imports, each worker reading its rule
files, converting).
Not part of the test suite: it takes minutes on the full corpus.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_CORPUS = REPO.parent / "shared" / "corpora" / "sigma"
ATC = [sys.executable, "-m", "atc", "build", "--quiet"]
_STAGE = re.compile(r"\b(load|link|convert|verify|render|write|site) ([\d.]+) s\b")
_COUNTS = re.compile(r"summary: (\d+) rules, (\d+) pages, (\d+) written; conversions (\d+) done, (\d+) cached")


@dataclass
class Run:
    """One measured `atc build`: wall time, stage times, counts, peak memory of its largest process."""

    wall: float
    stages: dict[str, float] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    peak_mb: float = 0.0


def rule_folders(corpus: Path, pattern: str = "rules*") -> list[Path]:
    """The corpus's rule folders (rules*/ by default)."""
    return sorted(p for p in corpus.glob(pattern) if p.is_dir())


def load_average() -> str:
    """The machine's load averages over 1, 5 and 15 minutes."""
    return " ".join(f"{value:.1f}" for value in os.getloadavg())


def run_build(args: list[str]) -> Run:
    """Run one build in a child process and measure it (ru_maxrss of the child tree's largest process)."""
    started = time.perf_counter()
    child = subprocess.Popen([*ATC, *args], cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    assert child.stderr is not None
    stderr = child.stderr.read()
    _, status, usage = os.wait4(child.pid, 0)  # this child's tree only, unlike RUSAGE_CHILDREN
    child.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - started
    summary = next((line for line in stderr.splitlines() if line.startswith("summary:")), "")
    if not summary:
        sys.exit(f"build failed:\n{stderr[-2000:]}")
    counts = dict(zip(("rules", "pages", "written", "converted", "cached"), map(int, _COUNTS.search(summary).groups())))
    run = Run(wall, {k: float(v) for k, v in _STAGE.findall(summary)}, counts)
    run.peak_mb = usage.ru_maxrss / 1024
    return run


_worker_backends: dict = {}


def _init_worker(keys: tuple[str, ...]) -> None:
    from atc.convert.targets import BY_KEY, make_backend

    for key in keys:
        _worker_backends[key] = make_backend(BY_KEY[key])


def _bare_convert(data: dict) -> int:
    """Convert one rule with every backend the plain way (fresh rule object per backend); the count of queries."""
    from sigma.rule import SigmaRule

    done = 0
    for backend in _worker_backends.values():
        try:
            done += len(backend.convert_rule(SigmaRule.from_dict(data)))
        except Exception:  # a failing conversion is part of the loop's work, as in atc
            pass
    return done


def bare_loop(folders: list[Path], processes: int, targets: tuple[str, ...] | None = None) -> float:
    """Seconds for a plain pySigma loop (C YAML loader, one backend per target per process) over the rules."""
    import yaml

    from atc.convert.targets import DEFAULT_TARGETS

    targets = targets or DEFAULT_TARGETS
    rules = []
    for folder in folders:
        for path in sorted(folder.rglob("*.yml")):
            data = yaml.load(path.read_text(encoding="utf-8"), Loader=yaml.CSafeLoader)
            if isinstance(data, dict) and "detection" in data:
                rules.append(data)
    started = time.perf_counter()
    if processes == 1:
        _init_worker(targets)
        for data in rules:
            _bare_convert(data)
    else:
        with get_context("fork").Pool(processes, _init_worker, (targets,)) as pool:
            list(pool.imap_unordered(_bare_convert, rules, chunksize=8))
    return time.perf_counter() - started


def _read_and_convert(path: Path) -> int:
    """Read one rule file and convert it with every backend (see _bare_convert); 0 for a file that is not a rule."""
    import yaml

    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=yaml.CSafeLoader)
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return 0
    return _bare_convert(data) if isinstance(data, dict) and "detection" in data else 0


def whole_loop(folders: list[Path], processes: int, targets: tuple[str, ...] | None = None) -> int:
    """The plain script a user would write, timed from outside as a whole process: each worker reads, parses and converts its files."""
    from atc.convert.targets import DEFAULT_TARGETS

    paths = sorted(path for folder in folders for path in folder.rglob("*.yml"))
    with get_context("fork").Pool(processes, _init_worker, (targets or DEFAULT_TARGETS,)) as pool:
        return sum(pool.imap_unordered(_read_and_convert, paths, chunksize=8))


def _bare_in_child(folders: list[Path], processes: int, targets: str | None, whole: bool = False) -> float:
    """The bare loop in a fresh interpreter (no backend imported or cached yet): seconds of its conversions, or with
    `whole` of the whole process (start-up and reading the rules included, as atc's builds are timed)."""
    mode = "--bare-whole" if whole else "--bare"
    command = [sys.executable, __file__, mode, str(processes), *(["--targets", targets] if targets else []), *map(str, folders)]
    started = time.perf_counter()
    out = subprocess.run(command, cwd=REPO, check=True, capture_output=True, text=True).stdout
    return time.perf_counter() - started if whole else float(out.split()[-1])


def size_mb(path: Path) -> float:
    """Total size of the files below path, in MB."""
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 1e6


def med(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def edit_one_rule(folder: Path, number: int, key: str = "description") -> Path:
    """Change one rule's one-line plain description or title (a different text each time)."""
    plain = re.compile(rf"^{key}: ([^|>'\"\s].*)$", re.M)
    paths = sorted(folder.rglob("*.yml"))
    for path in paths[len(paths) // 2 :] + paths:
        text = path.read_text(encoding="utf-8")
        if plain.search(text):
            path.write_text(plain.sub(lambda m: f"{key}: {m.group(1)} (bench edit {number})", text, count=1), encoding="utf-8")
            return path
    sys.exit(f"{folder}: no rule with a one-line {key} to edit")


def serve_latency(rules_args: list[str], docs: Path, cache: Path, site: Path, folder: Path, number: int, jobs: int) -> float:
    """Seconds from a rule edit until `atc serve` (already up, built) serves the edited page."""
    import json
    import socket
    import threading
    import urllib.request

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [
        sys.executable,
        "-m",
        "atc",
        "serve",
        *rules_args,
        "--docs-dir",
        str(docs),
        "--cache-dir",
        str(cache),
        "--site-dir",
        str(site),
        "-a",
        f"127.0.0.1:{port}",
        "--jobs",
        str(jobs),
    ]
    child = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(child.stdout or []), daemon=True).start()
    try:
        while not any("serve: http://" in line for line in lines):
            if child.poll() is not None:
                sys.exit("atc serve stopped:\n" + "".join(lines)[-2000:])
            time.sleep(0.1)
        slugs = sorted(entry["slug"] for entry in json.loads((docs / "rules.json").read_text(encoding="utf-8")))
        path = edit_one_rule(folder, number)
        started = time.perf_counter()
        slug = (
            path.stem if path.stem in slugs else next(slug for slug in slugs if slug.startswith(f"{path.stem}_"))
        )  # a page name made unique
        url, marker = f"http://127.0.0.1:{port}/Detection_Rules/{slug}/", f"(bench edit {number})"
        while marker not in urllib.request.urlopen(url).read().decode():
            if time.perf_counter() - started > 300:
                sys.exit("atc serve: the edit did not show within 300 s")
            time.sleep(0.05)
        return time.perf_counter() - started
    finally:
        child.terminate()
        child.wait(timeout=60)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("corpus", nargs="?", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--folders", dest="pattern", default="rules*", help="which folders of the corpus (a glob; default rules*)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--no-site", action="store_true", help="skip the site build measurement")
    parser.add_argument("--no-baseline", action="store_true", help="skip the bare pySigma loop")
    parser.add_argument("--targets", metavar="LIST", help="comma-separated targets for atc and the bare loop (default: all 12)")
    parser.add_argument("--no-edits", action="store_true", help="cold (and bare) runs only: no warm, edit, site or serve runs")
    parser.add_argument("--no-exports", action="store_true", help="atc without deploy exports: the same conversions as the bare loop")
    parser.add_argument("--no-serial", action="store_true", help="no bare loop in one process (the pairs use the one on --jobs processes)")
    parser.add_argument(
        "--work-dir", type=Path, help="where the copied corpus and the builds' output go (default: the system's temporary folder)"
    )
    parser.add_argument("--bare", type=int, metavar="PROCESSES", help=argparse.SUPPRESS)  # internal: run the bare loop
    parser.add_argument("--bare-whole", type=int, metavar="PROCESSES", help=argparse.SUPPRESS)  # internal: the plain script
    parser.add_argument("folders", nargs="*", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.bare:  # the rule folders are the positional arguments, corpus included
        print(f"{bare_loop([args.corpus, *args.folders], args.bare, tuple(args.targets.split(',')) if args.targets else None):.3f}")
        return 0
    if args.bare_whole:
        print(whole_loop([args.corpus, *args.folders], args.bare_whole, tuple(args.targets.split(",")) if args.targets else None))
        return 0
    if not args.corpus.is_dir():
        parser.error(f"{args.corpus}: corpus not found")
    cores = os.cpu_count() or 1
    work = Path(tempfile.mkdtemp(prefix="atc-bench-", dir=args.work_dir))
    try:
        for folder in rule_folders(args.corpus, args.pattern):
            shutil.copytree(folder, work / "corpus" / folder.name)
        folders = rule_folders(work / "corpus", args.pattern)
        rules_args = [arg for folder in folders for arg in ("--rules", str(folder))] + (["--targets", args.targets] if args.targets else [])
        rules_args += ["--no-exports"] if args.no_exports else []
        print(
            f"corpus {args.corpus} ({', '.join(f.name for f in folders)}), {cores} cores, jobs {args.jobs}, {args.repeat} runs each",
            flush=True,
        )

        serial, pooled, pairs, whole, whole_pairs = [], [], [], [], []

        def build(name: str, *extra: str) -> Run:
            run = run_build([*rules_args, "--jobs", str(args.jobs), *extra])
            stages = " ".join(f"{k} {v:.2f}" for k, v in run.stages.items())
            print(f"  {name}: {run.wall:.2f} s ({stages}) {run.counts} peak {run.peak_mb:.0f} MB", flush=True)
            return run

        cold, warm, edit, retitle, site, warm_site, edit_site, serve_edit = [], [], [], [], [], [], [], []
        for number in range(args.repeat):  # interleaved with the bare loop: the machine's speed drifts
            if not args.no_baseline:
                if not args.no_serial:
                    serial.append(_bare_in_child(folders, 1, args.targets))
                    print(f"  bare loop: 1 process {serial[-1]:.1f} s (load {load_average()})", flush=True)
                pooled.append(_bare_in_child(folders, args.jobs, args.targets))
                print(f"  bare loop: {args.jobs} processes {pooled[-1]:.1f} s (load {load_average()})", flush=True)
                whole.append(_bare_in_child(folders, args.jobs, args.targets, whole=True))
                print(f"  bare loop as a whole process: {args.jobs} processes {whole[-1]:.1f} s (load {load_average()})", flush=True)
            out = work / f"cold{number}"
            cold.append(build("cold", "--no-site", "--docs-dir", str(out / "docs"), "--cache-dir", str(out / "cache")))
            if pooled:
                pairs.append(cold[-1].wall / pooled[-1])
                whole_pairs.append(cold[-1].wall / whole[-1])
                print(
                    f"  pair {number}: cold / bare loop in {args.jobs} processes = {pairs[-1]:.2f}, "
                    f"/ its whole process = {whole_pairs[-1]:.2f} (load {load_average()})",
                    flush=True,
                )
        if args.no_edits:
            args.repeat, args.no_site = 0, True
        docs, cache = work / "cold0" / "docs", work / "cold0" / "cache"
        for _ in range(args.repeat):
            warm.append(build("warm", "--no-site", "--docs-dir", str(docs), "--cache-dir", str(cache)))
        for number in range(args.repeat):
            edit_one_rule(folders[0], number)
            edit.append(build("one-rule edit", "--no-site", "--docs-dir", str(docs), "--cache-dir", str(cache)))
        for number in range(args.repeat):  # a new title reaches every list, index and export showing the rule
            edit_one_rule(folders[0], number, "title")
            retitle.append(build("one rule retitled", "--no-site", "--docs-dir", str(docs), "--cache-dir", str(cache)))
        site_sizes, index_sizes = [], []
        if not args.no_site:
            for number in range(args.repeat):
                site_dir = work / f"site{number}"
                site.append(build("site", "--docs-dir", str(docs), "--cache-dir", str(cache), "--site-dir", str(site_dir)))
                site_sizes.append(size_mb(site_dir))
                index_sizes.append((site_dir / "search" / "search_index.json").stat().st_size / 1e6)
                if number < args.repeat - 1:
                    shutil.rmtree(site_dir)
            site_dir = work / f"site{args.repeat - 1}"  # the incremental site build: the last full site stays
            for _ in range(args.repeat):
                warm_site.append(build("warm with site", "--docs-dir", str(docs), "--cache-dir", str(cache), "--site-dir", str(site_dir)))
            for number in range(args.repeat):
                edit_one_rule(folders[0], 100 + number)
                edit_site.append(
                    build("one-rule edit with site", "--docs-dir", str(docs), "--cache-dir", str(cache), "--site-dir", str(site_dir))
                )
            for number in range(args.repeat):
                serve_edit.append(serve_latency(rules_args, docs, cache, site_dir, folders[0], 200 + number, args.jobs))
                print(f"  serve: edit visible after {serve_edit[-1]:.2f} s", flush=True)

        print("\nmedians")
        print("| measurement | seconds | notes |")
        print("|:--|--:|:--|")
        if serial:
            print(f"| bare pySigma loop, 1 process | {med(serial):.1f} | / {cores} cores = {med(serial) / cores:.1f} s |")
        if pooled:
            print(f"| bare pySigma loop, {args.jobs} processes | {med(pooled):.1f} | its conversions alone |")
        if whole:
            print(
                f"| bare pySigma loop, {args.jobs} processes, whole process | {med(whole):.1f} | start-up and reading the rules included |"
            )
        for name, runs in (
            ("cold --no-site", cold),
            ("warm, nothing changed", warm),
            ("one rule edited (description)", edit),
            ("one rule retitled", retitle),
            ("full site build (warm docs, new site folder)", site),
            ("warm with site, nothing changed", warm_site),
            ("one rule edited, with site", edit_site),
        ):
            if not runs:
                continue
            stages = ", ".join(f"{k} {med([r.stages.get(k, 0.0) for r in runs]):.2f}" for k in runs[0].stages)
            counts = runs[-1].counts
            print(
                f"| {name} | {med([r.wall for r in runs]):.2f} | {stages}; pages written {counts['written']}, converted {counts['converted']}, cached {counts['cached']}; peak {med([r.peak_mb for r in runs]):.0f} MB |"
            )
        rate = med([r.counts["converted"] / r.stages["convert"] for r in cold if r.stages.get("convert")])
        print(f"\nconversions per second (cold): {rate:.0f}")
        if serial:
            print(f"cold --no-site / (bare loop / {cores} cores): {med([r.wall for r in cold]) / (med(serial) / cores):.2f}")
        if pooled:
            print(f"cold --no-site / bare loop in {args.jobs} processes: {med([r.wall for r in cold]) / med(pooled):.2f}")
            print(f"the same, median of the {len(pairs)} pairs: {med(pairs):.2f} ({', '.join(f'{r:.2f}' for r in pairs)})")
            print(
                f"cold --no-site / bare loop as a whole process, median of the {len(whole_pairs)} pairs: {med(whole_pairs):.2f} "
                f"({', '.join(f'{r:.2f}' for r in whole_pairs)})"
            )
        if serve_edit:
            print(f"atc serve, one rule edited until the served page shows it: {med(serve_edit):.2f} s (median of {len(serve_edit)})")
        if site:
            print(f"site: {med(site_sizes):.0f} MB, search index {med(index_sizes):.1f} MB")
        print(f"peak memory (largest process, any build): {max(r.peak_mb for r in cold + warm + edit + retitle + site):.0f} MB")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
