"""ATT&CK in the site: technique and tactic pages, the coverage matrix, Navigator layers, rules.json and analytics.csv."""

from __future__ import annotations

import csv
import io
import json
import posixpath
import re
from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest

from atc.convert.targets import select_targets
from atc.engine import BuildResult
from atc.link.attack import resolve_tags
from atc.link.navigator import expected_cells, layer_techniques, validate_layer
from atc.load.attack import load_snapshot
from atc.model import AttackSnapshot, Conversion, DataNeeded, KnowledgeBase, LogSource, Rule, RuleSummary, Trigger, TriggerRef
from atc.render.attack_pages import overview_pages, product_slug, tactic_pages, technique_pages
from atc.render.context import RenderContext
from atc.render.escape import md_text
from atc.render.exports import CSV_COLUMNS, csv_cell, exports
from atc.render.matrix import shade_level
from atc.render.pages import render_pages
from atc.settings import REPO_ROOT
from atc.site.assets import site_assets
from tests.conftest import SEED_SLUG

LINK = re.compile(r"\]\(([^)\s]+)\)")
CELL = re.compile(
    r'<div class="atc-cell atc-level-(\d)(?: atc-sub)?" title="[^"]*" markdown="span">\[?<span class="atc-id">(T\d{4}(?:\.\d{3})?)</span> '
)
RULE_KEYS = {
    "id",
    "title",
    "level",
    "status",
    "slug",
    "path",
    "logsource",
    "tactics",
    "techniques",
    "data_needed",
    "triggers",
    "converted_targets",
}


@pytest.fixture(scope="module")
def snapshot() -> AttackSnapshot:
    return load_snapshot()


def make_rule(snapshot: AttackSnapshot, slug: str, title: str, tags: list[str], product: str | None = "windows") -> Rule:
    """A linked rule as the link stage leaves it."""
    rule = Rule(
        path=Path(f"rules/{slug}.yml"),
        source_text="title: x\n",
        data={},
        id=f"id-{slug}",
        title=title,
        slug=slug,
        level="high",
        status="test",
        tags=tags,
        logsource=LogSource(product=product, service="security"),
    )
    rule.tactics, rule.techniques = resolve_tags(tags, snapshot)
    return rule


@pytest.fixture(scope="module")
def hand_kb(snapshot: AttackSnapshot) -> KnowledgeBase:
    """Rules with a revoked, a deprecated, an unknown and an unknown-tactic tag, one Data Needed item and one trigger."""
    psexec = make_rule(snapshot, "psexec", "PsExec", ["attack.lateral_movement", "attack.t1077", "attack.t1021.002"])
    psexec.data_needed = ["DN_share", "DN_missing"]
    psexec.triggers = [TriggerRef("T1021.002")]
    psexec.conversions = {"grep": Conversion("grep", "ok", "x"), "splunk": Conversion("splunk", "failed", error="no")}
    unknown = make_rule(snapshot, "future", "=cmd|' /C calc'!A0", ["attack.t1699", "attack.lateral_movment"], product="../Evil Product")
    old = make_rule(snapshot, "launchd", "Launchd [x](javascript:alert(1)) <script>", ["attack.t1053.004"], product=None)
    tactic_only = make_rule(snapshot, "tactic_only", "-Tactic only", ["attack.discovery"])
    return KnowledgeBase(
        attack=snapshot,
        items={
            "rule": [psexec, unknown, old, tactic_only],
            "data_needed": {"DN_share": DataNeeded("DN_share", Path("dn.yml"), "Share access")},
            "trigger": {"T1021.002": Trigger("T1021.002", "SMB/Windows Admin Shares", Path("t.yaml"))},
        },
    )


@pytest.fixture(scope="module")
def hand_pages(hand_kb: KnowledgeBase) -> dict[str, str]:
    return (
        render_pages(RenderContext.of(hand_kb, [], REPO_ROOT / "templates", site_name="Test")) | site_assets()
    )  # as the engine writes them


def attack_page_names(pages: dict[str, str]) -> list[str]:
    return [name for name in pages if name.startswith("ATTACK/") and name.endswith(".md")]


