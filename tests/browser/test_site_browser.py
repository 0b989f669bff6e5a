"""The built default site in headless Chromium: search, the rule index filter, copy buttons, the matrix."""

from __future__ import annotations

import json
import re
import time
import urllib.request
from pathlib import Path

import pytest

from tests.browser.conftest import chromium_path, screenshot
from tests.conftest import SEED_SLUG

pytest.importorskip("playwright.sync_api", reason="browser tests skipped: the playwright package is not installed (make test installs it)")
if chromium_path() is None:
    pytest.skip(
        "browser tests skipped: no Chromium at /usr/bin/chromium (apt-get install chromium; .ci/run tries)", allow_module_level=True
    )

from playwright.sync_api import Browser, Page, expect

SEED_TITLE = "Suspicious PsExec Execution"


def _search(page: Page, site_url: str, query: str) -> None:
    """Open the home page and type a query into mkdocs-material's search box."""
    page.goto(site_url)
    _type_search(page, query)
    expect(page.locator(".md-search-result__item").first).to_be_visible()


def _type_search(page: Page, query: str) -> None:
    """Type into the search box key by key: mkdocs-material searches on key events."""
    search = page.locator("input.md-search__input")
    search.click()
    search.press_sequentially(query, delay=20)


def _visible_rows(page: Page) -> list[list[str]]:
    """The cells' text of the rule index rows that the filter shows."""
    return page.eval_on_selector_all(
        "article table tbody tr:not([hidden])", "rows => rows.map(row => Array.from(row.cells, cell => cell.textContent.trim()))"
    )


def test_home_page_shows_the_numbers_and_entry_points(page: Page, site_url: str) -> None:
    page.goto(site_url)
    content = page.locator("article")
    expect(content.get_by_role("link", name="Detection rules").first).to_be_visible()
    expect(content).to_contain_text("ATT&CK techniques covered")
    screenshot(page, "home")


def test_search_psexec_reaches_the_seed_rule_page(page: Page, site_url: str) -> None:
    _search(page, site_url, "psexec")
    result = page.locator(f".md-search-result__item a[href*='{SEED_SLUG}']").first
    expect(result).to_be_visible()
    result.click()
    expect(page).to_have_url(re.compile(re.escape(f"{site_url}Detection_Rules/{SEED_SLUG}/")))
    expect(page.locator("article table").first).to_contain_text(SEED_TITLE)
    screenshot(page, "seed-rule")


def test_search_technique_id_finds_the_seed_rule(page: Page, site_url: str) -> None:
    _search(page, site_url, "T1021.002")
    expect(page.locator(f".md-search-result__item a[href*='{SEED_SLUG}']").first).to_be_visible()


def test_rule_index_filters_by_tactic_and_level(page: Page, site_url: str) -> None:
    page.goto(f"{site_url}Detection_Rules/")
    form = page.locator("#atc-rule-filter form")
    expect(form).to_be_visible()
    total = len(_visible_rows(page))
    expect(page.locator(".atc-rule-filter__count")).to_have_text(f"{total} of {total} rules")

    form.locator("select[name='tactics']").select_option("Lateral Movement")
    by_tactic = _visible_rows(page)
    assert 0 < len(by_tactic) < total
    assert all("Lateral Movement" in row[5] for row in by_tactic)
    assert any(row[0] == SEED_TITLE for row in by_tactic)

    form.locator("select[name='level']").select_option("high")
    both = _visible_rows(page)
    assert both and all(row[1] == "high" and "Lateral Movement" in row[5] for row in both)
    assert page.eval_on_selector_all(
        "article table tbody tr[hidden]", "rows => rows.length > 0 && rows.every(row => row.offsetHeight === 0)"
    )
    expect(page.locator(".atc-rule-filter__count")).to_have_text(f"{len(both)} of {total} rules")

    form.locator("button[type='reset']").click()
    expect(page.locator(".atc-rule-filter__count")).to_have_text(f"{total} of {total} rules")
    form.locator("input[name='text']").fill("t1021.002")
    expect(page.locator(".atc-rule-filter__count")).not_to_have_text(f"{total} of {total} rules")
    assert [row[0] for row in _visible_rows(page)] == [SEED_TITLE]
    form.locator("button[type='reset']").click()
    screenshot(page, "rule-index")


