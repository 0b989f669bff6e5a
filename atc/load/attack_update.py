"""`atc attack update`: build the compact offline ATT&CK snapshot from a STIX bundle or MITRE's TAXII server.

The only module that imports attackcti (lazily: it is an optional dependency and takes ~0.5 s to import).

The ATT&CK release (`attack_version`) comes from, in order: an explicit override; the `x_mitre_version` of the
bundle's `x-mitre-collection` object (present in STIX 2.1 bundles and on the TAXII server); the bundle's file
name (`enterprise-attack-v18.1.json`, `enterprise-attack-18.1.json`). The v18.1 STIX 2.0 bundle has no collection
object, and the `x_mitre_version` of its matrix and tactics ("1.0") versions those objects, not the release.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from atc.load.attack import SNAPSHOT_FORMAT

KILL_CHAIN = "mitre-attack"
VERSION_IN_NAME = re.compile(r"-v?(\d+(?:\.\d+)*)\.json$")

StixObject = Mapping[str, Any]


def attack_id(obj: StixObject) -> str | None:
    """The ATT&CK id (T1021.002, TA0008) of a STIX object, from its mitre-attack external reference."""
    for ref in obj.get("external_references") or ():
        if ref.get("source_name") == KILL_CHAIN and ref.get("external_id"):
            return str(ref["external_id"])
    return None


def attack_url(obj: StixObject) -> str:
    """The attack.mitre.org page of a STIX object."""
    for ref in obj.get("external_references") or ():
        if ref.get("source_name") == KILL_CHAIN and ref.get("url"):
            return str(ref["url"])
    return ""


def derive_version(collections: Iterable[StixObject], source: str, override: str | None = None) -> str:
    """The ATT&CK release of a bundle: override, else the collection's version, else the file name."""
    if override:
        return override
    for collection in collections:
        if collection.get("x_mitre_version"):
            return str(collection["x_mitre_version"])
    match = VERSION_IN_NAME.search(source)
    if match:
        return match.group(1)
    raise ValueError(f"cannot tell the ATT&CK version of {source}: pass --version")


def chain_end(stix_id: str, revoked_by: Mapping[str, str]) -> str:
    """Follow revoked-by relationships from `stix_id` to the object that is not revoked any more."""
    seen = {stix_id}
    while stix_id in revoked_by and revoked_by[stix_id] not in seen:
        stix_id = revoked_by[stix_id]
        seen.add(stix_id)
    return stix_id


def tactic_records(matrix: StixObject, tactics: Iterable[StixObject]) -> list[dict[str, str]]:
    """The matrix's tactics, in the matrix's order."""
    by_stix_id = {tactic["id"]: tactic for tactic in tactics}
    return [
        {
            "id": attack_id(by_stix_id[ref]) or "",
            "shortname": by_stix_id[ref]["x_mitre_shortname"],
            "name": by_stix_id[ref]["name"],
            "url": attack_url(by_stix_id[ref]),
        }
        for ref in matrix["tactic_refs"]
        if ref in by_stix_id
    ]


def data_components_by_target(
    detects: Iterable[StixObject],
    strategies: Iterable[StixObject],
    analytics: Iterable[StixObject],
    components: Iterable[StixObject],
) -> dict[str, set[str]]:
    """Data component names per detected STIX id: strategy → analytics → log sources (v18), or component (≤ v17)."""
    names = {component["id"]: component["name"] for component in components}
    analytic_refs = {strategy["id"]: strategy.get("x_mitre_analytic_refs") or () for strategy in strategies}
    analytic_components = {
        analytic["id"]: {ref.get("x_mitre_data_component_ref") for ref in analytic.get("x_mitre_log_source_references") or ()}
        for analytic in analytics
    }
    found: dict[str, set[str]] = {}
    for rel in detects:
        source = rel["source_ref"]
        component_ids = {source} if source in names else set()
        for analytic_ref in analytic_refs.get(source, ()):
            component_ids |= analytic_components.get(analytic_ref, set())
        found.setdefault(rel["target_ref"], set()).update(names[c] for c in component_ids if c in names)
    return found


def _current(obj: StixObject) -> bool:
    """Neither revoked nor deprecated."""
    return not (obj.get("revoked") or obj.get("x_mitre_deprecated"))


def data_component_records(components: Iterable[StixObject], analytics: Iterable[StixObject]) -> list[dict[str, Any]]:
    """Current data components with their log sources as [name, channel] pairs, by id.

    A component's own log sources come first (bundle order, no repeats), then any an analytic names under it that it
    does not list itself, so that every analytic log source is an index into its component's list.
    """
    pairs: dict[str, dict[tuple[str, str], None]] = {}
    current = [component for component in components if _current(component) and attack_id(component)]
    for component in current:
        pairs[component["id"]] = dict.fromkeys(_source_pair(source) for source in component.get("x_mitre_log_sources") or ())
    for analytic in analytics:
        for ref in analytic.get("x_mitre_log_source_references") or ():
            if ref.get("x_mitre_data_component_ref") in pairs:
                pairs[ref["x_mitre_data_component_ref"]].setdefault(_source_pair(ref), None)
    records = [{"id": attack_id(c), "name": c["name"], "log_sources": [list(pair) for pair in pairs[c["id"]]]} for c in current]
    return sorted(records, key=lambda record: record["id"])


