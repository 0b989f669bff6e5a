"""ATT&CK: snapshot building (attackcti, offline), loading, tag resolution and Navigator layers."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from atc.link.attack import resolve_tags, tactic_url, technique_url
from atc.link.navigator import navigator_layer, validate_layer
from atc.load.attack import DEFAULT_SNAPSHOT, load_snapshot
from atc.load.attack_update import build_snapshot, chain_end, derive_version, dumps_snapshot, run_update, write_snapshot
from atc.model import AttackSnapshot, TacticRef

MINI_STIX = Path(__file__).parent / "fixtures" / "stix" / "mini-attack.json"
REAL_STIX = Path(__file__).resolve().parents[2] / "shared" / "corpora" / "attack" / "enterprise-attack-v18.1.json"


@pytest.fixture(scope="module")
def mini_data() -> dict:
    """The snapshot data built from the hand-written mini bundle."""
    return build_snapshot(MINI_STIX)


@pytest.fixture(scope="module")
def mini(mini_data: dict, tmp_path_factory: pytest.TempPathFactory) -> AttackSnapshot:
    """The mini snapshot, written and loaded back."""
    path = tmp_path_factory.mktemp("attack") / "mini.json"
    write_snapshot(mini_data, path)
    return load_snapshot(path)


@pytest.fixture(scope="module")
def real() -> AttackSnapshot:
    """The snapshot shipped in the package (ATT&CK v18.1)."""
    return load_snapshot()


# --- build_snapshot on the mini bundle ---------------------------------------------------------


def test_mini_header(mini_data: dict) -> None:
    assert mini_data["attack_version"] == "1.2"  # from the x-mitre-collection object
    assert mini_data["source"] == "mini-attack.json"


def test_tactics_follow_the_matrix_order(mini: AttackSnapshot) -> None:
    assert [t.shortname for t in mini.tactics] == ["execution", "defense-evasion", "lateral-movement"]
    assert mini.tactics[2].id == "TA0008"
    assert mini.tactics[2].url == "https://attack.mitre.org/tactics/TA0008"


def test_revoked_by_is_the_end_of_the_chain(mini: AttackSnapshot) -> None:
    assert mini.techniques["T1150"].revoked_by == "T1647"  # T1150 → T1547.011 → T1647
    assert mini.techniques["T1547.011"].revoked_by == "T1647"
    assert mini.techniques["T1077"].revoked_by == "T1021.002"
    assert mini.techniques["T1077"].revoked and not mini.techniques["T1077"].deprecated
    assert mini.techniques["T1647"].revoked_by is None


def test_deprecated_and_parent(mini: AttackSnapshot) -> None:
    assert mini.techniques["T1064"].deprecated and not mini.techniques["T1064"].revoked
    assert mini.techniques["T1064"].tactics == ("execution", "defense-evasion")  # matrix order
    assert mini.techniques["T1021.002"].parent == "T1021"
    assert mini.techniques["T1021"].parent is None
    assert mini.techniques["T1059"].platforms == ("Linux", "Windows")


def test_data_components_via_analytics_and_legacy_detects(mini: AttackSnapshot) -> None:
    assert mini.techniques["T1021.002"].data_components == ("Command Execution", "Logon Session Creation", "Network Share Access")
    assert mini.techniques["T1059"].data_components == ("Command Execution",)
    assert mini.techniques["T1021"].data_components == ()


def test_data_components_keep_their_log_sources(mini: AttackSnapshot) -> None:
    assert sorted(mini.data_components) == ["DC0064", "DC0067", "DC0102"]  # the deprecated DC0999 is left out
    share = mini.data_components["DC0102"]
    assert share.name == "Network Share Access" and share.url == "https://attack.mitre.org/datacomponents/DC0102"
    assert [(s.name, s.channel) for s in share.log_sources] == [
        ("WinEventLog:Security", "EventCode=5140"),
        ("WinEventLog:Security", "EventCode=5145"),
        ("Network Share", "None"),
    ]


def test_strategies_and_analytics_on_two_platforms(mini: AttackSnapshot, mini_data: dict) -> None:
    strategy = mini.detection_strategies["DET0530"]
    assert (strategy.name, strategy.techniques, strategy.analytics) == ("Admin share use", ("T1021.002",), ("AN1468", "AN1469"))
    assert [s.id for s in mini.strategies_for("T1021.002")] == ["DET0530"] and mini.strategies_for("T1059") == []
    windows, linux = mini.analytics["AN1468"], mini.analytics["AN1469"]
    assert windows.platforms == ("Windows",) and linux.platforms == ("Linux",)
    assert [(s.data_component, s.name, s.channel) for s in windows.log_sources] == [
        ("DC0102", "WinEventLog:Security", "EventCode=5140"),
        ("DC0067", "WinEventLog:Security", "EventCode=4624"),
        ("DC0102", "WinEventLog:Security", "EventCode=5145"),
    ]
    assert windows.mutable_elements == ("TimeWindow", "ShareName") and linux.mutable_elements == ("UserContext",)
    # an analytic log source its component does not list is added to the component, so analytics hold indexes only
    assert ("WinEventLog:Security", "EventCode=4624") in [(s.name, s.channel) for s in mini.data_components["DC0067"].log_sources]
    assert all(isinstance(index, int) for record in mini_data["analytics"] for _, index in record["log_sources"])


def test_snapshot_text_is_deterministic_and_has_no_descriptions(mini_data: dict, tmp_path: Path) -> None:
    text = dumps_snapshot(mini_data)
    assert text == dumps_snapshot(build_snapshot(MINI_STIX))
    assert text.endswith("}\n") and "Not copied" not in text and "Analytic 1468" not in text
    assert json.loads(text) == mini_data
    write_snapshot(mini_data, tmp_path / "out" / "a.json")
    assert (tmp_path / "out" / "a.json").read_text(encoding="utf-8") == text


def test_derive_version() -> None:
    assert derive_version([], "enterprise-attack-v18.1.json") == "18.1"
    assert derive_version([], "enterprise-attack-17.0.json") == "17.0"
    assert derive_version([{"x_mitre_version": "19.0"}], "enterprise-attack-v18.1.json") == "19.0"
    assert derive_version([{"x_mitre_version": "19.0"}], "x.json", override="18.1") == "18.1"
    with pytest.raises(ValueError, match="--version"):
        derive_version([], "enterprise-attack.json")


def test_chain_end_stops_on_a_cycle() -> None:
    assert chain_end("a", {"a": "b", "b": "c"}) == "c"
    assert chain_end("a", {"a": "b", "b": "a"}) == "b"


def test_run_update(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    output = tmp_path / "snapshot.json"
    assert run_update(MINI_STIX, output, version="9.9") == 0
    assert load_snapshot(output).version == "9.9"
    assert "wrote ATT&CK 9.9: 8 techniques, 3 tactics" in capsys.readouterr().err
    assert run_update(tmp_path / "missing.json", output) == 1
    assert "error: no STIX bundle" in capsys.readouterr().err


def test_load_snapshot_rejects_an_unknown_format(tmp_path: Path) -> None:
    path = tmp_path / "old.json"
    path.write_text('{"format": 0}', encoding="utf-8")
    with pytest.raises(ValueError, match="atc attack update"):
        load_snapshot(path)


# --- the packaged v18.1 snapshot ---------------------------------------------------------------


def test_packaged_snapshot(real: AttackSnapshot) -> None:
    assert (real.version, real.source) == ("18.1", "enterprise-attack-v18.1.json")
    assert len(real.tactics) == 14 and real.tactics[0].shortname == "reconnaissance"
    assert len(real.techniques) == 835
    assert sum(t.revoked for t in real.techniques.values()) == 132
    assert sum(t.deprecated for t in real.techniques.values()) == 12
    assert "Process Creation" in real.techniques["T1059.001"].data_components
    assert DEFAULT_SNAPSHOT.stat().st_size < 1_000_000
    assert (len(real.data_components), len(real.detection_strategies), len(real.analytics)) == (106, 691, 1739)


def test_packaged_snapshot_knows_the_seed_rules_detection_model(real: AttackSnapshot) -> None:
    """v18.1 facts: Security 5145 is DC0102 Network Share Access; T1021.002 is detected by DET0530, Windows analytic AN1468."""
    share = real.data_components["DC0102"]
    assert share.name == "Network Share Access"
    assert ("WinEventLog:Security", "EventCode=5145") in [(s.name, s.channel) for s in share.log_sources]
    assert "DET0530" in [s.id for s in real.strategies_for("T1021.002")]
    assert real.detection_strategies["DET0530"].analytics == ("AN1468",)
    analytic = real.analytics["AN1468"]
    assert analytic.platforms == ("Windows",)
    assert {(s.data_component, s.channel) for s in analytic.log_sources} == {
        ("DC0067", "EventCode=4624, 4648"),
        ("DC0082", "EventCode=3, 22"),
        ("DC0032", "EventCode=1"),
    }
    assert "TimeWindow" in analytic.mutable_elements


def test_light_modules_do_not_import_attackcti() -> None:
    code = "import sys, atc.load.attack, atc.link.attack, atc.link.navigator, atc.load.attack_update; print('attackcti' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


@pytest.mark.skipif(not REAL_STIX.exists(), reason="the shared ATT&CK v18.1 bundle is not here")
def test_regenerating_from_v18_1_reproduces_the_packaged_snapshot(tmp_path: Path) -> None:
    output = tmp_path / "enterprise-attack.json"
    assert run_update(REAL_STIX, output) == 0
    assert output.read_bytes() == DEFAULT_SNAPSHOT.read_bytes()


# --- resolve_tags ------------------------------------------------------------------------------


def test_revoked_technique_resolves_to_the_chain_end(real: AttackSnapshot) -> None:
    _, techniques = resolve_tags(["attack.t1077", "attack.T1150"], real)
    assert [(r.tag_id, r.status) for r in techniques] == [("T1077", "revoked"), ("T1150", "revoked")]
    assert techniques[0].technique.name == "Windows Admin Shares"
    assert techniques[0].current.id == "T1021.002"
    assert techniques[1].current.id == "T1647"


def test_current_deprecated_and_unknown_techniques(real: AttackSnapshot) -> None:
    _, techniques = resolve_tags(["attack.t1021.002", "attack.t1064", "attack.t1699", "attack.t1685.001"], real)
    assert [(r.tag_id, r.status) for r in techniques] == [
        ("T1021.002", "current"),
        ("T1064", "deprecated"),
        ("T1699", "unknown"),
        ("T1685.001", "newer"),  # v19: tests/test_attack_v19.py
    ]
    assert techniques[0].technique.parent == "T1021" and techniques[0].current is None
    assert techniques[2].technique is None and techniques[2].current is None


def test_tactic_tags_in_both_spellings_and_unknown_ones(real: AttackSnapshot) -> None:
    tactics, _ = resolve_tags(["attack.lateral_movement", "attack.lateral-movement", "attack.stealth", "attack.Defense-Impairment"], real)
    assert [r.tag for r in tactics] == ["lateral_movement", "stealth", "Defense-Impairment"]
    assert tactics[0].tactic.id == "TA0008"
    assert tactics[1] == TacticRef("stealth", real.tactic_by_shortname("defense-evasion"), newer="TA0005 Stealth")  # ATT&CK v19 names
    assert tactics[2].tactic.id == "TA0005" and tactics[2].newer == "TA0112 Defense Impairment"
    tactics, _ = resolve_tags(["attack.no-such-tactic"], real)
    assert tactics[0].tactic is None
    tactics, _ = resolve_tags(["attack.lateral-movement"], real)
    assert tactics[0].tactic.shortname == "lateral-movement"


def test_tag_order_duplicates_and_other_tags(real: AttackSnapshot) -> None:
    tags = [
        "attack.t1059.001",
        "attack.execution",
        "attack.g0016",
        "attack.s0029",
        "attack.ds0005",
        "cve.2021-44228",
        "detection.threat-hunting",
        "car.2016-04-005",
        "attack.T1059.001",
        "attack.t1003",
        "attack.Execution",
    ]
    tactics, techniques = resolve_tags(tags, real)
    assert [r.tag for r in tactics] == ["execution"]
    assert [r.tag_id for r in techniques] == ["T1059.001", "T1003"]


def test_urls() -> None:
    assert technique_url("T1021.002") == "https://attack.mitre.org/techniques/T1021/002"
    assert technique_url("t1685") == "https://attack.mitre.org/techniques/T1685"
    assert tactic_url("ta0008") == "https://attack.mitre.org/tactics/TA0008"


# --- Navigator layer ---------------------------------------------------------------------------


def test_layer_has_every_current_technique_once_per_tactic(real: AttackSnapshot) -> None:
    layer = navigator_layer("Sigma coverage", "rules per technique", {"T1021.002": 3, "t1059.001": 2, "T1685": 9, "T1077": 1}, real)
    assert validate_layer(layer, real) == []
    assert layer["versions"] == {"attack": "18", "navigator": "5.1.0", "layer": "4.5"}
    cells = [(e["techniqueID"], e["tactic"]) for e in layer["techniques"]]
    current = [t for t in real.techniques.values() if not (t.revoked or t.deprecated)]
    assert sorted(cells) == sorted((t.id, tactic) for t in current for tactic in t.tactics)
    scores = {cell: e["score"] for cell, e in zip(cells, layer["techniques"])}
    assert scores[("T1021.002", "lateral-movement")] == 3
    assert scores[("T1059.001", "execution")] == 2
    assert scores[("T1003", "credential-access")] == 0  # a gap
    assert all(t not in {e["techniqueID"] for e in layer["techniques"]} for t in ("T1685", "T1077", "T1064"))
    assert layer["gradient"]["maxValue"] == 3


def test_layer_subtechnique_display_and_determinism(real: AttackSnapshot) -> None:
    layer = navigator_layer("x", "", {"T1021.002": 1}, real)
    entries = {(e["techniqueID"], e["tactic"]): e for e in layer["techniques"]}
    assert entries[("T1021", "lateral-movement")]["showSubtechniques"] is True
    assert entries[("T1059", "execution")]["showSubtechniques"] is False
    assert "showSubtechniques" not in entries[("T1021.002", "lateral-movement")]
    assert json.dumps(layer) == json.dumps(navigator_layer("x", "", {"T1021.002": 1}, real))
    assert layer["techniques"][0]["tactic"] == "reconnaissance"


def test_layer_on_the_mini_snapshot(mini: AttackSnapshot) -> None:
    layer = navigator_layer("mini", "", {}, mini)
    assert validate_layer(layer, mini) == []
    assert [(e["techniqueID"], e["tactic"], e["score"]) for e in layer["techniques"]] == [
        ("T1059", "execution", 0),
        ("T1647", "defense-evasion", 0),
        ("T1021", "lateral-movement", 0),
        ("T1021.002", "lateral-movement", 0),
    ]
    assert layer["gradient"]["minValue"] < layer["gradient"]["maxValue"]


def test_validate_layer_reports_errors(mini: AttackSnapshot) -> None:
    layer = navigator_layer("mini", "", {}, mini)
    layer["versions"]["attack"] = "17"
    layer["techniques"][1] = {"techniqueID": "T1077", "tactic": "lateral-movement", "score": 0, "enabled": True}
    layer["techniques"].append({"techniqueID": "T1059", "tactic": "execution", "score": -1, "enabled": True})
    layer["techniques"].append({"techniqueID": "T1021", "tactic": "execution", "score": 0, "enabled": True})
    errors = validate_layer(layer, mini)
    assert any(e.startswith("versions:") for e in errors)
    assert "T1077: not a current technique" in errors
    assert "T1059/execution: listed twice" in errors
    assert "T1059/execution: score -1 is not a count" in errors
    assert "T1021: not in tactic 'execution'" in errors
    assert "T1647/defense-evasion: missing" in errors


def test_update_from_a_server_that_never_answers_fails_within_its_timeout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A proxy (or server) that accepts the connection and then says nothing: an error after --timeout, not a hang."""
    import socket
    import time

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"):
        monkeypatch.setenv(name, f"http://127.0.0.1:{listener.getsockname()[1]}")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    started = time.monotonic()
    try:
        assert run_update(None, tmp_path / "snapshot.json", timeout=1) == 1
    finally:
        listener.close()
    assert time.monotonic() - started < 30 and not (tmp_path / "snapshot.json").exists()
    assert "error:" in capsys.readouterr().err
    from requests.adapters import HTTPAdapter

    assert HTTPAdapter.send.__name__ == "send"  # requests is as it was once the update is done


