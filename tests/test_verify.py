"""The verifier: queries proven on events, for every default-KB rule and the seed's seven targets."""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from atc.commands import main
from atc.convert.runner import convert_rules
from atc.convert.targets import select_targets
from atc.engine import BuildResult, verify
from atc.load.rules import load_rules
from atc.model import Conversion
from atc.settings import REPO_ROOT, default_settings
from atc.verify.runners import VERIFIABLE, Event, RuleEvents, VerifyError, check, flatten, json_line, load_events, verify_rules
from tests.conftest import SEED_SLUG

RULES = REPO_ROOT / "rules"
EVENTS = REPO_ROOT / "events"
SEED_ID = "c462f537-a1e3-41a6-b5fc-b2c2cef9bf82"
SEED_TARGETS = ["powershell", "es-qs", "xpack-watcher", "graylog", "splunk", "logpoint", "grep"]
needs_grep = pytest.mark.skipif(shutil.which("grep") is None, reason="grep is not installed")


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory):
    settings = replace(default_settings(), rules=(RULES,), jobs=2, cache_dir=tmp_path_factory.mktemp("cache"))
    return verify(settings, VERIFIABLE, EVENTS)


# --- every default-KB rule ------------------------------------------------------------------------


def test_every_default_kb_rule_has_positive_and_negative_events() -> None:
    rules = load_rules([RULES], [])
    for rule in rules:
        events = load_events(EVENTS / rule.id)
        assert events.positive and events.negative, rule.path.name
    assert {p.name for p in EVENTS.iterdir() if p.is_dir()} == {r.id for r in rules}


@needs_grep
@pytest.mark.parametrize("target", VERIFIABLE)
def test_grep_and_sqlite_queries_of_every_default_kb_rule_pass_on_their_events(report, target: str) -> None:
    outcomes = [o for o in report.outcomes if o.target == target]
    not_convertible = [o for o in outcomes if o.status == "not-convertible"]
    assert not_convertible == [], "a target that cannot convert a rule: say so here and count it"
    assert [o for o in outcomes if o.status != "passed"] == []
    assert len(outcomes) == len(load_rules([RULES], []))


def test_report_table_counts(report) -> None:
    table = report.table()
    rules = len(load_rules([RULES], []))
    assert f"| grep | {rules} | {rules} | 0 | 0 | 0 |" in table
    assert f"| sqlite | {rules} | {rules} | 0 | 0 | 0 |" in table


# --- the verifier catches wrong queries -----------------------------------------------------------


def _seed_rule():
    rule = next(r for r in load_rules([RULES], []) if r.id == SEED_ID)
    convert_rules([rule], select_targets(list(VERIFIABLE)), 1)
    return rule


@needs_grep
def test_a_query_that_matches_everything_fails_on_the_negatives() -> None:
    rule = _seed_rule()
    events = load_events(EVENTS / SEED_ID)
    rule.conversions = {
        "grep": Conversion("grep", "ok", query="grep -P '.'"),
        "sqlite": Conversion("sqlite", "ok", query="SELECT * FROM logs WHERE 1"),
    }
    for target in VERIFIABLE:
        outcome = check(rule, target, events)
        assert outcome.status == "failed"
        assert all(f"negative {e.name} matched" in outcome.detail for e in events.negative)
        assert outcome.page_line().startswith("Failed verification: negative ")


@needs_grep
@pytest.mark.parametrize("target", [*VERIFIABLE, "powershell"])
def test_events_are_told_apart_by_side_and_not_by_file_name_or_content(target: str) -> None:
    """A negative a.json beside a positive a.json was "matched" when the positive was (names were the events' identity),
    and of two positives with the same content grep reported one only (its lines were the identity)."""
    rule = next(r for r in load_rules([RULES], []) if r.id == SEED_ID)
    convert_rules([rule], select_targets([target]), 1)
    seed = load_events(EVENTS / SEED_ID)
    hit, miss = seed.positive[0].fields, seed.negative[0].fields
    events = RuleEvents([Event("a.json", hit), Event("b.json", hit)], [Event("a.json", miss), Event("c.json", miss)])
    outcome = check(rule, target, events)
    assert (outcome.status, outcome.detail) == ("passed", "")
    wrong = check(rule, target, RuleEvents([Event("a.json", miss)], [Event("a.json", hit)]))
    assert wrong.detail == "positive a.json not matched; negative a.json matched"


@needs_grep
def test_a_query_that_matches_nothing_fails_on_the_positives_and_errors_are_reasons() -> None:
    rule = _seed_rule()
    events = load_events(EVENTS / SEED_ID)
    rule.conversions = {
        "grep": Conversion("grep", "ok", query="grep -P '\\I'"),
        "sqlite": Conversion("sqlite", "ok", query="SELECT * FROM logs WHERE 0"),
    }
    grep = check(rule, "grep", events)
    assert grep.status == "failed" and "grep exited with status 2" in grep.detail  # the seed's old grep line: not PCRE
    sqlite = check(rule, "sqlite", events)
    assert sqlite.status == "failed" and "positive renamed_service_stdin.json not matched" in sqlite.detail


