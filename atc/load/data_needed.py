"""Load Data Needed items: our YAML format, a superset of Atomic Threat Coverage's (ATC) Data Needed files.

ATC's own files state where an event comes from (platform, type, channel, provider) but not the Sigma
log source nor the event ids; both are derived here from those stated facts, never from the file name.
"""

from __future__ import annotations

import re
from pathlib import Path

from sigma.pipelines.common import windows_logsource_mapping

from atc.load.fields import FieldError, event_id_list, load_unique, names, read_mapping, shown_only, text, text_list
from atc.load.knowledge_base import Loading
from atc.load.yamlfile import per_file
from atc.model import DataNeeded, LoggingPolicy, LogSource, Problem

KIND = "data_needed"

# <EventID>4688</EventID> in XML samples, "EventID": 4688 or EventID=4688 in JSON / key=value samples
_SAMPLE_EVENT_ID = re.compile(r"<EventID\b[^>]*>\s*(\d+)\s*</EventID>|\bEventI[Dd]\"?\s*[:=]\s*\"?(\d+)", re.ASCII)
_TITLE_EVENT_ID = re.compile(r"^DN_\d+_(\d+)_", re.ASCII)  # DN_0040_528_user_... -> 528
_TITLE = re.compile(r"^title:\s*['\"]?DN_", re.MULTILINE)

_PRODUCTS = {
    "windows": "windows",
    "linux": "linux",
    "unix": "unix",
    "macos": "macos",
    "office 365": "m365",
    "aws": "aws",
    "gcp": "gcp",
    "azure": "azure",
}
_CLOUD_PROVIDERS = {"azure ad": "azure"}  # ATC's "Cloud" platform names the cloud in its provider
# Sigma services per product, as Sigma spells them; an ATC channel/provider/type naming one becomes the service
_SERVICES = {
    "linux": ("auditd", "auth", "clamav", "cron", "guacamole", "sshd", "sudo", "syslog", "vsftpd"),
    "unix": ("syslog",),
    "azure": ("activitylogs", "auditlogs", "pim", "riskdetection", "signinlogs"),
    "m365": ("audit", "exchange", "threat_detection", "threat_management"),
}
_WINDOWS_CHANNELS = {
    channel.lower(): service
    for service, channels in windows_logsource_mapping.items()
    for channel in ([channels] if isinstance(channels, str) else channels)
}
# Sysmon event id -> Sigma category (the brief's table, completed with pySigma's Sysmon pipeline names)
_SYSMON_CATEGORIES = {
    1: "process_creation",
    2: "file_change",
    3: "network_connection",
    4: "sysmon_status",
    5: "process_termination",
    6: "driver_load",
    7: "image_load",
    8: "create_remote_thread",
    9: "raw_access_thread",
    10: "process_access",
    11: "file_event",
    12: "registry_add",
    13: "registry_set",
    14: "registry_rename",
    15: "create_stream_hash",
    16: "sysmon_status",
    17: "pipe_created",
    18: "pipe_created",
    19: "wmi_event",
    20: "wmi_event",
    21: "wmi_event",
    22: "dns_query",
    23: "file_delete",
    24: "clipboard_capture",
    25: "process_tampering",
    26: "file_delete",
    27: "file_block_executable",
    28: "file_block_shredding",
    29: "file_executable_detected",
    255: "sysmon_error",
}
_REGISTRY_EVENTS = {12, 13, 14}
# ATC's own category -> Sigma category, used only when no Sigma service was found
_ATC_CATEGORIES = {
    "dns logs": "dns",
    "av alerts": "antivirus",
    "antivirus alerts": "antivirus",
    "http logs": "webserver",
    "proxy logs": "proxy",
}


def recognise(head: str) -> bool:
    """Whether a YAML file's first bytes are a Data Needed item's (a title starting DN_, as ATC names them)."""
    return _TITLE.search(head) is not None


def load_data_needed(dirs: list[Path], problems: list[Problem], loading: Loading | None = None) -> dict[str, DataNeeded]:
    """Every Data Needed item below the folders, keyed by title; event ids are derived from the logging policies loaded before."""
    policies = loading.loaded.get("logging_policy", {}) if loading else {}
    return load_unique(dirs, problems, KIND, "Data Needed", lambda path: _load_item(path, problems, policies), lambda item: item.id)


