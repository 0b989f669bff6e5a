"""Targets of the team's own in atc.yml: field-mapping pipeline files, exact sigma-cli commands, checked settings, cache."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from atc.convert.team_targets import TargetError, configured_targets
from atc.engine import BuildResult, run_build
from atc.settings import REPO_ROOT, ConfigError, TargetEntry, load_config_file

SIGMA_CLI = REPO_ROOT / ".venv/bin/sigma"
CERTUTIL = """\
title: Certutil Downloading A File
id: 2d8a6b2e-5d1e-4c1b-9a4e-0c6f5b8a7d11
status: test
description: certutil used to download a file.
author: atc tests
date: 2026-01-05
tags:
    - attack.command-and-control
    - attack.t1105
logsource:
    category: process_creation
    product: windows
detection:
    selection:
        Image|endswith: '\\certutil.exe'
        CommandLine|contains: 'urlcache'
    condition: selection
level: high
"""
FIELD_MAPPING = """\
name: Our field names
priority: 30
transformations:
  - id: our_fields
    type: field_name_mapping
    mapping:
      CommandLine: process.command_line
      Image: process.path
"""
TEAM_TARGETS = """\
targets:
  - splunk
  - key: splunk-ours
    backend: splunk
    pipelines: [splunk_windows, pipelines/field_mapping.yml]
    options: {min_time: -7d}
    language: spl
"""


def scratch_repo(root: Path, targets: str = TEAM_TARGETS, pipeline: str = FIELD_MAPPING) -> Path:
    """A team repository: atc.yml, a rule two folders down, a field-mapping pipeline file."""
    (root / "rules" / "windows").mkdir(parents=True)
    (root / "rules" / "windows" / "proc_creation_win_certutil_download.yml").write_text(CERTUTIL, encoding="utf-8")
    (root / "pipelines").mkdir()
    (root / "pipelines" / "field_mapping.yml").write_text(pipeline, encoding="utf-8")
    for folder in ("data_needed", "logging_policies", "triggers"):
        (root / folder).mkdir()
    (root / "atc.yml").write_text(targets, encoding="utf-8")
    return root / "atc.yml"


def build(config: Path) -> BuildResult:
    return run_build(replace(load_config_file(config), build_site=False, jobs=1), quiet=True)


def section(page: str, key: str) -> str:
    match = re.search(rf"^### {re.escape(key)}(?: \{{[^}}\n]*\}})?\n(.*?)(?=^##|\Z)", page, re.S | re.M)
    assert match, f"no section {key}"
    return match.group(1)


def reproduce_line(page: str, key: str) -> str:
    line = re.search(r"Reproduce \([^\n]*\): <code>(.*?)</code>", section(page, key))
    assert line
    return line.group(1).replace("\\_", "_").replace("&amp;", "&").replace("\\-", "-")


def rule_page(result: BuildResult) -> str:
    return result.pages["Detection_Rules/proc_creation_win_certutil_download.md"]


def test_field_mapping_pipeline_changes_the_team_targets_queries_and_command(tmp_path: Path) -> None:
    result = build(scratch_repo(tmp_path))
    rule = result.kb.rules[0]
    ours, builtin = rule.conversions["splunk-ours"].query, rule.conversions["splunk"].query
    assert "process.command_line" in ours and "process.path" in ours and "CommandLine" not in ours
    assert "CommandLine" in builtin and "process.command_line" not in builtin
    command = reproduce_line(rule_page(result), "splunk-ours")
    assert command == (
        "sigma convert -t splunk -p splunk_windows -p ../../pipelines/field_mapping.yml -O min_time=-7d proc_creation_win_certutil_download.yml"
    )
    assert (
        reproduce_line(rule_page(result), "splunk") == "sigma convert -t splunk -p splunk_windows proc_creation_win_certutil_download.yml"
    )
    assert "```spl\n" in section(rule_page(result), "splunk-ours")


@pytest.mark.skipif(not SIGMA_CLI.exists(), reason="sigma-cli is not installed in .venv")
def test_sigma_cli_with_the_reproduce_command_gives_the_same_query(tmp_path: Path) -> None:
    result = build(scratch_repo(tmp_path))
    rule = result.kb.rules[0]
    for key in ("splunk-ours", "splunk"):
        command = shlex.split(reproduce_line(rule_page(result), key))
        run = subprocess.run([str(SIGMA_CLI), *command[1:]], cwd=rule.path.parent, capture_output=True, text=True, timeout=120)
        assert run.returncode == 0, run.stderr
        assert run.stdout.strip() == rule.conversions[key].query


def test_cache_keys_on_the_pipeline_files_content(tmp_path: Path) -> None:
    config = scratch_repo(tmp_path)
    first = build(config)
    assert "process.command_line" in first.kb.rules[0].conversions["splunk-ours"].query
    again = build(config)
    assert again.convert_stats.converted == 0 and again.convert_stats.cached > 0
    (tmp_path / "pipelines" / "field_mapping.yml").write_text(FIELD_MAPPING.replace("process.command_line", "cmdline"), encoding="utf-8")
    edited = build(config)
    assert "cmdline" in edited.kb.rules[0].conversions["splunk-ours"].query
    assert edited.convert_stats.converted > 0  # the team target's conversions were redone; the built-in splunk's came from the cache
    assert edited.kb.rules[0].conversions["splunk"] == first.kb.rules[0].conversions["splunk"]


def test_the_cache_does_not_depend_on_where_the_repository_sits(tmp_path: Path) -> None:
    """A team target's pipeline file was keyed by its absolute path: a moved checkout, another CI path or a relative
    --config converted every rule again for it."""
    cache = tmp_path / "cache"
    first = run_build(replace(load_config_file(scratch_repo(tmp_path / "a")), build_site=False, jobs=1, cache_dir=cache), quiet=True)
    assert first.convert_stats.converted > 0
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    moved = run_build(replace(load_config_file(tmp_path / "b" / "atc.yml"), build_site=False, jobs=1, cache_dir=cache), quiet=True)
    assert moved.convert_stats.converted == 0 and moved.kb.rules[0].conversions == first.kb.rules[0].conversions


def test_targets_page_lists_installed_backends_and_the_team_target(tmp_path: Path) -> None:
    page = build(scratch_repo(tmp_path)).pages["targets.md"]
    assert (
        "| splunk-ours | splunk-ours \\(splunk\\) | 1 of 1 | <code>splunk</code> | splunk\\_windows, pipelines/field\\_mapping.yml | default |"
        in page
    )
    assert str(tmp_path) not in page  # no machine path on a page
    assert "-p pipelines/field\\_mapping.yml" in page  # on the targets page, as written in atc.yml
    installed = page.split("## Installed and usable", 1)[1]
    assert re.search(r"\| <code>splunk</code> \| default, savedsearches, data\\_model \| savedsearches \| .*splunk\\_windows", installed)
    assert "<code>lucene</code>" in installed and "sysmon" in installed


BAD_PIPELINE = """\
name: Broken
transformations:
  - id: x
    type: field_name_mapping
      mapping: {a: b}
