"""pySigma's Splunk SPL2 backend with SPL2's operator precedence and unambiguous backslashes."""

from __future__ import annotations

from typing import ClassVar

from sigma.backends.splunk.spl2 import SplunkSPL2Backend as UpstreamSPL2Backend
from sigma.conditions import ConditionAND, ConditionItem, ConditionNOT, ConditionOR


class SplunkSPL2Backend(UpstreamSPL2Backend):
    """SPL2 where clauses as SPL2 reads them.

    pysigma-backend-splunk 2.1.0 declares classic SPL's precedence (OR before the implicit AND) for SPL2 as well, so
    `a and (b or c)` comes out as `a AND b OR c`, which SPL2 reads as `(a AND b) OR c`: SPL2's own order makes pySigma
    parenthesise every OR inside an AND. Upstream also escapes % and _ with a backslash but not the backslash itself,
    so `\\Startup\\*` and `\\Startup%` both become `"%\\Startup\\%"`; SPL2 escapes a backslash with a backslash.
    """

    precedence: ClassVar[tuple[type[ConditionItem], type[ConditionItem], type[ConditionItem]]] = (ConditionNOT, ConditionAND, ConditionOR)
    add_escaped: ClassVar[str] = "%_\\"
