"""Atomic output: build the new docs/ and site/ in staging folders next to them, then swap each into place."""
from __future__ import annotations

import ctypes
import os
import shutil
import tempfile
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

_STAGING = ".atc-new-"  # .docs.atc-new-<pid>-<random>: a build's staging folder
_BACKUP = ".atc-old"  # .docs.atc-old: the previous tree during a non-atomic swap
_RENAME_EXCHANGE = 2  # linux/fs.h
_AT_FDCWD = -100


@dataclass(frozen=True)
class Staging:
    """Where this build writes: complete new trees that replace docs/ (and site/) only when the build succeeds."""

    docs: Path
    site: Path | None


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
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(leftover, ignore_errors=True)


def staging_dir(target: Path) -> Path:
    """A fresh empty folder next to target (same file system, so the swap is a rename)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    recover(target)
    return Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}{_STAGING}{os.getpid()}-"))


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
    staging = Staging(staging_dir(docs_dir), staging_dir(site_dir) if site_dir else None)
    try:
        yield staging
        swap_in(staging.docs, docs_dir)
        if staging.site is not None and site_dir is not None:
            swap_in(staging.site, site_dir)
    finally:
        for folder in (staging.docs, staging.site):
            if folder is not None and folder.exists():
                shutil.rmtree(folder, ignore_errors=True)
