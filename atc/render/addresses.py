"""The address book: where every generated page lives under docs/, and the relative links between pages.

A kind's pages lie in its registry folder (`atc.kinds.KINDS[name].folder`), one per item, named by the item's slug
(a rule's slug is decided when it is loaded; other keys are made page names here), beside the kind's `index.md`. The
pages that belong to no kind (home, matrices, layers, exports, ...) are named below. Links are relative to the page
they appear on, as mkdocs resolves them (`mkdocs.structure.files.File.url_relative_to` is the model).
"""

from __future__ import annotations

import functools

from atc.kinds import KINDS
from atc.load.rules import safe_slug

ATTACK_DIR = "ATTACK"  # the ATT&CK overview, its matrices and layers; the ATT&CK kinds' folders lie under it
LAYERS_DIR = f"{ATTACK_DIR}/layers"
EXPORTS_DIR = "exports"
ABOUT_DIR = "about"  # the hand-written explanations shipped with the site's assets

PAGES = {  # the pages of no kind, by name
    "home": "index.md",
    "targets": "targets.md",
    "evidence": "evidence.md",
    "changes": "changes.md",
    "feed": "changes.xml",
    "rules.json": "rules.json",
    "analytics.csv": "analytics.csv",
    "attack": f"{ATTACK_DIR}/index.md",
    "matrix": f"{ATTACK_DIR}/matrix.md",
    "matrix-analytics": f"{ATTACK_DIR}/matrix-analytics.md",
    "gaps": f"{KINDS['data_needed'].folder}/gaps.md",
    "data-needed-matching": f"{ABOUT_DIR}/data-needed-matching.md",
    "data-component-matching": f"{ABOUT_DIR}/data-component-matching.md",
}


def folder(kind: str) -> str:
    """The docs/ folder of a kind's pages."""
    return KINDS[kind].folder


def slug(kind: str, key: str) -> str:
    """The page name of an item: a rule's slug as loaded, any other key made a safe file name."""
    return key if kind == "rule" else safe_slug(key)


def page(kind: str, key: str | None = None) -> str:
    """The docs-relative path of an item's page, or of the kind's index without a key."""
    return f"{folder(kind)}/{'index.md' if key is None else file_name(kind, key)}"


def file_name(kind: str, key: str) -> str:
    """The file name of an item's page in its kind's folder."""
    return f"{slug(kind, key)}.md"


def named(name: str) -> str:
    """The docs-relative path of a page of no kind (see PAGES)."""
    return PAGES[name]


def rules_by(field: str) -> str:
    """The rule index page grouping the rules by a field (log_source, tactic, level)."""
    return f"{folder('rule')}/by/{field}.md"


def layer(file: str) -> str:
    """The docs-relative path of a Navigator layer file."""
    return f"{LAYERS_DIR}/{file}"


def export(target: str, file: str) -> str:
    """The docs-relative path of a file of a target's deployable export."""
    return f"{EXPORTS_DIR}/{target}/{file}"


@functools.cache
def _between(source_folder: str, target_folder: str) -> str:
    """The relative path from one docs folder to another: empty, or ending in "/"."""
    sources, targets = source_folder.split("/") if source_folder else [], target_folder.split("/") if target_folder else []
    shared = 0
    while shared < min(len(sources), len(targets)) and sources[shared] == targets[shared]:
        shared += 1
    return "../" * (len(sources) - shared) + "".join(f"{part}/" for part in targets[shared:])


def relative(source: str, target: str) -> str:
    """The link from the page `source` to the docs-relative path `target` (both normalised: no "." or ".." parts)."""
    target_folder, _, name = target.rpartition("/")
    return _between(source.rpartition("/")[0], target_folder) + name


LINKS = {"page": named, "layer": layer, "path": str}  # link_to's kinds of no registry kind: what turns their key into a path


def link(source: str, kind: str, key: str | None = None) -> str:
    """The link from the page `source` to an item's page or its kind's index (no key); or, by LINKS, to a named page
    ("page"), a Navigator layer file ("layer") or any docs-relative path ("path")."""
    if kind in LINKS:
        if key is None:
            raise ValueError(f"link_to({kind!r}) needs a key")
        return relative(source, LINKS[kind](key))
    return relative(source, page(kind, key))


def page_url(path: str) -> str:
    """The URL of a page relative to the site's root, as mkdocs publishes it with use_directory_urls (`a/b.md` -> `a/b/`)."""
    stem = path.removesuffix(".md")
    if stem == "index" or stem.endswith("/index"):
        return stem.removesuffix("index")
    return f"{stem}/"


def url(site_url: str, path: str) -> str:
    """The absolute URL of a docs-relative file as published under the site's URL."""
    return f"{site_url.rstrip('/')}/{path}"