"""


@pytest.mark.parametrize(
    ("entry", "pipeline", "message"),
    [
        ("{key: ours, backend: splunkk}", FIELD_MAPPING, r"unknown backend 'splunkk'; installed pySigma backends: .*splunk"),
        (
            "{key: ours, backend: splunk, format: ndjson}",
            FIELD_MAPPING,
            r"unknown format 'ndjson' for backend splunk; its formats: default, savedsearches",
        ),
        ("{key: ours, backend: splunk, export: csv}", FIELD_MAPPING, r"unknown export 'csv' for backend splunk"),
        (
            "{key: ours, backend: splunk, pipelines: [pipelines/field_mapping.yml]}",
            BAD_PIPELINE,
            r"pipelines/field_mapping.yml:5: the pipeline file is not valid YAML",
        ),
        (
            "{key: ours, backend: splunk, pipelines: [pipelines/field_mapping.yml]}",
            "name: x\ntransformations:\n  - type: no_such_thing\n",
            r"pipelines/field_mapping.yml: not a pySigma processing pipeline",
        ),
        (
            "{key: ours, backend: splunk, pipelines: [splunk_windowz]}",
            FIELD_MAPPING,
            r"pipeline 'splunk_windowz' is neither installed .* nor a file",
        ),
        ("{key: splunk, backend: splunk}", FIELD_MAPPING, r"'splunk' is a built-in target's key"),
    ],
)
def test_unusable_team_targets_get_one_clear_message(tmp_path: Path, entry: str, pipeline: str, message: str) -> None:
    settings = load_config_file(scratch_repo(tmp_path, f"targets:\n  - {entry}\n", pipeline))
    with pytest.raises(TargetError, match=message) as error:
        configured_targets(settings.targets, settings.target_entries, settings.base_dir)
    assert str(error.value).startswith("atc.yml target ")
    assert str(error.value).count("\n") == 0


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("{backend: splunk}", "'key' is required"),
        ("{key: ours}", "'backend' is required"),
        ("{key: ours, backend: splunk, pipeline: [x]}", "unknown key\\(s\\) pipeline"),
        ("{key: 'a b', backend: splunk}", "'key' may hold only"),
        ("{key: ours, backend: splunk, options: {x: [1, {a: b}]}}", "'options' must map option names"),
        ("{key: ours, backend: splunk, options: {x: true}}", "'options' must map option names"),
        ("{key: ours, backend: splunk, language: 'spl }'}", "'language' must be a name"),
    ],
)
def test_malformed_entries_are_config_errors(tmp_path: Path, entry: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config_file(scratch_repo(tmp_path, f"targets:\n  - {entry}\n"))


def test_options_are_passed_as_sigma_cli_passes_them(tmp_path: Path) -> None:
    settings = load_config_file(
        scratch_repo(tmp_path, "targets:\n  - {key: ours, backend: splunk, options: {min_time: '-1d', n: '5', many: [a, b], one: [c]}}\n")
    )
    assert settings.target_entries == (
        TargetEntry(key="ours", backend="splunk", options=(("many", ("a", "b")), ("min_time", "-1d"), ("n", 5), ("one", "c"))),
    )


def test_atc_check_reports_an_unusable_team_target(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from atc.commands import main

    config = scratch_repo(tmp_path, "targets:\n  - {key: ours, backend: splunk, pipelines: [pipelines/field_mapping.yml]}\n", BAD_PIPELINE)
    assert main(["check", "--config", str(config)]) == 2
    assert "atc: atc.yml target 'ours': pipelines/field_mapping.yml:5: the pipeline file is not valid YAML" in capsys.readouterr().err


PLUGIN_BACKEND = '''\
from sigma.conditions import ConditionAND, ConditionNOT, ConditionOR
from sigma.conversion.base import TextQueryBackend


class TeamSiemBackend(TextQueryBackend):
    """A SIEM only this team has: field == 'value', and/or/not, * as wildcard."""

    name = "Team SIEM"
    identifier = "teamsiem"
    formats = {"default": "queries", "rules": "one rule object per query"}
    requires_pipeline = False
    precedence = (ConditionNOT, ConditionAND, ConditionOR)
    group_expression = "({expr})"
    token_separator = " "
    or_token = "or"
    and_token = "and"
    not_token = "not"
    eq_token = " == "
    str_quote = "'"
    escape_char = "\\\\"
    wildcard_multi = "*"
    wildcard_single = "?"

    def finalize_query_rules(self, rule, query, index, state):
        return {"name": rule.title, "where": query}

    def finalize_output_rules(self, queries):
        return list(queries)


backends = {"teamsiem": TeamSiemBackend}
'''
PLUGIN_PIPELINE = """\
from sigma.processing.pipeline import ProcessingItem, ProcessingPipeline
from sigma.processing.transformations import FieldMappingTransformation


