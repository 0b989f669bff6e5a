"""Load rules through the memo: a file whose bytes (and the loader's code) did not change is not parsed again."""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Iterable

from atc.load.rules import find_files, finish_rules, load_file
from atc.memo import Memo, code_digest
from atc.model import Problem, Rule
from atc.progress import Progress


def loader_digest() -> bytes:
    """A digest of what turns a rule file into a Rule: atc's code and the installed distributions (pySigma's version)."""
    return code_digest()


def rule_digest(code: bytes, path: Path, raw: bytes) -> bytes:
    """The memo digest of one rule file: the loader's code digest, the file's path and its bytes."""
    return hashlib.sha256(code + str(path).encode("utf-8", "surrogateescape") + b"\0" + raw).digest()


def load_rules_remembered(dirs: Iterable[Path], problems: list[Problem], cache_dir: Path, progress: Progress | None = None) -> list[Rule]:
    """Every valid Sigma rule below the folders, as load_rules gives them, parsing only new or changed files."""
    memo = Memo(cache_dir, "rule")
    code = loader_digest()
    rules: list[Rule] = []
    paths = find_files(dirs, problems, "rule")
    if progress:
        progress.expect(len(paths))
    for path in paths:
        try:
            raw = path.read_bytes() if path.is_file() else None  # a FIFO is left to load_file, which reports it unread
        except OSError:
            raw = None
        digest = rule_digest(code, path, raw) if raw is not None else None
        found = memo.get(str(path), digest) if digest else None
        if found is None:
            own: list[Problem] = []
            loaded = load_file(path, own)
            found = (loaded, own)
            if digest and all(rule.source_text == raw.decode("utf-8-sig", "replace") for rule in loaded):
                memo.put(str(path), digest, found)
        loaded, own = found
        problems.extend(own)
        rules.extend(loaded)
        if progress:
            progress.advance()
    memo.close(keep=(str(path) for path in paths))
    finish_rules(rules, problems)
    return rules
