"""How the built default site looks in headless Chromium at 1400 px: charts, the matrix's width, unbroken ids, search titles."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from tests.browser.conftest import checked_page, chromium_path, screenshot

pytest.importorskip("playwright.sync_api", reason="browser tests skipped: the playwright package is not installed (make test installs it)")
if chromium_path() is None:
    pytest.skip(
        "browser tests skipped: no Chromium at /usr/bin/chromium (apt-get install chromium; .ci/run tries)", allow_module_level=True
    )

from playwright.sync_api import Browser, Page, expect

WIDTH = 1400
# the words of the matched elements that the browser laid out over more than one line box
BROKEN_WORDS = """elements => elements.flatMap(element => {
  const broken = [];
  const walker = document.createTreeWalker(element, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    for (const match of node.data.matchAll(/\\S+/g)) {
      const range = document.createRange();
      range.setStart(node, match.index);
      range.setEnd(node, match.index + match[0].length);
      const tops = new Set(Array.from(range.getClientRects(), rect => Math.round(rect.top)));
      if (tops.size > 1) broken.push(match[0]);
    }
  }
  return broken;
})"""


@pytest.fixture
def wide(browser: Browser) -> Iterator[Page]:
    """A page 1400 px wide, as a detection engineer's screen; the test fails on any console error."""
    yield from checked_page(browser, viewport={"width": WIDTH, "height": 900})


def test_home_page_charts_are_drawn_and_open_the_page_behind_them(wide: Page, site_url: str) -> None:
    wide.goto(site_url)
    charts = wide.locator("article .atc-chart svg:not(.atc-chart-narrow)")
    expect(charts).to_have_count(5)
    expect(wide.locator("article .atc-chart svg.atc-chart-narrow").first).to_be_hidden()
    for index in range(5):
        box = charts.nth(index).bounding_box()
        assert box and box["width"] > 300 and box["height"] > 40
    bars = wide.eval_on_selector_all("article .atc-chart rect.atc-shade-2", "rects => rects.map(rect => rect.getBBox().width)")
    assert bars and max(bars) > 100
    screenshot(wide, "home-charts")
    wide.locator("article .atc-chart svg a", has_text="Lateral Movement").first.click()
    expect(wide).to_have_url(re.compile(r"ATTACK/tactics/TA0008/$"))
    expect(wide.locator("article h1")).to_contain_text("Tactic TA0008: Lateral Movement")


def test_matrix_shows_every_tactic_at_1400_px_without_scrolling(wide: Page, site_url: str) -> None:
    wide.goto(f"{site_url}ATTACK/matrix/")
    headers = wide.locator(".atc-matrix thead th")
    assert headers.count() >= 14
    rights = wide.eval_on_selector_all(".atc-matrix thead th", "cells => cells.map(cell => cell.getBoundingClientRect().right)")
    assert max(rights) <= WIDTH
    assert wide.eval_on_selector(".atc-matrix-wrap", "wrap => wrap.scrollWidth <= wrap.clientWidth")
    assert wide.eval_on_selector_all(".atc-matrix .atc-id", BROKEN_WORDS) == []
    screenshot(wide, "matrix-1400")


def test_rule_index_and_targets_page_break_no_id_or_word(wide: Page, site_url: str) -> None:
    wide.goto(f"{site_url}Detection_Rules/")
    expect(wide.locator("#atc-rule-filter form")).to_be_visible()
    assert wide.eval_on_selector_all("article table thead th, article table tbody td:not(:first-child)", BROKEN_WORDS) == []
    wide.goto(f"{site_url}targets/")
    assert wide.eval_on_selector("article table", "table => table.getBoundingClientRect().right") <= WIDTH
    assert wide.eval_on_selector("article .md-typeset__table, article table", "box => box.scrollWidth <= box.clientWidth + 1")
    notes = wide.locator("article").inner_text()
    assert "`" not in notes  # backticked note text shows as code, not as backticks
    screenshot(wide, "targets-1400")


def test_search_results_tell_a_technique_from_its_triggers(wide: Page, site_url: str) -> None:
    wide.goto(site_url)
    search = wide.locator("input.md-search__input")
    search.click()
    search.press_sequentially("T1021.002", delay=20)
    expect(wide.locator(".md-search-result__item").first).to_be_visible()
    titles = wide.eval_on_selector_all(".md-search-result__item > a h1", "titles => titles.map(title => title.textContent.trim())")
    assert len(titles) == len(set(titles)), titles
    assert any(title.startswith("Technique T1021.002") for title in titles) and any(
        title.startswith("Triggers for T1021.002") for title in titles
    )


