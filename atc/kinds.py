"""The registry of entity kinds: what each kind is read from, how it is linked, where its pages go and their templates.

Declared once here and iterated by the engine, `atc check`, the memo, the address book and the site. Loaders, linkers
and page makers are named as "module:function" and imported on use, so that any stage may read the registry without
importing a later stage.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Kind:
    name: str  # identifier, e.g. "data_needed"
    title: str  # what one page of this kind is, as page titles and search results say it
    folder: str  # the docs/ folder of its pages
    templates: tuple[str, ...] = ()  # its page template first, then its index's
    settings_key: str | None = None  # the atc.yml key (and command-line option) naming the folders it is read from
    loader: str | None = None  # "module:function" reading those folders
    linker: str | None = None  # "module:function" linking its items with the rest of the knowledge base
    pages: str | None = None  # "module:function" rendering its pages


def resolve(reference: str) -> Callable[..., Any]:
    """The function a "module:function" reference names."""
    module, _, name = reference.partition(":")
    return getattr(importlib.import_module(module), name)


KINDS: dict[str, Kind] = {}


def register(kind: Kind) -> Kind:
    """Add a kind (a team's own kind, or one of atc's below); a name or folder already taken is an error."""
    if kind.name in KINDS:
        raise ValueError(f"entity kind {kind.name!r} is registered twice")
    if any(other.folder == kind.folder for other in KINDS.values()):
        raise ValueError(f"entity kind {kind.name!r}: folder {kind.folder!r} is another kind's")
    KINDS[kind.name] = kind
    return kind


for _kind in (
    Kind(
        "rule",
        "Detection rule",
        "Detection_Rules",
        ("rule.md.j2", "rules_index.md.j2"),
        "rules",
        "atc.load.rules:load_rules",
        pages="atc.render.rule_pages:rule_pages",
    ),
    Kind(
        "data_needed",
        "Data Needed",
        "Data_Needed",
        ("data_needed.md.j2", "data_needed_index.md.j2"),
        "data_needed",
        "atc.load.data_needed:load_data_needed",
        pages="atc.render.data_needed_pages:data_needed_pages",
    ),
    Kind(
        "logging_policy",
        "Logging policy",
        "Logging_Policies",
        ("logging_policy.md.j2", "logging_policies_index.md.j2"),
        "logging_policies",
        "atc.load.logging_policies:load_logging_policies",
        pages="atc.render.policy_pages:logging_policy_pages",
    ),
    Kind(
        "trigger",
        "Trigger",
        "Triggers",
        ("trigger.md.j2", "triggers_index.md.j2"),
        "triggers",
        "atc.load.triggers:load_triggers",
        pages="atc.render.trigger_pages:trigger_pages",
    ),
    Kind(
        "technique",
        "ATT&CK technique",
        "ATTACK/techniques",
        ("technique.md.j2", "attack_index.md.j2"),
        pages="atc.render.attack_pages:technique_pages",
    ),
    Kind("tactic", "ATT&CK tactic", "ATTACK/tactics", ("tactic.md.j2",), pages="atc.render.attack_pages:tactic_pages"),
    Kind(
        "data_component",
        "ATT&CK data component",
        "ATTACK/data_components",
        ("data_component.md.j2", "data_components_index.md.j2"),
        pages="atc.render.detection_pages:data_component_pages",
    ),
    Kind(
        "detection_strategy",
        "ATT&CK detection strategy",
        "ATTACK/detection_strategies",
        ("detection_strategy.md.j2", "detection_strategies_index.md.j2"),
        pages="atc.render.detection_pages:detection_strategy_pages",
    ),
    Kind(
        "environment",
        "Environment",
        "Environments",
        ("environment.md.j2", "environments_index.md.j2"),
        "environments",
        pages="atc.render.environment_pages:environment_pages",
    ),
):
    register(_kind)
