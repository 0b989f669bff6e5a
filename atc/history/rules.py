"""Each rule's history from one `git log --raw` pass: the commits that touched its file (following moves, newest
first), what each changed in its metadata and, for the newest ones, a diff of every query that changed."""

from __future__ import annotations

import os
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

from atc.convert.cache import ConversionCache
from atc.convert.runner import ConvertStats, convert_rules
from atc.convert.targets import Target
from atc.history.diff import rule_change
from atc.history.gitlog import Commit, FileChange
from atc.history.model import EntryKind, HistoryEntry, RuleDates, RuleHistory
from atc.history.revision import Side
from atc.history.versions import RuleVersions
from atc.model import Rule
from atc.settings import Settings

Touch = tuple[Commit, FileChange]


def repository_paths(rules: list[Rule], top: Path) -> dict[str, str]:
    """Each rule file's path as git names it (its folder resolved, the file itself not: git tracks a link), by slug; rules outside the repository left out."""
    folders: dict[Path, str] = {}
    prefix = str(top) + os.sep
    found: dict[str, str] = {}
    for rule in rules:
        folder = folders.get(rule.path.parent)
        if folder is None:
            folder = folders[rule.path.parent] = os.path.realpath(rule.path.parent) + os.sep
        if folder.startswith(prefix):
            found[rule.slug] = (folder[len(prefix) :] + rule.path.name).replace(os.sep, "/")
    return found


def touches(log: list[tuple[Commit, list[FileChange]]], paths: dict[str, str]) -> dict[str, list[Touch]]:
    """The commits that touched each file (path -> key), newest first, following moves back to the file's creation."""
    tracked = dict(paths)  # the file's path at this point of the walk -> key
    found: dict[str, list[Touch]] = defaultdict(list)
    for commit, changes in log:
        moves: list[tuple[str, str | None, str]] = []
        for change in changes:
            key = tracked.get(change.path) if change.path else None
            if key is None:
                continue
            found[key].append((commit, change))
            if change.status in ("R", "A"):
                moves.append((change.path or "", change.old_path if change.status == "R" else None, key))
        for new, _, _ in moves:  # every move of a commit at once: two files may swap names
            tracked.pop(new, None)
        for _, old, key in moves:
            if old is not None:
                tracked[old] = key
    return found


def _kind(commit: Commit, change: FileChange, shallow: set[str]) -> EntryKind:
    if change.status == "A":
        return "earliest" if commit.sha in shallow and not commit.parents else "created"
    return "moved" if change.status == "R" else "changed"


class RuleHistories:
    """Builds every rule's history from the log, converting old revisions with today's targets through the cache."""

    def __init__(self, top: Path, settings: Settings, versions: RuleVersions, targets: list[Target], commit_url: str | None) -> None:
        self.top = top
        self.side = Side("", top, settings)
        self.versions = versions
        self.targets = targets
        self.revisions = settings.history.revisions
        self.commit_url = commit_url
        self.stats = ConvertStats()  # conversions of old revisions
        self.position: dict[int, int] = {}  # id of a working-tree rule -> its position among its file's rules

    def read(
        self,
        rules: list[Rule],
        log: list[tuple[Commit, list[FileChange]]],
        shallow: set[str],
        head: dict[str, str],
        jobs: int,
        cache: ConversionCache,
    ) -> tuple[dict[str, RuleHistory], dict[str, RuleDates]]:
        """Histories and rules.json dates by rule slug; head: HEAD's rule files (path -> blob id)."""
        rels = repository_paths(rules, self.top)
        found = touches(log, {rel: rel for rel in rels.values()})  # by file: a file may hold several rules
        self.versions.add(
            {
                blob: path
                for items in found.values()
                for _, c in items
                for blob, path in ((c.old_blob, c.old_path), (c.blob, c.path))
                if blob and path
            },
            jobs,
        )
        positions: dict[str, int] = {}
        for rule in rules:  # each rule's position among its file's rules
            if rule.slug in rels:
                self.position[id(rule)] = positions.get(rels[rule.slug], 0)
                positions[rels[rule.slug]] = self.position[id(rule)] + 1
        self._convert(rules, rels, found, jobs, cache)
        histories: dict[str, RuleHistory] = {}
        dates: dict[str, RuleDates] = {}
        for rule in rules:
            rel = rels.get(rule.slug)
            if rel is None:
                continue
            items = found.get(rel, [])
            entries = tuple(
                self._entry(rule, commit, change, shallow, number < self.revisions) for number, (commit, change) in enumerate(items)
            )
            histories[rule.slug] = RuleHistory(
                entries,
                complete=bool(entries) and entries[-1].kind == "created",
                committed=rel in head,
                uncommitted=rel in head and head[rel] != self.versions.blob_of.get(rule.path),
            )
            if entries:
                dates[rule.slug] = RuleDates(entries[-1].commit.iso, entries[0].commit.iso, len(entries))
        return histories, dates

    def _convert(self, rules: list[Rule], rels: dict[str, str], found: dict[str, list[Touch]], jobs: int, cache: ConversionCache) -> None:
        """Convert the old revisions of the newest history.revisions changes of each rule (the working tree's rules already are)."""
        wanted: dict[int, Rule] = {}
        for rule in rules:
            for _, change in found.get(rels.get(rule.slug, ""), [])[: self.revisions]:
                for blob in (change.old_blob, change.blob):
                    version = self.versions.pick(blob, rule, self.position[id(rule)])
                    if version is not None and not self.versions.is_current(version) and not version.conversions:
                        wanted[id(version)] = version
        if wanted and self.targets:
            self.stats = convert_rules(list(wanted.values()), self.targets, jobs, cache=cache)

    def _entry(self, rule: Rule, commit: Commit, change: FileChange, shallow: set[str], with_queries: bool) -> HistoryEntry:
        """One commit's effect on a rule (one of the working tree's)."""
        kind = _kind(commit, change, shallow)
        url = self.commit_url.replace("{sha}", commit.sha) if self.commit_url else None
        path = change.path or ""
        entry = HistoryEntry(commit, url, kind, path, change.old_path if kind == "moved" else None)
        position = self.position[id(rule)]
        if kind in ("created", "earliest"):
            return (
                entry
                if self.versions.pick(change.blob, rule, position)
                else replace(entry, note="atc cannot read the rule at this revision")
            )
        old, new = self.versions.pick(change.old_blob, rule, position), self.versions.pick(change.blob, rule, position)
        if old is None or new is None:
            side = "before" if old is None else "after"
            return replace(entry, note=f"atc cannot read the rule {side} this commit, so its changes are not compared")
        old = replace(old, path=self.top / (change.old_path or path))
        new = replace(new, path=self.top / path)
        compared = rule_change(self.side, old, self.side, new, self.targets if with_queries else [])
        return replace(entry, fields=tuple(compared.fields), queries=tuple(compared.queries) if with_queries else None)
