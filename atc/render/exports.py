"""Machine-readable exports beside the site: rules.json and analytics.csv, one entry per rule."""

from __future__ import annotations

import csv
import io
import json
import re
from typing import TYPE_CHECKING, Any

from atc.convert.targets import Target
from atc.link.attack import counted_id
from atc.model import RuleSummary
from atc.render import addresses

CSV_COLUMNS = [
    "id",
    "title",
    "level",
    "status",
    "slug",
    "path",
    "product",
    "service",
    "category",
    "tactics",
    "techniques",
    "counted_techniques",
    "data_needed",
    "triggers",
    "converted_targets",
    "first_commit",
    "last_commit",
    "revisions",
]
_LINE_STARTING_FORMULA = re.compile(r"(^|\n)(?=[=+\-@\t])")  # a line that a spreadsheet reads as a formula

if TYPE_CHECKING:
    from atc.history.model import RuleDates


def rule_entry(rule: RuleSummary, targets: list[Target], dates: RuleDates | None = None) -> dict[str, Any]:
    """A rule's facts as plain JSON values (first and last commit and revisions: null without git history)."""
    return {
        "id": rule.id,
        "title": rule.title,
        "level": rule.level,
        "status": rule.status,
        "slug": rule.slug,
        "path": addresses.page("rule", rule.slug),
        "logsource": {"product": rule.logsource.product, "service": rule.logsource.service, "category": rule.logsource.category},
        "tactics": [{"tag": ref.tag, "id": ref.tactic.id if ref.tactic else None} for ref in rule.tactics],
        "techniques": [{"id": ref.tag_id, "status": ref.status, "counts_as": counted_id(ref)} for ref in rule.techniques],
        "data_needed": list(rule.data_needed),
        "triggers": [ref.technique_id for ref in rule.triggers],
        "converted_targets": [t.key for t in targets if t.key in rule.converted],
        "first_commit": dates.first_commit if dates else None,
        "last_commit": dates.last_commit if dates else None,
        "revisions": dates.revisions if dates else None,
    }


def csv_cell(value: object) -> str:
    """A CSV cell that a spreadsheet will not run as a formula: no line of it starts like one.

    Line breaks become "\n", which the writer always quotes (a bare "\r" it would leave unquoted, splitting the row).
    """
    text = "" if value is None else str(value).replace("\r\n", "\n").replace("\r", "\n")
    return _LINE_STARTING_FORMULA.sub(r"\1'", text)


def csv_row(entry: dict[str, Any]) -> list[str]:
    """One rules.json entry as a CSV row, multiple values joined by `;`."""
    flat = {
        **entry,
        **entry["logsource"],
        "tactics": ";".join(t["id"] or t["tag"] for t in entry["tactics"]),
        "techniques": ";".join(t["id"] for t in entry["techniques"]),
        "counted_techniques": ";".join(dict.fromkeys(t["counts_as"] for t in entry["techniques"] if t["counts_as"])),
        "data_needed": ";".join(entry["data_needed"]),
        "triggers": ";".join(entry["triggers"]),
        "converted_targets": ";".join(entry["converted_targets"]),
    }
    return [csv_cell(flat[column]) for column in CSV_COLUMNS]


def exports(rules: list[RuleSummary], targets: list[Target], dates: dict[str, RuleDates] | None = None) -> dict[str, str]:
    """rules.json and analytics.csv, rules sorted by title then slug."""
    entries = [rule_entry(rule, targets, (dates or {}).get(rule.slug)) for rule in sorted(rules, key=lambda r: (r.title.lower(), r.slug))]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    writer.writerows(csv_row(entry) for entry in entries)
    return {
        addresses.named("rules.json"): json.dumps(entries, separators=(",", ":"), ensure_ascii=False) + "\n",
        addresses.named("analytics.csv"): buffer.getvalue(),
    }
