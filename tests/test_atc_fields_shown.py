"""ATC Data Needed items and logging policies on their pages: every key shown (or deliberately left), and what needs what."""

from __future__ import annotations

from pathlib import Path

import yaml

from atc.convert.targets import select_targets
from atc.load.attack import load_snapshot
from atc.load.data_needed import load_data_needed
from atc.load.knowledge_base import Loading
from atc.load.logging_policies import load_logging_policies
from atc.model import KnowledgeBase, Problem
from atc.render.context import RenderContext
from atc.render.pages import render_pages
from atc.settings import REPO_ROOT
from tests.conftest import CORPORA, needs_corpora

# An ATC item and policy with every key ATC writes, each value distinct, so that the page can be searched for it.
ITEM = {
    "title": "DN_0901_4688_process_created",
    "author": "Ada Analyst",
    "description": "A new process has been created",
    "loggingpolicy": ["LP_0901_audit_process_creation"],
    "references": ["https://example.org/dn-reference"],
    "category": "OS Logs",
    "platform": "Windows",
    "type": "Windows Log",
    "channel": "Security",
    "provider": "Microsoft-Windows-Security-Auditing",
    "fields": ["EventID", "NewProcessName"],
    "sample": "<EventID>4688</EventID> sample-of-the-item",
}
POLICY = {
    "title": "LP_0901_audit_process_creation",
    "author": ["Bob Builder", "Cy Collector"],
    "default": "Not configured",
    "volume": "Medium",
    "description": "Audit Process Creation determines whether the operating system logs process starts",
    "eventID": [4688],
    "references": ["https://example.org/lp-reference"],
    "configuration": "Computer Configuration > Audit Process Creation (Success)",
    "sample": "TenantId,Computer sample-of-the-policy",
}
SHOWN = {
    "item": {key: value for key, value in ITEM.items() if key != "loggingpolicy"} | {"loggingpolicy": "LP\\_0901"},
    "policy": POLICY | {"author": "Bob Builder, Cy Collector", "eventID": "4688"},
}
LEFT = {"mitigation_policy"}  # ATC's mitigation policies are a kind atc does not load


def _pages(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "dn").mkdir()
    (tmp_path / "lp").mkdir()
    (tmp_path / "dn" / "item.yml").write_text(yaml.safe_dump(ITEM), encoding="utf-8")
    (tmp_path / "lp" / "policy.yml").write_text(yaml.safe_dump(POLICY), encoding="utf-8")
    problems: list[Problem] = []
    loading = Loading()
    policies = load_logging_policies([tmp_path / "lp"], problems)
    loading.loaded["logging_policy"] = policies
    items = load_data_needed([tmp_path / "dn"], problems, loading)
    assert problems == [] and list(items) == [ITEM["title"]] and list(policies) == [POLICY["title"]]
    kb = KnowledgeBase(attack=load_snapshot(), items={"rule": [], "data_needed": items, "logging_policy": policies})
    return render_pages(RenderContext.of(kb, select_targets(["splunk"]), REPO_ROOT / "templates", site_name="Test"))


def _flat(value: object) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def test_every_key_of_an_atc_item_and_policy_is_on_its_page(tmp_path: Path) -> None:
    """The author, category and a policy's sample were read by nobody: the pages left them out without a word."""
    pages = _pages(tmp_path)
    item = pages[f"Data_Needed/{ITEM['title']}.md"].replace("\\_", "_").replace("&lt;", "<").replace("&gt;", ">")
    policy = pages[f"Logging_Policies/{POLICY['title']}.md"].replace("\\_", "_").replace("&gt;", ">")
    for page, shown in ((item, SHOWN["item"]), (policy, SHOWN["policy"])):
        for key, value in shown.items():
            for text in _flat(value):
                assert text.replace("\\_", "_") in page, (key, text)


@needs_corpora()
def test_the_atc_corpus_has_no_key_the_pages_neither_show_nor_leave_deliberately() -> None:
    for folder, shown in (("data_needed", SHOWN["item"]), ("logging_policies", SHOWN["policy"])):
        keys = set()
        for path in (CORPORA / "atc-data" / folder).glob("*_*.yml"):
            keys |= set(yaml.safe_load(path.read_text(encoding="utf-8")) or {})
        assert keys - set(shown) - LEFT == set(), folder


def test_a_policy_page_names_the_other_policies_an_item_also_needs(tmp_path: Path) -> None:
    """ATC's DN_0002 needs LP_0001 and LP_0002: LP_0001's page said it enables DN_0002, as if on its own."""
    second = POLICY | {"title": "LP_0902_audit_command_line"}
    (tmp_path / "lp2").mkdir()
    (tmp_path / "lp2" / "second.yml").write_text(yaml.safe_dump(second), encoding="utf-8")
    item = ITEM | {"loggingpolicy": [POLICY["title"], second["title"]]}
    (tmp_path / "dn2").mkdir()
    (tmp_path / "dn2" / "item.yml").write_text(yaml.safe_dump(item), encoding="utf-8")
    problems: list[Problem] = []
    policies = load_logging_policies([tmp_path / "lp2"], problems) | _policies(tmp_path)
    loading = Loading()
    loading.loaded["logging_policy"] = policies
    items = load_data_needed([tmp_path / "dn2"], problems, loading)
    kb = KnowledgeBase(attack=load_snapshot(), items={"rule": [], "data_needed": items, "logging_policy": policies})
    pages = render_pages(RenderContext.of(kb, select_targets(["splunk"]), REPO_ROOT / "templates", site_name="Test"))
    page = pages[f"Logging_Policies/{POLICY['title']}.md"].split("## Data Needed it enables", 1)[1].split("\n## ", 1)[0]
    assert "(together with [LP\\_0902\\_audit\\_command\\_line](LP_0902_audit_command_line.md))" in page


def _policies(tmp_path: Path) -> dict:
    (tmp_path / "lp").mkdir()
    (tmp_path / "lp" / "policy.yml").write_text(yaml.safe_dump(POLICY), encoding="utf-8")
    return load_logging_policies([tmp_path / "lp"], [])
