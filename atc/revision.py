"""The knowledge base at a git revision or in the working tree, loaded side by side without checking anything out.

A revision's input folders are written into a temporary folder (one `git cat-file --batch`); its settings come
from its own atc.yml when it has one, else the defaults, with paths relative to the repository's top. Rule files
with the same text on both sides are parsed once and shared, so two sides cost little more than one.
"""
from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

from atc.config import ConfigError, Settings, default_settings, load_config_file
from atc.gitrev import extract, resolve
from atc.link import link
from atc.load.attack import load_snapshot
from atc.load.data_needed import load_data_needed
from atc.load.logging_policies import load_logging_policies
from atc.load.rules import find_files, finish_rules, load_rule
from atc.load.triggers import load_triggers
from atc.model import KnowledgeBase, Problem, Rule

INPUTS = ("rules", "data_needed", "logging_policies", "triggers")
_PARALLEL_FROM = 200  # rule files; fewer are parsed in this process


@dataclass(frozen=True)
class Side:
    """One side of a comparison: where its files are on disk and the settings that read them."""

    label: str  # "working tree" or "origin/main (1a2b3c4d5e6f)"
    root: Path  # the repository top, or the temporary folder holding the revision's files
    settings: Settings

    def rel(self, path: Path | str) -> str:
        """A path as the repository names it (relative to the top); paths outside the repository stay absolute."""
        text = os.path.normpath(str(path))
        root = str(self.root)
        return Path(os.path.relpath(text, root)).as_posix() if text == root or text.startswith(root + os.sep) else text


def _settings(root: Path, config_rel: str | None) -> Settings:
    config = root / config_rel if config_rel else None
    return load_config_file(config) if config is not None and config.is_file() else default_settings(root)


def _outside_to_top(settings: Settings, root: Path, top: Path) -> Settings:
    """Input paths that leave the revision's folder point at the same place beside the working tree (not versioned)."""
    changes: dict[str, object] = {}
    for name in (*INPUTS, "attack_snapshot"):
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
    """The knowledge base's files at a revision, written under dest."""
    commit = resolve(top, rev)
    root = dest.resolve()
    root.mkdir(parents=True, exist_ok=True)
    if config:
        extract(top, commit, [config], root)
    settings = _outside_to_top(_settings(root, config), root, top)
    wanted = [getattr(settings, name) for name in INPUTS]
    paths = [p for group in wanted for p in group] + ([settings.attack_snapshot] if settings.attack_snapshot else [])
    inside = sorted({Path(os.path.relpath(p, root)).as_posix() for p in paths if p.is_relative_to(root)})
    extract(top, commit, inside, root)
    return Side(f"{rev} ({commit[:12]})", root, settings)


def _load_one(path: Path) -> tuple[Rule | None, list[Problem]]:
    problems: list[Problem] = []
    return load_rule(path, problems), problems


def _load_all(paths: list[Path], jobs: int) -> list[tuple[Rule | None, list[Problem]]]:
    """Parse rule files, in forked processes when there are many."""
    if jobs <= 1 or len(paths) < _PARALLEL_FROM:
        return [_load_one(path) for path in paths]
    with ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("fork")) as pool:
        return list(pool.map(_load_one, paths, chunksize=max(1, len(paths) // (jobs * 4))))


def _moved(problem: Problem, source: Side, target: Side) -> Problem:
    """A problem found in one side's copy of a file, as the other side's copy would report it."""
    return replace(problem, path=str(target.root / source.rel(problem.path)), message=problem.message.replace(str(source.root), str(target.root)))


def load_pair(base: Side, head: Side, jobs: int) -> tuple[KnowledgeBase, KnowledgeBase]:
    """Both sides' knowledge bases, linked (not converted); rule files with the same text are parsed once."""
    base_problems: list[Problem] = []
    head_problems: list[Problem] = []
    base_files = {base.rel(p): p for p in find_files(base.settings.rules, base_problems, "rule")}
    head_files = {head.rel(p): p for p in find_files(head.settings.rules, head_problems, "rule")}
    same = {rel for rel in base_files.keys() & head_files.keys() if _same_bytes(base_files[rel], head_files[rel])}
    to_load = [head_files[rel] for rel in sorted(head_files)] + [base_files[rel] for rel in sorted(base_files.keys() - same)]
    loaded = dict(zip(to_load, _load_all(to_load, jobs)))  # the sides' roots differ, so paths are distinct
    base_rules: list[Rule] = []
    head_rules: list[Rule] = []
    for rel in sorted(head_files):
        rule, problems = loaded[head_files[rel]]
        head_problems.extend(problems)
        if rule is not None:
            head_rules.append(rule)
    for rel in sorted(base_files):
        if rel in same:
            rule, problems = loaded[head_files[rel]]
            base_problems.extend(_moved(problem, head, base) for problem in problems)
            if rule is not None:
                base_rules.append(replace(rule, path=base_files[rel]))
        else:
            rule, problems = loaded[base_files[rel]]
            base_problems.extend(problems)
            if rule is not None:
                base_rules.append(rule)
    return _linked(base, base_rules, base_problems), _linked(head, head_rules, head_problems)


def _same_bytes(first: Path, second: Path) -> bool:
    try:
        return first.read_bytes() == second.read_bytes()
    except OSError:
        return False


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

