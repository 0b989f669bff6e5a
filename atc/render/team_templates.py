"""The team's template folder: a file there that replaces none of atc's templates and that none of the team's templates
includes is used by no page (a misspelt override); each is named, with the closest template name of atc's."""

from __future__ import annotations

import difflib
from pathlib import Path

import jinja2
from jinja2 import meta

from atc.kinds import in_order
from atc.model import Problem


def _files(folder: Path) -> dict[str, Path]:
    """The folder's files by their template name (posix path below it), hidden ones left out."""
    found = (path for path in sorted(folder.rglob("*")) if path.is_file())
    return {
        path.relative_to(folder).as_posix(): path for path in found if not any(p.startswith(".") for p in path.relative_to(folder).parts)
    }


def _included(files: dict[str, Path]) -> set[str]:
    """The template names the team's templates include, import or extend (a broken one is reported by the build itself)."""
    environment = jinja2.Environment()
    names: set[str] = set()
    for name, path in files.items():
        if name.endswith(".j2"):
            try:
                names.update(filter(None, meta.find_referenced_templates(environment.parse(path.read_text(encoding="utf-8")))))
            except (OSError, UnicodeDecodeError, jinja2.TemplateSyntaxError):
                continue
    return names


def unused_templates(team: Path, own: Path) -> list[Problem]:
    """A warning per template file of the team's folder that no page uses: neither one of atc's names (or a registered
    kind's) nor included."""
    if not team.is_dir() or team.resolve() == own.resolve():
        return []
    known = sorted({name for name in _files(own) if name.endswith(".j2")} | {name for kind in in_order() for name in kind.templates})
    files = _files(team)
    unknown = {name: path for name, path in files.items() if name not in known and (name.endswith(".j2") or f"{name}.j2" in known)}
    if not unknown:
        return []
    included = _included(files)
    problems = []
    for name, path in unknown.items():
        if name in included:
            continue
        close = difflib.get_close_matches(name if name.endswith(".j2") else f"{name}.j2", known, 1)
        hint = f"; did you mean {close[0]}?" if close else f"; atc's are named like {known[0]}"
        message = f"replaces none of atc's templates and none of your templates includes it, so no page uses it{hint}"
        problems.append(Problem(str(path), "template", message, severity="warning"))
    return problems
