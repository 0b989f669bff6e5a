"""Sigma feature cases: one detection each, with events it must match and events it must not (flat Sigma fields).

Each case names the targets that are expected to refuse it (an honest "not convertible" with a reason); every other
runnable target must convert it and give exactly the expected verdicts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

Event = dict[str, Any]


@dataclass(frozen=True)
class Case:
    id: str
    detection: dict
    hits: list[Event]
    misses: list[Event]
    refused_by: frozenset[str] = field(default_factory=frozenset)  # targets that must refuse (or cannot check), with a reason


def case(id: str, detection: dict, hits: list[Event], misses: list[Event], refused_by: tuple[str, ...] = ()) -> Case:
    return Case(id, {**detection, "condition": detection.get("condition", "sel")}, hits, misses, frozenset(refused_by))


BS = "\\"
CASES: list[Case] = [
    # --- strings and wildcards
    case(
        "equals-ignores-case",
        {"sel": {"Image": "C:\\Windows\\cmd.exe"}},
        [{"Image": "c:\\windows\\CMD.EXE"}],
        [{"Image": "C:\\Windows\\cmd.exe.bak"}, {"Image": "X C:\\Windows\\cmd.exe"}, {}],
    ),
    case(
        "contains",
        {"sel": {"CommandLine|contains": "-enc "}},
        [{"CommandLine": "powershell -ENC abc"}],
        [{"CommandLine": "powershell -enc"}, {"Other": "-enc x"}],
    ),
    case(
        "startswith",
        {"sel": {"CommandLine|startswith": "cmd /c"}},
        [{"CommandLine": "CMD /C dir"}],
        [{"CommandLine": " cmd /c dir"}, {"CommandLine": "x cmd /c"}],
    ),
    case(
        "endswith",
        {"sel": {"Image|endswith": "\\rundll32.exe"}},
        [{"Image": "C:\\Windows\\RUNDLL32.EXE"}],
        [{"Image": "C:\\Windows\\rundll32.exe "}, {"Image": "rundll32.exe"}],
    ),
    case(
        "wildcard-single-and-multi",
        {"sel": {"Hash": ["ab?d", "x.y*"]}},
        [{"Hash": "abcd"}, {"Hash": "X.Yz"}],
        [{"Hash": "abccd"}, {"Hash": "xzy"}, {"Hash": 'ab"d"x'}],
    ),
    case(
        "single-wildcard-is-one-decoded-character",
        {"sel": {"Path": "a?b"}},
        [{"Path": "a\\b"}, {"Path": 'a"b'}, {"Path": "a\nb"}],
        [{"Path": "a\\\\b"}, {"Path": "ab"}],
    ),
    case(
        "escaped-wildcards-are-literal",
        {"sel": {"CommandLine|contains": "\\*\\?"}},
        [{"CommandLine": "dir *?"}],
        [{"CommandLine": "dir ab"}, {"CommandLine": "dir *"}],
    ),
    case(
        "wildcards-stay-in-the-field",
        {"sel": {"CommandLine": "*evil*"}},
        [{"CommandLine": "an evil one", "User": "x"}],
        [{"CommandLine": "fine", "User": "evil"}, {"User": "evil", "CommandLine": "ok"}],
    ),
    case(
        "backslashes-and-quotes",
        {"sel": {"CommandLine|contains": '\\"C:\\Temp\\"'}},
        [{"CommandLine": 'run \\"C:\\Temp\\" now'}],
        [{"CommandLine": 'run "C:\\Temp" now'}, {"CommandLine": "run C:\\Temp"}],
    ),
    case(
        "value-ending-in-space",
        {"sel": {"CommandLine|endswith": "-w hidden "}},
        [{"CommandLine": "p -w hidden "}],
        [{"CommandLine": "p -w hidden"}],
    ),
    case(
        "value-with-line-break",
        {"sel": {"ScriptBlockText|contains": "a\nb"}},
        [{"ScriptBlockText": "x a\nb y"}],
        [{"ScriptBlockText": "x a b y"}, {"ScriptBlockText": "x a\\nb y"}],
    ),
    case("empty-string", {"sel": {"Description": ""}}, [{"Description": ""}], [{"Description": "x"}, {}, {"Description": None}]),
    case(
        "all-modifier",
        {"sel": {"CommandLine|contains|all": ["-nop", "-w hidden"]}},
        [{"CommandLine": "p -NoP -W Hidden"}],
        [{"CommandLine": "p -nop"}, {"CommandLine": "p -w hidden"}],
    ),
    case(
        "list-is-or",
        {"sel": {"Image|endswith": ["\\a.exe", "\\b.exe"]}},
        [{"Image": "C:\\a.exe"}, {"Image": "C:\\B.EXE"}],
        [{"Image": "C:\\c.exe"}],
    ),
    case("cased", {"sel": {"Name|cased": "Admin"}}, [{"Name": "Admin"}], [{"Name": "admin"}, {"Name": "ADMIN"}]),
    case("cased-contains", {"sel": {"Name|cased|contains": "dmi"}}, [{"Name": "Admin"}], [{"Name": "ADMIN"}]),
    case(
        "windash",
        {"sel": {"CommandLine|windash|contains": " -exec "}},
        [{"CommandLine": "x /exec y"}, {"CommandLine": "x -exec y"}, {"CommandLine": "x \u2013exec y"}],
        [{"CommandLine": "x exec y"}],
    ),
    case(
        "base64offset",
        {"sel": {"CommandLine|base64offset|contains": "http"}},
        [{"CommandLine": "powershell -e aHR0cDovL2V4YW1wbGU="}],
        [{"CommandLine": "powershell -e ZXhhbXBsZQ=="}],
    ),
    case(
        "wide-base64offset",
        {"sel": {"CommandLine|wide|base64offset|contains": "iex"}},
        [{"CommandLine": "-e aQBlAHgA"}],
        [{"CommandLine": "-e aWV4"}],
    ),
    case(
        "base64", {"sel": {"CommandLine|base64": "iex"}}, [{"CommandLine": "aWV4"}], [{"CommandLine": "iex"}, {"CommandLine": "aWV4Cg=="}]
    ),
    case(
        "utf16be-base64offset",
        {"sel": {"CommandLine|utf16be|base64offset|contains": "iex"}},
        [{"CommandLine": "-e AGkAZQB4"}],
        [{"CommandLine": "-e aQBlAHgA"}],
    ),
    case("placeholder", {"sel": {"User|expand": "%admins%"}}, [{"User": "x"}], [], refused_by=("grep", "sqlite", "powershell")),
    # --- Unicode
    case("unicode-case-folding", {"sel": {"User": "CAFÉ"}}, [{"User": "café"}, {"User": "Café"}], [{"User": "cafe"}]),
    case("unicode-contains", {"sel": {"Path|contains": "Überwachung"}}, [{"Path": "C:\\überwachung\\x"}], [{"Path": "C:\\uberwachung\\x"}]),
    case(
        "bidirectional-character",
        {"sel": {"FileName|contains": "\u202egpj.exe"}},
        [{"FileName": "invoice\u202egpj.exe"}],
        [{"FileName": "invoicegpj.exe"}],
    ),
    # --- numbers, booleans, null, exists
    case(
        "number",
        {"sel": {"EventID": 4688}},
        [{"EventID": 4688}, {"EventID": "4688"}],
        [{"EventID": 46880}, {"EventID": 468}, {"EventID": "4688 "}],
    ),
    case("quoted-number-in-rule", {"sel": {"EventID": "4688"}}, [{"EventID": 4688}, {"EventID": "4688"}], [{"EventID": 46880}]),
    case(
        "contains-on-a-number",
        {"sel": {"DestinationPort|endswith": "389"}},
        [{"DestinationPort": 389}, {"DestinationPort": 3389}, {"DestinationPort": "636389"}],
        [{"DestinationPort": 3390}],
    ),
    case("number-list", {"sel": {"EventID": [4624, 4625]}}, [{"EventID": 4625}], [{"EventID": 4626}]),
    case("boolean", {"sel": {"Enabled": True}}, [{"Enabled": True}, {"Enabled": "true"}], [{"Enabled": False}, {}]),
    case(
        "null-is-absent-or-null",
        {"sel": {"ParentImage": None}},
        [{"Image": "x"}, {"ParentImage": None}],
        [{"ParentImage": ""}, {"ParentImage": "x"}],
    ),
    case("not-null", {"sel": {"ParentImage": None}, "condition": "not sel"}, [{"ParentImage": ""}, {"ParentImage": "x"}], [{"Image": "x"}]),
    case("exists", {"sel": {"ParentImage|exists": True}}, [{"ParentImage": "x"}, {"ParentImage": ""}], [{"Image": "x"}]),
    case("not-exists", {"sel": {"ParentImage|exists": False}}, [{"Image": "x"}], [{"ParentImage": "x"}]),
    # --- keywords
    case(
        "keywords-match-values",
        {"keywords": ["mimikatz", "sekurlsa::*"], "condition": "keywords"},
        [{"Message": "found MIMIKATZ here"}, {"Data": "sekurlsa::logonpasswords"}],
        [{"Message": "mimi katz"}, {"mimikatz": "x"}],
        refused_by=("sqlite", "powershell"),
    ),  # PowerShell searches the rendered message, which JSON events lack
    case(
        "keywords-not-key-names",
        {"keywords": ["CommandLine"], "condition": "keywords"},
        [{"Message": "the CommandLine was"}],
        [{"CommandLine": "x"}],
        refused_by=("sqlite", "powershell"),
    ),
    # --- regular expressions
    case(
        "regex-case-sensitive",
        {"sel": {"CommandLine|re": r"\s-enc(odedcommand)?\s+[A-Za-z0-9+/=]{8,}"}},
        [{"CommandLine": "powershell.exe -enc SQBFAFgAIAAoAE4A"}],
        [{"CommandLine": "powershell.exe -ENC SQBFAFgAIAAoAE4A"}, {"CommandLine": "p -enc abc"}],
    ),
    case(
        "regex-i-flag",
        {"sel": {"Image|re|i": r"^c:\\windows\\.*\\cmd\.exe$"}},
        [{"Image": "C:\\Windows\\System32\\cmd.exe"}],
        [{"Image": "D:\\Windows\\System32\\cmd.exe"}, {"Image": "C:\\Windows\\cmd.exe.bak"}],
    ),
    case(
        "regex-backslash",
        {"sel": {"Image|re": r"\\Temp\\[^\\]+\.exe$"}},
        [{"Image": "C:\\Temp\\a.exe"}],
        [{"Image": "C:\\Temp\\x\\a.exe"}, {"Image": "C:/Temp/a.exe"}],
    ),
    case(
        "regex-quote",
        {"sel": {"CommandLine|re": r'"[a-z]+"'}},
        [{"CommandLine": 'run "abc" now'}],
        [{"CommandLine": "run abc now"}, {"CommandLine": 'run "ABC" now'}],
    ),
    case("regex-inner-anchor", {"sel": {"Image|re": "foo|bar$"}}, [{"Image": "xfoox"}, {"Image": "xbar"}], [{"Image": "xbarx"}]),
    case("regex-group-anchor", {"sel": {"Path|re": "(^|/)tmp/"}}, [{"Path": "tmp/x"}, {"Path": "/var/tmp/x"}], [{"Path": "xtmp/x"}]),
    case(
        "regex-dot-stays-in-the-field",
        {"sel": {"CommandLine|re": "^a.*z$"}},
        [{"CommandLine": "abcz"}],
        [{"CommandLine": "abc", "User": "z"}],
    ),
    case("regex-dot-and-line-break", {"sel": {"ScriptBlockText|re": "a.b"}}, [{"ScriptBlockText": "axb"}], [{"ScriptBlockText": "a\nb"}]),
    case("regex-s-flag", {"sel": {"ScriptBlockText|re|s": "a.b"}}, [{"ScriptBlockText": "a\nb"}], [{"ScriptBlockText": "ab"}]),
    case("regex-m-flag-end", {"sel": {"ScriptBlockText|re|m": "x$"}}, [{"ScriptBlockText": "ax\nb"}], [{"ScriptBlockText": "axb"}]),
    case("regex-negated-class", {"sel": {"CommandLine|re": '^[^"]+$'}}, [{"CommandLine": "plain"}], [{"CommandLine": 'has "quote"'}]),
    case("regex-unicode-class", {"sel": {"User|re": r"^\w+$"}}, [{"User": "józef"}], [{"User": "jó zef"}]),
    case(
        "regex-word-boundary",
        {"sel": {"CommandLine|re": r"\bnet\b"}},
        [{"CommandLine": "net user"}],
        [{"CommandLine": "netsh"}],
        refused_by=("grep",),
    ),
    # --- networks, comparisons, field references
    case(
        "cidr-ipv4",
        {"sel": {"DestinationIp|cidr": "10.0.0.0/8"}},
        [{"DestinationIp": "10.1.2.3"}],
        [{"DestinationIp": "110.1.2.3"}, {"DestinationIp": "11.0.0.1"}],
    ),
    case(
        "cidr-ipv6",
        {"sel": {"DestinationIp|cidr": "2001:db8::/32"}},
        [{"DestinationIp": "2001:db8::1"}, {"DestinationIp": "2001:DB8:0:0::1"}],
        [{"DestinationIp": "2001:db9::1"}, {"DestinationIp": "2001:db8::1x"}],
    ),
    case(
        "cidr-ipv6-leading-zeros",
        {"sel": {"DestinationIp|cidr": "::1/128"}},
        [{"DestinationIp": "::1"}, {"DestinationIp": "0000:0000:0000:0000:0000:0000:0000:0001"}],
        [{"DestinationIp": "::2"}, {"DestinationIp": "1::"}],
    ),
    case("numeric-comparison", {"sel": {"Count|gt": 5}}, [{"Count": 10}], [{"Count": 3}], refused_by=("grep",)),
    case(
        "numeric-comparisons",
        {"sel": {"Count|gte": 5, "Size|lt": 100, "Depth|lte": 3}},
        [{"Count": 5, "Size": 99, "Depth": 3}, {"Count": "12", "Size": "7", "Depth": "0"}],
        [
            {"Count": 4, "Size": 99, "Depth": 3},
            {"Count": 5, "Size": 100, "Depth": 3},
            {"Count": 5, "Size": 99, "Depth": 4},
            {"Size": 1, "Depth": 1},
        ],
        refused_by=("grep",),
    ),
    case(
        "timestamp-part",
        {"sel": {"UtcTime|hour": 3}},
        [{"UtcTime": "2026-03-02 03:15:00"}],
        [{"UtcTime": "2026-03-02 04:15:00"}],
        refused_by=("grep", "powershell"),
    ),
    case(
        "field-reference",
        {"sel": {"SourceUser|fieldref": "TargetUser"}},
        [{"SourceUser": "a", "TargetUser": "a"}],
        [{"SourceUser": "a", "TargetUser": "b"}],
        refused_by=("grep",),
    ),
    # --- conditions
    case(
        "one-of-and-not",
        {"sel_a": {"EventID": 1}, "sel_b": {"EventID": 3}, "filter": {"User": "SYSTEM"}, "condition": "1 of sel_* and not filter"},
        [{"EventID": "1", "User": "alice"}, {"EventID": 3}],
        [{"EventID": 1, "User": "system"}, {"EventID": 2, "User": "alice"}],
    ),
    case(
        "nested-not-or",
        {
            "a": {"EventID": 4688},
            "b": {"NewProcessName|endswith": "\\whoami.exe"},
            "c": {"SubjectUserName|endswith": "$"},
            "d": {"TokenElevationType": "%%1937"},
            "condition": "a and not (b or not (c and not d))",
        },
        [{"EventID": 4688, "NewProcessName": "x\\net.exe", "SubjectUserName": "HOST$", "TokenElevationType": "%%1936"}],
        [
            {"EventID": 4688, "NewProcessName": "x\\whoami.exe", "SubjectUserName": "HOST$", "TokenElevationType": "%%1936"},
            {"EventID": 4688, "NewProcessName": "x\\net.exe", "SubjectUserName": "bob", "TokenElevationType": "%%1936"},
        ],
    ),
]