def test_a_rule_page_prints_without_navigation_and_with_whole_queries(wide: Page, site_url: str) -> None:
    from tests.conftest import SEED_SLUG

    wide.goto(f"{site_url}Detection_Rules/{SEED_SLUG}/")
    wide.emulate_media(media="print")
    assert wide.eval_on_selector(".md-header", "header => getComputedStyle(header).display") == "none"
    assert wide.eval_on_selector_all(".md-sidebar", "bars => bars.every(bar => getComputedStyle(bar).display === 'none')")
    assert wide.eval_on_selector_all(
        "article pre > code", "codes => codes.length > 0 && codes.every(code => getComputedStyle(code).whiteSpace === 'pre-wrap')"
    )
    cut = "boxes => boxes.filter(box => box.scrollWidth > box.clientWidth + 1).map(box => box.textContent.slice(0, 60))"
    assert (
        wide.eval_on_selector_all("article pre, article pre > code, article .md-typeset__scrollwrap", cut) == []
    )  # nothing cut off at the side
    after = "links => links.map(link => getComputedStyle(link, '::after').content)"
    references = wide.eval_on_selector_all("article table a[href^='https://blog.menasec.net']", after)
    assert references == ["none"]  # the link's text is its URL: printed once, not "url (url)"
    techniques = wide.eval_on_selector_all("article table a[href^='https://attack.mitre.org/techniques/']", after)
    assert techniques and all("attack.mitre.org" in content for content in techniques)  # "T1021.002: ..." still says where it leads
    wide.pdf(path=str(screenshot(wide, "seed-rule-print").with_suffix(".pdf")))


@pytest.mark.parametrize("width", [375, WIDTH])
def test_a_rule_and_a_data_needed_page_fit_their_tables_in_the_window(browser: Browser, site_url: str, width: int) -> None:
    """A phone or a wide screen: the metadata tables wrap long names and URLs instead of scrolling sideways."""
    from tests.conftest import SEED_SLUG
    from tests.test_links_e2e import SEED_DN

    for path in (f"Detection_Rules/{SEED_SLUG}/", f"Data_Needed/{SEED_DN}/"):
        for page in checked_page(browser, viewport={"width": width, "height": 900}):
            page.goto(f"{site_url}{path}")
            assert page.evaluate("document.documentElement.scrollWidth") <= width, path
            wider = "wraps => wraps.filter(wrap => wrap.scrollWidth > wrap.clientWidth + 1).map(wrap => wrap.textContent.slice(0, 60))"
            assert page.eval_on_selector_all("article .md-typeset__scrollwrap", wider) == [], f"{path} at {width} px"


@pytest.mark.parametrize("path", ["", "ATTACK/tactics/TA0008/"])
def test_charts_on_a_phone_keep_their_text_readable(browser: Browser, site_url: str, path: str) -> None:
    """At 390 px the wide drawing was scaled to 56 %: its labels and figures were 7 px high. The narrow drawing shows instead."""
    for page in checked_page(browser, viewport={"width": 390, "height": 900}):
        page.goto(f"{site_url}{path}")
        shown = "svgs => svgs.filter(svg => svg.getBoundingClientRect().width > 0)"
        charts = page.eval_on_selector_all("article .atc-chart svg", f"svgs => ({shown})(svgs).map(svg => svg.getAttribute('aria-label'))")
        assert charts and len(charts) == page.eval_on_selector_all("article .atc-chart", "boxes => boxes.length")  # one drawing each
        heights = page.eval_on_selector_all(
            "article .atc-chart svg text", "texts => texts.map(text => text.getBoundingClientRect().height).filter(height => height > 0)"
        )
        assert heights and min(heights) >= 11, min(heights)
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        screenshot(page, f"phone-chart-{path.strip('/').replace('/', '-') or 'home'}")
        page.locator("article .atc-chart svg.atc-chart-narrow a", has_text="high").first.click()
        expect(page).to_have_url(re.compile(r"#rules$|Detection_Rules/by/level/"))


def test_the_home_page_fits_a_phone(browser: Browser, site_url: str) -> None:
    """Its charts took 22rem (440 px) each: at 375 px the whole page scrolled sideways."""
    for page in checked_page(browser, viewport={"width": 375, "height": 800}):
        page.goto(site_url)
        assert page.eval_on_selector_all(".atc-chart-box", "boxes => boxes.length") > 0
        assert page.evaluate("document.documentElement.scrollWidth") <= 375


