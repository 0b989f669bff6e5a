"""The project's own pySigma backends: PowerShell, grep -P (run with the real grep), Graylog and X-Pack Watcher."""

from __future__ import annotations

import json
import shlex
import subprocess
from pathlib import Path

import pytest
import yaml
from sigma.collection import SigmaCollection
from sigma.exceptions import SigmaFeatureNotSupportedByBackendError
from sigma.pipelines.elasticsearch.windows import ecs_windows
from sigma.rule import SigmaRule

from atc.convert.backends import GraylogBackend, GrepBackend, LuceneBackend, PowerShellBackend, WatcherBackend
from atc.convert.backends.powershell import EVENT_DATA

SEED = r"""
title: Suspicious PsExec Execution
id: c462f537-a1e3-41a6-b5fc-b2c2cef9bf82
description: detects execution of psexec or paexec with renamed service name, this rule helps to filter out the noise if psexec is used for legit purposes or if attacker uses a different psexec client other than sysinternal one
author: Samir Bousseaden
date: 2019/04/03
references:
    - https://blog.menasec.net/2019/02/threat-hunting-3-detecting-psexec.html
tags:
    - attack.lateral_movement
    - attack.t1077           # an old one
    - attack.t1021.002
logsource:
    product: windows
    service: security
    definition: 'The advanced audit policy setting "Object Access > Audit Detailed File Share" must be configured for Success/Failure'
detection:
    selection1:
        EventID: 5145
        ShareName: \\*\IPC$
        RelativeTargetName:
            - '*-stdin'
            - '*-stdout'
            - '*-stderr'
    selection2:
        EventID: 5145
        ShareName: \\*\IPC$
        RelativeTargetName: 'PSEXESVC*'
    condition: selection1 and not selection2
falsepositives:
    - nothing observed so far
level: high
"""


def seed() -> SigmaRule:
    return SigmaRule.from_yaml(SEED)


def make_rule(detection: dict, logsource: dict | None = None, title: str = "Test rule") -> SigmaRule:
    """A fresh rule with the given detection (YAML-equivalent dict)."""
    data = {"title": title, "logsource": logsource or {"product": "windows", "service": "security"}, "detection": detection}
    return SigmaRule.from_yaml(yaml.safe_dump(data))


def grep_lines(command: str, lines: list[str], tmp_path: Path) -> list[str]:
    """Run the generated shell command with the real grep over a JSON-lines file; the lines it prints."""
    log = tmp_path / "events.jsonl"
    log.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    result = subprocess.run(["sh", "-c", f"{command} {shlex.quote(str(log))}"], capture_output=True, text=True)
    assert result.returncode in (0, 1), f"grep rejected the pattern: {result.stderr}\n{command}"
    return result.stdout.splitlines()


def event(**fields: object) -> str:
    return json.dumps(fields)


# --- grep -----------------------------------------------------------------------------------------


SHARE = "\\\\*\\IPC$"  # the share name as Windows logs it: \\*\IPC$


def test_grep_seed_selects_renamed_psexec_pipes_only(tmp_path: Path) -> None:
    command = GrepBackend().convert_rule(seed())[0]
    assert command.startswith("grep -P '(?i)(?(DEFINE)") and command.endswith("'")
    assert "PSEXESVC[-+.\\w]" not in command  # no bare-scalar alternative for a value no number or boolean can spell
    hit = event(EventID=5145, ShareName=SHARE, RelativeTargetName="svc123-stdin")
    nested = json.dumps(
        {"Event": {"System": {"EventID": "5145"}, "EventData": {"ShareName": SHARE, "RelativeTargetName": "RemCom_x-STDOUT"}}}
    )
    spaced = '{"EventID" : 5145, "ShareName" : ' + json.dumps(SHARE) + ', "RelativeTargetName" : "a-stderr"}'
    misses = [
        event(EventID=5145, ShareName=SHARE, RelativeTargetName="PSEXESVC"),
        event(EventID=5145, ShareName=SHARE, RelativeTargetName="PSEXESVC-HOST-1234-stdin"),
        event(EventID=4624, ShareName=SHARE, RelativeTargetName="svc123-stdin"),
        event(EventID=51450, ShareName=SHARE, RelativeTargetName="svc123-stdin"),
        event(EventID=5145, ShareName="\\\\*\\ADMIN$", RelativeTargetName="svc123-stdin"),
        event(EventID=5145, ShareName=SHARE, RelativeTargetName="svc123-stdin.txt"),
    ]
    assert grep_lines(command, [hit, nested, spaced, *misses], tmp_path) == [hit, nested, spaced]


