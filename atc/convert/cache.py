"""A content-addressed cache of conversions: one SQLite file keyed by rule text, target definition and code versions."""
from __future__ import annotations

import hashlib
import importlib.metadata
import json
import sqlite3
from dataclasses import asdict
from functools import cache
from pathlib import Path
from typing import Iterable

from atc.convert.targets import Target
from atc.model import Conversion

FORMAT = 1  # bump when the stored layout changes; the converting code itself is fingerprinted below
DB_NAME = "conversions.sqlite3"
BACKENDS_DIR = Path(__file__).resolve().parent / "backends"
RUNNER = Path(__file__).resolve().parent / "runner.py"  # fresh rules, time limits, reasons and query joining: every target
_SCHEMA = """
CREATE TABLE IF NOT EXISTS conversion (key TEXT PRIMARY KEY, status TEXT NOT NULL, query TEXT, error TEXT) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS memo (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
"""


def _sha256(*parts: str) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode("utf-8", "surrogatepass"))
        digest.update(b"\0")
    return digest.hexdigest()


@cache
def sigma_distributions() -> dict[str, str]:
    """Installed pySigma distributions (pySigma, its backends and pipelines) by name, with their versions."""
    found: dict[str, str] = {}
    for dist in importlib.metadata.distributions():
        name = dist.metadata["Name"] or ""
        if name.lower().replace("_", "-").startswith("pysigma"):
            found.setdefault(name, dist.version)
    return dict(sorted(found.items()))


def module_distribution(module: str, distributions: Iterable[str]) -> str | None:
    """The distribution (among those given) whose files include the module, found without importing it."""
    stem = module.replace(".", "/")
    candidates = {f"{stem}.py", f"{stem}/__init__.py"}
    for name in distributions:
        files = importlib.metadata.distribution(name).files or []
        if any(str(path) in candidates for path in files):
            return name
    return None


def runner_version() -> str:
    """A hash of the runner's source: how it reports failures and joins queries is part of every stored conversion."""
    return _sha256(RUNNER.read_text(encoding="utf-8"))


def atc_backends_version() -> str:
    """A hash of atc's own backend sources: editing them invalidates the targets they implement."""
    return _sha256(*(f"{path.name}\n{path.read_text(encoding='utf-8')}" for path in sorted(BACKENDS_DIR.glob("*.py"))))


class ConversionCache:
    """Conversions stored by content key; safe for concurrent builds (SQLite WAL, one transaction per batch)."""

    def __init__(self, cache_dir: Path) -> None:
        cache_dir.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(cache_dir / DB_NAME, timeout=60, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(_SCHEMA)
        self._fingerprints: dict[Target, str] = {}

    def close(self) -> None:
        self.db.close()

    def fingerprints(self, targets: list[Target]) -> dict[Target, str]:
        """Each target's fingerprint: its definition plus the versions of every piece of code that converts for it."""
        missing = [target for target in targets if target not in self._fingerprints]
        if missing:
            dists = sigma_distributions()
            pipelines = self._pipeline_distributions(dists)
            atc_code = atc_backends_version()
            runner_code = runner_version()
            for target in missing:
                module = target.backend.split(":")[0]
                owners = {"pySigma", module_distribution(module, dists) if not module.startswith("atc.") else None}
                owners.update(pipelines.get(name) for name in target.pipelines)
                versions = {name: dists.get(name) for name in sorted(owner for owner in owners if owner)}
                facts = {"format": FORMAT, "target": asdict(target), "versions": versions, "atc": atc_code if module.startswith("atc.") else None, "runner": runner_code}
                self._fingerprints[target] = _sha256(json.dumps(facts, sort_keys=True))
        return {target: self._fingerprints[target] for target in targets}

    def _pipeline_distributions(self, dists: dict[str, str]) -> dict[str, str]:
        """Pipeline name → distribution; discovering pipelines imports every plugin, so it is remembered per environment."""
        memo_key = "pipelines:" + _sha256(json.dumps(dists, sort_keys=True))
        row = self.db.execute("SELECT value FROM memo WHERE key = ?", (memo_key,)).fetchone()
        if row:
            return json.loads(row[0])
        from sigma.plugins import InstalledSigmaPlugins

        found = InstalledSigmaPlugins.autodiscover().pipelines
        owners = {name: module_distribution(getattr(factory, "__module__", ""), dists) for name, factory in found.items()}
        mapping = {name: owner for name, owner in sorted(owners.items()) if owner}
        self.db.execute("INSERT OR REPLACE INTO memo VALUES (?, ?)", (memo_key, json.dumps(mapping, sort_keys=True)))
        return mapping

    @staticmethod
    def keys(fingerprints: dict[Target, str], source_text: str) -> dict[Target, str]:
        """The content key of one rule text for each target: the target's fingerprint with the text's own sha256."""
        text = _sha256(source_text)
        return {target: _sha256(fingerprint, text) for target, fingerprint in fingerprints.items()}

    def get_many(self, keys: list[str]) -> dict[str, tuple[str, str | None, str | None]]:
        """Stored (status, query, error) rows for the keys that are present."""
        found: dict[str, tuple[str, str | None, str | None]] = {}
        for start in range(0, len(keys), 500):
            batch = keys[start : start + 500]
            marks = ",".join("?" * len(batch))
            for key, status, query, error in self.db.execute(f"SELECT key, status, query, error FROM conversion WHERE key IN ({marks})", batch):
                found[key] = (status, query, error)
        return found

    def put_many(self, items: list[tuple[str, Conversion]]) -> None:
        """Store conversions under their keys in one transaction."""
        rows = [(key, c.status, c.query, c.error) for key, c in items]
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            self.db.executemany("INSERT OR REPLACE INTO conversion VALUES (?, ?, ?, ?)", rows)
