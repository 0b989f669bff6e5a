"""The mkdocs configuration of a build: atc's defaults with the team's own mkdocs.yml merged over them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from atc.common.resources import default_mkdocs_config
from atc.settings import ConfigError

MERGED_NAME = "mkdocs.yml"  # written into the cache folder
_NAMED_LISTS = ("plugins", "markdown_extensions")  # entries are a name or {name: options}: the team's replace atc's of that name
_ADDED_LISTS = ("extra_css", "extra_javascript", "nav")  # the team's entries come after atc's
_PATH_KEYS = (("theme", "custom_dir"), ("hooks",))  # relative to the team's file: made absolute, as the merged file lives elsewhere


def _load(path: Path) -> dict[str, Any]:
    """A mkdocs configuration file as mkdocs reads it; one that cannot be read or is not a mapping is a ConfigError."""
    from mkdocs.exceptions import ConfigurationError
    from mkdocs.utils import yaml_load  # mkdocs' own loader: !ENV, !relative and python names, as mkdocs reads them

    try:
        with path.open(encoding="utf-8") as handle:
            data = yaml_load(handle) or {}
    except (OSError, UnicodeError, yaml.YAMLError, ConfigurationError) as exc:
        raise ConfigError(f"{path}: the mkdocs configuration cannot be read: {' '.join(str(exc).split())}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: an mkdocs configuration must be a mapping")
    return data


def _refuse_page_templating(merged: dict[str, Any], path: Path) -> None:
    """Refuse a plugin that would run every page's text as a template: rule text comes from pull requests (data, not code)."""
    for entry in merged.get("plugins") or []:
        options = entry.get(_name(entry)) if isinstance(entry, dict) else None
        if _name(entry) == "macros" and not (isinstance(options, dict) and options.get("render_by_default") is False):
            raise ConfigError(
                f"{path}: the macros plugin renders every page as a jinja2 template, so rule text would run as template code; "
                "set `render_by_default: false` under it and give the hand-written pages that use macros `render_macros: true`"
            )


def _name(entry: Any) -> Any:
    return next(iter(entry)) if isinstance(entry, dict) and len(entry) == 1 else entry


def _merge_named(base: list, over: list) -> list:
    """atc's entries with the team's replacing those of the same name, the team's new ones after them."""
    theirs = {_name(entry): entry for entry in over}
    merged = [theirs.pop(_name(entry), entry) for entry in base]
    return merged + [entry for entry in over if _name(entry) in theirs]


def merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """The team's settings over atc's: mappings merged key by key, plugins and extensions by name, nav and extra files added, not_in_nav joined."""
    merged = dict(base)
    for key, value in over.items():
        current = merged.get(key)
        if key in _NAMED_LISTS and isinstance(current, list) and isinstance(value, list):
            merged[key] = _merge_named(current, value)
        elif key in _ADDED_LISTS and isinstance(current, list) and isinstance(value, list):
            merged[key] = current + [entry for entry in value if entry not in current]
        elif key == "not_in_nav" and isinstance(current, str) and isinstance(value, str):
            merged[key] = current.rstrip("\n") + "\n" + value
        elif isinstance(current, dict) and isinstance(value, dict):
            merged[key] = merge(current, value)
        else:
            merged[key] = value
    return merged


def _absolute(data: dict[str, Any], folder: Path) -> dict[str, Any]:
    """The team's relative paths (theme.custom_dir, hooks) made absolute against its folder."""
    theme = data.get("theme")
    if isinstance(theme, dict) and isinstance(theme.get("custom_dir"), str):
        data["theme"] = {**theme, "custom_dir": str(folder / theme["custom_dir"])}
    if isinstance(data.get("hooks"), list):
        data["hooks"] = [str(folder / hook) if isinstance(hook, str) else hook for hook in data["hooks"]]
    return data


def site_config(team: Path, cache_dir: Path) -> Path:
    """The configuration file mkdocs builds with: atc's own when the team has none, else the merge written into cache_dir."""
    default = default_mkdocs_config()
    if not team.is_file() or team.resolve() == default.resolve():
        return default
    merged = merge(_load(default), _absolute(_load(team), team.resolve().parent))
    _refuse_page_templating(merged, team)
    text = (
        "# written by atc: its default mkdocs configuration with "
        + str(team)
        + " merged over it\n"
        + yaml.dump(merged, sort_keys=False, allow_unicode=True)
    )
    out = cache_dir / MERGED_NAME
    if not out.is_file() or out.read_text(encoding="utf-8") != text:
        cache_dir.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
    return out
