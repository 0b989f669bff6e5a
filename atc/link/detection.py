"""Link each rule to ATT&CK's detection model: the data components of what it reads, the strategies of its techniques.

What a rule reads is worked out from its Data Needed items (their channel, event ids and log source) or, when no
item matched, from its own Sigma log source and EventIDs. Each is a `Read`: an ATT&CK log source name
(`WinEventLog:Security`, `auditd:EXECVE`, `AWS:CloudTrail`) with an event id or a pinned value. An ATT&CK log
source (a data component's, or an analytic's) is read by the rule when the names agree, case-insensitively, and
- its channel lists event codes (`EventCode=4624, 4648`) and one of them is the read's event id; or
- its channel is a list of identifiers (`execve`, `StopInstances, TerminateInstances`, `verb=create`) and one of
  them is the read's pinned value or a value the rule's detection names (`eventName: StopInstances`).
A channel written as prose ("Unusual kinit or klist activity") describes behaviour, not data: it matches only a
detection value equal to it, or to one of its comma-separated phrases of several words
(`operationName: Add member to group`).

A rule implements an analytic of one of its techniques' detection strategies when the analytic is for the rule's
platform (from its product; any platform when it names none) and the rule reads one of the analytic's log sources.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sigma.pipelines.common import windows_logsource_mapping
from sigma.pipelines.sysmon.sysmon import sysmon_generic_logsource_eventid_mapping

from atc.link.data_needed import AUDIT_RECORD_TYPES
from atc.model import AnalyticLogSource, AttackLogSource, AttackSnapshot, DataNeeded, DetectionRef, KnowledgeBase, LogSource, Rule

_EVENT_CODES = re.compile(r"\s*EventCode\s*=", re.IGNORECASE)
_NUMBER = re.compile(r"\b\d+\b")
_SEPARATORS = re.compile(r"\s*(?:,|/|\||\bOR\b)\s*")
_IDENTIFIER = re.compile(r"[A-Za-z0-9_.:*-]+")
MAX_VALUES = 2_000  # detection values kept per rule for identifier matching
# Sigma product -> ATT&CK analytic platform
PLATFORMS = {
    "windows": "Windows",
    "linux": "Linux",
    "macos": "macOS",
    "aws": "IaaS",
    "azure": "IaaS",
    "gcp": "IaaS",
    "m365": "Office Suite",
    "okta": "Identity Provider",
    "onelogin": "Identity Provider",
    "github": "SaaS",
    "google_workspace": "SaaS",
    "kubernetes": "Containers",
    "esxi": "ESXi",
    "cisco": "Network Devices",
}
# Sigma (product, service) -> ATT&CK log source name, for products that are not Windows
SERVICE_NAMES = {
    ("aws", "cloudtrail"): "aws:cloudtrail",
    ("azure", "signinlogs"): "azure:signinlogs",
    ("azure", "activitylogs"): "azure:activity",
    ("azure", "auditlogs"): "azure:audit",
    ("gcp", "gcp.audit"): "gcp:audit",
    ("gcp", "google_workspace.admin"): "saas:googleworkspace",
    ("okta", "okta"): "saas:okta",
    ("github", "audit"): "saas:github",
    ("kubernetes", "audit"): "kubernetes:audit",
    ("linux", "syslog"): "linux:syslog",
    ("linux", "auth"): "linux:syslog",
    ("linux", "sshd"): "linux:syslog",
    ("m365", None): "m365:unified",
}
# Windows category -> channel and event ids beyond Sysmon's (pySigma's Sysmon pipeline gives those)
_WINDOWS_CATEGORY_EXTRA = {
    "process_creation": ("Security", (4688,)),
    "ps_script": ("PowerShell", (4104,)),
    "ps_module": ("PowerShell", (4103,)),
    "ps_classic_start": ("PowerShell", (400,)),
    "ps_classic_provider_start": ("PowerShell", (600,)),
    "ps_classic_script": ("PowerShell", (800,)),
}
# other products' categories -> (ATT&CK log source name, pinned identifier)
_CATEGORY_READS = {
    ("linux", "process_creation"): (("auditd:execve", "execve"),),
    ("macos", "process_creation"): (("macos:endpointsecurity", "es_event_type_notify_exec"),),
}
_AUDITD_TYPES = ("auditd:syscall", "auditd:execve", "auditd:path")


@dataclass(frozen=True)
class Read:
    """One thing a rule reads: an ATT&CK log source name (lower-case) with an event id or a pinned identifier."""

    name: str
    event_id: int | None = None
    pinned: str | None = None


@dataclass(frozen=True)
class Channel:
    """An ATT&CK channel, parsed: event codes, identifiers, or neither (prose); and its comma-separated phrases."""

    codes: frozenset[int]
    identifiers: frozenset[str]
    phrases: frozenset[str] = frozenset()  # several words, matched only by an equal detection value: "Add member to group"

    @classmethod
    def parse(cls, channel: str) -> Channel:
        """`EventCode=3, 22` -> codes {3, 22}; `connect/sendto` -> identifiers {connect, sendto}; prose -> phrases only."""
        if _EVENT_CODES.match(channel):
            return cls(frozenset(int(n) for n in _NUMBER.findall(channel)), frozenset())
        phrases = frozenset(phrase.strip().lower() for phrase in channel.split(",") if " " in phrase.strip())  # a word alone is no phrase
        pieces = [piece.split("=")[-1] for piece in _SEPARATORS.split(channel.strip()) if piece]
        if pieces and all(_IDENTIFIER.fullmatch(piece) for piece in pieces):
            return cls(frozenset(), frozenset(piece.lower() for piece in pieces) - {"none"}, phrases)
        return cls(frozenset(), frozenset(), phrases)


class ReadMatcher:
    """Decides whether a rule reads an ATT&CK log source; parsed channels are shared across rules."""

    def __init__(self) -> None:
        self._channels: dict[str, Channel] = {}

    def channel(self, text: str) -> Channel:
        """The parsed channel, parsed once."""
        found = self._channels.get(text)
        if found is None:
            found = self._channels[text] = Channel.parse(text)
        return found

    def reads(self, source: AttackLogSource | AnalyticLogSource, reads: frozenset[Read], values: frozenset[str]) -> bool:
        """Whether one of the reads (with the rule's detection values) covers the log source."""
        name = source.name.lower()
        named = [read for read in reads if read.name == name]
        if not named:
            return False
        channel = self.channel(source.channel)
        for read in named:
            if read.event_id is not None and read.event_id in channel.codes:
                return True
            if channel.identifiers and ((read.pinned or "") in channel.identifiers or channel.identifiers & values):
                return True
            if channel.phrases & values:
                return True
        return False


def windows_names(channel: str) -> tuple[str, ...]:
    """ATT&CK's names for a Windows event log channel: `WinEventLog:` + the channel, and + its short form.

    The short form drops `Microsoft-Windows-` and the log after `/`: `Microsoft-Windows-AppLocker/EXE and DLL` → AppLocker.
    """
    short = re.sub(r"^Microsoft-Windows-", "", channel).split("/")[0]
    short = {"Windows PowerShell": "PowerShell", "PowerShellCore": "PowerShell", "WMI-Activity": "WMI"}.get(short, short)
    return tuple(dict.fromkeys(f"wineventlog:{name}".lower() for name in (channel, short)))


_SERVICE_CHANNELS = {
    service: (channels,) if isinstance(channels, str) else tuple(channels) for service, channels in windows_logsource_mapping.items()
}


def logsource_reads(logsource: LogSource, event_ids: list[int], detection_types: tuple[str, ...] = ()) -> set[Read]:
    """What a Sigma log source with these event ids reads, as ATT&CK log source names."""
    product, service, category = ((value or "").lower() or None for value in (logsource.product, logsource.service, logsource.category))
    ids: list[int | None] = list(event_ids) or [None]
    reads: set[Read] = set()
    if product in (None, "windows") and service in _SERVICE_CHANNELS:
        reads |= {Read(name, eid) for channel in _SERVICE_CHANNELS[service] for name in windows_names(channel) for eid in ids}
    if product in (None, "windows") and service is None and category:
        sysmon = sysmon_generic_logsource_eventid_mapping.get(category)
        for eid in [sysmon] if isinstance(sysmon, int) else sysmon or []:
            reads.add(Read("wineventlog:sysmon", eid))
        channel, extra = _WINDOWS_CATEGORY_EXTRA.get(category, ("", ()))
        reads |= {Read(name, eid) for eid in extra for name in windows_names(channel)}
    if product == "linux" and service is None and category:
        sysmon = sysmon_generic_logsource_eventid_mapping.get(category)
        reads |= {Read("linux:sysmon", eid) for eid in ([sysmon] if isinstance(sysmon, int) else sysmon or [])}
    if service == "auditd":
        reads |= {Read(f"auditd:{kind.lower()}", None, kind.lower()) for kind in detection_types} or {Read(name) for name in _AUDITD_TYPES}
    reads |= {Read(name, None, pinned) for name, pinned in _CATEGORY_READS.get((product or "", category or ""), ())}
    name = SERVICE_NAMES.get((product or "", service)) or SERVICE_NAMES.get((product or "", None))
    if name:
        reads.add(Read(name))
    return reads


def item_reads(item: DataNeeded, rule_event_ids: list[int], rule_types: tuple[str, ...] = ()) -> set[Read]:
    """What a rule reads through one Data Needed item: its channel and event ids (those the rule names, if any).

    An auditd item stating its record type (ATC's `type: EXECVE`) reads that type, else the rule's `type` values.
    """
    ids = [eid for eid in item.event_ids if not rule_event_ids or eid in rule_event_ids] or list(rule_event_ids)
    if (item.platform or "").lower() == "windows" and item.channel:
        return {Read(name, eid) for name in windows_names(item.channel) for eid in ids or [None]}
    types = (item.type,) if (item.type or "").lower() in AUDIT_RECORD_TYPES else rule_types
    return logsource_reads(item.logsource, ids, types)


def detection_values(rule: Rule) -> tuple[frozenset[str], tuple[str, ...]]:
    """The rule's detection string values (lower-case, bounded) and its auditd `type` values."""
    values: list[str] = []
    types: list[str] = []
    stack = [rule.data.get("detection")] if isinstance(rule.data, dict) else []
    while stack and len(values) < MAX_VALUES:
        node = stack.pop()
        if isinstance(node, dict):
            for key, value in node.items():
                if str(key).split("|")[0].lower() == "type":
                    types += [v for v in (value if isinstance(value, list) else [value]) if isinstance(v, str)]
                stack.append(value)
        elif isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, str):
            values.append(node.lower())
    return frozenset(values), tuple(dict.fromkeys(types))


