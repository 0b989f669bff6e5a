"""End to end over the default knowledge base: Data Needed, logging policy and trigger links, and no broken link."""

from __future__ import annotations

import posixpath
import re
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from atc.engine import BuildResult
from atc.load.attack import load_snapshot
from atc.model import KnowledgeBase, LogSource, Rule, RuleSummary
from atc.render.context import RenderContext
from atc.render.escape import md_text
from atc.render.gaps import gap_groups
from atc.render.pages import render_pages
from atc.settings import REPO_ROOT
from tests.conftest import SEED_SLUG

SEED_DN = "DN_0032_5145_network_share_object_was_accessed_detailed"
SEED_LP = "LP_0029_windows_audit_detailed_file_share"
PARENT_TAGGED = "win_security_scheduled_task_suspicious_action"
_LINK = re.compile(r"\]\(([^)\s]+)\)")


def section(page: str, heading: str) -> str:
    """The text of a `## heading` section, up to the next `## ` heading."""
    start = page.index(f"## {heading}\n")
    end = page.find("\n## ", start + 1)
    return page[start : end if end != -1 else len(page)]


def rule_link(slug: str, prefix: str = "../Detection_Rules/") -> str:
    return f"]({prefix}{slug}.md)"


def test_every_rule_has_data_needed_or_is_on_the_gaps_page_with_its_reason(default_build: BuildResult):
    gaps = default_build.pages["Data_Needed/gaps.md"]
    for rule in default_build.kb.rules:
        if rule.data_needed:
            continue
        assert rule.data_needed_gap, rule.slug
        group = gaps.split(f"\n## {md_text(rule.logsource.describe())} (")[1].split("\n## ")[0]
        assert f"{md_text(rule.data_needed_gap)} (" in group and rule_link(rule.slug) in group, rule.slug
        assert (
            f"{md_text(rule.data_needed_gap)} (see the [gaps](../Data_Needed/gaps.md))"
            in default_build.pages[f"Detection_Rules/{rule.slug}.md"]
        )


def test_gaps_page_is_linked_from_the_data_needed_index(default_build: BuildResult):
    assert "](gaps.md)" in default_build.pages["Data_Needed/index.md"]


def test_data_needed_page_lists_the_seed_rule(default_build: BuildResult):
    page = default_build.pages[f"Data_Needed/{SEED_DN}.md"]
    assert rule_link(SEED_SLUG) in section(page, "Rules that need it")


def test_logging_policy_page_lists_its_data_needed_and_the_rules_behind_them(default_build: BuildResult):
    page = default_build.pages[f"Logging_Policies/{SEED_LP}.md"]
    assert f"](../Data_Needed/{SEED_DN}.md)" in section(page, "Data Needed it enables")
    assert rule_link(SEED_SLUG) in section(page, "Rules behind it")


def test_trigger_page_lists_the_seed_rule(default_build: BuildResult):
    page = default_build.pages["Triggers/T1021.002.md"]
    assert rule_link(SEED_SLUG) in section(page, "Rules it should fire")


def test_parent_tagged_rule_shows_the_sub_technique_trigger_marked(default_build: BuildResult):
    rule = next(r for r in default_build.kb.rules if r.slug == PARENT_TAGGED)
    assert "attack.t1053" in rule.tags and not any(t.startswith("attack.t1053.") for t in rule.tags)
    rule_page = default_build.pages[f"Detection_Rules/{PARENT_TAGGED}.md"]
    assert "[T1053.005: Scheduled Task](../Triggers/T1053.005.md) (sub-technique of a tagged technique)" in rule_page
    trigger_page = default_build.pages["Triggers/T1053.005.md"]
    assert f"{rule_link(PARENT_TAGGED)} (tagged with the parent technique)" in section(trigger_page, "Rules it should fire")


def test_rule_page_counts_the_tests_that_apply_when_some_are_left_out(default_build: BuildResult):
    trigger = default_build.kb.triggers["T1136.001"]
    rule = next(r for r in default_build.kb.rules if any(ref.technique_id == "T1136.001" for ref in r.triggers))
    ref = next(ref for ref in rule.triggers if ref.technique_id == "T1136.001")
    assert 0 < len(ref.test_guids) < len(trigger.tests)  # the Linux test is left out of a Windows rule
    assert f"({len(ref.test_guids)} of {len(trigger.tests)} tests apply)" in default_build.pages[f"Detection_Rules/{rule.slug}.md"]