def test_grep_seed_has_no_unknown_letter_escapes() -> None:
    command = GrepBackend().convert_rule(seed())[0]
    assert "\\I" not in command.replace("\\\\", "")  # the old tool's `\IPC` made grep -P fail


GREP_CASES = [
    pytest.param(
        {"sel": {"CommandLine|re": r"\s-enc(odedcommand)?\s+[A-Za-z0-9+/=]{8,}"}, "condition": "sel"},
        [event(CommandLine="powershell.exe -enc SQBFAFgAIAAoAE4A")],
        [event(CommandLine="powershell.exe -ENC SQBFAFgAIAAoAE4A"), event(CommandLine="powershell.exe -enc abc")],
        id="regex-case-sensitive",
    ),
    pytest.param(
        {"sel": {"Image|re|i": r"^c:\\windows\\.*\\cmd\.exe$"}, "condition": "sel"},  # one backslash, as on the decoded value
        [event(Image="C:\\Windows\\System32\\cmd.exe")],
        [event(Image="D:\\Windows\\System32\\cmd.exe"), event(Image="C:\\Windows\\System32\\cmd.exe.bak")],
        id="regex-anchored-ignorecase",
    ),
    pytest.param(
        {
            "sel": {
                "Image|endswith": "\\rundll32.exe",
                "CommandLine|contains": ["javascript:", "it's"],
                "ParentImage|startswith": "C:\\Program Files",
            },
            "condition": "sel",
        },
        [event(Image="C:\\Windows\\RUNDLL32.EXE", CommandLine='x "It\'s" y', ParentImage="c:\\program files\\a.exe")],
        [
            event(Image="C:\\Windows\\rundll32.exe.bak", CommandLine="javascript:x", ParentImage="C:\\Program Files\\a"),
            event(Image="C:\\Windows\\rundll32.exe", CommandLine="vbscript:x", ParentImage="C:\\Program Files\\a"),
            event(Image="C:\\Windows\\rundll32.exe", CommandLine="javascript:x", ParentImage="D:\\C:\\Program Files\\a"),
        ],
        id="contains-startswith-endswith-quote",
    ),
    pytest.param(
        {"sel": {"CommandLine|contains|all": ["-nop", "-w hidden"], "Hash": ["ab?d", "x.y*"]}, "condition": "sel"},
        [event(CommandLine="p -NoP -W Hidden", Hash="abcd"), event(CommandLine="-w hidden -nop", Hash="X.Yz")],
        [
            event(CommandLine="p -nop", Hash="abcd"),
            event(CommandLine="-nop -w hidden", Hash="abccd"),
            event(CommandLine="-nop -w hidden", Hash="xzy"),
        ],
        id="all-lists-wildcards",
    ),
    pytest.param(
        {"keywords": ["mimikatz", "sekurlsa::*"], "condition": "keywords"},
        [event(Message="found MIMIKATZ here"), event(Data={"x": "sekurlsa::logonpasswords"})],
        [event(Message="mimi katz")],
        id="keywords",
    ),
    pytest.param(
        {
            "selection_a": {"EventID": 1},
            "selection_b": {"EventID": 3},
            "filter": {"User": "SYSTEM"},
            "condition": "1 of selection* and not filter",
        },
        [event(EventID="1", User="alice"), event(EventID=3)],
        [event(EventID=1, User="system"), event(EventID=2, User="alice"), event(EventID=13, User="alice")],
        id="one-of-selection",
    ),
    pytest.param(
        {
            "a": {"EventID": 4688},
            "b": {"NewProcessName|endswith": "\\whoami.exe"},
            "c": {"SubjectUserName|endswith": "$"},
            "d": {"TokenElevationType": "%%1937"},
            "condition": "a and not (b or not (c and not d))",
        },
        [event(EventID=4688, NewProcessName="x\\net.exe", SubjectUserName="HOST$", TokenElevationType="%%1936")],
        [
            event(EventID=4688, NewProcessName="x\\whoami.exe", SubjectUserName="HOST$", TokenElevationType="%%1936"),
            event(EventID=4688, NewProcessName="x\\net.exe", SubjectUserName="bob", TokenElevationType="%%1936"),
            event(EventID=4688, NewProcessName="x\\net.exe", SubjectUserName="HOST$", TokenElevationType="%%1937"),
        ],
        id="nested-not-or",
    ),
    pytest.param(
        {"sel": {"ParentImage": None, "Enabled": True, "Name|cased": "Admin"}, "condition": "sel"},
        [event(Enabled=True, Name="Admin"), event(ParentImage=None, Enabled="true", Name="Admin")],
        [event(ParentImage="x", Enabled=True, Name="Admin"), event(Enabled=False, Name="Admin"), event(Enabled=True, Name="admin")],
        id="null-bool-cased",
    ),
]


