"""ATT&CK v19 tags (as current SigmaHQ writes them) resolve through the version map to the embedded snapshot, shown as such."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from atc.engine import check as run_check
from atc.engine import run_build
from atc.link import attack_v19
from atc.link.attack import resolve_tags
from atc.load.attack import load_snapshot
from atc.model import AttackSnapshot, KnowledgeBase
from atc.render.attack_pages import counted_id
from atc.render.link_filters import LinkFilters
from atc.settings import default_settings
from tests.conftest import CORPORA, needs_corpora

SNAPSHOT = load_snapshot()


def test_every_mapped_id_names_techniques_the_snapshot_holds_and_no_id_it_already_knows():
    for v19_id, (_, embedded) in attack_v19.TECHNIQUES.items():
        assert v19_id not in SNAPSHOT.techniques
        assert embedded and all(tid in SNAPSHOT.techniques and not SNAPSHOT.techniques[tid].revoked for tid in embedded), v19_id
    for _, embedded in attack_v19.TACTICS.values():
        assert SNAPSHOT.tactic_by_shortname(embedded) is not None


def test_v19_tags_resolve_and_count_for_the_embedded_technique():
    tactics, techniques = resolve_tags(
        ["attack.stealth", "attack.defense-impairment", "attack.t1685", "attack.t1686.003", "attack.t9999"], SNAPSHOT
    )
    assert [(ref.tag, ref.tactic.id, ref.newer) for ref in tactics] == [
        ("stealth", "TA0005", "TA0005 Stealth"),
        ("defense-impairment", "TA0005", "TA0112 Defense Impairment"),
    ]
    by_id = {ref.tag_id: ref for ref in techniques}
    assert by_id["T1685"].status == "newer" and by_id["T1685"].embedded == ("T1562.001", "T1562.006")
    assert counted_id(by_id["T1685"]) == "T1562.001" and counted_id(by_id["T1686.003"]) == "T1562.004"
    assert by_id["T9999"].status == "unknown"


def test_the_page_says_which_version_an_id_comes_from():
    links = LinkFilters(KnowledgeBase(attack=SNAPSHOT))
    _, techniques = resolve_tags(["attack.t1685"], SNAPSHOT)
    text = str(links.technique_item(techniques[0]))
    assert text.startswith(
        "[T1685: Disable or Modify Tools](https://attack.mitre.org/techniques/T1685) (ATT&amp;CK v19; in the embedded v18.1: "
    )
    assert "[T1562.001: Disable or Modify Tools](https://attack.mitre.org/techniques/T1562/001)" in text
    tactics, _ = resolve_tags(["attack.defense-impairment"], SNAPSHOT)
    assert "TA0112 Defense Impairment (ATT&amp;CK v19; in the embedded v18.1: [TA0005: Defense Evasion]" in str(
        links.tactic_item(tactics[0])
    )


def test_the_map_falls_away_with_a_snapshot_that_knows_the_ids():
    newer = AttackSnapshot(
        "19.0", "test", SNAPSHOT.tactics, {**SNAPSHOT.techniques, "T1685": replace(SNAPSHOT.techniques["T1562.001"], id="T1685")}
    )
    _, techniques = resolve_tags(["attack.t1685"], newer)
    assert techniques[0].status == "current" and techniques[0].technique.id == "T1685"


RULE = """title: {title}
status: test
tags: [{tags}]
logsource: {{product: windows, category: process_creation}}
detection: {{selection: {{Image|endswith: '\\\\x.exe'}}, condition: selection}}
level: low
"""


def test_the_overview_lists_the_v19_tactic_tags_and_what_they_count_for(tmp_path: Path) -> None:
    (tmp_path / "rules").mkdir()
    for number, tags in enumerate(["attack.stealth, attack.defense-impairment", "attack.Stealth, attack.t1685", "attack.execution"]):
        (tmp_path / "rules" / f"r{number}.yml").write_text(RULE.format(title=f"R{number}", tags=tags), encoding="utf-8")
    settings = replace(default_settings(tmp_path), targets=("grep",), build_site=False, exports=False, events=None, jobs=1)
    newer = run_build(settings, quiet=True).pages["ATTACK/index.md"].split("## Tags from a newer ATT&amp;CK", 1)[1]
    assert "| TA0005 Stealth (<code>attack.stealth</code>) | [TA0005: Defense Evasion](tactics/TA0005.md) | 2 |" in newer
    assert (
        "| TA0112 Defense Impairment (<code>attack.defense-impairment</code>) | [TA0005: Defense Evasion](tactics/TA0005.md) | 1 |" in newer
    )
    assert "| T1685 | [T1562.001](techniques/T1562.001.md), T1562.006 | 1 |" in newer
    assert "execution" not in newer


@needs_corpora()
def test_sigmahq_rules_have_no_unknown_attack_tags():
    settings = replace(default_settings(), rules=(CORPORA / "sigma" / "rules",), data_needed=(), logging_policies=(), triggers=())
    kb = run_check(settings)
    unknown = [problem for problem in kb.problems if problem.kind == "attack-unknown"]
    assert len(kb.rules) > 3000 and unknown == []  # 1,553 before the map (ATT&CK v19 tags on the v18.1 snapshot)
