"""The rules no Data Needed item serves, grouped by log source for the gaps page."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from atc.model import RuleSummary


@dataclass(frozen=True)
class GapReason:
    """One reason shared by some rules of a log source, with those rules (sorted by title)."""

    reason: str
    rules: list[RuleSummary]


@dataclass(frozen=True)
class GapGroup:
    """The unserved rules of one log source, split by reason (most frequent first)."""

    logsource: str
    count: int
    reasons: list[GapReason]


def gap_groups(rules: list[RuleSummary]) -> list[GapGroup]:
    """Rules without Data Needed, grouped by log source; largest group first, then by log source name."""
    by_source: dict[str, list[RuleSummary]] = {}
    for rule in rules:
        if not rule.data_needed:
            by_source.setdefault(rule.logsource.describe(), []).append(rule)
    groups = [GapGroup(source, len(members), _reasons(members)) for source, members in by_source.items()]
    return sorted(groups, key=lambda group: (-group.count, group.logsource))


def _reasons(rules: list[RuleSummary]) -> list[GapReason]:
    """The rules split by their gap reason, most frequent reason first."""
    counts = Counter(rule.data_needed_gap or "no Data Needed matched" for rule in rules)
    ordered = sorted(counts, key=lambda reason: (-counts[reason], reason))
    return [
        GapReason(
            reason,
            sorted(
                (r for r in rules if (r.data_needed_gap or "no Data Needed matched") == reason), key=lambda r: (r.title.lower(), r.slug)
            ),
        )
        for reason in ordered
    ]
