"""A toy entity kind, response playbooks, added through the registry only (`register(Kind(...))`, removed after).

The kind's loader, linker and page maker live here, its template in a temporary folder (the team's template
folder); no atc module names it. A build loads its items, links them to the rules whose techniques they answer,
counts them, refers to them in the page memo and renders their pages.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest
import yaml

from atc.commands import main
from atc.engine import BuildResult, check, run_build
from atc.kinds import KINDS, Kind, in_order, register
from atc.load.fields import FieldError, load_unique, read_mapping, text, text_list
from atc.load.knowledge_base import Loading, load_knowledge_base
from atc.model import KnowledgeBase, Problem
from atc.render import addresses
from atc.render.context import RenderContext
from atc.settings import HistorySettings, Settings, default_settings, load_config_file

KIND = "playbook"


@dataclass
class Playbook:
    """What to do when a rule fires: the techniques it answers and, once linked, the rules that lead to it."""

    id: str
    path: Path
    title: str
    techniques: list[str]
    steps: list[str]
    rules: list[tuple[str, str]] = field(default_factory=list)  # (slug, title) of the rules, filled by its linker


def load_playbooks(folders: list[Path], problems: list[Problem], loading: Loading) -> dict[str, Playbook]:
    """The kind's loader: every playbook file below the folders, keyed by id (the registry's loader signature)."""
    assert "rule" in loading.loaded  # it needs the rules: they are loaded first
    return load_unique(folders, problems, KIND, "playbook", lambda path: _playbook(path, problems), lambda playbook: playbook.id)


def _playbook(path: Path, problems: list[Problem]) -> Playbook | None:
    data = read_mapping(path, problems, KIND, "id, title, techniques, steps")
    if data is None:
        return None
    try:
        return Playbook(
            text(data, "id", required=True) or "",
            path,
            text(data, "title", required=True) or "",
            [tag.upper() for tag in text_list(data, "techniques")],
            text_list(data, "steps"),
        )
    except FieldError as exc:
        problems.append(Problem(str(path), KIND, f"{exc}; the playbook is skipped"))
        return None


def link_playbooks(kb: KnowledgeBase) -> None:
    """The kind's linker: a playbook answers the rules tagged with one of its techniques; an unknown technique is a warning."""
    for playbook in kb.items[KIND].values():
        playbook.rules = [(rule.slug, rule.title) for rule in kb.rules if any(ref.tag_id in playbook.techniques for ref in rule.techniques)]
        for technique in playbook.techniques:
            if technique not in kb.attack.techniques:
                kb.problems.append(Problem(str(playbook.path), KIND, f"technique {technique} is unknown to ATT&CK", severity="warning"))


def playbook_pages(ctx: RenderContext) -> dict[str, str]:
    """The kind's page maker: a page per playbook, at the address its registry folder gives."""
    pages: dict[str, str] = {}
    for playbook in ctx.kb.items[KIND].values():
        page = addresses.page(KIND, playbook.id)
        pages[page] = ctx.render("playbook.md.j2", page, playbook=playbook)
    return pages


TEMPLATE = """\
# {{ playbook.title }}

{% for step in playbook.steps %}
1. {{ step }}
{% endfor %}

## Rules that lead here

{% for slug, title in playbook.rules %}
- [{{ title }}]({{ link_to("rule", slug) }})
{% else %}
No rule is tagged with its techniques.
{% endfor %}
"""

PLAYBOOK_KIND = Kind(
    KIND,
    "Response playbook",
    "Playbooks",
    ("playbook.md.j2",),
    "playbooks",
    f"{__name__}:load_playbooks",
    f"{__name__}:link_playbooks",
    f"{__name__}:playbook_pages",
    needs=("rule",),
)

RULE = """\
title: {title}
id: {id}
status: test
description: A toy rule.
author: toy
date: 2024-01-01
tags:
    - {tag}
logsource:
    product: windows
    category: process_creation
detection:
    selection:
        Image|endswith: '\\{image}'
    condition: selection
level: high
"""

PLAYBOOK = """\
id: PB_{name}
title: {title}
techniques: [{techniques}]
steps:
    - Isolate the host
    - {step}
"""


@pytest.fixture
def playbook_kind() -> Iterator[Kind]:
    """The playbook kind in the registry for one test."""
    register(PLAYBOOK_KIND)
    try:
        yield PLAYBOOK_KIND
    finally:
        del KINDS[KIND]


