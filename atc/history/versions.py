"""Rules at old revisions, by git blob id: the working tree's rules as they are, other blobs parsed once (remembered
across builds) and linked against today's Data Needed, triggers and ATT&CK snapshot."""
from __future__ import annotations

import hashlib
import posixpath
import tempfile
from pathlib import Path

from atc.gitrev import blob_id, write_blobs
from atc.link import link
from atc.load.remembered import loader_digest
from atc.memo import Memo
from atc.model import KnowledgeBase, Rule
from atc.revision import _parse as parse_files


class RuleVersions:
    """blob id -> the rule that file holds (None: it does not parse)."""

    def __init__(self, top: Path, kb: KnowledgeBase, cache_dir: Path) -> None:
        self.top = top
        self.kb = kb
        self.rules: dict[str, Rule | None] = {}
        self.blob_of: dict[Path, str] = {}  # the working tree's rule files: path -> blob id
        for rule in kb.rules:
            try:
                self.blob_of[rule.path] = blob_id(rule.path.read_bytes())
            except OSError:
                continue
            self.rules[self.blob_of[rule.path]] = rule
        self.working = {id(rule) for rule in self.rules.values()}
        self.memo = Memo(cache_dir, "history-rule")
        self.used: set[str] = set()

    def is_current(self, rule: Rule) -> bool:
        """Whether the rule is the working tree's (already converted), not an old revision."""
        return id(rule) in self.working

    def add(self, blobs: dict[str, str], jobs: int) -> None:
        """Parse and link the blobs (blob id -> a path that held it) not known yet; remembered by blob id in the build's cache."""
        missing = {blob: path for blob, path in blobs.items() if blob not in self.rules}
        if not missing:
            return
        memo = self.memo
        self.used.update(missing)
        code = loader_digest()
        digests = {blob: hashlib.sha256(code + blob.encode()).digest() for blob in missing}
        fresh: list[Rule] = []
        unparsed: dict[str, str] = {}
        for blob in sorted(missing):
            found = memo.get(blob, digests[blob])
            if found is None:
                unparsed[blob] = missing[blob]
            else:
                self.rules[blob] = found[0]
                if found[0] is not None:
                    fresh.append(found[0])
        if unparsed:
            with tempfile.TemporaryDirectory(prefix="atc-history-") as tmp:
                names = {f"{blob}/{posixpath.basename(path)}": blob for blob, path in unparsed.items()}
                write_blobs(self.top, names, Path(tmp))
                paths = [Path(tmp) / name for name in sorted(names)]
                for name, (rule, _) in zip(sorted(names), parse_files(paths, jobs)):
                    blob = names[name]
                    self.rules[blob] = rule
                    memo.put(blob, digests[blob], (rule,))
                    if rule is not None:
                        fresh.append(rule)
        for rule in fresh:  # links and conversions depend on today's settings: never remembered with the parse
            rule.conversions = {}
        link(KnowledgeBase(fresh, self.kb.data_needed, self.kb.logging_policies, self.kb.triggers, self.kb.attack, []))

    def close(self) -> None:
        """Store what was parsed; forget the revisions this build no longer reached."""
        self.memo.close(keep=self.used)

    def get(self, blob: str | None) -> Rule | None:
        """The rule a blob holds (None when it does not parse or is unknown)."""
        return self.rules.get(blob) if blob else None
