"""The address book owns page identity: folders, page paths, relative links; modules, templates and mkdocs.yml follow it."""

from __future__ import annotations

import io
import re
import tokenize
from pathlib import Path

import pytest
import yaml
from mkdocs.utils import get_relative_url

from atc.engine import BuildResult
from atc.kinds import KINDS, Kind
from atc.render import addresses
from atc.render.context import RenderContext
from atc.render.escape import md_text
from atc.render.pages import render_pages
from atc.render.rule_indexes import FIELDS
from atc.settings import REPO_ROOT
from tests.conftest import SEED_SLUG

OWNERS = {REPO_ROOT / "atc" / "render" / "addresses.py", REPO_ROOT / "atc" / "kinds.py"}  # where folder names may be spelled
FOLDERS = sorted({kind.folder.split("/")[0] for kind in KINDS.values()} | {addresses.ATTACK_DIR, addresses.ABOUT_DIR})
SPELLED = re.compile(rf"(?<![\w.])(?:{'|'.join(map(re.escape, FOLDERS))})/|(?<!\.)\.\./")  # a folder as a path, or a climb out of one
LINK_TARGET = re.compile(r"\]\(((?:\{\{.*?\}\}|[^)\s{])*)\)")  # a Markdown link's target, jinja expressions whole


def _string_literals(path: Path) -> list[tuple[int, str]]:
    """The string literals of a module, with their line numbers (comments and names are not addresses)."""
    tokens = tokenize.generate_tokens(io.StringIO(path.read_text(encoding="utf-8")).readline)
    return [(token.start[0], token.string) for token in tokens if token.type == tokenize.STRING]


def test_no_module_spells_a_page_folder() -> None:
    spelled = [
        f"{path.relative_to(REPO_ROOT)}:{line}: {text}"
        for path in sorted((REPO_ROOT / "atc").rglob("*.py"))
        if path not in OWNERS
        for line, text in _string_literals(path)
        if SPELLED.search(text)
    ]
    assert spelled == []


def test_no_template_spells_a_page_address() -> None:
    """Templates link with link_to (or a filter, or a URL they are given): no folder, climb or page name of their own."""
    spelled = []
    for path in sorted([*(REPO_ROOT / "templates").glob("*.j2"), *(REPO_ROOT / "atc" / "site" / "static").rglob("*.md")]):
        text = re.sub(r"\{#.*?#\}", "", path.read_text(encoding="utf-8"), flags=re.S)
        for number, line in enumerate(text.splitlines(), 1):
            targets = [t for t in LINK_TARGET.findall(line) if not re.fullmatch(r"\{\{[^}]*\}\}(#[\w-]+)?|https://\S+", t)]
            if SPELLED.search(line) or targets:
                spelled.append(f"{path.name}:{number}: {line.strip()[:120]}")
    assert spelled == []


def test_the_checks_above_would_see_a_spelled_address() -> None:
    assert SPELLED.search("[rules](../Detection_Rules/x.md)") and SPELLED.search('f"ATTACK/techniques/{tid}.md"')
    assert LINK_TARGET.findall('[a]({{ link_to("page", "gaps") }}) [b](gaps.md)') == ['{{ link_to("page", "gaps") }}', "gaps.md"]
    assert not SPELLED.search("Data Needed items") and not SPELLED.search("data_needed")


@pytest.mark.parametrize(
    "source,target",
    [
        ("index.md", "Detection_Rules/x.md"),
        ("Detection_Rules/x.md", "Data_Needed/gaps.md"),
        ("Detection_Rules/by/level.md", "Detection_Rules/index.md"),
        ("ATTACK/techniques/T1.md", "ATTACK/techniques/T2.md"),
        ("ATTACK/techniques/T1.md", "Triggers/T1.md"),
        ("Data_Needed/index.md", "Data_Needed/DN_1.md"),
        ("changes.md", "changes.xml"),
    ],
)
def test_relative_links_are_those_mkdocs_resolves(source: str, target: str) -> None:
    assert addresses.relative(source, target) == get_relative_url(target, source)


