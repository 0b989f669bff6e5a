"""pySigma backend emitting a `grep -P` command line that filters JSON-lines event logs.

Input: one JSON object per line, as Python's `json.dumps(event, ensure_ascii=False)` writes it (UTF-8, only `"`,
`\\` and control characters escaped), read by grep in a UTF-8 locale. Matching follows Sigma on the decoded values:
strings and wildcards never leave the field's own value, a number matches a JSON number or the same digits in a
string, `null` means absent or JSON null, keywords look at values only (never at key names), case-insensitive
matching folds Unicode case, and regular expressions are rewritten to run on the JSON-escaped text
(`json_regex`); what has no exact form is refused with the reason.
"""

from __future__ import annotations

import ipaddress
import re
from typing import ClassVar, NoReturn

from sigma.conditions import (
    ConditionAND,
    ConditionFieldEqualsValueExpression,
    ConditionNOT,
    ConditionOR,
    ConditionValueExpression,
)
from sigma.conversion.base import TextQueryBackend
from sigma.conversion.state import ConversionState
from sigma.exceptions import SigmaFeatureNotSupportedByBackendError
from sigma.rule import SigmaRule
from sigma.types import SigmaCIDRExpression, SigmaRegularExpression, SigmaRegularExpressionFlag, SigmaString, SpecialChars

from atc.convert.backends.ip_regex import ipv6_network_pattern
from atc.convert.backends.json_regex import JSON_CHAR, JSON_CHAR_DEFINITION, Untranslatable, pcre_literal, translate

MAX_PATTERN = 32_000  # characters; far larger patterns exceed PCRE2's compile limit ("regular expression is too large")
WILDCARDS = {SpecialChars.WILDCARD_MULTI: JSON_CHAR + "*", SpecialChars.WILDCARD_SINGLE: JSON_CHAR}
BARE_CHAR = r"[-+.\w]"  # a character of a bare JSON scalar (number, true, false)
BARE_WILDCARDS = {SpecialChars.WILDCARD_MULTI: BARE_CHAR + "*", SpecialChars.WILDCARD_SINGLE: BARE_CHAR}
BARE_START = r"(?=[-\d]|true|false)"  # a number or a boolean, never null
BARE_END = r"(?=\s*[,}\]])"
# From the line start, whole tokens at a time (a string or one character outside strings): a position after it is
# outside every string, so the next quote opens one.
TOKENS = f'(?:[^"]|"{JSON_CHAR}*")*?'
VALUE_STRING = f'"(?={JSON_CHAR}*"(?!\\s*:))'  # the opening quote of a string that is a value, not a key
REGEX_FLAGS = {
    SigmaRegularExpressionFlag.IGNORECASE: re.IGNORECASE,
    SigmaRegularExpressionFlag.MULTILINE: re.MULTILINE,
    SigmaRegularExpressionFlag.DOTALL: re.DOTALL,
}


def _string_body(s: SigmaString) -> str:
    """Sigma string as a PCRE over a JSON string body: wildcards never cross the closing quote."""
    parts = []
    for part in s.s:
        if isinstance(part, str):
            parts.append(pcre_literal(part))
        elif isinstance(part, SpecialChars):
            parts.append(WILDCARDS[part])
        else:
            _unsupported(f"placeholder %{part.name}%")
    return "".join(parts)


def _bare_body(s: SigmaString) -> str | None:
    """Sigma string as a PCRE over a bare JSON scalar (4688, true), or None when no scalar can match it."""
    head = s.s[0] if s.s and isinstance(s.s[0], str) else ""
    if head and not (head[0] in "-+.0123456789" or any(word.startswith(head.lower()[: len(word)]) for word in ("true", "false"))):
        return None  # no number or boolean starts this way
    parts = []
    for part in s.s:
        if isinstance(part, str):
            if not re.fullmatch(r"[-+.\w]*", part, re.ASCII):
                return None
            parts.append(re.escape(part))
        else:
            parts.append(BARE_WILDCARDS[part])
    return "".join(parts) if parts else None


def _shell_quote(text: str) -> str:
    """Single-quote text for a POSIX shell."""
    return "'" + text.replace("'", "'\\''") + "'"


def _unsupported(feature: str) -> NoReturn:
    """Raise pySigma's error for a rule feature this target cannot express."""
    raise SigmaFeatureNotSupportedByBackendError(f"grep target: {feature} cannot be matched on a single JSON line")