def _source_pair(source: StixObject) -> tuple[str, str]:
    """A log source's (name, channel)."""
    return str(source.get("name", "")), str(source.get("channel", ""))


def analytic_records(analytics: Iterable[StixObject], components: list[dict[str, Any]], ids: Mapping[str, str]) -> list[dict[str, Any]]:
    """Current analytics: platforms, log sources as [DC id, index in its log_sources] and their mutable elements' names, by id."""
    index = {(record["id"], tuple(pair)): position for record in components for position, pair in enumerate(record["log_sources"])}
    records = []
    for analytic in analytics:
        if not (_current(analytic) and attack_id(analytic)):
            continue
        refs = []
        for ref in analytic.get("x_mitre_log_source_references") or ():
            component = ids.get(ref.get("x_mitre_data_component_ref", ""), "")
            if (component, _source_pair(ref)) in index:
                refs.append((component, index[component, _source_pair(ref)]))
        record = {
            "id": attack_id(analytic),
            "platforms": sorted(analytic.get("x_mitre_platforms") or (), key=str.casefold),
            "log_sources": [list(ref) for ref in dict.fromkeys(refs)],
            "mutable_elements": list(dict.fromkeys(e["field"] for e in analytic.get("x_mitre_mutable_elements") or () if e.get("field"))),
        }
        records.append({key: value for key, value in record.items() if value or key == "id"})
    return sorted(records, key=lambda record: record["id"])


def strategy_records(strategies: Iterable[StixObject], detects: Iterable[StixObject], ids: Mapping[str, str]) -> list[dict[str, Any]]:
    """Current detection strategies with the technique ids they detect and their analytic ids, by id."""
    detected: dict[str, set[str]] = {}
    for rel in detects:
        if rel["target_ref"] in ids:
            detected.setdefault(rel["source_ref"], set()).add(ids[rel["target_ref"]])
    records = []
    for strategy in strategies:
        if _current(strategy) and attack_id(strategy):
            records.append(
                {
                    "id": attack_id(strategy),
                    "name": strategy["name"],
                    "techniques": sorted(detected.get(strategy["id"], ())),
                    "analytics": sorted(ids[ref] for ref in strategy.get("x_mitre_analytic_refs") or () if ref in ids),
                }
            )
    return sorted(records, key=lambda record: record["id"])


def technique_record(
    technique: StixObject,
    tactic_order: Mapping[str, int],
    revoked_by_id: str | None,
    components: set[str],
) -> dict[str, Any]:
    """One technique as a compact record; false, empty and null fields are left out."""
    tid = attack_id(technique) or ""
    phases = {p["phase_name"] for p in technique.get("kill_chain_phases") or () if p["kill_chain_name"] == KILL_CHAIN}
    record: dict[str, Any] = {
        "id": tid,
        "name": technique["name"],
        "url": attack_url(technique),
        "tactics": sorted(phases, key=lambda name: (tactic_order.get(name, len(tactic_order)), name)),
        "platforms": sorted(technique.get("x_mitre_platforms") or (), key=str.casefold),
        "parent": tid.split(".")[0] if "." in tid else None,
        "deprecated": bool(technique.get("x_mitre_deprecated")),
        "revoked": bool(technique.get("revoked")),
        "revoked_by": revoked_by_id,
        "data_components": sorted(components),
    }
    return {key: value for key, value in record.items() if value or key in ("id", "name", "url")}


def technique_records(
    techniques: list[StixObject],
    revoked_by: Mapping[str, str],
    components: Mapping[str, set[str]],
    tactic_order: Mapping[str, int],
) -> list[dict[str, Any]]:
    """All techniques and sub-techniques (revoked and deprecated included), sorted by id."""
    ids = {technique["id"]: attack_id(technique) for technique in techniques}
    records = []
    for technique in techniques:
        if not ids[technique["id"]]:
            continue
        end = chain_end(technique["id"], revoked_by) if technique.get("revoked") else None
        revoked_by_id = ids.get(end) if end and end != technique["id"] else None
        records.append(technique_record(technique, tactic_order, revoked_by_id, components.get(technique["id"], set())))
    return sorted(records, key=lambda record: record["id"])


def load_client(stix_path: Path | None) -> tuple[Any, str]:
    """An attackcti client over the bundle (offline) or TAXII, and the source name to record."""
    from attackcti import MitreAttackClient
    from attackcti.constants import ATTACK_TAXII_COLLECTIONS_URL, ENTERPRISE_ATTACK_COLLECTION_ID

    if stix_path is None:
        return MitreAttackClient.from_taxii(), f"{ATTACK_TAXII_COLLECTIONS_URL}{ENTERPRISE_ATTACK_COLLECTION_ID}/"
    if not stix_path.exists():
        raise FileNotFoundError(f"no STIX bundle at {stix_path}")
    return MitreAttackClient.from_local(enterprise=str(stix_path)), stix_path.name


