"""Every target's query is correct and honest: no pipeline leakage, time limits, reasons instead of queries, reproducible."""

from __future__ import annotations

import html
import io
import os
import re
import shlex
import subprocess
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar

import pytest
import yaml
from sigma.backends.elasticsearch import LuceneBackend
from sigma.backends.splunk import SplunkBackend
from sigma.backends.splunk.spl2 import SplunkSPL2Backend as UpstreamSPL2Backend
from sigma.conversion.base import TextQueryBackend
from sigma.rule import SigmaRule

from atc.commands import main
from atc.convert import runner
from atc.convert.runner import convert_one, convert_rules
from atc.convert.targets import BY_KEY, TARGETS, Target, make_backend, select_targets, sigma_cli_command, target_versions
from atc.engine import BuildResult, run_build
from atc.load.rules import load_rules
from atc.model import Conversion, Problem, Rule
from atc.settings import REPO_ROOT, default_settings
from atc.verify.runners import load_events
from tests.conftest import SEED_SLUG

RULES = REPO_ROOT / "rules"
EVENTS = REPO_ROOT / "events"
SEED = RULES / "windows/security/win_security_susp_psexec_execution.yml"
CERTUTIL = RULES / "windows/process_creation/proc_creation_win_certutil_remote_download.yml"
CLOUDTRAIL = RULES / "cloud/aws/aws_console_login_without_mfa.yml"
SIGMA_CLI = REPO_ROOT / ".venv/bin/sigma"


def _data(path: Path) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _section(page: str, heading: str) -> str:
    match = re.search(rf"^### {re.escape(heading)}(?: \{{[^}}\n]*\}})?\n(.*?)(?=^##|\Z)", page, re.S | re.M)
    assert match, f"no section {heading}"
    return match.group(1)


# --- no leakage between targets ----------------------------------------------------------------


@pytest.mark.parametrize("path", [SEED, CERTUTIL, CLOUDTRAIL], ids=lambda p: p.name)
def test_all_targets_in_both_orders_give_identical_results(path: Path) -> None:
    data = _data(path)
    runner._backends.clear()
    forward = {t.key: convert_one(data, t) for t in TARGETS}
    runner._backends.clear()
    backward = {t.key: convert_one(data, t) for t in reversed(TARGETS)}
    again = {t.key: convert_one(data, t) for t in TARGETS}  # backends reused, rule objects fresh
    assert forward == backward == again


@pytest.mark.parametrize("path", [SEED, CERTUTIL], ids=lambda p: p.name)
def test_each_result_equals_a_conversion_on_a_fresh_backend(path: Path) -> None:
    data = _data(path)
    for target in TARGETS:
        try:
            alone = "\n".join(str(q) for q in make_backend(target).convert_rule(SigmaRule.from_dict(data), target.output_format)).strip()
        except Exception as exc:  # the same reason, word for word
            alone = f"{type(exc).__name__}: {' '.join(str(exc).split())}"[:200]
        ours = convert_one(data, target)
        assert (ours.query or (ours.error or "")[:200]) == alone, target.key


def test_a_failed_conversion_does_not_leak_into_the_next_reason() -> None:
    """pysigma-backend-kusto 1.0.1 prepends each invalid-field error to the pipeline's message: reasons grew per rule."""
    data = {**_data(CERTUTIL), "detection": {"sel": {"NoSuchField": "x"}, "condition": "sel"}}  # no pipeline's table has it
    reasons = {convert_one(data, BY_KEY["kusto"]).error for _ in range(3)}
    assert len(reasons) == 1
    reason = reasons.pop()
    assert (
        reason.count("encountered: NoSuchField") == 2 and "microsoft_xdr: " in reason and "sentinel_asim: " in reason
    )  # once per pipeline


def test_a_reason_never_names_the_rule_as_none(tmp_path: Path) -> None:
    """pySigma appends "(while converting rule None)" to a non-Sigma error of a rule without a file: the page is the rule's own."""
    pipeline = tmp_path / "fields.yml"  # loads, then fails on every rule (pySigma does not check a mapping's type)
    pipeline.write_text("name: fields\ntransformations:\n  - {id: a, type: field_name_mapping, mapping: [1, 2]}\n", encoding="utf-8")
    keywords = {**_data(CERTUTIL), "detection": {"keywords": ["mimikatz"], "condition": "keywords"}}
    failed = [
        convert_one(keywords, BY_KEY["esql"]),  # NotImplementedError from the backend
        convert_one(_data(CERTUTIL), Target("ours", "ours", "splunk", (str(pipeline),), sigma_cli="splunk")),  # from the pipeline
    ]
    for conversion in failed:
        assert conversion.status == "failed" and conversion.error, conversion
        assert "rule None" not in conversion.error and "(while " not in conversion.error, conversion.error