def team_fields() -> ProcessingPipeline:
    return ProcessingPipeline(
        name="Team field names", priority=20, allowed_backends=frozenset({"teamsiem"}),
        items=[ProcessingItem(FieldMappingTransformation({"Image": "proc.image"}), identifier="team_fields")],
    )


pipelines = {"team_fields": team_fields}
"""


@pytest.fixture()
def installed_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A backend and a pipeline plugin installed the way pySigma plugins are: modules under sigma.backends / sigma.pipelines."""
    from atc.convert import plugins

    site = tmp_path / "site-packages"
    (site / "sigma" / "backends" / "teamsiem").mkdir(parents=True)
    (site / "sigma" / "backends" / "teamsiem" / "__init__.py").write_text(PLUGIN_BACKEND, encoding="utf-8")
    (site / "sigma" / "pipelines" / "teamfields").mkdir(parents=True)
    (site / "sigma" / "pipelines" / "teamfields" / "__init__.py").write_text(PLUGIN_PIPELINE, encoding="utf-8")
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv("PYTHONPATH", str(site))  # for sigma-cli, run as a command
    for cached in (plugins._installed_backends, plugins._installed_pipelines):
        cached.cache_clear()
    yield site
    for cached in (plugins._installed_backends, plugins._installed_pipelines):
        cached.cache_clear()


def test_a_backend_and_pipeline_plugin_the_team_installs_is_usable(tmp_path: Path, installed_plugin: Path) -> None:
    config = scratch_repo(
        tmp_path / "repo",
        "targets:\n  - {key: ours, backend: teamsiem, pipelines: [team_fields, pipelines/field_mapping.yml], export: rules}\n",
    )
    result = build(config)
    rule = result.kb.rules[0]
    assert rule.conversions["ours"].query == "proc.image == '*\\certutil.exe' and process.command_line == '*urlcache*'"
    (entry,) = [json.loads(line) for line in result.pages["exports/ours/rules.ndjson"].splitlines()]
    assert entry == {"name": "Certutil Downloading A File", "where": rule.conversions["ours"].query}
    assert "| <code>teamsiem</code> | default, rules | none | team\\_fields |" in result.pages["targets.md"]
    command = shlex.split(reproduce_line(rule_page(result), "ours"))
    if SIGMA_CLI.exists():
        run = subprocess.run([str(SIGMA_CLI), *command[1:]], cwd=rule.path.parent, capture_output=True, text=True, timeout=120)
        assert run.returncode == 0, run.stderr
        assert run.stdout.strip() == rule.conversions["ours"].query


@pytest.mark.skipif(not SIGMA_CLI.exists(), reason="sigma-cli is not installed in .venv")
def test_a_format_giving_objects_shows_them_as_sigma_cli_prints_them(tmp_path: Path) -> None:
    result = build(
        scratch_repo(
            tmp_path, "targets:\n  - {key: kibana, backend: lucene, pipelines: [ecs_windows], format: kibana_ndjson, export: false}\n"
        )
    )
    rule = result.kb.rules[0]
    query = rule.conversions["kibana"].query
    assert json.loads(query)["attributes"]["title"] == "SIGMA - Certutil Downloading A File"  # JSON, not a Python dict's repr
    command = shlex.split(reproduce_line(rule_page(result), "kibana"))
    assert command[-3:-1] == ["-f", "kibana_ndjson"]
    run = subprocess.run([str(SIGMA_CLI), *command[1:]], cwd=rule.path.parent, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == query
