"""pySigma backend emitting a `grep -P` command line that filters JSON-lines event logs."""
from __future__ import annotations

import json
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
from sigma.types import SigmaRegularExpression, SigmaString, SpecialChars

MAX_PATTERN = 32_000  # characters; far larger patterns exceed PCRE2's compile limit ("regular expression is too large")
JSON_CHAR = r'(?:[^"\\]|\\.)'  # one character of a JSON string body, escape pairs included
WILDCARDS = {SpecialChars.WILDCARD_MULTI: JSON_CHAR + "*", SpecialChars.WILDCARD_SINGLE: JSON_CHAR}


def _literal(text: str) -> str:
    """PCRE matching text as it is written inside a JSON string (re.escape only escapes non-alphanumerics)."""
    return re.escape(json.dumps(text, ensure_ascii=False)[1:-1])


def _string_body(s: SigmaString) -> str:
    """Sigma string as a PCRE over a JSON string body: wildcards never cross the closing quote."""
    parts = []
    for part in s.s:
        if isinstance(part, str):
            parts.append(_literal(part))
        elif isinstance(part, SpecialChars):
            parts.append(WILDCARDS[part])
        else:
            _unsupported(f"placeholder %{part.name}%")
    return "".join(parts)


def _shell_quote(text: str) -> str:
    """Single-quote text for a POSIX shell."""
    return "'" + text.replace("'", "'\\''") + "'"


def _unsupported(feature: str) -> NoReturn:
    """Raise pySigma's error for a rule feature this target cannot express."""
    raise SigmaFeatureNotSupportedByBackendError(f"grep target: {feature} cannot be matched on a single JSON line")


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

    eq_expression: ClassVar[str] = '(?=.*"{field}"\\s*:\\s*"{value})'
    # Alternative strings of one field share one lookahead, which keeps long IOC lists compact.
    convert_or_as_in: ClassVar[bool] = True
    in_expressions_allow_wildcards: ClassVar[bool] = True
    field_in_list_expression: ClassVar[str] = '(?=.*"{field}"\\s*:\\s*"(?:{list}))'
    list_separator: ClassVar[str] = "|"
    case_sensitive_match_expression: ClassVar[str] = '(?=.*"{field}"\\s*:\\s*"(?-i:{value}))'
    field_null_expression: ClassVar[str] = '(?!.*"{field}"\\s*:\\s*+(?!null|""))'  # possessive: no backtracking into the blanks
    field_exists_expression: ClassVar[str] = '(?=.*"{field}"\\s*:)'
    field_not_exists_expression: ClassVar[str] = '(?!.*"{field}"\\s*:)'

    def escape_and_quote_field(self, field_name: str) -> str:
        """Field name as a PCRE for its JSON key, at any nesting level."""
        return _literal(field_name)

    def convert_value_str(self, s: SigmaString, state: ConversionState) -> str:
        """Value and closing quote; a trailing * leaves the rest of the string unmatched (keeps patterns small)."""
        return _string_body(s[:-1]) if s.endswith(SpecialChars.WILDCARD_MULTI) else _string_body(s) + '"'

    def decide_convert_condition_as_in_expression(self, cond: ConditionOR | ConditionAND, state: ConversionState) -> bool:
        """Only case-insensitive strings join a shared lookahead (numbers may be bare, cased strings differ)."""
        return super().decide_convert_condition_as_in_expression(cond, state) and all(type(arg.value) is SigmaString for arg in cond.args)

    def _bare(self, field: str, token: str) -> str:
        """Assertion for a JSON scalar written bare or quoted, e.g. "EventID":5145 or "EventID":"5145"."""
        value = re.escape(token)
        return f'(?=.*"{self.escape_and_quote_field(field)}"\\s*:\\s*(?:{value}|"{value}")\\s*[,}}\\]])'

    def convert_condition_field_eq_val_num(self, cond: ConditionFieldEqualsValueExpression, state: ConversionState) -> str:
        """Number, bare or quoted."""
        return self._bare(cond.field, str(cond.value))

    def convert_condition_field_eq_val_bool(self, cond: ConditionFieldEqualsValueExpression, state: ConversionState) -> str:
        """Boolean, bare or quoted."""
        return self._bare(cond.field, "true" if cond.value.boolean else "false")

    @staticmethod
    def _regex_group(r: SigmaRegularExpression, pattern: str) -> str:
        """Sigma regex in a group with its own flags: case-sensitive unless the rule sets i."""
        flags = "".join(sorted(SigmaRegularExpression.sigma_to_re_flag[flag] for flag in r.flags))
        return f"(?{flags}{'' if 'i' in flags else '-i'}:{pattern})"

    def convert_condition_field_eq_val_re(self, cond: ConditionFieldEqualsValueExpression, state: ConversionState) -> str:
        """Regex searched inside the quoted value; a leading ^ / trailing $ anchor to the value's quotes."""
        pattern = str(cond.value.regexp)
        head = "" if pattern.startswith("^") else JSON_CHAR + "*"
        tail = '"' if pattern.endswith("$") and not pattern.endswith("\\$") else ""
        group = self._regex_group(cond.value, pattern[0 if head else 1 : -1 if tail else None])
        return f'(?=.*"{self.escape_and_quote_field(cond.field)}"\\s*:\\s*"{head}{group}{tail})'

    def convert_condition_val_str(self, cond: ConditionValueExpression, state: ConversionState) -> str:
        """Field-less keyword anywhere in the line."""
        return f"(?=.*{_string_body(cond.value)})"

    def convert_condition_val_num(self, cond: ConditionValueExpression, state: ConversionState) -> str:
        """Field-less number anywhere in the line."""
        return f"(?=.*{re.escape(str(cond.value))})"

    def convert_condition_val_re(self, cond: ConditionValueExpression, state: ConversionState) -> str:
        """Field-less regex anywhere in the line."""
        return f"(?=.*{self._regex_group(cond.value, str(cond.value.regexp))})"

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
        pattern = f"(?i)^(?:{query})"
        if len(pattern) > MAX_PATTERN:
            raise SigmaFeatureNotSupportedByBackendError(
                f"grep target: the pattern would be {len(pattern):,} characters, more than grep -P compiles (limit here {MAX_PATTERN:,})"
            )
        return "grep -P " + _shell_quote(pattern)
