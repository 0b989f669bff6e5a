"""`atc serve` in headless Chromium: an edited rule shows up in the open page, which reloads by itself."""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from atc.settings import REPO_ROOT
from tests.browser.conftest import chromium_path, screenshot
from tests.conftest import SEED_SLUG

pytest.importorskip("playwright.sync_api", reason="browser tests skipped: the playwright package is not installed (make test installs it)")
if chromium_path() is None:
    pytest.skip(
        "browser tests skipped: no Chromium at /usr/bin/chromium (apt-get install chromium; .ci/run tries)", allow_module_level=True
    )

from playwright.sync_api import Browser, expect

SEED_FILE = "windows/security/win_security_susp_psexec_execution.yml"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Served:
    """A running `atc serve` over a copy of the default rules, with its output kept."""

    def __init__(self, root: Path) -> None:
        self.rules, self.port, self.lines = root / "rules", _free_port(), []
        shutil.copytree(REPO_ROOT / "rules", self.rules)
        command = [
            sys.executable,
            "-m",
            "atc",
            "serve",
            "--rules",
            str(self.rules),
            "-a",
            f"127.0.0.1:{self.port}",
            "-j",
            "2",
            "--docs-dir",
            str(root / "docs"),
            "--site-dir",
            str(root / "site"),
            "--cache-dir",
            str(root / "cache"),
        ]
        self.process = subprocess.Popen(command, cwd=root, stderr=subprocess.STDOUT, stdout=subprocess.PIPE, text=True)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)

    def wait_for(self, text: str, timeout: float = 180, since: int = 0) -> None:
        """Wait until the server printed text (in its lines from number `since` on)."""
        deadline = time.monotonic() + timeout
        while not any(text in line for line in self.lines[since:]):
            assert self.process.poll() is None, "".join(self.lines)[-3000:]
            assert time.monotonic() < deadline, "".join(self.lines)[-3000:]
            time.sleep(0.1)

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    server = Served(tmp_path)
    try:
        server.wait_for("serve: http://")
        yield server
    finally:
        server.stop()


def _settle(served: Served, timeout: float = 120) -> None:
    """Wait until the server's rounds are over: its last line says it rebuilt, and nothing more for two seconds."""
    deadline = time.monotonic() + timeout
    seen = -1
    while seen != len(served.lines) or not served.lines[-1].startswith("serve: rebuilt"):
        assert time.monotonic() < deadline, "".join(served.lines)[-3000:]
        seen = len(served.lines)
        time.sleep(2)


def test_an_edited_rule_reloads_its_open_page(browser: Browser, served: Served) -> None:
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.goto(f"http://127.0.0.1:{served.port}/Detection_Rules/{SEED_SLUG}/")
    expect(page.locator("article")).to_contain_text("detects execution of psexec")
    rule = served.rules / SEED_FILE
    before = len(served.lines)
    edited = time.monotonic()
    rule.write_text(
        rule.read_text(encoding="utf-8").replace("detects execution of psexec", "detects every run of psexec"), encoding="utf-8"
    )
    expect(page.locator("article")).to_contain_text("detects every run of psexec", timeout=120_000)  # no navigation: live reload
    seconds = time.monotonic() - edited
    served.wait_for("the edited rules' 1 pages made in", since=before)  # the rule's page first, alone
    served.wait_for("summary: ", since=before)  # then the whole pipeline
    last = [line for line in served.lines if line.startswith("write: ")][-1]
    assert 1 <= int(last.split()[1]) < 10, last  # the edited rule's page and the exports showing its description, not every page
    _settle(served)
    rounds = sum(line.startswith("serve: rebuilt") for line in served.lines)
    time.sleep(3)  # the build reads every rule: reading is no change, and no round follows by itself
    assert sum(line.startswith("serve: rebuilt") for line in served.lines) == rounds, "".join(served.lines)[-2000:]
    screenshot(page, "serve-reloaded")
    context.close()
    print(f"edit visible after {seconds:.1f} s")
