"""Evidence from SigmaHQ-style regression tests (our own fixtures in SigmaHQ's layout), and `atc verify` reading atc.yml."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from atc.commands import main
from atc.engine import BuildResult, run_build
from atc.load.rules import load_rules
from atc.settings import default_settings
from atc.verify.regression import read_events, resolve_info

FIXTURE = Path(__file__).parent / "fixtures" / "regression"
IPV6 = "net_connection_win_fixture_non_loopback_ipv6"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> BuildResult:
    out = tmp_path_factory.mktemp("evidence")
    settings = replace(
        default_settings(),
        rules=(FIXTURE / "rules",),
        docs_dir=out / "docs",
        site_dir=out / "site",
        cache_dir=out / "cache",
        build_site=False,
        jobs=1,
        base_dir=FIXTURE,
        events=None,
    )
    return run_build(settings, quiet=True)


def test_every_fixture_rule_shows_its_regression_results_per_target(built: BuildResult) -> None:
    for rule in built.kb.rules:
        page = built.pages[f"Detection_Rules/{rule.slug}.md"]
        assert rule.evidence_source and rule.evidence_source.endswith(f"{rule.path.stem}/info.yml")
        assert {e.target for e in rule.evidence} == {"grep", "sqlite", "powershell"}
        assert page.count("**On SigmaHQ regression events**") == 3
    certutil = built.pages["Detection_Rules/proc_creation_win_fixture_certutil_urlcache.md"]
    assert "Positive Detection Test: matches 1 of 1 regression events, expected 1: as expected" in certutil
    assert "matches 1 of 1 regression events \\(simulated\\), expected 1: as expected" in certutil  # PowerShell
    run_keys = built.pages["Detection_Rules/registry_set_fixture_run_key_public.md"]
    assert run_keys.count("Two Registry Writes: matches 1 of 2 regression events") == 3  # the regex keeps to one key level


def test_the_fixtures_pass_everywhere_including_the_spelled_out_loopback(built: BuildResult) -> None:
    """0000:...:0001 is ::1: grep, SQLite (REGEXP over every spelling) and PowerShell all keep it out."""
    rule = next(r for r in built.kb.rules if r.slug == IPV6)
    assert {e.target: (e.matched, e.passed) for e in rule.evidence} == {t: (0, True) for t in ("grep", "sqlite", "powershell")}
    assert not [p for p in built.kb.problems if p.kind.startswith("evidence")]
    listing = built.pages["evidence.md"]
    assert "5 of 5 rules have regression tests; 0 results failed" in listing and listing.count(" | passed | passed | passed |") == 5
    assert "None: every query gave the expected number of matches." in listing


def test_a_wrong_count_is_a_failure_on_the_page_the_list_and_the_problems(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(FIXTURE, repo)
    info = next((repo / "regression_data").rglob("registry_set_fixture_run_key_public/info.yml"))
    info.write_text(info.read_text().replace("match_count: 1", "match_count: 2"))  # the second write is one key deeper
    settings = replace(
        default_settings(),
        rules=(repo / "rules",),
        docs_dir=tmp_path / "docs",
        site_dir=tmp_path / "site",
        cache_dir=tmp_path / "cache",
        build_site=False,
        jobs=1,
        base_dir=repo,
        events=None,
    )
    result = run_build(settings, quiet=True)
    failed = sorted(p.message.split(":")[0] for p in result.kb.problems if p.kind == "evidence-failed")
    assert failed == ["grep", "powershell", "sqlite"]
    page = result.pages["Detection_Rules/registry_set_fixture_run_key_public.md"]
    assert page.count("Two Registry Writes: matches 1 of 2 regression events") == 3 and page.count("expected 2: FAILED") == 3
    listing = result.pages["evidence.md"]
    assert "3 results failed" in listing and listing.count("| **failed** | **failed** | **failed** |") == 1
    assert (
        "(Detection_Rules/registry_set_fixture_run_key_public.md), grep: Two Registry Writes: matches 1 of 2 regression events, expected 2: FAILED"
        in listing
    )


def test_unusable_tests_are_named_problems_and_paths_never_leave_the_repository(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(FIXTURE, repo)
    info = next((repo / "regression_data").rglob("posh_pc_fixture_hidden_window/info.yml"))
    info.write_text(info.read_text().replace("8b0e4d2f-7a31-4f55-9c1e-2d6a9f3b5c02", "00000000-0000-4000-8000-000000000000", 1))
    escape = next((repo / "rules").rglob("proc_creation_win_fixture_certutil_urlcache.yml"))
    escape.write_text(
        escape.read_text().replace("regression_tests_path: regression_data", "regression_tests_path: ../../../../regression_data")
    )
    rules = {rule.path.stem: rule for rule in load_rules([repo / "rules"], [])}
    assert resolve_info(rules["proc_creation_win_fixture_certutil_urlcache"], [repo]) is None  # outside every folder above the rule
    settings = replace(
        default_settings(),
        rules=(repo / "rules",),
        docs_dir=tmp_path / "docs",
        site_dir=tmp_path / "site",
        cache_dir=tmp_path / "cache",
        build_site=False,
        jobs=1,
        base_dir=repo,
        events=None,
    )
    result = run_build(settings, quiet=True)
    unusable = [p for p in result.kb.problems if p.kind == "evidence"]
    assert len(unusable) == 1 and "rule_metadata names 00000000-0000-4000-8000-000000000000, not this rule" in unusable[0].message
    assert str(info) in unusable[0].message
    assert "could not be read" in result.pages["evidence.md"]


def test_events_are_one_object_a_list_or_json_lines(tmp_path: Path) -> None:
    one, many, lines = tmp_path / "one.json", tmp_path / "many.json", tmp_path / "lines.json"
    one.write_text('{"Event": {"System": {"EventID": 1}, "EventData": {"Image": "a"}}}')
    many.write_text('[{"a": 1}, {"a": 2}]')
    lines.write_text('{"a": 1}\n{"b": {"c": 2}}\n')
    assert [e.fields for e in read_events(one)] == [{"EventID": 1, "Image": "a"}]
    assert len(read_events(many)) == 2
    assert [e.fields for e in read_events(lines)] == [{"a": 1}, {"b.c": 2}]


def test_verify_reads_atc_yml_like_build(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(FIXTURE, repo)
    (repo / "atc.yml").write_text("rules: rules\ntargets: [grep, powershell, splunk]\n")
    monkeypatch.chdir(repo)
    assert main(["verify"]) == 0  # atc.yml's rules and its runnable targets: grep and the PowerShell simulation pass
    out = capsys.readouterr().out
    assert "| grep |" in out and "| powershell |" in out and "| sqlite |" not in out and "| splunk |" not in out
    assert out.count("EVIDENCE grep") == 5 and out.count("EVIDENCE powershell") == 5 and ": FAILED" not in out
    assert main(["verify", "--targets", "sqlite"]) == 0  # the option wins over atc.yml
    out = capsys.readouterr().out
    assert f"EVIDENCE sqlite {repo / 'rules'}" in out and "| grep |" not in out
    info = next((repo / "regression_data").rglob("posh_pc_fixture_hidden_window/info.yml"))
    info.write_text(info.read_text().replace("match_count: 1", "match_count: 0"))
    assert main(["verify"]) == 1  # a regression test that disagrees fails the run
    assert "Classic Log Test: matches 1 of 1 regression events, expected 0: FAILED" in capsys.readouterr().out


def test_an_alias_bomb_info_yml_is_refused_with_the_file_named(tmp_path: Path) -> None:
    from atc.verify.regression import EvidenceError, read_tests

    rule = next(r for r in load_rules([FIXTURE / "rules"], []) if r.path.stem == "proc_creation_win_fixture_certutil_urlcache")
    info = tmp_path / "info.yml"
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"] + [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 8)]
    info.write_text("\n".join(lines) + "\n")
    with pytest.raises(EvidenceError, match=f"{info}: YAML expands to more than"):
        read_tests(info, tmp_path, rule)


def test_an_event_of_an_unexpected_shape_is_a_reason_naming_the_file(tmp_path: Path) -> None:
    from atc.verify.regression import EvidenceError

    odd = tmp_path / "odd.json"
    odd.write_text('{"Event": {"System": {"Provider": {"#attributes": "not a mapping"}}}}')
    with pytest.raises(EvidenceError, match=f"{odd}: not an event atc can read"):
        read_events(odd)
