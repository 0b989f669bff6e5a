"""One registry of pySigma backends and processing pipelines (installed plugins and atc's own), built once per process.

pySigma's `@Pipeline` decorator is a singleton: every decorated pipeline function is the same object, and calling it
runs whichever function was decorated last, so `sysmon_pipeline()` can return another plugin's pipeline depending on
import order. This registry never calls decorated objects: it rebuilds each one from its defining module's code, so
a name resolves to the same pipeline whatever was imported before.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import sys
import types
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from sigma.conversion.base import Backend
from sigma.exceptions import SigmaPipelineNotAllowedForBackendError, SigmaPipelineNotFoundError
from sigma.pipelines.base import Pipeline
from sigma.processing.pipeline import ProcessingPipeline
from sigma.processing.resolver import ProcessingPipelineResolver

PipelineFactory = Callable[..., ProcessingPipeline]

# atc's own backends by identifier, imported only when asked for (they import this module).
ATC_BACKENDS: dict[str, str] = {
    "atc_powershell": "atc.convert.backends.powershell:PowerShellBackend",
    "atc_grep": "atc.convert.backends.grep:GrepBackend",
    "atc_graylog": "atc.convert.backends.graylog:GraylogBackend",
    "atc_kusto": "atc.convert.backends.kusto:KustoBackend",
    "atc_lucene": "atc.convert.backends.lucene:LuceneBackend",
    "atc_watcher": "atc.convert.backends.watcher:WatcherBackend",
    "atc_splunk_spl2": "atc.convert.backends.splunk_spl2:SplunkSPL2Backend",
    "atc_sqlite": "atc.convert.backends.sqlite:SQLiteBackend",
}


class PluginError(ValueError):
    """A backend or pipeline that the registry cannot resolve, with the reason."""


@dataclass(frozen=True)
class PipelineEntry:
    """A named pipeline: a factory returning a fresh pipeline, and the module that defines it."""

    factory: PipelineFactory
    module: str


def _import_object(spec: str) -> object:
    """The object named by "module:attribute"."""
    module_name, _, attribute = spec.partition(":")
    try:
        return getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as exc:
        raise PluginError(f"cannot import {spec!r}: {exc}") from exc


def _module_code(module: types.ModuleType) -> types.CodeType | None:
    """The compiled top-level code of a module, read again from its source (never executed)."""
    spec = importlib.util.find_spec(module.__name__)
    loader = spec.loader if spec else None
    get_code = getattr(loader, "get_code", None)
    return get_code(module.__name__) if get_code else None


def _undecorated(module: types.ModuleType, attribute: str) -> PipelineFactory | None:
    """The function a module decorated with `@Pipeline` under this name, rebuilt from the module's code and globals."""
    code = _module_code(module)
    for const in code.co_consts if code else ():
        if isinstance(const, types.CodeType) and const.co_name == attribute and const.co_argcount == 0:
            return types.FunctionType(const, vars(module), attribute)
    return None


def _from_class(cls: type[Pipeline]) -> PipelineFactory:
    """A factory calling a Pipeline subclass's `apply` on its own instance (the singleton may be another class's)."""

    def factory() -> ProcessingPipeline:
        instance = object.__new__(cls)
        instance.func = None
        return instance.apply()  # type: ignore[attr-defined]

    return factory


def _singleton_factory(name: str) -> PipelineEntry | None:
    """Rebuild a pipeline registered through the shared `Pipeline` object: find the module that defines it by name."""
    for module_name in sorted(m for m in list(sys.modules) if m.startswith("sigma.pipelines.")):
        module = sys.modules[module_name]
        for attribute, value in sorted(vars(module).items()):
            if attribute.replace("_pipeline", "") != name:
                continue
            if inspect.isclass(value) and issubclass(value, Pipeline) and value.__module__ == module_name:
                return PipelineEntry(_from_class(value), module_name)
            if isinstance(value, Pipeline):
                function = _undecorated(module, attribute)
                if function is not None:
                    return PipelineEntry(function, module_name)
    return None


