"""The target registry: one entry per query language a rule page shows, in page order."""

from __future__ import annotations

import os
import shlex
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from importlib import metadata
from pathlib import Path

from sigma.conversion.base import Backend

from atc.common.cache import installed_distributions
from atc.convert.plugins import backend_class, is_pipeline_file, pipeline_allows, pipeline_module, resolve_pipelines


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
    note: str = ""  # what the query expects of the data, shown on the targets page
    requires: str = ""  # the input the query is exact for, stated under every query of the target
    options: tuple[tuple[str, str | int | tuple[str | int, ...]], ...] = ()  # backend options (sigma-cli's -O key=value)
    shown_pipelines: tuple[str, ...] | None = None  # pipelines as the team wrote them (files relative to atc.yml); None: pipelines
    files_digest: str = ""  # sha256 of the pipeline files' content: an edited file makes another target (backends, cache, pages)
    attack_digest: str = ""  # the ATT&CK data its format names techniques from (siem_rule formats): a new snapshot converts again
    export: str | None = None  # deployable output format for exports/<key>/ ("": none; None: the backend's usual one)
    raw: bool = False  # keep the backend's per-rule output objects as a JSON list (deployable formats are finalised later)
    deploy_of: str = ""  # a deploy-format twin: the key of the target whose conversion it finalises in its own format

    @property
    def written_pipelines(self) -> tuple[str, ...]:
        """The pipelines as atc.yml names them (files relative to its folder), for pages: never a machine's own path."""
        return self.shown_pipelines if self.shown_pipelines is not None else self.pipelines


GREP_NOTE = (
    "Sigma's semantics on the decoded values of JSON lines: a pattern stays inside its field's value, numbers match JSON "
    "numbers or the same digits in a string, null means absent or JSON null, keywords look at values only, case is "
    "folded for all of Unicode, regular expressions are rewritten for JSON's escapes (word boundaries, backreferences and "
    "lookbehind are refused with the reason). A dotted Sigma field needs the dotted key (flatten nested objects)."
)
GREP_REQUIRES = "UTF-8 JSON lines as json.dumps(event, ensure_ascii=False) writes them, keyed by Sigma field names; run grep in a UTF-8 locale (LC_ALL=C.UTF-8)."
SQLITE_NOTE = (
    "A table `logs` with one column per Sigma field (dotted names for nested JSON), declared `TEXT COLLATE NOCASE` "
    "as Zircolite does, since Sigma matching is case-insensitive and SQLite's `=` is not; `re` needs a REGEXP function. "
    "SQLite's own NOCASE and LIKE fold ASCII only (CAFÉ differs from café): atc's verifier registers Unicode-aware "
    "ones; in your database load the ICU extension or register them. pySigma's SQLite backend (`sigma convert -t sqlite`) "
    "with `|gt`/`|lt` comparing numbers (`CAST(... AS REAL)`: upstream compares TEXT columns as text) and IPv6 networks "
    "as a REGEXP over every spelling (upstream: LIKE prefixes of one spelling)."
)

LUCENE_NOTE = (
    "pySigma's Lucene backend (`sigma convert -t lucene -p ecs_windows`) with every whitespace character of a value "
    "escaped or phrase-quoted: upstream escapes only the space, so a value holding a line break becomes two terms."
)

KUSTO_NOTE = (
    "pySigma's Kusto backend with the pipeline chosen per rule: the first of microsoft_xdr (Defender XDR Device* tables), "
    "sentinel_asim (Sentinel ASIM tables) and azure_monitor (SecurityEvent and other Azure Monitor tables) that maps the "
    "rule's log source to a table holding the rule's fields; the query's first line names it (`sigma convert -t kusto -p <pipeline>` gives the rest)."
)

