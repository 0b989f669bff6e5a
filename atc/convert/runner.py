"""Run conversions: a fresh rule object per (rule, target), one backend per target per process, a time limit each."""
from __future__ import annotations

import multiprocessing
import signal
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from typing import Callable, Iterator

from sigma.conversion.base import Backend
from sigma.rule import SigmaRule

from atc.convert.targets import Target, make_backend
from atc.load.rules import one_line
from atc.model import Conversion, Rule

_backends: dict[str, Backend] = {}  # this process's backends, by target key


class ConversionTimeout(Exception):
    """A conversion ran past its target's time limit."""


@contextmanager
def _time_limit(seconds: float) -> Iterator[None]:
    def expire(signum: int, frame: object) -> None:
        raise ConversionTimeout()

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def convert_one(data: dict, target: Target) -> Conversion:
    """Convert one rule (given as its parsed YAML) for one target; never raises."""
    try:
        backend = _backends.get(target.key) or _backends.setdefault(target.key, make_backend(target))
        rule = SigmaRule.from_dict(data)
        with _time_limit(target.timeout):
            queries = backend.convert_rule(rule, target.output_format)
    except ConversionTimeout:
        _backends.pop(target.key, None)  # its state is unknown after an interrupted conversion
        return Conversion(target.key, "timeout", error=f"conversion took longer than {target.timeout:g} s and was stopped")
    except Exception as exc:  # a backend may raise anything; the page shows the reason
        return Conversion(target.key, "failed", error=f"{type(exc).__name__}: {one_line(exc)}")
    text = "\n".join(str(query) for query in queries).strip()
    if not text:
        return Conversion(target.key, "failed", error="the backend produced no query for this rule")
    return Conversion(target.key, "ok", query=text)


def _convert_rule(job: tuple[dict, tuple[Target, ...]]) -> list[Conversion]:
    data, targets = job
    return [convert_one(data, target) for target in targets]


def convert_rules(rules: list[Rule], targets: list[Target], jobs: int, on_done: Callable[[int], None] = lambda n: None) -> None:
    """Fill every rule's conversions, in parallel processes when jobs > 1; results do not depend on scheduling."""
    work = [(rule.data, tuple(targets)) for rule in rules]
    if jobs <= 1 or len(rules) < 2 * jobs:
        results: Iterator[list[Conversion]] = map(_convert_rule, work)
        _collect(rules, results, on_done)
        return
    context = multiprocessing.get_context("fork")
    chunk = max(1, min(16, len(work) // (jobs * 8)))
    with ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
        _collect(rules, pool.map(_convert_rule, work, chunksize=chunk), on_done)


def _collect(rules: list[Rule], results: Iterator[list[Conversion]], on_done: Callable[[int], None]) -> None:
    for rule, conversions in zip(rules, results):
        rule.conversions = {conversion.target: conversion for conversion in conversions}
        on_done(1)
