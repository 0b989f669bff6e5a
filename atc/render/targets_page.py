"""What produced each query and how to get it again: the targets page, each rule page's reproduction line, the exports."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

from atc.convert.deploy import DeployExport
from atc.convert.targets import sigma_cli_command, sigma_distributions
from atc.convert.team_targets import installed_plugins
from atc.render import addresses
from atc.render.charts import converted_counts
from atc.render.context import RenderContext
from atc.render.exports import csv_cell

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


def export_summary(export: DeployExport) -> ExportSummary:
    return ExportSummary(
        export.target,
        export.format,
        addresses.export(export.target, export.file_name),
        addresses.export(export.target, NOT_CONVERTED),
        export.converted,
        len(export.not_converted),
        export.error,
    )


def deploy_files(exports: list[DeployExport]) -> dict[str, str]:
    """Each export's file and, beside it, the rules it could not hold with the backend's reasons (CSV)."""
    files: dict[str, str] = {}
    for export in exports:
        summary = export_summary(export)
        if not export.error:
            files[summary.path] = export.text
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(NOT_CONVERTED_COLUMNS)
        for item in export.not_converted:
            row = [item.rule_id, item.title, item.rule_file, addresses.page("rule", item.slug), item.status, item.reason]
            writer.writerow(csv_cell(" ".join(value.split())) for value in row)  # one line a cell: a bare \r would split the row
        files[summary.not_converted_path] = buffer.getvalue()
    return files


def targets_page(ctx: RenderContext) -> dict[str, str]:
    """targets.md: one row per configured target and one per export (its commands take a while to work out: remembered with the page)."""
    exports = [export_summary(export) for export in ctx.exports]
    page = addresses.named("targets")
    converted = converted_counts(ctx.summaries, ctx.targets)  # what the home page's conversion chart draws
    rules = len(ctx.summaries)

    def make() -> str:
        commands = {target.key: sigma_cli_command(target, "rule.yml") for target in ctx.targets}
        return ctx.render(
            "targets.md.j2",
            page,
            targets=ctx.targets,
            commands=commands,
            exports=exports,
            installed=installed_plugins(),
            converted=converted,
            rules=rules,
        )

    key = (page, exports, sigma_distributions(), sorted(converted.items()), rules)  # installed plugins: by distribution
    return {page: ctx.remember(key, make)}
