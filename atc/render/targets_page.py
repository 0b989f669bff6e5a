"""What produced each query and how to get it again: the targets page, each rule page's reproduction line, the exports."""

from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from atc.convert.deploy import DeployExport
from atc.convert.targets import Target, sigma_cli_command, sigma_distributions, target_versions
from atc.convert.team_targets import installed_plugins
from atc.model import Rule
from atc.render.link_filters import RULES_DIR

if TYPE_CHECKING:
    from atc.render.pages import PageRenderer

EXPORTS_DIR = "exports"
NOT_CONVERTED = "not-converted.csv"
NOT_CONVERTED_COLUMNS = ["id", "title", "rule_file", "page", "status", "reason"]


@dataclass(frozen=True)
class ExportSummary:
    """What the targets and home pages show of an export: where it is, how many rules it holds and misses (not its size:
    a description edit changes the file, and must not render these pages again)."""

    target: str
    format: str
    path: str  # relative to docs/
    not_converted_path: str
    converted: int
    not_converted: int
    error: str


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


def export_summary(export: DeployExport) -> ExportSummary:
    folder = f"{EXPORTS_DIR}/{export.target}"
    return ExportSummary(
        export.target,
        export.format,
        f"{folder}/{export.file_name}",
        f"{folder}/{NOT_CONVERTED}",
        export.converted,
        len(export.not_converted),
        export.error,
    )


def deploy_files(exports: list[DeployExport]) -> dict[str, str]:
    """Each export's file and, beside it, the rules it could not hold with the backend's reasons (CSV)."""
    from atc.render.exports import csv_cell  # imported here: it imports attack_pages, which imports the module importing this one

    files: dict[str, str] = {}
    for export in exports:
        summary = export_summary(export)
        if not export.error:
            files[summary.path] = export.text
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(NOT_CONVERTED_COLUMNS)
        for item in export.not_converted:
            row = [item.rule_id, item.title, item.rule_file, f"{RULES_DIR}/{item.slug}.md", item.status, item.reason]
            writer.writerow(csv_cell(" ".join(value.split())) for value in row)  # one line a cell: a bare \r would split the row
        files[summary.not_converted_path] = buffer.getvalue()
    return files


def targets_page(renderer: PageRenderer) -> dict[str, str]:
    """targets.md: one row per configured target and one per export (its commands take a while to work out: remembered with the page)."""
    exports = [export_summary(export) for export in renderer.exports]

    def make() -> str:
        commands = {target.key: sigma_cli_command(target, "rule.yml") for target in renderer.targets}
        return renderer.render("targets.md.j2", targets=renderer.targets, commands=commands, exports=exports, installed=installed_plugins())

    return {"targets.md": renderer.remember(("targets.md", exports, sigma_distributions()), make)}  # installed plugins: by distribution
