"""Load rules through the cache: a file whose bytes (and the loader's code) did not change is not parsed again."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from pathlib import Path

from atc.common.cache import Store, code_digest, digest
from atc.common.parallel import ForkedMap
from atc.common.progress import Progress
from atc.load.knowledge_base import Loading
from atc.load.rules import find_files, finish_rules, load_file, load_rules
from atc.model import Problem, Rule


def loader_digest() -> bytes:
    """A digest of what turns a rule file into a Rule: atc's code and the installed distributions (pySigma's version)."""
    return code_digest()


def rule_digest(code: bytes, path: Path, raw: bytes) -> bytes:
    """The memo digest of one rule file: the loader's code digest, the file's path and its bytes."""
    return digest(code, str(path).encode("utf-8", "surrogateescape"), raw)


Loaded = tuple[list[Rule], list[Problem]]  # the rules of one file, its problems


def _load(path: Path) -> Loaded:
    """One rule file parsed (every document a rule), with its own problems (a worker task)."""
    own: list[Problem] = []
    return load_file(path, own), own


def parse_files(paths: list[Path], jobs: int) -> list[Loaded]:
    """Rule files parsed, each with its own problems, in forked workers when there are many."""
    return ForkedMap(_load, paths, jobs).results()


def parse_remembered(paths: list[Path], cache_dir: Path, jobs: int, prune: bool = False) -> list[Loaded]:
    """Rule files parsed, those the memo has seen with these bytes (and this loader) taken from it.

    prune: the memo forgets every file but these (the build's whole rule set); a partial read leaves it as it is.
    """
    memo = Store(cache_dir, "rule")
    code = loader_digest()
    found: list[Loaded | None] = []
    raws: list[bytes | None] = []
    for path in paths:
        try:
            raw = path.read_bytes() if path.is_file() else None  # a FIFO is left to load_file, which reports it unread
        except OSError:
            raw = None
        raws.append(raw)
        found.append(memo.get(str(path), rule_digest(code, path, raw)) if raw is not None else None)
    missing = [number for number, item in enumerate(found) if item is None]
    for number, parsed in zip(missing, parse_files([paths[number] for number in missing], jobs)):
        found[number] = parsed
        loaded, raw = parsed[0], raws[number]
        if raw is not None and all(rule.source_text == raw.decode("utf-8-sig", "replace") for rule in loaded):
            memo.put(str(paths[number]), rule_digest(code, paths[number], raw), parsed)
    memo.close(keep=(str(path) for path in paths) if prune else None)
    return [item for item in found if item is not None]


def load_rules_remembered(
    dirs: Iterable[Path],
    problems: list[Problem],
    cache_dir: Path,
    progress: Progress | None = None,
    jobs: int = 1,
    skip: Collection[Path] = (),
) -> list[Rule]:
    """Every valid Sigma rule below the folders, as load_rules gives them, parsing only new or changed files (in `jobs` processes)."""
    paths = find_files(dirs, problems, "rule", skip)
    if progress:
        progress.expect(len(paths))
    rules: list[Rule] = []
    for loaded, own in parse_remembered(paths, cache_dir, jobs, prune=True):
        problems.extend(own)
        rules.extend(loaded)
    if progress:
        progress.advance(len(paths))
    finish_rules(rules, problems)
    return rules


def load_rule_kind(dirs: Iterable[Path], problems: list[Problem], loading: Loading) -> list[Rule]:
    """The rule kind's loader: through the memo when the build keeps a cache, else every file parsed."""
    if loading.cache_dir is None:
        return load_rules(dirs, problems, loading.not_rules)
    return load_rules_remembered(dirs, problems, loading.cache_dir, loading.progress, loading.jobs, loading.not_rules)
