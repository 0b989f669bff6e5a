"""Resolve a rule's `attack.*` tags against the ATT&CK snapshot."""

from __future__ import annotations

import re

from atc.link import attack_v19
from atc.model import AttackSnapshot, TacticRef, TechniqueRef

ATTACK_SITE = "https://attack.mitre.org"
TAG_PREFIX = "attack."
TECHNIQUE_ID = re.compile(r"t\d{4}(?:\.\d{3})?", re.IGNORECASE | re.ASCII)
OTHER_ID = re.compile(r"[a-z]+\d+", re.IGNORECASE | re.ASCII)  # groups g0016, software s0029, data sources ds0005, ...


def technique_url(tid: str) -> str:
    """The attack.mitre.org page of a technique id (T1021.002 → .../techniques/T1021/002), known or not."""
    return f"{ATTACK_SITE}/techniques/{tid.upper().replace('.', '/')}"


def tactic_url(tactic_id: str) -> str:
    """The attack.mitre.org page of a tactic id (TA0008)."""
    return f"{ATTACK_SITE}/tactics/{tactic_id.upper()}"


def tactic_shortname(value: str) -> str:
    """A tactic tag's value as an ATT&CK shortname: lateral_movement → lateral-movement."""
    return value.lower().replace("_", "-")


def counted_id(ref: TechniqueRef) -> str | None:
    """The technique a tag counts for: itself, the end of its revoked chain, the embedded id of a v19 id, or none when unknown."""
    if ref.status in ("revoked", "newer"):
        return ref.current.id if ref.current else None
    return ref.technique.id if ref.technique else None


def resolve_technique(tag_id: str, snapshot: AttackSnapshot) -> TechniqueRef:
    """An upper-case technique id as current, revoked (with its chain end), deprecated or unknown."""
    technique = snapshot.techniques.get(tag_id)
    if technique is None:
        return _newer_technique(tag_id, snapshot)
    if technique.revoked:
        current = snapshot.techniques.get(technique.revoked_by) if technique.revoked_by else None
        return TechniqueRef(tag_id, "revoked", technique, current)
    if technique.deprecated:
        return TechniqueRef(tag_id, "deprecated", technique)
    return TechniqueRef(tag_id, "current", technique)


def _newer_technique(tag_id: str, snapshot: AttackSnapshot) -> TechniqueRef:
    """An ATT&CK v19 id the snapshot predates, through the version map; else unknown."""
    mapped = attack_v19.TECHNIQUES.get(tag_id)
    embedded = tuple(tid for tid in mapped[1] if tid in snapshot.techniques) if mapped else ()
    if not embedded:
        return TechniqueRef(tag_id, "unknown")
    return TechniqueRef(tag_id, "newer", current=snapshot.techniques[embedded[0]], embedded=embedded)


def resolve_tactic(value: str, snapshot: AttackSnapshot) -> TacticRef:
    """A tactic tag against the snapshot, or through the v19 map (stealth, defense-impairment) when the snapshot predates it."""
    shortname = tactic_shortname(value)
    tactic = snapshot.tactic_by_shortname(shortname)
    if tactic is None and shortname in attack_v19.TACTICS:
        newer, embedded = attack_v19.TACTICS[shortname]
        mapped = snapshot.tactic_by_shortname(embedded)
        if mapped is not None:
            return TacticRef(value, mapped, newer=newer)
    return TacticRef(value, tactic)


def resolve_tags(tags: list[str], snapshot: AttackSnapshot) -> tuple[list[TacticRef], list[TechniqueRef]]:
    """The tactics and techniques a rule's tags name, in tag order, without duplicates; other tags are ignored."""
    tactics: dict[str, TacticRef] = {}
    techniques: dict[str, TechniqueRef] = {}
    for tag in tags:
        if not tag.lower().startswith(TAG_PREFIX):
            continue
        value = tag[len(TAG_PREFIX) :].strip()
        if TECHNIQUE_ID.fullmatch(value):
            tag_id = value.upper()
            techniques.setdefault(tag_id, resolve_technique(tag_id, snapshot))
        elif value and not OTHER_ID.fullmatch(value):
            tactics.setdefault(tactic_shortname(value), resolve_tactic(value, snapshot))
    return list(tactics.values()), list(techniques.values())
