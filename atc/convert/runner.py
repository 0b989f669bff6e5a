"""Run conversions: a fresh rule object per (rule, target), one backend per target per process, in worker processes
that keep each conversion to its target's time limit (atc/convert/workers.py)."""

from __future__ import annotations

import copy
import json
import re
import warnings
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any

from sigma.collection import SigmaCollection
from sigma.conversion.base import Backend
from sigma.conversion.state import ConversionState
from sigma.rule import SigmaRule

from atc.convert.cache import ConversionCache
from atc.convert.deploy import export_format
from atc.convert.targets import Target, make_backend
from atc.convert.workers import run_jobs
from atc.load.rules import one_line
from atc.model import Conversion, Rule

_backends: dict[Target, Backend] = {}  # this process's backends: one per target entry, so per (backend, pipelines, format)
# pySigma's context on a non-Sigma error, naming the rule's file: atc converts parsed text, so it said "rule None"
_NO_SOURCE = re.compile(r" \(while [\w ]+ rule None\)")


def conversion_text(rule: Rule) -> str:
    """What a rule's conversions depend on: its own text, or the documents converted together (base rules, filters)."""
    if rule.conversion_docs is None:
        return rule.source_text
    return json.dumps(rule.conversion_docs, sort_keys=True, default=str, ensure_ascii=False)


def convert_one(data: dict | list[dict], target: Target) -> Conversion:
    """Convert one rule (its parsed YAML, or the documents converted together, the rule last) for one target, in a worker
    process under the target's time limit, with the warnings the backend gave; never raises."""
    _prepare_backends({target})
    return next(run_jobs([(data, (target,))], 1, convert_here))[0]


