"""Load Sigma rules with pySigma, keeping each rule's own YAML text for display."""

from __future__ import annotations

import hashlib
import os
import posixpath
import re
import unicodedata
from collections.abc import Collection, Iterable, Iterator
from dataclasses import replace
from pathlib import Path

from sigma.exceptions import SigmaError
from sigma.rule import SigmaDetection, SigmaDetectionItem, SigmaRule
from sigma.types import SigmaNumber, SigmaString

from atc.common.resources import DOCS_MANIFEST, SITE_MARKER
from atc.load.aggregation import is_aggregation
from atc.load.documents import aggregation_rule, collection_documents, correlation_rule, filter_rule, rejected_rule
from atc.load.yamlfile import MAX_DEPTH, list_found, one_line, parse_yaml_documents, per_file, read_text, type_name
from atc.model import LogSource, Problem, Rule
from atc.settings.model import CONFIG_NAME

__all__ = ["find_files", "finish_rules", "load_file", "load_rules", "one_line", "recognise", "safe_slug"]

RULE_SUFFIXES = (".yml", ".yaml")
MAX_RULE_VALUES = 10_000  # YAML values in one rule; SigmaHQ's largest rules have about two thousand
MAX_EXPANDED_VALUES = 10_000  # values after pySigma's parse-time modifiers (windash: 5 per flag, so 5^n per value)
_WINDASH_FLAG = re.compile(r"\B[-/]\b")  # what pySigma's windash modifier expands
EVENT_ID_TEXT = re.compile(
    r"[0-9]{1,10}"
)  # an event id as text: ASCII digits ('4688'); int() takes other scripts' digits, isdigit() even '²'
GENERATED_NAMES = frozenset({"index", "gaps"})  # pages atc writes beside items' pages (Data_Needed/gaps.md)
_SLUG_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")
_RULE_KEY = re.compile(r"^(?:detection|correlation|filter):", re.MULTILINE)
_TEXT_KEYS = ("title", "id", "description", "status", "level", "author")
_LIST_KEYS = ("references", "falsepositives", "tags")


def recognise(head: str) -> bool:
    """Whether a YAML file's first bytes are a Sigma rule's (a detection, correlation or filter at the top level)."""
    return _RULE_KEY.search(head) is not None


def find_files(dirs: Iterable[Path], problems: list[Problem], kind: str, skip: Collection[Path] = ()) -> list[Path]:
    """Every YAML file below the given folders (symbolic links to folders are not followed), sorted; a missing folder is a
    Problem. Left out: the folders and files in `skip` (Settings.not_rules), hidden folders and the folders atc built."""
    found: set[Path] = set()
    skipped = {path.absolute() for path in skip}
    for folder in dirs:
        if folder.is_file():
            found.add(folder)
        elif folder.is_dir():
            root = folder.resolve()
            for parent, folders, names in os.walk(folder):
                folders[:] = [name for name in folders if not _not_rules(Path(parent, name), skipped)]
                for name in names:
                    path = Path(parent, name)
                    if path.absolute() in skipped or name == CONFIG_NAME:  # another input, or atc's settings: `rules: .` holds them
                        continue
                    if path.suffix != path.suffix.lower() and path.suffix.lower() in RULE_SUFFIXES:  # Rule.YML: read by none
                        message = f"not read: atc (like sigma-cli) reads files ending .yml or .yaml, not {path.suffix}; rename it"
                        problems.append(Problem(str(path), kind, message, severity="warning"))
                    elif path.suffix in RULE_SUFFIXES and utf8_name(path, problems, kind) and inside(path, root, problems, kind):
                        found.add(path)  # special files: read_text reports them
        else:
            problems.append(Problem(str(folder), kind, "folder not found"))
    return sorted(found)


def _not_rules(folder: Path, skipped: set[Path]) -> bool:
    """A folder below a rule folder that holds no rules: another input's, a hidden one (.git, .github, .venv, .atc-cache,
    as `atc init` skips them) or one atc built (docs/, site/: their exports are YAML too)."""
    return (
        folder.name.startswith(".")
        or folder.absolute() in skipped
        or (folder / SITE_MARKER).is_file()
        or (folder / DOCS_MANIFEST).is_file()
    )