def _knowledge_base(root: Path) -> Settings:
    """Two rules, two playbooks (one answering the first rule's technique) and a broken playbook file; no site, no history."""
    rules = root / "rules"
    rules.mkdir()
    (rules / "psexec.yml").write_text(
        RULE.format(title="PsExec service", id="11111111-1111-4111-8111-111111111111", tag="attack.t1021.002", image="psexec.exe"),
        encoding="utf-8",
    )
    (rules / "minidump.yml").write_text(
        RULE.format(title="Comsvcs minidump", id="22222222-2222-4222-8222-222222222222", tag="attack.t1003.001", image="rundll32.exe"),
        encoding="utf-8",
    )
    playbooks = root / "playbooks"
    playbooks.mkdir()
    (playbooks / "lateral.yml").write_text(
        PLAYBOOK.format(name="lateral", title="Lateral movement over SMB", techniques="T1021.002", step="Reset the account"),
        encoding="utf-8",
    )
    (playbooks / "unknown.yml").write_text(
        PLAYBOOK.format(name="unknown", title="A technique from the future", techniques="T1999", step="Wait"), encoding="utf-8"
    )
    (playbooks / "broken.yml").write_text("title: [no id\n", encoding="utf-8")
    templates = root / "templates"
    templates.mkdir()
    (templates / "playbook.md.j2").write_text(TEMPLATE, encoding="utf-8")
    return replace(
        default_settings(root),  # a folder per registered kind: playbooks/ too, when the kind is registered
        data_needed=(),
        logging_policies=(),
        triggers=(),
        cache_dir=root / "cache",
        templates_dir=templates,
        targets=("splunk",),
        build_site=False,
        exports=False,
        jobs=1,
        history=HistorySettings(enabled=False),
    )


def _build(settings: Settings) -> BuildResult:
    return run_build(settings, quiet=True)


def test_the_registry_loads_and_links_a_kind_it_was_given(playbook_kind: Kind, tmp_path: Path) -> None:
    result = _build(_knowledge_base(tmp_path))
    kb = result.kb
    assert [kind.name for kind in in_order()].index(KIND) > [kind.name for kind in in_order()].index("rule")
    assert sorted(kb.items[KIND]) == ["PB_lateral", "PB_unknown"]
    assert kb.items[KIND]["PB_lateral"].rules == [("psexec", "PsExec service")]
    assert kb.items[KIND]["PB_unknown"].rules == []
    mine = [problem for problem in kb.problems if problem.kind == KIND]
    assert [Path(problem.path).name for problem in mine] == ["broken.yml", "unknown.yml"]
    assert "T1999 is unknown" in mine[1].message and mine[1].severity == "warning"
    assert kb.counts() == "2 rules, 0 Data Needed, 0 logging policies, 0 triggers, 2 response playbooks"


def test_atc_check_counts_the_kind(playbook_kind: Kind, tmp_path: Path) -> None:
    kb = check(_knowledge_base(tmp_path))
    assert kb.counts().endswith(", 2 response playbooks")
    assert any(problem.kind == KIND and problem.path.endswith("broken.yml") for problem in kb.problems)


