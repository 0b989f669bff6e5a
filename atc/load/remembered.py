"""Load rules through the cache: a file whose bytes (and the loader's code) did not change is not parsed again."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from atc.common.cache import Store, code_digest, digest
from atc.common.parallel import ForkedMap
from atc.common.progress import Progress
from atc.load.rules import find_files, finish_rules, load_file
from atc.model import Problem, Rule


def loader_digest() -> bytes:
    """A digest of what turns a rule file into a Rule: atc's code and the installed distributions (pySigma's version)."""
    return code_digest()


def rule_digest(code: bytes, path: Path, raw: bytes) -> bytes:
    """The memo digest of one rule file: the loader's code digest, the file's path and its bytes."""
    return digest(code, str(path).encode("utf-8", "surrogateescape"), raw)


def _load(path: Path) -> tuple[list[Rule], list[Problem]]:
    """One rule file parsed (every document a rule), with its own problems (a worker task)."""
    own: list[Problem] = []
    return load_file(path, own), own


def load_rules_remembered(
    dirs: Iterable[Path], problems: list[Problem], cache_dir: Path, progress: Progress | None = None, jobs: int = 1
) -> list[Rule]:
    """Every valid Sigma rule below the folders, as load_rules gives them, parsing only new or changed files (in `jobs` processes)."""
    memo = Store(cache_dir, "rule")
    code = loader_digest()
    paths = find_files(dirs, problems, "rule")
    if progress:
        progress.expect(len(paths))
    found: list[tuple[list[Rule], list[Problem]] | None] = []
    raws: list[bytes | None] = []
    for path in paths:
        try:
            raw = path.read_bytes() if path.is_file() else None  # a FIFO is left to load_file, which reports it unread
        except OSError:
            raw = None
        raws.append(raw)
        found.append(memo.get(str(path), rule_digest(code, path, raw)) if raw is not None else None)
    missing = [number for number, item in enumerate(found) if item is None]
    for number, parsed in zip(missing, ForkedMap(_load, [paths[number] for number in missing], jobs).results()):
        found[number] = parsed
        loaded, raw = parsed[0], raws[number]
        if raw is not None and all(rule.source_text == raw.decode("utf-8-sig", "replace") for rule in loaded):
            memo.put(str(paths[number]), rule_digest(code, paths[number], raw), parsed)
    rules: list[Rule] = []
    for item in found:
        assert item is not None
        loaded, own = item
        problems.extend(own)
        rules.extend(loaded)
    if progress:
        progress.advance(len(paths))
    memo.close(keep=(str(path) for path in paths))
    finish_rules(rules, problems)
    return rules
