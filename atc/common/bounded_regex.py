"""Regular expressions from untrusted rule text, run under one time limit per query (Python's `re` has none)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import regex

TIME_LIMIT = 10.0  # seconds one query may run on one rule's events
_TIMED_OUT = "the query ran longer than the {:g} s limit (catastrophic regular expression?)"
_deadline = float("inf")  # time.monotonic() at which the running query's time is up (set by `query_time`)


class QueryTimeout(Exception):
    """A query ran past TIME_LIMIT on a rule's events."""

    def __init__(self) -> None:
        super().__init__(_TIMED_OUT.format(TIME_LIMIT))


@contextmanager
def query_time() -> Iterator[None]:
    """The running query's TIME_LIMIT: every bounded search inside shares it."""
    global _deadline
    _deadline = time.monotonic() + TIME_LIMIT
    try:
        yield
    finally:
        _deadline = float("inf")


def time_left() -> float:
    """Seconds the running query has left (at most TIME_LIMIT); QueryTimeout once it has none."""
    left = min(_deadline - time.monotonic(), TIME_LIMIT)
    if left <= 0:
        raise QueryTimeout()
    return left


def expired() -> bool:
    return _deadline <= time.monotonic()


def bounded_search(pattern: str, text: str, flags: int = 0, whole: bool = False) -> bool:
    """re.search (re.fullmatch when whole) on the `regex` engine, stopped when the running query's time is up."""
    global _deadline
    try:
        found = (regex.fullmatch if whole else regex.search)(pattern, text, flags, timeout=time_left())
    except TimeoutError as exc:
        _deadline = time.monotonic()  # the engine's clock said so: the whole query is out of time
        raise QueryTimeout() from exc
    return found is not None
