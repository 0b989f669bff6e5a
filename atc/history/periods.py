"""The changes page's periods: the knowledge base at each tag (or at the end of each month) compared with the one
before, as `atc diff` compares two revisions, but without converting: rules added, removed, moved and changed (with
the fields), ATT&CK techniques newly covered or lost, Data Needed items newly needed or no longer needed."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, replace
from pathlib import Path

from atc.history.diff import DiffReport, Rename, RuleRef, link_deltas, pair_rules, rule_change
from atc.history.gitlog import Commit, commits, first_parent_chain
from atc.history.gitrev import GitError, list_blobs
from atc.history.model import Period
from atc.history.revision import Side
from atc.history.versions import RuleVersions
from atc.load.rules import rule_blobs
from atc.model import KnowledgeBase, Rule


@dataclass(frozen=True)
class Span:
    """A period to compare: from start (None: the empty knowledge base before the first commit) to end."""

    anchor: str
    label: str
    start: str | None
    start_label: str
    end: Commit


def _anchor(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "period"


def tag_spans(top: Path, named: dict[str, list[str]], head: str, shallow: set[str], limit: int) -> tuple[list[Span], list[str]]:
    """One span per tag (from the tag before it), and one for what HEAD adds since the last tag; newest first."""
    found = commits(top, [*named, head])
    ordered = sorted((sha for sha in named if sha in found), key=lambda sha: (found[sha].time, named[sha]))
    labels = {sha: ", ".join(named[sha]) for sha in ordered}
    if head not in named:
        ordered.append(head)
        labels[head] = f"Since {labels[ordered[-2]]}" if len(ordered) > 1 else "Unreleased"
    spans: list[Span] = []
    seen: set[str] = set()
    for number, sha in enumerate(ordered):
        start = ordered[number - 1] if number else None
        anchor = "unreleased" if sha == head and sha not in named else _anchor(named[sha][0])
        anchor = anchor if anchor not in seen else f"{anchor}-{sha[:8]}"
        seen.add(anchor)
        spans.append(
            Span(anchor, labels[sha], start, f"{labels[start]} ({start[:12]})" if start else "an empty knowledge base", found[sha])
        )
    limits: list[str] = []
    if shallow and spans and spans[0].start is None:
        spans = spans[1:]
        limits.append(f"{labels[ordered[0]]} is left out: a shallow clone does not hold what came before it")
    return spans[::-1][:limit], limits


def month_spans(top: Path, depth: int, shallow: set[str], limit: int) -> tuple[list[Span], list[str]]:
    """One span per month of HEAD's first-parent chain (by commit time, UTC), newest first."""
    chain = first_parent_chain(top, depth)
    runs: list[list[Commit]] = []
    for commit in chain:
        month = time.strftime("%Y-%m", time.gmtime(commit.time))
        if runs and time.strftime("%Y-%m", time.gmtime(runs[-1][0].time)) == month:
            runs[-1].append(commit)
        else:
            runs.append([commit])
    spans: list[Span] = []
    limits: list[str] = []
    for number, run in enumerate(runs[: limit + 1]):
        month = time.strftime("%Y-%m", time.gmtime(run[0].time))
        if number + 1 < len(runs):
            start: str | None = runs[number + 1][0].sha
        elif len(chain) >= depth:  # the month may begin before the commits read
            limits.append(f"{month} is left out: it reaches beyond the {depth} commits read (history.depth)")
            continue
        elif run[-1].parents:
            start = run[-1].parents[0]
        elif run[-1].sha in shallow:
            limits.append(f"{month} is left out: a shallow clone does not hold the commits before it")
            continue
        else:
            start = None
        spans.append(Span(month, month, start, f"end of the month before ({start[:12]})" if start else "an empty knowledge base", run[0]))
    return spans[:limit], limits


def _state(top: Path, commit: str | None, folders: list[str], skip: list[str]) -> dict[str, str]:
    """The rule files under the folders at a commit (but in skip): path -> blob id (None: nothing)."""
    if commit is None:
        return {}
    return rule_blobs(list_blobs(top, commit, folders), folders, skip)


class Periods:
    """Compares the knowledge base across the spans of the changes page."""

    def __init__(self, top: Path, side: Side, kb: KnowledgeBase, versions: RuleVersions, folders: list[str]) -> None:
        self.top = top
        self.side = side
        self.kb = kb
        self.versions = versions
        self.folders = folders
        self.placed: dict[tuple[str, str], list[Rule]] = {}  # (path, blob id) -> the rules at that path: states share most of them

    def read(self, spans: list[Span], jobs: int) -> tuple[list[Period], list[str]]:
        """One report per span whose commits this clone holds, newest first; what was left out, and why."""
        states: dict[str | None, dict[str, str]] = {}
        limits: list[str] = []
        usable: list[Span] = []
        for span in spans:
            try:
                for commit in (span.start, span.end.sha):
                    if commit not in states:
                        states[commit] = _state(self.top, commit, self.folders, self.side.inside(self.side.settings.not_rules()))
            except GitError:
                limits.append(f"{span.label} is left out: this clone does not hold its commits")
                continue
            usable.append(span)
        self.versions.add({blob: rel for state in states.values() for rel, blob in state.items()}, jobs)
        periods = [
            Period(span.anchor, span.label, span.end, self._report(span, states[span.start], states[span.end.sha])) for span in usable
        ]
        return periods, limits

    def _rules(self, state: dict[str, str]) -> list[Rule]:
        """The rules of a state, each with its path in the repository."""
        rules: list[Rule] = []
        for rel, blob in sorted(state.items()):
            placed = self.placed.get((rel, blob))
            if placed is None:
                placed = self.placed[rel, blob] = [replace(rule, path=self.top / rel) for rule in self.versions.get(blob)]
            rules.extend(placed)
        return rules

    def _report(self, span: Span, before: dict[str, str], after: dict[str, str]) -> DiffReport:
        """What changed from the start of the span to its end (the fields of changed rules; no queries)."""
        side = self.side
        base_rules, head_rules = self._rules(before), self._rules(after)
        pairs, removed, added = pair_rules(side, base_rules, side, head_rules)
        report = DiffReport(span.start_label, f"{span.label} ({span.end.sha[:12]})", [], len(base_rules), len(head_rules))
        report.added = sorted(RuleRef(side.rel(r.path), r.id, r.title) for r in added)
        report.removed = sorted(RuleRef(side.rel(r.path), r.id, r.title) for r in removed)
        report.renamed = sorted(
            Rename(side.rel(old.path), side.rel(new.path), new.id, new.title) for old, new in pairs if old.path != new.path
        )
        changed = sorted(((old, new) for old, new in pairs if old.source_text != new.source_text), key=lambda pair: pair[1].path)
        report.changed = [rule_change(side, old, side, new, []) for old, new in changed]
        link_deltas(report, self.kb.with_rules(base_rules), self.kb.with_rules(head_rules))
        return report
