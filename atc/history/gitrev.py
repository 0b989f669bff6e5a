"""Read files of a git revision without checking it out: `git ls-tree` for the listing, one `git cat-file --batch` for the blobs."""

from __future__ import annotations

import hashlib
import re
import subprocess
from pathlib import Path

_HEX_PREFIX = re.compile(r"[0-9a-fA-F]{4,39}")


class GitError(Exception):
    """git failed or the revision is unknown; the message says which and why."""


class GitMissing(GitError):
    """git itself cannot be run (not installed, not on PATH)."""


def _git(top: Path, *args: str, data: bytes | None = None) -> bytes:
    """Run one git command in the repository and return its output."""
    try:
        done = subprocess.run(["git", "--literal-pathspecs", *args], cwd=top, input=data, capture_output=True, check=False)
    except OSError as exc:
        raise GitMissing(f"cannot run git: {exc.strerror or exc}") from exc
    if done.returncode != 0:
        message = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise GitError(f"git {args[0]} failed: {message[-1] if message else f'exit status {done.returncode}'}")
    return done.stdout


def repo_top(cwd: Path) -> Path:
    """The top folder of the git working tree holding cwd."""
    try:
        return Path(_git(cwd, "rev-parse", "--show-toplevel").decode().strip()).resolve()
    except GitMissing:
        raise
    except GitError as exc:
        raise GitError(f"{cwd} is not inside a git repository ({exc})") from exc


def other_repository(folder: Path, top: Path, memo: dict[Path, Path | None]) -> Path | None:
    """The top of the git repository below top that holds the folder (a submodule, a nested clone); None: top's own."""
    path, walked = folder, []
    while path not in memo:
        if path == top or not path.is_relative_to(top) or (path / ".git").exists():
            memo[path] = path if path != top and path.is_relative_to(top) else None
            break
        walked.append(path)
        path = path.parent
    memo.update(dict.fromkeys(walked, memo[path]))
    return memo[folder]


def resolve(top: Path, rev: str) -> str:
    """The commit id a revision name (branch, tag, sha, HEAD~2, origin/main) stands for."""
    if rev.startswith("-"):
        raise GitError(f"'{rev}' is not a revision")
    try:
        return _git(top, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}").decode().strip()
    except GitError as exc:
        raise GitError(_unknown(top, rev)) from exc


def _unknown(top: Path, rev: str) -> str:
    """Why a revision name stands for no commit: no commit at all, an ambiguous short id, or unknown (a shallow clone's missing history)."""
    if not _succeeds(top, "rev-parse", "--verify", "--quiet", "HEAD^{commit}"):
        return f"unknown revision '{rev}': the repository has no commit yet"
    if _HEX_PREFIX.fullmatch(rev) and len(_git(top, "rev-parse", f"--disambiguate={rev}").split()) > 1:
        return f"revision '{rev}' is ambiguous: several objects' ids start with it; give more of the commit id"
    if _git(top, "rev-parse", "--is-shallow-repository").strip() == b"true":
        return (
            f"unknown revision '{rev}': this is a shallow clone; fetch the history (git fetch --unshallow; "
            "in GitHub Actions, `fetch-depth: 0` for actions/checkout, which fetches one commit by default) or check the name"
        )
    return f"unknown revision '{rev}': fetch it or check the name"


def _succeeds(top: Path, *args: str) -> bool:
    """Whether a git command succeeds in the repository."""
    try:
        _git(top, *args)
    except GitError:
        return False
    return True


def list_blobs(top: Path, commit: str, paths: list[str]) -> dict[str, str]:
    """Regular files under the paths (relative to the top) at the commit: path -> blob id; links and submodules are left out."""
    if not paths:
        return {}
    listing = _git(top, "ls-tree", "-r", "-z", "--full-tree", commit, "--", *paths)
    blobs: dict[str, str] = {}
    for entry in listing.split(b"\0"):
        if not entry:
            continue
        meta, _, name = entry.partition(b"\t")
        mode, kind, blob = meta.decode().split()
        if kind == "blob" and mode in ("100644", "100755"):
            blobs[name.decode("utf-8", "surrogateescape")] = blob
    return blobs


