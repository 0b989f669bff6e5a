"""ATT&CK's detection model: rules linked to data components and to the analytics of detection strategies, and pages."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import pytest

from atc.engine import BuildResult
from atc.link.attack import resolve_tags
from atc.link.detection import Channel, DetectionLinker, Read, link_detection, logsource_reads, windows_names
from atc.link.navigator import validate_layer
from atc.load.attack import DEFAULT_SNAPSHOT, load_snapshot
from atc.load.attack_update import build_snapshot, write_snapshot
from atc.model import AttackLogSource, AttackSnapshot, DataComponent, DataNeeded, DetectionRef, LogSource, Rule
from atc.render.context import RenderContext
from atc.render.pages import render_pages
from atc.settings import REPO_ROOT
from tests.conftest import CORPORA, SEED_SLUG, needs_corpora

MINI_STIX = Path(__file__).parent / "fixtures" / "stix" / "mini-attack.json"
REAL_STIX = CORPORA / "attack" / "enterprise-attack-v18.1.json"


@pytest.fixture(scope="module")
def mini(tmp_path_factory: pytest.TempPathFactory) -> AttackSnapshot:
    """The hand-written mini bundle (DET0530 with a Windows and a Linux analytic), as a loaded snapshot."""
    path = tmp_path_factory.mktemp("mini") / "mini.json"
    write_snapshot(build_snapshot(MINI_STIX), path)
    return load_snapshot(path)


def rule(snapshot: AttackSnapshot, slug: str, logsource: LogSource, detection: dict, tags: list[str], data_needed: list[str] = ()) -> Rule:
    """A rule as the link stage sees it before detection linking."""
    made = Rule(
        path=Path(f"{slug}.yml"),
        source_text="",
        data={"detection": detection},
        id=slug,
        title=slug,
        slug=slug,
        tags=tags,
        logsource=logsource,
        event_ids=list(detection["sel"].get("EventID", [])) if isinstance(detection["sel"], dict) else [],
        data_needed=list(data_needed),
    )
    made.tactics, made.techniques = resolve_tags(tags, snapshot)
    return made


# --- channels and reads ----------------------------------------------------------------------------


def test_channels_are_event_codes_identifiers_or_prose() -> None:
    assert Channel.parse("EventCode=4624, 4648").codes == {4624, 4648}
    assert Channel.parse("EventCode=5005 (WLAN), EventCode=302 (Bluetooth)").codes == {5005, 302}
    assert Channel.parse("connect/sendto").identifiers == {"connect", "sendto"}
    assert Channel.parse("StopInstances, TerminateInstances").identifiers == {"stopinstances", "terminateinstances"}
    assert Channel.parse("verb=create, resource=cronjobs").identifiers == {"create", "cronjobs"}
    assert Channel.parse("compute.instances.list OR storage.buckets.list").identifiers == {"compute.instances.list", "storage.buckets.list"}
    prose = Channel.parse("Unusual kinit or klist activity")
    assert not prose.codes and not prose.identifiers and prose.phrases == {"unusual kinit or klist activity"}
    assert Channel.parse("Add member to group, Add owner to group").phrases == {"add member to group", "add owner to group"}
    assert Channel.parse("systemctl with subcommands start, stop, enable, disable").phrases == {"systemctl with subcommands start"}
    assert not Channel.parse("None").identifiers


def test_windows_channel_names() -> None:
    assert windows_names("Security") == ("wineventlog:security",)
    assert windows_names("Microsoft-Windows-Sysmon/Operational") == (
        "wineventlog:microsoft-windows-sysmon/operational",
        "wineventlog:sysmon",
    )
    assert windows_names("Microsoft-Windows-AppLocker/EXE and DLL")[1] == "wineventlog:applocker"
    assert windows_names("Windows PowerShell")[1] == windows_names("PowerShellCore/Operational")[1] == "wineventlog:powershell"


def test_log_source_reads_use_pysigma_channel_and_sysmon_tables() -> None:
    assert logsource_reads(LogSource("windows", "security"), [5145]) == {Read("wineventlog:security", 5145)}
    creation = logsource_reads(LogSource("windows", None, "process_creation"), [])
    assert {Read("wineventlog:sysmon", 1), Read("wineventlog:security", 4688)} <= creation
    assert Read("auditd:execve", None, "execve") in logsource_reads(LogSource("linux", None, "process_creation"), [])
    assert logsource_reads(LogSource("aws", "cloudtrail"), []) == {Read("aws:cloudtrail")}
    assert logsource_reads(LogSource("linux", "auditd"), [], ("EXECVE",)) == {Read("auditd:execve", None, "execve")}


# --- linking on the mini bundle ---------------------------------------------------------------------


def test_share_access_rule_maps_to_dc0102_and_implements_the_windows_analytic(mini: AttackSnapshot) -> None:
    share = rule(
        mini, "share", LogSource("windows", "security"), {"sel": {"EventID": [5145]}}, ["attack.t1077"]
    )  # revoked: counts for T1021.002
    link_detection([share], {}, mini)
    assert share.data_components == ["DC0102"]
    assert share.detections == [DetectionRef("DET0530", "T1021.002", ("AN1468",))]


def test_linux_rule_implements_the_linux_analytic_only(mini: AttackSnapshot) -> None:
    execve = rule(mini, "execve", LogSource("linux", "auditd"), {"sel": {"type": "EXECVE", "a0": "smbclient"}}, ["attack.t1021.002"])
    link_detection([execve], {}, mini)
    assert execve.data_components == ["DC0064"]  # auditd:EXECVE / execve
    assert execve.detections == [DetectionRef("DET0530", "T1021.002", ("AN1469",))]


def test_prose_channel_matches_only_an_equal_detection_value(mini: AttackSnapshot) -> None:
    exact = rule(mini, "m365", LogSource("m365", "audit"), {"sel": {"Operation": "Add member to group"}}, [])
    loose = rule(mini, "m365b", LogSource("m365", "audit"), {"sel": {"Operation": "member"}}, [])
    snapshot = replace(
        mini,
        data_components={
            "DC0094": DataComponent("DC0094", "Group Modification", "u", (AttackLogSource("m365:unified", "Add member to group"),))
        },
    )
    link_detection([exact, loose], {}, snapshot)
    assert exact.data_components == ["DC0094"] and loose.data_components == []


def test_a_v19_tag_counts_for_the_embedded_technique_it_maps_to() -> None:
    real = load_snapshot()
    tagged = rule(real, "v19", LogSource("windows", None, "process_creation"), {"sel": {"CommandLine": "x"}}, ["attack.t1685"])
    assert tagged.techniques[0].status == "newer"
    link_detection([tagged], {}, real)
    embedded = tagged.techniques[0].current.id
    assert [ref.strategy for ref in tagged.detections] == [s.id for s in real.strategies_for(embedded)] != []
    assert all(ref.technique == embedded for ref in tagged.detections)


def test_same_technique_other_data(mini: AttackSnapshot) -> None:
    other = rule(mini, "proc", LogSource("windows", "security"), {"sel": {"EventID": [4688]}}, ["attack.t1021.002", "attack.t1059"])
    link_detection([other], {}, mini)
    assert other.data_components == []
    assert other.detections == [DetectionRef("DET0530", "T1021.002", ())]  # T1059 has no strategy in the mini bundle


def test_windows_logon_rule_does_not_implement_the_linux_analytic(mini: AttackSnapshot) -> None:
    logon = rule(mini, "logon", LogSource("windows", "security"), {"sel": {"EventID": [4624]}}, ["attack.t1021.002"])
    anywhere = rule(mini, "any", LogSource(None, "security"), {"sel": {"EventID": [4624]}}, ["attack.t1021.002"])
    link_detection([logon, anywhere], {}, mini)
    assert logon.detections[0].implements == ("AN1468",) and logon.data_components == ["DC0067"]
    assert anywhere.detections[0].implements == ("AN1468",)  # no product: any platform


def test_data_needed_item_decides_what_the_rule_reads(mini: AttackSnapshot) -> None:
    item = DataNeeded(
        "DN_share",
        Path("dn.yml"),
        "share",
        logsource=LogSource("windows", "security"),
        platform="Windows",
        channel="Security",
        event_ids=[5140, 5145],
    )
    keyword = rule(mini, "kw", LogSource("windows", "security"), {"sel": ["psexesvc"]}, ["attack.t1021.002"], data_needed=["DN_share"])
    link_detection([keyword], {"DN_share": item}, mini)
    assert keyword.data_components == ["DC0102"]  # from the item's channel and event ids, though the rule names none
    assert keyword.detections[0].implements == ("AN1468",)


def test_an_auditd_item_stating_its_record_type_carries_that_records_components() -> None:
    """ATC's DN_0054 (`type: EXECVE`) showed no data component, while every rule reading only it mapped to DC0032."""
    item = DataNeeded("DN_execve", Path("dn.yml"), "execve", logsource=LogSource("linux", "auditd"), platform="Linux", type="EXECVE")
    linker = DetectionLinker(load_snapshot(), {"DN_execve": item})
    assert "DC0032" in linker.item_components(item)  # Process Creation lists auditd:EXECVE / EXECVE
    bare = Rule(
        path=Path("r.yml"), source_text="", data={"detection": {"sel": {"a0": "x"}, "condition": "sel"}}, id="r", title="r", slug="r"
    )
    bare.logsource, bare.data_needed = LogSource("linux", "auditd"), ["DN_execve"]
    linker.link(bare)
    assert bare.data_components == linker.item_components(item)  # a rule naming nothing more reads what its item carries


