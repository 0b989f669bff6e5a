"""Deployable exports: one file per target in its backend's format, parsing as that format, one entry per converted rule."""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest
import yaml
from sigma.rule import SigmaRule

from atc.engine import BuildResult, run_build
from atc.settings import load_config_file
from tests.test_team_targets import CERTUTIL, SIGMA_CLI, scratch_repo

WHOAMI = (
    CERTUTIL.replace("Certutil Downloading A File", "Whoami Run By A Web Server")
    .replace("2d8a6b2e-5d1e-4c1b-9a4e-0c6f5b8a7d11", "5b9d0f43-0d6f-4a43-9c51-6d1b5b1f0a11")
    .replace("\\certutil.exe", "\\whoami.exe")
)
PLACEHOLDER = """\
title: Admin Tool Run By A Listed User
id: 3e9b7c3f-6e2f-4d2c-8b5f-1d7a6c9b8e22
status: test
description: a rule with a placeholder the team fills per SIEM.
author: atc tests
date: 2026-01-05
logsource:
    category: process_creation
    product: windows
detection:
    selection:
        User|expand: '%admin_users%'
    condition: selection
level: low
"""
TARGETS = """\
targets:
  - splunk
  - es-qs
  - loki
  - sqlite
  - kusto
  - key: splunk-ours
    backend: splunk
    pipelines: [splunk_windows, pipelines/field_mapping.yml]
    options: {min_time: -7d}
  - {key: splunk-plain, backend: splunk, pipelines: [splunk_windows], export: false}
"""
CONVERTIBLE = {"Certutil Downloading A File", "Whoami Run By A Web Server"}


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> BuildResult:
    root = tmp_path_factory.mktemp("exports")
    config = scratch_repo(root, TARGETS)
    (root / "rules" / "windows" / "proc_creation_win_webserver_whoami.yml").write_text(WHOAMI, encoding="utf-8")
    (root / "rules" / "windows" / "proc_creation_win_listed_admin.yml").write_text(PLACEHOLDER, encoding="utf-8")
    return run_build(replace(load_config_file(config), build_site=False, jobs=1), quiet=True)


def savedsearches(text: str) -> dict[str, dict[str, str]]:
    """Splunk .conf stanzas: `[name]`, then `key = value` lines, a trailing backslash continuing the value."""
    stanzas: dict[str, dict[str, str]] = {}
    current: dict[str, str] | None = None
    key = None
    for line in text.splitlines():
        if key is not None:  # a continued value
            current[key] += "\n" + line.removesuffix("\\")  # type: ignore[index]
            key = key if line.endswith("\\") else None
        elif match := re.fullmatch(r"\[(.+)\]", line):
            assert match.group(1) not in stanzas, f"stanza {match.group(1)} twice"
            current = stanzas[match.group(1)] = {}
        elif line.strip():
            name, sep, value = line.partition(" = ")
            assert sep and current is not None, f"not a setting: {line!r}"
            current[name] = value.removesuffix("\\")
            key = name if value.endswith("\\") else None
    return stanzas


def not_converted(result: BuildResult, target: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(result.pages[f"exports/{target}/not-converted.csv"])))


def test_savedsearches_conf_holds_one_stanza_per_converted_rule(exported: BuildResult) -> None:
    stanzas = savedsearches(exported.pages["exports/splunk/savedsearches.conf"])
    assert set(stanzas) == {"default"} | CONVERTIBLE
    assert all("search" in stanzas[title] and "description" in stanzas[title] for title in CONVERTIBLE)
    assert 'CommandLine="*urlcache*"' in stanzas["Certutil Downloading A File"]["search"]


def test_team_targets_export_uses_its_pipeline_file_and_options(exported: BuildResult) -> None:
    stanzas = savedsearches(exported.pages["exports/splunk-ours/savedsearches.conf"])
    assert stanzas["default"]["dispatch.earliest_time"] == "-7d"  # options: {min_time: -7d}
    assert 'process.command_line="*urlcache*"' in stanzas["Certutil Downloading A File"]["search"]
    assert not any(path.startswith("exports/splunk-plain/") for path in exported.pages)  # export: false


def converted_titles(result: BuildResult, target: str) -> list[str]:
    missing = {row["title"] for row in not_converted(result, target)}
    return sorted(rule.title for rule in result.kb.rules if rule.title not in missing)