@cache
def _installed_pipelines() -> Mapping[str, PipelineEntry]:
    """Every installed pipeline by name, discovered once (discovery imports every pipeline plugin, ~2 s)."""
    from sigma.plugins import InstalledSigmaPlugins

    found = InstalledSigmaPlugins.autodiscover(include_backends=False, include_validators=False).pipelines
    entries: dict[str, PipelineEntry] = {}
    for name, value in sorted(found.items()):
        if isinstance(value, Pipeline) or (inspect.isclass(value) and issubclass(value, Pipeline)):
            entry = _singleton_factory(name)
            if entry is not None:
                entries[name] = entry
        elif callable(value):
            entries[name] = PipelineEntry(value, getattr(value, "__module__", ""))
    return types.MappingProxyType(entries)


@cache
def _installed_backends() -> Mapping[str, type[Backend]]:
    """Every installed pySigma backend by identifier (sigma-cli's `-t` names), discovered once."""
    from sigma.plugins import InstalledSigmaPlugins

    found = InstalledSigmaPlugins.autodiscover(include_pipelines=False, include_validators=False).backends
    return types.MappingProxyType(dict(sorted(found.items())))


def pipeline_names() -> list[str]:
    """The names of every installed pipeline, sorted."""
    return list(_installed_pipelines())


def backend_ids() -> list[str]:
    """Every backend identifier: pySigma's installed ones, then atc's own."""
    return list(_installed_backends()) + list(ATC_BACKENDS)


def backend_class(backend: str) -> type[Backend]:
    """A backend class by identifier ("splunk", "atc_grep") or by "module:Class"."""
    if ":" in backend:
        found = _import_object(backend)
    elif backend in ATC_BACKENDS:
        found = _import_object(ATC_BACKENDS[backend])
    elif backend in _installed_backends():
        found = _installed_backends()[backend]
    else:
        raise PluginError(f"backend {backend!r} is not installed; installed: {', '.join(backend_ids())}")
    if not (inspect.isclass(found) and issubclass(found, Backend)):
        raise PluginError(f"{backend!r} is not a pySigma backend class")
    return found


def pipeline_module(name: str) -> str:
    """The module defining a named pipeline (for version reporting)."""
    entry = _installed_pipelines().get(name)
    if entry is None:
        raise PluginError(f"processing pipeline {name!r} is not installed")
    return entry.module


def pipeline(name: str, **parameters: object) -> ProcessingPipeline:
    """A fresh copy of an installed pipeline by name (with the parameters its function takes, e.g. query_table)."""
    entry = _installed_pipelines().get(name)
    if entry is None:
        raise PluginError(f"processing pipeline {name!r} is not installed; installed: {', '.join(pipeline_names())}")
    return entry.factory(**parameters)


def is_pipeline_file(spec: str) -> bool:
    """True when a pipeline spec names a YAML file or folder rather than an installed pipeline (decided without discovery)."""
    return spec.endswith((".yml", ".yaml")) or "/" in spec or Path(spec).is_dir()


def resolve_pipelines(specs: Iterable[str], backend: str | None = None) -> ProcessingPipeline | None:
    """Pipeline names and YAML files (or folders of them) as one pipeline, ordered by priority as sigma-cli does.

    With `backend` (a backend identifier) each pipeline must allow that backend. None when no spec is given.
    """
    specs = list(specs)
    if not specs:
        return None
    resolver = ProcessingPipelineResolver({name: entry.factory for name, entry in _installed_pipelines().items()})
    try:
        return resolver.resolve(specs, target=backend)
    except SigmaPipelineNotFoundError as exc:
        missing = next((spec for spec in specs if not _resolvable(spec)), specs[0])
        raise PluginError(f"processing pipeline {missing!r} is neither installed nor a readable file") from exc
    except SigmaPipelineNotAllowedForBackendError as exc:
        raise PluginError(str(exc)) from exc


def _resolvable(spec: str) -> bool:
    """True when a spec names an installed pipeline or an existing file or folder."""
    return spec in _installed_pipelines() or Path(spec.rstrip("/*")).exists()


def pipeline_allows(name: str, backend: str) -> bool:
    """True when a pipeline (name or file) declares no backends or declares this one."""
    allowed = resolve_pipelines([name]).allowed_backends  # type: ignore[union-attr]
    return not allowed or backend in allowed