def broken_links(pages: dict[str, str]) -> list[str]:
    """Relative links of the ATT&CK pages whose target is not a generated page."""
    broken = []
    for name in attack_page_names(pages):
        for link in LINK.findall(pages[name]):
            if re.match(r"[a-z]+:", link):
                continue
            target = posixpath.normpath(posixpath.join(posixpath.dirname(name), link))
            if target not in pages:
                broken.append(f"{name}: {link}")
    return broken


def section(page: str, heading: str) -> str:
    match = re.search(rf"^## {re.escape(heading)}\n(.*?)(?=^## |\Z)", page, re.S | re.M)
    assert match, f"no section {heading}"
    return match.group(1)


# --- technique and tactic pages ----------------------------------------------------------------


def test_revoked_t1077_counts_for_t1021_002_on_the_seed_rule(default_build: BuildResult) -> None:
    page = default_build.pages["ATTACK/techniques/T1021.002.md"]
    rules = section(page, "Rules")
    assert f"(../../Detection_Rules/{SEED_SLUG}.md)" in rules
    assert "T1077 (revoked)" in rules
    assert "ATTACK/techniques/T1077.md" not in default_build.pages
    revoked = section(default_build.pages["ATTACK/index.md"], "Revoked and deprecated tags")
    assert re.search(r"^\| T1077 \| revoked \| \[T1021\.002: .*\]\(techniques/T1021\.002\.md\) \| \d+ \|$", revoked, re.M)


def test_sub_technique_listed_under_its_parent(hand_pages: dict[str, str]) -> None:
    parent = hand_pages["ATTACK/techniques/T1021.md"]
    assert "[T1021.002: SMB/Windows Admin Shares](T1021.002.md) | 1 |" in section(parent, "Sub-techniques")
    child = hand_pages["ATTACK/techniques/T1021.002.md"]
    assert "| **Sub-technique of** | [T1021: Remote Services](T1021.md) |" in child
    tactic = section(hand_pages["ATTACK/tactics/TA0008.md"], "Techniques").splitlines()
    parent_row = next(i for i, line in enumerate(tactic) if "[T1021: " in line)
    assert "&emsp;↳ [T1021.002: " in tactic[parent_row + 1]


def test_technique_page_lists_triggers_and_data_needed(hand_pages: dict[str, str]) -> None:
    page = hand_pages["ATTACK/techniques/T1021.002.md"]
    assert "- [T1021.002: SMB/Windows Admin Shares](../../Triggers/T1021.002.md)" in section(page, "Triggers")
    data = section(page, "Data Needed")
    assert "[DN\\_share](../../Data_Needed/DN_share.md) (1 rule)" in data
    assert "DN\\_missing (not in this knowledge base; 1 rule)" in data


def test_deprecated_technique_is_shown_as_deprecated(hand_pages: dict[str, str]) -> None:
    page = hand_pages["ATTACK/techniques/T1053.004.md"]
    assert '!!! warning "Deprecated"' in page
    assert "(../../Detection_Rules/launchd.md)" in page
    deprecated = section(hand_pages["ATTACK/index.md"], "Revoked and deprecated tags")
    assert "| T1053.004 | deprecated | [T1053.004: Launchd](techniques/T1053.004.md) | 1 |" in deprecated
    assert "T1053.004 " not in hand_pages["ATTACK/matrix.md"]


def test_unknown_ids_are_listed_with_their_rules(hand_pages: dict[str, str]) -> None:
    unknown = section(hand_pages["ATTACK/index.md"], "Unknown ids")
    assert re.search(r"^\| T1699 \| \[.*\]\(\.\./Detection_Rules/future\.md\) \|$", unknown, re.M)
    assert re.search(r"^\| lateral\\_movment \(tactic\) \| \[.*\]\(\.\./Detection_Rules/future\.md\) \|$", unknown, re.M)
    assert not any("T1699" in name for name in hand_pages)


def test_tactic_tagged_without_technique_gets_a_tactic_page(hand_pages: dict[str, str]) -> None:
    page = hand_pages["ATTACK/tactics/TA0007.md"]
    assert "(../../Detection_Rules/tactic_only.md) (tagged with the tactic only)" in page