# --- the v18.1 facts ----------------------------------------------------------------------------------


def test_seed_rule_reads_dc0102_and_is_other_data_for_det0530(default_build: BuildResult) -> None:
    seed = next(r for r in default_build.kb.rules if r.slug == SEED_SLUG)
    assert seed.data_components == ["DC0102"]
    assert seed.detections == [DetectionRef("DET0530", "T1021.002", ())]  # AN1468 reads 4624/4648 and Sysmon 1/3/22, not 5145


@needs_corpora()
@pytest.mark.skipif(not REAL_STIX.exists(), reason="the shared ATT&CK v18.1 bundle is not here")
def test_v18_1_bundle_agrees_with_the_seed_rules_links(default_build: BuildResult) -> None:
    """Read straight from the STIX bundle: 5145 is DC0102's, T1021.002 is detected by DET0530 with the Windows analytic AN1468."""
    objects = json.loads(REAL_STIX.read_text(encoding="utf-8"))["objects"]
    ext = {
        o["id"]: next((r["external_id"] for r in o.get("external_references", ()) if r.get("source_name") == "mitre-attack"), None)
        for o in objects
    }
    by_ext = {ext[o["id"]]: o for o in objects if ext[o["id"]]}
    assert {"name": "WinEventLog:Security", "channel": "EventCode=5145"} in by_ext["DC0102"]["x_mitre_log_sources"]
    detects = {ext[r["source_ref"]] for r in objects if r.get("relationship_type") == "detects" and ext.get(r["target_ref"]) == "T1021.002"}
    assert "DET0530" in detects
    analytics = [ext[ref] for ref in by_ext["DET0530"]["x_mitre_analytic_refs"]]
    assert analytics == ["AN1468"] and by_ext["AN1468"]["x_mitre_platforms"] == ["Windows"]
    channels = {ref["channel"] for ref in by_ext["AN1468"]["x_mitre_log_source_references"]}
    assert not any(re.search(r"\b5145\b", channel) for channel in channels)
    seed = next(r for r in default_build.kb.rules if r.slug == SEED_SLUG)
    assert seed.data_components == ["DC0102"] and [d.strategy for d in seed.detections] == ["DET0530"]


