"""pySigma's Lucene backend with line breaks and tabs escaped, so a value holding one stays one term."""

from __future__ import annotations

from typing import ClassVar

from sigma.backends.elasticsearch import LuceneBackend as UpstreamLuceneBackend
from sigma.conversion.state import ConversionState
from sigma.types import SigmaString

# The query_string parser splits terms on these (Lucene's classic grammar); a backslash makes each one literal.
WHITESPACE = " \t\n\r\u3000"


class LuceneBackend(UpstreamLuceneBackend):
    """Lucene query strings in which every whitespace character of a value is escaped or inside a phrase.

    pysigma-backend-elasticsearch 2.1.1 escapes only the space: `CommandLine: "a<LF>b"` becomes `CommandLine:a<LF>b`,
    which the query_string parser reads as two terms (the second searched in the default field).
    """

    identifier: ClassVar[str] = "atc_lucene"
    add_escaped: ClassVar[str] = UpstreamLuceneBackend.add_escaped + WHITESPACE[1:]

    def convert_value_str(self, s: SigmaString, state: ConversionState) -> str:
        """A plain value with any whitespace becomes a phrase (upstream phrases only values with a space)."""
        if not s.contains_special() and any(ch in WHITESPACE for ch in str(s)):
            converted = s.convert(
                self.escape_char,
                self.wildcard_multi,
                self.wildcard_single,
                self.str_quote + self.add_escaped.replace(" ", ""),
                self.filter_chars,
            )
            return self.str_quote + converted + self.str_quote
        return super().convert_value_str(s, state)
