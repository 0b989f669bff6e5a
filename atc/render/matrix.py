"""The ATT&CK coverage matrix: every tactic in matrix order with its techniques, each cell shaded by its count."""

from __future__ import annotations

from dataclasses import dataclass

from atc.link.navigator import layer_techniques
from atc.model import AttackSnapshot, Tactic, Technique


@dataclass(frozen=True)
class MatrixCell:
    """One technique in a tactic column: its rule count and shading level."""

    technique: Technique
    rules: int
    level: int
    sub: bool


@dataclass(frozen=True)
class MatrixColumn:
    """A tactic and its techniques, each parent followed by its sub-techniques."""

    tactic: Tactic
    cells: list[MatrixCell]

    @property
    def covered(self) -> int:
        """How many of the column's techniques have a rule."""
        return sum(1 for cell in self.cells if cell.rules)


def shade_level(count: int) -> int:
    """The shading level of a rule count: 0, 1, 2 (2-3 rules), 3 (4 or more)."""
    return 0 if count == 0 else 1 if count == 1 else 2 if count <= 3 else 3


def by_name(techniques: list[Technique]) -> list[Technique]:
    """Techniques in ATT&CK matrix order: by name."""
    return sorted(techniques, key=lambda t: (t.name.lower(), t.id))


def nest(techniques: list[Technique]) -> list[tuple[Technique, bool]]:
    """Techniques by name, each parent followed by its sub-techniques among them (flagged as nested)."""
    ids = {t.id for t in techniques}
    rows = []
    for top in by_name([t for t in techniques if t.parent not in ids]):
        rows += [(top, False)] + [(sub, True) for sub in by_name([t for t in techniques if t.parent == top.id])]
    return rows


def matrix_columns(snapshot: AttackSnapshot, counts: dict[str, int]) -> list[MatrixColumn]:
    """Every tactic in matrix order with its current techniques, each parent followed by its sub-techniques."""
    current = layer_techniques(snapshot)
    columns = []
    for tactic in snapshot.tactics:
        rows = nest([t for t in current if tactic.shortname in t.tactics])
        cells = [MatrixCell(t, counts.get(t.id, 0), shade_level(counts.get(t.id, 0)), t.parent is not None) for t, _ in rows]
        columns.append(MatrixColumn(tactic, cells))
    return columns