# --- pages ------------------------------------------------------------------------------------------------


def test_seed_page_shows_data_component_and_strategy(default_build: BuildResult) -> None:
    page = default_build.pages[f"Detection_Rules/{SEED_SLUG}.md"]
    section = page.split("## ATT&amp;CK detection", 1)[1].split("## Related rules", 1)[0]
    assert "[DC0102: Network Share Access](../ATTACK/data_components/DC0102.md)" in section
    assert re.search(
        r"\[DET0530: [^]]+\]\(\.\./ATTACK/detection_strategies/DET0530\.md\) \(T1021\.002\): same technique, other data", section
    )
    assert "Environments" not in page  # none configured: nothing changes


def test_implementing_rule_says_which_analytic(default_build: BuildResult) -> None:
    implementing = [r for r in default_build.kb.rules if any(d.implements for d in r.detections)]
    assert implementing
    first = implementing[0]
    ref = next(d for d in first.detections if d.implements)
    page = default_build.pages[f"Detection_Rules/{first.slug}.md"]
    assert f"implements {ref.implements[0]} on " in page


def test_data_component_page_lists_log_sources_items_and_rules(default_build: BuildResult) -> None:
    page = default_build.pages["ATTACK/data_components/DC0102.md"]
    assert "| WinEventLog:Security | EventCode=5145 |" in page
    assert "(../../Data_Needed/DN_0032_5145_network_share_object_was_accessed_detailed.md)" in page
    assert f"(../../Detection_Rules/{SEED_SLUG}.md)" in page
    item = default_build.pages["Data_Needed/DN_0032_5145_network_share_object_was_accessed_detailed.md"]
    assert "| **ATT&amp;CK Data Components** | [DC0102: Network Share Access](../ATTACK/data_components/DC0102.md) |" in item
    index = default_build.pages["ATTACK/data_components/index.md"]
    assert "[DC0102: Network Share Access](DC0102.md)" in index


