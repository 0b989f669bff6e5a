"""The knowledge base at a git revision or in the working tree, loaded side by side without checking anything out.

A revision's settings come from its own atc.yml when it has one, else the defaults, with paths relative to the
repository's top. Its Data Needed, logging policies and triggers are written into a temporary folder (one
`git cat-file --batch`); of its rules, only the files that differ from the other side are written and parsed.
Rule files with the same bytes on both sides are parsed once (or taken from the build's memo) and shared.
"""

from __future__ import annotations

import multiprocessing
import os
import posixpath
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

from atc.common.cache import Store
from atc.history.gitrev import changed_paths, extract, list_blobs, resolve, write_blobs
from atc.link import link
from atc.load.attack import load_snapshot
from atc.load.data_needed import load_data_needed
from atc.load.logging_policies import load_logging_policies
from atc.load.remembered import loader_digest, rule_digest
from atc.load.rules import RULE_SUFFIXES, find_files, finish_rules, load_file
from atc.load.triggers import load_triggers
from atc.model import KnowledgeBase, Problem, Rule
from atc.settings import ConfigError, Settings, default_settings, load_config_file

OTHER_INPUTS = ("data_needed", "logging_policies", "triggers")
_PARALLEL_FROM = 200  # rule files; fewer are parsed in this process
Loaded = tuple[list[Rule], list[Problem]]  # the rules of one file, its problems


@dataclass(frozen=True)
class Side:
    """One side of a comparison: where its files are on disk, the settings that read them, and its commit (None: the working tree)."""

    label: str  # "working tree" or "origin/main (1a2b3c4d5e6f)"
    root: Path  # the repository top, or the temporary folder holding the revision's files
    settings: Settings
    commit: str | None = None

    def rel(self, path: Path | str) -> str:
        """A path as the repository names it (relative to the top); paths outside the repository stay absolute."""
        text = os.path.normpath(str(path))
        prefix = str(self.root) + os.sep
        if text == str(self.root):
            return "."
        return text[len(prefix) :].replace(os.sep, "/") if text.startswith(prefix) else text

    def inside(self, paths: tuple[Path, ...]) -> list[str]:
        """The repository paths (relative to the top) of those of the paths that lie inside the repository."""
        return sorted({self.rel(p) for p in paths if Path(os.path.normpath(p)).is_relative_to(self.root)})


def _settings(root: Path, config_rel: str | None) -> Settings:
    config = root / config_rel if config_rel else None
    return load_config_file(config) if config is not None and config.is_file() else default_settings(root)


def _outside_to_top(settings: Settings, root: Path, top: Path) -> Settings:
    """Input paths that leave the revision's folder point at the same place beside the working tree (not versioned)."""
    changes: dict[str, object] = {}
    for name in ("rules", *OTHER_INPUTS, "attack_snapshot"):
        value = getattr(settings, name)
        if value is None:
            continue
        paths = [Path(os.path.normpath(p)) for p in (value if isinstance(value, tuple) else (value,))]
        moved = [p if p.is_relative_to(root) else Path(os.path.normpath(top / os.path.relpath(p, root))) for p in paths]
        changes[name] = tuple(moved) if isinstance(value, tuple) else moved[0]
    return replace(settings, **changes)


def config_rel(config: Path | None, top: Path) -> str | None:
    """The atc.yml's path relative to the repository top (None: no atc.yml, the defaults apply)."""
    if config is None:
        return None
    resolved = config.resolve()
    if not resolved.is_relative_to(top):
        raise ConfigError(f"{config}: the configuration must be inside the repository ({top}) to be read at a revision")
    return resolved.relative_to(top).as_posix()


def working_tree(top: Path, config: str | None) -> Side:
    """The working tree as it is on disk."""
    return Side("working tree", top, _settings(top, config))


def at_revision(top: Path, rev: str, dest: Path, config: str | None) -> Side:
    """A revision's settings, with its Data Needed, logging policies, triggers and ATT&CK snapshot written under dest (not its rules)."""
    commit = resolve(top, rev)
    root = dest.resolve()
    root.mkdir(parents=True, exist_ok=True)
    if config:
        extract(top, commit, [config], root)
    settings = _outside_to_top(_settings(root, config), root, top)
    side = Side(f"{rev} ({commit[:12]})", root, settings, commit)
    if not all(Path(os.path.normpath(p)).is_relative_to(root) for p in settings.rules):
        raise ConfigError(f"{rev}: every rule folder must be inside the repository to be compared across revisions")
    others = [p for name in OTHER_INPUTS for p in getattr(settings, name)] + (
        [settings.attack_snapshot] if settings.attack_snapshot else []
    )
    extract(top, commit, side.inside(tuple(others)), root)
    return side