def build_snapshot(stix_path: Path | None, version: str | None = None) -> dict[str, Any]:
    """Read enterprise ATT&CK (local bundle, or TAXII when `stix_path` is None) into the snapshot's JSON data."""
    from attackcti.core.query_client import QueryClient
    from stix2 import CompositeDataSource, Filter

    client, source = load_client(stix_path)
    enterprise = client.TC_ENTERPRISE_SOURCE
    composite = CompositeDataSource()
    composite.add_data_sources([enterprise])
    query = QueryClient(composite)

    matrices = enterprise.query([Filter("type", "=", "x-mitre-matrix")])
    if not matrices:
        raise ValueError(f"{source} has no x-mitre-matrix object")
    tactics = tactic_records(matrices[0], query.tactics.get_tactics())
    tactic_order = {tactic["shortname"]: index for index, tactic in enumerate(tactics)}
    revoked_by = {
        rel["source_ref"]: rel["target_ref"]
        for rel in query.relationships.get_relationships(relationship_type="revoked-by", skip_revoked_deprecated=False)
    }
    detects = query.relationships.get_relationships(relationship_type="detects")
    strategies = query.detections.get_detection_strategies()
    analytics = query.analytics.get_analytics()
    data_components = query.data_sources.get_data_components(skip_revoked_deprecated=False)
    components = data_components_by_target(detects, strategies, analytics, data_components)
    techniques = query.techniques.get_techniques(skip_revoked_deprecated=False)
    component_records = data_component_records(data_components, analytics)
    ids = {obj["id"]: attack_id(obj) for obj in [*techniques, *analytics, *data_components] if attack_id(obj)}
    return {
        "format": SNAPSHOT_FORMAT,
        "attack_version": derive_version(enterprise.query([Filter("type", "=", "x-mitre-collection")]), source, version),
        "source": source,
        "tactics": tactics,
        "techniques": technique_records(techniques, revoked_by, components, tactic_order),
        "data_components": component_records,
        "detection_strategies": strategy_records(strategies, detects, ids),
        "analytics": analytic_records(analytics, component_records, ids),
    }


def dumps_snapshot(data: Mapping[str, Any]) -> str:
    """Deterministic JSON text: sorted keys, one tactic, technique, data component, strategy or analytic per line (readable diffs), final newline."""
    parts = []
    for key in sorted(data):
        value = data[key]
        if isinstance(value, list) and value:
            items = ",\n".join(f"  {json.dumps(item, sort_keys=True, ensure_ascii=False)}" for item in value)
            parts.append(f"{json.dumps(key)}: [\n{items}\n ]")
        else:
            parts.append(f"{json.dumps(key)}: {json.dumps(value, sort_keys=True, ensure_ascii=False)}")
    return "{\n " + ",\n ".join(parts) + "\n}\n"


def write_snapshot(data: Mapping[str, Any], path: Path) -> None:
    """Write the snapshot JSON to `path`, creating its folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(dumps_snapshot(data), encoding="utf-8")


@contextmanager
def answer_within(seconds: float) -> Iterator[None]:
    """Every HTTP request made meanwhile (attackcti's TAXII client uses requests, with no timeout of its own) gives up
    when the server has not answered, or sent more, for `seconds`: a stalled connection is an error, not a hang."""
    from requests.adapters import HTTPAdapter

    send = HTTPAdapter.send

    def bounded(self: HTTPAdapter, request: Any, **options: Any) -> Any:
        if options.get("timeout") is None:
            options["timeout"] = seconds
        return send(self, request, **options)

    HTTPAdapter.send = bounded  # type: ignore[method-assign]
    try:
        yield
    finally:
        HTTPAdapter.send = send  # type: ignore[method-assign]


def run_update(from_stix: Path | None, output: Path, version: str | None = None, timeout: float = 60) -> int:
    """`atc attack update`: build the snapshot and write it; returns the exit status."""
    print(f"loading STIX from {from_stix or 'the MITRE ATT&CK TAXII server'} ...", file=sys.stderr)
    try:
        with answer_within(timeout):
            data = build_snapshot(from_stix, version)
    except ImportError:
        print("error: attackcti is not installed (pip install 'atc[attack]')", file=sys.stderr)
        return 2
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    try:
        write_snapshot(data, output)
    except OSError as exc:
        print(f"error: {output}: cannot write the snapshot: {exc.strerror or exc}", file=sys.stderr)
        return 1
    techniques, tactics = len(data["techniques"]), len(data["tactics"])
    print(f"wrote ATT&CK {data['attack_version']}: {techniques} techniques, {tactics} tactics to {output}", file=sys.stderr)
    return 0
