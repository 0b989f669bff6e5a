"""The target registry: one entry per query language a rule page shows, in page order."""
from __future__ import annotations

import importlib
from dataclasses import dataclass

from sigma.conversion.base import Backend
from sigma.processing.pipeline import ProcessingPipeline


@dataclass(frozen=True)
class Target:
    key: str  # section heading on the page and --targets name
    label: str  # human name
    backend: str  # "module:Class" of a pySigma backend
    pipelines: tuple[str, ...] = ()  # pySigma pipeline names, applied in order
    output_format: str = "default"
    language: str = "text"  # code-block language
    timeout: float = 30.0  # seconds for one rule
    sigma_cli: str | None = None  # `sigma convert -t` name when sigma-cli can reproduce it


TARGETS: tuple[Target, ...] = (
    Target("powershell", "PowerShell (Get-WinEvent)", "atc.convert.backends:PowerShellBackend", language="powershell"),
    Target("es-qs", "Elasticsearch query string (Lucene, ECS)", "sigma.backends.elasticsearch:LuceneBackend", ("ecs_windows",), sigma_cli="lucene"),
    Target("xpack-watcher", "Elasticsearch X-Pack Watcher", "atc.convert.backends:WatcherBackend", ("ecs_windows",), "watcher", language="bash"),
    Target("graylog", "Graylog search", "atc.convert.backends:GraylogBackend"),
    Target("splunk", "Splunk SPL", "sigma.backends.splunk:SplunkBackend", ("splunk_windows",), sigma_cli="splunk"),
    Target("logpoint", "LogPoint", "sigma.backends.logpoint:Logpoint", ("logpoint_windows",), sigma_cli="logpoint"),
    Target("grep", "grep -P over JSON lines", "atc.convert.backends:GrepBackend", language="bash"),
    Target("esql", "Elasticsearch ES|QL", "sigma.backends.elasticsearch:ESQLBackend", ("ecs_windows",), sigma_cli="esql"),
    Target("eql", "Elasticsearch EQL", "sigma.backends.elasticsearch:EqlBackend", ("ecs_windows",), sigma_cli="eql"),
    Target("kusto", "KQL (Microsoft XDR)", "sigma.backends.kusto:KustoBackend", ("microsoft_xdr",), language="kusto", sigma_cli="kusto"),
    Target("loki", "Grafana Loki (LogQL)", "sigma.backends.loki:LogQLBackend", sigma_cli="loki"),
    Target("sqlite", "SQLite", "sigma.backends.sqlite:sqliteBackend", language="sql", sigma_cli="sqlite"),
)

BY_KEY: dict[str, Target] = {target.key: target for target in TARGETS}
DEFAULT_TARGETS: tuple[str, ...] = tuple(target.key for target in TARGETS)


class UnknownTargetError(ValueError):
    """A target key that the registry does not hold."""


def select_targets(keys: tuple[str, ...] | list[str] | None) -> list[Target]:
    """Targets by key in the order given (the registry's defaults when None)."""
    chosen = DEFAULT_TARGETS if keys is None else keys
    unknown = [key for key in chosen if key not in BY_KEY]
    if unknown:
        raise UnknownTargetError(f"unknown target(s) {', '.join(unknown)}; known: {', '.join(BY_KEY)}")
    return [BY_KEY[key] for key in dict.fromkeys(chosen)]


def _resolve_pipeline(name: str) -> ProcessingPipeline:
    from sigma.plugins import InstalledSigmaPlugins

    pipelines = InstalledSigmaPlugins.autodiscover().pipelines
    if name not in pipelines:
        raise UnknownTargetError(f"processing pipeline {name!r} is not installed")
    return pipelines[name]()


def make_backend(target: Target) -> Backend:
    """A fresh backend for one target (backends are neither thread-safe nor reusable across formats)."""
    module_name, class_name = target.backend.split(":")
    backend_class = getattr(importlib.import_module(module_name), class_name)
    pipeline = None
    for name in target.pipelines:
        pipeline = _resolve_pipeline(name) if pipeline is None else pipeline + _resolve_pipeline(name)
    return backend_class(processing_pipeline=pipeline)
