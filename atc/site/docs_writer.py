"""Write generated pages into docs/: only what changed, removing pages this tool wrote before and no longer generates."""
from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

MANIFEST = ".atc-generated.json"  # dot file: mkdocs leaves it out of the site


@dataclass(frozen=True)
class WriteReport:
    written: int
    unchanged: int
    removed: int


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".atc-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def _previous(docs_dir: Path) -> set[str]:
    try:
        return set(json.loads((docs_dir / MANIFEST).read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        return set()


def write_pages(pages: dict[str, str], docs_dir: Path) -> WriteReport:
    """Write pages whose bytes differ from what is on disk; hand-written files are never touched."""
    docs_root = docs_dir.resolve()
    written = unchanged = removed = 0
    for relative, text in sorted(pages.items()):
        target = (docs_root / relative).resolve()
        if not target.is_relative_to(docs_root):
            raise ValueError(f"page path {relative!r} leaves the docs folder")
        data = text.encode("utf-8")
        try:
            if target.read_bytes() == data:
                unchanged += 1
                continue
        except OSError:
            pass
        _atomic_write(target, data)
        written += 1
    for stale in sorted(_previous(docs_root) - set(pages)):
        path = (docs_root / stale).resolve()
        if path.is_relative_to(docs_root) and path.is_file():
            path.unlink()
            removed += 1
    _atomic_write(docs_root / MANIFEST, (json.dumps(sorted(pages), indent=0) + "\n").encode("utf-8"))
    return WriteReport(written, unchanged, removed)
