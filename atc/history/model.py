"""What the history stage hands to the renderer: each rule's history and dates, and the knowledge base's changes per period."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from atc.convert.runner import ConvertStats
from atc.history.diff import DiffReport, FieldChange, QueryDiff
from atc.history.gitlog import Commit

EntryKind = Literal["created", "changed", "moved", "earliest"]  # earliest: the oldest commit a shallow clone has


@dataclass(frozen=True)
class HistoryEntry:
    """One commit that touched a rule: what it did to the file, the metadata and the queries."""

    commit: Commit
    url: str | None  # the commit's web page
    kind: EntryKind
    path: str  # the file's path after the commit, relative to the repository top
    old_path: str | None  # before a move
    fields: tuple[FieldChange, ...] = ()
    queries: tuple[QueryDiff, ...] | None = None  # None: older than history.revisions, not converted
    note: str | None = None  # e.g. a revision pySigma could not read


@dataclass(frozen=True)
class RuleHistory:
    """The commits that touched one rule, newest first."""

    entries: tuple[HistoryEntry, ...]
    complete: bool  # the oldest entry is the rule's creation
    committed: bool  # the file is in HEAD
    uncommitted: bool  # the working tree differs from HEAD


@dataclass(frozen=True)
class RuleDates:
    """rules.json's history fields of a rule."""

    first_commit: str  # ISO 8601
    last_commit: str
    revisions: int  # commits that touched it, within history.depth


@dataclass(frozen=True)
class Period:
    """The knowledge base's changes between two tags (or over one month)."""

    anchor: str  # a stable id: the page's anchor and the feed entry's id
    label: str
    end: Commit  # the tag's commit, or the month's last commit
    report: DiffReport


@dataclass
class KbHistory:
    """Everything the history stage found."""

    rules: dict[str, RuleHistory]  # by rule slug
    dates: dict[str, RuleDates]  # by rule slug
    periods: list[Period]
    grouping: Literal["tag", "month"]
    limits: list[str] = field(default_factory=list)  # what the history leaves out and why (shallow clone, depth)
    convert_stats: ConvertStats = field(default_factory=ConvertStats)  # conversions of old revisions
