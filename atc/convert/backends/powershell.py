"""pySigma backend emitting a PowerShell Get-WinEvent pipeline that filters Windows event logs."""

from __future__ import annotations

import ipaddress
import re
from typing import ClassVar

from sigma.conditions import ConditionFieldEqualsValueExpression, ConditionNOT, ConditionValueExpression
from sigma.conversion.base import TextQueryBackend
from sigma.conversion.state import ConversionState
from sigma.exceptions import SigmaFeatureNotSupportedByBackendError
from sigma.pipelines.common import windows_logsource_mapping
from sigma.pipelines.windows.windows import windows_generic_category_channel_mapping
from sigma.processing.conditions import LogsourceCondition
from sigma.processing.pipeline import ProcessingItem, ProcessingPipeline
from sigma.processing.transformations import AddConditionTransformation, ChangeLogsourceTransformation
from sigma.rule import SigmaRule
from sigma.types import CompareOperators, SigmaRegularExpression, SigmaString, SpecialChars

from atc.convert.backends.ip_regex import ipv6_network_pattern
from atc.convert.plugins import resolve_pipelines

# Sigma fields that are properties of the EventLogRecord itself rather than EventData values.
RECORD_PROPERTIES = {"EventID": "$_.Id", "Provider_Name": "$_.ProviderName", "Channel": "$_.LogName", "Computer": "$_.MachineName"}
# Index the event's fields by name once per event, as Sigma names them (and as atc's verifier flattens EVTX JSON):
# System elements by name and their attributes as element_attribute (Level, Keywords, Security_UserID), EventData's
# named Data, its unnamed Data joined by line breaks as `Data` (the classic "Windows PowerShell" log), and the values
# under UserData. An empty element is $null, as EVTX-to-JSON renders it. `foreach` keeps $_ bound to the event.
EVENT_DATA = (
    "$x = [xml]$_.ToXml(); $d = @{}; $u = @(); "
    "foreach ($n in $x.Event.System.ChildNodes) { if ($n.InnerText) { $d[$n.LocalName] = $n.InnerText }; "
    "foreach ($a in $n.Attributes) { $d[$n.LocalName + '_' + $a.Name] = $a.Value } }; "
    "foreach ($n in $x.Event.EventData.ChildNodes) { $v = if ($n.InnerText) { $n.InnerText } else { $null }; "
    "if ($n.GetAttribute('Name')) { $d[$n.GetAttribute('Name')] = $v } else { $u += $v } }; "
    "if ($u) { $d['Data'] = $u -join \"`n\" }; "
    "foreach ($w in $x.Event.UserData.ChildNodes) { foreach ($n in $w.ChildNodes) { $d[$n.LocalName] = if ($n.InnerText) { $n.InnerText } else { $null } } };"
)
SELECT = "select TimeCreated,Id,RecordId,ProcessId,MachineName,Message"


def _quote(text: str) -> str:
    """PowerShell single-quoted string (PowerShell also treats typographic single quotes as quotes)."""
    return "'" + re.sub("['\u2018\u2019\u201a\u201b]", lambda m: m[0] * 2, text) + "'"


def _powershell_categories() -> ProcessingPipeline:
    """windows-logsources' PowerShell categories (EventID + channel service) without its Channel conditions."""
    return ProcessingPipeline(
        items=[
            ProcessingItem(transformation, rule_conditions=[LogsourceCondition(category=category, product="windows")])
            for category, info in windows_generic_category_channel_mapping.items()
            for transformation in (
                AddConditionTransformation({"EventID": info["EventID"]}),
                ChangeLogsourceTransformation(product="windows", service=info["service"], category=category),
            )
        ]
    )


def _log_names(rule: SigmaRule) -> str:
    """-LogName argument for the rule's (pipeline-processed) log source, or a pySigma error."""
    source = rule.logsource
    channels = windows_logsource_mapping.get(source.service) if source.product == "windows" else None
    if channels is None:
        spec = " ".join(
            f"{key}={value}"
            for key, value in (("product", source.product), ("category", source.category), ("service", source.service))
            if value
        )
        raise SigmaFeatureNotSupportedByBackendError(f"powershell target: no Windows event log channel for {spec or 'an empty log source'}")
    names = [channels] if isinstance(channels, str) else channels
    return ",".join(name if re.fullmatch(r"[\w/-]+", name) else _quote(name) for name in names)


