"""Every Sigma feature case run for real (grep -P over JSON lines, SQLite) and simulated (PowerShell), positive and negative events."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from atc.convert.runner import convert_one
from atc.convert.targets import BY_KEY
from atc.verify.runners import RUNNERS, Event, VerifyError
from tests.feature_cases import CASES, Case

LOGSOURCE = {"product": "windows", "service": "security"}


def rule_data(case: Case) -> dict:
    return {"title": f"Feature case {case.id}", "logsource": LOGSOURCE, "detection": case.detection}


def verdicts(case: Case, target: str) -> tuple[str, set[str], set[str]]:
    """(status or reason, names of the events the query matched, names it should have matched)."""
    conversion = convert_one(rule_data(case), BY_KEY[target])
    if conversion.status != "ok":
        return f"refused: {conversion.error}", set(), set()
    events = [Event(f"hit{i}", fields) for i, fields in enumerate(case.hits)] + [
        Event(f"miss{i}", fields) for i, fields in enumerate(case.misses)
    ]
    names = sorted(
        {name for fields in case.hits + case.misses for name in fields}
        | {key for sel in case.detection.values() if isinstance(sel, dict) for key in sel}
    )
    rule = SimpleNamespace(fields=[name.split("|")[0] for name in names])
    try:
        matched = RUNNERS[target](conversion.query, events, rule)
    except VerifyError as exc:  # the PowerShell simulation cannot read the rendered message from JSON events
        return f"refused: {exc}", set(), set()
    return "ok", matched, {f"hit{i}" for i in range(len(case.hits))}


# Known wrong results, kept visible: (case, target) -> why.
KNOWN_WRONG = {
    **{
        (case, "powershell"): "Windows event XML writes an empty value and an absent one alike: the query reads both as $null"
        for case in ("empty-string", "null-is-absent-or-null", "not-null", "exists")
    },
}


def _params() -> list:
    return [
        pytest.param(
            case,
            target,
            id=f"{case.id}-{target}",
            marks=[pytest.mark.xfail(reason=KNOWN_WRONG[case.id, target], strict=True)] if (case.id, target) in KNOWN_WRONG else [],
        )
        for case in CASES
        for target in ("grep", "sqlite", "powershell")
    ]


@pytest.mark.parametrize(("case", "target"), _params())
def test_feature_case(case: Case, target: str) -> None:
    status, matched, expected = verdicts(case, target)
    if target in case.refused_by:
        assert status.startswith("refused: ") and len(status) > len("refused: ") + 10, status
        return
    assert status == "ok", status
    assert matched == expected
