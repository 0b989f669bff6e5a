"""The registry of entity kinds: names and folders taken once, the order its needs give, counts as summaries print them."""

from __future__ import annotations

import importlib.metadata
from collections.abc import Iterator

import pytest

from atc.kinds import KINDS, PLUGINS, Kind, folder_kinds, in_order, register, register_plugins, resolve
from atc.load.data_needed import load_data_needed


@pytest.fixture
def registry() -> Iterator[dict[str, Kind]]:
    """The registry, restored after the test whatever it registered."""
    saved = dict(KINDS)
    try:
        yield KINDS
    finally:
        KINDS.clear()
        KINDS.update(saved)


def test_atc_s_kinds_load_each_after_what_it_needs() -> None:
    order = [kind.name for kind in in_order()]
    assert order.index("logging_policy") < order.index("data_needed") < order.index("detection_strategy") < order.index("environment")
    assert sorted(order) == sorted(KINDS)
    assert list(folder_kinds()) == ["rules", "data_needed", "logging_policies", "triggers"]
    assert resolve(KINDS["data_needed"].loader or "") is load_data_needed


def test_a_name_or_folder_is_taken_once(registry: dict[str, Kind]) -> None:
    with pytest.raises(ValueError, match="'rule' is registered twice"):
        register(Kind("rule", "Rule", "Rules_Again"))
    with pytest.raises(ValueError, match="folder 'Detection_Rules' is another kind's"):
        register(Kind("playbook", "Playbook", "Detection_Rules"))
    assert "playbook" not in registry


def test_needs_come_first_and_a_circle_is_refused(registry: dict[str, Kind]) -> None:
    register(Kind("incident", "Incident", "Incidents", needs=("playbook",)))
    register(Kind("playbook", "Playbook", "Playbooks", needs=("rule",)))
    order = [kind.name for kind in in_order()]
    assert order.index("rule") < order.index("playbook") < order.index("incident")
    registry["playbook"] = Kind("playbook", "Playbook", "Playbooks", needs=("incident",))
    with pytest.raises(ValueError, match="needs itself through"):
        in_order()
    registry["playbook"] = Kind("playbook", "Playbook", "Playbooks", needs=("response",))
    with pytest.raises(ValueError, match="needs 'response', which is not registered"):
        in_order()


def test_counts_name_the_items_as_a_summary_does() -> None:
    assert KINDS["logging_policy"].counted(3) == "3 logging policies"
    assert KINDS["data_needed"].counted(1) == "1 Data Needed"
    assert Kind("playbook", "Playbook", "Playbooks").counted(2) == "2 playbooks"


PLAYBOOK = Kind("playbook", "Playbook", "Playbooks", settings_key="playbooks", loader="atc_playbooks:load")


def _entry_points(monkeypatch: pytest.MonkeyPatch, *values: str) -> None:
    """Pretend installed packages declare these entry points (name=value) in the atc.kinds group."""
    found = [importlib.metadata.EntryPoint(name, value, PLUGINS) for name, _, value in (text.partition("=") for text in values)]
    monkeypatch.setattr(importlib.metadata, "entry_points", lambda group: [entry for entry in found if entry.group == group])


def test_an_installed_package_declares_its_kind_by_entry_point(registry: dict[str, Kind], monkeypatch: pytest.MonkeyPatch) -> None:
    _entry_points(monkeypatch, f"playbook={__name__}:PLAYBOOK")
    assert register_plugins() == []
    assert registry["playbook"] is PLAYBOOK and "playbooks" in folder_kinds()
    assert register_plugins() == []  # a second command in the same process


def test_a_broken_plugin_is_left_out_with_a_message(registry: dict[str, Kind], monkeypatch: pytest.MonkeyPatch) -> None:
    _entry_points(monkeypatch, "gone=no_such_module:KIND", f"wrong={__name__}:_entry_points", f"taken={__name__}:TAKEN")
    messages = register_plugins()
    assert [message.split(" = ")[0] for message in messages] == ["entry point gone", "entry point taken", "entry point wrong"]
    assert "ModuleNotFoundError" in messages[0] and "folder 'Detection_Rules' is another kind's" in messages[1]
    assert "not an atc.kinds.Kind" in messages[2] and all(message.endswith("the kind is left out") for message in messages)
    assert "taken" not in registry and "gone" not in registry


TAKEN = Kind("taken", "Taken", "Detection_Rules")


def test_a_load_of_some_kinds_reads_them_and_what_they_need_only() -> None:
    from atc.load.knowledge_base import load_knowledge_base
    from atc.settings import default_settings

    settings = default_settings()
    rules_only = load_knowledge_base(settings, remember=False, only=("rule",))
    assert rules_only.rules and not rules_only.data_needed and not rules_only.logging_policies and not rules_only.triggers
    items = load_knowledge_base(settings, remember=False, only=("data_needed",))
    assert items.data_needed and items.logging_policies and not items.rules  # Data Needed needs the logging policies
