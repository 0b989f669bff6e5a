"""Sigma regular expressions (Python syntax) rewritten as PCRE over the JSON-escaped text of a string value.

A JSON line holds a value such as `C:\\Temp\\"x"` as `"C:\\\\Temp\\\\\\"x\\""`: a backslash, a quote and every control
character are written as escape sequences. The rewrite parses the Sigma pattern with Python's own parser and emits a
pattern in which every character the rule matches is matched in its JSON form, so the regex means on the JSON line
what it means on the decoded value. Constructs without an exact form (word boundaries, backreferences, lookbehind,
`^` under the m flag) raise `Untranslatable` with the reason instead of matching something else.

Input assumption: JSON as Python's `json.dumps(..., ensure_ascii=False)` writes it (only `"`, `\\` and control
characters escaped; no `\\uXXXX` for other characters).
"""

from __future__ import annotations

import re
from functools import cache

try:  # Python 3.11 moved the regex parser; both names exist there, only the private one from 3.13 on
    from re import _constants as C  # type: ignore[attr-defined]
    from re import _parser as sre_parse  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover
    import sre_constants as C  # type: ignore[no-redef]
    import sre_parse  # type: ignore[no-redef]

# One character of a JSON string body: a plain character, a \uXXXX escape or a two-character escape. Patterns call it
# as a subroutine, defined once at the start of the pattern (DEFINE), which keeps long patterns within PCRE's limits.
JSON_CHAR_DEFINITION = r'(?(DEFINE)(?<c>[^"\\]|\\(?:u[0-9a-fA-F]{4}|[^u])))'
JSON_CHAR = "(?&c)"
# The characters JSON writes as escapes, which never appear raw inside a string body.
ESCAPED = ['"', "\\"] + [chr(code) for code in range(0x20)]
VALUE_START = r'(?<=")(?<!\\")'  # right after a string's opening quote (an escaped quote is preceded by a backslash)
VALUE_END = r'(?=")'  # right before the closing quote (inside a body every raw quote is escaped)
NEWLINE = r"\\n"
PCRE_MAX_REPEAT = 65_535


class Untranslatable(ValueError):
    """A regular expression construct with no exact equivalent over JSON-escaped text."""


