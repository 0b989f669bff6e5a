"""Every rule document gets a page: multi-document files, Sigma 1 collections, correlation and filter rules, legacy aggregations, rejected rules."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from atc.engine import BuildResult, run_build
from atc.load.aggregation import equivalent
from atc.load.rules import load_rules
from atc.model import Problem
from atc.settings import default_settings

FIXTURES = Path(__file__).parent / "fixtures" / "documents"
TARGETS = ("splunk", "esql", "loki", "sqlite", "es-qs", "grep")


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> BuildResult:
    out = tmp_path_factory.mktemp("documents")
    settings = replace(
        default_settings(),
        rules=(FIXTURES / "rules",),
        triggers=(FIXTURES / "atomics",),
        events=None,
        targets=TARGETS,
        docs_dir=out / "docs",
        site_dir=out / "site",
        cache_dir=out / "cache",
        build_site=False,
        jobs=1,
    )
    return run_build(settings, quiet=True)


def page(built: BuildResult, slug: str) -> str:
    return built.pages[f"Detection_Rules/{slug}.md"]


def by_slug(built: BuildResult) -> dict:
    return {rule.slug: rule for rule in built.kb.rules}


def section(text: str, heading: str) -> str:
    """The text of a page from one `### heading` to the next."""
    start = text.index(f"### {heading}\n")  # plain Markdown: the heading ends the line
    end = text.find("\n### ", start + 1)
    return text[start:] if end < 0 else text[start:end]


def test_every_rule_document_of_the_fixtures_gets_a_page(built):
    kinds = {slug: rule.kind for slug, rule in by_slug(built).items()}
    assert kinds == {
        "dangling_correlation": "correlation",
        "filter_admin_host": "filter",
        "legacy_count": "aggregation",
        "legacy_event_count": "aggregation",
        "legacy_max": "aggregation",
        "legacy_near": "aggregation",
        "list_category": "rejected",
        "logon_burst": "rule",
        "logon_burst_2": "correlation",
        "Rundll32_Without_Arguments": "rule",  # a .yaml file with spaces in its name
        "sigma1_collection": "rule",
        "sigma1_collection_2": "rule",
        "v19_tags": "rule",
    }
    assert all(f"Detection_Rules/{slug}.md" in built.pages for slug in kinds)


def test_a_yaml_file_with_spaces_in_its_name_gets_a_quoted_reproduce_line(built):
    text = section(page(built, "Rundll32_Without_Arguments"), "splunk")
    assert "splunk\\_windows &#39;Rundll32 Without Arguments.yaml&#39;</code>" in text


def test_a_multi_document_file_is_no_longer_invalid_yaml(tmp_path):
    path = tmp_path / "two.yml"
    path.write_text((FIXTURES / "rules" / "logon_burst.yml").read_text(encoding="utf-8"), encoding="utf-8")
    problems: list[Problem] = []
    rules = load_rules([tmp_path], problems)
    assert [rule.kind for rule in rules] == ["rule", "correlation"]
    assert problems == []


def test_each_problem_of_a_multi_document_file_names_its_document(tmp_path):
    rule = "title: Ok\nlogsource: {product: windows}\ndetection: {sel: {a: b}, condition: sel}\n"
    (tmp_path / "mixed.yml").write_text(f"{rule}---\nstray text\n---\n- a list\n---\ntitle: No detection\n", encoding="utf-8")
    (tmp_path / "single.yml").write_text("just text\n", encoding="utf-8")
    problems: list[Problem] = []
    rules = load_rules([tmp_path], problems)
    assert [rule.title for rule in rules] == ["Ok"]
    found = sorted((Path(problem.path).name, problem.message) for problem in problems)
    assert [(name, message.split(",")[0]) for name, message in found[:2]] == [
        ("mixed.yml", "document 2: not a Sigma rule: text"),
        ("mixed.yml", "document 3: not a Sigma rule: a list"),
    ]
    assert found[2][0] == "mixed.yml" and found[2][1].startswith("document 4: ") and "logsource" in found[2][1]
    assert found[3][0] == "single.yml" and found[3][1].startswith("not a Sigma rule: text, where a mapping")
    assert len(found) == 4


def test_correlation_page_shows_its_settings_base_rules_and_queries_where_backends_support_them(built):
    text = page(built, "logon_burst_2")
    assert "| event\\_count | TargetUserName | 5m | gte: 10 | not generated |" in text
    assert "**Base rules**: [Failed logon](logon_burst.md)" in text
    assert "**Used by correlation rules**: [Many failed logons](logon_burst_2.md)" in page(built, "logon_burst")
    splunk = section(text, "splunk")
    assert "| stats count as event_count by _time TargetUserName" in splunk and "event_count >= 10" in splunk
    assert "stats event_count=count() by" in section(text, "esql")
    assert "count_over_time" in section(text, "loki")
    for key in ("es-qs", "grep"):  # no correlation support: the backend's reason, no query
        assert "**Not convertible** (conversion failed): NotImplementedError: Backend does not support correlation rules." in section(
            text, key
        )


def test_filter_page_lists_its_rules_and_their_queries_apply_it(built):
    text = page(built, "filter_admin_host")
    assert "**Applies to**: [Failed logon](logon_burst.md)" in text
    assert "### splunk" not in text  # no query of its own
    base = page(built, "logon_burst")
    assert "**Filters applied to the queries below**: [Exclude admin host](filter_admin_host.md)" in base
    assert 'EventCode=4625 NOT Workstation="ADMINPC"' in section(base, "splunk")
    assert 'NOT Workstation="ADMINPC"' in section(page(built, "logon_burst_2"), "splunk")  # the correlation's base search too


def test_legacy_aggregation_gets_an_atc_written_correlation_converted_where_a_backend_can(built):
    rule = by_slug(built)["legacy_count"]
    assert "correlation:\n  type: value_count" in rule.equivalent and "timespan: 10m" in rule.equivalent
    text = page(built, "legacy_count")
    assert '!!! warning "Not convertible: Sigma 1 aggregation"' in text
    assert "### Equivalent Sigma 2 correlation (written by atc)" in text
    splunk = section(text, "splunk")
    assert "**Not convertible**: Sigma 1 aggregation. The equivalent Sigma 2 correlation:" in splunk
    assert "dc(CommandLine) as value_count by _time User" in splunk and "value_count > 5" in splunk
    event_count = by_slug(built)["legacy_event_count"]
    assert "type: event_count" in event_count.equivalent and "timespan: 1d" in event_count.equivalent
    assert "no timeframe" in event_count.equivalent_note
    near = by_slug(built)["legacy_near"]
    assert "type: temporal" in near.equivalent and "timespan: 1m" in near.equivalent
    assert 'eval event_type="dump_tool_near_logon_search_2"' in section(page(built, "legacy_near"), "splunk")
    unwritten = page(built, "legacy_max")
    assert (
        "Not convertible: Sigma 1 aggregation, and atc wrote no equivalent." in unwritten
        and "Sigma 2 has no correlation type for max" in unwritten
    )
    assert "### splunk" not in unwritten
    assert by_slug(built)["legacy_max"].conversions == {}


def test_equivalent_maps_operators_and_functions():
    base = {"title": "t", "logsource": {"product": "windows"}, "detection": {"sel": {"a": 1}}}
    cases = {
        "sel | count() > 5": ("event_count", {"gt": 5}),
        "sel | count(x) by y <= 2": ("value_count", {"lte": 2, "field": "x"}),
        "sel | sum(bytes) by host >= 1000": ("value_sum", {"gte": 1000, "field": "bytes"}),
    }
    for condition, (kind, threshold) in cases.items():
        written = equivalent({**base, "detection": {**base["detection"], "condition": condition}})
        assert written.documents[1]["correlation"]["type"] == kind
        assert written.documents[1]["correlation"]["condition"] == threshold
        assert written.documents[0]["detection"]["condition"] == "sel"
    assert equivalent({**base, "detection": {**base["detection"], "condition": "sel | max(x) > 1"}}).documents is None
    assert equivalent({**base, "detection": {**base["detection"], "condition": "sel | near a and not b"}}).documents is None
    near = equivalent({**base, "detection": {**base["detection"], "condition": "sel | near a and b"}})
    assert [doc["detection"]["condition"] for doc in near.documents[:3]] == ["sel", "a", "b"]
    assert near.documents[3]["correlation"]["type"] == "temporal" and len(near.documents[3]["correlation"]["rules"]) == 3


def test_rejected_rule_gets_a_page_with_a_banner_and_no_target_section(built):
    text = page(built, "list_category")
    assert '!!! danger "pySigma rejects this rule"' in text
    assert "Sigma log source category must be string" in text
    assert "| List category rule |" in text.replace("       |", " |")
    assert "### splunk" not in text and "No query language converts a rule pySigma rejects." in text
    problems = [p for p in built.problems if p.path.endswith("list_category.yml")]
    assert [p.kind for p in problems] == ["sigma"]


def test_sigma1_collection_merges_the_global_part_into_each_rule(built):
    rules = by_slug(built)
    assert rules["sigma1_collection"].logsource.category == "process_creation"
    assert rules["sigma1_collection_2"].logsource.category == "image_load"
    assert rules["sigma1_collection"].title == rules["sigma1_collection_2"].title == "Sigma 1 collection"
    assert 'ImageLoaded="*\\\\b.dll"' in section(page(built, "sigma1_collection_2"), "splunk")


def test_a_correlation_naming_a_missing_rule_is_a_dangling_reference(built):
    problems = [p for p in built.problems if p.path.endswith("dangling_correlation.yml")]
    assert [p.kind for p in problems] == ["dangling-ref"] and "'no_such_rule'" in problems[0].message
    assert "none found in this knowledge base" in page(built, "dangling_correlation")


def test_simulation_links_that_exact_atomic_test_first(built):
    rule = by_slug(built)["v19_tags"]
    first = rule.triggers[0]
    assert (first.technique_id, first.test_guids, first.simulation) == (
        "T1562.002",
        ("00000000-0000-4000-8000-00000000a001",),
        "Stop the event log",
    )
    assert "[Stop the event log](../Triggers/T1562.002.md) (T1562.002: " in page(built, "v19_tags")


def test_a_correlation_needs_the_data_of_its_base_rules(built):
    rules = by_slug(built)
    assert rules["logon_burst"].data_needed and rules["logon_burst_2"].data_needed == rules["logon_burst"].data_needed
    assert rules["logon_burst_2"].data_needed_gap is None


def test_an_aggregation_keeps_the_fields_of_its_search_and_v19_tags_get_the_embedded_techniques_tests(built):
    assert by_slug(built)["legacy_count"].fields == ["Image"]
    triggers = by_slug(built)["v19_tags"].triggers
    assert [(ref.technique_id, ref.simulation is not None, len(ref.test_guids)) for ref in triggers] == [
        ("T1562.002", True, 1),
        ("T1562.002", False, 2),
    ]
    assert built.pages["Triggers/T1562.002.md"].count("Event log service stopped") == 1  # listed once


def test_atc_convert_converts_a_multi_document_file_as_a_collection(capsys):
    from atc.commands import main

    assert main(["convert", "-t", "splunk", str(FIXTURES / "rules" / "logon_burst.yml")]) == 0
    assert "| stats count as event_count by _time TargetUserName" in capsys.readouterr().out


SIGMA_CLI = Path(__file__).resolve().parents[1] / ".venv" / "bin" / "sigma"


@pytest.mark.parametrize("slug", ["logon_burst", "logon_burst_2"])
def test_the_reproduce_line_of_a_filtered_rule_and_a_correlation_gives_the_pages_query(built, slug):
    import shlex
    import subprocess

    if not SIGMA_CLI.is_file():
        pytest.skip("sigma-cli is not installed (pip install -e '.[test]')")
    rule = by_slug(built)[slug]
    text = section(page(built, slug), "splunk")
    command = next(line for line in text.splitlines() if line.startswith("Reproduce")).split("<code>")[1].split("</code>")[0]
    command = command.replace("\\_", "_")
    assert "--filter filter_admin_host.yml" in command
    done = subprocess.run([str(SIGMA_CLI), *shlex.split(command)[1:]], cwd=FIXTURES / "rules", capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert rule.conversions["splunk"].query in done.stdout  # the file's other queries may be printed too (it holds two rules)


def test_atc_convert_applies_filters_like_sigma_convert(capsys):
    from atc.commands import main

    rules = FIXTURES / "rules"
    assert main(["convert", "-t", "grep", "--filter", str(rules / "filter_admin_host.yml"), str(rules / "sigma1_collection.yml")]) == 0
    assert main(["convert", "-t", "splunk", "--filter", str(rules / "filter_admin_host.yml"), str(rules / "logon_burst.yml")]) == 0
    assert 'NOT Workstation="ADMINPC"' in capsys.readouterr().out


def test_atc_diff_shows_what_a_filter_change_does_to_the_rules_it_applies_to(tmp_path, monkeypatch, capsys):
    import json
    import shutil
    import subprocess

    from atc.commands import main

    shutil.copytree(FIXTURES / "rules", tmp_path / "rules")
    (tmp_path / "atc.yml").write_text("rules: rules\ntargets: [splunk]\n", encoding="utf-8")
    git = ["git", "-c", "user.email=atc@example.com", "-c", "user.name=atc"]
    subprocess.run([*git, "init", "-q"], cwd=tmp_path, check=True)
    subprocess.run([*git, "add", "."], cwd=tmp_path, check=True)
    subprocess.run([*git, "commit", "-qm", "base"], cwd=tmp_path, check=True)
    filter_file = tmp_path / "rules" / "filter_admin_host.yml"
    filter_file.write_text(filter_file.read_text(encoding="utf-8").replace("ADMINPC", "JUMPHOST"), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert main(["diff", "HEAD", "--format", "json", "--jobs", "1"]) == 0
    report = json.loads(capsys.readouterr().out)
    changed = {item["title"]: item for item in report["changed"]}
    assert set(changed) == {
        "Exclude admin host",
        "Failed logon",
        "Many failed logons",
    }  # the filter, its rule, the correlation using that rule
    assert '+source="WinEventLog:Security" EventCode=4625 NOT Workstation="JUMPHOST"' in changed["Failed logon"]["queries"][0]["diff"]
    assert changed["Exclude admin host"]["queries"] == []  # a filter has no query of its own


@pytest.mark.parametrize(
    ("tags", "found"),
    [
        ("attack.t1059", "text"),
        ("[attack.t1059, {attack: t1003}]", "a list whose item 2 is a mapping"),
        ("[[attack.t1059]]", "a list whose item 1 is a list"),
    ],
)
def test_a_list_field_holding_something_else_says_what_and_where(tmp_path, tags, found):
    (tmp_path / "r.yml").write_text(
        f"title: T\ntags: {tags}\nlogsource: {{product: windows}}\ndetection: {{sel: {{a: b}}, condition: sel}}\n", encoding="utf-8"
    )
    problems: list[Problem] = []
    load_rules([tmp_path], problems)
    assert [problem.message for problem in problems] == [f"'tags' must be a list of text values (one '- item' line each), not {found}"]
