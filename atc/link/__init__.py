"""Stage 2: cross-link rules with ATT&CK and each other, then every registered kind's linker (atc/kinds.py)."""

from __future__ import annotations

from atc.kinds import in_order, resolve
from atc.link.attack import resolve_tags
from atc.link.references import link_references, link_relations
from atc.model import KnowledgeBase, Problem


def link(kb: KnowledgeBase) -> None:
    """Fill every rule's links and record unknown ATT&CK ids and dangling references as problems."""
    link_attack_tags(kb)
    link_references(kb)
    link_relations(kb)
    for kind in in_order():
        if kind.linker is not None:
            resolve(kind.linker)(kb)


def link_attack_tags(kb: KnowledgeBase) -> None:
    """Resolve every rule's ATT&CK tags against the snapshot; an id the snapshot does not know is a warning."""
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