def rule_blobs(blobs: dict[str, str], folders: list[str], skip: list[str]) -> dict[str, str]:
    """Of a revision's files below the rule folders (repository path -> blob id; folders and skip as repository paths,
    "." the top), those find_files reads in a working tree: YAML, not atc.yml, not in skip (Settings.not_rules), not below
    a hidden folder or one atc built."""
    built = {posixpath.dirname(rel) for rel in blobs if posixpath.basename(rel) in (SITE_MARKER, DOCS_MANIFEST)}
    built |= {path for path in skip if path not in folders}

    def read(rel: str, folder: str) -> bool:
        top = "" if folder in ("", ".") else folder.rstrip("/") + "/"
        if not rel.startswith(top):
            return False
        parents = rel[len(top) :].split("/")[:-1]
        below = [top + "/".join(parents[: end + 1]) for end in range(len(parents))]
        return not any(part.startswith(".") for part in parents) and not any(path in built for path in below)

    return {
        rel: blob
        for rel, blob in blobs.items()
        if posixpath.splitext(rel)[1] in RULE_SUFFIXES
        and posixpath.basename(rel) != CONFIG_NAME
        and rel not in skip
        and any(read(rel, folder) for folder in folders)
    }


def utf8_name(path: Path, problems: list[Problem], kind: str) -> bool:
    """Whether the file's path is UTF-8 (pages, caches and JSON hold it as text); another encoding is a Problem showing its bytes."""
    try:
        str(path).encode("utf-8")
    except UnicodeEncodeError:
        shown = os.fsencode(path).decode("utf-8", "backslashreplace")
        problems.append(Problem(shown, kind, "the file name is not UTF-8 (another encoding's bytes shown as \\xNN); rename it"))
        return False
    return True


def inside(path: Path, root: Path, problems: list[Problem], kind: str) -> bool:
    """Whether a found file really lies inside its (resolved) folder; a symbolic link leading out of it is a Problem."""
    if not path.is_symlink() or path.resolve().is_relative_to(root):  # the walk never leaves the folder through a directory
        return True
    problems.append(Problem(str(path), kind, "symbolic link to a file outside the folder; refused (copy the file in instead)"))
    return False


def load_rules(dirs: Iterable[Path], problems: list[Problem], skip: Collection[Path] = ()) -> list[Rule]:
    """Every valid Sigma rule below the folders (those in `skip` left out); each bad file becomes one Problem."""
    rules = [rule for path in find_files(dirs, problems, "rule", skip) for rule in load_file(path, problems)]
    finish_rules(rules, problems)
    return rules


def finish_rules(rules: list[Rule], problems: list[Problem]) -> None:
    """Give loaded rules (sorted by path) their page names and report ids used twice."""
    _assign_slugs(rules, problems)
    _report_duplicate_ids(rules, problems)


def load_file(path: Path, problems: list[Problem]) -> list[Rule]:
    """Every rule document of one file (a rule; or several `---` documents, Sigma 1 collections, correlations, filters); bad ones become Problems."""
    return _load_documents(path, problems) or []


@per_file("rule")
def _load_documents(path: Path, problems: list[Problem]) -> list[Rule]:
    text = read_text(path, problems, "rule")
    if text is None:
        return []
    documents = parse_yaml_documents(text, path, problems, "rule", MAX_RULE_VALUES)
    if documents is None:
        return []
    if len(documents) == 1 and not (isinstance(documents[0], dict) and "action" in documents[0]):
        rule = load_document(documents[0], path, text, problems)
        return [rule] if rule else []
    rules = []
    for number, data in collection_documents(documents, path, problems):
        own: list[Problem] = []  # each named by its document: the file holds several
        rule = load_document(data, path, text, own, number)
        problems.extend(replace(problem, message=f"document {number + 1}: {problem.message}") for problem in own)
        if rule:
            rules.append(rule)
    for position, rule in enumerate(rules):
        rule.conversion_docs = rule.conversion_docs or [rule.data]  # the file's text is shared: conversions are keyed by the documents
        rule.shares_file = len(rules) > 1
        if position:
            rule.page_stem = f"{path.stem}_{rule.name or position + 1}"
    return rules


