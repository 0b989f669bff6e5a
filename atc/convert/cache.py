"""The conversion cache: what a conversion's key consists of, on top of the build's cache (atc/common/cache.py).

A rule text's conversions sit in one slot, by target fingerprint: a warm build reads one slot per rule instead of
one per (rule, target).
"""

from __future__ import annotations

import json
import sys
import unicodedata
from dataclasses import asdict
from functools import cached_property
from pathlib import Path

from atc.common.cache import Store, digest, files_digest
from atc.convert.plugins import is_pipeline_file
from atc.convert.targets import Target, sigma_distributions
from atc.model import Conversion

FORMAT = 4  # bump when the stored layout changes; the converting code itself is fingerprinted below
CONVERT_DIR = Path(__file__).resolve().parent
# The grep target's regex rewrite uses Python's regex parser and Unicode tables: part of what a query depends on.
PYTHON = f"{sys.version_info.major}.{sys.version_info.minor} unicode {unicodedata.unidata_version}"
Stored = dict[str, Conversion]  # a rule text's conversions by target fingerprint


def converter_version() -> str:
    """A digest of atc's converting code (runner, targets, plugin registry, own backends): editing it invalidates conversions."""
    sources = [*CONVERT_DIR.glob("*.py"), *(CONVERT_DIR / "backends").glob("*.py")]
    return files_digest(sources, CONVERT_DIR).hex()


def pipeline_files_digest(spec: str) -> str:
    """A digest of a pipeline file, or of the YAML files of a pipeline folder (missing ones count as missing)."""
    path = Path(spec)
    return files_digest(sorted(path.glob("**/*.yml")) if path.is_dir() else [path], path if path.is_dir() else path.parent).hex()


class ConversionCache:
    """Conversions stored by content: one slot per rule text holding its conversions by target fingerprint."""

    def __init__(self, cache_dir: Path) -> None:
        self.cache_dir = cache_dir
        self.store = Store(cache_dir, "conversions")
        self._fingerprints: dict[Target, str] = {}

    @cached_property
    def exports(self) -> Store:
        """The export files made from deploy conversions (opened when a build has deploy targets)."""
        return Store(self.cache_dir, "export")

    def close(self) -> None:
        self.store.close()
        if "exports" in vars(self):
            self.exports.close()

    def fingerprints(self, targets: list[Target]) -> dict[Target, str]:
        """Each target's fingerprint: its definition, every installed pySigma distribution's version, atc's converting
        code and the content of any pipeline file it names (a pipeline or backend may pull in any other plugin)."""
        missing = [target for target in targets if target not in self._fingerprints]
        if missing:
            versions = sigma_distributions()
            code = converter_version()
            for target in missing:
                # pipeline files by content and as atc.yml names them: where the repository sits is no part of a query
                files = [pipeline_files_digest(spec) if is_pipeline_file(spec) else None for spec in target.pipelines]
                definition = {**asdict(target), "pipelines": target.written_pipelines}
                facts = {"format": FORMAT, "target": definition, "versions": versions, "code": code, "files": files, "python": PYTHON}
                self._fingerprints[target] = digest(json.dumps(facts, sort_keys=True)).hex()
        return {target: self._fingerprints[target] for target in targets}

    @staticmethod
    def text_key(source_text: str) -> str:
        """The slot of a rule text: its digest."""
        return digest(source_text).hex()

    def get_many(self, keys: list[str]) -> dict[str, Stored]:
        """The stored conversions of the rule texts that have any, by slot."""
        return self.store.get_many(keys)

    def put_many(self, rows: dict[str, Stored]) -> None:
        """Add conversions to the slots of their rule texts in one transaction, keeping what another build stored meanwhile."""
        self.store.put_merged(rows)