@per_file(KIND)
def _load_item(path: Path, problems: list[Problem], policies: dict[str, LoggingPolicy]) -> DataNeeded | None:
    """One Data Needed file, or None with the reason recorded."""
    data = read_mapping(path, problems, KIND, "title, description, platform, channel, fields")
    if data is None:
        return None
    try:
        item = _item_from(data, path, problems)
        item.event_ids = event_id_list(data, "event_ids") or _derived_event_ids(item, policies)
        item.logsource = _stated_logsource(data) or _derive_logsource(item, text(data, "category"))
    except FieldError as exc:
        problems.append(Problem(str(path), KIND, f"{exc}; the Data Needed item is skipped"))
        return None
    return item


def _item_from(data: dict, path: Path, problems: list[Problem]) -> DataNeeded:
    """The item's stated facts, type-checked (log source and event ids are filled in afterwards)."""
    title = text(data, "title", required=True)
    return DataNeeded(
        id=title,
        path=path,
        title=title,
        description=text(data, "description") or "",
        platform=text(data, "platform"),
        type=text(data, "type"),
        channel=text(data, "channel"),
        provider=text(data, "provider"),
        fields=text_list(data, "fields"),
        logging_policies=text_list(data, "loggingpolicy"),
        references=shown_only(data, "references", text_list, problems, path, KIND) or [],
        sample=shown_only(data, "sample", text, problems, path, KIND),
        category=text(data, "category"),
        author=shown_only(data, "author", names, problems, path, KIND),
    )


def _stated_logsource(data: dict) -> LogSource | None:
    """Our format's explicit `logsource: {product, service, category}`, lower-cased; None when absent."""
    value = data.get("logsource")
    if value is None:
        return None
    if not isinstance(value, dict):
        raise FieldError("'logsource' must be a mapping with product, service and/or category")
    unknown = sorted(set(map(str, value)) - {"product", "service", "category", "definition"})
    if unknown:
        raise FieldError(f"'logsource' has unknown key(s) {', '.join(unknown)}; use product, service, category")
    parts = [(text(value, key) or "").lower() or None for key in ("product", "service", "category")]
    return LogSource(*parts)


def _derived_event_ids(item: DataNeeded, policies: dict[str, LoggingPolicy]) -> list[int]:
    """Event ids from the stated facts: the sample's EventID, else the logging policy's, else the title's number."""
    from_sample = sorted({int(a or b) for a, b in _SAMPLE_EVENT_ID.findall(item.sample or "")})
    if from_sample:
        return from_sample
    # a policy usually enables many events, so it only tells us the id when it (they) name exactly one
    from_policies = {i for name in item.logging_policies if name in policies for i in policies[name].event_ids}
    if len(from_policies) == 1:
        return sorted(from_policies)
    # last resort, Windows items only: ATC titles carry the event id after the number (DN_0040_528_...)
    match = _TITLE_EVENT_ID.match(item.title)
    if match and (item.platform or "").lower() == "windows":
        return [int(match.group(1))]
    return []


def _derive_logsource(item: DataNeeded, atc_category: str | None) -> LogSource:
    """The Sigma log source for an ATC item, from its platform, channel, provider, type and event ids."""
    product = _PRODUCTS.get((item.platform or "").lower()) or _CLOUD_PROVIDERS.get((item.provider or "").lower())
    if product == "windows":
        return _windows_logsource(item)
    names = [_service_name(value) for value in (item.provider, item.channel, item.type) if value]
    service = next((name for name in names if name in _SERVICES.get(product or "", ())), None)
    category = None if service else _ATC_CATEGORIES.get((atc_category or "").lower())
    return LogSource(product, service, category)


def _service_name(value: str) -> str:
    """An ATC channel/provider/type as a Sigma service would spell it: auth.log -> auth, ClamAV -> clamav."""
    return value.lower().removesuffix(".log").replace(" ", "_")


def _windows_logsource(item: DataNeeded) -> LogSource:
    """Windows: the channel gives the service; Sysmon items also get their event's Sigma category."""
    service = _WINDOWS_CHANNELS.get((item.channel or "").lower())
    if service != "sysmon":
        return LogSource("windows", service)
    categories = {_SYSMON_CATEGORIES.get(event_id) for event_id in item.event_ids}
    if len(categories) > 1 and set(item.event_ids) <= _REGISTRY_EVENTS:
        categories = {"registry_event"}
    return LogSource("windows", "sysmon", categories.pop() if len(categories) == 1 else None)