TARGETS: tuple[Target, ...] = (
    Target("powershell", "PowerShell (Get-WinEvent)", "atc.convert.backends:PowerShellBackend", language="powershell"),
    Target("es-qs", "Elasticsearch query string (Lucene, ECS)", "atc.convert.backends:LuceneBackend", ("ecs_windows",), note=LUCENE_NOTE),
    Target(
        "xpack-watcher",
        "Elasticsearch X-Pack Watcher",
        "atc.convert.backends:WatcherBackend",
        ("ecs_windows",),
        "watcher",
        language="bash",
        export="",
    ),
    Target("graylog", "Graylog search", "atc.convert.backends:GraylogBackend"),
    Target("splunk", "Splunk SPL", "sigma.backends.splunk:SplunkBackend", ("splunk_windows",), sigma_cli="splunk"),
    Target("logpoint", "LogPoint", "sigma.backends.logpoint:Logpoint", ("logpoint_windows",), sigma_cli="logpoint"),
    Target("grep", "grep -P over JSON lines", "atc.convert.backends:GrepBackend", language="bash", note=GREP_NOTE, requires=GREP_REQUIRES),
    Target("esql", "Elasticsearch ES|QL", "sigma.backends.elasticsearch:ESQLBackend", ("ecs_windows",), sigma_cli="esql"),
    Target("eql", "Elasticsearch EQL", "sigma.backends.elasticsearch:EqlBackend", ("ecs_windows",), sigma_cli="eql"),
    Target(
        "kusto",
        "KQL (Defender XDR, Sentinel ASIM or Azure Monitor tables)",
        "atc.convert.backends:KustoBackend",
        language="kusto",
        note=KUSTO_NOTE,
    ),
    Target("loki", "Grafana Loki (LogQL)", "sigma.backends.loki:LogQLBackend", sigma_cli="loki"),
    Target("sqlite", "SQLite", "atc.convert.backends:SQLiteBackend", language="sql", note=SQLITE_NOTE),
)

# Available with --targets or in atc.yml, not shown by default.
OPTIONAL_TARGETS: tuple[Target, ...] = (
    Target(
        "splunk-spl2",
        "Splunk SPL2",
        "atc.convert.backends:SplunkSPL2Backend",
        ("splunk_windows",),
        note="pySigma's splunk_spl2 backend with SPL2's precedence (AND before OR) and escaped backslashes: upstream, and so "
        "`sigma convert -t splunk_spl2`, drops the parentheses around OR groups inside an AND and writes a backslash before "
        "a wildcard like an escaped %, which changes the query's meaning.",
    ),
)

BY_KEY: dict[str, Target] = {target.key: target for target in TARGETS + OPTIONAL_TARGETS}
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


def backend_options(target: Target) -> dict[str, object]:
    """The target's backend options as sigma-cli hands them to the backend (a key given several times: a list)."""
    return {name: list(value) if isinstance(value, tuple) else value for name, value in target.options}


def make_backend(target: Target) -> Backend:
    """A fresh backend for one target, its pipelines resolved by name from the plugin registry (never by import order)."""
    return backend_class(target.backend)(processing_pipeline=resolve_pipelines(target.pipelines), **backend_options(target))


def sigma_cli_command(
    target: Target, rule_file: str, rule_dir: Path | None = None, filters: tuple[str, ...] = (), others: tuple[str, ...] = ()
) -> str:
    """The command line that reproduces this target's query outside atc (sigma-cli, or atc for our own backends).

    It runs in the rule file's folder: pipeline files are named relative to rule_dir (as written in atc.yml without it);
    filters: filter files applied to the rule (`--filter`); others: files converted with it (a correlation's base rules).
    """
    has_files = rule_dir is not None and any(is_pipeline_file(spec) for spec in target.pipelines)
    options = "".join(f" --filter {shlex.quote(name)}" for name in filters)
    files = " ".join(shlex.quote(name) for name in (*others, rule_file))  # file names come from a pull request: never shell syntax
    return f"{_command_prefix(target, rule_dir if has_files else None)}{options} {files}"


