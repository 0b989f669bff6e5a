"""Site figures for bench/SITE.md: build a docs/ folder with mkdocs, size the result, and time the rule index filter.

atc build --rules ../shared/corpora/sigma/rules --docs-dir /tmp/x/docs --no-site
.venv/bin/python bench/site_bench.py /tmp/x/docs /tmp/x/site
"""

from __future__ import annotations

import argparse
import functools
import json
import statistics
import threading
import time
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from atc.settings import REPO_ROOT
from atc.site.mkdocs_adapter import build_site

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync"]
# one filter change, timed in the page from the event to the end of the next frame (layout and paint included)
TIME_CHANGE = """([selector, value, event]) => new Promise(resolve => {
  const field = document.querySelector(selector);
  const started = performance.now();
  field.value = value;
  field.dispatchEvent(new Event(event, {bubbles: true}));
  requestAnimationFrame(() => setTimeout(() => resolve([performance.now() - started,
    document.querySelector('.atc-rule-filter__count').textContent]), 0));
})"""


class _QuietHandler(SimpleHTTPRequestHandler):
    """Serves the site folder without logging every request."""

    def log_message(self, format: str, *args: Any) -> None:
        return


def _mib(size: int) -> str:
    return f"{size / 2**20:.1f} MiB"


def site_figures(site: Path) -> dict[str, str]:
    """Page count and sizes of a built site."""
    files = [path for path in site.rglob("*") if path.is_file()]
    return {
        "pages (HTML files)": str(sum(1 for path in files if path.suffix == ".html")),
        "site size": _mib(sum(path.stat().st_size for path in files)),
        "search index (search/search_index.json)": _mib((site / "search" / "search_index.json").stat().st_size),
        "rule index page (Detection_Rules/index.html)": _mib((site / "Detection_Rules" / "index.html").stat().st_size),
        "rules.json": _mib((site / "rules.json").stat().st_size),
    }


def filter_figures(site: Path, runs: int = 5) -> dict[str, str]:
    """Load the rule index in headless Chromium and time its filter."""
    from playwright.sync_api import sync_playwright

    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(site)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/Detection_Rules/"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            started = time.perf_counter()
            page.goto(url)
            page.wait_for_selector("#atc-rule-filter form")
            ready = time.perf_counter() - started
            rows = page.locator("article table tbody tr").count()
            level, text, reset = [], [], []
            for _ in range(runs):
                level.append(page.evaluate(TIME_CHANGE, ["#atc-rule-filter select[name=level]", "high", "change"]))
                reset.append(page.evaluate(TIME_CHANGE, ["#atc-rule-filter select[name=level]", "", "change"]))
                page.fill("#atc-rule-filter input[name=text]", "")
                started = time.perf_counter()
                page.fill("#atc-rule-filter input[name=text]", "t1059.001")
                page.wait_for_function(
                    "() => !document.querySelector('.atc-rule-filter__count').textContent.startsWith(document.querySelectorAll('article table tbody tr').length + ' of')"
                )
                text.append(time.perf_counter() - started)
                page.fill("#atc-rule-filter input[name=text]", "")
                page.wait_for_timeout(300)
            page.evaluate(TIME_CHANGE, ["#atc-rule-filter select[name=level]", "high", "change"])
            show_all = page.evaluate("""() => new Promise(resolve => {
              const started = performance.now();
              document.querySelector('.atc-rule-filter__more').click();
              requestAnimationFrame(() => setTimeout(() => resolve(performance.now() - started), 0));
            })""")
            browser.close()
    finally:
        server.shutdown()
    return {
        "rule index rows": str(rows),
        "rule index load to filter ready": f"{ready:.2f} s",
        "filter by level (high), event to next frame, median": f"{statistics.median([ms for ms, _ in level]):.0f} ms ({level[0][1]})",
        "clear the filter, event to next frame, median": f"{statistics.median([ms for ms, _ in reset]):.0f} ms",
        "show all matches (high), click to next frame": f"{show_all:.0f} ms",
        "type 't1059.001' until the count updates (150 ms debounce included), median": f"{statistics.median(text) * 1000:.0f} ms",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("docs", type=Path)
    parser.add_argument("site", type=Path)
    parser.add_argument("--config", type=Path, default=REPO_ROOT / "mkdocs.yml")
    parser.add_argument("--no-build", action="store_true", help="measure the site already built in SITE")
    args = parser.parse_args()
    figures: dict[str, str] = {}
    if not args.no_build:
        started = time.perf_counter()
        build_site(args.config, args.docs, args.site)
        figures["mkdocs build"] = f"{time.perf_counter() - started:.1f} s"
    figures.update({**site_figures(args.site), **filter_figures(args.site)})
    print(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()