def test_the_trap_is_real_one_rule_object_leaks_splunk_into_lucene() -> None:
    """Why the runner parses a fresh rule per conversion: pipelines change the rule object in place."""
    shared = SigmaRule.from_dict(_data(SEED))
    SplunkBackend(processing_pipeline=make_backend(BY_KEY["splunk"]).processing_pipeline).convert_rule(shared)
    leaked = LuceneBackend(processing_pipeline=make_backend(BY_KEY["es-qs"]).processing_pipeline).convert_rule(shared)
    assert "EventCode" in leaked[0] or "source" in leaked[0]
    assert "EventCode" not in convert_one(_data(SEED), BY_KEY["es-qs"]).query


def test_one_backend_per_target_entry_not_per_key() -> None:
    """Two entries with one key but different formats get different backends (a backend keeps its first format)."""
    data = _data(SEED)
    plain = Target("watch", "plain", "atc.convert.backends:WatcherBackend", ("ecs_windows",), "default")
    watch = replace(plain, output_format="watcher")
    assert not convert_one(data, plain).query.startswith("curl ")
    assert convert_one(data, watch).query.startswith("curl ")
    assert not convert_one(data, plain).query.startswith("curl ")


# --- time limits ---------------------------------------------------------------------------------


class SleepyBackend(TextQueryBackend):
    """A backend that takes far too long on every rule, inside pySigma's convert_rule (which rewrites exceptions)."""

    name: ClassVar[str] = "sleepy"
    formats: ClassVar[dict[str, str]] = {"default": "nothing"}

    def convert_condition(self, cond: Any, state: Any) -> Any:
        time.sleep(60)


SLEEPY = Target("sleepy", "Sleepy", "tests.test_targets_honest:SleepyBackend", timeout=0.2)


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_slow_target_times_out_without_stalling_the_others(jobs: int) -> None:
    rules = load_rules([RULES / "windows/process_creation"], [])
    started = time.perf_counter()
    convert_rules(rules, [SLEEPY, BY_KEY["grep"]], jobs)
    assert time.perf_counter() - started < 2 * 0.2 * len(rules) + 10
    for rule in rules:
        assert rule.conversions["sleepy"].status == "timeout"
        assert "0.2 s" in rule.conversions["sleepy"].error
        assert rule.conversions["grep"].status == "ok"


class CrashingBackend(TextQueryBackend):
    """A backend whose conversion ends its process, as a crash in C code would."""

    name: ClassVar[str] = "crashing"
    formats: ClassVar[dict[str, str]] = {"default": "nothing"}

    def convert_condition(self, cond: Any, state: Any) -> Any:
        os._exit(3)


def test_conversions_keep_their_time_limit_outside_the_main_thread() -> None:
    """An embedding (a server thread) converts with the same limits; no signal is involved."""
    rules = load_rules([RULES / "windows/process_creation"], [])[:2]
    found: dict[str, object] = {}

    def convert() -> None:
        convert_rules(rules, [SLEEPY, BY_KEY["grep"]], 1)
        found["one"] = convert_one(rules[0].data, SLEEPY)

    started = time.perf_counter()
    thread = threading.Thread(target=convert)
    thread.start()
    thread.join(timeout=30)
    assert not thread.is_alive() and time.perf_counter() - started < 15
    assert threading.current_thread() is threading.main_thread() and thread is not threading.main_thread()
    for rule in rules:
        assert rule.conversions["sleepy"].status == "timeout" and rule.conversions["grep"].status == "ok"
    assert found["one"] == Conversion("sleepy", "timeout", error="conversion took longer than 0.2 s and was stopped")


