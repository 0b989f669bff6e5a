"""Rules at old revisions, by git blob id: the working tree's rules as they are, other blobs parsed once (remembered
across builds) and linked against today's Data Needed, triggers and ATT&CK snapshot."""

from __future__ import annotations

import posixpath
import tempfile
from pathlib import Path

from atc.common.cache import Store, digest, value_digest
from atc.history.gitrev import blob_id, object_format, write_blobs
from atc.link import link
from atc.load.remembered import loader_digest, parse_files
from atc.model import KnowledgeBase, Rule


class RuleVersions:
    """blob id -> the rules that file holds, in document order (none: it does not parse)."""

    def __init__(self, top: Path, kb: KnowledgeBase, cache_dir: Path, committed: dict[Path, str]) -> None:
        """committed: the blob ids of the working tree's rule files git finds unchanged since HEAD (its line-ending and
        clean filters applied: a file checked out with CRLF by .gitattributes has the blob id of its LF text)."""
        self.top = top
        self.kb = kb
        self.rules: dict[str, list[Rule]] = {}
        self.blob_of: dict[Path, str] = {}  # the working tree's rule files: path -> blob id
        algorithm = object_format(top)
        for rule in kb.rules:
            if rule.path not in self.blob_of:
                try:
                    self.blob_of[rule.path] = committed.get(rule.path) or blob_id(rule.path.read_bytes(), algorithm)
                except OSError:
                    continue
                self.rules[self.blob_of[rule.path]] = []
            self.rules[self.blob_of[rule.path]].append(rule)
        self.working = {id(rule) for rules in self.rules.values() for rule in rules}
        self.memo = Store(cache_dir, "history-rule")
        # a revision is remembered parsed and linked: by its blob id, the loader's code and what linking reads
        self.base = digest(loader_digest(), value_digest((kb.data_needed, kb.triggers, kb.attack)))
        self.used: set[str] = set()

    def is_current(self, rule: Rule) -> bool:
        """Whether the rule is the working tree's (already converted), not an old revision."""
        return id(rule) in self.working

    def add(self, blobs: dict[str, str], jobs: int) -> None:
        """Parse and link the blobs (blob id -> a path that held it) not known yet; remembered, linked, in the build's cache."""
        missing = {blob: path for blob, path in blobs.items() if blob not in self.rules}
        if not missing:
            return
        self.used.update(missing)
        digests = {blob: digest(self.base, blob) for blob in missing}
        unparsed: dict[str, str] = {}
        for blob in sorted(missing):
            found = self.memo.get(blob, digests[blob])
            if found is None:
                unparsed[blob] = missing[blob]
            else:
                self.rules[blob] = found[0]
        if not unparsed:
            return
        with tempfile.TemporaryDirectory(prefix="atc-history-") as tmp:
            names = {f"{blob}/{posixpath.basename(path)}": blob for blob, path in unparsed.items()}
            write_blobs(self.top, names, Path(tmp))
            parsed = {
                names[name]: rules
                for name, (rules, _) in zip(sorted(names), parse_files([Path(tmp) / name for name in sorted(names)], jobs))
            }
        link(self.kb.with_rules([rule for rules in parsed.values() for rule in rules]))
        for blob, rules in parsed.items():
            self.rules[blob] = rules
            self.memo.put(blob, digests[blob], (rules,))

    def close(self) -> None:
        """Store what was parsed; forget the revisions this build no longer reached."""
        self.memo.close(keep=self.used)

    def get(self, blob: str | None) -> list[Rule]:
        """The rules a blob holds (none when it does not parse or is unknown)."""
        return self.rules.get(blob, []) if blob else []

    def pick(self, blob: str | None, rule: Rule, position: int) -> Rule | None:
        """The version of a rule (the position-th of its file now) in a blob: the one with its id, else at its position."""
        found = self.get(blob)
        same = [other for other in found if rule.id and other.id == rule.id]
        if same:
            return same[0]
        return found[position] if position < len(found) else None
