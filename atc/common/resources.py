"""Where atc's own templates, default mkdocs configuration and workflows are: inside the installed package, else the source tree."""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent.parent  # the atc package
SOURCE_ROOT = PACKAGE_DIR.parent  # the checkout, for an editable install
BUNDLED_DIR = PACKAGE_DIR / "bundled"  # written into the wheel by setup.py's build hook
# bundled name -> its source in the checkout (setup.py copies these into atc/bundled/)
SOURCES = {"templates": "templates", "mkdocs.yml": "mkdocs.yml", "workflows": ".github/workflows"}
SITE_MARKER = ".atc-site"  # in every site/ atc builds: only a folder holding it is replaced
DOCS_MANIFEST = ".atc-generated.json"  # in docs/: the pages atc generated there (a dot file: mkdocs leaves it out of the site)


def resource(name: str) -> Path:
    """The path of one of atc's own resources (a key of SOURCES): the packaged copy, else the checkout's."""
    bundled = BUNDLED_DIR / name
    return bundled if bundled.exists() else SOURCE_ROOT / SOURCES[name]


def templates_dir() -> Path:
    """atc's own jinja2 templates (the top-level `templates/` of the checkout)."""
    return resource("templates")


def default_mkdocs_config() -> Path:
    """atc's default mkdocs configuration (the checkout's `mkdocs.yml`)."""
    return resource("mkdocs.yml")


def workflows_dir() -> Path:
    """atc's GitHub workflows (the checkout's `.github/workflows/`)."""
    return resource("workflows")
