"""Simulate atc's PowerShell queries on flattened events: the `where { }` condition evaluated with PowerShell's rules.

No PowerShell runs here. The simulation reads the exact text the page shows, checks the event's channel against
`-LogName`, and evaluates the condition the way PowerShell does for the subset atc's backend writes: `-and`/`-or`
with one precedence level from left to right, `-not`, `-eq`/`-ne` converting the right operand to the left one's type,
`-like`/`-clike` wildcard patterns (`*`, `?`, `[...]`, backtick escapes) with `$null` read as an empty string,
`-match`/`-cmatch` as regular expressions (Python's re standing in for .NET's), `[double]` conversions that fail as errors
(the event is then not output). The event's fields are what the query's preamble builds (System, EventData, the
classic log's unnamed Data, UserData), so the same flattening as grep and SQLite, with empty values read as $null.
A condition on the rendered message (`$_.Message`, keywords) cannot be simulated from JSON: NotSimulable.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import regex

from atc.common.bounded_regex import bounded_search
from atc.convert.backends.powershell import EVENT_DATA, RECORD_PROPERTIES, SELECT

QUOTES = "'\u2018\u2019\u201a\u201b"
PROPERTIES = {expression: field for field, expression in RECORD_PROPERTIES.items()}
_TOKEN = re.compile(
    rf"\s*(?:(?P<open>\()|(?P<close>\))|(?P<op>-(?:and|or|not|eq|ne|like|clike|match|cmatch|lt|le|gt|ge))(?![\w-])"
    rf"|(?P<cast>\[double\])|(?P<field>\$d\[(?P<key>[{QUOTES}](?:[^{QUOTES}]|[{QUOTES}]{{2}})*[{QUOTES}])\])"
    rf"|(?P<prop>\$_\.\w+)|(?P<const>\$null|\$true|\$false)|(?P<string>[{QUOTES}](?:[^{QUOTES}]|[{QUOTES}]{{2}})*[{QUOTES}])"
    rf"|(?P<number>-?\d+(?:\.\d+)?))"
)


class NotSimulable(Exception):
    """The query needs something JSON events do not carry (the rendered message) or is not in atc's subset."""


class ScriptError(Exception):
    """What PowerShell would report as an error inside `where { }`: the event is not output."""


def _unquote(text: str) -> str:
    """A PowerShell single-quoted string's value (a doubled quote character is one)."""
    return re.sub(f"([{QUOTES}])\\1", r"\1", text[1:-1])


def _wildcard(pattern: str) -> str:
    """A PowerShell wildcard pattern as a Python regular expression."""
    out, chars = [], iter(pattern)
    for ch in chars:
        if ch == "`":
            out.append(re.escape(next(chars, "")))
        elif ch == "*":
            out.append(".*")
        elif ch == "?":
            out.append(".")
        elif ch == "[":
            body = []
            for inner in chars:
                if inner == "]":
                    break
                body.append("\\" + inner if inner in "\\^[" else inner)
            out.append("[" + "".join(body) + "]")
        else:
            out.append(re.escape(ch))
    return "".join(out)


def _text(value: Any) -> str:
    """A value as PowerShell converts it to a string ($null to '')."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "True" if value else "False"
    return str(value)


def _equal(left: Any, right: Any) -> bool:
    """`-eq`: $null only equals $null, otherwise the right operand is converted to the left one's type."""
    if left is None or right is None:
        return left is None and right is None
    if isinstance(left, bool):
        return left == (right if isinstance(right, bool) else bool(_text(right)))
    if isinstance(left, (int, float)):
        try:
            return left == type(left)(right)
        except (TypeError, ValueError):
            return False
    return _text(left).casefold() == _text(right).casefold()


def _double(value: Any) -> float:
    """`[double]`: $null is 0, text must be a number or the where block fails for this event."""
    if value is None:
        return 0.0
    try:
        return float(value)
    except (TypeError, ValueError) as exc:
        raise ScriptError(f"cannot convert {value!r} to double") from exc


COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "-eq": _equal,
    "-ne": lambda a, b: not _equal(a, b),
    "-like": lambda a, b: bounded_search(_wildcard(_text(b)), _text(a), regex.IGNORECASE | regex.DOTALL, whole=True),
    "-clike": lambda a, b: bounded_search(_wildcard(_text(b)), _text(a), regex.DOTALL, whole=True),
    "-match": lambda a, b: bounded_search(_text(b), _text(a), regex.IGNORECASE),
    "-cmatch": lambda a, b: bounded_search(_text(b), _text(a)),
    "-lt": lambda a, b: a < b,
    "-le": lambda a, b: a <= b,
    "-gt": lambda a, b: a > b,
    "-ge": lambda a, b: a >= b,
}