def relative_md_links(page: str) -> list[str]:
    """The page's Markdown link targets that are relative .md paths (anchors dropped)."""
    targets = (match.group(1).split("#")[0] for match in _LINK.finditer(page))
    return [t for t in targets if t.endswith(".md") and "://" not in t and not t.startswith("/")]


def test_no_relative_link_points_to_a_missing_page(default_build: BuildResult):
    pages = default_build.pages
    broken = [
        f"{path} -> {target}"
        for path, text in pages.items()
        if path.endswith(".md")
        for target in relative_md_links(text)
        if posixpath.normpath(posixpath.join(posixpath.dirname(path), target)) not in pages
    ]
    assert broken == []
    assert sum(len(relative_md_links(text)) for text in pages.values()) > len(pages)  # the checker does see links


@pytest.mark.parametrize("link", ["[a](../x/b.md#top)", "[c](https://example.org/d.md)", "[e](f.md)"])
def test_link_checker_reads_targets(link: str):
    assert relative_md_links(link) == {"[a](../x/b.md#top)": ["../x/b.md"], "[e](f.md)": ["f.md"]}.get(link, [])


def test_every_nav_entry_is_a_generated_or_hand_written_page(default_build: BuildResult):
    nav = yaml.safe_load((REPO_ROOT / "mkdocs.yml").read_text(encoding="utf-8"))["nav"]

    def targets(entries: list) -> list[str]:
        return [t for entry in entries for value in entry.values() for t in (targets(value) if isinstance(value, list) else [value])]

    missing = [t for t in targets(nav) if t not in default_build.pages and not (REPO_ROOT / "docs" / t).is_file()]
    assert missing == []


def test_gaps_page_groups_rules_by_log_source_largest_group_first(default_build: BuildResult):
    unserved = [
        replace(rule, data_needed=[], data_needed_gap=f"no Data Needed for {rule.logsource.describe()}") for rule in default_build.kb.rules
    ]
    page = RenderContext.of(default_build.kb, [], REPO_ROOT / "templates").render(
        "gaps.md.j2", "Data_Needed/gaps.md", groups=gap_groups([RuleSummary.of(rule) for rule in unserved]), total=len(unserved)
    )
    counts = [int(n) for n in re.findall(r"^## .+ \((\d+) rules?\)$", page, re.MULTILINE)]
    assert counts == sorted(counts, reverse=True) and sum(counts) == len(unserved)
    assert f"{len(unserved)} of {len(unserved)} rules link to no Data Needed item" in page
    process_creation = [r for r in unserved if r.logsource.describe() == "product=windows category=process_creation"]
    group = section(page, f"product=windows category=process\\_creation ({len(process_creation)} rules)")
    assert "no Data Needed for product=windows category=process\\_creation" in group
    assert all(rule_link(rule.slug) in group for rule in process_creation)


def test_the_gaps_table_says_how_many_of_a_group_its_commonest_reason_covers() -> None:
    """SigmaHQ's windows/security group is 30 rules with 18 reasons: "Main reason: ... lists EventID 5379" was 3 of them."""
    snapshot = load_snapshot()
    rules = []
    for slug, gap in (("a", "lists EventID 1"), ("b", "lists EventID 1"), ("c", "lists EventID 2"), ("d", "lists EventID 3")):
        rule = Rule(
            path=Path(f"{slug}.yml"), source_text="", data={}, id=slug, title=slug, slug=slug, logsource=LogSource("windows", "security")
        )
        rule.data_needed_gap = gap
        rules.append(rule)
    lone = Rule(path=Path("e.yml"), source_text="", data={}, id="e", title="e", slug="e", logsource=LogSource("aws", "cloudtrail"))
    lone.data_needed_gap = "no Data Needed for product=aws service=cloudtrail"
    kb = KnowledgeBase(attack=snapshot, items={"rule": [*rules, lone]})
    page = render_pages(RenderContext.of(kb, [], REPO_ROOT / "templates"))["Data_Needed/gaps.md"]
    assert "| product=windows service=security | 4 | lists EventID 1 (2 of the 4 rules; 3 reasons in all) |" in page
    assert "| product=aws service=cloudtrail | 1 | no Data Needed for product=aws service=cloudtrail |" in page
