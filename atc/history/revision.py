"""The knowledge base at a git revision or in the working tree, loaded side by side without checking anything out.

A revision's settings come from its own atc.yml when it has one, else the defaults, with paths relative to the
repository's top. Its Data Needed, logging policies and triggers are written into a temporary folder (one
`git cat-file --batch`); of its rules, only the files that differ from the other side are written and parsed.
Rule files with the same bytes on both sides are parsed once (or taken from the build's memo) and shared.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

from atc.history.gitrev import changed_paths, extract, list_blobs, resolve, tree_path, write_blobs
from atc.kinds import folder_kinds
from atc.link import link
from atc.load.knowledge_base import load_knowledge_base
from atc.load.remembered import parse_files, parse_remembered
from atc.load.rules import find_files, finish_rules, rule_blobs
from atc.model import KnowledgeBase, Problem, Rule
from atc.settings import ConfigError, Settings, default_settings, load_config_file


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

    def moved(path: Path) -> Path:
        path = Path(os.path.normpath(path))
        return path if path.is_relative_to(root) else Path(os.path.normpath(top / os.path.relpath(path, root)))

    for key in _folder_keys():
        settings = settings.with_folders(key, tuple(moved(path) for path in settings.folders(key)))
    return settings if settings.attack_snapshot is None else replace(settings, attack_snapshot=moved(settings.attack_snapshot))


def _folder_keys(rules: bool = True) -> list[str]:
    """The settings keys of the kinds read from folders (with or without the rules')."""
    return [key for key, kind in folder_kinds().items() if rules or kind.name != "rule"]


def config_rel(config: Path | None, top: Path) -> str | None:
    """The atc.yml's path relative to the repository top (None: no atc.yml, the defaults apply)."""
    if config is None:
        return None
    resolved = config.resolve()
    if not resolved.is_relative_to(top):
        raise ConfigError(f"{config}: the configuration must be inside the repository ({top}) to be read at a revision")
    return resolved.relative_to(top).as_posix()


def real_folders(settings: Settings) -> Settings:
    """The settings with every kind's folders' symbolic links resolved (git knows a linked folder by its target's path)."""
    for key in _folder_keys():
        settings = settings.with_folders(key, tuple(Path(os.path.realpath(path)) for path in settings.folders(key)))
    return settings


def working_tree(top: Path, config: str | None) -> Side:
    """The working tree as it is on disk (linked folders by their targets)."""
    return Side("working tree", top, real_folders(_settings(top, config)))


def _tree_folders(top: Path, commit: str, settings: Settings, root: Path) -> Settings:
    """The settings with the symbolic links of the commit's tree followed in every kind's folders under root."""
    for key in _folder_keys():
        paths = [Path(os.path.normpath(path)) for path in settings.folders(key)]
        followed = [
            root / tree_path(top, commit, path.relative_to(root).as_posix()) if path.is_relative_to(root) else path for path in paths
        ]
        settings = settings.with_folders(key, tuple(Path(os.path.normpath(path)) for path in followed))
    return settings


def at_revision(top: Path, rev: str, dest: Path, config: str | None) -> Side:
    """A revision's settings, with its Data Needed, logging policies, triggers and ATT&CK snapshot written under dest (not its rules)."""
    commit = resolve(top, rev)
    root = dest.resolve()
    root.mkdir(parents=True, exist_ok=True)
    if config:
        extract(top, commit, [config], root)
    try:
        settings = _settings(root, config)
    except ConfigError as exc:  # named as git names the file at the revision, not by the temporary copy's path
        raise ConfigError(str(exc).replace(f"{root}{os.sep}", f"{rev}:")) from exc
    settings = _outside_to_top(_tree_folders(top, commit, settings, root), root, top)
    side = Side(f"{rev} ({commit[:12]})", root, settings, commit)
    if not all(Path(os.path.normpath(p)).is_relative_to(root) for p in settings.rules):
        raise ConfigError(f"{rev}: every rule folder must be inside the repository to be compared across revisions")
    others = [p for key in _folder_keys(rules=False) for p in settings.folders(key)] + (
        [settings.attack_snapshot] if settings.attack_snapshot else []
    )
    pipelines = [settings.base_dir / spec for entry in settings.target_entries for spec in entry.pipelines]  # the team's files
    extract(top, commit, side.inside(tuple(others + pipelines)), root)
    return side


def _rule_blobs(top: Path, side: Side) -> dict[str, str]:
    """A revision's rule files (repository path -> blob id) below its rule folders."""
    folders = side.inside(side.settings.rules)
    return rule_blobs(list_blobs(top, side.commit or "", folders), folders, side.inside(side.settings.not_rules()))


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
        head_files = {head.rel(p): p for p in find_files(head.settings.rules, head_problems, "rule", head.settings.not_rules())}
        differ = changed_paths(
            top, base.commit or "", sorted(set(base.inside(base.settings.rules)) | set(head.inside(head.settings.rules)))
        )
        same = (base_blobs.keys() & head_files.keys()) - differ
        head_paths = sorted(head_files.values())
        loaded = dict(zip(head_paths, parse_remembered(head_paths, head.settings.cache_dir, jobs)))
    else:
        head_blobs = _rule_blobs(top, head)
        write_blobs(top, head_blobs, head.root)
        head_files = {rel: head.root / rel for rel in head_blobs}
        same = {rel for rel in base_blobs.keys() & head_blobs.keys() if base_blobs[rel] == head_blobs[rel]}
        loaded = dict(zip(head_files.values(), parse_files(list(head_files.values()), jobs)))
    own = {rel: blob for rel, blob in base_blobs.items() if rel not in same}
    write_blobs(top, own, base.root)
    base_paths = [base.root / rel for rel in sorted(own)]
    loaded.update(zip(base_paths, parse_files(base_paths, jobs)))
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
    rules.sort(key=lambda rule: rule.path)
    finish_rules(rules, problems)
    kb = load_knowledge_base(side.settings, problems, given={"rule": rules}, remember=False)
    link(kb)
    return kb
