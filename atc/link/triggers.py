"""Link each rule to the Atomic Red Team tests that can trigger it.

A rule tagged `attack.t1053.005` gets that technique's tests; a rule tagged with a parent (`attack.t1053`)
also gets every sub-technique's tests, marked `via_parent`. Only tests whose supported platforms can
produce the rule's log source are kept (a Windows rule never lists a Linux-only test); a rule whose product
is not in PRODUCT_PLATFORMS keeps every test. A technique left with no test is not linked.
"""
from __future__ import annotations

import re

from atc.model import Rule, Trigger, TriggerRef

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


def link_triggers(rules: list[Rule], triggers: dict[str, Trigger]) -> None:
    """Set every rule's `triggers`, sorted by technique id."""
    children: dict[str, list[str]] = {}
    for technique_id in sorted(triggers):
        if "." in technique_id:
            children.setdefault(technique_id.split(".")[0], []).append(technique_id)
    for rule in rules:
        rule.triggers = _rule_triggers(rule, triggers, children)


def _technique_tags(tags: list[str]) -> list[str]:
    """The technique ids a rule is tagged with, upper-cased (tactic, group and software tags are ignored)."""
    return sorted({match.group(1).upper() for tag in tags if (match := _TECHNIQUE_TAG.fullmatch(tag.strip()))})


def _rule_triggers(rule: Rule, triggers: dict[str, Trigger], children: dict[str, list[str]]) -> list[TriggerRef]:
    """The rule's trigger links: tagged techniques first-hand, a tagged parent's sub-techniques via_parent."""
    tagged = _technique_tags(rule.tags)
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
