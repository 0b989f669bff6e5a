"""Atomic output: build the new docs/ and site/ in staging folders next to them, then swap each into place."""

from __future__ import annotations

import ctypes
import os
import shutil
import tempfile
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from atc.common.resources import SITE_MARKER
from atc.site.docs_writer import MANIFEST  # docs/'s marker: the pages atc generated there

_STAGING = ".atc-new-"  # .docs.atc-new-<pid>-<random>: a build's staging folder
_BACKUP = ".atc-old"  # .docs.atc-old: the previous tree during a non-atomic swap
_RENAME_EXCHANGE = 2  # linux/fs.h
_AT_FDCWD = -100


class OutputError(Exception):
    """An output folder cannot be used (not atc's, or not writable); the message says which and why."""


@dataclass(frozen=True)
class Staging:
    """Where this build writes: complete new trees that replace docs/ (and site/) only when the build succeeds."""

    docs: Path
    site: Path | None


def check_output(docs_dir: Path, site_dir: Path | None, inputs: Iterable[Path] = ()) -> None:
    """Refuse output folders that are not atc's: one that holds an input of the build or the current folder, a
    non-empty site/ without atc's marker, a docs/ holding a repository."""
    for folder in (docs_dir, site_dir):
        if folder is None:
            continue
        resolved = folder.resolve()
        for path in (*inputs, Path.cwd()):
            if path.resolve().is_relative_to(resolved):
                raise OutputError(
                    f"{folder}: holds {path}, which the build reads (or works in); atc replaces its output folders, "
                    "so give each one a folder of its own"
                )
    if site_dir is not None:  # each folder is swapped whole: one inside the other would lose the inner one's files
        docs, site = docs_dir.resolve(), site_dir.resolve()
        if docs.is_relative_to(site) or site.is_relative_to(docs):
            raise OutputError(
                f"{site_dir}: the site folder and the docs folder {docs_dir} are the same or one holds the other; "
                "atc replaces each of them whole, so give each one a folder of its own"
            )
    if site_dir is not None and site_dir.is_dir() and not (site_dir / SITE_MARKER).is_file() and any(site_dir.iterdir()):
        raise OutputError(
            f"{site_dir}: the site folder is not empty and was not built by atc (no {SITE_MARKER} in it); "
            "atc replaces its site folder whole, so give an empty or new folder (or delete this one yourself)"
        )
    if docs_dir.is_dir() and not (docs_dir / MANIFEST).is_file() and (docs_dir / ".git").exists():
        raise OutputError(f"{docs_dir}: the docs folder holds a git repository (.git) and was not written by atc; give another folder")
    for folder in (docs_dir, site_dir):
        if folder is not None and folder.exists() and not folder.is_dir():
            raise OutputError(f"{folder}: exists and is not a folder")


def _sibling(target: Path, suffix: str) -> Path:
    """A hidden folder next to target: .docs<suffix>."""
    return target.parent / f".{target.name}{suffix}"


def _alive(pid: int) -> bool:
    """Whether a process with this id exists (its staging folder may still be in use)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        pass
    return True


def recover(target: Path) -> None:
    """Undo what a build killed in mid-swap or mid-staging left behind next to target."""
    backup = _sibling(target, _BACKUP)
    if backup.is_dir():
        if target.exists():
            shutil.rmtree(backup, ignore_errors=True)
        else:
            os.rename(backup, target)
    for leftover in target.parent.glob(f".{target.name}{_STAGING}*"):
        pid = leftover.name.removeprefix(f".{target.name}{_STAGING}").split("-", 1)[0]
        if pid.isdecimal() and not _alive(int(pid)):
            shutil.rmtree(leftover, ignore_errors=True)


def staging_dir(target: Path) -> Path:
    """A fresh empty folder next to target (same file system, so the swap is a rename)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    recover(target)
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}{_STAGING}{os.getpid()}-"))
    staging.chmod(
        target.stat().st_mode & 0o7777 if target.is_dir() else 0o777 & ~_umask()
    )  # mkdtemp's 0700 would hide the site from a web server
    return staging


def _umask() -> int:
    """The process's file-creation mask (read by setting it, then put back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _exchange(new: Path, target: Path) -> bool:
    """Atomically exchange two paths with Linux renameat2(RENAME_EXCHANGE); False where unsupported."""
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):
        return False
    result = renameat2(_AT_FDCWD, os.fsencode(new), _AT_FDCWD, os.fsencode(target), _RENAME_EXCHANGE)
    return result == 0


def _remove_later(tree: Path) -> None:
    """Remove a replaced tree in a background thread (thousands of folders take seconds); the process waits for it at exit."""
    gone = tree.with_name(f"{tree.name}-old")  # still a staging name: recover() removes it if the process dies first
    os.rename(tree, gone)
    threading.Thread(target=shutil.rmtree, args=(gone,), kwargs={"ignore_errors": True}, name=f"remove {gone.name}").start()


def swap_in(new: Path, target: Path) -> None:
    """Put the tree at new in target's place; afterwards new holds nothing the caller needs."""
    if not target.exists():
        os.rename(new, target)
        return
    if _exchange(new, target):
        _remove_later(new)  # the previous tree; what cannot go now, recover() removes later
        return
    backup = _sibling(target, _BACKUP)  # fallback: two renames; recover() repairs a kill between them
    os.rename(target, backup)
    os.rename(new, target)
    shutil.rmtree(backup, ignore_errors=True)


@contextmanager
def publishing(docs_dir: Path, site_dir: Path | None) -> Iterator[Staging]:
    """Yield staging folders; on success swap them in as docs_dir and site_dir, on any failure leave both untouched."""
    docs_dir, site_dir = docs_dir.resolve(), site_dir.resolve() if site_dir else None  # a symlinked docs/ keeps its link
    check_output(docs_dir, site_dir)
    try:
        staging = Staging(staging_dir(docs_dir), staging_dir(site_dir) if site_dir else None)
    except OSError as exc:
        raise OutputError(f"{exc.filename or docs_dir}: cannot write the output: {exc.strerror or exc}") from exc
    try:
        yield staging
        if staging.site is not None:
            (staging.site / SITE_MARKER).write_text("built by atc: `atc build` replaces this folder whole\n", encoding="utf-8")
        swap_in(staging.docs, docs_dir)
        if staging.site is not None and site_dir is not None:
            swap_in(staging.site, site_dir)
    except OSError as exc:
        raise OutputError(f"{exc.filename or docs_dir}: cannot write the output: {exc.strerror or exc}") from exc
    finally:
        for folder in (staging.docs, staging.site):
            if folder is not None and folder.exists():
                shutil.rmtree(folder, ignore_errors=True)
