"""Charts for the home, tactic and technique pages: bar rows worked out here, drawn as inline SVG by templates/charts.j2."""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass

from atc.convert.targets import Target
from atc.model import DataNeeded, RuleSummary
from atc.render.escape import visible
from atc.render.matrix import MatrixColumn

LEVELS = ("critical", "high", "medium", "low", "informational")  # Sigma's rule levels, highest first
STATUSES = ("stable", "test", "experimental", "deprecated", "unsupported")  # Sigma's rule statuses
OTHER = "other or none"


@dataclass(frozen=True)
class Segment:
    """A part of a bar: its value and its shade (0 lightest … 3 darkest, "gap" for what is missing)."""

    value: int
    shade: str
    label: str


@dataclass(frozen=True)
class Row:
    """One bar of a chart: a label, its segments, the figure shown after it and the page it opens."""

    label: str
    segments: tuple[Segment, ...]
    figure: str
    href: str | None = None

    @property
    def total(self) -> int:
        return sum(segment.value for segment in self.segments)


@dataclass(frozen=True)
class Chart:
    """A horizontal bar chart: rows scaled to the longest, a legend of its shades, and the page behind it."""

    title: str
    rows: tuple[Row, ...]
    href: str | None = None
    legend: tuple[tuple[str, str], ...] = ()  # (shade, label)
    relative: bool = False  # every bar its own whole (shares), else bars scaled to the longest (counts)

    def scale(self, row: Row) -> float:
        """The width of one unit of the row's value, as a share of the bar area."""
        whole = row.total if self.relative else max((other.total for other in self.rows), default=0)
        return 1 / whole if whole else 0.0


def _count_row(label: str, count: int, total: int, href: str | None, shade: str = "2") -> Row:
    """A one-segment bar with its count and share of the total."""
    share = f" ({100 * count / total:.0f} %)" if total else ""
    return Row(label, (Segment(count, shade, label),), f"{count}{share}", href)


def level_chart(rules: list[RuleSummary], href: str | None) -> Chart:
    """Rules by Sigma level, critical first; other or missing levels last."""
    counts = Counter(rule.level if rule.level in LEVELS else OTHER for rule in rules)
    shades = {"critical": "3", "high": "3", "medium": "2", "low": "1", "informational": "1"}
    rows = tuple(_count_row(level, counts[level], len(rules), href, shades.get(level, "1")) for level in (*LEVELS, OTHER) if counts[level])
    return Chart("Rules by level", rows, href)


def status_chart(rules: list[RuleSummary], href: str | None) -> Chart:
    """Rules by Sigma status; other or missing statuses last."""
    counts = Counter(rule.status if rule.status in STATUSES else OTHER for rule in rules)
    shades = {"stable": "3", "test": "2", "experimental": "1"}
    rows = tuple(
        _count_row(status, counts[status], len(rules), href, shades.get(status, "1")) for status in (*STATUSES, OTHER) if counts[status]
    )
    return Chart("Rules by status", rows, href)


def tactic_chart(columns: list[MatrixColumn], tactic_links: dict[str, str], matrix_link: str) -> Chart:
    """Techniques with a rule of every tactic's techniques and sub-techniques, in matrix order; a bar opens its tactic's page
    (`tactic_links`: the links to the tactic pages there are, by id), else the matrix."""
    rows = []
    for column in columns:
        total = len(column.cells)
        href = tactic_links.get(column.tactic.id, matrix_link)
        segments = (Segment(column.covered, "2", "covered"), Segment(total - column.covered, "gap", "no rule"))
        rows.append(Row(visible(column.tactic.name), segments, f"{column.covered} / {total}", href))
    legend = (("2", "techniques with a rule"), ("gap", "techniques without"))
    return Chart("ATT&CK coverage by tactic", tuple(rows), matrix_link, legend, relative=True)


def converted_counts(rules: list[RuleSummary], targets: list[Target]) -> dict[str, int]:
    """How many of the rules each target converted (the conversion chart's figures, the targets page's column)."""
    counted = Counter(key for rule in rules for key in rule.converted)
    return {target.key: counted[target.key] for target in targets}


def conversion_chart(rules: list[RuleSummary], targets: list[Target], href: str | None) -> Chart:
    """For every target, the rules it converted and the rules it could not."""
    converted = converted_counts(rules, targets)
    rows = tuple(
        Row(
            target.key,
            (Segment(converted[target.key], "2", "converted"), Segment(len(rules) - converted[target.key], "gap", "not convertible")),
            f"{converted[target.key]} / {len(rules)}",
            href,
        )
        for target in targets
    )
    return Chart("Conversion health by target", rows, href, (("2", "rules converted"), ("gap", "not convertible")), relative=True)


def gaps_chart(
    rules: list[RuleSummary], data_needed: dict[str, DataNeeded], policies: Collection[str], gaps_href: str, policies_href: str
) -> Chart:
    """Rules served by a Data Needed item, and Data Needed items a logging policy of the knowledge base produces."""
    served = sum(1 for rule in rules if rule.data_needed)
    with_policy = sum(1 for item in data_needed.values() if has_policy(item, policies))
    rows = (
        Row(
            "rules with Data Needed",
            (Segment(served, "2", "served"), Segment(len(rules) - served, "gap", "gap")),
            f"{served} / {len(rules)}",
            gaps_href,
        ),
        Row(
            "Data Needed with a policy",
            (Segment(with_policy, "2", "with a policy"), Segment(len(data_needed) - with_policy, "gap", "no policy")),
            f"{with_policy} / {len(data_needed)}",
            policies_href,
        ),
    )
    return Chart("Data Needed and logging gaps", rows, gaps_href, (("2", "covered"), ("gap", "gap")), relative=True)


def has_policy(item: DataNeeded, policies: Collection[str]) -> bool:
    """Whether the item names a logging policy the knowledge base holds (a dangling name tells no one how to log it)."""
    return any(policy in policies for policy in item.logging_policies)
