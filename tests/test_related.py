"""A rule's Sigma `related:` ids (derived, obsolete, merged, renamed, similar) are shown on its page, linked both ways; rules
sharing a title (a rule and the deprecated rule it replaced) get page titles that tell them apart."""

from __future__ import annotations

import time
from pathlib import Path
from types import SimpleNamespace

import markdown
import pytest
from mkdocs.utils.meta import get_data

from atc.engine import BuildResult
from atc.link.references import link_relations
from atc.model import KnowledgeBase, RelationRef, Rule
from atc.render.rule_pages import page_title, shared_titles
from tests.conftest import grep_build

RULE = """title: {title}
id: {id}
{related}status: test
logsource:
  product: windows
  category: process_creation
detection:
  selection:
    Image|endswith: '\\\\{title}.exe'
  condition: selection
level: low
"""
NEW = "11111111-0000-4000-8000-000000000001"
OLD = "11111111-0000-4000-8000-000000000002"
GONE = "11111111-0000-4000-8000-000000000003"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> BuildResult:
    out = tmp_path_factory.mktemp("related")
    rules = out / "rules"
    rules.mkdir()
    related = (
        f"related:\n  - id: {OLD}\n    type: similar\n  - id: {OLD}\n    type: obsolete\n  - id: {GONE}\n    type: derived\n"
        f"  - id: {GONE}\n    type: similar\n"
    )
    (rules / "new.yml").write_text(RULE.format(title="New", id=NEW, related=related), encoding="utf-8")
    odd = f"related:\n  - id: {OLD}\n    type: '<b>odd</b>'\n"  # pySigma rejects the type: the page still shows it
    (rules / "odd.yml").write_text(RULE.format(title="Odd", id=GONE[:-1] + "6", related=odd), encoding="utf-8")
    (rules / "old.yml").write_text(RULE.format(title="Old", id=OLD, related=""), encoding="utf-8")
    deprecated = RULE.format(title="Old", id=GONE[:-1] + "5", related="").replace("status: test", "status: deprecated")
    (rules / "old_deprecated.yml").write_text(deprecated, encoding="utf-8")
    for name, this, other in (("twin_a", "a", "b"), ("twin_b", "b", "a")):  # two rules naming each other: a cycle
        twin = f"related:\n  - id: {GONE[:-1] + other}\n    type: similar\n"
        (rules / f"{name}.yml").write_text(RULE.format(title=f"Twin {this}", id=GONE[:-1] + this, related=twin), encoding="utf-8")
    (rules / "broken.yml").write_text(
        RULE.format(title="Broken", id=GONE[:-1] + "4", related="related: [7, {type: similar}]\n"), encoding="utf-8"
    )
    return grep_build(out, rules)


def relations(built: BuildResult, slug: str) -> list[str]:
    """The items of the page's relations list, one per kind of relation."""
    lines = built.pages[f"Detection_Rules/{slug}.md"].split("**Relations** (Sigma `related`):\n\n", 1)[1].splitlines()
    return lines[: lines.index("")]


def test_a_related_id_in_the_knowledge_base_links_to_its_rule_and_back(built: BuildResult) -> None:
    assert "- obsoletes [Old](old.md)" in relations(built, "new")
    assert "- obsoleted by [New](new.md)" in relations(built, "old")


def test_a_related_id_the_knowledge_base_does_not_hold_is_shown_as_an_id(built: BuildResult) -> None:
    assert f"- derived from <code>{GONE}</code> (not in this knowledge base)" in relations(built, "new")


def test_relations_of_one_kind_share_an_item(built: BuildResult) -> None:
    items = relations(built, "new")
    assert f"- similar to [Old](old.md), <code>{GONE}</code> (not in this knowledge base)" in items
    assert len(items) == 3
    rendered = markdown.markdown(built.pages["Detection_Rules/new.md"].split("## Detection Rules")[0], extensions=["tables"])
    assert "<p><strong>Relations</strong> (Sigma <code>related</code>):</p>\n<ul>\n<li>derived from" in rendered  # its own paragraph


def test_an_unknown_relation_type_is_escaped_and_a_malformed_related_list_is_no_crash(built: BuildResult) -> None:
    assert "- &lt;b&gt;odd&lt;/b&gt; \\(names\\) [Old](old.md)" in relations(built, "odd")
    assert "- &lt;b&gt;odd&lt;/b&gt; \\(named by\\) [Odd](odd.md)" in relations(built, "old")
    assert "<b>" not in built.pages["Detection_Rules/odd.md"].split("## Detection Rules")[0]
    assert "**Relations**" not in built.pages["Detection_Rules/broken.md"]


def test_rules_sharing_a_title_get_page_titles_that_tell_them_apart(built: BuildResult) -> None:
    titles = {rule.slug: get_data(built.pages[f"Detection_Rules/{rule.slug}.md"])[1]["title"] for rule in built.kb.rules}
    assert titles["new"] == "New"
    assert titles["old"] == "Old (old)"
    assert titles["old_deprecated"] == "Old (deprecated, old_deprecated)"
    assert "| Title                    | Old       |" in built.pages["Detection_Rules/old_deprecated.md"]


def test_a_related_list_of_tens_of_thousands_links_in_linear_time() -> None:
    """A hostile rule's `related:` (the YAML limits let 40,000 entries through) is linked in well under a second, not minutes."""
    entries = [{"id": f"{number:08x}-0000-4000-8000-000000000000", "type": "derived"} for number in range(30_000)]
    many = Rule(path=Path("many.yml"), source_text="", data={"related": [*entries, *entries]}, id=NEW, title="Many", slug="many")
    namers = [
        Rule(
            path=Path(f"n{n}.yml"), source_text="", data={"related": [{"id": NEW, "type": "similar"}]}, id=f"n{n}", title="N", slug=f"n{n}"
        )
        for n in range(30_000)
    ]
    kb = KnowledgeBase(attack=None)
    kb.items["rule"] = [many, *namers]
    started = time.perf_counter()
    link_relations(kb)
    assert time.perf_counter() - started < 5
    assert len(many.relations) == 60_000  # 30,000 ids it names (each once) and 30,000 rules naming it
    assert namers[0].relations == [RelationRef("similar", NEW, "many", "Many")]


@pytest.mark.parametrize("twin", ["Old\u200c", "OLD", "Ｏｌｄ", "Old\u00a0", "O\u2060ld"])
def test_a_title_that_only_looks_the_same_is_told_apart_too(twin: str) -> None:
    """A rule titled like another but for invisible characters, case or compatibility forms gets its page name in its title."""
    rules = [
        Rule(path=Path(f"{slug}.yml"), source_text="", data={}, id=slug, title=title, slug=slug)
        for slug, title in (("a", "Old"), ("b", twin))
    ]
    shared = shared_titles(SimpleNamespace(summaries=rules))  # only the titles are read
    assert [page_title(rule, shared) for rule in rules] == ["Old (a)", f"{twin} (b)"]


def test_two_rules_naming_each_other_list_each_other_once(built: BuildResult) -> None:
    assert relations(built, "twin_a") == ["- similar to [Twin b](twin_b.md)"]
    assert relations(built, "twin_b") == ["- similar to [Twin a](twin_a.md)"]