class PowerShellBackend(TextQueryBackend):
    """Sigma rules as `Get-WinEvent -LogName ... | where {...} | select ...` one-liners."""

    name: ClassVar[str] = "PowerShell Get-WinEvent"
    identifier: ClassVar[str] = "atc_powershell"
    formats: ClassVar[dict[str, str]] = {"default": "Get-WinEvent pipeline"}
    own_pipelines: ClassVar[tuple[str, ...]] = ("sysmon",)  # resolved by the backend itself, named in the versions

    # -and and -or share one precedence level in PowerShell: parenthesise every sub-expression.
    parenthesize: bool = True
    group_expression: ClassVar[str] = "({expr})"
    and_token: ClassVar[str] = "-and"
    or_token: ClassVar[str] = "-or"
    eq_token: ClassVar[str] = " -eq "

    escape_char: ClassVar[str] = "`"
    wildcard_multi: ClassVar[str] = "*"
    wildcard_single: ClassVar[str] = "?"
    add_escaped: ClassVar[str] = "`[]"
    eq_expression: ClassVar[str] = "{field} -like {value}"
    case_sensitive_match_expression: ClassVar[str] = "{field} -clike {value}"
    re_expression: ClassVar[str] = "{field} -cmatch {regex}"  # Sigma regexes are case-sensitive unless (?i)
    re_escape_escape_char: bool = False  # a single-quoted string passes backslashes through to .NET unchanged
    bool_values: ClassVar[dict[bool, str | None]] = {True: "$true", False: "$false"}
    compare_op_expression: ClassVar[str] = "[double]{field} {operator} {value}"
    compare_operators: ClassVar[dict[CompareOperators, str]] = {
        CompareOperators.LT: "-lt",
        CompareOperators.LTE: "-le",
        CompareOperators.GT: "-gt",
        CompareOperators.GTE: "-ge",
    }
    field_equals_field_expression: ClassVar[str] = "{field1} -eq {field2}"
    field_null_expression: ClassVar[str] = "$null -eq {field}"
    field_exists_expression: ClassVar[str] = "$null -ne {field}"
    field_not_exists_expression: ClassVar[str] = "$null -eq {field}"
    unbound_value_num_expression: ClassVar[str] = "$_.Message -like '*{value}*'"
    unbound_value_re_expression: ClassVar[str] = "$_.Message -cmatch {value}"

    def __init__(self, processing_pipeline: ProcessingPipeline | None = None, collect_errors: bool = False, **options: object) -> None:
        """Generic Windows categories become Sysmon or PowerShell log sources with their EventID; the channel goes to -LogName.

        The sysmon pipeline is resolved by name from the registry (calling pySigma's decorated `sysmon_pipeline` can
        return whichever `@Pipeline` function was defined last).
        """
        super().__init__(processing_pipeline, collect_errors, **options)
        self.backend_processing_pipeline = resolve_pipelines(self.own_pipelines) + _powershell_categories()

    def escape_and_quote_field(self, field_name: str) -> str:
        """Record property for System fields, else the EventData value."""
        return RECORD_PROPERTIES.get(field_name) or f"$d[{_quote(field_name)}]"

    def convert_condition_field_eq_val_str(self, cond: ConditionFieldEqualsValueExpression, state: ConversionState) -> str:
        """`-like`, guarded against an absent field when the pattern matches the empty string ($null -like '*' is true)."""
        query = super().convert_condition_field_eq_val_str(cond, state)
        if all(part == SpecialChars.WILDCARD_MULTI for part in cond.value.s):
            return f"($null -ne {self.escape_and_quote_field(cond.field)} -and {query})"
        return query

    def convert_condition_field_eq_val_cidr(self, cond: ConditionFieldEqualsValueExpression, state: ConversionState) -> str:
        """IPv4 networks as address prefixes; IPv6 as a regex over every text form of its addresses (zeros, `::`)."""
        if isinstance(cond.value.network, ipaddress.IPv6Network):
            return f"{self.escape_and_quote_field(cond.field)} -match {_quote('^' + ipv6_network_pattern(cond.value.network) + '$')}"
        return super().convert_condition_field_eq_val_cidr(cond, state)

    def convert_value_str(self, s: SigmaString, state: ConversionState) -> str:
        """Wildcard pattern for -like, metacharacters escaped with a backtick, single-quoted."""
        return _quote(s.convert(self.escape_char, self.wildcard_multi, self.wildcard_single, self.add_escaped))

    def convert_value_re(self, r: SigmaRegularExpression, state: ConversionState) -> str:
        """.NET regex (inline flags such as (?i) kept), single-quoted."""
        return _quote(super().convert_value_re(r, state))

    def convert_condition_val_str(self, cond: ConditionValueExpression, state: ConversionState) -> str:
        """Field-less keyword: contained in the rendered message."""
        return f"$_.Message -like {self.convert_value_str(SigmaString('*') + cond.value + SigmaString('*'), state)}"

    def convert_condition_not(self, cond: ConditionNOT, state: ConversionState) -> str:
        """-not binds tighter than comparisons, so its operand is always parenthesised."""
        return f"-not ({self.convert_condition(cond.args[0], state)})"

    def finalize_query_default(self, rule: SigmaRule, query: str, index: int, state: ConversionState) -> str:
        """Complete Get-WinEvent pipeline reading the rule's channel(s)."""
        return f"Get-WinEvent -LogName {_log_names(rule)} | where {{ {EVENT_DATA} {query} }} | {SELECT}"
