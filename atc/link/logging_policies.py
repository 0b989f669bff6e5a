"""The logging policy kind's linker: every policy a Data Needed item names must be in the knowledge base."""

from __future__ import annotations

import difflib

from atc.model import KnowledgeBase, Problem


def link_kind(kb: KnowledgeBase) -> None:
    """Report the logging policies Data Needed items name that the knowledge base does not hold, with the closest it does."""
    known = sorted(kb.logging_policies)
    for item in kb.data_needed.values():
        for policy in item.logging_policies:
            if policy not in kb.logging_policies:
                close = difflib.get_close_matches(policy, known, 1)
                hint = f" (did you mean {close[0]}, in {kb.logging_policies[close[0]].path}?)" if close else ""
                kb.problems.append(
                    Problem(
                        str(item.path),
                        "dangling-ref",
                        f"logging policy {policy} is not in the knowledge base; add it or fix the name{hint}",
                    )
                )