def test_page_paths_per_kind() -> None:
    assert addresses.page("rule", "a.b") == "Detection_Rules/a.b.md"  # a rule's slug is decided at load: kept as it is
    assert addresses.page("data_needed", "DN 1/x") == "Data_Needed/DN_1_x.md"  # other keys become safe page names
    assert addresses.page("technique", "T1021.002") == "ATTACK/techniques/T1021.002.md"
    assert addresses.page("environment") == "Environments/index.md"
    assert addresses.link("ATTACK/tactics/TA0001.md", "layer", "all.json") == "../layers/all.json"
    assert addresses.link("Detection_Rules/x.md", "page", "gaps") == "../Data_Needed/gaps.md"
    assert [addresses.page_url(p) for p in ("index.md", "changes.md", "Detection_Rules/index.md", "ATTACK/techniques/T1.md")] == [
        "",
        "changes/",
        "Detection_Rules/",
        "ATTACK/techniques/T1/",
    ]
    with pytest.raises(ValueError, match="needs a key"):
        addresses.link("index.md", "page")


def test_every_generated_item_page_is_where_the_address_book_says(default_build: BuildResult) -> None:
    kb = default_build.kb
    expected = {addresses.page("rule", rule.slug) for rule in kb.rules} | {
        addresses.page(kind, key)
        for kind, items in (("data_needed", kb.data_needed), ("logging_policy", kb.logging_policies), ("trigger", kb.triggers))
        for key in items
    }
    assert expected <= set(default_build.pages)


def test_the_navigation_names_only_pages_of_the_address_book() -> None:
    config = yaml.safe_load((REPO_ROOT / "mkdocs.yml").read_text(encoding="utf-8"))

    def paths(entries: object) -> list[str]:
        if isinstance(entries, str):
            return [entries]
        if isinstance(entries, list):
            return [p for entry in entries for p in paths(entry)]
        if isinstance(entries, dict):
            return [p for value in entries.values() for p in paths(value)]
        return []

    known = (
        set(addresses.PAGES.values())
        | {addresses.page(name) for name, kind in KINDS.items() if kind.pages}
        | {addresses.rules_by(field) for field in FIELDS}
    )
    assert [path for path in paths(config["nav"]) if path not in known] == []
    assert set(config["not_in_nav"].split()) == {f"/{kind.folder}/*.md" for kind in KINDS.values()}


def playbook_pages(ctx: RenderContext) -> dict[str, str]:
    """The toy kind's pages: one linking the seed rule, and its index."""
    page = addresses.page("playbook", "Contain host")
    return {page: ctx.render("playbook.md.j2", page, rule=SEED_SLUG), addresses.page("playbook"): "# Playbooks\n"}


def test_a_kind_registered_with_a_page_maker_gets_its_pages_and_links(
    default_build: BuildResult, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "playbook.md.j2").write_text(
        '[seed]({{ link_to("rule", rule) }}) · [all]({{ link_to("playbook") }}) · [home]({{ link_to("page", "home") }})\n',
        encoding="utf-8",
    )
    monkeypatch.setitem(
        KINDS, "playbook", Kind("playbook", "Playbook", "Playbooks", ("playbook.md.j2",), pages=f"{__name__}:playbook_pages")
    )
    pages = render_pages(RenderContext.of(default_build.kb, default_build.targets, [tmp_path, REPO_ROOT / "templates"]))
    assert pages["Playbooks/Contain_host.md"] == f"[seed](../Detection_Rules/{SEED_SLUG}.md) · [all](index.md) · [home](../index.md)\n"
    assert "Playbooks/index.md" in pages and f"Detection_Rules/{SEED_SLUG}.md" in pages


def test_a_team_template_with_the_old_link_prefixes_still_links(default_build: BuildResult, tmp_path: Path) -> None:
    """Overrides written before link_to pass the path to the kind's folder: the filters still take it."""
    (tmp_path / "data_needed.md.j2").write_text(
        '{{ item.id | data_needed_item("") }}{% for rule in rules %} {{ rule | rule_link("../Detection_Rules/") }}{% endfor %}\n',
        encoding="utf-8",
    )
    pages = render_pages(RenderContext.of(default_build.kb, [], [tmp_path, REPO_ROOT / "templates"]))
    seed = next(rule for rule in default_build.kb.rules if rule.slug == SEED_SLUG)
    item = default_build.kb.data_needed[seed.data_needed[0]]
    page = pages[addresses.page("data_needed", item.id)]
    assert page.startswith(f"[{md_text(item.id)}]({addresses.file_name('data_needed', item.id)})")
    assert f"](../Detection_Rules/{SEED_SLUG}.md)" in page