def _refuse(reason: str) -> NoReturn:
    raise SigmaFeatureNotSupportedByBackendError(f"grep target: {reason}")


class GrepBackend(TextQueryBackend):
    """Sigma rules as one PCRE of zero-width assertions anchored at the start of a JSON log line."""

    name: ClassVar[str] = "grep -P over JSON lines"
    identifier: ClassVar[str] = "atc_grep"
    formats: ClassVar[dict[str, str]] = {"default": "grep -P command line"}

    # AND is a concatenation of assertions, OR an alternation; every operand is zero-width.
    group_expression: ClassVar[str] = "(?:{expr})"
    token_separator: str = ""
    and_token: ClassVar[str] = ""
    or_token: ClassVar[str] = "|"

    # Alternative strings of one field share one lookahead, which keeps long IOC lists compact.
    convert_or_as_in: ClassVar[bool] = True
    in_expressions_allow_wildcards: ClassVar[bool] = True
    field_in_list_expression: ClassVar[str] = "{field}{list}"  # built by convert_condition_as_in_expression
    list_separator: ClassVar[str] = "|"
    eq_expression: ClassVar[str] = "{field}{value}"  # built by convert_condition_field_eq_val_str

    def escape_and_quote_field(self, field_name: str) -> str:
        """Field name as a PCRE for its JSON key, at any nesting level."""
        return pcre_literal(field_name)

    def _field(self, field: str) -> str:
        """From the line start to the first character of the field's value (a key is a string followed by a colon)."""
        return f'.*"{self.escape_and_quote_field(field)}"\\s*:\\s*'

    def _value(self, values: list[SigmaString], cased: bool) -> str:
        """Any of the strings as a JSON string, or as a bare number or boolean when one can match."""
        strings = [_string_body(v[:-1]) if v.endswith(SpecialChars.WILDCARD_MULTI) else _string_body(v) + '"' for v in values]
        bares = [bare for bare in (_bare_body(v) for v in values) if bare is not None]
        alternatives = ['"(?:' + "|".join(strings) + ")"] if len(strings) > 1 else ['"' + strings[0]]
        if bares:
            alternatives.append(f"{BARE_START}(?:{'|'.join(bares)}){BARE_END}")
        joined = alternatives[0] if len(alternatives) == 1 else "(?:" + "|".join(alternatives) + ")"
        return f"(?-i:{joined})" if cased else joined

    def convert_condition_field_eq_val_str(self, cond: ConditionFieldEqualsValueExpression, state: ConversionState) -> str:
        """String with wildcards, matched inside the field's own value (or a bare scalar it spells)."""
        return f"(?={self._field(cond.field)}{self._value([cond.value], cased=False)})"

    def convert_condition_field_eq_val_str_case_sensitive(self, cond: ConditionFieldEqualsValueExpression, state: ConversionState) -> str:
        """The same, case-sensitive (the `cased` modifier)."""
        return f"(?={self._field(cond.field)}{self._value([cond.value], cased=True)})"

    def decide_convert_condition_as_in_expression(self, cond: ConditionOR | ConditionAND, state: ConversionState) -> bool:
        """Only case-insensitive strings join a shared lookahead (numbers and cased strings have their own forms)."""
        return super().decide_convert_condition_as_in_expression(cond, state) and all(type(arg.value) is SigmaString for arg in cond.args)

    def convert_condition_as_in_expression(self, cond: ConditionOR | ConditionAND, state: ConversionState) -> str:
        """Several strings of one field in one lookahead."""
        return f"(?={self._field(cond.args[0].field)}{self._value([arg.value for arg in cond.args], cased=False)})"

    def _bare(self, field: str, token: str) -> str:
        """Assertion for a JSON scalar written bare or quoted, e.g. "EventID":5145 or "EventID":"5145"."""
        value = re.escape(token)
        return f'(?={self._field(field)}(?:{value}|"{value}"){BARE_END})'

    def convert_condition_field_eq_val_num(self, cond: ConditionFieldEqualsValueExpression, state: ConversionState) -> str:
        """Number, bare or quoted."""
        return self._bare(cond.field, str(cond.value))

    def convert_condition_field_eq_val_bool(self, cond: ConditionFieldEqualsValueExpression, state: ConversionState) -> str:
        """Boolean, bare or quoted."""
        return self._bare(cond.field, "true" if cond.value.boolean else "false")

    def convert_condition_field_eq_val_null(self, cond: ConditionFieldEqualsValueExpression, state: ConversionState) -> str:
        """Null: the field is absent or JSON null (an empty string is a value)."""
        return f"(?!{self._field(cond.field)}+(?!null\\b))"

    def convert_condition_field_exists(self, cond: ConditionFieldEqualsValueExpression, state: ConversionState) -> str:
        """The field is present with a value other than null."""
        return f"(?={self._field(cond.field)}+(?!null\\b))"

    def convert_condition_field_not_exists(self, cond: ConditionFieldEqualsValueExpression, state: ConversionState) -> str:
        """The field is absent or null."""
        return self.convert_condition_field_eq_val_null(cond, state)

    @staticmethod
    def _regex(r: SigmaRegularExpression) -> str:
        """The Sigma regex rewritten for JSON-escaped text, or pySigma's error naming what cannot be."""
        flags = 0
        for flag in r.flags:
            flags |= REGEX_FLAGS[flag]
        try:
            return translate(str(r.regexp), flags)
        except Untranslatable as exc:
            _refuse(f"regular expression {str(r.regexp)!r}: {exc}")

    def convert_condition_field_eq_val_re(self, cond: ConditionFieldEqualsValueExpression, state: ConversionState) -> str:
        """Regex searched inside the field's string value, on the decoded characters."""
        return f'(?={self._field(cond.field)}"{JSON_CHAR}*?{self._regex(cond.value)})'

    def convert_condition_field_eq_val_cidr(self, cond: ConditionFieldEqualsValueExpression, state: ConversionState) -> str:
        """IPv4 networks as address prefixes; IPv6 as every text form of its addresses (leading zeros, `::`)."""
        cidr: SigmaCIDRExpression = cond.value
        if isinstance(cidr.network, ipaddress.IPv6Network):
            return f'(?={self._field(cond.field)}"{ipv6_network_pattern(cidr.network)}")'
        return super().convert_condition_field_eq_val_cidr(cond, state)

    def convert_condition_val_str(self, cond: ConditionValueExpression, state: ConversionState) -> str:
        """Field-less keyword: contained in some string value (never a key name)."""
        return f"(?={TOKENS}{VALUE_STRING}{JSON_CHAR}*?{_string_body(cond.value)})"

    def convert_condition_val_num(self, cond: ConditionValueExpression, state: ConversionState) -> str:
        """Field-less number: in a bare number or inside some string value."""
        digits = re.escape(str(cond.value))
        return f"(?={TOKENS}(?:{digits}|{VALUE_STRING}{JSON_CHAR}*?{digits}))"

    def convert_condition_val_re(self, cond: ConditionValueExpression, state: ConversionState) -> str:
        """Field-less regex: found in some string value."""
        return f"(?={TOKENS}{VALUE_STRING}{JSON_CHAR}*?{self._regex(cond.value)})"

    def convert_condition_not(self, cond: ConditionNOT, state: ConversionState) -> str:
        """Negative lookahead around the (zero-width) operand."""
        return f"(?!{self.convert_condition(cond.args[0], state)})"

    def convert_condition_field_eq_field(self, cond: ConditionFieldEqualsValueExpression, state: ConversionState) -> NoReturn:
        """Field references need two values of one event compared."""
        _unsupported(f"field reference {cond.field} = {cond.value.field}")

    def convert_condition_field_compare_op_val(self, cond: ConditionFieldEqualsValueExpression, state: ConversionState) -> NoReturn:
        """Numeric comparisons are not expressible as a regex."""
        _unsupported(f"numeric comparison on {cond.field}")

    def convert_condition_field_eq_val_timestamp_part(self, cond: ConditionFieldEqualsValueExpression, state: ConversionState) -> NoReturn:
        """Timestamp parts need a parsed date."""
        _unsupported(f"timestamp part of {cond.field}")

    def finalize_query_default(self, rule: SigmaRule, query: str, index: int, state: ConversionState) -> str:
        """Case-insensitive pattern anchored at line start, quoted for the shell."""
        pattern = f"(?i){JSON_CHAR_DEFINITION}^(?:{query})"
        if len(pattern) > MAX_PATTERN:
            raise SigmaFeatureNotSupportedByBackendError(
                f"grep target: the pattern would be {len(pattern):,} characters, more than grep -P compiles (limit here {MAX_PATTERN:,})"
            )
        return "grep -P " + _shell_quote(pattern)