def test_a_target_that_cannot_convert_is_counted_not_hidden(tmp_path: Path) -> None:
    rule = _seed_rule()
    rule.conversions["grep"] = Conversion("grep", "failed", error="Reason: placeholder")
    report = verify_rules([rule], EVENTS, ["grep"])
    assert [(o.status, o.detail) for o in report.outcomes] == [("not-convertible", "Reason: placeholder")]
    assert "NOT-CONVERTIBLE grep" in report.table()
    assert "grep" not in rule.verification


def test_verify_rejects_targets_it_cannot_run() -> None:
    with pytest.raises(VerifyError, match="cannot run target"):
        verify_rules([], EVENTS, ["splunk"])


@needs_grep
def test_cli_verify_exit_status_and_failure_names(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify", "--rules", str(RULES / "windows/security"), "--events", str(EVENTS)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("| target | rules verified |") and "NO RULE for events folder" in out  # the other folders' events
    events = tmp_path / "events"
    shutil.copytree(EVENTS / SEED_ID, events / SEED_ID)
    negative = json.loads((events / SEED_ID / "positive/renamed_service_stdin.json").read_text())
    (events / SEED_ID / "negative/renamed_copy.json").write_text(json.dumps(negative))
    assert main(["verify", "--rules", str(RULES / "windows/security/win_security_susp_psexec_execution.yml"), "--events", str(events)]) == 1
    out = capsys.readouterr().out
    assert "| grep | 1 | 0 | 1 | 0 | 0 |" in out
    assert "FAILED grep" in out and "negative renamed_copy.json matched" in out
    assert main(["verify", "--rules", str(RULES), "--events", str(tmp_path / "none")]) == 2


@needs_grep
@pytest.mark.parametrize(
    "bad",
    [
        ("broken.yml", b"title: [unclosed\n"),
        ("latin1.yml", "title: caf\xe9\n".encode("latin-1")),
        ("empty.yml", b""),
        ("copy.yml", None),  # the psexec rule again: its id used twice
    ],
)
def test_cli_verify_lists_an_unusable_rule_and_verifies_the_others(tmp_path: Path, capsys: pytest.CaptureFixture[str], bad: tuple) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    good = RULES / "windows/security/win_security_susp_psexec_execution.yml"
    shutil.copy(good, rules / good.name)
    name, content = bad
    (rules / name).write_bytes(good.read_bytes() if content is None else content)
    assert main(["verify", "--rules", str(rules), "--events", str(EVENTS), "--targets", "grep"]) == 2
    out = capsys.readouterr().out
    assert re.search(r"^\| grep \| [12] \| [12] \| 0 \|", out, re.M)  # the readable rules verified and passed
    (line,) = [line for line in out.splitlines() if line.startswith("BAD RULE")]
    assert str(rules / name) in line


# --- events and their flattening -------------------------------------------------------------------


def test_flatten_evtx_system_attributes_text_and_event_data() -> None:
    event = {
        "Event": {
            "System": {
                "Provider": {"#attributes": {"Name": "Service Control Manager"}},
                "EventID": {"#attributes": {"Qualifiers": 16384}, "#text": 7045},
                "Channel": "System",
                "Correlation": None,
            },
            "EventData": {"ImagePath": "C:\\Users\\Public\\svc.exe"},
        }
    }
    assert flatten(event) == {
        "Provider_Name": "Service Control Manager",
        "EventID_Qualifiers": 16384,
        "EventID": 7045,
        "Channel": "System",
        "Correlation": None,
        "ImagePath": "C:\\Users\\Public\\svc.exe",
    }


def test_flatten_user_data_and_nested_json() -> None:
    cleared = {
        "Event": {"System": {"EventID": 1102}, "UserData": {"LogFileCleared": {"#attributes": {"xmlns": "x"}, "SubjectUserName": "j.doe"}}}
    }
    assert flatten(cleared) == {"EventID": 1102, "SubjectUserName": "j.doe"}
    record = {
        "userIdentity": {"type": "IAMUser", "sessionContext": {"attributes": {"mfaAuthenticated": "false"}}},
        "requestParameters": None,
        "items": [1, {"a": 2}],
    }
    assert flatten(record) == {
        "userIdentity.type": "IAMUser",
        "userIdentity.sessionContext.attributes.mfaAuthenticated": "false",
        "requestParameters": None,
        "items": '[1,{"a":2}]',
    }


@needs_grep
def test_sqlite_columns_are_case_insensitive_and_prefer_the_rules_spelling() -> None:
    """auditd ENRICHED records carry syscall=313 and SYSCALL=finit_module: one SQLite column, the rule's wins."""
    rule = next(r for r in load_rules([RULES / "linux/auditd"], []) if "kernel" in r.path.name)
    convert_rules([rule], select_targets(["sqlite", "grep"]), 1)
    events = RuleEvents([Event("p.json", {"type": "SYSCALL", "syscall": "313", "SYSCALL": "finit_module", "comm": "insmod"})], [])
    assert check(rule, "sqlite", events).status == "passed"
    assert check(rule, "grep", events).status == "passed"


def test_events_are_realistic_one_per_file_and_json_lines_are_single_lines() -> None:
    for path in EVENTS.rglob("*.json"):
        data = json.loads(path.read_text(encoding="utf-8"))
        assert isinstance(data, dict)
        line = json_line(Event(path.name, flatten(data)))
        assert "\n" not in line
        if "Event" in data:
            system = data["Event"]["System"]
            assert {"Provider", "EventID", "TimeCreated", "EventRecordID", "Channel", "Computer"} <= set(system), path
        elif "eventSource" in data:
            assert {"eventVersion", "userIdentity", "eventTime", "eventName", "awsRegion", "recipientAccountId"} <= set(data), path
        else:
            assert "type" in data and re.fullmatch(r"audit\(\d+\.\d+:\d+\)", data["msg"]), path


# --- pages ------------------------------------------------------------------------------------------


def test_rule_pages_mark_verified_queries(default_build: BuildResult) -> None:
    page = default_build.pages[f"Detection_Rules/{SEED_SLUG}.md"]
    for target in VERIFIABLE:
        section = re.search(rf"^### {target}(?: \{{[^}}\n]*\}})?\n(.*?)(?=^##|\Z)", page, re.S | re.M).group(1)
        assert "**On example events**: Verified on 2 positive and 3 negative events" in section
    powershell = re.search(r"^### powershell(?: \{[^}\n]*\})?\n(.*?)(?=^##|\Z)", page, re.S | re.M).group(1)
    assert "**On example events**: Verified \\(simulated: no PowerShell ran\\) on 2 positive and 3 negative events" in powershell
    assert page.count("**On example events**") == 3
    assert not [p for p in default_build.problems if p.kind.startswith("verify")]


def test_build_without_events_marks_nothing(default_build: BuildResult, tmp_path: Path) -> None:
    from atc.engine import run_build
    from atc.settings import default_settings

    settings = replace(
        default_settings(),
        docs_dir=tmp_path / "docs",
        build_site=False,
        jobs=1,
        events=tmp_path / "no-events",
        targets=("grep",),
        cache_dir=tmp_path / "cache",
    )
    result = run_build(settings, quiet=True)
    assert "On example events" not in result.pages[f"Detection_Rules/{SEED_SLUG}.md"]


# --- the seed's seven queries against the seed's events ----------------------------------------------


@pytest.fixture(scope="module")
def seed_queries(default_build: BuildResult) -> dict[str, str]:
    rule = next(r for r in default_build.kb.rules if r.id == SEED_ID)
    return {key: rule.conversions[key].query for key in SEED_TARGETS}


@needs_grep
def test_seed_grep_runs_on_the_seed_events(default_build: BuildResult) -> None:
    rule = next(r for r in default_build.kb.rules if r.id == SEED_ID)
    assert check(rule, "grep", load_events(EVENTS / SEED_ID)).status == "passed"


@pytest.mark.parametrize("target", [t for t in SEED_TARGETS if t != "grep"])
def test_seed_queries_reference_the_positive_events_values(seed_queries: dict[str, str], target: str) -> None:
    """Targets that cannot run here: the query names the values that make the positive events match."""
    query = seed_queries[target]
    events = load_events(EVENTS / SEED_ID)
    for event in events.positive:
        assert str(event.fields["EventID"]) in query
        suffix = event.fields["RelativeTargetName"].rsplit("-", 1)[1]
        assert f"-{suffix}" in query
        assert "IPC$" in query and event.fields["ShareName"].startswith("\\\\")
    negative = next(e for e in events.negative if e.fields["RelativeTargetName"].startswith("PSEXESVC"))
    assert "PSEXESVC" in query and negative.fields["RelativeTargetName"].endswith("-stdout")  # only the negation keeps it out
    assert re.search(r"(NOT|-not|-)\s*\(", query), "the PSEXESVC selection is negated"


def test_verify_without_an_events_folder_counts_every_rule_as_without_events_and_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The table said 0 rules verified and 0 without events, and nothing else."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "atc.yml").write_text("rules: rules\n", encoding="utf-8")
    (tmp_path / "rules").mkdir()
    shutil.copy(RULES / "windows/security/win_security_susp_psexec_execution.yml", tmp_path / "rules")
    assert main(["verify", "--targets", "grep"]) == 0
    captured = capsys.readouterr()
    assert "| grep | 0 | 0 | 0 | 0 | 1 |" in captured.out
    assert f"no events folder ({tmp_path / 'events'})" in captured.err


@needs_grep
def test_verify_with_rules_and_no_atc_yml_reads_the_events_here_as_build_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`atc verify --rules R` outside a configured repository looked for events in atc's own checkout (or site-packages)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "rules").mkdir()
    shutil.copy(RULES / "windows/security/win_security_susp_psexec_execution.yml", tmp_path / "rules")
    shutil.copytree(EVENTS / SEED_ID, tmp_path / "events" / SEED_ID)
    assert main(["verify", "--rules", "rules", "--targets", "grep"]) == 0
    out = capsys.readouterr().out
    assert "| grep | 1 | 1 | 0 | 0 | 0 |" in out and "NO RULE" not in out
