"""pySigma's ATT&CK data (Elastic's siem_rule formats name tactics and techniques) from atc's snapshot, never downloaded."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from atc.common.cache import digest
from atc.convert.targets import Target
from atc.model import AttackSnapshot


def stix_bundle(attack: AttackSnapshot) -> dict:
    """The snapshot as the STIX objects pySigma's ATT&CK loader reads: a collection, tactics and techniques."""

    def reference(external_id: str) -> list[dict[str, str]]:
        return [{"source_name": "mitre-attack", "external_id": external_id}]

    objects: list[dict] = [{"type": "x-mitre-collection", "x_mitre_version": attack.version}]
    objects += [
        {"type": "x-mitre-tactic", "external_references": reference(tactic.id), "name": tactic.name, "x_mitre_shortname": tactic.shortname}
        for tactic in attack.tactics
    ]
    objects += [
        {
            "type": "attack-pattern",
            "external_references": reference(technique.id),
            "name": technique.name,
            "kill_chain_phases": [{"kill_chain_name": "mitre-attack", "phase_name": tactic} for tactic in technique.tactics],
            "revoked": technique.revoked,
            "x_mitre_deprecated": technique.deprecated,
        }
        for technique in attack.techniques.values()
    ]
    return {"type": "bundle", "objects": objects}


ATTACK_FORMATS = ("siem_rule",)  # output formats (and their _ndjson forms) whose output names ATT&CK tactics and techniques


def with_attack(targets: list[Target], digest: str) -> list[Target]:
    """The targets, those whose format names ATT&CK techniques marked with the data's digest (it keys their conversions)."""
    return [replace(target, attack_digest=digest) if target.output_format.startswith(ATTACK_FORMATS) else target for target in targets]


def use_snapshot(attack: AttackSnapshot, cache_dir: Path) -> str:
    """Point pySigma's ATT&CK data at the snapshot (a file under the cache folder), so no conversion downloads it; its digest."""
    from sigma.data import mitre_attack

    text = json.dumps(stix_bundle(attack), sort_keys=True)
    snapshot = digest(text).hex()
    folder = cache_dir / "pysigma-attack"
    bundle = folder / f"enterprise-attack-{snapshot[:16]}.json"
    if not bundle.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        bundle.write_text(text, encoding="utf-8")
    mitre_attack.set_cache_dir(str(folder / "parsed"))
    mitre_attack.set_url(str(bundle))  # opens pySigma's disk cache to empty it ...
    mitre_attack.set_cache_dir(str(folder / "parsed"))  # ... and this closes it: forked workers open their own
    return snapshot
