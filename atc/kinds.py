"""The registry of entity kinds: what each kind is read from, how it is linked, where its pages go and their templates.

Declared once here and iterated by the engine, `atc check`, the memo, the address book and the site. Loaders, linkers
and page makers are named as "module:function" and imported on use, so that any stage may read the registry without
importing a later stage. A team adds a kind with one `register(Kind(...))`, or from an installed package through the
`atc.kinds` entry point group (see register_plugins).
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
    loader: str | None = None  # "module:function" reading those folders: (folders, problems, Loading) -> its items by id (rules: a list)
    linker: str | None = None  # "module:function" linking its items with the rest of the knowledge base: (kb) -> None
    pages: str | None = None  # "module:function" rendering its pages
    needs: tuple[str, ...] = ()  # the kinds loaded and linked before it (their items are in Loading.loaded)
    plural: str = ""  # how counts name its items ("12 logging policies"); empty: the title with an s
    folder_help: str = ""  # what one of its folders is, for --help and atc.yml; empty: "a folder of <key> YAML"
    recognise: str | None = None  # "module:function": (a YAML file's first 64 KB, as text) -> whether it is one of this
    # kind's files; `atc init` proposes the folders holding them

    def counted(self, number: int) -> str:
        """A count of its items as the build summary and `atc check` print it."""
        return f"{number} {self.plural or self.title.lower() + 's'}"


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


PLUGINS = "atc.kinds"  # the entry point group under which an installed package declares its kinds (each entry names a Kind)


def register_plugins() -> list[str]:
    """Register the kinds installed packages declare in the `atc.kinds` entry point group (by entry name); return a
    message for each entry left out (it fails to load, is no Kind, or takes a name or folder already taken)."""
    from importlib.metadata import entry_points  # on use: scanning the installed packages costs a command, not every import

    left_out: list[str] = []
    for entry in sorted(entry_points(group=PLUGINS), key=lambda entry: entry.name):
        try:
            kind = entry.load()
            if not isinstance(kind, Kind):
                raise TypeError(f"it names a {type(kind).__name__}, not an atc.kinds.Kind")
            if KINDS.get(kind.name) != kind:  # registered already by an earlier command in this process
                register(kind)
        except Exception as exc:  # a broken plugin leaves its kind out, not the command
            left_out.append(f"entry point {entry.name} = {entry.value} ({PLUGINS}): {type(exc).__name__}: {exc}; the kind is left out")
    return left_out


def folder_kinds() -> dict[str, Kind]:
    """The kinds read from folders, by the settings key naming their folders, in registry order."""
    return {kind.settings_key: kind for kind in KINDS.values() if kind.loader and kind.settings_key}


def in_order() -> list[Kind]:
    """The registered kinds in registry order, each after the kinds it needs (loaders and linkers run in this order)."""
    ordered: dict[str, Kind] = {}

    def visit(kind: Kind, path: tuple[str, ...]) -> None:
        if kind.name in ordered:
            return
        if kind.name in path:
            raise ValueError(f"entity kind {kind.name!r} needs itself through {' -> '.join(path)}")
        for name in kind.needs:
            if name not in KINDS:
                raise ValueError(f"entity kind {kind.name!r} needs {name!r}, which is not registered")
            visit(KINDS[name], (*path, kind.name))
        ordered[kind.name] = kind

    for kind in list(KINDS.values()):
        visit(kind, ())
    return list(ordered.values())


for _kind in (
    Kind(
        "rule",
        "Detection rule",
        "Detection_Rules",
        ("rule.md.j2", "rules_index.md.j2"),
        settings_key="rules",
        folder_help="a folder of Sigma rules, searched recursively",
        loader="atc.load.remembered:load_rule_kind",
        pages="atc.render.rule_pages:rule_pages",
        plural="rules",
        recognise="atc.load.rules:recognise",
    ),
    Kind(
        "data_needed",
        "Data Needed",
        "Data_Needed",
        ("data_needed.md.j2", "data_needed_index.md.j2"),
        settings_key="data_needed",
        folder_help="a folder of Data Needed YAML (atc's or Atomic Threat Coverage's format)",
        loader="atc.load.data_needed:load_data_needed",
        linker="atc.link.data_needed:link_kind",
        pages="atc.render.data_needed_pages:data_needed_pages",
        needs=("logging_policy",),
        plural="Data Needed",
        recognise="atc.load.data_needed:recognise",
    ),
    Kind(
        "logging_policy",
        "Logging policy",
        "Logging_Policies",
        ("logging_policy.md.j2", "logging_policies_index.md.j2"),
        settings_key="logging_policies",
        folder_help="a folder of logging policy YAML",
        loader="atc.load.logging_policies:load_logging_policies",
        linker="atc.link.logging_policies:link_kind",
        pages="atc.render.policy_pages:logging_policy_pages",
        plural="logging policies",
        recognise="atc.load.logging_policies:recognise",
    ),
    Kind(
        "trigger",
        "Trigger",
        "Triggers",
        ("trigger.md.j2", "triggers_index.md.j2"),
        settings_key="triggers",
        folder_help="an Atomic Red Team atomics/ folder",
        loader="atc.load.triggers:load_triggers",
        linker="atc.link.triggers:link_kind",
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
        linker="atc.link.detection:link_kind",
        pages="atc.render.detection_pages:detection_strategy_pages",
        needs=("data_needed",),
    ),
    Kind(
        "environment",
        "Environment",
        "Environments",
        ("environment.md.j2", "environments_index.md.j2"),
        "environments",
        linker="atc.link.environments:link_kind",
        pages="atc.render.environment_pages:environment_pages",
        needs=("data_needed", "logging_policy", "detection_strategy"),
    ),
):
    register(_kind)
