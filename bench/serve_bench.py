"""Measure `atc serve`: from a rule file's write to the new HTML page on disk (and to the reloaded page in Chromium).

    .venv/bin/python bench/serve_bench.py WORK [--edits 5] [--browser] [--targets LIST] [--jobs 2]

WORK holds (or gets) `corpus/` (a copy of ../shared/corpora/sigma/rules*) and the outputs `docs/`, `site/`, `cache/`;
a first `atc serve` builds them, later runs start warm. Each edit appends " (serve edit N)" to one rule's title.
Not part of the test suite: the first build of SigmaHQ takes minutes.
"""

from __future__ import annotations

import argparse
import re
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CORPUS = REPO.parent / "shared" / "corpora" / "sigma"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync"]
_TITLE = re.compile(r"^title: ([^|>'\"\s].*)$", re.M)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _rules(corpus: Path, count: int) -> list[Path]:
    """Rules with a plain one-line title, spread over the corpus (one per edit)."""
    paths = [path for path in sorted(corpus.rglob("*.yml")) if _TITLE.search(path.read_text(encoding="utf-8"))]
    step = max(1, len(paths) // count)
    return paths[step // 2 :: step][:count]


def _page(site: Path, rule: Path) -> Path:
    """The HTML page of a rule: the page whose Markdown names the rule's file."""
    docs = site.parent / "docs" / "Detection_Rules"
    exact = docs / f"{rule.stem}.md"
    if exact.is_file():
        return site / "Detection_Rules" / rule.stem / "index.html"
    found = next(path for path in sorted(docs.glob(f"{rule.stem}_*.md")) if rule.name in path.read_text(encoding="utf-8"))
    return site / "Detection_Rules" / found.stem / "index.html"


def _settled(lines: list[str]) -> bool:
    """Whether the server finished an edit's rounds: a summary, and a last round that left no pages waiting."""
    sites = [line for line in lines if line.startswith("site:")]
    return (
        any(line.startswith("summary:") for line in lines) and bool(sites) and "follow" not in sites[-1] and lines[-1].startswith("serve:")
    )


def _open(page: object, url: str) -> None:
    """Open the rule's page for the next edit: the open page may still be reloading after the last round (live reload
    interrupts a navigation then), so try again."""
    from playwright.sync_api import Error

    for attempt in range(5):
        try:
            page.goto(url, wait_until="load")  # type: ignore[attr-defined]
            return
        except Error:
            if attempt == 4:
                raise
            time.sleep(1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("work", type=Path)
    parser.add_argument("--edits", type=int, default=5)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--targets", help="comma-separated targets (default: all)")
    parser.add_argument("--browser", action="store_true", help="also time the open page's reload in Chromium (Playwright)")
    args = parser.parse_args(argv)
    work: Path = args.work.resolve()
    corpus = work / "corpus"
    if not corpus.is_dir():
        for folder in sorted(CORPUS.glob("rules*")):
            shutil.copytree(folder, corpus / folder.name)
    port = _free_port()
    command = [sys.executable, "-m", "atc", "serve", "-a", f"127.0.0.1:{port}", "--jobs", str(args.jobs)]
    command += [arg for folder in sorted(corpus.glob("rules*")) for arg in ("--rules", str(folder))]
    command += ["--docs-dir", str(work / "docs"), "--site-dir", str(work / "site"), "--cache-dir", str(work / "cache")]
    command += ["--targets", args.targets] if args.targets else []
    lines: list[str] = []
    child = subprocess.Popen(command, cwd=work, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    threading.Thread(target=lambda: lines.extend(child.stdout or []), daemon=True).start()
    browser = page = playwright = None
    try:
        started = time.monotonic()
        while not any(line.startswith("serve: http://") for line in lines):
            if child.poll() is not None:
                sys.exit("atc serve stopped:\n" + "".join(lines)[-3000:])
            time.sleep(0.2)
        print(f"first build and start: {time.monotonic() - started:.1f} s", flush=True)
        if args.browser:
            from playwright.sync_api import sync_playwright

            playwright = sync_playwright().start()
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page()
        on_disk, in_browser = [], []
        for number, rule in enumerate(_rules(corpus, args.edits)):
            html = _page(work / "site", rule)
            marker = f"(serve edit {time.time():.0f}-{number})"
            if page is not None:
                _open(page, f"http://127.0.0.1:{port}/{html.parent.relative_to(work / 'site').as_posix()}/")
            seen = len(lines)
            text = rule.read_text(encoding="utf-8")
            rule.write_text(_TITLE.sub(lambda match, end=marker: f"title: {match.group(1)} {end}", text, count=1), encoding="utf-8")
            written = time.monotonic()
            while marker not in html.read_text(encoding="utf-8"):
                if time.monotonic() - written > 300:
                    sys.exit(f"{html}: the edit did not show within 300 s\n" + "".join(lines[seen:])[-3000:])
                time.sleep(0.02)
            on_disk.append(time.monotonic() - written)
            if page is not None:
                page.locator("article", has_text=marker).wait_for(timeout=300_000)  # no navigation here: live reload
                in_browser.append(time.monotonic() - written)
            while not _settled(lines[seen:]):  # the larger pages too: the next edit finds the server idle
                time.sleep(0.05)
            stages = next((line for line in lines[seen:] if line.startswith("summary:")), "").rpartition("problems:")[2]
            stages = ", ".join(part for part in stages.split(", ") if " s" in part)  # the stage times, not the problem counts
            site = " then ".join(line.strip() for line in lines[seen:] if line.startswith("site:"))
            shown = f", in the browser {in_browser[-1]:.2f} s" if in_browser else ""
            print(f"edit {number}: {rule.name}: on disk {on_disk[-1]:.2f} s{shown}; {site}; {stages.strip()}", flush=True)
        print(f"median of {len(on_disk)} edits, write to HTML on disk: {statistics.median(on_disk):.2f} s", flush=True)
        if in_browser:
            print(f"median of {len(in_browser)} edits, write to the reloaded page in Chromium: {statistics.median(in_browser):.2f} s")
    finally:
        if browser is not None:
            browser.close()
        if playwright is not None:
            playwright.stop()
        child.terminate()
        child.wait(timeout=120)
    return 0


if __name__ == "__main__":
    sys.exit(main())