def test_ndjson_yaml_and_json_exports_parse_with_one_entry_per_converted_rule(exported: BuildResult) -> None:
    kibana = [json.loads(line) for line in exported.pages["exports/es-qs/kibana.ndjson"].splitlines()]
    assert sorted(item["attributes"]["title"] for item in kibana) == [f"SIGMA - {title}" for title in converted_titles(exported, "es-qs")]
    assert converted_titles(exported, "es-qs") == sorted(CONVERTIBLE)
    ruler = yaml.safe_load(exported.pages["exports/loki/ruler.yml"])
    assert sorted(rule["annotations"]["summary"] for rule in ruler["groups"][0]["rules"]) == converted_titles(exported, "loki")
    assert len(converted_titles(exported, "loki")) == 3  # LogQL expresses the placeholder rule
    zircolite = json.loads(exported.pages["exports/sqlite/zircolite.json"])
    assert sorted(rule["title"] for rule in zircolite) == converted_titles(exported, "sqlite") == sorted(CONVERTIBLE)
    assert not any(path.startswith("exports/kusto/") for path in exported.pages)  # the Kusto backend has no deploy format


def test_rules_the_backend_could_not_convert_are_listed_beside_the_export(exported: BuildResult) -> None:
    for target in ("splunk", "splunk-ours", "es-qs", "sqlite"):
        (row,) = not_converted(exported, target)
        assert row["id"] == "3e9b7c3f-6e2f-4d2c-8b5f-1d7a6c9b8e22" and row["status"] == "failed"
        assert (
            row["rule_file"] == "proc_creation_win_listed_admin.yml" and row["page"] == "Detection_Rules/proc_creation_win_listed_admin.md"
        )
        assert "placeholder" in row["reason"]


def test_targets_and_home_pages_link_the_exports(exported: BuildResult) -> None:
    targets = exported.pages["targets.md"]
    assert (
        "| splunk | savedsearches | [savedsearches.conf](exports/splunk/savedsearches.conf) | 2 | [1](exports/splunk/not-converted.csv) |"
        in targets
    )
    assert "[splunk-ours (savedsearches)](exports/splunk-ours/savedsearches.conf)" in exported.pages["index.md"]


def test_deploy_conversions_stay_off_the_rule_pages(exported: BuildResult) -> None:
    assert all("@" not in key for rule in exported.kb.rules for key in rule.conversions)
    page = exported.pages["Detection_Rules/proc_creation_win_certutil_download.md"]
    assert "savedsearches" not in page and "### splunk-ours" in page


