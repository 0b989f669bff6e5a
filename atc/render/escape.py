"""Escaping by construction: the filters that put rule-supplied text into Markdown, HTML and code blocks."""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Sequence
from urllib.parse import quote, urlsplit

import jinja2
from markupsafe import Markup, escape

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()!|])")  # Python-Markdown escapes, plus the table pipe
_BACKTICK_RUN = re.compile(r"`+")
_URL_SAFE = ":/?#@!$&'*+,;=%-._~"
# control characters (tab and line breaks aside) and bidirectional overrides ("Trojan Source") are shown as <U+XXXX>
_INVISIBLE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200b\u200e\u200f\u202a-\u202e\u2060\u2066-\u2069\ufeff]")


def visible(text: str) -> str:
    """The text with invisible control and bidirectional characters spelled out, e.g. <U+202E>."""
    return _INVISIBLE.sub(lambda match: f"<U+{ord(match.group()):04X}>", text)


def md_text(value: object) -> Markup:
    """Text for a Markdown table cell or inline position: HTML-escaped, Markdown punctuation neutralised, one line."""
    text = " ".join(visible(str(value)).split())
    return Markup(_MD_SPECIAL.sub(r"\\\1", str(escape(text))))


def code_text(value: object) -> Markup:
    """Inline code for a Markdown list or table: a <code> element around escaped one-line text (backticks kept)."""
    return Markup(f"<code>{md_text(value)}</code>")


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


def fence(content: str, language: str = "", search_exclude: bool = False) -> Markup:
    """A fenced code block whose fence is longer than any backtick run in the content; search_exclude keeps it out of the search index."""
    content = visible(content.replace("\r\n", "\n").replace("\r", "\n"))
    longest = max((len(run) for run in _BACKTICK_RUN.findall(content)), default=0)
    marks = "`" * max(3, longest + 1)
    body = content if content.endswith("\n") else content + "\n"
    lang = re.sub(r"[^A-Za-z0-9_+-]", "", language)
    info = f"{{ .{lang or 'text'} data-search-exclude }}" if search_exclude else lang
    return Markup(f"{marks}{info}\n{body}{marks}")


def yaml_string(value: object) -> Markup:
    """A one-line YAML scalar for page front matter, HTML-escaped since themes insert it unescaped."""
    return Markup(json.dumps(str(escape(" ".join(visible(str(value)).split()))), ensure_ascii=False))


def template_environment(templates_dir: Path | Sequence[Path]) -> jinja2.Environment:
    """The jinja2 environment every page is rendered with: autoescape on, strict about undefined names.

    Given several folders, a template is taken from the first that has it (a team's overrides, then atc's own).
    """
    folders = [templates_dir] if isinstance(templates_dir, Path) else list(templates_dir)
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader([str(folder) for folder in folders]),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )
    environment.filters.update(md=md_text, md_link=md_link, fence=fence, yaml_string=yaml_string)
    return environment
