"""Data Needed, logging policy and trigger loading, and linking them to rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from atc.link.data_needed import link_data_needed
from atc.link.logging_policies import link_kind as link_policies
from atc.link.triggers import link_triggers
from atc.load.attack import load_snapshot
from atc.load.data_needed import load_data_needed
from atc.load.knowledge_base import Loading
from atc.load.logging_policies import load_logging_policies
from atc.load.triggers import load_triggers
from atc.model import DataNeeded, KnowledgeBase, LoggingPolicy, LogSource, Problem, Rule, TriggerRef

KB = Path(__file__).parent / "fixtures" / "kb"
CORPORA = Path(__file__).resolve().parents[2] / "shared" / "corpora"

DN_5145 = "DN_0032_5145_network_share_object_was_accessed_detailed"
DN_5140 = "DN_0033_5140_network_share_object_was_accessed"
DN_4688 = "DN_0002_4688_windows_process_creation_with_commandline"
DN_SYSMON_1 = "DN_0003_1_windows_sysmon_process_creation"
DN_AUDITD = "DN_0901_linux_auditd_execve"
DN_CLOUDTRAIL = "DN_0902_aws_cloudtrail_management_events"


def make_rule(
    detection: dict,
    *,
    product: str | None = None,
    service: str | None = None,
    category: str | None = None,
    tags: list[str] | None = None,
    event_ids: list[int] | None = None,
) -> Rule:
    """A Rule as the rule loader would build it (fields with modifiers stripped)."""
    fields = sorted({str(k).split("|")[0] for sel in detection.values() if isinstance(sel, dict) for k in sel})
    return Rule(
        path=Path("x.yml"),
        source_text="",
        data={"detection": detection},
        id="r",
        title="r",
        slug="r",
        tags=tags or [],
        logsource=LogSource(product, service, category),
        fields=fields,
        event_ids=event_ids or [],
    )


def linked(rule: Rule, items: dict[str, DataNeeded]) -> Rule:
    """The rule after Data Needed linking."""
    link_data_needed([rule], items)
    return rule


@pytest.fixture(scope="module")
def kb_items() -> dict[str, DataNeeded]:
    problems: list[Problem] = []
    policies = load_logging_policies([KB / "logging_policies"], problems)
    items = load_data_needed([KB / "data_needed"], problems, Loading({"logging_policy": policies}))
    assert problems == []
    return items


@pytest.fixture(scope="module")
def kb_triggers() -> tuple[dict, list[Problem]]:
    problems: list[Problem] = []
    return load_triggers([KB / "atomics"], problems), problems


# --- loading Data Needed -------------------------------------------------------------------------


def test_atc_format_item_loads_unchanged(kb_items):
    item = kb_items[DN_5145]
    assert item.title == DN_5145
    assert item.path.name == f"{DN_5145}.yml"
    assert item.description.startswith("A file or folder on a network share was accessed")
    assert (item.platform, item.type, item.channel, item.provider) == (
        "Windows",
        "Windows Log",
        "Security",
        "Microsoft-Windows-Security-Auditing",
    )
    assert item.fields[:3] == ["EventID", "Computer", "SubjectUserName"] and "RelativeTargetName" in item.fields
    assert item.logging_policies == ["LP_0029_windows_audit_detailed_file_share"]
    assert item.references == ["https://learn.microsoft.com/windows/security/threat-protection/auditing/event-5145"]
    assert "<EventID>5145</EventID>" in item.sample
    # derived from the stated facts
    assert item.logsource == LogSource("windows", "security", None)
    assert item.event_ids == [5145]


def test_derived_logsources(kb_items):
    assert kb_items[DN_SYSMON_1].logsource == LogSource("windows", "sysmon", "process_creation")
    assert kb_items[DN_SYSMON_1].event_ids == [1]
    assert kb_items[DN_AUDITD].logsource == LogSource("linux", "auditd", None)
    assert kb_items[DN_CLOUDTRAIL].logsource == LogSource("aws", "cloudtrail", None)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


ATC_ITEM = """title: {title}
description: test item
loggingpolicy: {policies}
category: {category}
platform: {platform}
type: {type}
channel: {channel}
provider: {provider}
fields:
  - EventID
sample: |
  {sample}
