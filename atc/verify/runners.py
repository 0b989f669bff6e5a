"""Prove queries on events: run each rule's grep and SQLite queries over its positive and negative example events.

Events live in `<events>/<rule id>/positive/*.json` and `<events>/<rule id>/negative/*.json`, one JSON event a file.
Both runners read the same flattened events (`flatten`):

- EVTX-to-JSON events (`{"Event": {"System": ..., "EventData": ...}}`, as evtx_dump writes them, Sysmon for Linux
  included): System elements and EventData (or UserData) values become top-level fields; an element's XML attributes
  are joined to its name with "_" (`Provider/@Name` is `Provider_Name`), an element's text keeps its name (`EventID`).
- any other JSON (CloudTrail records, auditd records): nested objects become dotted paths (`userIdentity.type`),
  which is how Sigma names nested fields; lists stay JSON text.

grep runs as a real `grep -P` process over the flattened events as compact JSON lines. SQLite runs the query
unchanged over an in-memory table `logs` with one `TEXT COLLATE NOCASE` column per field (every field of the events and
every field the rule names), one row per event, and a REGEXP function (SQLite has none).

Rule text is untrusted, so every run is bounded: each query gets TIME_LIMIT seconds (grep is killed, SQLite is
interrupted, and every regular expression made from rule text runs through `atc/common/bounded_regex.py`: the `regex`
engine with a timeout instead of Python's unbounded `re`). An event file that is not a regular file inside the events
folder, not a JSON object, or nested deeper than the YAML limits is left out with a problem of its own
(`VerifyReport.bad_events`); the rule is verified on its other events.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from regex import DOTALL, IGNORECASE
from regex import escape as regex_escape

from atc.common.bounded_regex import QueryTimeout, bounded_search, expired, query_time, time_left
from atc.load.yamlfile import MAX_DEPTH, MAX_NODES, LimitExceeded, check_limits
from atc.model import Problem, Rule

VERIFIABLE = ("grep", "sqlite")  # run for real
SIMULATED = ("powershell",)  # evaluated by atc/verify/powershell.py, no PowerShell runs
MAX_EVENT_BYTES = 1_000_000  # an example event larger than this is refused
EVENT_COLUMN = "_atc_event"  # the event's file name in each row, for telling which rows matched
Status = Literal["passed", "failed", "no-events", "not-convertible"]


class VerifyError(Exception):
    """The verifier cannot run at all (bad events folder, unknown target)."""


@dataclass(frozen=True)
class Event:
    """One example event: its file name and flattened fields."""

    name: str
    fields: dict[str, Any]


@dataclass(frozen=True)
class RuleEvents:
    positive: list[Event]
    negative: list[Event]


@dataclass(frozen=True)
class Outcome:
    """One rule's query for one target, checked on the rule's events."""

    rule: str  # the rule's file
    target: str
    status: Status
    positives: int = 0
    negatives: int = 0
    detail: str = ""

    def page_line(self) -> str:
        """The line a rule page shows under the query."""
        how = " (simulated: no PowerShell ran)" if self.target == "powershell" else ""
        if self.status == "passed":
            return f"Verified{how} on {self.positives} positive and {self.negatives} negative events"
        return f"Failed verification{how}: {self.detail}"


@dataclass
class VerifyReport:
    targets: list[str]
    outcomes: list[Outcome] = field(default_factory=list)
    orphans: list[str] = field(default_factory=list)  # event folders naming no rule
    bad_events: list[tuple[str, str]] = field(default_factory=list)  # event files refused: (path, why); their rules use the others
    evidence: list[str] = field(default_factory=list)  # one line per regression test result or unusable test
    evidence_failures: int = 0  # regression test results that differ from match_count
    bad_rules: list[Problem] = field(default_factory=list)  # rule files that could not be read (or ids used twice)

    @property
    def failures(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status == "failed"]

    def table(self) -> str:
        """Per-target counts, then every failure and every query that could not be verified."""
        lines = ["| target | rules verified | passed | failed | not convertible | no events |", "|---|---:|---:|---:|---:|---:|"]
        for target in self.targets:
            counts = {
                status: sum(o.target == target and o.status == status for o in self.outcomes)
                for status in ("passed", "failed", "not-convertible", "no-events")
            }
            verified = counts["passed"] + counts["failed"]
            lines.append(
                f"| {target} | {verified} | {counts['passed']} | {counts['failed']} | {counts['not-convertible']} | {counts['no-events']} |"
            )
        for outcome in self.outcomes:
            if outcome.status in ("failed", "not-convertible"):
                lines.append(f"{outcome.status.upper()} {outcome.target} {outcome.rule}: {outcome.detail}")
        lines += [f"NO RULE for events folder {name}" for name in self.orphans]
        lines += [f"BAD EVENT {path}: {why}" for path, why in self.bad_events]
        lines += [f"BAD RULE {problem.where}: {problem.message}" for problem in self.bad_rules]
        return "\n".join(lines + self.evidence)


# --- events -----------------------------------------------------------------------------------


def _evtx_element(name: str, value: Any, out: dict[str, Any]) -> None:
    """An EVTX-to-JSON element: attributes as name_attribute, text as name, children as name_child."""
    if not isinstance(value, dict):
        out[name] = value
        return
    for key, item in value.items():
        if key == "#attributes":
            for attribute, text in item.items():
                out[f"{name}_{attribute}"] = text
        elif key == "#text":
            out[name] = item
        else:
            _evtx_element(f"{name}_{key}", item, out)


def _dotted(prefix: str, value: Any, out: dict[str, Any]) -> None:
    if isinstance(value, dict) and value:
        for key, item in value.items():
            _dotted(f"{prefix}.{key}" if prefix else str(key), item, out)
    elif isinstance(value, list):
        out[prefix] = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    else:
        out[prefix] = value


def flatten(event: dict[str, Any]) -> dict[str, Any]:
    """One event as flat fields named the way Sigma names them (see the module's description)."""
    record = event.get("Event")
    if not (isinstance(record, dict) and isinstance(record.get("System"), dict)):
        out: dict[str, Any] = {}
        _dotted("", event, out)
        return out
    out = {}
    for key, value in record["System"].items():
        _evtx_element(key, value, out)
    data = record.get("EventData") or record.get("UserData") or {}
    if "UserData" in record and len(data) == 1 and isinstance(next(iter(data.values())), dict):
        data = next(iter(data.values()))  # UserData wraps its values in one element named after the event
    for key, value in data.items():
        if key == "Data" and isinstance(value, dict) and isinstance(value.get("#text"), list):
            value = value["#text"]  # evtx_dump's rendering of several unnamed <Data> elements
        if key == "Data" and isinstance(value, list):  # unnamed <Data> elements (the classic "Windows PowerShell" log)
            out[key] = "\n".join("" if item is None else str(item) for item in value)
        elif key != "#attributes":
            out[key] = value
    return out


def _read_event(path: Path, root: Path) -> dict[str, Any]:
    """One event file's JSON object; VerifyError (naming the file) for anything else."""
    if path.is_symlink() and not path.resolve().is_relative_to(root):
        raise VerifyError(f"{path}: symbolic link to a file outside the events folder; refused (copy the event in instead)")
    if not path.is_file():
        raise VerifyError(f"{path}: not a regular file (a FIFO, device or folder); refused")
    if path.stat().st_size > MAX_EVENT_BYTES:
        raise VerifyError(f"{path}: larger than {MAX_EVENT_BYTES:,} bytes; refused")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        check_limits(data)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise VerifyError(f"{path}: not a JSON event: {exc}") from exc
    except (RecursionError, LimitExceeded) as exc:
        raise VerifyError(
            f"{path}: the event nests deeper than {MAX_DEPTH} levels or holds more than {MAX_NODES:,} values; refused"
        ) from exc
    if not isinstance(data, dict):
        raise VerifyError(f"{path}: an event must be a JSON object")
    return data


def load_events(folder: Path, bad: list[tuple[str, str]] | None = None) -> RuleEvents:
    """The positive and negative events of one rule folder, sorted by file name; a file that cannot be an event is
    left out and recorded in `bad` as (path, why) (without `bad`, VerifyError)."""
    root = folder.resolve().parent

    def side(name: str) -> list[Event]:
        events = []
        for path in sorted((folder / name).glob("*.json")):
            try:
                data = _read_event(path, root)
                try:
                    events.append(Event(path.name, flatten(data)))
                except (AttributeError, TypeError) as exc:  # e.g. EVTX "#attributes" that are not a mapping
                    raise VerifyError(f"{path}: not an event atc can read ({exc}); refused") from exc
            except VerifyError as exc:
                if bad is None:
                    raise
                bad.append((str(path), str(exc).removeprefix(f"{path}: ")))
        return events

    return RuleEvents(side("positive"), side("negative"))


# --- runners: each returns the names of the events the query matched ----------------------------


def json_line(event: Event) -> str:
    """The event as one compact JSON line."""
    return json.dumps(event.fields, separators=(",", ":"), ensure_ascii=False)


def run_grep(query: str, events: list[Event], rule: Rule) -> set[str]:
    """Run the grep command line with the events as JSON lines on its input."""
    lines: dict[str, list[str]] = {}  # events of equal content are one line, each of them matched when it is
    for event in events:
        lines.setdefault(json_line(event), []).append(event.name)
    env = {**os.environ, "LC_ALL": "C.UTF-8"}
    if "\0" in query:
        raise VerifyError("the grep query holds a NUL character, which no command line can carry")
    run = subprocess.run(["sh", "-c", query], input="\n".join(lines) + "\n", capture_output=True, text=True, env=env, timeout=time_left())
    if run.returncode > 1:
        raise VerifyError(f"grep exited with status {run.returncode}: {' '.join(run.stderr.split())}")
    return {name for line in run.stdout.splitlines() for name in lines.get(line, ())}


def _regexp(pattern: str, value: object) -> bool:
    """SQLite's REGEXP function."""
    return value is not None and bounded_search(pattern, str(value))


def _interrupt() -> int:
    """SQLite's progress handler: non-zero stops the query once its time is up."""
    return int(expired())


def same_ignoring_case(a: str, b: str) -> bool:
    """Equal under Unicode simple case folding (as Python's re.IGNORECASE and PCRE2's caseless mode compare)."""
    return len(a) == len(b) and bounded_search(regex_escape(a), b, IGNORECASE, whole=True)


def _nocase(a: str, b: str) -> int:
    """NOCASE collation folding all of Unicode (SQLite's own folds ASCII only: CAFÉ would differ from café)."""
    if same_ignoring_case(a, b):
        return 0
    return -1 if (a.lower(), a) < (b.lower(), b) else 1


def _like(pattern: str | None, value: object, escape: str | None = None) -> bool | None:
    """LIKE folding all of Unicode (SQLite's own LIKE folds ASCII only)."""
    if pattern is None or value is None:
        return None
    parts, chars = [], iter(pattern)
    for ch in chars:
        if escape is not None and ch == escape:
            parts.append(regex_escape(next(chars, "")))
        else:
            parts.append(".*" if ch == "%" else "." if ch == "_" else regex_escape(ch))
    return bounded_search("".join(parts), str(value), IGNORECASE | DOTALL, whole=True)


def sqlite_connection() -> sqlite3.Connection:
    """An in-memory database with REGEXP and Unicode case folding for NOCASE columns and LIKE."""
    con = sqlite3.connect(":memory:")
    con.create_function("REGEXP", 2, _regexp, deterministic=True)
    con.create_function("like", 2, _like, deterministic=True)
    con.create_function("like", 3, _like, deterministic=True)
    con.create_collation("NOCASE", _nocase)
    return con


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _row(event: Event, rule: Rule) -> dict[str, Any]:
    """The event's columns: SQLite names are case-insensitive, so of fields differing only in case the one the rule
    names wins (auditd's ENRICHED SYSCALL over its raw syscall), else the last one; booleans as true/false."""
    named = set(rule.fields)
    row: dict[str, Any] = {}
    for name in sorted(event.fields, key=lambda n: n in named):
        value = event.fields[name]
        row[name.casefold()] = json.dumps(value) if isinstance(value, bool) else value
    return row


def run_sqlite(query: str, events: list[Event], rule: Rule) -> set[str]:
    """Run the SQL query over a `logs` table holding the events."""
    rows = [_row(event, rule) for event in events]
    columns = list(dict.fromkeys([name for row in rows for name in row] + [name.casefold() for name in rule.fields]))
    for _ in range(20):  # a pipeline may name fields the rule does not: add each missing column and retry
        con = sqlite_connection()
        con.set_progress_handler(_interrupt, 10_000)
        con.execute(f"CREATE TABLE logs ({', '.join(f'{_quote(c)} TEXT COLLATE NOCASE' for c in columns + [EVENT_COLUMN])})")
        for row, event in zip(rows, events):
            values = [row.get(c) for c in columns] + [event.name]
            con.execute(f"INSERT INTO logs VALUES ({', '.join('?' * len(values))})", values)
        try:
            cursor = con.execute(query)
            found = cursor.fetchall()
        except sqlite3.Error as exc:
            if expired():
                raise QueryTimeout() from exc
            missing = re.fullmatch(r"no such column: (.+)", str(exc))
            if not missing:
                raise VerifyError(f"SQLite: {exc}") from exc
            columns.append(missing.group(1).strip('`"[]').casefold())
            continue
        index = [d[0] for d in cursor.description].index(EVENT_COLUMN)
        return {row[index] for row in found}
    raise VerifyError("SQLite: too many missing columns")


def run_powershell(query: str, events: list[Event], rule: Rule) -> set[str]:
    """Simulate the PowerShell query on the events (see atc/verify/powershell.py: no PowerShell runs)."""
    from atc.verify.powershell import NotSimulable, PowerShellQuery

    try:
        simulated = PowerShellQuery(query)
    except NotSimulable as exc:
        raise VerifyError(f"PowerShell simulation: {exc}") from exc
    return {event.name for event in events if simulated.matches(event.fields)}


RUNNERS: dict[str, Callable[[str, list[Event], Rule], set[str]]] = {"grep": run_grep, "sqlite": run_sqlite, "powershell": run_powershell}


def run_query(target: str, query: str, events: list[Event], rule: Rule) -> set[str]:
    """The names of the events the target's query matches, within TIME_LIMIT; VerifyError for anything that goes wrong."""
    try:
        with query_time():
            return RUNNERS[target](query, events, rule)
    except VerifyError:
        raise
    except (QueryTimeout, subprocess.TimeoutExpired) as exc:
        raise VerifyError(QueryTimeout().args[0]) from exc
    except Exception as exc:  # the query is made from untrusted rule text: whatever it does is this rule's failure
        raise VerifyError(f"cannot run the query ({type(exc).__name__}): {' '.join(str(exc).split())}") from exc


# --- verification -----------------------------------------------------------------------------


def check(rule: Rule, target: str, events: RuleEvents) -> Outcome:
    """Run the rule's converted query for one target on its events: positives must match, negatives must not."""
    name = str(rule.path)
    conversion = rule.conversions.get(target)
    if conversion is None or conversion.status != "ok" or conversion.query is None:
        return Outcome(name, target, "not-convertible", detail=(conversion.error or "") if conversion else "not converted")
    sides = {"positive": events.positive, "negative": events.negative}  # a file name may be on both sides: run by side/name
    try:
        matched = run_query(target, conversion.query, [replace(e, name=f"{side}/{e.name}") for side, of in sides.items() for e in of], rule)
    except VerifyError as exc:
        return Outcome(name, target, "failed", len(events.positive), len(events.negative), " ".join(str(exc).split()))
    problems = [f"positive {e.name} not matched" for e in events.positive if f"positive/{e.name}" not in matched]
    problems += [f"negative {e.name} matched" for e in events.negative if f"negative/{e.name}" in matched]
    status: Status = "failed" if problems else "passed"
    return Outcome(name, target, status, len(events.positive), len(events.negative), "; ".join(problems))


def bad_event_files(rules: list[Rule], events_dir: Path) -> list[tuple[str, str]]:
    """The rules' example event files that cannot be events, as (path, why): what `atc check` reports without running queries."""
    bad: list[tuple[str, str]] = []
    for rule in rules:
        if rule.id and (events_dir / rule.id).is_dir():
            load_events(events_dir / rule.id, bad)
    return bad


def verify_rules(rules: list[Rule], events_dir: Path | None, targets: list[str]) -> VerifyReport:
    """Check every converted rule that has events (None: there is no events folder, so none has); record each outcome
    in the rule's `verification`."""
    unknown = [t for t in targets if t not in RUNNERS]
    if unknown:
        raise VerifyError(f"cannot run target(s) {', '.join(unknown)} here; verifiable: {', '.join(RUNNERS)}")
    if events_dir is not None and not events_dir.is_dir():
        raise VerifyError(f"{events_dir}: events folder not found")
    report = VerifyReport(list(targets))
    ids = {rule.id for rule in rules}
    report.orphans = sorted(p.name for p in events_dir.iterdir() if p.is_dir() and p.name not in ids) if events_dir else []
    for rule in rules:
        folder = events_dir / rule.id if events_dir and rule.id else None
        events = load_events(folder, report.bad_events) if folder and folder.is_dir() else RuleEvents([], [])
        for target in targets:
            if not events.positive and not events.negative:
                report.outcomes.append(Outcome(str(rule.path), target, "no-events"))
                continue
            outcome = check(rule, target, events)
            report.outcomes.append(outcome)
            if outcome.status in ("passed", "failed"):
                rule.verification[target] = outcome.page_line()
    return report