def test_a_rule_page_on_a_phone_breaks_its_labels_between_words_only(browser: Browser, site_url: str) -> None:
    """The metadata table's labels wrapped anywhere like its values: the label column shrank and read 'Developmen / t Status'."""
    from tests.conftest import SEED_SLUG

    for page in checked_page(browser, viewport={"width": 390, "height": 900}):
        page.goto(f"{site_url}Detection_Rules/{SEED_SLUG}/")
        labels = page.eval_on_selector_all("article table td:first-child > strong", "labels => labels.map(label => label.textContent)")
        assert "Development Status" in labels
        assert page.eval_on_selector_all("article table td:first-child > strong", BROKEN_WORDS) == []
        assert page.evaluate("document.documentElement.scrollWidth") <= 390


def test_a_focused_chart_bar_shows_its_whole_focus_ring(wide: Page, site_url: str) -> None:
    """Tabbing to the first bar: its ring was cut off along the chart's top edge (the SVG clipped what it drew outside)."""
    wide.goto(site_url)
    chart = wide.locator("article .atc-chart svg:not(.atc-chart-narrow)").first
    box = chart.bounding_box()
    assert box
    above = {"x": box["x"], "y": box["y"] - 3, "width": box["width"], "height": 3}  # a strip just above the chart
    before = wide.screenshot(clip=above)
    chart.locator("a").first.focus()
    assert wide.evaluate("document.activeElement.matches(':focus-visible')")
    assert wide.screenshot(clip=above) != before  # the ring's top edge is drawn there


def test_a_rule_search_result_reads_label_colon_value_on_a_few_lines(wide: Page, site_url: str) -> None:
    """A rule's result ran its metadata labels into their values ("Title ... Description detects ...") with a bullet list
    per row: two results filled the screen."""
    wide.goto(site_url)
    search = wide.locator("input.md-search__input")
    search.click()
    search.press_sequentially("psexec", delay=20)
    result = wide.locator(".md-search-result__item", has_text="Suspicious PsExec Execution").first
    expect(result).to_be_visible()
    text = " ".join(result.inner_text().split())
    assert "Description: detects execution of psexec" in text and "Severity Level: high" in text, text[:300]
    assert "Title Suspicious" not in text  # the table's header row repeated the result's title
    assert result.locator("li").count() == 0
    box = result.bounding_box()
    assert box and box["height"] < 420, box
    screenshot(wide, "search-rule-result")


@pytest.mark.parametrize(("path", "table"), [("ATTACK/matrix/", ".atc-matrix"), ("Detection_Rules/", "#atc-rule-filter ~ * table")])
def test_the_matrix_and_the_rule_index_scroll_sideways_on_a_phone_instead_of_crushing_their_columns(
    browser: Browser, site_url: str, path: str, table: str
) -> None:
    """Squeezed into 358 px, the matrix stacked its names a letter a line and the rule index broke "Level" into "L e v el"
    and ran levels, statuses and technique ids into each other. Now the table keeps readable columns in its own scroller."""
    for page in checked_page(browser, viewport={"width": 390, "height": 900}):
        page.goto(f"{site_url}{path}")
        assert page.evaluate("document.documentElement.scrollWidth") <= 390  # the page itself does not scroll
        assert page.eval_on_selector(table, "table => table.getBoundingClientRect().width") >= 800
        assert page.eval_on_selector_all(f"{table} thead th", BROKEN_WORDS) == []
        assert page.eval_on_selector_all(f"{table} .atc-id", BROKEN_WORDS) == []
        overflowing = "cells => cells.filter(cell => cell.scrollWidth > cell.clientWidth + 1).map(cell => cell.textContent.slice(0, 40))"
        assert page.eval_on_selector_all(f"{table} tbody td", overflowing) == []  # no cell's text runs into the next one
        screenshot(page, f"phone-{path.strip('/').replace('/', '-')}")


@pytest.mark.parametrize("path", ["Triggers/T1021.002/", "ATTACK/data_components/", "ATTACK/detection_strategies/"])
def test_column_headers_on_a_phone_break_between_words_only(browser: Browser, site_url: str, path: str) -> None:
    """Headers wrapped anywhere like the cells under them: "Descriptio / n", "Data compo / nent", "Implemen / ted"."""
    for page in checked_page(browser, viewport={"width": 390, "height": 900}):
        page.goto(f"{site_url}{path}")
        assert page.eval_on_selector_all("article th", "headers => headers.length") > 0
        assert page.eval_on_selector_all("article th", BROKEN_WORDS) == []
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