"""


def atc_item(
    folder: Path,
    title: str,
    *,
    platform: str = "Windows",
    channel: str = "Security",
    provider: str = "None",
    type: str = "Windows Log",
    category: str = "OS Logs",
    policies: str = "",
    sample: str = "todo",
) -> None:
    write(
        folder / f"{title}.yml",
        ATC_ITEM.format(
            title=title,
            platform=platform,
            channel=channel,
            provider=provider,
            type=type,
            category=category,
            policies=policies,
            sample=sample,
        ),
    )


def test_event_ids_come_from_sample_then_policy_then_title(tmp_path):
    write(tmp_path / "lp" / "LP_1.yml", "title: LP_1\neventID:\n  - 4698\n")
    write(tmp_path / "lp" / "LP_MANY.yml", "title: LP_MANY\neventID: [4624, 4625]\n")
    atc_item(tmp_path / "dn", "DN_1000_4697_sample_wins", sample="<EventID>7045</EventID>", policies="[LP_1]")
    atc_item(tmp_path / "dn", "DN_1001_4697_policy_wins", policies="[LP_1]")
    atc_item(tmp_path / "dn", "DN_1002_528_title_last_resort", policies="[LP_MANY]")
    atc_item(tmp_path / "dn", "DN_1003_linux_no_ids", platform="Linux", channel="auditd", provider="auditd")
    problems: list[Problem] = []
    items = load_data_needed([tmp_path / "dn"], problems, Loading({"logging_policy": load_logging_policies([tmp_path / "lp"], problems)}))
    assert problems == []
    assert items["DN_1000_4697_sample_wins"].event_ids == [7045]
    assert items["DN_1001_4697_policy_wins"].event_ids == [4698]
    assert items["DN_1002_528_title_last_resort"].event_ids == [528]  # a policy naming several ids does not decide
    assert items["DN_1003_linux_no_ids"].event_ids == []


@pytest.mark.parametrize(
    ("facts", "expected"),
    [
        ({"channel": "System", "sample": "<EventID>7045</EventID>"}, LogSource("windows", "system")),
        ({"channel": "Microsoft-Windows-PowerShell/Operational", "sample": "<EventID>4104</EventID>"}, LogSource("windows", "powershell")),
        ({"channel": "Windows PowerShell", "sample": "<EventID>400</EventID>"}, LogSource("windows", "powershell-classic")),
        (
            {"channel": "Microsoft-Windows-Sysmon/Operational", "sample": "<EventID>13</EventID>"},
            LogSource("windows", "sysmon", "registry_set"),
        ),
        ({"channel": "Microsoft-Windows-Sysmon/Operational", "sample": '{"EventID": 22}'}, LogSource("windows", "sysmon", "dns_query")),
        (
            {"channel": "Microsoft-Windows-Sysmon/Operational", "sample": "<EventID>26</EventID>"},
            LogSource("windows", "sysmon", "file_delete"),
        ),
        ({"platform": "Linux", "channel": "auth.log", "provider": "sshd", "type": "auth"}, LogSource("linux", "sshd")),
        ({"platform": "Linux", "channel": "auditd", "provider": "auditd", "type": "SYSCALL"}, LogSource("linux", "auditd")),
        ({"platform": "Linux", "channel": "queries_log", "provider": "BIND", "category": "DNS Logs"}, LogSource("linux", None, "dns")),
        ({"platform": "Unix", "channel": "syslog", "provider": "syslog"}, LogSource("unix", "syslog")),
        ({"platform": "Cloud", "channel": "SigninLogs", "provider": "Azure AD"}, LogSource("azure", "signinlogs")),
        ({"platform": "antivirus", "channel": "None", "category": "AV Alerts"}, LogSource(None, None, "antivirus")),
    ],
)
def test_logsource_derivation(tmp_path, facts, expected):
    atc_item(tmp_path, "DN_1100_item", **facts)
    problems: list[Problem] = []
    items = load_data_needed([tmp_path], problems)
    assert problems == []
    assert items["DN_1100_item"].logsource == expected


def test_linux_is_never_unix(tmp_path):
    atc_item(tmp_path, "DN_1200_linux_syslog", platform="Linux", channel="syslog", provider="syslog")
    assert load_data_needed([tmp_path], [])["DN_1200_linux_syslog"].logsource.product == "linux"


def test_wrong_types_are_problems_and_the_rest_loads(tmp_path):
    write(tmp_path / "a_bad_title.yml", "title: [not, text]\nfields: [A]\n")
    write(tmp_path / "b_bad_fields.yml", "title: DN_1300_bad_fields\nfields: CommandLine\n")
    write(tmp_path / "c_bad_logsource.yml", "title: DN_1301_bad_logsource\nlogsource: windows\n")
    write(tmp_path / "d_list.yml", "- just\n- a list\n")
    write(
        tmp_path / "e_good.yml",
        "title: DN_1302_good\nlogsource: {product: windows, service: security}\nevent_ids: [4624]\nfields: [LogonType]\n",
    )
    write(tmp_path / "f_duplicate.yml", "title: DN_1302_good\n")
    write(tmp_path / "g_mapping_in_fields.yml", "title: DN_1303_mapping\nfields:\n  - Image\n  - CommandLine: x\n")
    problems: list[Problem] = []
    items = load_data_needed([tmp_path], problems)
    assert list(items) == ["DN_1302_good"]
    assert items["DN_1302_good"].event_ids == [4624]
    by_file = {Path(p.path).name: p.message for p in problems}
    assert "'title' must be text" in by_file["a_bad_title.yml"]
    assert "'fields' must be a list of text (one '- item' line each), not text" in by_file["b_bad_fields.yml"]
    assert (
        "'fields' must be a list of text (one '- item' line each), not a list whose item 2 is a mapping"
        in by_file["g_mapping_in_fields.yml"]
    )
    assert "'logsource' must be a mapping" in by_file["c_bad_logsource.yml"]
    assert "expected a mapping" in by_file["d_list.yml"]
    assert "duplicate Data Needed id DN_1302_good" in by_file["f_duplicate.yml"]
    assert all(p.kind == "data_needed" for p in problems)


def test_logging_policies_load_and_report_bad_event_ids(tmp_path):
    write(tmp_path / "LP_bad.yml", "title: LP_bad\neventID: [4624, lots]\n")
    problems: list[Problem] = []
    policies = load_logging_policies([KB / "logging_policies", tmp_path], problems)
    policy = policies["LP_0029_windows_audit_detailed_file_share"]
    assert (policy.default, policy.volume, policy.event_ids) == ("Not configured", "High", [5145])
    assert "Audit Detailed File Share (Success, Failure)" in policy.configuration
    assert "LP_bad" not in policies
    assert len(problems) == 1 and "'eventID' must be a list of event id numbers" in problems[0].message


@pytest.mark.parametrize(
    "named, hint",
    [
        # ATC's own: DN_0026 names LP_0025_windows_audit_..., whose file is titled LP_0025_audit_...
        ("LP_0025_windows_audit_directory_service_changes", "did you mean LP_0025_audit_directory_service_changes, in "),
        ("LP_9999_nothing_alike_at_all", None),
    ],
)
def test_a_dangling_policy_name_points_at_the_closest_policy_and_its_file(tmp_path, named, hint):
    policy = LoggingPolicy("LP_0025_audit_directory_service_changes", tmp_path / "LP_0025.yml", "LP_0025_audit_directory_service_changes")
    item = DataNeeded("DN_x", tmp_path / "DN_x.yml", "DN_x", logging_policies=[named])
    kb = KnowledgeBase(attack=load_snapshot(), items={"data_needed": {"DN_x": item}, "logging_policy": {policy.id: policy}})
    link_policies(kb)
    [problem] = kb.problems
    assert problem.path == str(tmp_path / "DN_x.yml") and f"logging policy {named} is not in the knowledge base" in problem.message
    if hint:
        assert f"{hint}{tmp_path / 'LP_0025.yml'}?" in problem.message
    else:
        assert "did you mean" not in problem.message


# --- linking Data Needed -------------------------------------------------------------------------

SEED_DETECTION = {
    "selection": {"EventID": 5145, "ShareName": "\\\\*\\IPC$", "RelativeTargetName": "protected_storage"},
    "condition": "selection",
}


def test_event_id_rule_links_the_seed_item(kb_items):
    rule = linked(make_rule(SEED_DETECTION, product="windows", service="security", event_ids=[5145]), kb_items)
    assert rule.data_needed == [DN_5145]
    assert rule.data_needed_gap is None


def test_field_only_rule_picks_the_item_with_all_fields(kb_items):
    detection = {
        "selection": {"ShareName|endswith": "\\C$", "RelativeTargetName|contains": "\\Temp\\"},
        "filter": {"ProcessName": "C:\\Windows\\explorer.exe"},  # under `not`: not required
        "condition": "selection and not filter",
    }
    rule = linked(make_rule(detection, product="windows", service="security"), kb_items)
    assert rule.data_needed == [DN_5145]  # DN_0033 (5140) has ShareName but no RelativeTargetName


def test_one_selection_with_the_fields_is_enough(kb_items):
    detection = {"sel_file": {"RelativeTargetName": "x"}, "sel_other": {"NoSuchField": "y"}, "condition": "1 of sel_*"}
    assert linked(make_rule(detection, product="windows", service="security"), kb_items).data_needed == [DN_5145]


def test_a_selector_picks_the_selections_pysigma_converts(kb_items):
    """The condition is pySigma's parse tree: `1 of *` leaves out `_`-prefixed selections, as pySigma's conversion does."""
    detection = {"sel": {"NoSuchField": "y"}, "_helper": {"RelativeTargetName": "x"}, "condition": "1 of *"}
    rule = linked(make_rule(detection, product="windows", service="security"), kb_items)
    assert rule.data_needed == [] and "carries all of the fields NoSuchField" in (rule.data_needed_gap or "")
    detection["condition"] = "1 of _*"
    assert linked(make_rule(detection, product="windows", service="security"), kb_items).data_needed == [DN_5145]


def test_category_rule_links_sysmon_and_the_security_equivalent(kb_items):
    detection = {"selection": {"Image|endswith": "\\rundll32.exe", "CommandLine|contains": "javascript:"}, "condition": "selection"}
    rule = linked(make_rule(detection, product="windows", category="process_creation"), kb_items)
    assert rule.data_needed == [DN_4688, DN_SYSMON_1]


def test_category_rule_skips_the_equivalent_without_the_fields(kb_items):
    detection = {"selection": {"OriginalFileName": "RUNDLL32.EXE"}, "condition": "selection"}
    rule = linked(make_rule(detection, product="windows", category="process_creation"), kb_items)
    assert rule.data_needed == [DN_SYSMON_1]  # 4688 has no OriginalFileName


def test_selections_joined_by_and_are_all_needed(kb_items):
    detection = {
        "selection_img": {"OriginalFileName": "RUNDLL32.EXE"},
        "selection_cli": {"CommandLine|contains": "comsvcs"},
        "condition": "all of selection_*",
    }
    rule = linked(make_rule(detection, product="windows", category="process_creation"), kb_items)
    assert rule.data_needed == [DN_SYSMON_1]  # 4688 has CommandLine but not OriginalFileName


def test_a_list_selection_joined_by_and_needs_one_entry_and_the_other_selection(kb_items):
    detection = {
        "selection_img": [{"Image|endswith": "\\rundll32.exe"}, {"OriginalFileName": "RUNDLL32.EXE"}],
        "selection_cli": {"CommandLine|contains": "comsvcs"},
        "filter": {"ParentCommandLine": "x"},
        "condition": "(selection_img and selection_cli) and not filter",
    }
    rule = linked(make_rule(detection, product="windows", category="process_creation"), kb_items)
    assert rule.data_needed == [DN_4688, DN_SYSMON_1]  # Image + CommandLine is one way; the filter's field is not needed


def test_a_condition_of_negations_only_needs_the_negated_fields(kb_items):
    detection = {"filter_main_path": {"Image|contains": "\\"}, "filter_optional_null": {"Image": None}, "condition": "not 1 of filter_*"}
    rule = linked(make_rule(detection, product="windows", category="process_creation"), kb_items)
    assert rule.data_needed == [DN_4688, DN_SYSMON_1]  # both carry Image; read as needing no field it would be a loose guess


def test_sysmon_service_rule_with_event_id(kb_items):
    detection = {"selection": {"EventID": 1, "Image|endswith": "\\cmd.exe"}, "condition": "selection"}
    rule = linked(make_rule(detection, product="windows", service="sysmon", event_ids=[1]), kb_items)
    assert rule.data_needed == [DN_SYSMON_1]


def test_linux_rule(kb_items):
    detection = {"execve": {"type": "EXECVE", "a0": "cat", "a1|contains": "/etc/shadow"}, "condition": "execve"}
    rule = linked(make_rule(detection, product="linux", service="auditd"), kb_items)
    assert rule.data_needed == [DN_AUDITD]


def auditd_item(title: str, record_type: str) -> DataNeeded:
    """An auditd Data Needed item stating its record type (ATC writes EXECVE, SYSCALL, PATH as `type`)."""
    return DataNeeded(
        id=title,
        path=Path(f"{title}.yml"),
        title=title,
        logsource=LogSource("linux", "auditd"),
        type=record_type,
        fields=["type", "msg", "syscall", "a0", "a1", "a2"],
    )


def test_auditd_record_type_picks_the_item_like_an_event_id():
    items = {i.id: i for i in (auditd_item("DN_EXECVE", "EXECVE"), auditd_item("DN_SYSCALL", "SYSCALL"), auditd_item("DN_PATH", "PATH"))}
    execve = {"selection": {"type": "execve", "a0": "chattr", "a1": "-i"}, "condition": "selection"}
    assert linked(make_rule(execve, product="linux", service="auditd"), items).data_needed == ["DN_EXECVE"]
    either = {
        "sel_syscall": {"type": "SYSCALL", "syscall": "personality"},
        "sel_exec": {"type": ["EXECVE"], "a0": "sysctl"},
        "condition": "1 of sel_*",
    }
    assert linked(make_rule(either, product="linux", service="auditd"), items).data_needed == ["DN_EXECVE", "DN_SYSCALL"]
    unknown_type = {"selection": {"type": "USER_CMD", "a0": "x"}, "condition": "selection"}
    assert linked(make_rule(unknown_type, product="linux", service="auditd"), items).data_needed_gap == (
        "no Data Needed for product=linux service=auditd carries all of the fields a0, type=USER_CMD"
    )


def test_auditd_item_without_a_record_type_serves_any_pinned_type(kb_items):
    generic = auditd_item("DN_AUDITD_ANY", "auditd")
    detection = {"selection": {"type": "PATH", "a0": "/etc/ld.so.preload"}, "condition": "selection"}
    assert linked(make_rule(detection, product="linux", service="auditd"), {generic.id: generic}).data_needed == ["DN_AUDITD_ANY"]


def test_cloud_rule(kb_items):
    detection = {"selection": {"eventSource": "iam.amazonaws.com", "eventName": "CreateAccessKey"}, "condition": "selection"}
    rule = linked(make_rule(detection, product="aws", service="cloudtrail"), kb_items)
    assert rule.data_needed == [DN_CLOUDTRAIL]


@pytest.mark.parametrize(
    ("logsource", "detection", "event_ids", "gap"),
    [
        (
            ("linux", None, "process_creation"),
            {"sel": {"Image|endswith": "/nc"}, "condition": "sel"},
            [],
            "no Data Needed for product=linux category=process_creation",
        ),
        (
            ("windows", "security", None),
            {"sel": {"EventID": 4729}, "condition": "sel"},
            [4729],
            "no Data Needed for product=windows service=security lists EventID 4729",
        ),
        (
            ("windows", "security", None),
            {"sel": {"EventID": 5145, "ObjectType": "File"}, "condition": "sel"},
            [5145],
            "no Data Needed for product=windows service=security carries all of the fields ObjectType",
        ),
        (
            ("windows", "security", None),
            {"sel": {"SubjectUserName|endswith": "$"}, "condition": "sel"},
            [],
            "3 of the 3 Data Needed items for product=windows service=security fit; the rule names no EventID or distinctive field to pick among them",
        ),
        (
            (None, None, None),
            {"keywords": ["evil"], "condition": "keywords"},
            [],
            "the rule has no log source (product, service or category)",
        ),
    ],
)
def test_gap_reasons(kb_items, logsource, detection, event_ids, gap):
    rule = linked(make_rule(detection, product=logsource[0], service=logsource[1], category=logsource[2], event_ids=event_ids), kb_items)
    assert rule.data_needed == []
    assert rule.data_needed_gap == gap


def test_linking_is_deterministic_and_resets(kb_items):
    rule = make_rule(SEED_DETECTION, product="windows", service="security", event_ids=[5145])
    rule.data_needed_gap = "stale"
    link_data_needed([rule], dict(reversed(list(kb_items.items()))))
    assert (rule.data_needed, rule.data_needed_gap) == ([DN_5145], None)


# --- triggers ------------------------------------------------------------------------------------


def test_triggers_load_with_all_executor_kinds(kb_triggers):
    triggers, _ = kb_triggers
    assert list(triggers) == sorted(triggers) == ["T1021.002", "T1053.003", "T1053.005", "T1070.001", "T1078.004"]
    task = triggers["T1053.005"].tests[0]
    assert (task.executor, task.elevation_required, task.platforms) == ("command_prompt", True, ["windows"])
    assert task.input_arguments["task_name"]["default"] == "atc-test"
    assert task.cleanup_command.startswith("schtasks /delete")
    smb = triggers["T1021.002"].tests
    assert smb[1].dependency_executor == "sh" and smb[1].dependencies[0]["prereq_command"] == "which smbclient"
    assert smb[2].executor == "manual" and "Browse to" in smb[2].command


def test_broken_trigger_test_is_reported_and_the_rest_loads(kb_triggers):
    triggers, problems = kb_triggers
    assert [t.name for t in triggers["T1070.001"].tests] == ["Clear logs with wevtutil", "Clear logs with PowerShell (fixed)"]
    assert len(problems) == 2
    assert all(Path(p.path).name == "T1070.001.yaml" and p.kind == "trigger" for p in problems)
    assert "atomic test #2 ('Test with no executor')" in problems[0].message and "executor" in problems[0].message
    assert "atomic test #3 ('Clear logs with PowerShell')" in problems[1].message and "elevation_required" in problems[1].message


def test_trigger_file_level_problems(tmp_path):
    write(tmp_path / "T1001" / "T1001.yaml", "attack_technique: T1002\ndisplay_name: x\natomic_tests: []\n")
    write(tmp_path / "T1003" / "T1003.yaml", "attack_technique: T1003\ndisplay_name: x\natomic_tests: {}\n")
    write(tmp_path / "T1004" / "T1004.yaml", "attack_technique: T1004\ndisplay_name: x\natomic_tests:\n- just text\n")
    write(tmp_path / "T1004" / "src" / "other.yaml", "not: a technique\n")
    problems: list[Problem] = []
    triggers = load_triggers([tmp_path], problems)
    assert list(triggers) == ["T1004"] and triggers["T1004"].tests == []
    messages = [f"{Path(p.path).name}: {p.message}" for p in problems]
    assert any(m.startswith("T1001.yaml: 'attack_technique' is T1002") for m in messages)
    assert any(m.startswith("T1003.yaml: 'atomic_tests' must be a list") for m in messages)
    assert any(m.startswith("T1004.yaml: atomic test #1: must be a mapping") for m in messages)


def trigger_rule(product: str | None, tags: list[str]) -> Rule:
    return make_rule({"sel": {"a": 1}, "condition": "sel"}, product=product, tags=tags)


def test_parent_tag_brings_sub_techniques_for_the_rules_platform(kb_triggers):
    triggers, _ = kb_triggers
    windows = trigger_rule("windows", ["attack.persistence", "attack.t1053", "attack.s0111"])
    linux = trigger_rule("linux", ["attack.t1053"])
    link_triggers([windows, linux], triggers)
    assert windows.triggers == [TriggerRef("T1053.005", True, ("00000000-0000-4000-8000-000000000501",))]
    assert linux.triggers == [TriggerRef("T1053.003", True, ("00000000-0000-4000-8000-000000000301",))]


def test_explicit_sub_technique_tag_is_not_via_parent(kb_triggers):
    triggers, _ = kb_triggers
    rule = trigger_rule("windows", ["attack.T1053.005", "attack.t1053", "attack.t1021.002"])
    link_triggers([rule], triggers)
    assert [(r.technique_id, r.via_parent) for r in rule.triggers] == [("T1021.002", False), ("T1053.005", False)]


def test_platform_filter_leaves_out_linux_tests_of_a_windows_rule(kb_triggers):
    triggers, _ = kb_triggers
    rule = trigger_rule("windows", ["attack.t1021.002"])
    link_triggers([rule], triggers)
    assert rule.triggers == [
        TriggerRef("T1021.002", False, ("00000000-0000-4000-8000-000000000201", "00000000-0000-4000-8000-000000000203"))
    ]


def test_cloud_and_unknown_products(kb_triggers):
    triggers, _ = kb_triggers
    aws, azure, proxy, macos = (trigger_rule(p, ["attack.t1078.004"]) for p in ("aws", "azure", None, "macos"))
    link_triggers([aws, azure, proxy, macos], triggers)
    assert aws.triggers[0].test_guids == ("00000000-0000-4000-8000-000000000401",)
    assert azure.triggers[0].test_guids == ("00000000-0000-4000-8000-000000000402",)
    assert len(proxy.triggers[0].test_guids) == 2  # no product: every test is kept
    assert macos.triggers == []  # no macOS test left: the link is dropped


# --- reference corpora (skipped when ../shared/corpora is absent) --------------------------------

needs_corpora = pytest.mark.skipif(not CORPORA.is_dir(), reason="reference corpora not available")


@needs_corpora
def test_all_atomic_red_team_techniques_load():
    problems: list[Problem] = []
    triggers = load_triggers([CORPORA / "atomic-red-team" / "atomics"], problems)
    assert problems == []
    assert len(triggers) == 341
    assert sum(len(t.tests) for t in triggers.values()) == 1819
    assert all(test.guid and test.executor and test.platforms for t in triggers.values() for test in t.tests)


@needs_corpora
def test_all_atc_data_needed_load_with_a_logsource():
    root = CORPORA / "atc-data"
    problems: list[Problem] = []
    policies = load_logging_policies([root / "logging_policies"], problems)
    items = load_data_needed([root / "data_needed"], problems, Loading({"logging_policy": policies}))
    assert problems == [] or all("duplicate Data Needed id" in p.message for p in problems)  # ATC copied DN_0131's title into DN_0132
    assert len(items) + len(problems) == len(list((root / "data_needed").glob("*.yml")))
    assert len(policies) == len(list((root / "logging_policies").glob("*.yml")))
    assert all(item.logsource.product or item.logsource.category for item in items.values())
    assert all(item.logsource.product != "unix" for item in items.values() if item.platform == "Linux")
    windows = [item for item in items.values() if item.logsource.product == "windows" and item.logsource.service]
    assert all(item.event_ids for item in windows)
    assert items["DN_0032_5145_network_share_object_was_accessed_detailed"].logsource == LogSource("windows", "security")
    assert items["DN_0014_10_windows_sysmon_ProcessAccess"].logsource == LogSource("windows", "sysmon", "process_access")


def test_a_wrong_value_in_a_field_pages_only_show_leaves_that_field_out_not_the_item(tmp_path):
    """author, sample and references are shown, never used: a wrong one is a warning naming the file and the field."""
    write(
        tmp_path / "dn" / "dn.yml",
        "title: DN_1400_shown\nlogsource: {product: windows, service: security}\nfields: [A]\n"
        "author: {name: x}\nreferences: https://e.x/\nsample: [a, b]\n",
    )
    write(tmp_path / "lp" / "lp.yml", "title: LP_1400_shown\neventID: [4688]\nauthor: [{name: x}]\nsample: {a: b}\n")
    problems: list[Problem] = []
    policies = load_logging_policies([tmp_path / "lp"], problems)
    items = load_data_needed([tmp_path / "dn"], problems)
    assert list(items) == ["DN_1400_shown"] and list(policies) == ["LP_1400_shown"]
    assert items["DN_1400_shown"].fields == ["A"] and policies["LP_1400_shown"].event_ids == [4688]
    assert items["DN_1400_shown"].author is None and items["DN_1400_shown"].references == [] and items["DN_1400_shown"].sample is None
    found = sorted((Path(p.path).name, p.severity, p.message.split(" must be ")[0]) for p in problems)
    assert found == [
        ("dn.yml", "warning", "'author'"),
        ("dn.yml", "warning", "'references'"),
        ("dn.yml", "warning", "'sample'"),
        ("lp.yml", "warning", "'author'"),
        ("lp.yml", "warning", "'sample'"),
    ]
    assert all(p.message.endswith("; the field is left out") for p in problems)
