"""The build's cache: one SQLite database of remembered values, and the one policy that fingerprints their inputs.

A value sits in a slot of its kind (a parsed rule file, a page, a rule text's conversions, an export file) with the
digest of what it was made from, and is used again only while that digest matches. Every digest comes from `digest`:
code and templates through `files_digest`, installed distributions through `installed_distributions`, other values
through `value_digest`. The cache folder is trusted like the code (values are pickles).
"""

from __future__ import annotations

import errno
import hashlib
import importlib.metadata
import io
import pickle
import sqlite3
import sys
from collections.abc import Callable, Iterable
from functools import cache
from pathlib import Path
from typing import Any

DB_NAME = "cache.sqlite3"
FORMER_DB_NAMES = ("memo.sqlite3", "conversions.sqlite3")  # the two stores this one replaced: deleted when met
ATC_ROOT = Path(__file__).resolve().parent.parent
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS slot "
    "(kind TEXT, slot TEXT, digest BLOB NOT NULL, value BLOB NOT NULL, PRIMARY KEY (kind, slot)) WITHOUT ROWID"
)


def digest(*parts: bytes | str) -> bytes:
    """The sha256 of the parts, each prefixed by its length (no two lists of parts give the same bytes)."""
    found = hashlib.sha256()
    for part in parts:
        data = part.encode("utf-8", "surrogatepass") if isinstance(part, str) else part
        found.update(len(data).to_bytes(8, "big"))
        found.update(data)
    return found.digest()


def files_digest(paths: Iterable[Path], root: Path | None = None) -> bytes:
    """A digest of files' names (relative to root, else as given) and bytes, in name order; a missing file counts as missing."""
    parts: list[bytes | str] = []
    for path in sorted(paths):
        parts.append(str(path.relative_to(root)) if root else str(path))
        parts.append(path.read_bytes() if path.is_file() else "<missing>")
    return digest(*parts)


def value_digest(value: object, pickler: Callable[[io.BytesIO], pickle.Pickler] | None = None) -> bytes:
    """A digest of a value's content: pickled without a memo (equal values give equal bytes however they share objects;
    values are trees, never cyclic), by the given pickler (e.g. one that writes known objects as references)."""
    buffer = io.BytesIO()
    made = pickler(buffer) if pickler else pickle.Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL)
    made.fast = True  # without a memo; without a custom pickler, pickling runs at C speed
    made.dump(value)
    return digest(buffer.getvalue())


@cache
def installed_distributions() -> dict[str, str]:
    """Every installed distribution by name, with its version (the first found on sys.path wins, as import does)."""
    found: dict[str, str] = {}
    for dist in importlib.metadata.distributions():
        found.setdefault(dist.metadata["Name"] or "", dist.version)
    return dict(sorted(found.items()))


@cache
def code_digest() -> bytes:
    """A digest of atc's own sources and of every installed distribution's name and version."""
    versions = "\n".join(f"{name}=={version}" for name, version in installed_distributions().items())
    return digest(files_digest(ATC_ROOT.rglob("*.py"), ATC_ROOT), versions)


def discard(path: Path, why: BaseException) -> None:
    """Delete a corrupted cache database (and its WAL files) with a warning; the build fills a new one."""
    print(
        f"atc: warning: {path}: the cache is unreadable ({' '.join(str(why).split()) or type(why).__name__}); discarded, it is rebuilt",
        file=sys.stderr,
    )
    _delete(path)


_checked: set[tuple[Path, int]] = set()  # the database files this process found sound (path, inode)


def _delete(path: Path) -> None:
    for name in (path.name, f"{path.name}-wal", f"{path.name}-shm", f"{path.name}-journal"):
        path.with_name(name).unlink(missing_ok=True)


def _connect(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, timeout=60, isolation_level=None, check_same_thread=False)  # a store may be closed by a helper thread
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        checked = (path, path.stat().st_ino)
        if checked not in _checked:  # once per file and process: 0.06 s on a 100 MB cache
            if db.execute("PRAGMA quick_check").fetchone()[0] != "ok":
                raise sqlite3.DatabaseError("the database's structure is damaged (quick_check)")
            _checked.add(checked)
        db.executescript(_SCHEMA)
    except sqlite3.Error:
        db.close()
        raise
    return db


def open_db(path: Path) -> sqlite3.Connection:
    """The cache database in WAL mode with its schema; a corrupted file (not a busy or unwritable one) is discarded and started afresh."""
    path.parent.mkdir(parents=True, exist_ok=True)
    for name in FORMER_DB_NAMES:
        _delete(path.with_name(name))
    try:
        return _connect(path)
    except sqlite3.OperationalError as exc:  # busy past the timeout, or not writable: nothing to discard
        raise OSError(errno.EIO, f"cannot use the cache database ({exc})", str(path)) from exc
    except sqlite3.DatabaseError as exc:
        discard(path, exc)
        return _connect(path)


