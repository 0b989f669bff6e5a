"""Read the history of the rule folders with few git commands: one `git log --raw` pass for every rule, the first-parent
chain and the tags for the changes page, and the boundary of a shallow clone."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from atc.history.gitrev import git_output


@dataclass(frozen=True)
class Commit:
    """One commit as the history shows it."""

    sha: str
    parents: tuple[str, ...]
    time: int  # author time, seconds since the epoch
    author: str
    subject: str

    @property
    def date(self) -> str:
        """The author date, UTC, as YYYY-MM-DD."""
        return time.strftime("%Y-%m-%d", time.gmtime(self.time))

    @property
    def iso(self) -> str:
        """The author date and time, UTC, in ISO 8601 (RFC 3339)."""
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.time))


@dataclass(frozen=True)
class FileChange:
    """One file a commit added (A), changed (M), moved (R) or deleted (D), with the blob ids before and after."""

    status: str
    old_path: str | None
    path: str | None
    old_blob: str | None
    blob: str | None


_FORMAT = "%x01%H%x1f%P%x1f%at%x1f%an%x1f%s"


def _commit(header: bytes) -> Commit:
    sha, parents, when, author, subject = header.lstrip(b"\n").lstrip(b"\x01").decode("utf-8", "replace").split("\x1f", 4)
    return Commit(sha, tuple(parents.split()), int(when), author, subject)


def read_log(top: Path, paths: list[str], depth: int) -> list[tuple[Commit, list[FileChange]]]:
    """The last `depth` commits that touched the paths (relative to the top), newest first, each with its file changes (moves detected)."""
    if not paths:
        return []
    output = git_output(
        top, "log", "-z", "--raw", "-M", "-l20000", "--no-abbrev", f"--format={_FORMAT}", f"-n{depth}", "HEAD", "--", *paths
    )
    tokens = output.split(b"\0")
    log: list[tuple[Commit, list[FileChange]]] = []
    position = 0
    while position < len(tokens):
        token = tokens[position].lstrip(b"\n")
        position += 1
        if token.startswith(b"\x01"):
            log.append((_commit(token), []))
        elif token.startswith(b":") and log:
            meta = token.decode().split()
            status = meta[4][0]
            old_blob, blob = (None if not b.strip("0") else b for b in meta[2:4])  # all zeros (40 or 64): no file
            first = tokens[position].decode("utf-8", "surrogateescape")
            position += 1
            if status in ("R", "C"):
                second = tokens[position].decode("utf-8", "surrogateescape")
                position += 1
                change = FileChange("R", first, second, old_blob, blob) if status == "R" else FileChange("A", None, second, None, blob)
            elif status == "D":
                change = FileChange("D", first, None, old_blob, None)
            else:  # A, M, T (type change)
                change = FileChange("A" if status == "A" else "M", None if status == "A" else first, first, old_blob, blob)
            log[-1][1].append(change)
    return log


def shallow_boundary(top: Path) -> set[str]:
    """The commits whose parents a shallow clone does not have (empty for a full clone)."""
    if git_output(top, "rev-parse", "--is-shallow-repository").strip() != b"true":
        return set()
    shallow = Path(git_output(top, "rev-parse", "--git-path", "shallow").decode().strip())
    shallow = shallow if shallow.is_absolute() else top / shallow
    try:
        return set(shallow.read_text(encoding="ascii").split())
    except OSError:
        return set()


def first_parent_chain(top: Path, depth: int) -> list[Commit]:
    """HEAD's first-parent chain, newest first, at most depth commits (committer time, for grouping by month)."""
    output = git_output(top, "log", "-z", "--first-parent", "--format=%H%x1f%P%x1f%ct%x1f%an%x1f%s", f"-n{depth}", "HEAD")
    return [_commit(record) for record in output.split(b"\0") if record.strip()]


def tags(top: Path) -> dict[str, list[str]]:
    """The tags HEAD contains, by commit: commit -> tag names."""
    output = git_output(top, "for-each-ref", "--merged=HEAD", "--format=%(objectname)%00%(*objectname)%00%(refname:strip=2)", "refs/tags")
    named: dict[str, list[str]] = {}
    for line in output.decode("utf-8", "replace").splitlines():
        obj, peeled, name = line.split("\0", 2)
        named.setdefault(peeled or obj, []).append(name)
    return {sha: sorted(names) for sha, names in named.items()}


def commits(top: Path, shas: list[str]) -> dict[str, Commit]:
    """The commits (author time), by id."""
    if not shas:
        return {}
    output = git_output(top, "log", "-z", "--no-walk=unsorted", "--format=%H%x1f%P%x1f%at%x1f%an%x1f%s", *shas)
    found = [_commit(record) for record in output.split(b"\0") if record.strip()]
    return {commit.sha: commit for commit in found}
