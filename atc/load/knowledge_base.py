"""The load stage's entry: every registered kind's loader over its folders, each after the kinds it needs."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from atc.common.progress import Progress
from atc.kinds import KINDS, in_order, resolve
from atc.load.attack import load_snapshot
from atc.model import KnowledgeBase, Problem
from atc.settings import Settings


@dataclass
class Loading:
    """What a kind's loader is given besides its folders and the problem list: `loader(folders, problems, loading)`."""

    loaded: dict[str, Any] = field(default_factory=dict)  # the items of the kinds loaded so far, by kind name (its `needs` among them)
    cache_dir: Path | None = None  # where a loader may remember what it parsed; None: no cache is read or written
    jobs: int = 1  # processes a loader may parse in
    progress: Progress | None = None
    not_rules: tuple[Path, ...] = ()  # folders and files inside the rule folders that hold no rule (Settings.not_rules)


def load_knowledge_base(
    settings: Settings,
    problems: list[Problem] | None = None,
    *,
    given: dict[str, Any] | None = None,
    remember: bool = True,
    progress: Progress | None = None,
    only: tuple[str, ...] | None = None,
) -> KnowledgeBase:
    """Stage 1: read every input; bad files become problems. given: items already loaded, by kind name (not read again);
    remember=False neither reads nor writes the cache; only: the kinds to read (with those they need), not every one."""
    problems = [] if problems is None else problems
    loading = Loading(dict(given or {}), settings.cache_dir if remember else None, settings.jobs, progress, settings.not_rules())
    wanted = _with_needs(only) if only is not None else set(KINDS)
    for kind in in_order():
        if kind.loader is not None and kind.name in wanted and kind.name not in loading.loaded:
            folders = list(settings.folders(kind.settings_key)) if kind.settings_key else []
            loading.loaded[kind.name] = resolve(kind.loader)(folders, problems, loading)
    items = {name: loading.loaded[name] for name in KINDS if name in loading.loaded}
    return KnowledgeBase(attack=load_snapshot(settings.attack_snapshot), items=items, problems=problems, environments=settings.environments)


def _with_needs(names: tuple[str, ...]) -> set[str]:
    """The kinds named and every kind they need, directly or not."""
    found: set[str] = set()
    todo = list(names)
    while todo:
        name = todo.pop()
        if name not in found:
            found.add(name)
            todo.extend(KINDS[name].needs)
    return found