def convert_here(data: dict | list[dict], target: Target) -> Conversion:
    """convert_one in this process, without a time limit (what a worker runs); never raises."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        conversion = _convert_one(data, target)
    if caught:
        return replace(conversion, warnings=tuple(dict.fromkeys(f"{w.category.__name__}: {one_line(w.message)}" for w in caught)))
    return conversion


@dataclass
class _Converted:
    """A rule converted for a target, kept for its deploy-format twin: the backend and rule used and what the backend
    finalised, as (query, index, state) before finalisation."""

    backend: Backend
    rule: SigmaRule
    finalised: list[tuple[Any, int, ConversionState]]


_last: tuple[object, dict[str, _Converted]] = (None, {})  # in a worker: the rule data converted last, by target key


# convert_rule overrides whose work before finalisation does not depend on the output format for a rule converted alone:
# sqlite's only adds work for rules other rules refer to; Loki's converts again (shorter) when a finalised text is too
# long, which the twin sees as more finalisations than conditions (see _convert_rule)
_OWN_FOR_ONE_RULE = frozenset(
    {"sigma.backends.sqlite.sqlite.sqliteBackend.convert_rule", "sigma.backends.loki.loki.LogQLBackend.convert_rule"}
)


def _shares_format(backend: Backend, target: Target) -> bool:
    """Whether the target's conversion can serve its deploy format too, up to the per-query finalisation: its backend's
    convert_rule is pySigma's own or one known to finalise the same queries in every format, and no output format
    brings a pipeline of its own (tests/test_deploy_exports.py checks the results against conversions of their own)."""
    convert = type(backend).convert_rule
    own = convert is Backend.convert_rule or f"{convert.__module__}.{convert.__qualname__}" in _OWN_FOR_ONE_RULE
    return own and _format_pipeline(backend, target.output_format) == _format_pipeline(backend, export_format(target))


def _format_pipeline(backend: Backend, output_format: str) -> object:
    """The pipeline the backend adds for an output format (pySigma keeps them in a defaultdict: read without adding a key)."""
    pipelines = backend.output_format_processing_pipeline
    found = pipelines.get(output_format)
    if found is None and isinstance(pipelines, defaultdict) and pipelines.default_factory is not None:
        return pipelines.default_factory()
    return found


def _convert_recording(rule: SigmaRule, target: Target, backend: Backend) -> tuple[list[Any], _Converted]:
    """The rule's queries for the target, with what the backend finalised: each query, its index and a copy of its state
    as finalisation found it (finalisers may empty the state's deferred expressions)."""
    finalised: list[tuple[Any, int, ConversionState]] = []
    finalize = backend.finalize_query

    def recording(rule: SigmaRule, query: Any, index: int, state: ConversionState, output_format: str) -> Any:
        finalised.append((query, index, replace(state, deferred=list(state.deferred), processing_state=dict(state.processing_state))))
        return finalize(rule, query, index, state, output_format)

    backend.finalize_query = recording  # type: ignore[method-assign]
    try:
        return backend.convert_rule(rule, target.output_format), _Converted(backend, rule, finalised)
    finally:
        del backend.finalize_query  # the class's own again


def _convert_rule(data: dict, target: Target, backend: Backend) -> list[Any]:
    """One rule's queries for a target; a deploy-format twin finalises again, in its own format, what its page target
    finalised just before in this process (as the backend's convert_rule would), instead of converting the rule again.
    That holds while the backend finalised once per condition: more means it converted again after seeing a finalised
    text (Loki shortens long queries), which another format need not do."""
    global _last
    if _last[0] is not data:
        _last = (data, {})
    made = _last[1].get(target.deploy_of) if target.deploy_of else None
    if made is not None and len(made.finalised) == len(made.rule.detection.parsed_condition):
        rule = made.rule
        finalised = [made.backend.finalize_query(rule, query, index, state, target.output_format) for query, index, state in made.finalised]
        return finalised if rule._output else []
    rule = SigmaRule.from_dict(data)
    if not export_format(target) or target.raw or not _shares_format(backend, target):
        return backend.convert_rule(rule, target.output_format)
    queries, _last[1][target.key] = _convert_recording(rule, target, backend)
    return queries


def _convert_one(data: dict | list[dict], target: Target) -> Conversion:
    """Convert one rule for one target; never raises."""
    try:
        backend = _backends.get(target) or _backends.setdefault(target, make_backend(target))
        if isinstance(data, dict):
            queries = _convert_rule(data, target, backend)
        else:  # pySigma resolves the references and applies the filters; only the last document is output
            queries = backend.convert(SigmaCollection.from_dicts(copy.deepcopy(data)), target.output_format)
    except Exception as exc:  # a backend may raise anything; the page shows the reason
        _backends.pop(target, None)  # a failed conversion can leave state behind (kusto repeats old errors in new ones)
        return Conversion(target.key, "failed", error=f"{type(exc).__name__}: {_NO_SOURCE.sub('', one_line(exc))}")
    if target.raw and queries:  # a deploy format: the backend's output objects, kept for its finaliser (atc/convert/deploy.py)
        try:
            return Conversion(target.key, "ok", query=json.dumps(list(queries), ensure_ascii=False))
        except (TypeError, ValueError) as exc:
            return Conversion(target.key, "failed", error=f"the backend's output is not JSON data: {one_line(exc)}")
    text = "\n".join(
        query if isinstance(query, str) else json.dumps(query) for query in queries
    )  # exactly what the backend returned (objects as sigma-cli prints them): a trailing space can be part of a value
    if not text.strip():
        return Conversion(target.key, "failed", error="the backend produced no query for this rule")
    return Conversion(target.key, "ok", query=text)


@dataclass
class ConvertStats:
    """How the convert stage got its conversions: from the cache or by running a backend."""

    cached: int = 0
    converted: int = 0
    for_exports: int = 0  # conversions in deploy formats (run or cached), counted apart from the pages' ones


def convert_rules(
    rules: list[Rule],
    targets: list[Target],
    jobs: int,
    on_done: Callable[[int], None] = lambda n: None,
    cache: ConversionCache | None = None,
) -> ConvertStats:
    """Fill every rule's conversions: cached ones from the cache, the rest in `jobs` worker processes; results do not depend on scheduling."""
    stats = ConvertStats()
    fingerprints = cache.fingerprints(targets) if cache else {}
    rules = [rule for rule in rules if rule.convertible]
    keys = [ConversionCache.text_key(conversion_text(rule)) for rule in rules] if cache else []
    stored = cache.get_many(keys) if cache else {}
    pending: list[tuple[Rule, str, tuple[Target, ...]]] = []
    for number, rule in enumerate(rules):
        key = keys[number] if cache else ""
        row = stored.get(key, {})
        rule.conversions = {t.key: row[fingerprints[t]] for t in targets if fingerprints.get(t) in row}
        raw = sum(t.raw for t in targets if t.key in rule.conversions)
        stats.cached += len(rule.conversions) - raw
        stats.for_exports += raw
        missing = tuple(t for t in targets if t.key not in rule.conversions)
        if missing:
            pending.append((rule, key, missing))
        else:
            on_done(1)
    work = [(rule.conversion_docs or rule.data, missing) for rule, _, missing in pending]
    _prepare_backends({t for _, _, missing in pending for t in missing})  # the forked workers inherit them
    _collect(pending, targets, run_jobs(work, max(1, jobs), convert_here), on_done, cache, stats)
    return stats


def _prepare_backends(targets: set[Target]) -> None:
    """Create this process's backends before forking, so every worker starts with them instead of building its own."""
    for target in sorted(targets, key=lambda t: t.key):
        if target not in _backends:
            try:
                _backends[target] = make_backend(target)
            except Exception:  # convert_one reports the same error for each rule
                continue


def _collect(
    pending: list[tuple[Rule, str, tuple[Target, ...]]],
    targets: list[Target],
    results: Iterator[list[Conversion]],
    on_done: Callable[[int], None],
    cache: ConversionCache | None,
    stats: ConvertStats,
) -> None:
    """Merge results in work order (target order on each rule), storing them in the cache in batches."""
    fingerprints = cache.fingerprints(targets) if cache else {}
    batch: dict[str, dict[str, Conversion]] = {}
    for (rule, key, missing), conversions in zip(pending, results):
        done = {**rule.conversions, **{c.target: c for c in conversions}}
        rule.conversions = {t.key: done[t.key] for t in targets if t.key in done}
        raw = sum(t.raw for t in missing)
        stats.converted += len(conversions) - raw
        stats.for_exports += raw
        if cache:
            batch.setdefault(key, {}).update((fingerprints[t], c) for t, c in zip(missing, conversions))
            if len(batch) >= 100:
                cache.put_many(batch)
                batch = {}
        on_done(1)
    if cache and batch:
        cache.put_many(batch)
