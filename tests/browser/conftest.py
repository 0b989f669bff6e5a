"""Browser fixtures: the default site built once and served on localhost, and headless Chromium through Playwright."""

from __future__ import annotations

import functools
import shutil
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from atc.settings import REPO_ROOT
from tests.site_build import build_default_site

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SCREENSHOTS = REPO_ROOT / "tests" / "artifacts" / "screenshots"

if TYPE_CHECKING:
    from playwright.sync_api import Browser, ConsoleMessage, Page


def chromium_path() -> str | None:
    """Debian's Chromium, or any `chromium` on PATH."""
    return str(CHROMIUM) if CHROMIUM.is_file() else shutil.which("chromium")


class _QuietHandler(SimpleHTTPRequestHandler):
    """Serves the site folder without logging every request."""

    def log_message(self, format: str, *args: Any) -> None:
        return


def _serve(folder: Path) -> Iterator[str]:
    """Serve a folder on a free port of 127.0.0.1 in a thread; yields the base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="session")
def site_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The default knowledge base's site, built with --strict and served over http."""
    yield from _serve(build_default_site(tmp_path_factory.mktemp("browser-site")))


@pytest.fixture(scope="session")
def offline_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default knowledge base's site built with the offline switch, to open from the file system."""
    return build_default_site(tmp_path_factory.mktemp("offline-site"), offline=True)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """Headless Chromium, started once for the session."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


class ConsoleLog:
    """Console errors and uncaught exceptions of a page, with the URL they came from."""

    def __init__(self, page: Page) -> None:
        self.errors: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.errors.append(f"{page.url}: uncaught {error}"))
        self.page = page

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.errors.append(f"{self.page.url}: {message.text}")


def checked_page(browser: Browser, **context_options: Any) -> Iterator[Page]:
    """A fresh page in its own browser context (a fixture body); the test fails on any console error of the pages it visited."""
    context = browser.new_context(**context_options)
    page = context.new_page()
    page.set_default_timeout(15_000)
    log = ConsoleLog(page)
    yield page
    context.close()
    assert not log.errors, "console errors:\n" + "\n".join(log.errors)


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh page that may read the clipboard."""
    yield from checked_page(browser, viewport={"width": 1280, "height": 900}, permissions=["clipboard-read", "clipboard-write"])


def screenshot(page: Page, name: str) -> Path:
    """Save a full-page screenshot under tests/artifacts/screenshots/."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=False)
    return path
