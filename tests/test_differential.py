"""grep, SQLite and the PowerShell simulation give the same verdict on the same events."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from atc.convert.runner import convert_one
from atc.convert.targets import BY_KEY
from atc.load.rules import load_rules
from atc.settings import REPO_ROOT
from atc.verify.runners import RUNNERS, Event, VerifyError, load_events
from tests.feature_cases import CASES, Case
from tests.test_feature_cases import KNOWN_WRONG, rule_data

RUNNABLE = ("grep", "sqlite", "powershell")


def _matched(data: dict, events: list[Event], fields: list[str]) -> dict[str, frozenset[str]]:
    """Each runnable target's matched event names, for the targets that convert and can run the rule."""
    found = {}
    for target in RUNNABLE:
        conversion = convert_one(data, BY_KEY[target])
        if conversion.status != "ok":
            continue
        try:
            found[target] = frozenset(RUNNERS[target](conversion.query, events, SimpleNamespace(fields=fields)))
        except VerifyError:  # the simulation cannot read the rendered message
            continue
    return found


def test_every_default_kb_rule_gets_one_verdict_from_every_runner() -> None:
    rules = load_rules([REPO_ROOT / "rules"], [])
    compared = 0
    for rule in rules:
        folder = REPO_ROOT / "events" / rule.id
        if not folder.is_dir():
            continue
        loaded = load_events(folder)
        found = _matched(rule.data, loaded.positive + loaded.negative, list(rule.fields))
        assert "grep" in found and "sqlite" in found, rule.path
        assert len(set(found.values())) == 1, f"{rule.path}: {found}"
        compared += len(found) == 3
    assert compared >= 20  # the Windows rules: all three runners agree


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_every_feature_case_gets_one_verdict_from_every_runner(case: Case) -> None:
    events = [Event(f"hit{i}", fields) for i, fields in enumerate(case.hits)] + [
        Event(f"miss{i}", fields) for i, fields in enumerate(case.misses)
    ]
    fields = sorted({name for fields in case.hits + case.misses for name in fields})
    found = _matched(rule_data(case), events, fields)
    agreeing = {target: names for target, names in found.items() if (case.id, target) not in KNOWN_WRONG}
    assert len(set(agreeing.values())) <= 1, agreeing
    assert set(found) | case.refused_by == set(RUNNABLE)