def load_document(data: object, path: Path, text: str, problems: list[Problem], document: int = 0) -> Rule | None:
    """One YAML document as a Rule of its kind, or None with the reason recorded."""
    if isinstance(data, dict) and "correlation" in data:
        return correlation_rule(data, path, text, problems, document)
    if isinstance(data, dict) and "filter" in data:
        return filter_rule(data, path, text, problems, document)
    error = _shape_error(data)
    if error:
        problems.append(Problem(str(path), "rule", error))
        return None
    assert isinstance(data, dict)
    try:
        sigma_rule = SigmaRule.from_dict(data)
        trees = []
        for condition in sigma_rule.detection.parsed_condition:
            condition.parse()  # names a selection that does not exist, or is not a valid expression
            trees.append(condition.parse(postprocess=False))  # pySigma keeps the parse: a copy, not a second parse
    except SigmaError as exc:
        if is_aggregation(data):
            rule = aggregation_rule(data, path, text, problems, document)
            if rule.conversion_docs:  # the fields and event ids of its search, for Data Needed matching
                try:
                    rule.fields, rule.event_ids = detection_facts(SigmaRule.from_dict(rule.conversion_docs[0]))
                except Exception:  # a search pySigma cannot read either: no fields to match Data Needed with
                    pass
            return rule
        reason = f"pySigma rejects the rule: {one_line(exc)}"
        problems.append(Problem(str(path), "sigma", reason))
        return rejected_rule(data, path, text, reason, document)
    except RecursionError:
        problems.append(
            Problem(str(path), "sigma", "the rule nests too deeply for pySigma (RecursionError); simplify its detection or condition")
        )
        return None
    except Exception as exc:  # pySigma parses untrusted text; whatever it raises is the file's problem, not a crash
        reason = f"pySigma cannot read the rule ({type(exc).__name__}): {one_line(exc)}"
        problems.append(Problem(str(path), "sigma", reason))
        return rejected_rule(data, path, text, reason, document)
    fields, event_ids = detection_facts(sigma_rule)
    for value in _unreadable_event_ids(sigma_rule):
        problems.append(
            Problem(
                str(path),
                "event-id",
                f"EventID {value!r} is not written in ASCII digits; it is ignored when choosing Data Needed",
                severity="warning",
            )
        )
    logsource = sigma_rule.logsource
    return Rule(
        path=path,
        source_text=text,
        data=data,
        id=str(data.get("id") or ""),
        title=data["title"],
        slug=path.stem,
        description=data.get("description") or "",
        status=data.get("status"),
        level=data.get("level"),
        author=data.get("author"),
        date=str(data["date"]) if data.get("date") else None,
        references=list(data.get("references") or []),
        falsepositives=[str(item) for item in data.get("falsepositives") or []],
        tags=[str(tag) for tag in data.get("tags") or []],
        logsource=LogSource(logsource.product, logsource.service, logsource.category),
        fields=fields,
        event_ids=event_ids,
        conditions=tuple(trees),
        page_stem=path.stem,
        document=document,
        name=str(data["name"]) if isinstance(data.get("name"), str) else None,
    )


def _shape_error(data: object) -> str | None:
    """Why the parsed YAML is not usable as a rule (wrong kind of document or wrong types), or None."""
    if not isinstance(data, dict):
        return f"not a Sigma rule: {type_name(data)}, where a mapping with title, logsource and detection was expected"
    missing = [key for key in ("title", "logsource", "detection") if key not in data]
    if missing:
        return f"not a Sigma rule: missing {', '.join(missing)}; add {'it' if len(missing) == 1 else 'them'}"
    for key in _TEXT_KEYS:
        if data.get(key) is not None and not isinstance(data[key], str):
            return f"'{key}' must be text (write `{key}: ...` on one line, quoted if needed), not {type_name(data[key])}"
    for key in _LIST_KEYS:
        value = data.get(key)
        if value is not None and not (isinstance(value, list) and all(isinstance(v, (str, int, float)) for v in value)):
            return f"'{key}' must be a list of text values (one '- item' line each), not {list_found(value, (str, int, float))}"
    fields = data.get("fields")
    if fields is not None and not (isinstance(fields, list) and all(isinstance(name, str) for name in fields)):
        return "'fields' must be a list of field names (one '- Name' line each)"
    if not isinstance(data["logsource"], dict):
        return f"'logsource' must be a mapping (product, service, category), not {type_name(data['logsource'])}"
    if not isinstance(data["detection"], dict):
        return f"'detection' must be a mapping of selections and a condition, not {type_name(data['detection'])}"
    expanded = _expanded_values(data["detection"])
    if expanded > MAX_EXPANDED_VALUES:
        return (
            f"the detection's modifiers expand to {expanded:,} values, more than the {MAX_EXPANDED_VALUES:,} allowed "
            "(windash makes 5 of each '-' or '/' flag, base64offset 3 of each value); split the value or use fewer flags"
        )
    conditions = data["detection"].get("condition")
    for condition in conditions if isinstance(conditions, list) else [conditions]:
        if isinstance(condition, str) and _nesting(condition) > MAX_DEPTH:
            return f"'condition' nests deeper than {MAX_DEPTH} parentheses; simplify it"
    return None


