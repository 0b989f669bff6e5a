"""The registry of entity kinds: names and folders taken once, the order its needs give, counts as summaries print them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from atc.kinds import KINDS, Kind, folder_kinds, in_order, register, resolve
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
