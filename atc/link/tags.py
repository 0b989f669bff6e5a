"""Where a rule's tags that name something outside the knowledge base lead: ATT&CK groups and software, MITRE CAR analytics, CVE records."""

from __future__ import annotations

import re

from atc.link.attack import ATTACK_SITE

_PAGES = (  # a tag's id, matched whole (ASCII only), and the page its parts fill in
    (re.compile(r"attack\.(g\d{4})", re.IGNORECASE | re.ASCII), ATTACK_SITE + "/groups/{}"),
    (re.compile(r"attack\.(s\d{4})", re.IGNORECASE | re.ASCII), ATTACK_SITE + "/software/{}"),
    (re.compile(r"car\.(\d{4}-\d{2}-\d{3})", re.IGNORECASE | re.ASCII), "https://car.mitre.org/analytics/CAR-{}/"),
    (re.compile(r"cve\.(\d{4})[-.](\d{4,7})", re.IGNORECASE | re.ASCII), "https://www.cve.org/CVERecord?id=CVE-{}-{}"),
)


def tag_url(tag: str) -> str | None:
    """The page of what a tag names (attack.g0016 → the group's ATT&CK page, cve.2021-44228 → its CVE record), or None."""
    for pattern, url in _PAGES:
        found = pattern.fullmatch(tag.strip())
        if found:
            return url.format(*(part.upper() for part in found.groups()))
    return None