def test_a_conversion_that_ends_its_process_fails_alone() -> None:
    rules = load_rules([RULES / "windows/process_creation"], [])[:2]
    crashing = Target("crashing", "Crashing", "tests.test_targets_honest:CrashingBackend")
    convert_rules(rules, [BY_KEY["grep"], crashing, BY_KEY["sqlite"]], 2)
    for rule in rules:
        assert list(rule.conversions) == ["grep", "crashing", "sqlite"]
        assert rule.conversions["crashing"].status == "failed"
        assert rule.conversions["crashing"].error == "the converting process ended unexpectedly (exit code 3)"
        assert rule.conversions["grep"].status == rule.conversions["sqlite"].status == "ok"


# --- honest pages ---------------------------------------------------------------------------------


def test_a_failing_conversion_shows_its_reason_and_no_query(default_build: BuildResult) -> None:
    failures = 0
    for rule in default_build.kb.rules:
        page = default_build.pages[f"Detection_Rules/{rule.slug}.md"]
        for key, conversion in rule.conversions.items():
            section = _section(page, key)
            if conversion.status == "ok":
                assert "```" in section and "Not convertible" not in section
                continue
            failures += 1
            assert "```" not in section
            reason = section.split("**Not convertible**", 1)[1].splitlines()[0]
            assert conversion.error.split(":")[0] in reason  # the exception class, at least
    assert failures  # kusto cannot convert the seed: the page says why


def test_timeout_and_failure_render_as_one_line_reasons(default_build: BuildResult) -> None:
    from atc.model import Conversion
    from atc.render.context import RenderContext

    rule = next(r for r in default_build.kb.rules if r.slug == SEED_SLUG)
    targets = [BY_KEY["grep"], SLEEPY]
    changed = replace(
        rule,
        conversions={
            "grep": Conversion("grep", "failed", error="Boom: line one"),
            "sleepy": Conversion("sleepy", "timeout", error="took too long"),
        },
    )
    page = RenderContext.of(default_build.kb, targets, REPO_ROOT / "templates").render(
        "rule.md.j2",
        f"Detection_Rules/{SEED_SLUG}.md",
        title=rule.title,
        rule=changed,
        targets=targets,
        related=_no_related(),
        edit_url=None,
    )
    assert "**Not convertible** (conversion failed): Boom: line one" in page
    assert "**Not convertible** (timed out): took too long" in page
    assert not re.search(r"^`{3,}.*\bbash\b", page, re.M)


def _no_related() -> Any:
    return type("Related", (), {"techniques": [], "data_needed": []})()


def test_every_rule_section_says_how_to_reproduce_with_versions(default_build: BuildResult) -> None:
    page = default_build.pages[f"Detection_Rules/{SEED_SLUG}.md"]
    assert (
        "Reproduce (pySigma 1.5.1, pysigma-backend-splunk 2.1.0): <code>sigma convert -t splunk -p splunk\\_windows win\\_security\\_susp\\_psexec\\_execution.yml</code>"
        in page
    )
    assert "<code>atc convert -t grep win\\_security\\_susp\\_psexec\\_execution.yml</code>" in page
    assert page.count("Reproduce (") == len(default_build.targets)


def test_targets_page_lists_every_target_with_versions(default_build: BuildResult) -> None:
    page = default_build.pages["targets.md"]
    for target in default_build.targets:
        row = next(line for line in page.splitlines() if line.startswith(f"| {target.key} |"))
        for version in target_versions(target).values():
            assert version.split()[-1] in row
    assert "--disable-pipeline-check" in page  # esql with ecs_windows: sigma-cli refuses it without the flag


# --- reproducible outside atc ----------------------------------------------------------------------


