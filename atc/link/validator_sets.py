"""Installed pySigma validators grouped into named sets (`validators:` in atc.yml), without those that download data."""

from __future__ import annotations

import inspect
import sys
import types
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache

from sigma.validators.base import SigmaRuleValidator

CORE_SET = "pysigma"  # pySigma's own validators (sigma.validators.core); other sets are named by their plugin package
DEFAULT_SETS: tuple[str, ...] = (CORE_SET,)
# modules whose attributes are fetched from the network on first use (ATT&CK, D3FEND, SigmaHQ's taxonomy files)
DOWNLOADED_DATA = ("sigma.data.", "sigma.validators.sigmahq.data")
REPEATED_CHECKS = frozenset({"identifier_uniqueness"})  # reported by the build itself as duplicate-id


@dataclass(frozen=True)
class ValidatorSet:
    """The validators one plugin package installs, split into those `atc check` runs and those it cannot run offline."""

    name: str
    runs: dict[str, type[SigmaRuleValidator]]
    needs_download: tuple[str, ...]


class ValidatorSetError(ValueError):
    """A validator set or validator name that is not installed."""


def set_name(validator: type[SigmaRuleValidator]) -> str:
    """The set a validator class belongs to: `pysigma` for pySigma's own, else its package under sigma.validators."""
    parts = validator.__module__.split(".")
    package = parts[2] if len(parts) > 2 and parts[:2] == ["sigma", "validators"] else parts[0]
    return CORE_SET if package == "core" else package


def _code_names(code: types.CodeType) -> Iterator[str]:
    """Every global or attribute name a function's code (and the code nested in it) refers to."""
    yield from code.co_names
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _code_names(const)


def needs_download(validator: type[SigmaRuleValidator]) -> bool:
    """True when the validator's code reads a module whose data pySigma downloads at run time."""
    module = sys.modules.get(validator.__module__)
    data_modules = {
        name
        for name, value in vars(module or types.ModuleType("none")).items()
        if isinstance(value, types.ModuleType) and value.__name__.startswith(DOWNLOADED_DATA)
    }
    if not data_modules:
        return False
    for klass in validator.__mro__:
        for member in vars(klass).values():
            function = member.__func__ if isinstance(member, (classmethod, staticmethod)) else member
            if inspect.isfunction(function) and data_modules.intersection(_code_names(function.__code__)):
                return True
    return False


@cache
def installed_validators() -> dict[str, type[SigmaRuleValidator]]:
    """Every installed validator by name, discovered once (as sigma-cli discovers validator plugins)."""
    from sigma.plugins import InstalledSigmaPlugins

    return dict(sorted(InstalledSigmaPlugins.autodiscover(include_backends=False, include_pipelines=False).validators.items()))


@cache
def installed_sets() -> dict[str, ValidatorSet]:
    """Every installed validator set by name."""
    grouped: dict[str, dict[str, type[SigmaRuleValidator]]] = {}
    for name, validator in installed_validators().items():
        if name not in REPEATED_CHECKS:
            grouped.setdefault(set_name(validator), {})[name] = validator
    return {
        name: ValidatorSet(
            name,
            {key: cls for key, cls in members.items() if not needs_download(cls)},
            tuple(key for key, cls in members.items() if needs_download(cls)),
        )
        for name, members in sorted(grouped.items())
    }


def chosen_sets(names: tuple[str, ...]) -> list[ValidatorSet]:
    """The named sets, in the order given; an unknown name is an error listing the installed ones."""
    sets = installed_sets()
    unknown = [name for name in names if name not in sets]
    if unknown:
        raise ValidatorSetError(
            f"validators: unknown validator set(s) {', '.join(unknown)}; installed: {', '.join(sets)}"
            " (SigmaHQ's conventions: pip install pysigma-validators-sigmahq)"
        )
    return [sets[name] for name in dict.fromkeys(names)]
