"""What produced each query and how to get it again: the targets page and each rule page's reproduction line."""
from __future__ import annotations

import os
from typing import TYPE_CHECKING

from atc.convert.targets import Target, sigma_cli_command, target_versions
from atc.model import Rule

if TYPE_CHECKING:
    from atc.render.pages import PageRenderer


def versions_text(target: Target) -> str:
    """'pySigma 1.5.1, pysigma-backend-splunk 2.1.0': every distribution behind the target's queries, once each."""
    versions = target_versions(target)
    return ", ".join(dict.fromkeys([f"pySigma {versions['pySigma']}", *(v for k, v in versions.items() if k != "pySigma")]))


def reproduce(target: Target, rule: Rule) -> str:
    """The command line reproducing the rule's query for the target (run next to the rule file), with its filters and base rules' files."""
    folder = rule.path.parent
    return sigma_cli_command(
        target, rule.path.name, tuple(os.path.relpath(path, folder) for path in rule.filter_files), tuple(os.path.relpath(path, folder) for path in rule.base_files)
    )


def targets_page(renderer: PageRenderer) -> dict[str, str]:
    """targets.md: one row per configured target (its commands take a while to work out: remembered with the page)."""

    def make() -> str:
        commands = {target.key: sigma_cli_command(target, "rule.yml") for target in renderer.targets}
        return renderer.render("targets.md.j2", targets=renderer.targets, commands=commands)

    return {"targets.md": renderer.remember("targets.md", make)}