class _Condition:
    """A parsed `where` condition: evaluated per event by walking its tokens once."""

    def __init__(self, text: str) -> None:
        self.fields: dict[str, Any] = {}  # the event being evaluated, names folded (PowerShell hashtables ignore case)
        self.at = 0  # the next token
        self.tokens: list[tuple[str, str]] = []
        position = 0
        while position < len(text.rstrip()):
            match = _TOKEN.match(text, position)
            if not match:
                raise NotSimulable(f"cannot read the condition at {text[position : position + 30]!r}")
            kind = next(
                name
                for name in ("open", "close", "op", "cast", "field", "prop", "const", "string", "number")
                if match.group(name) is not None
            )
            self.tokens.append((kind, match.group("key") if kind == "field" else match.group(kind)))
            position = match.end()
        if any(kind == "prop" and value not in PROPERTIES for kind, value in self.tokens):
            raise NotSimulable("the condition reads the rendered message or another record property JSON events do not carry")

    def evaluate(self, fields: dict[str, Any]) -> bool:
        self.fields = {name.casefold(): value for name, value in fields.items()}
        self.at = 0
        result = self._expression()
        if self.at != len(self.tokens):
            raise NotSimulable("unexpected text after the condition")
        return bool(result)

    def _peek(self) -> tuple[str, str]:
        return self.tokens[self.at] if self.at < len(self.tokens) else ("end", "")

    def _take(self) -> tuple[str, str]:
        token = self._peek()
        self.at += 1
        return token

    def _expression(self) -> bool:
        value = self._unary()
        while self._peek() in (("op", "-and"), ("op", "-or")):
            _, op = self._take()
            if (op == "-and" and not value) or (op == "-or" and value):
                self._skip_unary()
            else:
                value = self._unary()
        return value

    def _skip_unary(self) -> None:
        """Step over an operand that short-circuiting leaves unevaluated."""
        saved = self.fields
        self.fields = {}
        try:
            self._unary()
        except (ScriptError, TypeError):
            pass
        finally:
            self.fields = saved

    def _unary(self) -> bool:
        if self._peek() == ("op", "-not"):
            self._take()
            return not self._unary()
        if self._peek()[0] == "open":
            self._take()
            value = self._expression()
            if self._take()[0] != "close":
                raise NotSimulable("unbalanced parentheses")
            return value
        left = self._operand()
        kind, op = self._peek()
        if kind != "op" or op not in COMPARE:
            return bool(left)
        self._take()
        return COMPARE[op](left, self._operand())

    def _operand(self) -> Any:
        kind, value = self._take()
        if kind == "cast":
            return _double(self._operand())
        if kind == "field":
            found = self.fields.get(_unquote(value).casefold())
            return (
                None
                if found is None or found == ""
                else (found if isinstance(found, str) else _text(found).lower() if isinstance(found, bool) else str(found))
            )
        if kind == "prop":
            found = self.fields.get(PROPERTIES[value].casefold())
            if value == "$_.Id" and isinstance(found, str) and found.isascii() and found.isdigit():
                return int(found)  # an event id is a number on the record
            return found
        if kind == "const":
            return {"$null": None, "$true": True, "$false": False}[value]
        if kind == "string":
            return _unquote(value)
        if kind == "number":
            return float(value) if "." in value else int(value)
        raise NotSimulable(f"unexpected {value!r}")


class PowerShellQuery:
    """One `Get-WinEvent -LogName ... | where { ... } | select ...` line, ready to run on flattened events."""

    def __init__(self, query: str) -> None:
        match = re.fullmatch(
            rf"Get-WinEvent -LogName (?P<logs>.+?) \| where \{{ {re.escape(EVENT_DATA)} (?P<cond>.*) \}} \| {re.escape(SELECT)}",
            query,
            re.S,
        )
        if not match:
            raise NotSimulable("not a query of atc's PowerShell backend")
        self.logs = {
            _unquote(name).casefold() if name[0] in QUOTES else name.casefold()
            for name in re.findall(rf"[{QUOTES}](?:[^{QUOTES}]|[{QUOTES}]{{2}})*[{QUOTES}]|[^,]+", match["logs"])
        }
        self.condition = _Condition(match["cond"])

    def matches(self, fields: dict[str, Any]) -> bool:
        """True when Get-WinEvent would read the event (its channel) and the condition outputs it."""
        channel = next((value for name, value in fields.items() if name.casefold() == "channel"), None)
        if channel is not None and str(channel).casefold() not in self.logs:
            return False
        try:
            return self.condition.evaluate(fields)
        except ScriptError:
            return False
