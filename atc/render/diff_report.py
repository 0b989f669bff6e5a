"""Render a DiffReport: Markdown through templates/diff_report.md.j2 (rule text escaped), or sorted JSON."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from markupsafe import Markup

from atc.history.diff import DiffReport
from atc.render.escape import template_environment

MARKER = "<!-- atc-diff-report -->"  # lets the pull-request comment job find and update its one comment


def to_json(report: DiffReport) -> str:
    """The report as JSON with sorted keys."""
    return json.dumps(asdict(report), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def to_markdown(report: DiffReport, templates_dir: Path) -> str:
    """The report as Markdown, for a pull-request comment or a file."""
    env = template_environment(templates_dir)
    text = env.get_template("diff_report.md.j2").render(report=report, marker=Markup(MARKER))
    return text if text.endswith("\n") else text + "\n"
