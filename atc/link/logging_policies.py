"""The logging policy kind's linker: every policy a Data Needed item names must be in the knowledge base."""

from __future__ import annotations

from atc.model import KnowledgeBase, Problem


def link_kind(kb: KnowledgeBase) -> None:
    """Report the logging policies Data Needed items name that the knowledge base does not hold."""
    for item in kb.data_needed.values():
        for policy in item.logging_policies:
            if policy not in kb.logging_policies:
                kb.problems.append(
                    Problem(str(item.path), "dangling-ref", f"logging policy {policy} is not in the knowledge base; add it or fix the name")
                )