@pytest.mark.skipif(not SIGMA_CLI.exists(), reason="sigma-cli is not installed in .venv")
def test_sigma_cli_writes_the_same_stanzas(exported: BuildResult) -> None:
    folder = exported.kb.rules[0].path.parent
    run = subprocess.run(
        [str(SIGMA_CLI), "convert", "-t", "splunk", "-p", "splunk_windows", "-f", "savedsearches", "-s", "."],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert savedsearches(run.stdout) == savedsearches(exported.pages["exports/splunk/savedsearches.conf"])


def test_a_title_that_would_inject_settings_is_kept_out_of_savedsearches(tmp_path: Path) -> None:
    config = scratch_repo(tmp_path, "targets: [splunk, sqlite]\n")
    hostile = CERTUTIL.replace(
        "title: Certutil Downloading A File", 'title: "Harmless\\naction.script = evil.sh\\ncron_schedule = * * * * *"'
    )
    (tmp_path / "rules" / "windows" / "proc_creation_win_certutil_download.yml").write_text(hostile, encoding="utf-8")
    (tmp_path / "rules" / "windows" / "proc_creation_win_webserver_whoami.yml").write_text(WHOAMI, encoding="utf-8")
    result = run_build(replace(load_config_file(config), build_site=False, jobs=1), quiet=True)
    stanzas = savedsearches(result.pages["exports/splunk/savedsearches.conf"])
    assert set(stanzas) == {"default", "Whoami Run By A Web Server"}
    assert "evil.sh" not in result.pages["exports/splunk/savedsearches.conf"]
    (row,) = not_converted(result, "splunk")
    assert row["status"] == "refused" and "line break" in row["reason"]
    assert row["title"] == "Harmless action.script = evil.sh cron_schedule = * * * * *"  # one line a cell in the CSV
    assert len(json.loads(result.pages["exports/sqlite/zircolite.json"])) == 2  # JSON is written by a serialiser: safe


def test_siem_rule_export_names_attack_techniques_from_the_snapshot_offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sigma.data.mitre_attack as attack

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("pySigma tried to download ATT&CK")

    monkeypatch.setattr(attack, "urlopen", refuse)
    config = scratch_repo(tmp_path, "targets:\n  - {key: elastic, backend: lucene, pipelines: [ecs_windows], export: siem_rule_ndjson}\n")
    result = run_build(replace(load_config_file(config), build_site=False, jobs=1), quiet=True)
    (rule,) = [json.loads(line) for line in result.pages["exports/elastic/siem_rules.ndjson"].splitlines()]
    (threat,) = rule["threat"]
    assert threat["tactic"]["id"] == "TA0011" and threat["technique"][0] == {
        "id": "T1105",
        "reference": "https://attack.mitre.org/techniques/T1105",
        "name": "Ingress Tool Transfer",
        "subtechnique": [],
    }
    assert not_converted(result, "elastic") == []


def test_exports_can_be_turned_off(tmp_path: Path) -> None:
    config = scratch_repo(tmp_path, "targets: [splunk]\nexports: false\n")
    result = run_build(replace(load_config_file(config), build_site=False, jobs=1), quiet=True)
    assert result.exports == [] and not any(path.startswith("exports/") for path in result.pages)
    assert result.convert_stats.for_exports == 0 and "exports/" not in result.pages["index.md"]


def test_each_backend_exports_in_its_usual_deploy_format() -> None:
    from atc.convert.deploy import export_format
    from atc.convert.targets import BY_KEY

    formats = {key: export_format(target) for key, target in BY_KEY.items()}
    assert formats["splunk"] == "savedsearches" and formats["loki"] == "ruler" and formats["sqlite"] == "zircolite"
    assert formats["es-qs"] == formats["esql"] == "kibana_ndjson" and formats["eql"] == "siem_rule_ndjson"
    assert formats["kusto"] == formats["grep"] == formats["powershell"] == ""  # no deployable format: no export
    assert formats["xpack-watcher"] == ""  # each query is a watch already; its Lucene backend's kibana_ndjson would repeat es-qs


def test_a_new_attack_snapshot_converts_the_siem_rule_export_again(tmp_path: Path) -> None:
    from atc.load.attack import DEFAULT_SNAPSHOT

    config = scratch_repo(
        tmp_path, "targets:\n  - {key: elastic, backend: lucene, pipelines: [ecs_windows], export: siem_rule_ndjson}\n  - splunk\n"
    )
    settings = replace(load_config_file(config), build_site=False, jobs=1)
    first = run_build(settings, quiet=True)
    snapshot = json.loads(DEFAULT_SNAPSHOT.read_text(encoding="utf-8"))
    for technique in snapshot["techniques"]:
        if technique["id"] == "T1105":
            technique["name"] = "Ingress Tool Transfer (renamed)"
    (tmp_path / "attack.json").write_text(json.dumps(snapshot), encoding="utf-8")
    second = run_build(replace(settings, attack_snapshot=tmp_path / "attack.json"), quiet=True)
    assert second.convert_stats.converted == 0 and second.convert_stats.cached == 2  # the pages' queries name no technique
    (rule,) = [json.loads(line) for line in second.pages["exports/elastic/siem_rules.ndjson"].splitlines()]
    assert rule["threat"][0]["technique"][0]["name"] == "Ingress Tool Transfer (renamed)"
    assert "(renamed)" not in first.pages["exports/elastic/siem_rules.ndjson"]


def _shared_and_separate(rules: list, cache_dir: Path) -> tuple[dict, dict]:
    """Each rule's deploy-format conversions made from its page conversions (twins after their targets in one job) and
    made alone (twins only: nothing to finalise from): status, query, and the error without pySigma's context suffix."""
    from atc.convert.attack_data import use_snapshot, with_attack
    from atc.convert.deploy import deploy_targets
    from atc.convert.runner import convert_rules
    from atc.convert.targets import DEFAULT_TARGETS, select_targets
    from atc.load.attack import load_snapshot

    attack = use_snapshot(load_snapshot(), cache_dir)
    targets = with_attack(select_targets(list(DEFAULT_TARGETS)), attack)
    deploy = with_attack(deploy_targets(targets), attack)

    def outcomes() -> dict:
        found = {(rule.slug, t.key): rule.conversions[t.key] for rule in rules for t in deploy}
        return {key: (c.status, c.query, (c.error or "").split(" (while ")[0]) for key, c in found.items()}

    convert_rules(rules, targets + deploy, 2)
    shared = outcomes()
    for rule in rules:
        rule.conversions = {}
    convert_rules(rules, deploy, 2)
    return shared, outcomes()


def test_deploy_formats_finalised_from_the_page_conversion_equal_a_conversion_of_their_own(tmp_path: Path) -> None:
    from atc.convert.runner import _backends, _shares_format
    from atc.convert.targets import BY_KEY
    from atc.load.rules import load_rules
    from atc.settings import REPO_ROOT

    rules = load_rules([REPO_ROOT / "rules"], [])
    shared, separate = _shared_and_separate(rules, tmp_path)
    assert shared == separate and sum(status == "ok" for status, _, _ in shared.values()) > 100
    for key in ("splunk", "sqlite", "loki"):  # pySigma's own convert_rule, one adding work for referenced rules, Loki's
        backend = _backends[BY_KEY[key]]
        backend.init_processing_pipeline("default")  # as after a first conversion
        assert _shares_format(backend, BY_KEY[key])  # the path is taken, not only its fallback


def test_deploy_formats_from_the_page_conversion_on_sigmahq(tmp_path: Path) -> None:
    from atc.load.rules import load_rules
    from atc.settings import REPO_ROOT

    corpus = REPO_ROOT.parent / "shared" / "corpora" / "sigma" / "rules"
    if not corpus.is_dir():
        pytest.skip("../shared/corpora is absent")
    paths = sorted(corpus.rglob("*.yml"))[::12]  # 260 rules spread over every folder
    rules = [rule for path in paths for rule in load_rules([path], [])]
    shared, separate = _shared_and_separate(rules, tmp_path)
    assert shared == separate


class _Counting(SigmaRule):
    """A rule class counting the rules made from YAML data."""

    made = 0

    @classmethod
    def from_dict(cls, *args: object, **kwargs: object) -> SigmaRule:  # type: ignore[override]
        _Counting.made += 1
        return SigmaRule.from_dict(*args, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("key", ["splunk", "sqlite", "loki"])
def test_a_deploy_twin_after_its_target_parses_and_converts_nothing_again(monkeypatch: pytest.MonkeyPatch, key: str) -> None:
    import copy

    from atc.convert import runner
    from atc.convert.deploy import deploy_target
    from atc.convert.targets import BY_KEY
    from atc.settings import REPO_ROOT

    _Counting.made = 0
    monkeypatch.setattr(runner, "SigmaRule", _Counting)
    data = yaml.safe_load((REPO_ROOT / "rules/windows/security/win_security_susp_psexec_execution.yml").read_text(encoding="utf-8"))
    target = BY_KEY[key]
    assert runner.convert_here(data, target).status == "ok"
    shared = runner.convert_here(data, deploy_target(target))
    assert _Counting.made == 1 and shared.status == "ok" and len(shared.query or "") > 20
    alone = runner.convert_here(copy.deepcopy(data), deploy_target(target))  # another rule's data: converted from the start
    assert _Counting.made == 2 and alone == shared


@pytest.mark.parametrize("values", [40, 400])
def test_a_loki_query_shortened_for_its_page_is_converted_again_for_the_ruler_file(monkeypatch: pytest.MonkeyPatch, values: int) -> None:
    """Loki splits a query whose finalised text is too long and converts the parts, in the page format only (a ruler
    entry is no text): its twin then converts the rule itself, and equals a conversion of its own either way."""
    import copy

    from atc.convert import runner
    from atc.convert.deploy import deploy_target
    from atc.convert.targets import BY_KEY

    data = {
        "title": "Many command lines",
        "logsource": {"product": "windows", "category": "process_creation"},
        "detection": {
            "selection": {"CommandLine|contains": [f"--option-number-{n}-with-a-long-name" for n in range(values)]},
            "filter": {"Image|endswith": "\\trusted.exe"},
            "condition": "selection and not filter",
        },
    }
    _Counting.made = 0
    monkeypatch.setattr(runner, "SigmaRule", _Counting)
    page = runner.convert_here(data, BY_KEY["loki"])
    shared = runner.convert_here(data, deploy_target(BY_KEY["loki"]))
    shortened = len((page.query or "").splitlines()) > 1
    assert shortened == (values == 400) and page.status == shared.status == "ok"
    assert _Counting.made == (2 if shortened else 1)
    assert runner.convert_here(copy.deepcopy(data), deploy_target(BY_KEY["loki"])) == shared


def test_export_workers_are_waited_for_when_the_render_stage_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import multiprocessing
    import uuid

    from atc import engine
    from atc.convert import deploy

    config = scratch_repo(tmp_path / "repo", "targets: [splunk, loki]\n")
    settings = replace(load_config_file(config), build_site=False, jobs=2)
    made = tmp_path / "made"
    made.mkdir()
    finalise = deploy._finalise

    def counted(target: object, included: list[str]) -> str:  # runs in the export workers: counted in files
        (made / uuid.uuid4().hex).touch()
        return finalise(target, included)  # type: ignore[arg-type]

    def broken(ctx: object) -> dict[str, str]:
        assert "exports" not in vars(ctx)  # not waited for before a page shows them
        raise RuntimeError("a template broke")

    monkeypatch.setattr(deploy, "_finalise", counted)
    monkeypatch.setattr(engine, "render_pages", broken)
    with pytest.raises(RuntimeError, match="a template broke"):
        run_build(settings, quiet=True)
    assert not multiprocessing.active_children() and len(list(made.iterdir())) == 2
    monkeypatch.undo()
    monkeypatch.setattr(deploy, "_finalise", counted)
    again = run_build(settings, quiet=True)
    assert "exports/loki/ruler.yml" in again.pages and len(list(made.iterdir())) == 2  # stored by the failed build


def test_a_description_ending_in_a_backslash_keeps_the_search_in_its_stanza(tmp_path: Path) -> None:
    """SigmaHQ's colorcpl rule: its description ends in `color\\`, which Splunk would continue into the search line."""
    config = scratch_repo(tmp_path, "targets: [splunk]\n")
    rule = tmp_path / "rules" / "windows" / "proc_creation_win_certutil_download.yml"
    rule.write_text(CERTUTIL.replace("certutil used to download a file.", "copies to c:\\windows\\color\\"), encoding="utf-8")
    result = run_build(replace(load_config_file(config), build_site=False, jobs=1), quiet=True)
    stanza = savedsearches(result.pages["exports/splunk/savedsearches.conf"])["Certutil Downloading A File"]
    assert stanza["search"] == result.kb.rules[0].conversions["splunk"].query
    assert stanza["description"] == "copies to c:\\windows\\color"


def test_rules_sharing_a_title_get_a_stanza_each(tmp_path: Path) -> None:
    """Splunk merges stanzas of one name: a copied rule, or titles equal once `[]` is dropped, lost all searches but one."""
    config = scratch_repo(tmp_path, "targets: [splunk]\n")
    copy = CERTUTIL.replace("2d8a6b2e-5d1e-4c1b-9a4e-0c6f5b8a7d11", "2d8a6b2e-5d1e-4c1b-9a4e-0c6f5b8a7d12").replace("urlcache", "verifyctl")
    bracketed = WHOAMI.replace("Whoami Run By A Web Server", "Certutil [Downloading] A File")
    (tmp_path / "rules" / "windows" / "proc_creation_win_certutil_copy.yml").write_text(copy, encoding="utf-8")
    (tmp_path / "rules" / "windows" / "proc_creation_win_certutil_bracketed.yml").write_text(bracketed, encoding="utf-8")
    result = run_build(replace(load_config_file(config), build_site=False, jobs=1), quiet=True)
    stanzas = savedsearches(result.pages["exports/splunk/savedsearches.conf"])
    searches = {rule.slug: rule.conversions["splunk"].query for rule in result.kb.rules}
    assert {name: stanza["search"] for name, stanza in stanzas.items() if name != "default"} == {
        f"Certutil Downloading A File ({slug})": search for slug, search in searches.items()
    }


def test_a_title_without_ascii_letters_still_names_its_loki_alert(tmp_path: Path) -> None:
    """The Loki backend names an alert after the title's ASCII letters and digits: a Cyrillic title gave `alert: ''`."""
    config = scratch_repo(tmp_path, "targets: [loki]\n")
    rule = tmp_path / "rules" / "windows" / "proc_creation_win_certutil_download.yml"
    rule.write_text(CERTUTIL.replace("Certutil Downloading A File", "Подозрительный запуск"), encoding="utf-8")
    result = run_build(replace(load_config_file(config), build_site=False, jobs=1), quiet=True)
    (alert,) = yaml.safe_load(result.pages["exports/loki/ruler.yml"])["groups"][0]["rules"]
    assert alert["alert"] == "sigma_2d8a6b2e_5d1e_4c1b_9a4e_0c6f5b8a7d11" and alert["annotations"]["summary"] == "Подозрительный запуск"


def test_a_rule_titled_default_does_not_join_the_default_stanza(tmp_path: Path) -> None:
    config = scratch_repo(tmp_path, "targets: [splunk]\n")
    rule = tmp_path / "rules" / "windows" / "proc_creation_win_certutil_download.yml"
    rule.write_text(CERTUTIL.replace("Certutil Downloading A File", "default"), encoding="utf-8")
    result = run_build(replace(load_config_file(config), build_site=False, jobs=1), quiet=True)
    stanzas = savedsearches(result.pages["exports/splunk/savedsearches.conf"])
    assert "search" not in stanzas["default"]
    assert stanzas["default (proc_creation_win_certutil_download)"]["search"] == result.kb.rules[0].conversions["splunk"].query
