"""Escaping by construction: the filters that put rule-supplied text into Markdown, HTML and code blocks."""

from __future__ import annotations

import functools
import json
import re
import traceback
import unicodedata
from collections.abc import Callable, Sequence
from pathlib import Path
from urllib.parse import quote, urlsplit

import jinja2
from markupsafe import Markup, escape

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()!|])")  # Python-Markdown escapes, plus the table pipe
# what makes a line Markdown structure when it starts it (after HTML escaping; `*`, `_`, `!`, `|` are escaped
# everywhere): headings, list items (also `1.`), setext underlines, fences, details, definition lists, blocks
_LINE_START = re.compile(r"^(?:[#+\-=~:?/%]|\d+(?=[.)]))")  # Unicode digits: Python-Markdown lists take them
_BACKTICK_RUN = re.compile(r"`+")
MARKDOWN_LINK = re.compile(  # [label](http(s) URL): no nesting in the label, a URL with balanced parentheses ("cc731033(v=ws.11)")
    r"\[([^\[\]`]+)\]\((https?://(?:[^()\s]|\([^()\s]*\))+)\)", re.IGNORECASE
)
_URL_SAFE = ":/?#@!$&'*+,;=%-._~"
# control characters (tab and line breaks aside), bidirectional overrides ("Trojan Source"), Unicode's line and paragraph
# separators, surrogates and the non-characters U+FDD0-U+FDEF, U+FFFE, U+FFFF (which PyYAML, mkdocs' front-matter
# loader, refuses) are shown as <U+XXXX>
_INVISIBLE = re.compile(
    r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200b\u200e\u200f\u2028-\u202e\u2060\u2066-\u2069\ud800-\udfff\ufdd0-\ufdef\ufeff\ufffe\uffff]"
)


# what a query may hold that a reader cannot see: the above, a carriage return, joiners, separators and invisible marks
_HIDDEN_IN_CODE = re.compile(_INVISIBLE.pattern[:-1] + r"\t\r\u00ad\u061c\u180e\u200c\u200d\u2028\u2029\u2061-\u2064]")


def visible(text: str) -> str:
    """The text with invisible control and bidirectional characters spelled out, e.g. <U+202E>."""
    return _INVISIBLE.sub(lambda match: f"<U+{ord(match.group()):04X}>", text)


def md_text(value: object) -> Markup:
    """Text for a Markdown table cell or inline position: HTML-escaped, Markdown punctuation neutralised, one line."""
    return _md_line(str(value))


@functools.lru_cache(maxsize=1 << 16)  # a title or a technique name is shown on many pages
def _md_line(value: str) -> Markup:
    text = str(escape(" ".join(visible(value).split())))
    text = _LINE_START.sub(lambda match: "".join(f"&#{ord(char)};" for char in match.group()), text, count=1)
    return Markup(_MD_SPECIAL.sub(r"\\\1", text))


def code_text(value: object) -> Markup:
    """Inline code for a Markdown list or table: a <code> element around escaped one-line text (backticks kept)."""
    return Markup(f"<code>{md_text(value)}</code>")


def md_text_with_code(value: object) -> Markup:
    """Like md_text, but `backticked` parts become inline code (escaped like the rest) instead of showing their backticks."""
    parts = " ".join(visible(str(value)).split()).split("`")
    if len(parts) % 2 == 0:  # an unpaired backtick: plain text
        return md_text(value)
    return Markup("".join(_spaced(part, code_text if index % 2 else md_text) for index, part in enumerate(parts)))


def _spaced(part: str, shown: Callable[[str], Markup]) -> str:
    """A part of md_text_with_code with the space on either side of it kept, outside any <code> ("the `a` key", not "the<code>")."""
    lead = " " if part.startswith(" ") else ""
    trail = " " if part.endswith(" ") and part.strip() else ""
    return f"{lead}{shown(part)}{trail}"


def md_prose(value: object) -> Markup:
    """Text its authors wrote in Markdown (Atomic test descriptions), on one line: `code` as code, [label](http(s) URL) as a
    link, the rest as md_text."""
    text = " ".join(visible(str(value)).split())
    parts: list[str] = []
    start = 0
    for found in MARKDOWN_LINK.finditer(text):
        url = safe_url(found.group(2))
        if url is not None:
            parts.append(_spaced(text[start : found.start()], md_text_with_code))
            parts.append(f"[{md_text_with_code(found.group(1))}]({url})")
            start = found.end()
    parts.append(_spaced(text[start:], md_text_with_code))
    return Markup("".join(parts))


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
    """A fenced code block whose fence is longer than any backtick run in the content (plain Markdown: no attribute list)."""
    content = visible(content.replace("\r\n", "\n").replace("\r", "\n"))
    longest = max((len(run) for run in _BACKTICK_RUN.findall(content)), default=0)
    marks = "`" * max(3, longest + 1)
    body = content if content.endswith("\n") else content + "\n"
    lang = re.sub(r"[^A-Za-z0-9_+-]", "", language)
    return Markup(f"{marks}{lang or 'text'}\n{body}{marks}")


_FENCE_LINE = re.compile(r"^[ \t]{0,3}(`{3,}|~{3,})[ \t]*([A-Za-z0-9_+-]*)[ \t]*$")  # a Markdown fence, with its language


