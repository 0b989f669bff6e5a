"""Convert a Sigma rule folder with every default target and print, per target, what converted, failed or timed out.

.venv/bin/python bench/target_report.py ../shared/corpora/sigma/rules > bench/TARGETS.md
"""

from __future__ import annotations

import re
import sys
import time
from collections import Counter
from pathlib import Path

from atc.convert.runner import convert_rules
from atc.convert.targets import select_targets, target_versions
from atc.load.rules import load_rules
from atc.model import Problem, Rule

TOP = 5
_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")
_NUMBER = re.compile(r"\b\d+\b")
_HEX_ID = re.compile(r"\b[0-9a-f]{8}-[0-9a-f-]{27}\b")


def normalise(reason: str) -> str:
    """A failure reason without the rule-specific parts (quoted values, ids, numbers), so equal causes count together."""
    text = _HEX_ID.sub("<id>", reason)
    text = _QUOTED.sub("'…'", text)
    text = _NUMBER.sub("N", text)
    return text[:140]


def _cell(text: str) -> str:
    """Text safe in a Markdown table cell."""
    return text.replace("|", "\\|")


def report(rules: list[Rule], target_keys: list[str], seconds: float) -> str:
    """Markdown: one summary table, then the top failure reasons of each target."""
    lines = [
        f"{len(rules)} rules converted with {len(target_keys)} targets in {seconds:.0f} s (2 processes).",
        "",
        "| target | converted | not convertible | timed out |",
        "|---|---:|---:|---:|",
    ]
    reasons: dict[str, Counter[str]] = {key: Counter() for key in target_keys}
    for key in target_keys:
        statuses = Counter(rule.conversions[key].status for rule in rules)
        for rule in rules:
            conversion = rule.conversions[key]
            if conversion.status != "ok":
                reasons[key][normalise(conversion.error or "")] += 1
        lines.append(f"| {key} | {statuses['ok']} | {statuses['failed']} | {statuses['timeout']} |")
    for key in target_keys:
        if not reasons[key]:
            continue
        lines += ["", f"### {key}", "", "| rules | reason (normalised) |", "|---:|---|"]
        lines += [f"| {count} | {_cell(reason)} |" for reason, count in reasons[key].most_common(TOP)]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    """Load the folder, convert with the default targets, print the report."""
    problems: list[Problem] = []
    rules = load_rules([Path(argv[0])], problems)
    targets = select_targets(None)
    started = time.perf_counter()
    convert_rules(rules, targets, jobs=2)
    seconds = time.perf_counter() - started
    print("# Default targets over", argv[0], "\n")
    print(f"{len(problems)} files could not be loaded as Sigma rules.\n")
    print(report(rules, [target.key for target in targets], seconds))
    print("\nVersions: " + "; ".join(f"{t.key}: {', '.join(f'{n} {v}' for n, v in target_versions(t).items())}" for t in targets))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
