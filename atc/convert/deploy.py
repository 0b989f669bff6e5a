"""Deployable exports: every rule in one file per target, in its backend's deploy format, finalised by the backend itself."""

from __future__ import annotations

import functools
import json
import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

from atc.common.cache import digest
from atc.common.parallel import ForkedMap
from atc.convert.cache import ConversionCache
from atc.convert.plugins import backend_class
from atc.convert.targets import Target, make_backend
from atc.load.rules import one_line
from atc.model import Rule

# Deployable output formats, preferred in this order when a target names none: the first its backend has is used.
DEPLOY_PREFERENCE: tuple[str, ...] = ("savedsearches", "kibana_ndjson", "ruler", "zircolite", "dashboards_ndjson", "siem_rule_ndjson")
FILE_NAMES: dict[str, str] = {
    "savedsearches": "savedsearches.conf",
    "kibana_ndjson": "kibana.ndjson",
    "siem_rule_ndjson": "siem_rules.ndjson",
    "dashboards_ndjson": "dashboards.ndjson",
    "ruler": "ruler.yml",
    "grafana_alerting": "grafana_alerting.yml",
    "zircolite": "zircolite.json",
}


@dataclass(frozen=True)
class NotConverted:
    """A rule the backend could not put into the export, and why."""

    rule_id: str
    title: str
    slug: str
    rule_file: str
    status: str  # failed, timeout, refused (its entry would corrupt the file) or missing
    reason: str


@dataclass(frozen=True)
class DeployExport:
    """One target's export: the file's name and text, how many rules it holds and which it could not hold."""

    target: str  # the target's key: the export lives under exports/<target>/
    format: str
    file_name: str
    text: str
    converted: int
    not_converted: tuple[NotConverted, ...]
    error: str = ""  # why the backend could not write the file at all (then text is empty)


def usual_export(formats: Iterable[str]) -> str:
    """The deployable format atc uses for a backend with these output formats, or "" when it has none."""
    return next((fmt for fmt in DEPLOY_PREFERENCE if fmt in formats), "")


@functools.cache
def export_format(target: Target) -> str:
    """The target's deployable output format (named by the target, else its backend's usual one), or "" for none."""
    return target.export if target.export is not None else usual_export(backend_class(target.backend).formats)


def deploy_target(target: Target) -> Target:
    """The target converting in its deploy format, keeping each rule's output objects for the backend's finaliser."""
    return replace(
        target, key=f"{target.key}@{export_format(target)}", output_format=export_format(target), raw=True, export="", deploy_of=target.key
    )


def deploy_targets(targets: list[Target]) -> list[Target]:
    """The deploy-format targets of those targets that have one."""
    return [deploy_target(target) for target in targets if export_format(target)]


CHECKED = frozenset({"savedsearches"})  # formats written as plain text, whose entries entry_problem checks
STANZA_HEADER = re.compile(r"\[[^\[\]\n]*\]")
SETTING = re.compile(r"[A-Za-z0-9_.:-]+ = ")
ALERT_NAME = re.compile(r"[^a-zA-Z0-9_:]+")  # what the Loki backend replaces in a title to name its alert


def entry_problem(fmt: str, entry: object) -> str | None:
    """Why one rule's entry would corrupt a text export (a rule's title can break a stanza and inject settings), or None.

    JSON and YAML formats are written by serialisers; Splunk's .conf is plain text: every line of a rule's stanza must be
    its header, a `key = value` setting or the continuation of a value ending in a backslash.
    """
    if fmt not in CHECKED:
        return None
    lines = str(entry).strip("\n").split("\n")
    if not STANZA_HEADER.fullmatch(lines[0]):
        return "its title would break the savedsearches.conf stanza header (a line break or control character)"
    for previous, line in zip(lines, lines[1:]):
        if not previous.endswith("\\") and not SETTING.match(line):
            return "a line break in its title or a value would put a line into savedsearches.conf that is not a setting"
    return None


def ended_values(fmt: str, entry: object) -> object:
    """A savedsearches.conf entry whose description no longer ends in a backslash, or the entry as it is.

    Splunk continues a value on the next line when a line ends in a backslash: a description ending in one (SigmaHQ's
    "...\\spool\\drivers\\color\\") would swallow the `search = ` line after it, leaving the stanza without a search.
    """
    if fmt not in CHECKED or not isinstance(entry, str) or (end := entry.rfind("\nsearch = ")) == -1:
        return entry
    return entry[:end].rstrip("\\") + entry[end:]


def _file_text(output: object) -> str:
    """The backend's finalised output as file text: text as it is, a list of objects as NDJSON, an object as JSON."""
    if isinstance(output, str):
        text = output
    elif isinstance(output, list) and all(isinstance(item, str) for item in output):
        text = "\n".join(output)
    elif isinstance(output, list):
        text = "\n".join(json.dumps(item, ensure_ascii=False) for item in output)
    else:  # an object (bytes raise here: a binary format cannot be a page)
        text = json.dumps(output, ensure_ascii=False, indent=2)
    return text.lstrip("\n") + ("" if text.endswith("\n") else "\n")


def _file_name(fmt: str, output: object) -> str:
    if fmt in FILE_NAMES:
        return FILE_NAMES[fmt]
    if isinstance(output, list) and output and not all(isinstance(item, str) for item in output):
        return f"{fmt}.ndjson"
    return f"{fmt}.json" if isinstance(output, dict) else f"{fmt}.txt"


def _stanza_name(entry: str) -> str:
    """The name in a savedsearches.conf entry's `[name]` header."""
    return entry.strip("\n").split("\n", 1)[0][1:-1]


