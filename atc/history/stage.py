"""The history stage (after convert, before render): reads git once for every rule and period; a folder that is not
in git, or history turned off, gives no history and no error."""

from __future__ import annotations

import os
import re
from pathlib import Path

from atc.convert.cache import ConversionCache
from atc.convert.targets import Target
from atc.history.gitlog import read_log, shallow_boundary, tags
from atc.history.gitrev import GitError, GitMissing, changed_paths, git_output, list_blobs, other_repository, repo_top
from atc.history.model import KbHistory
from atc.history.periods import Periods, month_spans, tag_spans
from atc.history.revision import Side, real_folders
from atc.history.rules import RuleHistories, repository_paths
from atc.history.versions import RuleVersions
from atc.load.rules import rule_blobs
from atc.model import KnowledgeBase, Problem, Rule
from atc.settings import Settings

_FORGE = re.compile(r"^(https?://[^/]+/.+?)/(-/)?(?:blob|tree)/")  # GitHub and GitLab file URLs


def commit_url(settings: Settings) -> str | None:
    """A commit's web page with "{sha}" to fill: history.commit_url, else derived from a GitHub or GitLab repo_url (pages link only http(s) URLs)."""
    if settings.history.commit_url:
        return settings.history.commit_url
    match = _FORGE.match(settings.repo_url) if settings.repo_url else None
    return f"{match.group(1)}/{match.group(2) or ''}commit/{{sha}}" if match else None


def _top(settings: Settings) -> Path | None:
    """The top of the git working tree holding the knowledge base, None when it is not in one (or it has no commit);
    GitMissing when it is in one (a .git above it) but git cannot be run."""
    try:
        top = repo_top(settings.base_dir)
        git_output(top, "rev-parse", "--verify", "--quiet", "HEAD^{commit}")
    except GitMissing:
        folder = Path(os.path.realpath(settings.base_dir))
        if any((above / ".git").exists() for above in (folder, *folder.parents)):
            raise
        return None
    except GitError:
        return None
    return top


def in_this_repository(kb: KnowledgeBase, top: Path) -> list[Rule]:
    """The rules whose files top's history holds; those of a submodule or a nested repository get a warning and no history."""
    memo: dict[Path, Path | None] = {}
    folders = {folder: Path(os.path.realpath(folder)) for folder in {rule.path.parent for rule in kb.rules}}
    own: list[Rule] = []
    for rule in kb.rules:
        if other_repository(folders[rule.path.parent], top, memo) is None:
            own.append(rule)
    for other in sorted({found for found in memo.values() if found is not None}):
        message = f"the rules below {other} get no history: it is a git repository of its own (a submodule or a nested clone), not {top}"
        kb.problems.append(Problem(str(other), "history", message, severity="warning"))
    return own


def committed(kb: KnowledgeBase, top: Path, folders: list[str], head: dict[str, str]) -> dict[Path, str]:
    """The working tree's rule files git finds unchanged since HEAD, with their blob ids at HEAD."""
    differ = changed_paths(top, "HEAD", folders)
    rels = repository_paths(kb.rules, top)
    return {rule.path: head[rel] for rule in kb.rules if (rel := rels.get(rule.slug)) in head and rel not in differ}


def read_history(kb: KnowledgeBase, settings: Settings, targets: list[Target]) -> KbHistory | None:
    """Every rule's history and the changes per tag or month; None when the knowledge base is not in a git repository."""
    top = _top(settings)
    if top is None:
        return None
    history = settings.history
    side = Side("", top, real_folders(settings))
    folders = side.inside(side.settings.rules)
    if not folders:  # the rules live outside the repository holding atc.yml
        return None
    shallow = shallow_boundary(top)
    log = read_log(top, folders, history.depth)
    head = rule_blobs(list_blobs(top, "HEAD", folders), folders, side.inside(side.settings.not_rules()))
    versions = RuleVersions(top, kb, settings.cache_dir, committed(kb, top, folders, head))
    cache = ConversionCache(settings.cache_dir)
    try:
        histories = RuleHistories(top, settings, versions, targets, commit_url(settings))
        rules, dates = histories.read(in_this_repository(kb, top), log, shallow, head, settings.jobs, cache)
        named = tags(top)
        head_sha = git_output(top, "rev-parse", "HEAD").decode().strip()
        spans, limits = (
            tag_spans(top, named, head_sha, shallow, history.periods)
            if named
            else month_spans(top, history.depth, shallow, history.periods)
        )
        periods, left_out = Periods(top, side, kb, versions, folders).read(spans, settings.jobs)
    finally:
        cache.close()
        versions.close()
    notes = []
    if shallow:
        notes.append("this is a shallow clone: the history starts at its oldest commit (fetch the whole history for more)")
    if len(log) >= history.depth:
        notes.append(f"only the last {history.depth} commits that touched the rules are read (history.depth)")
    return KbHistory(rules, dates, periods, "tag" if named else "month", notes + limits + left_out, histories.stats)
