"""Evidence from SigmaHQ's regression tests: run a rule's queries on the real events its `regression_tests_path` names.

SigmaHQ's layout (regression_data/README.md there): a rule carries `regression_tests_path: regression_data/<rule
path>/info.yml`, relative to the repository root. The info.yml names the rule (`rule_metadata: [{id, title}]`) and its
tests (`regression_tests_info: [{name, type, provider, match_count, path}]`); each test's `path` (from the root too)
is an EVTX file with a JSON rendering beside it (same name, `.json`: one event object, a list, or JSON lines). When
the path resolves in the team's repository, the grep and SQLite queries run for real on those events and the
PowerShell one is simulated; each rule page says how many events matched against the expected `match_count`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from atc.load.yamlfile import read_yaml
from atc.model import Evidence, Problem, Rule
from atc.verify.runners import SIMULATED, Event, VerifyError, flatten, run_query

RUNNABLE = ("grep", "sqlite", "powershell")
MAX_EVENT_BYTES = 20_000_000  # a regression test's JSON events (SigmaHQ's are a few kilobytes)


class EvidenceError(Exception):
    """An info.yml or data file that cannot be used, with the reason."""


@dataclass(frozen=True)
class RegressionTest:
    name: str
    data: Path  # the JSON rendering of the test's events
    expected: int | None  # match_count


def _candidate_roots(rule: Rule, roots: list[Path]) -> list[Path]:
    """Where a repository-relative path may start: the given roots, then every folder above the rule file."""
    return list(dict.fromkeys([*roots, *rule.path.resolve().parents]))


def _inside(root: Path, relative: str) -> Path | None:
    """root/relative resolved, or None when it leaves root (a rule may not point outside its repository)."""
    path = (root / relative).resolve()
    return path if root.resolve() in path.parents else None


def resolve_info(rule: Rule, roots: list[Path]) -> tuple[Path, Path] | None:
    """(repository root, info.yml) for a rule whose regression_tests_path resolves; None otherwise."""
    value = rule.data.get("regression_tests_path") if isinstance(rule.data, dict) else None
    if not isinstance(value, str) or not value.strip():
        return None
    for root in _candidate_roots(rule, roots):
        path = _inside(root, value.strip())
        if path is not None and path.is_file():
            return root.resolve(), path
    return None


def read_tests(info: Path, root: Path, rule: Rule) -> list[RegressionTest]:
    """The tests an info.yml lists for this rule."""
    problems: list[Problem] = []
    data = read_yaml(info, problems, "evidence")  # size, alias and nesting limits as for rules
    if problems:
        raise EvidenceError(f"{info}: {problems[0].message}")
    if not isinstance(data, dict):
        raise EvidenceError(f"{info}: not a mapping")
    named = [str(item.get("id")) for item in data.get("rule_metadata") or [] if isinstance(item, dict)]
    if rule.id not in named:
        raise EvidenceError(f"{info}: rule_metadata names {', '.join(named) or 'no rule'}, not this rule ({rule.id})")
    tests = []
    for number, item in enumerate(data.get("regression_tests_info") or [], 1):
        if not isinstance(item, dict) or not isinstance(item.get("path"), str):
            raise EvidenceError(f"{info}: regression_tests_info entry {number} has no path")
        expected = item.get("match_count")
        if expected is not None and (isinstance(expected, bool) or not isinstance(expected, int) or expected < 0):
            raise EvidenceError(f"{info}: regression_tests_info entry {number}: match_count must be a whole number")
        target = _inside(root, item["path"])
        if target is None:
            raise EvidenceError(f"{info}: regression_tests_info entry {number}: {item['path']} is outside the repository")
        tests.append(RegressionTest(str(item.get("name") or f"test {number}"), target.with_suffix(".json"), expected))
    if not tests:
        raise EvidenceError(f"{info}: no regression_tests_info")
    return tests


def read_events(path: Path) -> list[Event]:
    """The events of a JSON data file (one object, a list of objects, or JSON lines), flattened like atc verify's."""
    try:
        if path.stat().st_size > MAX_EVENT_BYTES:
            raise EvidenceError(f"{path}: {path.stat().st_size:,} bytes of events, more than the {MAX_EVENT_BYTES:,} read")
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise EvidenceError(f"{path}: cannot read the events: {exc}") from exc
    try:
        parsed: Any = json.loads(text)
        items = parsed if isinstance(parsed, list) else [parsed]
    except json.JSONDecodeError:
        try:
            items = [json.loads(line) for line in text.splitlines() if line.strip()]
        except json.JSONDecodeError as exc:
            raise EvidenceError(f"{path}: neither JSON nor JSON lines: {exc}") from exc
    if not items or not all(isinstance(item, dict) for item in items):
        raise EvidenceError(f"{path}: the events must be JSON objects")
    try:
        return [Event(f"{path.name}#{number}", flatten(item)) for number, item in enumerate(items, 1)]
    except (AttributeError, TypeError) as exc:  # e.g. EVTX "#attributes" that are not a mapping
        raise EvidenceError(f"{path}: not an event atc can read ({exc})") from exc


def _run(rule: Rule, target: str, test: RegressionTest, events: list[Event]) -> Evidence:
    conversion = rule.conversions.get(target)
    simulated = target in SIMULATED
    if conversion is None or conversion.status != "ok" or conversion.query is None:
        return Evidence(target, test.name, 0, len(events), test.expected, simulated, "the query is not convertible")
    try:
        matched = run_query(target, conversion.query, events, rule)
    except VerifyError as exc:
        return Evidence(target, test.name, 0, len(events), test.expected, simulated, " ".join(str(exc).split()))
    return Evidence(target, test.name, len(matched), len(events), test.expected, simulated)


def collect_evidence(rules: list[Rule], targets: list[str], roots: list[Path]) -> list[Problem]:
    """Fill each rule's `evidence` from its regression tests; problems for unusable tests and failed queries."""
    runnable = [target for target in targets if target in RUNNABLE]
    problems: list[Problem] = []
    for rule in rules:
        found = resolve_info(rule, roots)
        if found is None:
            continue
        root, info = found
        rule.evidence_source = info.relative_to(root).as_posix()
        try:
            tests = read_tests(info, root, rule)
        except EvidenceError as exc:
            problems.append(Problem(str(rule.path), "evidence", str(exc)))
            continue
        for test in tests:
            try:
                events = read_events(test.data)
            except EvidenceError as exc:
                problems.append(Problem(str(rule.path), "evidence", str(exc)))
                continue
            for target in runnable:
                evidence = _run(rule, target, test, events)
                rule.evidence.append(evidence)
                if not evidence.detail and not evidence.passed:
                    problems.append(Problem(str(rule.path), "evidence-failed", f"{target}: {evidence.line()}"))
    return problems
