"""pySigma backend emitting Graylog search queries (Graylog's Lucene dialect over Sigma field names)."""

from __future__ import annotations

from typing import ClassVar

from sigma.conditions import ConditionFieldEqualsValueExpression
from sigma.conversion.base import TextQueryBackend
from sigma.conversion.state import ConversionState

from atc.convert.backends.lucene import LuceneBackend


class GraylogBackend(LuceneBackend):
    """Lucene query string as Graylog's search bar takes it: Sigma field names, no ECS mapping required."""

    name: ClassVar[str] = "Graylog search"
    identifier: ClassVar[str] = "atc_graylog"
    formats: ClassVar[dict[str, str]] = {"default": "Plain Graylog search queries"}
    requires_pipeline: ClassVar[bool] = False
    # Graylog indexes addresses as keyword strings, where an address/prefix query does not apply.
    cidr_expression: ClassVar[str | None] = None

    def convert_condition_field_eq_val_cidr(self, cond: ConditionFieldEqualsValueExpression, state: ConversionState) -> str:
        """CIDR expanded into escaped prefix wildcards (skipping LuceneBackend's IPv6 colon re-escaping)."""
        return TextQueryBackend.convert_condition_field_eq_val_cidr(self, cond, state)
