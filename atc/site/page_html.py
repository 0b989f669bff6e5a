"""What the atc plugin does to a page's HTML: links left in raw HTML resolved, sections left out of search marked, theme whitespace trimmed."""

from __future__ import annotations

import posixpath
import re

from mkdocs.structure.files import Files
from mkdocs.structure.pages import Page

EXCLUDED_SECTIONS = ("detection-rules", "related-rules", "history")  # a rule page's Sigma text, queries, neighbours and commits
_LINE_INDENT = re.compile(r"\n[\t\n\r ]+")  # a line break and the blank lines and indentation after it
_HEADING = re.compile(r"<h([1-6])((?:\s[^>]*)?)>")
_SEARCH_MARK = re.compile(r'\s?data-search-\w+="[^"]+"')  # the search plugin's marks, as it takes them out
_ID = re.compile(r"""\sid=["']([^"']*)["']""")
_URL_LINK = re.compile(r'<a href="(https?://[^"<>]*)">\1</a>')  # a link that shows its own URL (a rule's reference)
_LABEL_CELL = re.compile(r"(<td[^>]*>\s*<strong>[^<]*</strong>)(\s*</td>)")  # a table row's bold label (a rule's "Description")
_CELL = re.compile(r"(<td[^>]*>)(.*?)(</td>)", re.S)
_TABLE_HEAD = re.compile(r"<thead>.*?</thead>", re.S)  # "Field Value", a rule's "Title <its title>": the result says it already
_LIST_ITEM_BREAK = re.compile(r"</li>\s*<li>")
_LIST_TAG = re.compile(r"</?(?:ul|ol|li)>")
_RAW_MD_HREF = re.compile(r'href="([^":?#<>]+\.md)(#[^"<>]*)?"')  # a link to a page left as written: raw HTML such as a chart's SVG


def resolve_raw_links(html: str, page: Page, files: Files) -> str:
    """The page's HTML with the links to pages that Markdown did not convert (in raw HTML blocks) turned into page URLs, as mkdocs turns its own."""
    if 'href="' not in html or ".md" not in html:
        return html

    def url(match: re.Match[str]) -> str:
        target = files.get_file_from_path(posixpath.normpath(posixpath.join(posixpath.dirname(page.file.src_uri), match.group(1))))
        if target is None:
            return match.group(0)
        return f'href="{target.url_relative_to(page.file)}{match.group(2) or ""}"'

    return _RAW_MD_HREF.sub(url, html)


def mark_excluded_sections(html: str, excluded: frozenset[str]) -> str:
    """The page's HTML with the headings of the excluded sections (by heading id) and of their subsections marked for the search plugin to skip
    (which takes the marks out of the page it writes)."""
    if not excluded:
        return html
    parts: list[str] = []
    position, inside = 0, 0  # inside: the level of the excluded section being walked, 0 outside one
    for match in _HEADING.finditer(html):
        level, attrs = int(match.group(1)), match.group(2)
        heading_id = _ID.search(attrs)
        if inside and level <= inside:
            inside = 0
        if not inside and heading_id is not None and heading_id.group(1) in excluded:
            inside = level
        if inside:
            parts += [html[position : match.start()], f'<h{level} data-search-exclude="section"{attrs}>']
            position = match.end()
    return "".join(parts) + html[position:]


def unmark_excluded_sections(html: str) -> str:
    """The page's HTML without the marks mark_excluded_sections adds, as the search plugin writes the page once it has read them."""
    return _SEARCH_MARK.sub("", html) if "data-search-" in html else html


def trim_theme_whitespace(output: str, content: str | None) -> str:
    """The page without the theme's indentation and blank lines around its content (one line break stays, HTML-wise the same)."""
    if not content or output.count(content) != 1:  # no content to tell from the theme's HTML
        return output
    before, content, after = output.partition(content)
    return _LINE_INDENT.sub("\n", before) + content + _LINE_INDENT.sub("\n", after)


def mark_url_links(html: str) -> str:
    """The page's HTML with each link whose text is its own URL classed `atc-url`: printed, atc.css spells out the target of
    the other links only (a printed reference read "https://isc.sans.edu/diary/22264 (https://isc.sans.edu/diary/22264)")."""
    return _URL_LINK.sub(r'<a class="atc-url" href="\1">\1</a>', html) if "://" in html else html


def search_table_text(html: str) -> str:
    """The page's HTML as the search index reads it: no table header rows, a table row's bold label followed by a colon, and a
    cell's list one line of comma-separated items. A rule's result read "Title ... Description detects ... ATT&CK Tactic"
    and a bullet list per row, two results to a screen; now "Description: detects ... ATT&CK Tactic: TA0008: ..., ...".
    """
    if "<td" not in html:
        return html

    def flat(cell: re.Match[str]) -> str:
        body = cell.group(2)
        if "<li>" in body:
            body = _LIST_TAG.sub("", _LIST_ITEM_BREAK.sub(", ", body))
        return cell.group(1) + body + cell.group(3)

    return _CELL.sub(flat, _LABEL_CELL.sub(r"\1:\2", _TABLE_HEAD.sub("", html)))