@pytest.mark.skipif(not SIGMA_CLI.exists(), reason="sigma-cli is not installed in .venv")
@pytest.mark.parametrize("target", [t for t in TARGETS if t.sigma_cli], ids=lambda t: t.key)
def test_sigma_cli_reproduces_the_query(target: Target) -> None:
    command = sigma_cli_command(target, str(CERTUTIL)).split()
    run = subprocess.run([str(SIGMA_CLI), *command[1:]], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == convert_one(_data(CERTUTIL), target).query


@pytest.mark.parametrize("target", [t for t in TARGETS if not t.sigma_cli], ids=lambda t: t.key)
def test_atc_convert_reproduces_our_own_backends(target: Target, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["convert", "-t", target.key, str(SEED)]) == 0
    assert capsys.readouterr().out.strip() == convert_one(_data(SEED), target).query


def test_atc_convert_reports_the_reason_when_not_convertible(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["convert", "-t", "kusto", str(CLOUDTRAIL)]) == 1  # no Kusto pipeline has a table for CloudTrail
    captured = capsys.readouterr()
    assert (
        captured.out == ""
        and "not convertible: SigmaFeatureNotSupportedByBackendError: kusto target: no Kusto pipeline maps the log source product=aws service=cloudtrail"
        in captured.err
    )


def test_atc_convert_given_a_folder_says_it_is_a_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A folder was reported as "not a regular file (a FIFO, socket or device)"."""
    assert main(["convert", "-t", "splunk", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "is a folder, not a file" in err and "FIFO" not in err


def test_atc_convert_reads_a_rule_from_standard_input_as_from_a_file(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`-` was taken for a file named "-" (cannot read file: No such file or directory)."""
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(b"\xef\xbb\xbf" + SEED.read_bytes().replace(b"\n", b"\r\n"))))
    assert main(["convert", "-t", "splunk", "-"]) == 0
    assert capsys.readouterr().out.strip() == convert_one(_data(SEED), BY_KEY["splunk"]).query


@pytest.mark.parametrize(
    ("given", "stdin", "said"),
    [
        ("missing.yml", b"", "atc: missing.yml: not convertible: cannot read file: No such file or directory"),
        ("-", b"title: caf\xe9\n", "atc: -: not convertible: not UTF-8 text (byte 10): save the file as UTF-8"),
        ("-", b"", "atc: -: not convertible: file is empty; delete it or write the item into it"),
        ("-", b"title: [x\n", "atc: -: not convertible: line 2: invalid YAML: "),
        ("-", b"--- text\n---\ntitle: x\n", "atc: -: not convertible: YAML document 1 is text, not a mapping of rule keys"),
        ("-", b"- a\n- b\n", "atc: -: not convertible: YAML document 1 is a list, not a mapping of rule keys"),
    ],
)
def test_atc_convert_names_the_file_once_with_its_reason(
    given: str, stdin: bytes, said: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(stdin)))
    assert main(["convert", "-t", "splunk", given]) == 1
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(said), line


# --- splunk_spl2: a backend bug, caught on events and fixed in our subclass -------------------------


def _like(pattern: str, value: str) -> bool:
    """LIKE with % and _ wildcards and a backslash escaping the next character (the backend's own `\\_`)."""
    parts = re.findall(r"\\.|.", pattern, re.S)
    regex = "".join(re.escape(p[1]) if len(p) == 2 else ".*" if p == "%" else "." if p == "_" else re.escape(p) for p in parts)
    return re.fullmatch(regex, value, re.I | re.S) is not None


SPL2_COMPARISON = re.compile(r'(\w+)\s*(LIKE|=)\s*("(?:[^"\\]|\\.)*"|\d+)')


def spl2_matches(query: str, fields: dict[str, Any]) -> bool:
    """Evaluate an SPL2 `FROM main WHERE` query of LIKE and = comparisons on one event, with SPL2's precedence."""
    event = {**fields, "EventCode": fields.get("EventID"), "source": f"WinEventLog:{fields.get('Channel')}"}  # splunk_windows names

    def truth(match: re.Match[str]) -> str:
        field, operator, literal = match.groups()
        value, text = event.get(field), literal.strip('"')
        if value is None:
            return " False "
        ok = _like(text, str(value)) if operator == "LIKE" else str(value).lower() == re.sub(r"\\(.)", r"\1", text).lower()
        return f" {ok} "

    expression = SPL2_COMPARISON.sub(truth, query.split(" WHERE ", 1)[1])
    expression = re.sub(r"\bAND\b", "and", re.sub(r"\bOR\b", "or", re.sub(r"\bNOT\b", "not", expression)))
    assert re.fullmatch(r"[\s()]*(?:(?:True|False|and|or|not)[\s()]*)+", expression), expression
    return bool(eval(expression))  # only True/False/and/or/not/parentheses, checked above


def _spl2_outcome(backend_class: type, rule_path: Path) -> list[str]:
    """The events on which the backend's SPL2 query disagrees with the rule."""
    pipeline = make_backend(BY_KEY["splunk"]).processing_pipeline
    query = backend_class(processing_pipeline=pipeline).convert_rule(SigmaRule.from_dict(_data(rule_path)))[0]
    events = load_events(EVENTS / _data(rule_path)["id"])
    wrong = [e.name for e in events.positive if not spl2_matches(query, e.fields)]
    return wrong + [e.name for e in events.negative if spl2_matches(query, e.fields)]


