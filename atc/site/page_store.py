"""The HTML pages an earlier site build wrote, remembered by a digest of their Markdown and of everything site-wide they depend on."""

from __future__ import annotations

import logging
import os
import pickle
import posixpath
import re
import shutil
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from atc.common.cache import digest

FORMAT = 3  # bump when Remembered or the keys change
# links as Markdown writes them inline and by reference, and as HTML does; each pattern starts with a literal (fast to scan for);
# a false match only adds a link to the key
_LINKS = tuple(
    re.compile(pattern) for pattern in (rb"\]\([ \t]*<?([^)\s>]+)", rb"\]:[ \t]*<?([^\s>]+)", rb'href="([^"]+)"', rb"src=\"([^\"]+)\"")
)
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")
_PACKAGES = ("mkdocs", "mkdocs-material", "markdown", "pymdown-extensions", "jinja2", "atc")
_CODE = ("plugin.py", "mkdocs_adapter.py", "page_html.py")


@dataclass
class Remembered:
    """What the build needs of a page it does not render again: its title, anchors, links, search entries, log records and HTML file."""

    key: bytes
    title: str | None
    anchor_ids: set[str] | None
    links_to_anchors: dict[str, dict[str, str]] | None  # keyed by the linked file's src_uri
    search_entries: list[dict[str, Any]] | None
    records: list[logging.LogRecord]
    size: int
    mtime_ns: int
    inode: int = 0


def _versions() -> list[str]:
    """The versions of the packages that shape a page's HTML."""
    found = []
    for name in _PACKAGES:
        try:
            found.append(f"{name}=={metadata.version(name)}")
        except metadata.PackageNotFoundError:
            found.append(f"{name} missing")
    return found


def _folder_state(folder: Path) -> list[str]:
    """Every file below a folder with its size and modification time (a theme's custom templates)."""
    if not folder.is_dir():
        return []
    return sorted(
        f"{path.relative_to(folder)}:{path.stat().st_size}:{path.stat().st_mtime_ns}" for path in folder.rglob("*") if path.is_file()
    )


def site_fingerprint(config_file: Path | None, overrides: dict[str, object], theme_dirs: list[str]) -> bytes:
    """A digest of what every page's HTML depends on besides its own Markdown and links: configuration, versions, theme."""
    parts: list[bytes | str] = [f"atc-site-pages {FORMAT}", config_file.read_bytes() if config_file and config_file.is_file() else b""]
    parts += [repr(sorted(overrides.items())), "\n".join(_versions())]
    parts += [Path(__file__).with_name(module).read_bytes() for module in _CODE]  # the code that shapes every page
    site_packages = {str(Path(path).resolve()) for path in sys.path if path.endswith("site-packages")}
    for folder in theme_dirs:  # installed themes: their versions above; a custom_dir: its files
        if not any(str(Path(folder).resolve()).startswith(prefix) for prefix in site_packages):
            parts.append("\n".join([folder, *_folder_state(Path(folder))]))
    return digest(*parts)


def link_targets(src_uri: str, source: bytes) -> list[str]:
    """The site paths a page's Markdown (or raw HTML) links to, relative links only, resolved against the page's folder."""
    folder = posixpath.dirname(src_uri)
    raw = {link for pattern in _LINKS for link in pattern.findall(source)}
    found = set()
    for link in raw:
        target = unquote(link.decode("utf-8", "replace").split("#", 1)[0].split("?", 1)[0])  # as mkdocs reads a link
        if target and not _SCHEME.match(target) and not target.startswith("/"):
            found.add(posixpath.normpath(posixpath.join(folder, target)))
    return sorted(found)


def page_key(fingerprint: bytes, src_uri: str, source: bytes, links: list[tuple[str, str | None]]) -> bytes:
    """A page's key: the site's fingerprint, its place, its Markdown, and what each of its links leads to (a URL, or nothing)."""
    return digest(fingerprint, src_uri, source, repr(links))


class PageStore:
    """The remembered pages of the last build, read from and written to one pickle file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.pages: dict[str, Remembered] = {}
        try:
            with path.open("rb") as handle:
                stored = pickle.load(handle)
            if isinstance(stored, dict) and stored.get("format") == FORMAT:
                self.pages = stored["pages"]
        except (OSError, pickle.PickleError, EOFError, AttributeError, KeyError, TypeError, ValueError):
            self.pages = {}

    def usable(self, src_uri: str, key: bytes, previous_file: Path) -> Remembered | None:
        """The page as remembered, if its key matches and the earlier build's HTML file is still there, unchanged."""
        found = self.pages.get(src_uri)
        if found is None or found.key != key:
            return None
        try:
            stat = previous_file.stat()
        except OSError:
            return None
        return found if (stat.st_size, stat.st_mtime_ns, stat.st_ino) == (found.size, found.mtime_ns, found.inode) else None

    def save(self, pages: dict[str, Remembered]) -> None:
        """Replace the stored pages with this build's (written next to the file, then renamed over it)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
        with partial.open("wb") as handle:
            pickle.dump({"format": FORMAT, "pages": pages}, handle, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(partial, self.path)


def carry_over(source: Path, target: Path) -> os.stat_result:
    """Put the earlier build's file into the new site (a hard link where possible, else a copy); return its state."""
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)
    return target.stat()