def _link_target(top: Path, commit: str, path: str) -> str | None:
    """What the symbolic link at path in the commit's tree points to; None when path is no link (GitError: a submodule)."""
    entry = _git(top, "ls-tree", "-z", commit, "--", path).split(b"\t")[0].split()
    mode = entry[0] if len(entry) == 3 else b""
    if mode == b"160000":
        raise GitError(f"{path}: at {commit[:12]}, a git submodule: its files are not in this repository's history (run atc inside it)")
    if mode != b"120000":
        return None
    blob = entry[2].decode()
    return read_blobs(top, [blob])[blob].decode("utf-8", "surrogateescape")


def tree_path(top: Path, commit: str, rel: str) -> str:
    """A path (relative to the top) with the symbolic links of the commit's tree followed, as the file system would follow them."""
    parts, done, hops = rel.split("/"), list[str](), 0
    while parts:
        part = parts.pop(0)
        target = None if part in ("", ".", "..") else _link_target(top, commit, "/".join([*done, part]))
        if (part == ".." and not done) or (target is not None and (target.startswith("/") or hops > 40)):
            raise GitError(f"{rel}: at {commit[:12]}, a symbolic link leads out of the repository or in a loop")
        if part == "..":
            done.pop()
        elif target is not None:
            hops += 1
            parts = target.split("/") + parts
        elif part not in ("", "."):
            done.append(part)
    return "/".join(done) or "."


def read_blobs(top: Path, blob_ids: list[str]) -> dict[str, bytes]:
    """The contents of the blobs, read by one `git cat-file --batch`."""
    unique = sorted(set(blob_ids))
    if not unique:
        return {}
    output = _git(top, "cat-file", "--batch", data="".join(f"{blob}\n" for blob in unique).encode())
    contents: dict[str, bytes] = {}
    position = 0
    for blob in unique:
        header_end = output.index(b"\n", position)
        name, kind, size = output[position:header_end].decode().split()
        if kind != "blob" or name != blob:
            raise GitError(f"git cat-file returned {kind} {name} for {blob}")
        start = header_end + 1
        contents[blob] = output[start : start + int(size)]
        position = start + int(size) + 1
    return contents


def changed_paths(top: Path, commit: str, paths: list[str]) -> set[str]:
    """Tracked files under the paths whose working-tree state differs from the commit (edited, added to the index, deleted)."""
    if not paths:
        return set()
    output = _git(top, "diff", "--name-only", "-z", "--no-renames", commit, "--", *paths)
    return {name.decode("utf-8", "surrogateescape") for name in output.split(b"\0") if name}


def write_blobs(top: Path, blobs: dict[str, str], dest: Path) -> None:
    """Write the blobs (path -> blob id) into dest under their paths."""
    contents = read_blobs(top, list(blobs.values()))
    root = dest.resolve()
    for name, blob in blobs.items():
        target = (root / name).resolve()
        if not target.is_relative_to(root):
            raise GitError(f"{name}: path leaves the extraction folder")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(contents[blob])


def extract(top: Path, commit: str, paths: list[str], dest: Path) -> None:
    """Write the files under the paths (relative to the top) at the commit into dest, in the same layout."""
    write_blobs(top, list_blobs(top, commit, paths), dest)


def git_output(top: Path, *args: str) -> bytes:
    """The output of one git command run in the repository; GitError when it fails."""
    return _git(top, *args)


def object_format(top: Path) -> str:
    """The repository's hash algorithm: sha1, or sha256 (`git init --object-format=sha256`)."""
    return _git(top, "rev-parse", "--show-object-format").decode().strip() or "sha1"


def blob_id(data: bytes, algorithm: str = "sha1") -> str:
    """The id git gives a file with these bytes in a repository of that object format (as `git hash-object` computes it)."""
    return hashlib.new(algorithm, b"blob %d\0" % len(data) + data).hexdigest()