def test_update_writes_the_snapshot_atc_yml_names_not_the_packaged_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from atc.commands import main
    from atc.load import attack

    packaged = tmp_path / "package" / "enterprise-attack.json"  # a regression must not write over the real one
    monkeypatch.setattr(attack, "DEFAULT_SNAPSHOT", packaged)
    (tmp_path / ".git").mkdir()
    (tmp_path / "atc.yml").write_text("attack_snapshot: attack/snapshot.json\n", encoding="utf-8")
    (tmp_path / "rules").mkdir()
    monkeypatch.chdir(tmp_path / "rules")  # found as every command finds atc.yml
    assert main(["attack", "update", "--from-stix", str(MINI_STIX), "--version", "9.9"]) == 0
    assert load_snapshot(tmp_path / "attack" / "snapshot.json").version == "9.9"
    assert not packaged.exists()
    (tmp_path / "atc.yml").unlink()
    assert main(["attack", "update", "--from-stix", str(MINI_STIX), "--version", "9.9"]) == 0
    assert load_snapshot(packaged).version == "9.9"  # without one: the packaged snapshot, as before


@pytest.mark.parametrize(("output", "why"), [(".", "Is a directory"), ("a-file/snapshot.json", "File exists")])
def test_update_to_a_path_that_cannot_be_written_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], output: str, why: str
) -> None:
    """It was a traceback (IsADirectoryError, FileExistsError) once the snapshot was built."""
    from atc.commands import main

    monkeypatch.chdir(tmp_path)
    (tmp_path / "a-file").write_text("", encoding="utf-8")
    assert main(["attack", "update", "--from-stix", str(MINI_STIX), "--output", output]) == 1
    assert capsys.readouterr().err.splitlines()[-1] == f"error: {output}: cannot write the snapshot: {why}"