def rule_reads(rule: Rule, items: dict[str, DataNeeded], types: tuple[str, ...]) -> frozenset[Read]:
    """What the rule reads: through its Data Needed items, else through its own log source."""
    linked = [items[item_id] for item_id in rule.data_needed if item_id in items]
    if linked:
        return frozenset(read for item in linked for read in item_reads(item, rule.event_ids, types))
    return frozenset(logsource_reads(rule.logsource, rule.event_ids, types))


def rule_platforms(logsource: LogSource) -> frozenset[str] | None:
    """The ATT&CK platforms of a rule's product, or None (any) when it names none or an unknown one."""
    platform = PLATFORMS.get((logsource.product or "").lower())
    return frozenset({platform}) if platform else None


def counted_techniques(rule: Rule) -> list[str]:
    """The technique ids the rule's tags count for, as on the ATT&CK pages: a revoked tag for its replacement, a v19 id
    for the embedded technique it maps to, an unknown one for none."""
    ids = []
    for ref in rule.techniques:
        technique = ref.current if ref.status in ("revoked", "newer") else ref.technique
        if technique is not None:
            ids.append(technique.id)
    return list(dict.fromkeys(ids))


class DetectionLinker:
    """Links rules to data components and to the analytics of their techniques' detection strategies."""

    def __init__(self, snapshot: AttackSnapshot, items: dict[str, DataNeeded]) -> None:
        self.snapshot = snapshot
        self.items = items
        self.matcher = ReadMatcher()
        self.by_name: dict[str, list[tuple[str, AttackLogSource]]] = {}  # log source name -> (DC id, log source)
        for component in sorted(snapshot.data_components.values(), key=lambda c: c.id):
            for source in component.log_sources:
                self.by_name.setdefault(source.name.lower(), []).append((component.id, source))

    def components(self, reads: frozenset[Read], values: frozenset[str]) -> list[str]:
        """The ids of the data components with a log source the reads cover."""
        found = {
            component
            for name in {read.name for read in reads}
            for component, source in self.by_name.get(name, ())
            if self.matcher.reads(source, reads, values)
        }
        return sorted(found)

    def detections(self, rule: Rule, reads: frozenset[Read], values: frozenset[str]) -> list[DetectionRef]:
        """Per strategy of the rule's techniques, the analytics for its platform whose log sources it reads."""
        platforms = rule_platforms(rule.logsource)
        found: dict[str, DetectionRef] = {}
        for tid in counted_techniques(rule):
            for strategy in self.snapshot.strategies_for(tid):
                analytics = [self.snapshot.analytics[a] for a in strategy.analytics if a in self.snapshot.analytics]
                implements = tuple(
                    analytic.id
                    for analytic in analytics
                    if (platforms is None or platforms & set(analytic.platforms))
                    and any(self.matcher.reads(s, reads, values) for s in analytic.log_sources)
                )
                found.setdefault(strategy.id, DetectionRef(strategy.id, tid, implements))
        return sorted(found.values(), key=lambda ref: ref.strategy)

    def item_components(self, item: DataNeeded) -> list[str]:
        """The data components a Data Needed item carries, from its own channel and event ids."""
        return self.components(frozenset(item_reads(item, [])), frozenset())

    def link(self, rule: Rule) -> None:
        """Fill the rule's `data_components` and `detections`."""
        values, types = detection_values(rule)
        reads = rule_reads(rule, self.items, types)
        rule.data_components = self.components(reads, values)
        rule.detections = self.detections(rule, reads, values)


def link_kind(kb: KnowledgeBase) -> None:
    """The detection strategy kind's linker: each rule's data components and detection strategies (after its Data Needed)."""
    link_detection(kb.rules, kb.data_needed, kb.attack)


def link_detection(rules: list[Rule], items: dict[str, DataNeeded], snapshot: AttackSnapshot) -> None:
    """Set every rule's data components and detection strategies (after Data Needed and ATT&CK tags are linked)."""
    linker = DetectionLinker(snapshot, items)
    for rule in rules:
        linker.link(rule)