def test_a_rule_without_a_technique_is_not_said_to_lack_attack_strategies(hand_pages: dict[str, str]) -> None:
    """A rule tagged with a tactic only read "ATT&CK has none for the rule's techniques": it has no technique."""
    section = hand_pages["Detection_Rules/tactic_only.md"].split("## ATT&amp;CK detection", 1)[1]
    assert "**Detection strategies**: the rule is tagged with no ATT&amp;CK technique." in section
    assert "ATT&amp;CK has none" not in section


def test_the_data_components_line_is_a_paragraph_of_its_own(hand_pages: dict[str, str], hand_kb: KnowledgeBase) -> None:
    """The components ran into "**Detection strategies**" on one line: no blank line between them."""
    rule = next(rule for rule in hand_kb.rules if rule.slug == "psexec")
    page = render_pages(RenderContext.of(hand_kb.with_rules([replace(rule, data_components=["DC0102"])]), [], REPO_ROOT / "templates"))
    section = page["Detection_Rules/psexec.md"].split("## ATT&amp;CK detection", 1)[1]
    assert re.search(r"\(\.\./ATTACK/data_components/DC0102\.md\)\n\n\*\*Detection strategies\*\*", section), section[:600]


def test_rule_text_is_escaped(hand_pages: dict[str, str]) -> None:
    page = hand_pages["ATTACK/techniques/T1053.004.md"]
    assert "<script>" not in page and "](javascript:" not in page
    assert f"[{md_text('Launchd [x](javascript:alert(1)) <script>')}](../../Detection_Rules/launchd.md)" in page


def test_page_ids_are_file_names(hand_pages: dict[str, str]) -> None:
    names = attack_page_names(hand_pages)
    assert all(
        re.fullmatch(
            r"ATTACK/(techniques/T\d{4}(\.\d{3})?|tactics/TA\d{4}|index|matrix|matrix-analytics|data_components/(DC\d{4}|index)|detection_strategies/(DET\d{4}|index))\.md",
            name,
        )
        for name in names
    )


# --- matrix --------------------------------------------------------------------------------------


def test_matrix_has_every_tactic_in_order_and_shows_gaps(default_build: BuildResult) -> None:
    snapshot = default_build.kb.attack
    matrix = default_build.pages["ATTACK/matrix.md"]
    headers = re.findall(r'<th markdown="span">(.*?)</th>', matrix)
    assert len(headers) == len(snapshot.tactics)
    for header, tactic in zip(headers, snapshot.tactics):
        assert str(md_text(tactic.name)) in header
    cells = CELL.findall(matrix)
    assert Counter(tid for _, tid in cells) == Counter(tid for tid, _ in expected_cells(snapshot))
    gaps = {tid for level, tid in cells if level == "0"}
    assert "T1595" in gaps  # Active Scanning: no rule
    assert "T1021.002" not in gaps
    assert re.search(
        r'atc-level-\d atc-sub" title="\d+ rules?" markdown="span">\[<span class="atc-id">T1021\.002</span> .*\]\(techniques/T1021\.002\.md\)',
        matrix,
    )


def test_a_data_component_log_source_without_a_channel_does_not_read_none(default_build: BuildResult) -> None:
    """ATT&CK writes the channel of a component's own data source as the string "None": the page showed "Process | None"."""
    page = default_build.pages["ATTACK/data_components/DC0001.md"]
    assert "| Scheduled Job | not given |" in page
    assert "| WinEventLog:Security | EventCode=4698 |" in page
    assert not re.search(r"\| None \|", page)


def test_matrix_lists_sub_techniques_after_their_parent(default_build: BuildResult) -> None:
    cells = [tid for _, tid in CELL.findall(default_build.pages["ATTACK/matrix.md"])]
    parent = cells.index("T1021")
    subs = {t.id for t in layer_techniques(default_build.kb.attack) if t.parent == "T1021"}
    assert set(cells[parent + 1 : parent + 1 + len(subs)]) == subs


def test_shade_levels() -> None:
    assert [shade_level(n) for n in (0, 1, 2, 3, 4, 40)] == [0, 1, 2, 2, 3, 3]


# --- Navigator layers -----------------------------------------------------------------------------


