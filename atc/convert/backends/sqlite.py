"""pySigma's SQLite backend with numeric comparisons and IPv6 networks that mean what the rule says on TEXT columns."""

from __future__ import annotations

import ipaddress
from typing import ClassVar

from sigma.backends.sqlite import sqliteBackend
from sigma.conditions import ConditionFieldEqualsValueExpression
from sigma.conversion.state import ConversionState

from atc.convert.backends.ip_regex import ipv6_network_pattern


class SQLiteBackend(sqliteBackend):
    """SQL for a `logs` table of TEXT columns (as Zircolite declares them).

    pysigma-backend-sqlite 2.0.0 writes `Count > 5`, which SQLite compares as text on a TEXT column ('10' < '5'), and
    expands an IPv6 network into LIKE prefixes of one spelling (missing 0:0:0:0:0:0:0:1 for ::1). Comparisons here
    convert the value to a number, and an IPv6 network is a REGEXP over every spelling of its addresses.
    """

    identifier: ClassVar[str] = "atc_sqlite"
    compare_op_expression: ClassVar[str] = "CAST({field} AS REAL) {operator} {value}"

    def convert_condition_field_eq_val_cidr(self, cond: ConditionFieldEqualsValueExpression, state: ConversionState) -> str:
        """IPv4 networks as upstream (LIKE prefixes); IPv6 as a case-insensitive REGEXP over every text form."""
        if isinstance(cond.value.network, ipaddress.IPv6Network):
            return f"{self.escape_and_quote_field(cond.field)} REGEXP '(?i)^{ipv6_network_pattern(cond.value.network)}$'"
        return super().convert_condition_field_eq_val_cidr(cond, state)