@pytest.mark.parametrize(("detection", "hits", "misses"), GREP_CASES)
def test_grep_patterns_run_in_real_grep(detection: dict, hits: list[str], misses: list[str], tmp_path: Path) -> None:
    command = GrepBackend().convert_rule(make_rule(detection))[0]
    assert grep_lines(command, hits + misses, tmp_path) == hits


@pytest.mark.parametrize(
    "detection",
    [
        {"sel": {"SourceUser|fieldref": "TargetUser"}, "condition": "sel"},
        {"sel": {"Count|gt": 5}, "condition": "sel"},
        {"sel": {"User|expand": "%Admins%"}, "condition": "sel"},
        {"sel": {"CommandLine|re": r"\bnet\b"}, "condition": "sel"},  # a word boundary on JSON-escaped text
        {"sel": {"CommandLine|re": "(a)\\1"}, "condition": "sel"},  # a backreference
        {"sel": {"CommandLine|re": "(?<=x)y"}, "condition": "sel"},  # a lookbehind
        {"sel": {"CommandLine|re": "a{100000}"}, "condition": "sel"},  # more than PCRE repeats
        {"sel": {"CommandLine|re|m": "^x"}, "condition": "sel"},  # ^ after a line break
    ],
)
def test_grep_unsupported_features_raise_a_pysigma_error(detection: dict) -> None:
    with pytest.raises(SigmaFeatureNotSupportedByBackendError, match="grep target"):
        GrepBackend().convert_rule(make_rule(detection))


def test_grep_refuses_patterns_too_large_for_pcre(tmp_path: Path) -> None:
    hashes = [f"{i:064x}" for i in range(2_000)]  # an IOC list like SigmaHQ's driver rules
    rule = make_rule({"sel": {"Hashes|contains": hashes}, "condition": "sel"})
    with pytest.raises(SigmaFeatureNotSupportedByBackendError, match="more than grep -P compiles"):
        GrepBackend().convert_rule(rule)


# --- PowerShell -----------------------------------------------------------------------------------


def test_powershell_seed_structure() -> None:
    query = PowerShellBackend().convert_rule(seed())[0]
    assert query.startswith("Get-WinEvent -LogName Security | where { $x = [xml]$_.ToXml(); $d = @{}; ")
    assert query.endswith(" } | select TimeCreated,Id,RecordId,ProcessId,MachineName,Message")
    for part in ("$x.Event.System.ChildNodes", "$x.Event.EventData.ChildNodes", "$x.Event.UserData.ChildNodes", "$d['Data'] = $u -join"):
        assert part in query
    assert query.count("$_.Id -eq 5145") == 2
    for suffix in ("stdin", "stdout", "stderr"):
        assert f"$d['RelativeTargetName'] -like '*-{suffix}'" in query
    assert " -or ".join(f"$d['RelativeTargetName'] -like '*-{s}'" for s in ("stdin", "stdout", "stderr")) in query
    assert query.count("$d['ShareName'] -like '\\*\\IPC$'") == 2
    assert "-and (-not ($_.Id -eq 5145 -and $d['ShareName'] -like '\\*\\IPC$' -and $d['RelativeTargetName'] -like 'PSEXESVC*'))" in query
    condition = query.split(EVENT_DATA, 1)[1]
    assert condition.count("(") == condition.count(")")