SPL2_RULES = [
    RULES / "windows/process_creation/proc_creation_win_domain_trust_discovery.yml",  # precedence
    RULES / "windows/security/win_security_shadow_copy_deletion_vssadmin.yml",  # precedence
    RULES / "windows/file_event/file_event_win_startup_folder_script_drop.yml",  # a backslash before a wildcard
]


@pytest.mark.parametrize("path", SPL2_RULES, ids=lambda p: p.name)
def test_upstream_splunk_spl2_bugs_show_on_events(path: Path) -> None:
    assert _spl2_outcome(UpstreamSPL2Backend, path), "the upstream precedence bug is fixed: drop our subclass"


@pytest.mark.parametrize("path", SPL2_RULES, ids=lambda p: p.name)
def test_our_splunk_spl2_subclass_keeps_the_meaning(path: Path) -> None:
    from atc.convert.backends import SplunkSPL2Backend

    assert _spl2_outcome(SplunkSPL2Backend, path) == []


def test_splunk_spl2_is_optional_and_not_a_default() -> None:
    assert "splunk-spl2" not in [t.key for t in select_targets(None)]
    assert select_targets(["splunk-spl2"])[0].sigma_cli is None  # sigma-cli's splunk_spl2 has the bug: reproduce with atc


def test_all_default_kb_rules_pass_spl2_on_events() -> None:
    from atc.convert.backends import SplunkSPL2Backend

    problems: list[Problem] = []
    rules: list[Rule] = [r for r in load_rules([RULES / "windows"], problems) if (EVENTS / r.id).is_dir()]
    checked = 0
    for rule in rules:
        try:
            wrong = _spl2_outcome(SplunkSPL2Backend, rule.path)
        except (AssertionError, IndexError):
            continue  # comparisons this small evaluator does not read (cidr, numbers): not a verdict
        checked += 1
        assert wrong == [], rule.path.name
    assert checked >= 10


def test_atc_convert_reproduces_a_correlation_whose_base_rule_is_in_another_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The page's line `atc convert -t sqlite --filter f.yml base.yml corr.yml` converted each file alone: the correlation
    file failed ("Sigma rule must have a log source") instead of printing the page's query."""
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "base.yml").write_text(
        "title: Failed logon\nname: failed_logon\nlogsource: {product: windows, service: security}\n"
        "detection: {selection: {EventID: 4625}, condition: selection}\n",
        encoding="utf-8",
    )
    (rules / "corr.yml").write_text(
        "title: Many failed logons\ncorrelation: {type: event_count, rules: [failed_logon], group-by: [TargetUserName], "
        "timespan: 5m, condition: {gte: 10}}\n",
        encoding="utf-8",
    )
    (rules / "f.yml").write_text(
        "title: Not the admin host\nlogsource: {product: windows, service: security}\n"
        "filter: {rules: [failed_logon], selection: {Workstation: ADMINPC}, condition: not selection}\n",
        encoding="utf-8",
    )
    settings = replace(
        default_settings(tmp_path), rules=(rules,), docs_dir=tmp_path / "docs", cache_dir=tmp_path / "cache", build_site=False, jobs=1
    )
    built = run_build(replace(settings, targets=("sqlite",)), quiet=True)
    text = built.pages["Detection_Rules/corr.md"]
    query = re.search(r"```sql\n(.*?)\n```", text, re.S)[1]
    line = html.unescape(re.search(r"<code>(atc convert [^<]*)</code>", text)[1]).replace("\\_", "_")
    assert line == "atc convert -t sqlite --filter f.yml base.yml corr.yml" and "ADMINPC" in query
    monkeypatch.chdir(rules)  # the line runs in the rule's folder
    capsys.readouterr()
    assert main(shlex.split(line)[1:]) == 0
    assert capsys.readouterr().out == query + "\n"
    assert main(["convert", "-t", "sqlite", "base.yml", "base.yml"]) == 0  # no correlation among them: each file alone, as before
    assert capsys.readouterr().out == "SELECT * FROM logs WHERE EventID=4625\n" * 2
