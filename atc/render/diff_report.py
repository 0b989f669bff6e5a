"""Render a DiffReport: Markdown through templates/diff_report.md.j2 (rule text escaped), or sorted JSON."""

from __future__ import annotations

import bisect
import json
import re
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

from markupsafe import Markup

from atc.history.diff import CHANGE_LISTS, DiffReport
from atc.render.escape import md_text, template_environment

MARKER = "<!-- atc-diff-report -->"  # lets the pull-request comment job find and update its one comment
# what GitHub turns into a notification or a cross-reference in a comment: @user and @org/team mentions, #12, GH-12 and
# owner/repo#12 issue references (an entity's "&#34;" aside, but "&#35;", md_text's "#" at the start, shows a "#");
# a zero-width space after the sign leaves them plain text
_GITHUB_REFERENCE = re.compile(r"@(?=\w)|(?:(?<!&)#|&#35;|(?i:gh)-)(?=\d)")


def github_text(value: object) -> Markup:
    """md_text that mentions no one and references no issue when GitHub renders it (a pull-request comment)."""
    return Markup(_GITHUB_REFERENCE.sub(lambda match: match.group() + "&#8203;", str(md_text(value))))


def to_json(report: DiffReport) -> str:
    """The report as JSON with sorted keys."""
    return json.dumps(asdict(report), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def to_markdown(report: DiffReport, templates_dir: Path, max_chars: int | None = None) -> str:
    """The report as Markdown, for a pull-request comment or a file; with max_chars, at most that long: the added rules, then
    the changed ones, beyond what fits are listed without their queries (and fields); when the lists alone fill it, they
    are cut to half of it first. What is left out is counted."""
    env = template_environment(templates_dir)
    env.filters["md"] = github_text
    template = env.get_template("diff_report.md.j2")
    longest = max((len(getattr(report, name)) for name in CHANGE_LISTS), default=0)

    def render(detailed: int, rows: int) -> str:
        text = template.render(report=report, marker=Markup(MARKER), detailed=detailed, rows=rows)
        return text if text.endswith("\n") else text + "\n"

    shown = len(report.changed) + len(report.added_queries)  # changed rules, then added ones, shown with their queries
    text = render(shown, longest)
    if max_chars is None or len(text) <= max_chars:
        return text
    detailed = _most(lambda count: len(render(count, longest)) <= max_chars, shown)
    if detailed:
        return render(detailed, longest)
    # the lists alone (nearly) fill it: cut them to half of it, so that some rules still show their queries
    rows = _most(lambda count: len(render(0, count)) <= max_chars // 2, longest) or 0
    detailed = _most(lambda count: len(render(count, rows)) <= max_chars, shown)
    if detailed is None:  # the sections' headings and counts alone are longer
        return f"{MARKER}\n## Knowledge base diff\n\nThe report's summary alone is longer than {max_chars:,} characters: `atc diff` without `--max-chars` gives the whole report.\n"
    return render(detailed, rows)


def _most(fits: Callable[[int], bool], upper: int) -> int | None:
    """The largest count in 0..upper that fits (fits is monotone), or None when not even 0 does."""
    too_many = bisect.bisect_left(range(upper + 1), True, key=lambda count: not fits(count))  # the first count that does not fit
    return too_many - 1 if too_many else None
