"""ATT&CK v19 ids and tactics that the embedded v18.1 snapshot predates, mapped to the snapshot's own.

Facts from MITRE's v19 release notes and Elastic's published v18 → v19 mapping (detection-rules
`attack_v18_to_v19.yaml`), checked against the technique names of both versions. The map only applies to
ids the snapshot does not know: after `atc attack update` fetches ATT&CK v19 or later, it falls away.
"""

from __future__ import annotations

# v19 technique id -> (its v19 name, the embedded v18.1 ids it took over; coverage counts the first)
TECHNIQUES: dict[str, tuple[str, tuple[str, ...]]] = {
    "T1684": ("Social Engineering", ("T1656", "T1672")),
    "T1684.001": ("Impersonation", ("T1656",)),
    "T1684.002": ("Email Spoofing", ("T1672",)),
    "T1685": ("Disable or Modify Tools", ("T1562.001", "T1562.006")),
    "T1685.001": ("Disable or Modify Windows Event Log", ("T1562.002",)),
    "T1685.002": ("Disable or Modify Cloud Log", ("T1562.008",)),
    "T1685.003": ("Modify or Spoof Tool UI", ("T1562.011",)),
    "T1685.004": ("Disable or Modify Linux Audit System Log", ("T1562.012",)),
    "T1685.005": ("Clear Windows Event Logs", ("T1070.001",)),
    "T1685.006": ("Clear Linux or Mac System Logs", ("T1070.002",)),
    "T1686": ("Disable or Modify System Firewall", ("T1562.004",)),
    "T1686.001": ("Cloud Firewall", ("T1562.007",)),
    "T1686.002": ("Network Device Firewall", ("T1562.013",)),
    "T1686.003": ("Windows Host Firewall", ("T1562.004",)),
    "T1688": ("Safe Mode Boot", ("T1562.009",)),
    "T1689": ("Downgrade Attack", ("T1562.010",)),
    "T1690": ("Prevent Command History Logging", ("T1562.003",)),
}

# v19 tactic shortname -> (v19 id and name, the embedded v18.1 tactic shortname whose techniques it took)
TACTICS: dict[str, tuple[str, str]] = {
    "stealth": ("TA0005 Stealth", "defense-evasion"),  # Defense Evasion renamed
    "defense-impairment": ("TA0112 Defense Impairment", "defense-evasion"),  # new, split from Defense Evasion
}