def test_all_rules_layer_is_valid_and_complete(default_build: BuildResult) -> None:
    snapshot = default_build.kb.attack
    text = default_build.pages["ATTACK/layers/all.json"]
    layer = json.loads(text)
    assert validate_layer(layer, snapshot) == []
    cells = Counter((entry["techniqueID"], entry["tactic"]) for entry in layer["techniques"])
    assert set(cells) == set(expected_cells(snapshot)) and set(cells.values()) == {1}
    scores = {(entry["techniqueID"], entry["tactic"]): entry["score"] for entry in layer["techniques"]}
    assert scores[("T1595", "reconnaissance")] == 0
    assert scores[("T1021.002", "lateral-movement")] >= 1
    assert text == json.dumps(layer, sort_keys=True, indent=1, ensure_ascii=False) + "\n"


def test_one_layer_per_product(default_build: BuildResult, hand_pages: dict[str, str]) -> None:
    products = {product_slug(rule.logsource.product) for rule in default_build.kb.rules if rule.logsource.product}
    layers = {name for name in default_build.pages if name.startswith("ATTACK/layers/")}
    assert layers == {"ATTACK/layers/all.json", "ATTACK/layers/analytics.json"} | {f"ATTACK/layers/{slug}.json" for slug in products}
    windows = json.loads(default_build.pages["ATTACK/layers/windows.json"])
    assert validate_layer(windows, default_build.kb.attack) == []
    assert "ATTACK/layers/evil_product.json" in hand_pages
    assert product_slug("All") == "all_"
    assert product_slug("analytics") == "analytics_" and product_slug("environment-x") == "environment-x_"


def test_navigator_link_needs_the_site_url(hand_kb: KnowledgeBase, hand_pages: dict[str, str]) -> None:
    assert "Upload from local" in hand_pages["ATTACK/index.md"]
    assert "layerURL" not in hand_pages["ATTACK/index.md"]
    index = overview_pages(RenderContext.of(hand_kb, [], REPO_ROOT / "templates", site_url="https://example.org/kb/"))["ATTACK/index.md"]
    expected = "https://mitre-attack.github.io/attack-navigator/#layerURL=https%3A%2F%2Fexample.org%2Fkb%2FATTACK%2Flayers%2Fall.json"
    assert f"[all.json](layers/all.json) · [open in Navigator]({expected})" in index
    assert "Upload from local" not in index


# --- exports -------------------------------------------------------------------------------------


def test_rules_json_has_one_entry_per_rule(default_build: BuildResult) -> None:
    entries = json.loads(default_build.pages["rules.json"])
    assert len(entries) == len(default_build.kb.rules)
    assert {entry["slug"] for entry in entries} == {rule.slug for rule in default_build.kb.rules}
    assert all(set(entry) >= RULE_KEYS for entry in entries)
    assert [(e["title"].lower(), e["slug"]) for e in entries] == sorted((e["title"].lower(), e["slug"]) for e in entries)
    seed = next(entry for entry in entries if entry["slug"] == SEED_SLUG)
    assert {"id": "T1077", "status": "revoked", "counts_as": "T1021.002"} in seed["techniques"]
    assert seed["path"] in default_build.pages
    assert seed["logsource"] == {"product": "windows", "service": "security", "category": None}


def test_analytics_csv_has_one_row_per_rule(default_build: BuildResult) -> None:
    rows = list(csv.reader(io.StringIO(default_build.pages["analytics.csv"])))
    assert rows[0] == CSV_COLUMNS
    assert len(rows) == len(default_build.kb.rules) + 1
    seed = next(row for row in rows if row[CSV_COLUMNS.index("slug")] == SEED_SLUG)
    assert seed[CSV_COLUMNS.index("techniques")] == "T1077;T1021.002"
    assert seed[CSV_COLUMNS.index("counted_techniques")] == "T1021.002"  # once, though two tags count for it


def test_exports_neutralise_formulas(hand_kb: KnowledgeBase) -> None:
    reader = csv.DictReader(io.StringIO(exports([RuleSummary.of(rule) for rule in hand_kb.rules], [])["analytics.csv"]))
    rows = {row["slug"]: row for row in reader}
    assert rows["future"]["title"] == "'=cmd|' /C calc'!A0"
    assert rows["tactic_only"]["title"] == "'-Tactic only"
    assert rows["future"]["product"] == "../Evil Product"
    assert rows["future"]["tactics"] == "lateral_movment"
    assert [csv_cell(v) for v in ("+1", "@x", "\tx", "\rx", "a=b", None)] == ["'+1", "'@x", "'\tx", "\nx", "a=b", ""]
    assert csv_cell("a\r=b\r\n-c\n@d") == "a\n'=b\n'-c\n'@d"  # every line of a cell, line breaks as \n (always quoted)


