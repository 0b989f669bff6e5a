"""The team's own targets from atc.yml: any installed pySigma backend with installed pipelines or pipeline files."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml
from sigma.exceptions import SigmaError
from sigma.processing.pipeline import ProcessingPipeline

from atc.common.cache import digest
from atc.convert.deploy import usual_export
from atc.convert.plugins import ATC_BACKENDS, backend_class, backend_ids, is_pipeline_file, pipeline_names, resolve_pipelines
from atc.convert.targets import BY_KEY, DEFAULT_TARGETS, Target, UnknownTargetError, backend_options
from atc.settings import TargetEntry


class TargetError(UnknownTargetError):
    """A team target in atc.yml that cannot be used: the message names the entry and what to fix."""


def pysigma_backends() -> list[str]:
    """The identifiers of the installed pySigma backends (what `sigma list targets` lists)."""
    return [name for name in backend_ids() if name not in ATC_BACKENDS]


@dataclass(frozen=True)
class InstalledBackend:
    """An installed pySigma backend as the targets page lists it."""

    name: str
    formats: tuple[str, ...]
    deploy_format: str  # the one atc exports by default, or ""
    pipelines: tuple[str, ...]  # installed pipelines meant for it (those declaring no backend excluded)


def installed_plugins() -> dict[str, object]:
    """What a team can name in atc.yml: installed backends (with formats and their pipelines) and generic pipelines."""
    allowed = {name: resolve_pipelines([name]).allowed_backends for name in pipeline_names()}  # type: ignore[union-attr]
    backends = [
        InstalledBackend(
            name,
            tuple(backend_class(name).formats),
            usual_export(backend_class(name).formats),
            tuple(p for p, ok in allowed.items() if name in ok),
        )
        for name in pysigma_backends()
    ]
    return {"backends": backends, "generic_pipelines": [name for name, ok in allowed.items() if not ok]}


def pipeline_file_problem(path: Path, shown: str) -> str | None:
    """Why a pipeline file cannot be used (its line when the YAML does not parse), or None."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return f"{shown}: cannot read the pipeline file: {exc}"
    try:
        yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{shown}:{mark.line + 1}" if mark is not None else shown
        return f"{where}: the pipeline file is not valid YAML: {getattr(exc, 'problem', None) or exc}"
    try:
        ProcessingPipeline.from_yaml(text, source_path=str(path))
    except (SigmaError, ValueError, TypeError, KeyError, AttributeError) as exc:
        return f"{shown}: not a pySigma processing pipeline: {' '.join(str(exc).split()) or type(exc).__name__}"
    return None


def files_digest(pipelines: tuple[str, ...]) -> str:
    """A digest of the pipeline files' content (names stand for themselves: their versions are in the cache's key)."""
    return digest(*(Path(spec).read_bytes() if is_pipeline_file(spec) else spec for spec in pipelines)).hex()


def _pipelines(entry: TargetEntry, base_dir: Path, where: str) -> tuple[str, ...]:
    """The entry's pipelines: installed names as they are, files as paths under atc.yml's folder (checked to load)."""
    resolved: list[str] = []
    installed = set(pipeline_names())
    for spec in entry.pipelines:
        if spec in installed:
            resolved.append(spec)
            continue
        path = base_dir / spec
        if not path.is_file():
            raise TargetError(
                f"{where}: pipeline {spec!r} is neither installed (sigma list pipelines: {', '.join(sorted(installed))}) "
                f"nor a file ({path})"
            )
        problem = pipeline_file_problem(path, spec)
        if problem:
            raise TargetError(f"{where}: {problem}")
        resolved.append(str(path))
    return tuple(resolved)


def team_target(entry: TargetEntry, base_dir: Path) -> Target:
    """A target from an atc.yml entry, with every name checked against what is installed."""
    where = f"atc.yml target {entry.key!r}"
    if entry.key in BY_KEY:
        raise TargetError(f"{where}: {entry.key!r} is a built-in target's key; give the team's own target another key")
    installed = pysigma_backends()
    if entry.backend not in installed:
        raise TargetError(f"{where}: unknown backend {entry.backend!r}; installed pySigma backends: {', '.join(installed)}")
    backend = backend_class(entry.backend)
    for name, value in (("format", entry.format), ("export", entry.export)):
        if value and value not in backend.formats:
            raise TargetError(f"{where}: unknown {name} {value!r} for backend {entry.backend}; its formats: {', '.join(backend.formats)}")
    pipelines = _pipelines(entry, base_dir, where)
    target = Target(
        key=entry.key,
        label=entry.label or f"{entry.key} ({entry.backend})",
        backend=entry.backend,
        pipelines=pipelines,
        output_format=entry.format,
        language=entry.language,
        sigma_cli=entry.backend,
        options=entry.options,
        shown_pipelines=entry.pipelines,
        export=entry.export if entry.export is not None else usual_export(backend.formats),
        files_digest=files_digest(pipelines),
    )
    try:
        backend(processing_pipeline=None, **backend_options(target))
    except TypeError as exc:
        raise TargetError(f"{where}: backend {entry.backend} does not take these options: {exc}") from exc
    return target


def configured_targets(
    keys: tuple[str, ...] | list[str] | None, entries: tuple[TargetEntry, ...] = (), base_dir: Path = Path(".")
) -> list[Target]:
    """Targets by key in the order given: built-in ones and the team's own (the registry's defaults when None)."""
    own = {entry.key: entry for entry in entries}
    chosen = DEFAULT_TARGETS if keys is None else keys
    unknown = [key for key in chosen if key not in BY_KEY and key not in own]
    if unknown:
        raise UnknownTargetError(f"unknown target(s) {', '.join(unknown)}; known: {', '.join([*BY_KEY, *own])}")
    return [team_target(own[key], base_dir) if key in own else BY_KEY[key] for key in dict.fromkeys(chosen)]
