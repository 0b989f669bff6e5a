"""The changes page (changes.md) and its Atom feed (changes.xml): what changed in the knowledge base per tag or month."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING

from atc.render import addresses
from atc.render.context import RenderContext
from atc.render.escape import safe_url, visible

if TYPE_CHECKING:
    from atc.history.model import Period

ATOM = "http://www.w3.org/2005/Atom"
_NOT_XML = re.compile("[\ud800-\udfff\ufffe\uffff]")  # beyond what visible() spells out: XML 1.0 refuses these too
FEED_LISTED = 20  # rules named per kind of change in a feed entry; the page lists them all


def changes_pages(ctx: RenderContext, slugs: dict[str, str]) -> dict[str, str]:
    """changes.md always (it is in the navigation), changes.xml when the knowledge base has a git history; slugs: rule id -> page."""
    history = ctx.history
    page, feed = addresses.named("changes"), addresses.named("feed")
    text = ctx.env.get_template("changes.md.j2").render(page=page, history=history, feed=addresses.relative(page, feed), slugs=slugs)
    pages = {page: text}
    if history is not None:
        pages[feed] = atom_feed(history.periods, ctx.site_name, ctx.site_url)
    return pages


def _text(value: object) -> str:
    """Text for the feed: control characters and bidirectional overrides spelled out (XML 1.0 refuses most of them)."""
    return _NOT_XML.sub(lambda match: f"<U+{ord(match.group()):04X}>", visible(str(value)))


def _summary(period: Period) -> str:
    """A period's changes as plain text (the feed's content)."""
    report = period.report
    lines = [
        f"{len(report.added)} added, {len(report.changed)} changed, {len(report.renamed)} moved, {len(report.removed)} removed; "
        f"ATT&CK techniques covered: {report.coverage_before} → {report.coverage_after}."
    ]
    sections = [
        ("Added", [f"{r.title} ({r.path})" for r in report.added]),
        ("Changed", [f"{c.title} ({c.path}): {', '.join(f.field for f in c.fields) or 'formatting'}" for c in report.changed]),
        ("Moved", [f"{r.title} ({r.old_path} → {r.new_path})" for r in report.renamed]),
        ("Removed", [f"{r.title} ({r.path})" for r in report.removed]),
        ("Newly covered techniques", [f"{n.id} {n.name}" for n in report.coverage_gained]),
        ("Techniques no longer covered", [f"{n.id} {n.name}" for n in report.coverage_lost]),
        ("Data Needed newly needed", list(report.data_needed_linked)),
    ]
    for heading, items in sections:
        if items:
            more = f" and {len(items) - FEED_LISTED} more" if len(items) > FEED_LISTED else ""
            lines.append(f"{heading}: " + "; ".join(items[:FEED_LISTED]) + more)
    return "\n".join(lines)


def atom_feed(periods: list[Period], site_name: str, site_url: str | None) -> str:
    """An Atom 1.0 feed with one entry per period, newest first; ids stay the same as a period grows."""
    base = safe_url(site_url.rstrip("/") + "/") if site_url else None
    page = f"{base or ''}{addresses.page_url(addresses.named('changes'))}"
    feed = ET.Element("feed", xmlns=ATOM)
    ET.SubElement(feed, "title").text = _text(f"{site_name}: changes")
    ET.SubElement(feed, "id").text = page if base else "urn:atc:changes"
    ET.SubElement(feed, "updated").text = max((p.end.iso for p in periods), default="1970-01-01T00:00:00Z")
    ET.SubElement(feed, "link", rel="alternate", href=page)
    if base:
        ET.SubElement(feed, "link", rel="self", href=f"{base}{addresses.named('feed')}")
    ET.SubElement(ET.SubElement(feed, "author"), "name").text = _text(site_name)
    for period in periods:
        entry = ET.SubElement(feed, "entry")
        ET.SubElement(entry, "title").text = _text(f"Changes: {period.label}")
        ET.SubElement(entry, "id").text = f"{page}#{period.anchor}" if base else f"urn:atc:changes:{period.anchor}"
        ET.SubElement(entry, "updated").text = period.end.iso
        ET.SubElement(entry, "link", rel="alternate", href=f"{page}#{period.anchor}")
        ET.SubElement(entry, "content", type="text").text = _text(_summary(period))
    ET.indent(feed)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(feed, encoding="unicode") + "\n"
