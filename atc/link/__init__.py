"""Stage 2: cross-link rules with ATT&CK, Data Needed, logging policies and triggers."""

from __future__ import annotations

from atc.link.attack import resolve_tags
from atc.link.data_needed import link_data_needed
from atc.link.detection import link_detection
from atc.link.environments import environment_problems
from atc.link.references import inherit_data_needed, link_references
from atc.link.triggers import link_triggers
from atc.model import KnowledgeBase, Problem


def link(kb: KnowledgeBase) -> None:
    """Fill every rule's links and record unknown ATT&CK ids and dangling references as problems."""
    for rule in kb.rules:
        rule.tactics, rule.techniques = resolve_tags(rule.tags, kb.attack)
        for ref in rule.techniques:
            if ref.status == "unknown":
                kb.problems.append(
                    Problem(
                        str(rule.path),
                        "attack-unknown",
                        f"technique {ref.tag_id} is unknown to ATT&CK {kb.attack.version}",
                        severity="warning",
                    )
                )
        for tactic in rule.tactics:
            if tactic.tactic is None:
                kb.problems.append(
                    Problem(
                        str(rule.path),
                        "attack-unknown",
                        f"tactic '{tactic.tag}' is unknown to ATT&CK {kb.attack.version}",
                        severity="warning",
                    )
                )
    link_references(kb)
    link_data_needed(kb.rules, kb.data_needed)
    inherit_data_needed(kb)
    link_triggers(kb.rules, kb.triggers)
    link_detection(kb.rules, kb.data_needed, kb.attack)
    kb.problems += environment_problems(kb)
    for item in kb.data_needed.values():
        for policy in item.logging_policies:
            if policy not in kb.logging_policies:
                kb.problems.append(
                    Problem(str(item.path), "dangling-ref", f"logging policy {policy} is not in the knowledge base; add it or fix the name")
                )