def _shown_pipelines(target: Target, rule_dir: Path | None) -> list[str]:
    """The -p arguments: pipeline names, and files relative to the rule's folder (or as written in atc.yml)."""
    if rule_dir is None:
        return list(target.written_pipelines)
    return [os.path.relpath(spec, rule_dir) if is_pipeline_file(spec) else spec for spec in target.pipelines]


@cache
def _command_prefix(target: Target, rule_dir: Path | None = None) -> str:
    """The reproduction command without the rule file, computed once per target and folder (pipeline discovery is slow)."""
    if target.sigma_cli is None:
        return f"atc convert -t {target.key}"
    parts = ["sigma", "convert", "-t", target.sigma_cli]
    for name in _shown_pipelines(target, rule_dir):
        parts += ["-p", shlex.quote(name)]
    if not target.pipelines and backend_class(target.backend).requires_pipeline:
        parts.append("--without-pipeline")
    if any(not pipeline_allows(name, target.sigma_cli) for name in target.pipelines):
        parts.append("--disable-pipeline-check")
    if target.output_format != "default":
        parts += ["-f", target.output_format]
    for name, value in target.options:
        for item in value if isinstance(value, tuple) else (value,):
            parts += ["-O", shlex.quote(f"{name}={item}")]
    return " ".join(parts)


def sigma_distributions() -> dict[str, str]:
    """Installed pySigma distributions (pySigma, its backends and pipelines) by name, with their versions."""
    return {name: version for name, version in installed_distributions().items() if name.lower().replace("_", "-").startswith("pysigma")}


def module_distribution(module: str, distributions: Iterable[str]) -> str | None:
    """The distribution (among those given) whose files include the module, found without importing it."""
    stem = module.replace(".", "/")
    candidates = {f"{stem}.py", f"{stem}/__init__.py"}
    for name in distributions:
        files = metadata.distribution(name).files or []
        if any(str(path) in candidates for path in files):
            return name
    return None


@cache
def _module_distributions() -> dict[str, tuple[str, str]]:
    """Installed Python module name -> (distribution, version), from the distributions' file lists."""
    found: dict[str, tuple[str, str]] = {}
    for dist in metadata.distributions():
        for file in dist.files or ():
            if file.suffix == ".py":
                module = ".".join(file.with_suffix("").parts).removesuffix(".__init__")
                found.setdefault(module, (dist.metadata["Name"], dist.version))
    return found


def _distribution_of(module: str) -> str:
    """'name version' of the distribution that installed a module (atc itself for our own backends)."""
    pysigma = sigma_distributions()
    owner = module_distribution(module, pysigma)  # the usual case, without reading every distribution's file list
    if owner is not None:
        return f"{owner} {pysigma[owner]}"
    if module.split(".")[0] == "atc":
        return f"atc {metadata.version('atc')}"
    known = _module_distributions()
    parts = module.split(".")
    while parts:
        if ".".join(parts) in known:
            return " ".join(known[".".join(parts)])
        parts.pop()
    return f"atc {metadata.version('atc')}" if module.startswith("atc") else f"{module} (unknown version)"


@cache
def target_versions(target: Target) -> dict[str, str]:
    """What produced the target's queries: pySigma, the backend's and each pipeline's distribution with versions."""
    backend = backend_class(target.backend)
    versions = {"pySigma": metadata.version("pysigma"), "backend": _distribution_of(backend.__module__)}
    upstream = next((c for c in backend.__mro__[1:] if c.__module__.startswith("sigma.backends.")), None)
    if backend.__module__.startswith("atc.") and upstream is not None:  # atc's subclass of a pySigma backend
        versions["upstream backend"] = _distribution_of(upstream.__module__)
    for name in (*getattr(backend, "own_pipelines", ()), *(spec for spec in target.pipelines if not is_pipeline_file(spec))):
        versions[f"pipeline {name}"] = _distribution_of(pipeline_module(name))
    return versions
