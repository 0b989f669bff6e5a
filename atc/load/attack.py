"""Load the compact ATT&CK snapshot (written by `atc attack update`) into the model: pure JSON, no attackcti."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from atc.model import AttackSnapshot, Tactic, Technique

DEFAULT_SNAPSHOT = Path(__file__).resolve().parents[1] / "data" / "enterprise-attack.json"
SNAPSHOT_FORMAT = 1


def technique_from_record(record: dict[str, Any]) -> Technique:
    """One snapshot technique record as a `Technique`."""
    return Technique(
        id=record["id"],
        name=record["name"],
        url=record["url"],
        tactics=tuple(record.get("tactics", ())),
        platforms=tuple(record.get("platforms", ())),
        parent=record.get("parent"),
        deprecated=record.get("deprecated", False),
        revoked=record.get("revoked", False),
        revoked_by=record.get("revoked_by"),
        data_components=tuple(record.get("data_components", ())),
    )


def load_snapshot(path: Path | None = None) -> AttackSnapshot:
    """Read a snapshot file (default: the one shipped in the package)."""
    path = path or DEFAULT_SNAPSHOT
    data = json.loads(path.read_text(encoding="utf-8"))
    if data.get("format") != SNAPSHOT_FORMAT:
        raise ValueError(f"{path}: unsupported ATT&CK snapshot format {data.get('format')!r}; run `atc attack update`")
    return AttackSnapshot(
        version=data["attack_version"],
        source=data["source"],
        tactics=[Tactic(**record) for record in data["tactics"]],
        techniques={record["id"]: technique_from_record(record) for record in data["techniques"]},
    )
