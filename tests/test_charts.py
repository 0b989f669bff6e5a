"""The home page's charts: inline SVG drawn from the knowledge base, every bar linking to the page behind it."""

from __future__ import annotations

import posixpath
import re
from pathlib import Path
from xml.etree import ElementTree

import pytest

from atc.convert.targets import select_targets
from atc.engine import BuildResult
from atc.link.attack import resolve_tags
from atc.load.attack import load_snapshot
from atc.model import Conversion, DataNeeded, KnowledgeBase, LoggingPolicy, LogSource, Rule
from atc.render.context import RenderContext
from atc.render.pages import render_pages
from atc.settings import REPO_ROOT

SVG = re.compile(r"<svg (?!class=\"atc-chart-narrow\").*?</svg>", re.S)  # the wide drawing of each chart
NARROW_SVG = re.compile(r"<svg class=\"atc-chart-narrow\".*?</svg>", re.S)
NS = {"svg": "http://www.w3.org/2000/svg"}
XLINK_HREF = "{http://www.w3.org/1999/xlink}href"


def _charts(page: str) -> list[ElementTree.Element]:
    """The page's SVG charts, parsed as XML (which also proves them well-formed)."""
    return [ElementTree.fromstring(svg) for svg in SVG.findall(page)]


def _bars(chart: ElementTree.Element) -> list[tuple[str, str, list[float]]]:
    """Each bar of a chart: its link, its label and the widths of its segments."""
    bars = []
    for link in chart.findall("svg:a", NS):
        label = link.find("svg:text", NS)
        assert label is not None
        bars.append((link.get(XLINK_HREF, ""), label.text or "", [float(rect.get("width", "0")) for rect in link.findall("svg:rect", NS)]))
    return bars


def _rule(snapshot, slug: str, level: str | None, status: str | None, tags: list[str], converted: bool) -> Rule:
    rule = Rule(
        path=Path(f"{slug}.yml"),
        source_text="x",
        data={},
        id=slug,
        title=slug,
        slug=slug,
        level=level,
        status=status,
        tags=tags,
        logsource=LogSource(product="windows"),
    )
    rule.tactics, rule.techniques = resolve_tags(tags, snapshot)
    rule.conversions = {
        "splunk": Conversion("splunk", "ok" if converted else "failed", "q" if converted else None, error=None if converted else "no")
    }
    return rule


@pytest.fixture(scope="module")
def home() -> str:
    """The home page of four rules: two high, one hostile level and status, one without; one served by Data Needed."""
    snapshot = load_snapshot()
    rules = [
        _rule(snapshot, "a", "high", "stable", ["attack.lateral_movement", "attack.t1021.002"], True),
        _rule(snapshot, "b", "high", "test", ["attack.t1003.001"], True),
        _rule(snapshot, "c", "<script>alert(1)</script>", "[x](javascript:alert(1))", [], False),
        _rule(snapshot, "d", None, None, [], True),
    ]
    rules[0].data_needed = ["DN_a"]
    data_needed = {
        "DN_a": DataNeeded("DN_a", Path("a.yml"), "a", logging_policies=["LP_a"]),
        "DN_b": DataNeeded("DN_b", Path("b.yml"), "b"),
    }
    policies = {"LP_a": LoggingPolicy("LP_a", Path("lp.yml"), "LP_a")}
    kb = KnowledgeBase(attack=snapshot, items={"rule": rules, "data_needed": data_needed, "logging_policy": policies})
    return render_pages(RenderContext.of(kb, select_targets(["splunk"]), REPO_ROOT / "templates", site_name="Test"))["index.md"]


def test_home_page_draws_five_linked_charts(home: str) -> None:
    charts = _charts(home)
    assert [chart.get("aria-label") for chart in charts] == [
        "ATT&CK coverage by tactic",
        "Rules by level",
        "Rules by status",
        "Conversion health by target",
        "Data Needed and logging gaps",
    ]
    assert all(bars for bars in map(_bars, charts))


def test_each_chart_has_a_narrow_drawing_with_the_same_named_linked_bars(home: str) -> None:
    """A phone shows the narrow drawing (atc.css): the wide one, scaled to 390 px, had text 7 px high."""
    wide, narrow = _charts(home), [ElementTree.fromstring(svg) for svg in NARROW_SVG.findall(home)]
    assert [chart.get("aria-label") for chart in narrow] == [chart.get("aria-label") for chart in wide]
    for wide_chart, narrow_chart in zip(wide, narrow, strict=True):
        assert [(href, label) for href, label, _ in _bars(narrow_chart)] == [(href, label) for href, label, _ in _bars(wide_chart)]
        assert float(narrow_chart.get("viewBox", "").split()[2]) <= 360  # drawn at about 1:1 on a phone: 12 px text stays 12 px


def test_in_numbers_table_has_a_header_a_reader_can_read(home: str) -> None:
    table = home.split("## In numbers", 1)[1].lstrip().splitlines()
    header = [cell.strip() for cell in table[0].strip("|").split("|")]
    assert all(header), table[0]  # it was "| | |": an empty header row drawn above the numbers


def test_one_target_is_one_query_language(home: str) -> None:
    assert "translated into 1 query language." in home  # it said "1 query languages"


