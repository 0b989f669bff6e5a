"""Stage the new docs/ tree: generated pages, unchanged pages with their old mtimes, hand-written files kept."""

from __future__ import annotations

import json
import os
import posixpath
import shutil
import stat
from dataclasses import dataclass, field
from pathlib import Path

from atc.common.resources import DOCS_MANIFEST

MANIFEST = DOCS_MANIFEST  # docs/'s marker: the pages atc generated there


@dataclass(frozen=True)
class WriteReport:
    written: int
    unchanged: int
    removed: int
    refused: list[tuple[str, str]] = field(default_factory=list)  # hand-written entries kept out of the site: (relative path, why)
    clashes: list[str] = field(default_factory=list)  # hand-written files at a generated page's path: kept, the page not written


def generated_pages(docs_dir: Path) -> set[str]:
    """The pages the last build wrote into docs_dir (its manifest); hand-written files are not among them."""
    try:
        return set(json.loads((docs_dir / MANIFEST).read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        return set()


def _keep(source: str, target: str) -> None:
    """Carry a file over unchanged (its folder exists): a hard link where possible, else a copy with its mtime; links stay links."""
    if os.path.islink(source):
        os.symlink(os.readlink(source), target)
        return
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def _existing(docs_dir: Path) -> tuple[list[str], list[str]]:
    """The files and folders below docs_dir as relative POSIX paths, sorted (symbolic links to folders count as files)."""
    files: list[str] = []
    folders: list[str] = []
    for root, dirs, names in os.walk(docs_dir):
        base = os.path.relpath(root, docs_dir)
        prefix = "" if base == "." else base.replace(os.sep, "/") + "/"
        for name in dirs:
            (files if os.path.islink(os.path.join(root, name)) else folders).append(prefix + name)
        files.extend(prefix + name for name in names)
    return sorted(files), sorted(folders)


def _refusal(source: str, root: Path) -> str | None:
    """Why a hand-written entry of docs/ is not carried into the site, or None: links out of docs/, special files."""
    if os.path.islink(source):
        if not Path(source).resolve().is_relative_to(root):
            return (
                "symbolic link to a place outside the docs folder; left out of the site (its target would be published), kept in the folder"
            )
        return None
    mode = os.lstat(source).st_mode
    if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        return "not a regular file (a FIFO, socket or device); left out of the site, kept in the folder"
    return None


def carry_refused(report: WriteReport, docs_dir: Path, into: Path) -> None:
    """Put the hand-written entries kept out of the site back into the staged docs/ (once the site is built): atc deletes none of them."""
    for relative, _ in report.refused:
        source, target = os.path.join(docs_dir, relative), os.path.join(into, relative)
        if os.path.islink(source):
            os.symlink(os.readlink(source), target)
        else:
            os.link(source, target)  # a FIFO or device: its own inode again (copying would read it)


def _same(path: str, data: bytes) -> bool:
    """Whether the regular file at path holds exactly data."""
    if os.path.islink(path) or not os.path.isfile(path) or os.path.getsize(path) != len(data):
        return False
    with open(path, "rb") as handle:
        return handle.read() == data


def _write_new(target: Path, text: str) -> int:
    """Write a page into the staging folder unless something is staged there already (never overwritten); 1 if written."""
    try:
        with open(target, "xb") as handle:
            handle.write(text.encode("utf-8"))
    except FileExistsError:
        return 0
    return 1


def write_pages(pages: dict[str, str], docs_dir: Path, into: Path) -> WriteReport:
    """Fill the empty folder `into` with docs_dir's hand-written files and the pages; docs_dir itself is not touched."""
    root = into.resolve()
    previous = generated_pages(docs_dir)
    files, folders = _existing(docs_dir) if docs_dir.is_dir() else ([], [])
    docs_root = docs_dir.resolve()
    refused: list[tuple[str, str]] = []
    clashes: list[str] = []
    for folder in folders:
        os.makedirs(root / folder, exist_ok=True)
    unchanged = removed = 0
    kept: set[str] = set()
    for relative in files:
        if relative == MANIFEST:
            continue
        source = os.path.join(docs_dir, relative)
        if relative in pages:
            if _same(source, pages[relative].encode("utf-8")):
                _keep(source, os.path.join(root, relative))
                kept.add(relative)
                unchanged += 1
            elif previous and relative not in previous:  # written by hand since the last build: atc does not replace it
                _keep(source, os.path.join(root, relative))
                kept.add(relative)
                clashes.append(relative)
        elif relative in previous:
            removed += 1  # generated by an earlier build, no longer generated
        elif why := _refusal(source, docs_root):
            refused.append((relative, why))
        else:
            _keep(source, os.path.join(root, relative))  # hand-written
    written = 0
    folders_inside: dict[str, Path] = {}  # page folder -> its resolved path, checked to lie inside the staging folder
    for relative, text in sorted(pages.items()):
        if relative in kept:
            continue
        folder, name = posixpath.split(relative)
        if name in ("", ".", ".."):
            raise ValueError(f"page path {relative!r} names no file")
        if folder not in folders_inside:
            resolved = (root / folder).resolve()
            if not resolved.is_relative_to(root):
                raise ValueError(f"page path {relative!r} leaves the docs folder")
            resolved.mkdir(parents=True, exist_ok=True)
            folders_inside[folder] = resolved
        written += _write_new(folders_inside[folder] / name, text)
    _drop_emptied(root, folders, previous)
    (root / MANIFEST).write_text(json.dumps(sorted(set(pages) - set(clashes)), indent=0) + "\n", encoding="utf-8")
    return WriteReport(written, unchanged, removed, refused, clashes)


def _drop_emptied(root: Path, folders: list[str], previous: set[str]) -> None:
    """Remove the staged folders left empty that held pages of the last build (a target's exports when it is dropped);
    a folder made by hand stays, empty or not."""
    generated = {path.rsplit("/", depth)[0] for path in previous for depth in range(1, path.count("/") + 1)}
    for folder in sorted(generated.intersection(folders), key=lambda name: -name.count("/")):  # the deepest first
        with os.scandir(root / folder) as entries:
            empty = next(entries, None) is None
        if empty:
            os.rmdir(root / folder)


def replace_pages(pages: dict[str, str], docs_dir: Path) -> list[str]:
    """Put new versions of pages the last build generated into docs/ in place, each written whole and then renamed over
    the old one; return those that changed (a page the last build did not write, or a hand-written file, is left alone)."""
    previous = generated_pages(docs_dir)
    changed: list[str] = []
    for relative, text in sorted(pages.items()):
        target = docs_dir / relative
        data = text.encode("utf-8")
        if relative not in previous or os.path.islink(target) or not target.is_file() or _same(str(target), data):
            continue
        fresh = target.with_name(f".{target.name}.atc-new")
        fresh.write_bytes(data)
        os.replace(fresh, target)
        changed.append(relative)
    return changed