def md_blocks(value: object) -> Markup:
    """Steps its authors wrote in Markdown with fenced code (a logging policy's configuration): each fenced part a code block
    (fence), each paragraph of the rest lines of md_prose. Text without a fence line is one code block, as fence gives it."""
    text = str(value).replace("\r\n", "\n").replace("\r", "\n")
    lines = text.split("\n")
    if not any(_FENCE_LINE.match(line) for line in lines):
        return fence(text)
    blocks: list[str] = []
    paragraph: list[str] = []
    code: list[str] | None = None  # the lines of the fenced part being read
    opened = ("", "")  # its fence and language

    def end_paragraph() -> None:
        if paragraph:
            blocks.append("  \n".join(str(md_prose(line)) for line in paragraph))
            paragraph.clear()

    for line in lines:
        found = _FENCE_LINE.match(line)
        if code is not None:
            if found and found.group(1)[0] == opened[0][0] and len(found.group(1)) >= len(opened[0]) and not found.group(2):
                blocks.append(str(fence("\n".join(code), opened[1])))
                code = None
            else:
                code.append(line)
        elif found:
            end_paragraph()
            code, opened = [], (found.group(1), found.group(2))
        elif line.strip():
            paragraph.append(line)
        else:
            end_paragraph()
    end_paragraph()
    if code is not None:  # a fence never closed: the rest is its code
        blocks.append(str(fence("\n".join(code), opened[1])))
    return Markup("\n\n".join(blocks))


def exact_fence(content: str, language: str = "") -> Markup:
    """A fenced code block holding the text exactly as given (nothing stripped or substituted): for queries to copy."""
    longest = max((len(run) for run in _BACKTICK_RUN.findall(content)), default=0)
    marks = "`" * max(3, longest + 1)
    lang = re.sub(r"[^A-Za-z0-9_+-]", "", language)
    return Markup(f"{marks}{lang or 'text'}\n{content}\n{marks}")


_CONTROL_NAMES = {"\t": "CHARACTER TABULATION", "\r": "CARRIAGE RETURN"}


def hidden_characters(text: str) -> list[str]:
    """The invisible or bidirectional characters in a text, once each in order of appearance, e.g. U+202E RIGHT-TO-LEFT OVERRIDE."""
    found = dict.fromkeys(_HIDDEN_IN_CODE.findall(text))
    return [f"U+{ord(ch):04X} {_CONTROL_NAMES.get(ch) or unicodedata.name(ch, 'control character')}" for ch in found]


def hidden_warning(text: str) -> Markup:
    """A visible warning naming the invisible or bidirectional characters a code block holds (empty when none)."""
    names = hidden_characters(text)
    if not names:
        return Markup("")
    listed = ", ".join(f"<code>{escape(name)}</code>" for name in names)
    if re.search("[\t\r]", text):
        kept = (
            "the page's Markdown keeps them, but the site shows a tab as spaces and a carriage return as a line break: "
            "<code>atc convert</code> gives the exact query."
        )
    else:
        kept = "they are kept as they are, so a copied query matches what the rule says."
    return Markup(
        f'\n<p class="atc-hidden-warning"><strong>Warning: invisible characters.</strong> The query above holds {listed}; {kept}</p>'
    )


def yaml_string(value: object) -> Markup:
    """A one-line YAML scalar for page front matter, HTML-escaped since themes insert it unescaped."""
    return Markup(json.dumps(str(escape(" ".join(visible(str(value)).split()))), ensure_ascii=False))


def template_environment(templates_dir: Path | Sequence[Path], compiled: Path | None = None) -> jinja2.Environment:
    """The jinja2 environment every page is rendered with: autoescape on, strict about undefined names.

    Given several folders, a template is taken from the first that has it (a team's overrides, then atc's own). With
    `compiled`, templates compiled by an earlier build are read from that folder (jinja2 checks each one's source and
    its own and Python's versions) instead of compiled again.
    """
    folders = [templates_dir] if isinstance(templates_dir, Path) else list(templates_dir)
    if compiled is not None:
        compiled.mkdir(parents=True, exist_ok=True)
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader([str(folder) for folder in folders]),
        bytecode_cache=jinja2.FileSystemBytecodeCache(str(compiled)) if compiled is not None else None,
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )
    environment.filters.update(
        md=md_text,
        md_code=md_text_with_code,
        md_prose=md_prose,
        md_link=md_link,
        fence=fence,
        md_blocks=md_blocks,
        yaml_string=yaml_string,
        exact_fence=exact_fence,
        hidden_warning=hidden_warning,
    )
    return environment


def template_error(exc: jinja2.TemplateError) -> str:
    """A template's error in one line, naming the template file and line where jinja2 tells them."""
    if isinstance(exc, jinja2.TemplateSyntaxError):
        return f"{exc.filename or exc.name}:{exc.lineno}: template syntax error: {exc.message}"
    frames = [frame for frame in traceback.extract_tb(exc.__traceback__) if not frame.filename.endswith(".py")]
    where = f"{frames[-1].filename}:{frames[-1].lineno}: " if frames else ""
    missing = isinstance(exc, jinja2.TemplateNotFound)
    return where + (f"template not found: {exc.name}" if missing else f"template error: {type(exc).__name__}: {exc}")