def test_tactic_bars_are_shares_of_each_tactic_linking_to_its_page(home: str) -> None:
    bars = {label: (href, widths) for href, label, widths in _bars(_charts(home)[0])}
    assert len(bars) == len(load_snapshot().tactics)
    href, widths = bars["Lateral Movement"]
    assert href == "ATTACK/tactics/TA0008.md" and len(widths) == 2 and widths[0] > 0 and abs(sum(widths) - 330) < 0.2
    assert bars["Impact"][0] == "ATTACK/matrix.md" and len(bars["Impact"][1]) == 1  # no rule: all gap, linked to the matrix


def test_level_status_conversion_and_gap_bars_count_the_rules(home: str) -> None:
    _, levels, statuses, conversions, gaps = (_bars(chart) for chart in _charts(home))
    assert [(label, href) for href, label, _ in levels] == [
        ("high", "Detection_Rules/by/level.md"),
        ("other or none", "Detection_Rules/by/level.md"),
    ]
    assert levels[0][2] == levels[1][2] == [330.0]  # two and two: counts scaled to the longest bar
    assert [widths for _, _, widths in statuses] == [[165.0], [165.0], [330.0]]
    assert [label for _, label, _ in statuses] == ["stable", "test", "other or none"]  # an author's odd status is never drawn
    assert "<script>" not in home and "javascript:" not in home
    [(href, label, widths)] = conversions
    assert (href, label, widths) == ("targets.md", "splunk", [247.5, 82.5])  # 3 of 4 converted
    assert [(href, widths) for href, _, widths in gaps] == [
        ("Data_Needed/gaps.md", [82.5, 247.5]),
        ("Logging_Policies/index.md", [165.0, 165.0]),
    ]


def test_policy_bar_counts_only_known_policies_and_its_page_says_the_same(tmp_path: Path) -> None:
    """An item naming a policy the knowledge base lacks (ATC's DN_0026 names LP_0025_windows_...) is no item "with a policy"."""
    data_needed = {
        "DN_a": DataNeeded("DN_a", Path("a.yml"), "a", logging_policies=["LP_a"]),
        "DN_b": DataNeeded("DN_b", Path("b.yml"), "b", logging_policies=["LP_gone"]),
        "DN_c": DataNeeded("DN_c", Path("c.yml"), "c"),
    }
    policy = LoggingPolicy("LP_a", tmp_path / "a.yml", "LP_a")
    kb = KnowledgeBase(attack=load_snapshot(), items={"rule": [], "data_needed": data_needed, "logging_policy": {"LP_a": policy}})
    pages = render_pages(RenderContext.of(kb, select_targets(["splunk"]), REPO_ROOT / "templates", site_name="Test"))
    [bar] = [bar for bar in SVG.findall(pages["index.md"]) if "Data Needed with a policy" in bar]
    [(href, figure)] = re.findall(r'<a xlink:href="([^"]+)"><title>Data Needed with a policy: ([^<]+)</title>', bar)
    assert figure == "1 / 3"
    linked = pages[href]
    assert "1 of 3 Data Needed items name a logging policy of this knowledge base." in linked
    assert "(../Data_Needed/DN_b.md)" in linked and "(../Data_Needed/DN_c.md)" in linked and "DN_a.md" not in linked


def test_chart_links_lead_to_generated_pages(default_build: BuildResult) -> None:
    links = [href for chart in _charts(default_build.pages["index.md"]) for href, _, _ in _bars(chart)]
    assert links and all(posixpath.normpath(href) in default_build.pages for href in links)


def test_technique_and_tactic_pages_chart_their_rules_by_level(default_build: BuildResult) -> None:
    for page in ("ATTACK/techniques/T1021.002.md", "ATTACK/tactics/TA0008.md"):
        [chart] = _charts(default_build.pages[page])
        bars = _bars(chart)
        assert chart.get("aria-label") == "Rules by level" and bars
        assert all(href == "#rules" for href, _, _ in bars)  # the page's own rules, not every rule of the knowledge base


@pytest.mark.parametrize("page", ["ATTACK/techniques/T1021.002.md", "ATTACK/tactics/TA0008.md", "ATTACK/tactics/TA0005.md"])
def test_a_level_bar_counts_the_rules_its_link_lists_at_that_level(default_build: BuildResult, page: str) -> None:
    """Each bar's figure is the number of rules of that level in the section it opens (it opened the rules-by-level page)."""
    text = default_build.pages[page]
    [chart] = _charts(text)
    section = text.split("\n## Rules\n", 1)[1].split("\n## ", 1)[0]
    for link in chart.findall("svg:a", NS):
        level = link.findtext("svg:text", namespaces=NS)
        figure = int(link.findall("svg:text", NS)[1].text.split()[0])
        listed = len(re.findall(rf"\| {level} \||, level {level}$", section, re.M))
        assert (link.get(XLINK_HREF), figure) == ("#rules", listed), level


def test_every_home_bar_figure_is_on_the_page_it_opens(default_build: BuildResult) -> None:
    """A bar's "n / m" is stated on the page behind it ("splunk: 3138 / 3141" opened targets.md, which gave no count)."""
    pages = default_build.pages
    for chart in _charts(pages["index.md"])[3:]:  # conversion health, Data Needed and logging gaps
        for link in chart.findall("svg:a", NS):
            label, figure = (text.text or "" for text in link.findall("svg:text", NS))
            done, total = figure.split(" / ")
            linked = pages[posixpath.normpath(link.get(XLINK_HREF, ""))]
            stated = (f"{done} of {total}", f"{int(total) - int(done)} of {total}", f"Every one of the {total}" if done == total else "-")
            assert any(re.search(rf"\b{re.escape(text)}\b", linked) for text in stated), (label, figure)