def test_exports_list_converted_targets(hand_kb: KnowledgeBase) -> None:
    entries = json.loads(exports([RuleSummary.of(rule) for rule in hand_kb.rules], select_targets(["splunk", "grep"]))["rules.json"])
    psexec = next(entry for entry in entries if entry["slug"] == "psexec")
    assert psexec["converted_targets"] == ["grep"]
    assert psexec["data_needed"] == ["DN_share", "DN_missing"] and psexec["triggers"] == ["T1021.002"]


# --- links ---------------------------------------------------------------------------------------


def test_attack_links_point_at_generated_pages(default_build: BuildResult, hand_pages: dict[str, str]) -> None:
    assert broken_links(default_build.pages) == []
    assert broken_links(hand_pages) == []
    assert "../../Data_Needed/DN_missing.md" not in hand_pages["ATTACK/techniques/T1021.002.md"]


def test_attack_pages_are_deterministic(hand_kb: KnowledgeBase) -> None:
    def attack_pages() -> dict[str, str]:
        ctx = RenderContext.of(hand_kb, [], REPO_ROOT / "templates")
        return {**technique_pages(ctx), **tactic_pages(ctx), **overview_pages(ctx)}

    assert attack_pages() == attack_pages()


def test_a_tactic_page_says_how_many_of_its_rules_the_rules_by_tactic_page_lists(snapshot: AttackSnapshot) -> None:
    """A tactic page lists rules tagged with a technique of it too; it says so, and its tagged count is the index's."""
    rules = [
        make_rule(snapshot, "tagged", "Tagged", ["attack.persistence", "attack.t1053.005"]),
        make_rule(snapshot, "technique_a", "Technique A", ["attack.t1053.005"]),
        make_rule(snapshot, "technique_b", "Technique B", ["attack.t1053.005", "attack.execution"]),
    ]
    kb = KnowledgeBase(attack=snapshot, items={"rule": rules})
    pages = render_pages(RenderContext.of(kb, [], REPO_ROOT / "templates", site_name="Test"))
    index = pages["Detection_Rules/by/tactic.md"]
    listed = {tid: int(count) for tid, count in re.findall(r"^## (TA\d{4}): .* \((\d+)\)$", index, re.M)}
    said = {}
    for name, page in pages.items():
        tactic = re.fullmatch(r"ATTACK/tactics/(TA\d{4})\.md", name)
        if tactic:
            rules_here = len(re.findall(r"^- \[", section(page, "Rules"), re.M))
            found = re.search(r"(\d+) of these (\d+) rules (?:is|are) tagged with this tactic", page)
            if found:
                said[tactic[1]] = int(found[1])
                assert int(found[2]) == rules_here
            elif "here only through a technique of this tactic" in page:
                said[tactic[1]] = 0
            else:
                said[tactic[1]] = rules_here  # every rule listed is tagged with the tactic: no sentence
            assert "(../../Detection_Rules/by/tactic.md)" in page or said[tactic[1]] == rules_here
    assert said == {tid: listed.get(tid, 0) for tid in said}
    assert said["TA0003"] == 1 and said["TA0002"] == 1 and said["TA0004"] == 0
    assert "1 of these 3 rules is tagged with this tactic" in pages["ATTACK/tactics/TA0003.md"]
    assert "These 3 rules are here only through a technique of this tactic" in pages["ATTACK/tactics/TA0004.md"]


def test_an_unknown_technique_id_is_named_but_links_nowhere(hand_pages: dict[str, str]) -> None:
    """attack.mitre.org has no page for an id ATT&CK does not know: no page of the site links one there or here."""
    assert "T1699 (unknown to ATT&amp;CK " in hand_pages["Detection_Rules/future.md"]
    assert not [name for name, page in hand_pages.items() if re.search(r"\]\([^)]*T1699", page)]