def test_rule_index_text_search_uses_rules_json(page: Page, site_url: str) -> None:
    seed = next(entry for entry in json.load(urllib.request.urlopen(f"{site_url}rules.json")) if entry["slug"] == SEED_SLUG)
    page.goto(f"{site_url}Detection_Rules/")
    text = page.locator("#atc-rule-filter input[name='text']")
    expect(text).to_be_visible()
    deadline = time.monotonic() + 10
    while True:  # rules.json arrives after the table is usable
        text.fill(seed["id"])
        page.wait_for_timeout(300)
        if [row[0] for row in _visible_rows(page)] == [SEED_TITLE] or time.monotonic() > deadline:
            break
    assert [row[0] for row in _visible_rows(page)] == [SEED_TITLE]


def test_rule_index_works_through_instant_navigation(page: Page, site_url: str) -> None:
    page.goto(site_url)
    page.locator("article").get_by_role("link", name="Detection rules").first.click()
    expect(page.locator("#atc-rule-filter form")).to_be_visible()


def test_copy_button_copies_the_splunk_query(page: Page, site_url: str) -> None:
    page.goto(f"{site_url}Detection_Rules/{SEED_SLUG}/")
    block = page.locator("h3#splunk ~ pre").first
    expected = block.locator("code").inner_text()
    block.hover()
    block.locator("button[data-md-type='copy']").click()
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied.strip() == expected.strip()
    assert "5145" in copied and "PSEXESVC" in copied


def test_rule_page_has_log_source_fields_and_related_sections(page: Page, site_url: str) -> None:
    page.goto(f"{site_url}Detection_Rules/{SEED_SLUG}/")
    for heading in ("Log source", "Fields", "Related rules"):
        expect(page.locator("article h2", has_text=heading)).to_be_visible()
    expect(page.locator("article")).to_contain_text("RelativeTargetName")


def test_matrix_shows_the_covered_techniques(page: Page, site_url: str) -> None:
    entries = json.load(urllib.request.urlopen(f"{site_url}rules.json"))
    covered = {technique["counts_as"] for entry in entries for technique in entry["techniques"] if technique["counts_as"]}
    page.goto(f"{site_url}ATTACK/matrix/")
    shaded = page.eval_on_selector_all(
        ".atc-matrix .atc-cell:not(.atc-level-0)", "cells => cells.map(cell => cell.textContent.trim().split(' ')[0])"
    )
    assert covered and covered <= set(shaded)
    screenshot(page, "matrix")


def test_offline_site_works_from_the_file_system(page: Page, offline_site: Path) -> None:
    page.goto((offline_site / "index.html").as_uri())
    page.locator("article").get_by_role("link", name="Detection rules").first.click()
    expect(page).to_have_url((offline_site / "Detection_Rules" / "index.html").as_uri())
    page.locator("#atc-rule-filter select[name='level']").select_option("high")
    rows = _visible_rows(page)
    assert rows and all(row[1] == "high" for row in rows)
    _type_search(page, "psexec")
    expect(page.locator(f".md-search-result__item a[href*='{SEED_SLUG}']").first).to_be_visible()


def test_rule_index_without_javascript_lists_every_rule(browser: Browser, site_url: str) -> None:
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    entries = json.load(urllib.request.urlopen(f"{site_url}rules.json"))
    page.goto(f"{site_url}Detection_Rules/")
    expect(page.locator("#atc-rule-filter")).to_be_hidden()
    assert page.locator("article table tbody tr").count() == len(entries)
    context.close()


def test_rule_index_filters_and_sorts_by_last_change(page: Page, site_url: str) -> None:
    page.goto(f"{site_url}Detection_Rules/")
    headers = page.eval_on_selector_all("article table thead th", "cells => cells.map(cell => cell.textContent.trim())")
    if "Last changed" not in headers:
        pytest.skip("the default knowledge base is not in a git checkout here: no history column")
    column = headers.index("Last changed")
    form = page.locator("#atc-rule-filter form")
    expect(form.locator("select[name='changed']")).to_be_visible()
    total = len(_visible_rows(page))

    form.locator("select[name='sort']").select_option("oldest")
    dates = [row[column] for row in _visible_rows(page)]
    assert dates == sorted(dates) and len(dates) == total
    form.locator("select[name='sort']").select_option("newest")
    dates = [row[column] for row in _visible_rows(page)]
    assert dates == sorted(dates, reverse=True)

    now_ms = page.evaluate("Date.now()")
    for days in ("7", "365"):
        form.locator("select[name='changed']").select_option(days)
        since = time.strftime("%Y-%m-%d", time.gmtime(now_ms / 1000 - int(days) * 86400))
        shown = [row[column] for row in _visible_rows(page)]
        expected = [date for date in dates if date and date >= since]  # dates at UTC midnight: the same day counts
        assert len(shown) == len(expected) and all(date >= since for date in shown)
    form.locator("button[type='reset']").click()
    expect(page.locator(".atc-rule-filter__count")).to_have_text(f"{total} of {total} rules")
