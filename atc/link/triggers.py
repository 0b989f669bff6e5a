"""Link each rule to the Atomic Red Team tests that can trigger it.

A rule tagged `attack.t1053.005` gets that technique's tests; a rule tagged with a parent (`attack.t1053`)
also gets every sub-technique's tests, marked `via_parent`. Only tests whose supported platforms can
produce the rule's log source are kept (a Windows rule never lists a Linux-only test); a rule whose product
is not in PRODUCT_PLATFORMS keeps every test. A technique left with no test is not linked.

A rule whose `simulation:` names Atomic Red Team tests by `atomic_guid` (as SigmaHQ's rules do) gets each of those
exact tests as its first triggers, whatever its tags and platforms.
"""

from __future__ import annotations

import re

from atc.model import KnowledgeBase, Rule, Trigger, TriggerRef

# Sigma product -> Atomic Red Team `supported_platforms` values that produce its logs
PRODUCT_PLATFORMS: dict[str, frozenset[str]] = {
    "windows": frozenset({"windows"}),
    "linux": frozenset({"linux"}),
    "macos": frozenset({"macos"}),
    "aws": frozenset({"iaas:aws"}),
    "azure": frozenset({"iaas:azure", "azure-ad"}),
    "gcp": frozenset({"iaas:gcp", "google-workspace"}),  # Sigma files Google Workspace logs under product gcp
    "m365": frozenset({"office-365"}),
    "kubernetes": frozenset({"containers"}),
}
_TECHNIQUE_TAG = re.compile(r"attack\.(t\d{4}(?:\.\d{3})?)", re.IGNORECASE | re.ASCII)


def link_kind(kb: KnowledgeBase) -> None:
    """The trigger kind's linker (after the rules' ATT&CK tags are resolved)."""
    link_triggers(kb.rules, kb.triggers)


def link_triggers(rules: list[Rule], triggers: dict[str, Trigger]) -> None:
    """Set every rule's `triggers`, sorted by technique id."""
    children: dict[str, list[str]] = {}
    for technique_id in sorted(triggers):
        if "." in technique_id:
            children.setdefault(technique_id.split(".")[0], []).append(technique_id)
    tests = {test.guid: (technique_id, test.name) for technique_id, trigger in sorted(triggers.items()) for test in trigger.tests}
    for rule in rules:
        rule.triggers = _simulations(rule, tests) + _rule_triggers(rule, triggers, children)


def _simulations(rule: Rule, tests: dict[str, tuple[str, str]]) -> list[TriggerRef]:
    """The Atomic Red Team tests the rule's `simulation:` names by atomic_guid, when the knowledge base has them."""
    entries = rule.data.get("simulation") if isinstance(rule.data, dict) else None
    refs: list[TriggerRef] = []
    for entry in entries if isinstance(entries, list) else []:
        kind = str(entry.get("type", "atomic-red-team")).lower().replace(" ", "-").replace("_", "-") if isinstance(entry, dict) else ""
        guid = str(entry.get("atomic_guid", "")).strip().lower() if kind == "atomic-red-team" else ""
        if guid in tests and all(ref.test_guids != (guid,) for ref in refs):
            technique_id, name = tests[guid]
            refs.append(TriggerRef(technique_id, test_guids=(guid,), simulation=name))
    return refs


def _technique_tags(tags: list[str]) -> list[str]:
    """The technique ids a rule is tagged with, upper-cased (tactic, group and software tags are ignored)."""
    return sorted({match.group(1).upper() for tag in tags if (match := _TECHNIQUE_TAG.fullmatch(tag.strip()))})


def _rule_triggers(rule: Rule, triggers: dict[str, Trigger], children: dict[str, list[str]]) -> list[TriggerRef]:
    """The rule's trigger links: tagged techniques first-hand, a tagged parent's sub-techniques via_parent."""
    newer = {tid for ref in rule.techniques if ref.status == "newer" for tid in ref.embedded}  # ATT&CK v19 tags: the embedded ids' tests
    tagged = sorted(set(_technique_tags(rule.tags)) | newer)
    wanted = {technique_id: False for technique_id in tagged}
    for technique_id in tagged:
        for child in children.get(technique_id, []):
            wanted.setdefault(child, True)
    platforms = PRODUCT_PLATFORMS.get((rule.logsource.product or "").lower())
    refs = []
    for technique_id, via_parent in sorted(wanted.items()):
        trigger = triggers.get(technique_id)
        guids = tuple(t.guid for t in trigger.tests if platforms is None or platforms & set(t.platforms)) if trigger else ()
        if guids:
            refs.append(TriggerRef(technique_id, via_parent, guids))
    return refs