def _expanded_values(detection: dict) -> int:
    """How many values pySigma makes of the detection while parsing it (windash and base64offset multiply them)."""
    total = 0
    selections = [detection[key] for key in detection if key != "condition"]
    while selections:
        selection = selections.pop()
        if isinstance(selection, list):
            selections.extend(item for item in selection if isinstance(item, (dict, list)))
            total += sum(1 for item in selection if not isinstance(item, (dict, list)))
            continue
        if not isinstance(selection, dict):
            continue
        for key, value in selection.items():
            modifiers = str(key).split("|")[1:]
            values = value if isinstance(value, list) else [value]
            for item in values:
                count = 5 ** len(_WINDASH_FLAG.findall(str(item))) if "windash" in modifiers else 1
                total += count * (3 if "base64offset" in modifiers else 1)
            if total > MAX_EXPANDED_VALUES:
                return total
    return total


def _nesting(condition: str) -> int:
    """The deepest parenthesis nesting of a condition."""
    depth = deepest = 0
    for char in condition:
        depth += (char == "(") - (char == ")")
        deepest = max(deepest, depth)
    return deepest


def _detection_items(detection: SigmaDetection) -> Iterator[SigmaDetectionItem]:
    for item in detection.detection_items:
        if isinstance(item, SigmaDetection):
            yield from _detection_items(item)
        else:
            yield item


def detection_facts(rule: SigmaRule) -> tuple[list[str], list[int]]:
    """The field names the detection uses (modifiers stripped) and its EventID values."""
    fields: set[str] = set()
    event_ids: set[int] = set()
    for detection in rule.detection.detections.values():
        for item in _detection_items(detection):
            if item.field is None:
                continue
            fields.add(item.field)
            if item.field == "EventID":
                event_ids.update(_as_int(value) for value in item.value if _as_int(value) is not None)
    return sorted(fields), sorted(event_ids)


def _unreadable_event_ids(rule: SigmaRule) -> list[str]:
    """EventID values made of digits that are not ASCII ('4688²', '٤٦٨٨'): other tools would read them differently."""
    found = []
    for detection in rule.detection.detections.values():
        for item in _detection_items(detection):
            if item.field != "EventID":
                continue
            texts = [str(value) for value in item.value if isinstance(value, SigmaString) and _as_int(value) is None]
            found += [text for text in texts if not text.isascii() and any(char.isdigit() for char in text)]
    return sorted(set(found))


def _as_int(value: object) -> int | None:
    if isinstance(value, SigmaNumber):
        return int(value.number) if isinstance(value.number, int) else None
    if isinstance(value, SigmaString) and not value.contains_special() and EVENT_ID_TEXT.fullmatch(str(value)):
        return int(str(value))
    return None


def safe_slug(stem: str) -> str:
    """A page name that is a plain file name: NFKC-normalised ASCII, no separators, no leading dots, bounded length, never a generated page's name."""
    slug = _SLUG_UNSAFE.sub("_", unicodedata.normalize("NFKC", stem)).strip("._-")[:100] or "page"
    return f"{slug}_" if slug.lower() in GENERATED_NAMES else slug


def _assign_slugs(rules: list[Rule], problems: list[Problem]) -> None:
    """Sanitised, stable, distinct page names; colliding names get a suffix from the rule's folder, file and id (a warning says so)."""
    by_slug: dict[str, list[Rule]] = {}
    for rule in rules:
        by_slug.setdefault(safe_slug(rule.page_stem or rule.path.stem).lower(), []).append(rule)
    taken: set[str] = set()
    for group in by_slug.values():
        for rule in group:
            rule.slug = safe_slug(rule.page_stem or rule.path.stem)
            if len(group) > 1:
                where = f"{rule.path.parent.name}/{rule.path.name}/{rule.id}" + (f"/{rule.document}" if rule.document else "")
                digest = hashlib.sha1(where.encode()).hexdigest()[:8]
                others = ", ".join(str(other.path) for other in group if other is not rule)
                problems.append(
                    Problem(
                        str(rule.path),
                        "page-name",
                        f"the page name {rule.slug} is also that of {others}; this rule's page is {rule.slug}_{digest}",
                        severity="warning",
                    )
                )
                rule.slug = f"{rule.slug}_{digest}"
            base, number = rule.slug, 1
            while rule.slug.lower() in taken:  # same folder name, file name and id in two rule folders
                number += 1
                rule.slug = f"{base}_{number}"
            taken.add(rule.slug.lower())


def _report_duplicate_ids(rules: list[Rule], problems: list[Problem]) -> None:
    first: dict[str, Rule] = {}
    for rule in rules:
        if not rule.id:
            continue
        if rule.id in first:
            problems.append(
                Problem(
                    str(rule.path), "duplicate-id", f"rule id {rule.id} is also used by {first[rule.id].path}; give each rule its own id"
                )
            )
        else:
            first[rule.id] = rule