def json_form(ch: str) -> str:
    """How a character is written inside a JSON string (json.dumps with ensure_ascii=False)."""
    if ch == '"':
        return '\\"'
    if ch == "\\":
        return "\\\\"
    if ord(ch) < 0x20:
        return {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b", "\f": "\\f"}.get(ch, f"\\u{ord(ch):04x}")
    return ch


def pcre_char(ch: str) -> str:
    """One character as a PCRE literal: punctuation escaped, invisible characters as \\x{...}."""
    if ch.isascii():
        return ch if ch.isalnum() or ch == "_" else ("\\" + ch if ch.isprintable() else f"\\x{{{ord(ch):x}}}")
    return ch if ch.isprintable() else f"\\x{{{ord(ch):x}}}"


def pcre_literal(text: str) -> str:
    """PCRE matching the text as it is written inside a JSON string."""
    parts = []
    for ch in text:
        form = json_form(ch)
        encoded = "".join(pcre_char(c) for c in form)
        parts.append(f"(?i:{encoded})" if form.startswith("\\u") else encoded)  # \\u00XX: hex digits in either case
    return "".join(parts)


@cache
def _python_space() -> str:
    """The characters of Python's \\s that JSON writes raw, as a PCRE class body."""
    found = [chr(code) for code in range(0x20, 0x3000 + 1) if re.fullmatch(r"\s", chr(code))]
    return "".join(f"\\x{{{ord(ch):x}}}" for ch in found)


_CATEGORIES = {
    C.CATEGORY_DIGIT: (r"\p{Nd}", r"\d"),
    C.CATEGORY_NOT_DIGIT: (r"\P{Nd}", r"\D"),
    C.CATEGORY_WORD: (r"[\p{L}\p{N}_]", r"\w"),
    C.CATEGORY_NOT_WORD: (r"[^\p{L}\p{N}_]", r"\W"),
    C.CATEGORY_SPACE: (None, r"\s"),
    C.CATEGORY_NOT_SPACE: (None, r"\S"),
}


def _class_item(op: object, av: object) -> tuple[str, str]:
    """One item of a character class as (PCRE alternative for raw characters, Python class body)."""
    if op is C.LITERAL:
        return f"\\x{{{av:x}}}", f"\\U{av:08x}"
    if op is C.RANGE:
        low, high = av
        return f"[\\x{{{low:x}}}-\\x{{{high:x}}}]", f"\\U{low:08x}-\\U{high:08x}"
    if op is C.CATEGORY and av in _CATEGORIES:
        pcre, python = _CATEGORIES[av]
        if av is C.CATEGORY_SPACE:
            pcre = f"[{_python_space()}]"
        elif av is C.CATEGORY_NOT_SPACE:
            pcre = f"[^{_python_space()}]"
        return pcre, python
    raise Untranslatable(f"character class item {op}")


def _escape_alternatives(chars: list[str]) -> list[str]:
    """PCRE alternatives for the JSON escapes of these characters, short escapes and \\u00XX forms grouped."""
    short = "".join(json_form(ch)[1] for ch in chars if len(json_form(ch)) == 2 and ch not in '"\\')
    long_forms = [ch for ch in chars if json_form(ch).startswith("\\u")]
    alternatives = [pcre_literal(ch) for ch in chars if ch in '"\\']
    if short:
        alternatives.append(f"\\\\[{short}]")
    if len(long_forms) == sum(json_form(ch).startswith("\\u") for ch in ESCAPED):
        alternatives.append(r"\\u00[01][0-9a-fA-F]")
    else:
        alternatives += [pcre_literal(ch) for ch in long_forms]
    return alternatives


class _Translator:
    """Walks Python's parse tree of one pattern and emits the JSON-text PCRE."""

    def __init__(self, flags: int) -> None:
        self.flags = flags

    def any_char(self) -> str:
        """`.`: one JSON character, a line break only under the s flag."""
        return JSON_CHAR if self.flags & re.DOTALL else f"(?!{NEWLINE}){JSON_CHAR}"

    def char_class(self, items: list, negate: bool) -> str:
        """A character class: raw characters through PCRE, escaped characters through their JSON forms."""
        raw, python = zip(*(_class_item(op, av) for op, av in items)) if items else ((), ())
        compiled = re.compile("[" + ("^" if negate else "") + "".join(python) + "]", self.flags & re.IGNORECASE)
        escaped = _escape_alternatives([ch for ch in ESCAPED if compiled.fullmatch(ch)])
        members = "|".join(raw) or "(?!)"
        plain = f'(?![\\\\"])(?!{members}).' if negate else f'(?![\\\\"])(?:{members})'
        return "(?:" + "|".join([plain, *escaped]) + ")"

    def sequence(self, parsed: list) -> str:
        return "".join(self.item(op, av) for op, av in parsed)

    def item(self, op: object, av: object) -> str:
        if op is C.LITERAL:
            return pcre_literal(chr(av))
        if op is C.NOT_LITERAL:
            return self.char_class([(C.LITERAL, av)], negate=True)
        if op is C.ANY:
            return self.any_char()
        if op is C.IN:
            negate = bool(av) and av[0][0] is C.NEGATE
            return self.char_class(list(av[1:] if negate else av), negate)
        if op is C.BRANCH:
            return "(?:" + "|".join(self.sequence(branch) for branch in av[1]) + ")"
        if op is C.SUBPATTERN:
            _group, add, remove, parsed = av
            saved = self.flags
            self.flags = (self.flags | add) & ~remove
            inner = self.sequence(parsed)
            case = "i" if self.flags & re.IGNORECASE else "-i"
            self.flags = saved
            return f"(?{case}:{inner})"
        if op in (C.MAX_REPEAT, C.MIN_REPEAT, C.POSSESSIVE_REPEAT):
            low, high, parsed = av
            if max(low, high if high != C.MAXREPEAT else 0) > PCRE_MAX_REPEAT:
                raise Untranslatable(f"a repetition count above {PCRE_MAX_REPEAT:,}, the most PCRE accepts")
            bound = {(0, C.MAXREPEAT): "*", (1, C.MAXREPEAT): "+", (0, 1): "?"}.get((low, high))
            if bound is None:
                bound = f"{{{low},}}" if high == C.MAXREPEAT else f"{{{low},{high}}}"
            mode = "?" if op is C.MIN_REPEAT else "+" if op is C.POSSESSIVE_REPEAT else ""
            return f"(?:{self.sequence(parsed)}){bound}{mode}"
        if op is C.ATOMIC_GROUP:
            return f"(?>{self.sequence(av)})"
        if op in (C.ASSERT, C.ASSERT_NOT):
            direction, parsed = av
            if direction < 0:
                raise Untranslatable("a lookbehind cannot be checked on JSON-escaped text (its length changes)")
            return f"(?{'=' if op is C.ASSERT else '!'}{self.sequence(parsed)})"
        if op is C.AT:
            return self.anchor(av)
        if op in (C.GROUPREF, C.GROUPREF_EXISTS):
            raise Untranslatable("a backreference compares decoded text, which grep -P cannot do on JSON-escaped text")
        raise Untranslatable(f"regular expression construct {op}")

    def anchor(self, at: object) -> str:
        if at is C.AT_BEGINNING_STRING or (at is C.AT_BEGINNING and not self.flags & re.MULTILINE):
            return VALUE_START
        if at is C.AT_BEGINNING:
            raise Untranslatable("^ under the m flag needs the text before a line break, which grep -P cannot check here")
        if at is C.AT_END_STRING:
            return VALUE_END
        if at is C.AT_END:
            return f'(?={NEWLINE}|")' if self.flags & re.MULTILINE else f'(?=(?:{NEWLINE})?")'
        raise Untranslatable("a word boundary (\\b, \\B) cannot be checked exactly on JSON-escaped text")


def translate(pattern: str, flags: int = 0) -> str:
    """The pattern as PCRE over a JSON string body, searched from any position of the body (re.search semantics);
    the whole PCRE must start with JSON_CHAR_DEFINITION.

    `flags` are Python re flags (IGNORECASE, MULTILINE, DOTALL); inline flags in the pattern apply too. The result
    is wrapped in (?i:...) or (?-i:...) and never matches past the string's closing quote.
    """
    try:
        parsed = sre_parse.parse(pattern, flags)
        translator = _Translator(parsed.state.flags & (re.IGNORECASE | re.MULTILINE | re.DOTALL))
        body = translator.sequence(list(parsed))
    except re.error as exc:
        raise Untranslatable(f"not a valid regular expression: {exc}") from exc
    except RecursionError as exc:
        raise Untranslatable("nested too deeply") from exc
    return f"(?{'i' if translator.flags & re.IGNORECASE else '-i'}:{body})"
