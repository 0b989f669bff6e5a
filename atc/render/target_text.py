"""How a target's queries were made, as the templates show it: the versions behind them and the command reproducing one."""

from __future__ import annotations

import os

from atc.convert.targets import Target, sigma_cli_command, target_versions
from atc.model import Rule


def versions_text(target: Target) -> str:
    """'pySigma 1.5.1, pysigma-backend-splunk 2.1.0': every distribution behind the target's queries, once each."""
    versions = target_versions(target)
    return ", ".join(dict.fromkeys([f"pySigma {versions['pySigma']}", *(v for k, v in versions.items() if k != "pySigma")]))


def reproduce(target: Target, rule: Rule) -> str:
    """The command line reproducing the rule's query for the target (run next to the rule file), with its filters and base rules' files."""
    folder = rule.path.parent
    return sigma_cli_command(
        target,
        rule.path.name,
        folder,
        tuple(os.path.relpath(path, folder) for path in rule.filter_files),
        tuple(os.path.relpath(path, folder) for path in rule.base_files),
    )
