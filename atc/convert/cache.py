"""A content-addressed cache of conversions: one SQLite file keyed by rule text, target definition and code versions."""
from __future__ import annotations

import hashlib
import importlib.metadata
import json
import pickle
import sqlite3
from dataclasses import asdict
from functools import cache
from pathlib import Path
from typing import Iterable

from atc.convert.targets import Target
from atc.memo import discard, open_db
from atc.model import Conversion

FORMAT = 2  # bump when the stored layout changes; the converting code itself is fingerprinted below
DB_NAME = "conversions.sqlite3"
BACKENDS_DIR = Path(__file__).resolve().parent / "backends"
RUNNER = Path(__file__).resolve().parent / "runner.py"  # fresh rules, time limits, reasons and query joining: every target
_SCHEMA = """
DROP TABLE IF EXISTS conversion;
CREATE TABLE IF NOT EXISTS rule_conversions (text TEXT PRIMARY KEY, conversions BLOB NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS memo (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
"""
Stored = dict[str, Conversion]  # a rule text's conversions by target fingerprint


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
    """Conversions stored by content: one row per rule text holding its conversions by target fingerprint.

    A warm build reads one row per rule instead of one per (rule, target). Safe for concurrent builds: SQLite WAL,
    and rows are merged under the write lock. The cache folder is trusted like the code (rows are pickles).
    """

    def __init__(self, cache_dir: Path) -> None:
        self.path = cache_dir / DB_NAME
        self.db = open_db(self.path, _SCHEMA)
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
        try:
            row = self.db.execute("SELECT value FROM memo WHERE key = ?", (memo_key,)).fetchone()
            if row:
                return json.loads(row[0])
        except (sqlite3.DataError, sqlite3.OperationalError, ValueError):  # a damaged value (undecodable text) is a miss
            pass
        from sigma.plugins import InstalledSigmaPlugins

        found = InstalledSigmaPlugins.autodiscover().pipelines
        owners = {name: module_distribution(getattr(factory, "__module__", ""), dists) for name, factory in found.items()}
        mapping = {name: owner for name, owner in sorted(owners.items()) if owner}
        self.db.execute("INSERT OR REPLACE INTO memo VALUES (?, ?)", (memo_key, json.dumps(mapping, sort_keys=True)))
        return mapping

    @staticmethod
    def text_key(source_text: str) -> str:
        """The row key of a rule text: its sha256."""
        return _sha256(source_text)

    def get_many(self, keys: list[str]) -> dict[str, Stored]:
        """The stored conversions of the rule texts that have any, by row key (looked up in key order: a third of the time of random order)."""
        found: dict[str, Stored] = {}
        ordered = sorted(set(keys))
        try:
            for start in range(0, len(ordered), 5000):
                batch = ordered[start : start + 5000]
                marks = ",".join("?" * len(batch))
                for key, blob in self.db.execute(f"SELECT text, conversions FROM rule_conversions WHERE text IN ({marks})", batch):
                    try:
                        found[key] = pickle.loads(blob)
                    except Exception:  # a damaged row is a miss: converted again and stored over
                        continue
        except sqlite3.OperationalError:
            raise
        except sqlite3.DatabaseError as exc:  # corrupted past its header: start afresh
            self.db.close()
            discard(self.path, exc)
            self.db = open_db(self.path, _SCHEMA)
            return {}
        return found

    def put_many(self, rows: dict[str, Stored]) -> None:
        """Add conversions to the rows of their rule texts in one transaction, keeping what another build stored meanwhile."""
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            current = self.get_many(list(rows))
            merged = [(key, pickle.dumps({**current.get(key, {}), **new}, protocol=pickle.HIGHEST_PROTOCOL)) for key, new in rows.items()]
            self.db.executemany("INSERT OR REPLACE INTO rule_conversions VALUES (?, ?)", merged)