def _rule_blobs(top: Path, side: Side) -> dict[str, str]:
    """A revision's rule files (repository path -> blob id) below its rule folders."""
    blobs = list_blobs(top, side.commit or "", side.inside(side.settings.rules))
    return {rel: blob for rel, blob in blobs.items() if posixpath.splitext(rel)[1] in RULE_SUFFIXES}


def _load_one(path: Path) -> Loaded:
    problems: list[Problem] = []
    return load_file(path, problems), problems


def _parse(paths: list[Path], jobs: int) -> list[Loaded]:
    """Parse rule files, in forked processes when there are many."""
    if jobs <= 1 or len(paths) < _PARALLEL_FROM:
        return [_load_one(path) for path in paths]
    with ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("fork")) as pool:
        return list(pool.map(_load_one, paths, chunksize=max(1, len(paths) // (jobs * 4))))


def _load_working_tree(paths: list[Path], cache_dir: Path, jobs: int) -> dict[Path, Loaded]:
    """Working-tree rule files through the build's memo: only files it has not seen with these bytes are parsed."""
    memo = Store(cache_dir, "rule")
    code = loader_digest()
    loaded: dict[Path, Loaded] = {}
    digests: dict[Path, bytes] = {}
    raws: dict[Path, bytes] = {}
    for path in paths:
        try:
            raws[path] = path.read_bytes()
        except OSError:
            continue
        digests[path] = rule_digest(code, path, raws[path])
        found = memo.get(str(path), digests[path])
        if found is not None:
            loaded[path] = found
    missing = [path for path in paths if path not in loaded]
    for path, found in zip(missing, _parse(missing, jobs)):
        loaded[path] = found
        if path in digests and all(rule.source_text == raws[path].decode("utf-8-sig", "replace") for rule in found[0]):
            memo.put(str(path), digests[path], found)
    memo.close()
    return loaded


def _moved(problem: Problem, source: Side, target: Side) -> Problem:
    """A problem found in one side's copy of a file, as the other side's copy would report it."""
    return replace(
        problem, path=str(target.root / source.rel(problem.path)), message=problem.message.replace(str(source.root), str(target.root))
    )


def load_pair(top: Path, base: Side, head: Side, jobs: int) -> tuple[KnowledgeBase, KnowledgeBase]:
    """Both sides' knowledge bases, linked (not converted); base must be a revision."""
    base_problems: list[Problem] = []
    head_problems: list[Problem] = []
    base_blobs = _rule_blobs(top, base)
    if head.commit is None:
        head_files = {head.rel(p): p for p in find_files(head.settings.rules, head_problems, "rule")}
        differ = changed_paths(
            top, base.commit or "", sorted(set(base.inside(base.settings.rules)) | set(head.inside(head.settings.rules)))
        )
        same = (base_blobs.keys() & head_files.keys()) - differ
        loaded = _load_working_tree(sorted(head_files.values()), head.settings.cache_dir, jobs)
    else:
        head_blobs = _rule_blobs(top, head)
        write_blobs(top, head_blobs, head.root)
        head_files = {rel: head.root / rel for rel in head_blobs}
        same = {rel for rel in base_blobs.keys() & head_blobs.keys() if base_blobs[rel] == head_blobs[rel]}
        loaded = dict(zip(head_files.values(), _parse(list(head_files.values()), jobs)))
    own = {rel: blob for rel, blob in base_blobs.items() if rel not in same}
    write_blobs(top, own, base.root)
    base_paths = [base.root / rel for rel in sorted(own)]
    loaded.update(zip(base_paths, _parse(base_paths, jobs)))
    base_rules: list[Rule] = []
    head_rules: list[Rule] = []
    for rel in sorted(head_files):
        rules, problems = loaded[head_files[rel]]
        head_problems.extend(problems)
        head_rules.extend(rules)
    for rel in sorted(base_blobs):
        path = base.root / rel
        if rel in same:
            rules, problems = loaded[head_files[rel]]
            base_problems.extend(_moved(problem, head, base) for problem in problems)
            rules = [replace(rule, path=path) for rule in rules]
        else:
            rules, problems = loaded[path]
            base_problems.extend(problems)
        base_rules.extend(rules)
    return _linked(base, base_rules, base_problems), _linked(head, head_rules, head_problems)


def _linked(side: Side, rules: list[Rule], problems: list[Problem]) -> KnowledgeBase:
    """A side's whole knowledge base from its already parsed rules, linked."""
    settings = side.settings
    rules.sort(key=lambda rule: rule.path)
    finish_rules(rules, problems)
    policies = load_logging_policies(list(settings.logging_policies), problems)
    data_needed = load_data_needed(list(settings.data_needed), problems, policies)
    triggers = load_triggers(list(settings.triggers), problems)
    kb = KnowledgeBase(rules, data_needed, policies, triggers, load_snapshot(settings.attack_snapshot), problems)
    link(kb)
    return kb
