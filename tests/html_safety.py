"""Read built HTML like a browser would and find what hostile input planted: scripts, event handlers, script URLs."""

from __future__ import annotations

import re
from html.parser import HTMLParser

RULE_ROWS = [
    "Title",
    "Description",
    "ATT&CK Tactic",
    "ATT&CK Technique",
    "Data Needed",
    "Trigger",
    "Severity Level",
    "False Positives",
    "Development Status",
    "References",
    "Author",
]
PAYLOAD_MARK = "alert("  # every script the hostile inputs try to run calls alert()
URL_ATTRIBUTES = {"href", "src", "action", "formaction", "xlink:href", "data", "poster", "background", "srcdoc", "content"}
SCRIPT_URL = re.compile(r"^(javascript:|vbscript:|data:text/html)", re.IGNORECASE)
FORBIDDEN_ELEMENTS = {"iframe", "frame", "frameset", "object", "embed", "applet", "base", "img"}
THEME_SCRIPT = re.compile(r"^(/|(\.\./)*)(assets|javascripts)/[\w./-]+\.js$")  # the theme's bundle and extra_javascript


class _Scanner(HTMLParser):
    """Collects injected markup, the visible text and the first table's row labels."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.injected: list[str] = []
        self.text: list[str] = []
        self.rows: list[list[str]] = []  # the first table's rows, each a list of cell texts
        self.headings: list[str] = []
        self.links: list[str] = []  # the href of every <a>
        self._heading: list[str] | None = None
        self._script: list[str] | None = None
        self._skip = 0  # inside <style> or <script>
        self._table = 0  # 1 inside the first table, 2 after it

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name.startswith("on"):
                self.injected.append(f"<{tag} {name}=...> event handler")
            if name in URL_ATTRIBUTES and value and SCRIPT_URL.match(re.sub(r"[\x00-\x20]+", "", value)):
                self.injected.append(f"<{tag} {name}={value!r}> script URL")
        if tag == "a":
            self.links.append(dict(attrs).get("href") or "")
        if tag in FORBIDDEN_ELEMENTS:
            self.injected.append(f"<{tag}> element")
        if tag == "script":
            src = dict(attrs).get("src")
            if src is not None and not THEME_SCRIPT.match(src):
                self.injected.append(f"<script src={src!r}>")
            self._script = []
        if tag in ("script", "style"):
            self._skip += 1
        if tag == "table" and self._table == 0:
            self._table = 1
        if re.fullmatch(r"h[1-6]", tag):
            self._heading = []
        if tag == "tr" and self._table == 1:
            self.rows.append([])
        if tag in ("td", "th") and self._table == 1 and self.rows:
            self.rows[-1].append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == "script" and self._script is not None:
            if PAYLOAD_MARK in "".join(self._script):
                self.injected.append("inline <script> running planted code")
            self._script = None
        if tag in ("script", "style"):
            self._skip = max(0, self._skip - 1)
        if tag == "table" and self._table == 1:
            self._table = 2
        if re.fullmatch(r"h[1-6]", tag) and self._heading is not None:
            self.headings.append(" ".join("".join(self._heading).replace("\u00b6", "").split()))  # without the permalink mark
            self._heading = None

    def handle_data(self, data: str) -> None:
        if self._script is not None:
            self._script.append(data)
        if self._skip:
            return
        self.text.append(data)
        if self._heading is not None:
            self._heading.append(data)
        if self._table == 1 and self.rows and self.rows[-1]:
            self.rows[-1][-1] += data


def scan(html: str) -> _Scanner:
    scanner = _Scanner()
    scanner.feed(html)
    scanner.close()
    return scanner


def injected_markup(html: str) -> list[str]:
    """Everything in the HTML that would run script planted by the input."""
    return scan(html).injected


def visible_text(html: str) -> str:
    """The page's text as a reader sees it, whitespace collapsed."""
    return " ".join("".join(scan(html).text).split())


def first_table_labels(html: str) -> list[str]:
    """The first cell of each row of the page's first table."""
    return [" ".join(row[0].split()) for row in scan(html).rows if row]


def headings(html: str) -> list[str]:
    """The text of every heading, in page order."""
    return scan(html).headings


def links(html: str) -> list[str]:
    """The target of every link, in page order."""
    return scan(html).links
