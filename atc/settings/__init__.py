"""Settings: one typed schema (schema.py) of atc.yml keys and options, their value types (values.py) and the Settings (model.py).

The merge order is defaults, then atc.yml, then the command-line options (`atc/commands/options.py` generates those).
"""

from atc.settings.model import (
    CONFIG_NAME,
    REPO_ROOT,
    ConfigError,
    HistorySettings,
    MissingPathError,
    Settings,
    TargetEntry,
    check_paths,
    find_config,
)
from atc.settings.schema import default_settings, load_config_file

__all__ = [
    "CONFIG_NAME",
    "REPO_ROOT",
    "ConfigError",
    "HistorySettings",
    "MissingPathError",
    "Settings",
    "TargetEntry",
    "check_paths",
    "default_settings",
    "find_config",
    "load_config_file",
]
