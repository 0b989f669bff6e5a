"""`atc build --only-changed BASE`: a small preview site with the rules that differ from a git revision,
the pages they link to (Data Needed, logging policies, triggers, ATT&CK techniques and tactics) and the overview pages."""

from __future__ import annotations

import os
import posixpath
import re
from pathlib import Path

from atc.history.gitrev import GitError, changed_paths, list_blobs, other_repository, repo_top, resolve
from atc.model import KnowledgeBase, Rule
from atc.render import addresses

ATTACK_ITEM_KINDS = ("technique", "tactic")  # their pages are kept when a kept page links to them
_LINK = re.compile(r"\]\(([^)\s#]+\.md)(?:#[^)]*)?\)")


def changed_since(rules: list[Rule], base: str, folder: Path) -> list[Rule]:
    """The rules whose file is new or differs from revision base (moved rules included), in the repository holding folder (atc.yml's)."""
    top = repo_top(folder)
    commit = resolve(top, base)
    _refuse_unversioned(rules, top)
    rels = {id(rule): rule.path.resolve().relative_to(top).as_posix() for rule in rules if rule.path.resolve().is_relative_to(top)}
    folders = sorted({posixpath.dirname(rel) or "." for rel in rels.values()})
    tracked = list_blobs(top, commit, folders)
    differ = changed_paths(top, commit, folders)
    return [rule for rule in rules if (rel := rels.get(id(rule))) is not None and (rel not in tracked or rel in differ)]


def _refuse_unversioned(rules: list[Rule], top: Path) -> None:
    """GitError when a rule's file is not in top's history: outside the repository, or in a submodule."""
    memo: dict[Path, Path | None] = {}
    for parent in sorted({Path(os.path.realpath(rule.path.parent)) for rule in rules}):
        if not parent.is_relative_to(top):
            raise GitError(f"{parent}: outside the repository {top}: its rules have no revision to compare with")
        if (other := other_repository(parent, top, memo)) is not None:
            raise GitError(f"{other}: a git repository of its own (a submodule): its rules are not in {top}'s history (run atc inside it)")


def item_pages(kb: KnowledgeBase) -> set[str]:
    """The pages of one rule, Data Needed item, logging policy or trigger (the overview pages are the others)."""
    return (
        {addresses.page("rule", rule.slug) for rule in kb.rules}
        | {addresses.page("data_needed", item) for item in kb.data_needed}
        | {addresses.page("logging_policy", policy) for policy in kb.logging_policies}
        | {addresses.page("trigger", trigger) for trigger in kb.triggers}
    )


def _links(pages: dict[str, str], page: str) -> set[str]:
    """The generated pages a page links to."""
    folder = posixpath.dirname(page)
    found = {posixpath.normpath(posixpath.join(folder, target)) for target in _LINK.findall(pages[page])}
    return {target for target in found if target in pages}


def preview_pages(pages: dict[str, str], kb: KnowledgeBase, changed: list[Rule]) -> dict[str, str]:
    """The changed rules' pages, the item pages they link to (and the logging policies behind their Data Needed) and every overview page."""
    rules, data_needed, policies_dir = (addresses.folder(kind) + "/" for kind in ("rule", "data_needed", "logging_policy"))
    keep = {addresses.page("rule", rule.slug) for rule in changed}
    linked = {target for page in keep for target in _links(pages, page) if not target.startswith(rules)}
    policies = {
        target for page in linked if page.startswith(data_needed) for target in _links(pages, page) if target.startswith(policies_dir)
    }
    keep |= linked | policies
    items = item_pages(kb)
    attack_items = {addresses.folder(kind) for kind in ATTACK_ITEM_KINDS}
    return {page: text for page, text in pages.items() if page in keep or not (page in items or posixpath.dirname(page) in attack_items)}