def test_detection_strategy_page_lists_analytics_tunables_and_rules(default_build: BuildResult) -> None:
    page = default_build.pages["ATTACK/detection_strategies/DET0530.md"]
    assert "## AN1468 (Windows)" in page
    assert "[DC0067: Logon Session Creation](../data_components/DC0067.md) | WinEventLog:Security | EventCode=4624, 4648 |" in page
    assert re.search(r"\*\*Tunable elements\*\*: .*TimeWindow", page)
    other = page.split("## Same technique, other data", 1)[1]
    assert f"(../../Detection_Rules/{SEED_SLUG}.md)" in other
    technique = default_build.pages["ATTACK/techniques/T1021.002.md"]
    assert "(../detection_strategies/DET0530.md): 0 of 1 analytic implemented by a rule" in technique
    assert "[DC0067: Logon Session Creation](../data_components/DC0067.md)" in technique  # ATT&CK's own, from AN1468


def test_analytics_layer_and_matrix(default_build: BuildResult) -> None:
    snapshot = default_build.kb.attack
    layer = json.loads(default_build.pages["ATTACK/layers/analytics.json"])
    assert validate_layer(layer, snapshot) == []
    scores = {(e["techniqueID"], e["tactic"]): e["score"] for e in layer["techniques"]}
    expected: dict[str, set[str]] = {}
    for r in default_build.kb.rules:
        for ref in r.detections:
            expected.setdefault(ref.technique, set()).update(ref.implements)
    assert scores[("T1021.002", "lateral-movement")] == 0  # the seed reads other data
    implemented = {tid: len(ids) for tid, ids in expected.items() if ids}
    assert implemented
    for (tid, _), score in scores.items():
        assert score == implemented.get(tid, 0), tid
    top = max(max(scores.values()), 1)  # the legend speaks of analytics, as the scores count them (it said "rule(s)")
    assert [item["label"] for item in layer["legendItems"]] == ["no analytic (gap)", f"{top} analytic(s) or more"]
    assert json.loads(default_build.pages["ATTACK/layers/all.json"])["legendItems"][0]["label"] == "no rule (gap)"
    matrix = default_build.pages["ATTACK/matrix-analytics.md"]
    assert "analytics implemented" in matrix and 'title="0 analytics"' in matrix


def test_a_snapshot_without_the_detection_model_still_builds(default_build: BuildResult, tmp_path: Path) -> None:
    """A snapshot made before ATT&CK v18 has no strategies or analytics: the pages in the navigation still exist."""
    data = json.loads(DEFAULT_SNAPSHOT.read_text(encoding="utf-8"))
    for key in ("data_components", "detection_strategies", "analytics"):
        del data[key]
    old = tmp_path / "old.json"
    old.write_text(json.dumps(data), encoding="utf-8")
    kb = replace(
        default_build.kb.with_rules([replace(r, data_components=[], detections=[]) for r in default_build.kb.rules]),
        attack=load_snapshot(old),
    )
    pages = render_pages(RenderContext.of(kb, [], REPO_ROOT / "templates"))
    assert {"ATTACK/matrix-analytics.md", "ATTACK/data_components/index.md", "ATTACK/detection_strategies/index.md"} <= set(pages)
    assert not any(re.search(r"/(DC|DET)\d{4}\.md$", name) for name in pages)
    assert "atc attack update" in pages["ATTACK/data_components/index.md"]


def test_a_strategy_named_after_its_technique_does_not_repeat_it(default_build: BuildResult) -> None:
    """ATT&CK's DET0294 is "... (T1204.002)": the rule page said "(T1204.002)" twice after its link."""
    page = default_build.pages["Detection_Rules/proc_creation_win_office_spawns_script_host.md"]
    assert "\\(T1204.002\\)](../ATTACK/detection_strategies/DET0294.md): implements " in page
    assert "(T1204.002) (T1204.002)" not in page.replace("\\", "").replace("](../ATTACK/detection_strategies/DET0294.md)", "")


def test_a_strategy_no_rule_is_tagged_for_does_not_claim_every_tagged_rule_implements_it(default_build: BuildResult) -> None:
    """A parent technique's strategy (its page exists for a sub-technique's rules) has no tagged rule: nothing to claim of them."""
    tagged = {ref.strategy for rule in default_build.kb.rules for ref in rule.detections}
    pages = {name: page for name, page in default_build.pages.items() if re.fullmatch(r"ATTACK/detection_strategies/DET\d+\.md", name)}
    untagged = {name for name in pages if name.rsplit("/", 1)[1][:-3] not in tagged}
    assert untagged and untagged != set(pages)
    for name, page in pages.items():
        claims = "Every rule tagged with this strategy's techniques implements one of its analytics." in page
        assert claims == (name not in untagged and "Rules tagged with a technique this strategy detects that read none" not in page), name
        assert ("No rule is tagged with a technique this strategy detects" in page) == (name in untagged), name
