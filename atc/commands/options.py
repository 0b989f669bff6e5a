"""The command-line side of the settings schema: each command's options, the --help key list, and the one merge of
defaults, then atc.yml, then the options, that every command reading settings uses."""

from __future__ import annotations

import argparse
import textwrap
from dataclasses import MISSING, fields, is_dataclass
from pathlib import Path
from typing import Any

from atc.convert.targets import OPTIONAL_TARGETS, TARGETS
from atc.settings import CONFIG_NAME, ConfigError, Settings, check_paths, default_settings, find_config, load_config_file
from atc.settings.model import merged
from atc.settings.schema import KB_COMMANDS, schema
from atc.settings.values import Option, Setting, Targets, Where

WIDTH = 80


def _options(command: str) -> list[tuple[Setting, Option]]:
    """The settings' options on a command, in schema order."""
    return [(setting, option) for setting in schema() for option in setting.options if command in option.commands]


def add_settings_options(parser: argparse.ArgumentParser, command: str) -> None:
    """--config and the options the schema gives this command (plus --verbose on the commands reading the whole knowledge base)."""
    parser.add_argument(
        "--config",
        type=Path,
        help=f"an {CONFIG_NAME} with the settings (default: the nearest {CONFIG_NAME} from the current folder up to the top of "
        "its git repository)",
    )
    for setting, option in _options(command):
        if option.metavar is None:
            parser.add_argument(*option.flags, dest=option.dest, action="store_true", help=option.help)
            continue
        text = option.help
        default = _shown(setting)
        if default and "default:" not in text:
            text = f"{text[:-1]}; default: {default})" if text.endswith(")") else f"{text} (default: {default})"
        parser.add_argument(
            *option.flags,
            dest=option.dest,
            type=setting.value.arg_type,
            action="append" if setting.value.repeatable else "store",
            metavar=option.metavar,
            help=text,
        )
    if command in KB_COMMANDS:
        parser.add_argument(
            "--verbose",
            "-v",
            action="store_true",
            help="list every problem with its file; without it, 20 per kind and conversion failures as one line per target",
        )


def found_settings(cwd: Path) -> Settings | None:
    """The settings of the atc.yml every command would find from cwd (None: there is none), for a command without settings options."""
    config_file = find_config(None, cwd)
    return load_config_file(config_file) if config_file is not None else None


def settings_from_args(args: argparse.Namespace, cwd: Path, *, defaults: Path | None = None, check: bool = True) -> Settings:
    """Defaults, then atc.yml (--config, else the nearest up to the repository's top), then the command-line options.

    Without an atc.yml the default layout below `defaults` applies; when that is None, --rules is required (below the
    current folder). With `check`, a given path that does not exist is an error and missing default folders are dropped.
    """
    config_file = find_config(args.config, cwd)
    if config_file is not None:
        settings = load_config_file(config_file)
    elif defaults is not None:
        settings = default_settings(defaults)
    elif getattr(args, "rules", None):
        settings = default_settings(cwd)
    else:
        raise ConfigError(
            f"no {CONFIG_NAME} in {cwd} (nor above it in its git repository) and no --rules: run `atc init` at the "
            "repository's top to write one, or give --rules DIR"
        )
    changes: dict[str, object] = {}
    for setting, option in {option.dest: (setting, option) for setting, option in _options(args.command)}.values():
        raw = getattr(args, option.dest, None)
        if raw is None or raw is False:
            continue
        value = option.sets if option.metavar is None else setting.value.parse(raw, Where(option.flags[0]))
        changes.update(setting.value.fields(option.key or setting.key, value))
    settings = merged(settings, changes)
    return check_paths(settings) if check else settings


def _wrapped(text: str, indent: str, hang: str) -> list[str]:
    return textwrap.wrap(text, WIDTH, initial_indent=indent, subsequent_indent=hang, break_on_hyphens=False)


def _text(value: Any) -> str:
    """A default value as atc.yml writes it ("" when there is nothing to say)."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (list, tuple)):
        return ", ".join(map(str, value))
    return "" if value is None or value == {} else str(value)


def _shown(setting: Setting, made: Any = None) -> str:
    """A setting's default as --help says it; for a key of a mapping, the default of the field of what it is `made` into."""
    if setting.shown:
        return setting.shown
    if setting.default is None and is_dataclass(made):
        field = next((f for f in fields(made) if f.name == setting.key), None)
        return _text(field.default) if field is not None and field.default is not MISSING else ""
    return _text(setting.default)


def settings_help(command: str) -> str:
    """The --help text of the settings: every atc.yml key with its help, default and option, then the keys of its mappings."""
    lines = _wrapped(
        f"Settings come from, in order: the built-in defaults (folders named rules, data_needed, ... next to {CONFIG_NAME}, "
        f"or in the current folder when only --rules is given), the {CONFIG_NAME} given with --config or else the nearest "
        "one up to the top of the git repository, then these options.",
        "",
        "",
    )
    lines += ["", f"{CONFIG_NAME} keys (paths relative to the file; [default] and the option setting it):"]
    for setting in schema():
        flags = sorted({option.flags[0] for option in setting.options if command in option.commands})
        extra = f" [{_shown(setting)}]" if _shown(setting) else ""
        extra += f" {', '.join(flags)}" if flags else ""
        lines += _wrapped(f"{setting.key}: {setting.help}{extra}", "  ", "      ")
    for setting in schema():
        entries = getattr(setting.value, "entries", ())
        if not entries:
            continue
        what = "targets of the team's own, each a mapping of" if isinstance(setting.value, Targets) else "its keys"
        lines += [""] + _wrapped(f"{setting.key}: {setting.help}; {what}:", "", "")
        made = getattr(setting.value, "make", None)
        keys = {
            entry.key: entry.help + (" (required)" if entry.required else f" [{_shown(entry, made)}]" if _shown(entry, made) else "")
            for entry in entries
        }
        for key, text in keys.items():
            lines += _wrapped(f"{key}: {text}", "    ", "      ")
        lines += [("  e.g. " if number == 0 else "       ") + line for number, line in enumerate(setting.example)]
    lines += [""] + _wrapped(
        f"built-in targets: {', '.join(t.key for t in TARGETS)}; optional: {', '.join(t.key for t in OPTIONAL_TARGETS)}", "", ""
    )
    return "\n".join(lines) + "\n"
