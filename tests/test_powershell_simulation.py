"""PowerShell queries read System fields, UserData and the classic log's unnamed Data; the simulation follows PowerShell."""

from __future__ import annotations

import pytest

from atc.convert.runner import convert_one
from atc.convert.targets import BY_KEY
from atc.verify.powershell import NotSimulable, PowerShellQuery, _Condition
from atc.verify.runners import flatten

SYSTEM = {
    "Provider": {"#attributes": {"Name": "PowerShell"}},
    "EventID": 400,
    "Level": 4,
    "Keywords": "0x80000000000000",
    "Channel": "Windows PowerShell",
    "Computer": "host",
    "Security": {"#attributes": {"UserID": "S-1-5-18"}},
}


def query(detection: dict, logsource: dict) -> PowerShellQuery:
    conversion = convert_one({"title": "t", "logsource": logsource, "detection": {**detection, "condition": "sel"}}, BY_KEY["powershell"])
    assert conversion.status == "ok", conversion.error
    return PowerShellQuery(conversion.query)


def test_classic_powershell_log_reads_the_unnamed_data() -> None:
    """Events of the "Windows PowerShell" log carry unnamed <Data> elements; rules search them as `Data`."""
    simulated = query({"sel": {"Data|contains": "HostApplication=powershell -nop"}}, {"product": "windows", "category": "ps_classic_start"})
    assert simulated.logs == {"windows powershell"}
    start = {"Event": {"System": SYSTEM, "EventData": {"Data": ["Available", "None", "\tHostApplication=powershell -nop -w hidden"]}}}
    other = {"Event": {"System": SYSTEM, "EventData": {"Data": ["Available", "None", "\tHostApplication=powershell"]}}}
    assert simulated.matches(flatten(start)) and not simulated.matches(flatten(other))


def test_system_fields_are_read_from_the_system_element_not_event_data() -> None:
    simulated = query({"sel": {"Level": 4, "Security_UserID": "S-1-5-18"}}, {"product": "windows", "service": "powershell-classic"})
    condition = simulated.condition.tokens
    assert ("field", "'Level'") in condition and ("field", "'Security_UserID'") in condition
    assert simulated.matches(flatten({"Event": {"System": SYSTEM, "EventData": {"Data": ["x"]}}}))
    assert not simulated.matches(flatten({"Event": {"System": {**SYSTEM, "Level": 2}, "EventData": {"Data": ["x"]}}}))


def test_user_data_values_are_read() -> None:
    """Log-cleared (1102) and many service events put their values under UserData, wrapped in one element."""
    simulated = query({"sel": {"SubjectUserName": "alice"}}, {"product": "windows", "service": "security"})
    system = {**SYSTEM, "Channel": "Security", "EventID": 1102}
    cleared = {"Event": {"System": system, "UserData": {"LogFileCleared": {"SubjectUserName": "ALICE", "SubjectDomainName": "D"}}}}
    assert simulated.matches(flatten(cleared))
    assert not simulated.matches(flatten({"Event": {"System": system, "UserData": {"LogFileCleared": {"SubjectUserName": "bob"}}}}))


def test_the_channel_must_be_one_the_query_reads() -> None:
    simulated = query({"sel": {"Data|contains": "x"}}, {"product": "windows", "service": "powershell-classic"})
    assert simulated.matches({"Channel": "Windows PowerShell", "Data": "x"})
    assert not simulated.matches({"Channel": "Security", "Data": "x"})


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ("$true -or $false -and $false", False),  # one precedence level, left to right: ($true -or $false) -and $false
        ("$false -and $false -or $true", True),
        ("-not ($false) -and $true", True),
        ("$null -like '*'", True),  # why the backend guards '*' with $null -ne
        ("'a[b' -like 'a`[b'", True),
        ("'abc' -like 'a[a-c]c'", True),
        ("'ABC' -clike 'abc'", False),
        ("'4688' -eq 4688", True),
        ("[double]'x' -gt 1", False),  # a conversion error: the event is not output
    ],
)
def test_the_simulation_follows_powershell_semantics(condition: str, expected: bool) -> None:
    try:
        assert _Condition(condition).evaluate({}) is expected
    except Exception as exc:  # the ScriptError case is reported by PowerShellQuery.matches as "not output"
        assert not expected and type(exc).__name__ == "ScriptError"


def test_the_rendered_message_cannot_be_simulated() -> None:
    conversion = convert_one(
        {"title": "t", "logsource": {"product": "windows", "service": "security"}, "detection": {"kw": ["x"], "condition": "kw"}},
        BY_KEY["powershell"],
    )
    with pytest.raises(NotSimulable, match="rendered message"):
        PowerShellQuery(conversion.query)
