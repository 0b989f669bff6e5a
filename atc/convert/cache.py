"""A content-addressed cache of conversions: one SQLite file keyed by rule text, target definition and code versions."""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import pickle
import sqlite3
import sys
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import asdict
from functools import cache
from pathlib import Path

from atc.convert.plugins import is_pipeline_file
from atc.convert.targets import Target
from atc.memo import discard, open_db
from atc.model import Conversion

FORMAT = 3  # bump when the stored layout changes; the converting code itself is fingerprinted below
DB_NAME = "conversions.sqlite3"
CONVERT_DIR = Path(__file__).resolve().parent
# The grep target's regex rewrite uses Python's regex parser and Unicode tables: part of what a query depends on.
PYTHON = f"{sys.version_info.major}.{sys.version_info.minor} unicode {unicodedata.unidata_version}"
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


def converter_version() -> str:
    """A hash of atc's converting code (runner, targets, plugin registry, own backends): editing it invalidates conversions."""
    return _sha256(*(f"{path.name}\n{path.read_text(encoding='utf-8')}" for path in _converter_sources()))


def _converter_sources() -> list[Path]:
    """The source files whose code decides a conversion."""
    return sorted(CONVERT_DIR.glob("*.py")) + sorted((CONVERT_DIR / "backends").glob("*.py"))


def _file_digest(spec: str) -> str:
    """The content hash of a pipeline file or folder of YAML files (missing ones hash as missing)."""
    path = Path(spec)
    files = sorted(path.glob("**/*.yml")) if path.is_dir() else [path]
    return _sha256(*(f"{file}\n{file.read_text(encoding='utf-8') if file.is_file() else '<missing>'}" for file in files))


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
        """Each target's fingerprint: its definition, every installed pySigma distribution's version, atc's converting
        code and the content of any pipeline file it names (a pipeline or backend may pull in any other plugin)."""
        missing = [target for target in targets if target not in self._fingerprints]
        if missing:
            versions = sigma_distributions()
            code = converter_version()
            for target in missing:
                files = {spec: _file_digest(spec) for spec in target.pipelines if is_pipeline_file(spec)}
                facts = {"format": FORMAT, "target": asdict(target), "versions": versions, "code": code, "files": files, "python": PYTHON}
                self._fingerprints[target] = _sha256(json.dumps(facts, sort_keys=True))
        return {target: self._fingerprints[target] for target in targets}

    def remembered(self, name: str, digest: str, make: Callable[[], str]) -> str:
        """make(), or what it gave last time for inputs with the same digest: one row per name, replaced when they change."""
        row = self.db.execute("SELECT value FROM memo WHERE key = ?", (name,)).fetchone()
        if row:
            stored = json.loads(row[0])
            if stored.get("digest") == digest:
                return str(stored["value"])
        value = make()
        self.db.execute("INSERT OR REPLACE INTO memo VALUES (?, ?)", (name, json.dumps({"digest": digest, "value": value})))
        return value

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