def test_powershell_sysmon_process_creation() -> None:
    rule = make_rule({"sel": {"Image|endswith": "\\cmd.exe"}, "condition": "sel"}, {"product": "windows", "category": "process_creation"})
    query = PowerShellBackend().convert_rule(rule)[0]
    assert query.startswith("Get-WinEvent -LogName Microsoft-Windows-Sysmon/Operational | where {")
    assert "$_.Id -eq 1 -and $d['Image'] -like '*\\cmd.exe'" in query


def test_powershell_script_block_category_reads_both_powershell_channels() -> None:
    rule = make_rule(
        {"sel": {"ScriptBlockText|contains": "Invoke-Mimikatz"}, "condition": "sel"}, {"product": "windows", "category": "ps_script"}
    )
    query = PowerShellBackend().convert_rule(rule)[0]
    assert query.startswith("Get-WinEvent -LogName Microsoft-Windows-PowerShell/Operational,PowerShellCore/Operational | ")
    assert "$_.Id -eq 4104 -and $d['ScriptBlockText'] -like '*Invoke-Mimikatz*'" in query


def test_powershell_escapes_quotes_and_wildcard_metacharacters() -> None:
    rule = make_rule(
        {
            "sel": {"CommandLine|contains": ["it's", "[x]", "a`b", "lit\\*eral"], "Image|re": "(?i)\\\\cmd\\.exe$"},
            "kw": ["mimikatz"],
            "filter": {"ParentImage": None},
            "condition": "sel and kw and not filter",
        }
    )
    query = PowerShellBackend().convert_rule(rule)[0]
    for pattern in ("'*it''s*'", "'*`[x`]*'", "'*a``b*'", "'*lit`*eral*'"):
        assert f"$d['CommandLine'] -like {pattern}" in query
    assert "$d['Image'] -cmatch '(?i)\\\\cmd\\.exe$'" in query
    assert "$_.Message -like '*mimikatz*'" in query
    assert "-not ($null -eq $d['ParentImage'])" in query


def test_powershell_rejects_non_windows_log_sources() -> None:
    rule = make_rule({"sel": {"Image|endswith": "/bash"}, "condition": "sel"}, {"product": "linux", "category": "process_creation"})
    with pytest.raises(SigmaFeatureNotSupportedByBackendError) as raised:
        PowerShellBackend().convert_rule(rule)
    assert str(raised.value) == "powershell target: no Windows event log channel for product=linux category=process_creation"


# --- Graylog --------------------------------------------------------------------------------------


def test_graylog_seed() -> None:
    assert GraylogBackend().convert_rule(seed()) == [
        "(EventID:5145 AND ShareName:\\\\*\\\\IPC$ AND (RelativeTargetName:(*\\-stdin OR *\\-stdout OR *\\-stderr)))"
        " AND (NOT (EventID:5145 AND ShareName:\\\\*\\\\IPC$ AND RelativeTargetName:PSEXESVC*))"
    ]


def test_graylog_escapes_specials_and_expands_cidr_on_string_fields() -> None:
    rule = make_rule({"sel": {"CommandLine|contains": "a:b (c)", "IpAddress|cidr": ["10.0.0.0/8", "2001:db8::/32"]}, "condition": "sel"})
    query = GraylogBackend().convert_rule(rule)[0]
    assert "CommandLine:*a\\:b\\ \\(c\\)*" in query
    assert "IpAddress:(10.*)" in query and "IpAddress:(2001\\:db8\\:*)" in query


# --- X-Pack Watcher -------------------------------------------------------------------------------


def split_watch(command: str) -> tuple[str, dict]:
    """The curl line and the parsed watch body of one generated command."""
    head, _, rest = command.partition("\n")
    body, _, tail = rest.rpartition("\n")
    assert tail == "EOF"
    return head, json.loads(body)


