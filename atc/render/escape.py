"""Escaping by construction: the filters that put rule-supplied text into Markdown, HTML and code blocks."""
from __future__ import annotations

import json
import re
from urllib.parse import quote, urlsplit

from markupsafe import Markup, escape

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()!|])")  # Python-Markdown escapes, plus the table pipe
_BACKTICK_RUN = re.compile(r"`+")
_URL_SAFE = ":/?#@!$&'*+,;=%-._~"


def md_text(value: object) -> Markup:
    """Text for a Markdown table cell or inline position: HTML-escaped, Markdown punctuation neutralised, one line."""
    text = " ".join(str(value).split())
    return Markup(_MD_SPECIAL.sub(r"\\\1", str(escape(text))))


def safe_url(value: object) -> str | None:
    """The URL percent-encoded for a Markdown link, or None unless it is a plain http(s) URL."""
    text = str(value).strip()
    if any(ch.isspace() or ord(ch) < 32 for ch in text):
        return None
    try:
        parts = urlsplit(text)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    return quote(text, safe=_URL_SAFE).replace("(", "%28").replace(")", "%29").replace("'", "%27")


def md_link(value: object, label: object | None = None) -> Markup:
    """A Markdown link for an http(s) URL; any other value is shown as escaped text."""
    url = safe_url(value)
    shown = md_text(value if label is None else label)
    if url is None:
        return shown
    return Markup(f"[{shown}]({url})")


def fence(content: str, language: str = "") -> Markup:
    """A fenced code block whose fence is longer than any backtick run in the content."""
    longest = max((len(run) for run in _BACKTICK_RUN.findall(content)), default=0)
    marks = "`" * max(3, longest + 1)
    body = content if content.endswith("\n") else content + "\n"
    lang = re.sub(r"[^A-Za-z0-9_+-]", "", language)
    return Markup(f"{marks}{lang}\n{body}{marks}")


def yaml_string(value: object) -> Markup:
    """A one-line YAML scalar for page front matter, HTML-escaped since themes insert it unescaped."""
    return Markup(json.dumps(str(escape(" ".join(str(value).split()))), ensure_ascii=False))