def unique_stanzas(kept: list[tuple[Rule, list[str]]]) -> list[str]:
    """The rules' savedsearches.conf entries as JSON lists, a stanza name that several entries share followed by the
    rule's page name (and the query's number): Splunk merges stanzas of one name, keeping only the last search (a rule
    titled "default" would set the search of every stanza that has none)."""
    names = Counter(_stanza_name(e) for _, entries in kept for e in entries)
    shared = {name for name, count in names.items() if count > 1} | {"default"}
    included: list[str] = []
    for rule, entries in kept:
        renamed = []
        for number, entry in enumerate(entries, 1):
            name = _stanza_name(entry)
            suffix = f" {number}" if len(entries) > 1 else ""
            unique = f"{name} ({rule.slug}{suffix})" if name in shared else name
            renamed.append(entry.replace(f"[{name}]", f"[{unique}]", 1))
        included.append(json.dumps(renamed, ensure_ascii=False))
    return included


def named_alerts(rule: Rule, query: str) -> str:
    """A Loki ruler rule's entries (JSON) with every alert named: the backend names an alert after the ASCII letters and
    digits of the rule's title, so a title without any (one in Cyrillic) gave `alert: ''`, for which Loki rejects the
    whole ruler.yml; such an alert is named after the rule's id (or page name)."""
    if '"alert": ""' not in query:  # the runner's json.dumps spelling: every alert has a name
        return query
    entries = json.loads(query)
    for entry in entries:
        if isinstance(entry, dict) and entry.get("alert") == "":
            entry["alert"] = "sigma_" + ALERT_NAME.sub("_", rule.id or rule.slug).strip("_")
    return json.dumps(entries, ensure_ascii=False)


def _entries(rules: list[Rule], key: str, fmt: str) -> tuple[list[str], list[NotConverted]]:
    """The stored deploy conversions going into the file (JSON lists, in rule order) and the rules left out, with why."""
    included: list[str] = []
    kept: list[tuple[Rule, list[str]]] = []  # the checked formats' entries, named apart before they are included
    missing: list[NotConverted] = []
    for rule in rules:
        conversion = rule.conversions.get(key)
        if conversion is None:
            status, reason = "missing", "not converted"
        elif conversion.status != "ok":
            status, reason = conversion.status, conversion.error or ""
        else:
            if fmt not in CHECKED:
                included.append(named_alerts(rule, conversion.query or "[]") if fmt == "ruler" else conversion.query or "[]")
                continue
            entries = [ended_values(fmt, entry) for entry in json.loads(conversion.query or "[]")]
            problem = next(filter(None, (entry_problem(fmt, entry) for entry in entries)), None)
            if problem is None:
                kept.append((rule, entries))
                continue
            status, reason = "refused", problem
        missing.append(NotConverted(rule.id, rule.title, rule.slug, rule.path.name, status, reason))
    return included + unique_stanzas(kept), missing


def _finalise(deploy: Target, included: list[str]) -> str:
    """The backend's own finaliser over every rule's entries: {"file": name, "text": ..., "error": ...} as JSON."""
    fmt = deploy.output_format
    queries = [entry for text in included for entry in json.loads(text)]
    try:
        backend = make_backend(deploy)
        backend.init_processing_pipeline(fmt)
        output = backend.finalize(queries, fmt)
        made = {"file": _file_name(fmt, output), "text": _file_text(output), "error": ""}
    except Exception as exc:  # a backend's finaliser may raise anything (or give bytes): the targets page says why
        made = {"file": FILE_NAMES.get(fmt, fmt), "text": "", "error": f"{type(exc).__name__}: {one_line(exc)}"}
    return json.dumps(made)


def _finalised(job: tuple[Target, list[str]]) -> str:
    """A worker task: one export file (see _finalise)."""
    return _finalise(*job)


def start_exports(
    rules: list[Rule], deploy: list[Target], cache: ConversionCache | None = None, jobs: int = 1
) -> Callable[[], list[DeployExport]]:
    """Start making one export per deploy target (deploy_targets), taking the deploy conversions off the rules at once
    (pages never show them); the returned function waits for the exports and stores the new ones in the cache (called
    again, it gives the same exports).

    A file is remembered in the cache by its inputs (target fingerprint, every entry): the Loki backend's YAML writer
    alone takes seconds over thousands of rules. The files to make are finalised in `jobs` forked workers, started here,
    so that the caller can render pages meanwhile.
    """
    ordered = sorted(rules, key=lambda r: (r.title.lower(), r.slug))
    fingerprints = cache.fingerprints(deploy) if cache else {}
    entries = [_entries(ordered, target.key, target.output_format) for target in deploy]
    for rule in rules:
        for target in deploy:
            rule.conversions.pop(target.key, None)
    inputs = [digest(fingerprints[target], *included) if cache else b"" for target, (included, _) in zip(deploy, entries)]
    made = [cache.exports.get(f"export:{target.key}", key) if cache else None for target, key in zip(deploy, inputs)]
    todo = [number for number, text in enumerate(made) if text is None]
    work = ForkedMap(_finalised, [(deploy[n], entries[n][0]) for n in todo], jobs, heavy=True)

    @functools.cache
    def finish() -> list[DeployExport]:
        for number, text in zip(todo, work.results()):
            made[number] = text
            if cache:
                cache.exports.put(f"export:{deploy[number].key}", inputs[number], text)
        if cache and todo:
            cache.exports.write()
        exports: list[DeployExport] = []
        for target, (_, missing), text in zip(deploy, entries, made):
            found = json.loads(str(text))
            exports.append(
                DeployExport(
                    target.key.rpartition("@")[0],
                    target.output_format,
                    found["file"],
                    found["text"],
                    len(ordered) - len(missing),
                    tuple(missing),
                    found["error"],
                )
            )
        return exports

    return finish
