"""The site's own scripts and styles, shipped in the package and written into docs/ like generated pages."""

from __future__ import annotations

from pathlib import Path

STATIC_DIR = Path(__file__).resolve().parent / "static"


def site_assets() -> dict[str, str]:
    """Every file under atc/site/static/, keyed by its path relative to docs/."""
    return {
        path.relative_to(STATIC_DIR).as_posix(): path.read_text(encoding="utf-8")
        for path in sorted(STATIC_DIR.rglob("*"))
        if path.is_file()
    }
