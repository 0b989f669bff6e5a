"""Load the compact ATT&CK snapshot (written by `atc attack update`) into the model: pure JSON, no attackcti."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from atc.model import Analytic, AnalyticLogSource, AttackLogSource, AttackSnapshot, DataComponent, DetectionStrategy, Tactic, Technique

ATTACK_SITE = "https://attack.mitre.org"
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


def data_component_from_record(record: dict[str, Any]) -> DataComponent:
    """One snapshot data component record as a `DataComponent`."""
    sources = tuple(AttackLogSource(name, channel) for name, channel in record.get("log_sources", ()))
    return DataComponent(record["id"], record["name"], f"{ATTACK_SITE}/datacomponents/{record['id']}", sources)


def analytic_from_record(record: dict[str, Any], components: dict[str, DataComponent]) -> Analytic:
    """One snapshot analytic record as an `Analytic`; its log sources are indexes into their component's."""
    sources = tuple(
        AnalyticLogSource(component, components[component].log_sources[index].name, components[component].log_sources[index].channel)
        for component, index in record.get("log_sources", ())
        if component in components and index < len(components[component].log_sources)
    )
    return Analytic(record["id"], tuple(record.get("platforms", ())), sources, tuple(record.get("mutable_elements", ())))


def strategy_from_record(record: dict[str, Any]) -> DetectionStrategy:
    """One snapshot detection strategy record as a `DetectionStrategy`."""
    url = f"{ATTACK_SITE}/detectionstrategies/{record['id']}"
    return DetectionStrategy(record["id"], record["name"], url, tuple(record.get("techniques", ())), tuple(record.get("analytics", ())))


def load_snapshot(path: Path | None = None) -> AttackSnapshot:
    """Read a snapshot file (default: the one shipped in the package)."""
    path = path or DEFAULT_SNAPSHOT
    data = json.loads(path.read_text(encoding="utf-8"))
    if data.get("format") != SNAPSHOT_FORMAT:
        raise ValueError(f"{path}: unsupported ATT&CK snapshot format {data.get('format')!r}; run `atc attack update`")
    components = {record["id"]: data_component_from_record(record) for record in data.get("data_components", ())}
    return AttackSnapshot(
        version=data["attack_version"],
        source=data["source"],
        tactics=[Tactic(**record) for record in data["tactics"]],
        techniques={record["id"]: technique_from_record(record) for record in data["techniques"]},
        data_components=components,
        detection_strategies={record["id"]: strategy_from_record(record) for record in data.get("detection_strategies", ())},
        analytics={record["id"]: analytic_from_record(record, components) for record in data.get("analytics", ())},
    )