def test_the_kind_s_folders_are_a_setting_of_atc_yml_and_the_command_line(
    playbook_kind: Kind, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _knowledge_base(tmp_path)
    (tmp_path / "playbooks").rename(tmp_path / "response")
    (tmp_path / "atc.yml").write_text("rules: rules\nplaybooks: response\n", encoding="utf-8")
    assert load_config_file(tmp_path / "atc.yml").folders("playbooks") == (tmp_path / "response",)
    assert main(["check", "--config", str(tmp_path / "atc.yml")]) == 1  # broken.yml is an error
    assert "check: 2 rules, 0 Data Needed, 0 logging policies, 0 triggers, 2 response playbooks;" in capsys.readouterr().err
    (tmp_path / "none").mkdir()
    assert main(["check", "--config", str(tmp_path / "atc.yml"), "--playbooks", str(tmp_path / "none")]) == 0
    assert ", 0 response playbooks; problems: none" in capsys.readouterr().err


def test_the_kind_s_pages_are_rendered_and_link_its_rules(playbook_kind: Kind, tmp_path: Path) -> None:
    settings = _knowledge_base(tmp_path)
    pages = _build(settings).pages
    assert sorted(page for page in pages if page.startswith("Playbooks/")) == ["Playbooks/PB_lateral.md", "Playbooks/PB_unknown.md"]
    lateral = pages["Playbooks/PB_lateral.md"]
    assert lateral.startswith("# Lateral movement over SMB\n")
    assert "1. Reset the account" in lateral
    assert "- [PsExec service](../Detection_Rules/psexec.md)" in lateral and "minidump" not in lateral
    assert "No rule is tagged with its techniques." in pages["Playbooks/PB_unknown.md"]
    assert (settings.docs_dir / "Playbooks" / "PB_lateral.md").read_text(encoding="utf-8") == lateral
    assert (tmp_path / "docs" / "Detection_Rules" / "psexec.md").is_file()  # the page the link leads to


def test_the_page_memo_refers_to_the_kind_s_items(playbook_kind: Kind, tmp_path: Path) -> None:
    """The memo's digest holds the playbooks: an unchanged build remembers every page, an edited playbook's page is made again."""
    settings = _knowledge_base(tmp_path)
    first = _build(settings)
    assert first.made > 0
    assert _build(settings).made == 0
    playbook = tmp_path / "playbooks" / "lateral.yml"
    playbook.write_text(playbook.read_text(encoding="utf-8").replace("Reset the account", "Rotate the keys"), encoding="utf-8")
    again = _build(settings)
    assert again.made > 0
    assert "1. Rotate the keys" in again.pages["Playbooks/PB_lateral.md"]
    assert {page for page in first.pages if first.pages[page] != again.pages[page]} == {"Playbooks/PB_lateral.md"}


def test_without_the_kind_its_folder_is_not_read(tmp_path: Path) -> None:
    assert KIND not in KINDS
    result = _build(_knowledge_base(tmp_path))
    kb = result.kb
    assert KIND not in kb.items and not any(problem.kind == KIND for problem in kb.problems)
    assert not any(page.startswith("Playbooks/") for page in result.pages)
    assert kb.counts() == "2 rules, 0 Data Needed, 0 logging policies, 0 triggers"


def test_items_given_to_the_load_are_not_read_again(playbook_kind: Kind, tmp_path: Path) -> None:
    """As a revision's knowledge base is loaded: its rules parsed beforehand, every other kind read by its loader."""
    problems: list[Problem] = []
    kb = load_knowledge_base(_knowledge_base(tmp_path), problems, given={"rule": []}, remember=False)
    assert kb.rules == [] and sorted(kb.items[KIND]) == ["PB_lateral", "PB_unknown"]
    assert kb.problems is problems and [Path(problem.path).name for problem in problems] == ["broken.yml"]
    assert list(kb.items) == ["rule", "data_needed", "logging_policy", "trigger", KIND]  # registry order


def recognise_playbook(head: str) -> bool:
    """The kind's recogniser: a playbook file starts with its PB_ id."""
    return head.startswith("id: PB_")


def test_atc_init_proposes_the_folders_of_a_kind_that_recognises_its_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    recognising = replace(PLAYBOOK_KIND, recognise=f"{__name__}:recognise_playbook")
    register(recognising)
    try:
        _knowledge_base(tmp_path)
        (tmp_path / "templates" / "playbook.md.j2").unlink()  # not a YAML file either way
        monkeypatch.chdir(tmp_path)
        assert main(["init"]) == 0
        text = (tmp_path / "atc.yml").read_text(encoding="utf-8")
        config = yaml.safe_load(text)
        assert config["playbooks"] == "playbooks" and config["rules"] == "rules"
        assert load_config_file(tmp_path / "atc.yml").folders("playbooks") == (tmp_path / "playbooks",)
        assert "# Response playbook: a folder of playbooks YAML" in text
    finally:
        del KINDS[KIND]
    register(PLAYBOOK_KIND)  # without a recogniser: named in atc.yml as a commented line for the team to fill in
    try:
        (tmp_path / "atc.yml").unlink()
        assert main(["init"]) == 0
        text = (tmp_path / "atc.yml").read_text(encoding="utf-8")
        assert "playbooks" not in (yaml.safe_load(text) or {})
        assert "# playbooks: playbooks   (atc init does not recognise its files: name them here)" in text
    finally:
        del KINDS[KIND]