def test_watcher_seed_watch() -> None:
    head, watch = split_watch(WatcherBackend(ecs_windows()).convert_rule(seed())[0])
    assert head == (
        "curl -s -XPUT -H 'Content-Type: application/json' --data-binary @- "
        "localhost:9200/_watcher/watch/c462f537-a1e3-41a6-b5fc-b2c2cef9bf82 <<'EOF'"
    )
    lucene = LuceneBackend(ecs_windows()).convert_rule(seed())[0]
    assert watch["metadata"] == {
        "title": "Suspicious PsExec Execution",
        "description": seed().description,
        "tags": ["attack.lateral_movement", "attack.t1077", "attack.t1021.002"],
        "query": lucene,
    }
    assert watch["trigger"] == {"schedule": {"interval": "30m"}}
    assert watch["input"]["search"]["request"] == {
        "body": {
            "size": 100,  # the mail lists the hits (size 0 would leave ctx.payload.hits.hits empty)
            "sort": [{"@timestamp": {"order": "desc"}}],
            "query": {
                "bool": {
                    "must": [{"query_string": {"query": lucene, "analyze_wildcard": True}}],
                    "filter": {"range": {"@timestamp": {"gte": "now-30m/m"}}},  # winlogbeat's event time field
                }
            },
        },
        "indices": ["winlogbeat-*"],
    }
    assert watch["condition"] == {"compare": {"ctx.payload.hits.total": {"not_eq": 0}}}
    email = watch["actions"]["send_email"]["email"]
    assert watch["actions"]["send_email"]["throttle_period"] == "15m"
    assert email["subject"] == "Sigma Rule 'Suspicious PsExec Execution'"
    assert email["body"] == "Hits:\n{{#ctx.payload.hits.hits}}{{_source}}\n" + "=" * 80 + "\n{{/ctx.payload.hits.hits}}"
    assert (email["profile"], email["from"], email["to"]) == ("standard", "root@localhost", "root@localhost")
    assert email["attachments"] == {"data.json": {"data": {"format": "json"}}}


@pytest.mark.parametrize("backend", [LuceneBackend(ecs_windows()), GraylogBackend()], ids=["es-qs", "graylog"])
def test_lucene_values_with_line_breaks_stay_one_term(backend: object) -> None:
    """Upstream escapes only the space: `a<LF>b` became two terms. Whitespace is now escaped or inside a phrase."""
    rule = make_rule({"sel": {"CommandLine": "a\nb", "Image|contains": "x\ty"}, "condition": "sel"})
    query = backend.convert_rule(rule)[0]
    assert '"a\\\nb"' in query and "*x\\\ty*" in query  # a phrase, and a backslash before each line break and tab
    assert all(line.endswith("\\") for line in query.split("\n")[:-1]), query


def test_watcher_is_the_default_format_and_survives_shell_characters() -> None:
    text = SEED.replace("Suspicious PsExec Execution", "It's $HOME `x`").replace("PSEXESVC*", "EOF")
    backend = WatcherBackend(ecs_windows())
    by_default = backend.convert(SigmaCollection.from_yaml(text))
    assert by_default == backend.convert(SigmaCollection.from_yaml(text), "watcher")
    head, watch = split_watch(by_default)
    assert head.endswith("<<'EOF'")
    assert watch["metadata"]["title"] == "It's $HOME `x`"
    assert watch["metadata"]["query"] == LuceneBackend(ecs_windows()).convert_rule(SigmaRule.from_yaml(text))[0]


# --- all four -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("backend", "identifier"),
    [
        (PowerShellBackend(), "atc_powershell"),
        (GrepBackend(), "atc_grep"),
        (GraylogBackend(), "atc_graylog"),
        (WatcherBackend(ecs_windows()), "atc_watcher"),
    ],
)
def test_backend_reused_across_fresh_rules_gives_one_stable_query(backend: object, identifier: str) -> None:
    first = backend.convert_rule(seed())
    assert len(first) == 1 and first == backend.convert_rule(seed())
    assert backend.identifier == identifier and backend.name and backend.default_format in backend.formats
