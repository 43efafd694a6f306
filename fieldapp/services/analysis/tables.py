"""The one shape every analysis result takes: a table of counts, with its labels.

Cells hold counts only: an ``int``, or after suppression a :class:`Suppressed` marker (shown
as "<K"). Means and shares live in their own fields, never in cells, so suppression can reason
about every cell and nothing else can give a small count away.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any


@dataclass(frozen=True)
class Suppressed:
    """A count withheld because it, or what it would let a reader work out, is below ``k``."""

    k: int

    def __str__(self) -> str:
        return f"<{self.k}"


Cell = int | Suppressed


@dataclass(frozen=True)
class Row:
    """One row: its label (translatable text or plain data), its cells, an optional colour
    (a code's) and optional extra figures that are not counts (a mean, a share)."""

    label: Any
    cells: tuple[Cell, ...]
    key: str = ""  # a stable id of what the row counts (a code id, a governorate code, ...)
    colour: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Table:
    """A named table of counts: ``columns`` label the cells of every row.

    ``total_row`` and ``total_column`` say whether the last row / last column holds the sums
    of the others (then suppression must keep them consistent). ``published`` is False until
    :func:`fieldapp.services.analysis.suppression.suppress` has run on it.
    """

    name: str
    title: Any
    columns: tuple[Any, ...]
    rows: tuple[Row, ...]
    total_row: bool = False
    total_column: bool = False
    description: Any = ""
    published: bool = False

    def counts(self) -> list[list[Cell]]:
        """The cells as a list of rows (a copy)."""
        return [list(row.cells) for row in self.rows]

    def with_cells(self, cells: Sequence[Sequence[Cell]], published: bool) -> Table:
        """The same table with other cells (same shape)."""
        if len(cells) != len(self.rows) or any(
            len(new) != len(row.cells) for new, row in zip(cells, self.rows, strict=True)
        ):
            raise ValueError("a table's shape cannot change")
        rows = tuple(
            replace(row, cells=tuple(new)) for row, new in zip(self.rows, cells, strict=True)
        )
        return replace(self, rows=rows, published=published)


def table(
    name: str,
    title: Any,
    columns: Iterable[Any],
    rows: Iterable[Row],
    *,
    totals: bool = False,
    description: Any = "",
) -> Table:
    """A table of counts; with ``totals`` a total column and a total row are added."""
    columns = tuple(columns)
    rows = tuple(rows)
    for row in rows:
        if len(row.cells) != len(columns):
            raise ValueError(f"row {row.label!r} has {len(row.cells)} cells for {len(columns)}")
        if any(type(c) is not int or c < 0 for c in row.cells):
            raise ValueError("cells hold counts: whole numbers from 0")
    if not totals:
        return Table(name, title, columns, rows, description=description)
    from flask_babel import lazy_gettext as _l

    with_totals = [
        replace(row, cells=(*row.cells, sum(row.cells)))  # type: ignore[arg-type]
        for row in rows
    ]
    sums = tuple(sum(r.cells[i] for r in with_totals) for i in range(len(columns) + 1))  # type: ignore[misc]
    total = Row(_l("Total"), sums, key="__total__")
    return Table(
        name,
        title,
        (*columns, _l("Total")),
        (*with_totals, total),
        total_row=True,
        total_column=True,
        description=description,
    )