class Store:
    """One kind of remembered value (e.g. "rule", "page", "conversions") in the cache folder's database.

    Read in bulk (`get`) or by slot (`get_many`), written in one transaction on `write`/`close`. Values are stored
    uncompressed: on a 3,780-rule corpus the pages take 77 MB instead of 21 MB, and a warm build reads them in 0.05 s
    instead of 0.3 s. Safe for concurrent builds: SQLite WAL, and merged values are merged under the write lock.
    """

    def __init__(self, cache_dir: Path, kind: str) -> None:
        self.kind = kind
        self.path = cache_dir / DB_NAME
        self.db = open_db(self.path)
        self._stored: dict[str, tuple[bytes, bytes]] | None = None
        self._pending: list[tuple[str, str, bytes, bytes]] = []

    def _start_afresh(self, why: sqlite3.DatabaseError) -> None:
        """The database is corrupted past its header: discard it and open a new one."""
        self.db.close()
        discard(self.path, why)
        self.db = open_db(self.path)

    def get(self, slot: str, digest: bytes) -> Any | None:
        """The value remembered for slot when it was made from the same digest, else None (the kind is read whole at first)."""
        if self._stored is None:
            try:
                rows = self.db.execute("SELECT slot, digest, value FROM slot WHERE kind = ?", (self.kind,))
                self._stored = {slot: (stored_digest, value) for slot, stored_digest, value in rows}
            except sqlite3.OperationalError:
                raise
            except sqlite3.DatabaseError as exc:
                self._start_afresh(exc)
                self._stored = {}
        found = self._stored.get(slot)
        return _loads(found[1]) if found is not None and found[0] == digest else None

    def get_many(self, slots: Iterable[str]) -> dict[str, Any]:
        """The values of the slots that have one, whatever their digest (for content-addressed slots), looked up in slot order."""
        found: dict[str, Any] = {}
        ordered = sorted(set(slots))  # in key order: a third of the time of random order
        try:
            for start in range(0, len(ordered), 5000):
                batch = ordered[start : start + 5000]
                marks = ",".join("?" * len(batch))
                query = f"SELECT slot, value FROM slot WHERE kind = ? AND slot IN ({marks})"
                for slot, blob in self.db.execute(query, (self.kind, *batch)):
                    value = _loads(blob)
                    if value is not None:
                        found[slot] = value
        except sqlite3.OperationalError:
            raise
        except sqlite3.DatabaseError as exc:
            self._start_afresh(exc)
            return {}
        return found

    def put(self, slot: str, digest: bytes, value: Any) -> None:
        """Remember value for slot (written by write or close)."""
        self._pending.append((self.kind, slot, digest, pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)))

    def put_merged(self, values: dict[str, dict]) -> None:
        """Add entries to the dictionaries stored in the slots, in one transaction, keeping what another build stored meanwhile."""
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            current = self.get_many(values)
            merged = [
                (self.kind, slot, b"", pickle.dumps({**current.get(slot, {}), **new}, protocol=pickle.HIGHEST_PROTOCOL))
                for slot, new in sorted(values.items())  # in key order, as in write
            ]
            self.db.executemany("INSERT OR REPLACE INTO slot VALUES (?, ?, ?, ?)", merged)

    def write(self, keep: Iterable[str] | None = None) -> None:
        """Write what was put; with keep, forget the slots of this kind not in it (deleted items)."""
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            self._pending.sort(key=lambda row: row[1])  # in key order: a third faster than digests' random order
            self.db.executemany("INSERT OR REPLACE INTO slot VALUES (?, ?, ?, ?)", self._pending)
            if keep is not None:
                wanted = set(keep)
                stale = [
                    (self.kind, slot)
                    for (slot,) in self.db.execute("SELECT slot FROM slot WHERE kind = ?", (self.kind,))
                    if slot not in wanted
                ]
                self.db.executemany("DELETE FROM slot WHERE kind = ? AND slot = ?", stale)
        self._pending = []

    def close(self, keep: Iterable[str] | None = None) -> None:
        """Write what was put (see write), give the space back when much was forgotten, and close the database."""
        self.write(keep)
        free, total = (self.db.execute(f"PRAGMA {name}").fetchone()[0] for name in ("freelist_count", "page_count"))
        if free * 3 > total:  # much forgotten (a new atc version renders everything again)
            self.db.execute("VACUUM")
        self.db.close()


def _loads(blob: bytes) -> Any | None:
    """A stored value, or None when it is damaged (a miss: made again and stored over)."""
    try:
        return pickle.loads(blob)
    except Exception:
        return None
