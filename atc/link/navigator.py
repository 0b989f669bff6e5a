"""ATT&CK Navigator layer (format 4.5) of rule counts per technique, and a validator for it."""

from __future__ import annotations

import re
from typing import Any

from atc.model import AttackSnapshot, Technique

LAYER_VERSION = "4.5"
NAVIGATOR_VERSION = "5.1.0"
DOMAIN = "enterprise-attack"
GAP_COLOR = "#ffffff"
COVERED_COLOR = "#66b1ff"
HEX_COLOR = re.compile(r"#[0-9a-fA-F]{6}")


def layer_techniques(snapshot: AttackSnapshot) -> list[Technique]:
    """The matrix's techniques and sub-techniques: neither revoked nor deprecated."""
    return [t for t in snapshot.techniques.values() if not (t.revoked or t.deprecated)]


def expected_cells(snapshot: AttackSnapshot) -> list[tuple[str, str]]:
    """Every (technique id, tactic shortname) cell of the matrix, in matrix order then by id."""
    order = {tactic.shortname: index for index, tactic in enumerate(snapshot.tactics)}
    cells = {(t.id, tactic) for t in layer_techniques(snapshot) for tactic in t.tactics if tactic in order}
    return sorted(cells, key=lambda cell: (order[cell[1]], cell[0]))


def attack_major_version(snapshot: AttackSnapshot) -> str:
    """The snapshot's ATT&CK major version: 18.1 → 18."""
    return snapshot.version.split(".")[0]


def navigator_layer(name: str, description: str, counts: dict[str, int], snapshot: AttackSnapshot, unit: str = "rule") -> dict[str, Any]:
    """A layer scoring every matrix cell with its count of `unit`s, rules or analytics (`counts` by current technique id; 0 marks a gap)."""
    scores = {tid.upper(): count for tid, count in counts.items()}
    cells = expected_cells(snapshot)
    covered_subs = {(snapshot.techniques[tid].parent, tactic) for tid, tactic in cells if scores.get(tid, 0) > 0}
    parents = {snapshot.techniques[tid].parent for tid, _ in cells} - {None}
    entries = []
    for tid, tactic in cells:
        entry: dict[str, Any] = {"techniqueID": tid, "tactic": tactic, "score": scores.get(tid, 0), "enabled": True}
        if tid in parents:
            entry["showSubtechniques"] = (tid, tactic) in covered_subs
        entries.append(entry)
    max_score = max((entry["score"] for entry in entries), default=0)
    return {
        "name": name,
        "description": description,
        "domain": DOMAIN,
        "versions": {"attack": attack_major_version(snapshot), "navigator": NAVIGATOR_VERSION, "layer": LAYER_VERSION},
        "sorting": 3,
        "layout": {"layout": "side", "showID": True, "showName": True, "showAggregateScores": False},
        "hideDisabled": False,
        "techniques": entries,
        "gradient": {"colors": [GAP_COLOR, COVERED_COLOR], "minValue": 0, "maxValue": max(max_score, 1)},
        "legendItems": [
            {"label": f"no {unit} (gap)", "color": GAP_COLOR},
            {"label": f"{max(max_score, 1)} {unit}(s) or more", "color": COVERED_COLOR},
        ],
        "showTacticRowBackground": False,
        "selectTechniquesAcrossTactics": True,
        "selectSubtechniquesWithParent": False,
    }


def header_errors(layer: dict[str, Any], snapshot: AttackSnapshot) -> list[str]:
    """Problems with a layer's name, domain, versions, gradient and legend."""
    errors = []
    if not isinstance(layer.get("name"), str) or not layer["name"]:
        errors.append("name: missing")
    if layer.get("domain") != DOMAIN:
        errors.append(f"domain: {layer.get('domain')!r} is not {DOMAIN!r}")
    expected = {"attack": attack_major_version(snapshot), "navigator": NAVIGATOR_VERSION, "layer": LAYER_VERSION}
    if layer.get("versions") != expected:
        errors.append(f"versions: {layer.get('versions')!r} is not {expected!r}")
    gradient = layer.get("gradient") or {}
    colors = gradient.get("colors") or []
    if len(colors) < 2 or not all(HEX_COLOR.fullmatch(str(c)) for c in colors):
        errors.append("gradient: needs two or more #rrggbb colors")
    if not gradient.get("minValue", 0) < gradient.get("maxValue", 0):
        errors.append("gradient: minValue must be below maxValue")
    for item in layer.get("legendItems") or []:
        if not item.get("label") or not HEX_COLOR.fullmatch(str(item.get("color"))):
            errors.append(f"legendItems: bad item {item!r}")
    return errors


def technique_errors(layer: dict[str, Any], snapshot: AttackSnapshot) -> list[str]:
    """Problems with a layer's technique entries: unknown or stale ids, wrong tactics, bad scores, missing cells."""
    errors = []
    seen: set[tuple[str, str]] = set()
    for entry in layer.get("techniques") or []:
        cell = (entry.get("techniqueID"), entry.get("tactic"))
        technique = snapshot.techniques.get(cell[0])
        if technique is None or technique.revoked or technique.deprecated:
            errors.append(f"{cell[0]}: not a current technique")
        elif cell[1] not in technique.tactics:
            errors.append(f"{cell[0]}: not in tactic {cell[1]!r}")
        if cell in seen:
            errors.append(f"{cell[0]}/{cell[1]}: listed twice")
        seen.add(cell)
        score = entry.get("score")
        if not isinstance(score, int) or isinstance(score, bool) or score < 0:
            errors.append(f"{cell[0]}/{cell[1]}: score {score!r} is not a count")
        if entry.get("enabled") is not True:
            errors.append(f"{cell[0]}/{cell[1]}: not enabled")
    errors += [f"{tid}/{tactic}: missing" for tid, tactic in expected_cells(snapshot) if (tid, tactic) not in seen]
    return errors


def validate_layer(layer: dict[str, Any], snapshot: AttackSnapshot) -> list[str]:
    """Everything wrong with a layer against the snapshot (an empty list when it is sound)."""
    return header_errors(layer, snapshot) + technique_errors(layer, snapshot)
