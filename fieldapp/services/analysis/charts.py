"""Charts drawn on the server as inline SVG from a :class:`~.tables.Table` of counts.

No JavaScript, nothing fetched (no fonts, images or links), sized by ``viewBox`` so a chart
scales with the page and prints. Every text is escaped here, so a participant's words or a
code's name can never become markup. A :class:`~.tables.Suppressed` cell is drawn as a bar of
no length with the text "<k": the chart never knows the withheld count.

Numbers are written by :func:`count_text`, the one function the chart, its description and the
table beside it use: ``babel.numbers.format_decimal`` with Babel's default (Latin) digits. CLDR
names Arabic-Indic ("arab") the default numbering system of ``ar_IQ`` and ``ckb``, but Babel
2.19 only swaps the separators for it (``1٬234٫5``: Latin digits, Arabic separators), never the
digits, so that mix is not used; ``ku`` groups with a dot (``1.240``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Literal

from babel.lists import format_list
from babel.numbers import format_decimal
from flask import Flask
from flask_babel import gettext as _
from markupsafe import Markup, escape

from .tables import Cell, Row, Suppressed, Table

Direction = Literal["rtl", "ltr"]

# Okabe & Ito (2008), "Color Universal Design": told apart by people with any colour vision.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")
# Drawn over each series' colour (stacked bars, lines) so colour is never the only carrier.
PATTERNS = ("none", "diagonal", "dots", "cross", "horizontal", "vertical", "backward")
MARKERS = ("circle", "square", "triangle", "diamond", "cross")
COLOUR = re.compile(r"#[0-9a-fA-F]{6}")

WIDTH = 640  # viewBox units; the SVG itself takes the width of its container
LABEL_WIDTH = 190
VALUE_WIDTH = 70
MARGIN = 8
ROW_HEIGHT = 26
BAR_HEIGHT = 16
FONT_SIZE = 12
LABEL_CHARS = 30  # longer labels are cut on the chart (in full in its <title> and the table)


def count_text(cell: Cell, locale: str) -> str:
    """A count as the locale writes it (CLDR's default digits), a suppressed one as "<k"."""
    if isinstance(cell, Suppressed):
        return "<" + format_decimal(cell.k, locale=locale)
    return format_decimal(cell, locale=locale)


def spoken_count(cell: Cell, locale: str) -> str:
    """A count for a text alternative: a suppressed one in words. "<5" also marks counts of 5
    or more (or zeros) withheld so that a small one cannot be worked out, so it is never read
    out as "fewer than 5" alone."""
    if isinstance(cell, Suppressed):
        return _(
            "withheld (fewer than %(k)s, or hidden so that a smaller count cannot be worked out)",
            k=count_text(cell.k, locale),
        )
    return count_text(cell, locale)


def safe_colour(colour: str | None, fallback: str) -> str:
    """``colour`` if it is exactly ``#rrggbb``, else ``fallback`` (never text put in SVG)."""
    if isinstance(colour, str) and COLOUR.fullmatch(colour):
        return colour.lower()
    return fallback


def chart_id(table: Table, suffix: str = "") -> str:
    """An id for the chart's elements, from the table's name (only safe characters)."""
    slug = re.sub(r"[^A-Za-z0-9_-]+", "-", f"{table.name}{suffix}").strip("-") or "table"
    return f"chart-{slug}"


def _text(value: object) -> str:
    """A label (translatable or plain) as escaped text."""
    return str(escape(str(value)))


def _short(value: object) -> str:
    """A label cut to fit beside the bars."""
    text = str(value)
    return text if len(text) <= LABEL_CHARS else text[: LABEL_CHARS - 1].rstrip() + "…"


def _num(value: float) -> str:
    """A coordinate written compactly."""
    return f"{value:.2f}".rstrip("0").rstrip(".")


def _chart_rows(table: Table) -> tuple[Row, ...]:
    """The rows to draw: a total row would dwarf the others (it stays in the table)."""
    return table.rows[:-1] if table.total_row and table.rows else table.rows


def _series(table: Table) -> range:
    """The columns drawn as segments or lines (not a total column)."""
    count = len(table.columns) - (1 if table.total_column else 0)
    return range(max(count, 0))


def _pattern_defs(prefix: str, colours: Sequence[str]) -> str:
    """``<pattern>`` elements, one per series: its colour under a black or white texture."""
    shapes = {
        "diagonal": '<path d="M0 8L8 0" stroke="#fff" stroke-width="2"/>',
        "dots": '<circle cx="4" cy="4" r="1.6" fill="#fff"/>',
        "cross": '<path d="M0 0L8 8M8 0L0 8" stroke="#fff" stroke-width="1.2"/>',
        "horizontal": '<path d="M0 4H8" stroke="#fff" stroke-width="2"/>',
        "vertical": '<path d="M4 0V8" stroke="#fff" stroke-width="2"/>',
        "backward": '<path d="M0 0L8 8" stroke="#fff" stroke-width="2"/>',
    }
    parts = []
    for index, colour in enumerate(colours):
        texture = shapes.get(PATTERNS[index % len(PATTERNS)], "")
        parts.append(
            f'<pattern id="{prefix}-p{index}" width="8" height="8" patternUnits="userSpaceOnUse">'
            f'<rect width="8" height="8" fill="{colour}"/>{texture}</pattern>'
        )
    return "<defs>" + "".join(parts) + "</defs>"


def _svg(prefix: str, height: float, title: str, desc: str, body: Sequence[str]) -> Markup:
    """The ``<svg>`` element around ``body`` (all strings already escaped)."""
    return Markup(  # noqa: S704 -- every piece was escaped or built from numbers above
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" '
        f'viewBox="0 0 {WIDTH} {_num(height)}" preserveAspectRatio="xMidYMin meet" '
        f'font-size="{FONT_SIZE}" aria-labelledby="{prefix}-title {prefix}-desc">'
        f'<title id="{prefix}-title">{title}</title><desc id="{prefix}-desc">{desc}</desc>'
        + "".join(body)
        + "</svg>"
    )


def _legend(
    prefix: str,
    table: Table,
    colours: Sequence[str],
    top: float,
    direction: Direction,
    x_of: Callable[[float, float], float],
) -> tuple[list[str], float]:
    """A legend of swatches (colour and pattern) with the column labels; its height."""
    parts: list[str] = ['<g class="legend">']
    x, y = MARGIN, top
    for index in _series(table):
        label = _short(table.columns[index])
        width = 18 + 7 * len(label) + 16
        if x + width > WIDTH - MARGIN and x > MARGIN:
            x, y = MARGIN, y + ROW_HEIGHT
        parts.append(
            f'<rect x="{_num(x_of(x, 12))}" y="{_num(y)}" width="12" height="12" '
            f'fill="url(#{prefix}-p{index})" stroke="#000" stroke-width="0.5"/>'
            f'<text x="{_num(x_of(x + 18, 0))}" y="{_num(y + 10)}" direction="{direction}" '
            f'text-anchor="start">{_text(label)}</text>'
        )
        x += width
    parts.append("</g>")
    return parts, y + ROW_HEIGHT - top


def bar_chart(
    table: Table,
    *,
    locale: str,
    direction: Direction,
    column: int = 0,
    stacked: bool = False,
) -> Markup:
    """Horizontal bars, one per row, for ``table``'s ``column`` (or every column, stacked).

    In ``rtl`` the bars grow from the right edge and the labels sit on the right: every x is
    mirrored and texts carry ``direction="rtl"``. Rows are drawn in the row's own colour when
    it is a valid ``#rrggbb`` (a code's colour), otherwise in the Okabe-Ito palette; each bar
    carries its number as text, stacked segments carry a pattern and a legend.
    """
    prefix = chart_id(table, "-stacked" if stacked else f"-{column}")
    rows = _chart_rows(table)
    series = list(_series(table)) if stacked else [column]

    def total(row: Row) -> int:
        """The drawn length of a row: the sum of its visible counts."""
        return sum(c for i in series if isinstance(c := row.cells[i], int))

    largest = max((total(row) for row in rows), default=0) or 1
    bar_left = LABEL_WIDTH + MARGIN
    scale = (WIDTH - bar_left - VALUE_WIDTH - MARGIN) / largest

    def x_of(x: float, width: float) -> float:
        """Where a shape of ``width`` drawn at ``x`` (left to right) starts in this direction."""
        return WIDTH - x - width if direction == "rtl" else x

    colours = [PALETTE[i % len(PALETTE)] for i in range(len(table.columns))]
    body: list[str] = [_pattern_defs(prefix, colours)] if stacked else []
    spoken: list[str] = []
    for position, row in enumerate(rows):
        y = MARGIN + position * ROW_HEIGHT
        bar_y = y + (ROW_HEIGHT - BAR_HEIGHT) / 2
        text_y = y + ROW_HEIGHT / 2 + FONT_SIZE * 0.35
        label = str(row.label)
        body.append(f'<g class="bar" data-row="{position}">')
        body.append(
            f'<text class="label" x="{_num(x_of(LABEL_WIDTH, 0))}" y="{_num(text_y)}" '
            f'direction="{direction}" text-anchor="end"><title>{_text(label)}</title>'
            f"{_text(_short(label))}</text>"
        )
        x = float(bar_left)
        for index in series:
            cell = row.cells[index]
            width = cell * scale if isinstance(cell, int) else 0.0
            if stacked:
                fill = f"url(#{prefix}-p{index})"
            else:
                fill = safe_colour(row.colour, PALETTE[position % len(PALETTE)])
            kind = "suppressed" if isinstance(cell, Suppressed) else "count"
            body.append(
                f'<rect class="{kind}" data-column="{index}" x="{_num(x_of(x, width))}" '
                f'y="{_num(bar_y)}" width="{_num(width)}" height="{BAR_HEIGHT}" fill="{fill}">'
                f"<title>{_text(table.columns[index])}: {_text(count_text(cell, locale))}</title>"
                "</rect>"
            )
            x += width
            if stacked:
                spoken.append(
                    _(
                        "%(label)s, %(column)s: %(count)s",
                        label=label,
                        column=str(table.columns[index]),
                        count=spoken_count(cell, locale),
                    )
                )
        if stacked:
            # Each segment's number in the legend's order, zeros left out (the table beside
            # has them): a stacked bar's visible length is not its total when a segment is
            # withheld, so no sum is written.
            shown = [row.cells[i] for i in series if row.cells[i] != 0]
            value = " · ".join(count_text(c, locale) for c in shown) if shown else "0"
        else:
            value = count_text(row.cells[column], locale)
            spoken.append(
                _(
                    "%(label)s: %(count)s",
                    label=label,
                    count=spoken_count(row.cells[column], locale),
                )
            )
        body.append(
            f'<text class="value" x="{_num(x_of(x + 4, 0))}" y="{_num(text_y)}" '
            f'direction="{direction}" text-anchor="start">{_text(value)}</text></g>'
        )
    height: float = MARGIN * 2 + len(rows) * ROW_HEIGHT
    axis_x = _num(x_of(bar_left, 0))
    body.append(
        f'<line class="axis" x1="{axis_x}" x2="{axis_x}" y1="{MARGIN}" '
        f'y2="{_num(height - MARGIN)}" stroke="#000" stroke-width="1"/>'
    )
    if stacked:
        legend, legend_height = _legend(prefix, table, colours, height, direction, x_of)
        body.extend(legend)
        height += legend_height
    title = str(table.title)
    if not stacked and len(table.columns) > 1:
        title = f"{title} ({table.columns[column]})"
    desc = format_list(spoken, locale=locale) if spoken else _("No contributions.")
    return _svg(prefix, height, _text(title), _text(desc), body)


def line_chart(table: Table, *, locale: str, direction: Direction) -> Markup:
    """Lines over time: rows are months in order, one line per column (not a total column).

    Time runs in the reading direction (from the right in ``rtl``). A suppressed month is a
    gap in its line with "<k" written at the baseline; each series has its own marker shape
    and a legend, so colour is never the only carrier.
    """
    prefix = chart_id(table, "-line")
    rows = _chart_rows(table)
    series = list(_series(table))
    top, left, bottom = MARGIN + FONT_SIZE, MARGIN + 50, 200.0
    right = WIDTH - MARGIN - 20
    largest = max(
        (c for row in rows for i in series if isinstance(c := row.cells[i], int)), default=0
    )
    largest = largest or 1
    step = (right - left) / max(len(rows) - 1, 1)

    def x_of(x: float, width: float) -> float:
        """Where a shape of ``width`` drawn at ``x`` (left to right) starts in this direction."""
        return WIDTH - x - width if direction == "rtl" else x

    def y_of(count: int) -> float:
        """The height of a count."""
        return bottom - (bottom - top) * count / largest

    colours = [PALETTE[i % len(PALETTE)] for i in range(len(table.columns))]
    body: list[str] = [_pattern_defs(prefix, colours)]
    ax = _num(x_of(left, 0))
    body.append(
        f'<g class="axes" stroke="#000" stroke-width="1"><line x1="{ax}" x2="{ax}" y1="{top}" '
        f'y2="{_num(bottom)}"/><line x1="{ax}" x2="{_num(x_of(right, 0))}" y1="{_num(bottom)}" '
        f'y2="{_num(bottom)}"/></g>'
    )
    for count in (0, largest):
        body.append(
            f'<text class="tick" x="{_num(x_of(left - 6, 0))}" y="{_num(y_of(count) + 4)}" '
            f'direction="{direction}" text-anchor="end">{_text(count_text(count, locale))}</text>'
        )
    for position, row in enumerate(rows):
        body.append(
            f'<text class="month" x="{_num(x_of(left + position * step, 0))}" '
            f'y="{_num(bottom + 16)}" direction="{direction}" text-anchor="middle">'
            f"{_text(_short(row.label))}</text>"
        )
    spoken: list[str] = []
    for index in series:
        colour = colours[index]
        runs: list[list[tuple[float, float]]] = [[]]
        marks: list[str] = []
        for position, row in enumerate(rows):
            cell = row.cells[index]
            x = x_of(left + position * step, 0)
            spoken.append(
                _(
                    "%(label)s, %(column)s: %(count)s",
                    label=str(row.label),
                    column=str(table.columns[index]),
                    count=spoken_count(cell, locale),
                )
            )
            if isinstance(cell, Suppressed):
                runs.append([])
                marks.append(
                    f'<text class="suppressed" x="{_num(x)}" y="{_num(bottom - 4)}" '
                    f'direction="{direction}" text-anchor="middle">'
                    f"{_text(count_text(cell, locale))}</text>"
                )
                continue
            y = y_of(cell)
            runs[-1].append((x, y))
            marks.append(_marker(MARKERS[index % len(MARKERS)], x, y, colour))
        for run in runs:
            if len(run) > 1:
                points = " ".join(f"{_num(x)},{_num(y)}" for x, y in run)
                body.append(
                    f'<polyline class="series" data-column="{index}" points="{points}" '
                    f'fill="none" stroke="{colour}" stroke-width="2"/>'
                )
        body.extend(marks)
    height = bottom + 26
    legend, legend_height = _legend(prefix, table, colours, height, direction, x_of)
    body.extend(legend)
    desc = format_list(spoken, locale=locale) if spoken else _("No contributions.")
    return _svg(prefix, height + legend_height, _text(table.title), _text(desc), body)


def _marker(shape: str, x: float, y: float, colour: str) -> str:
    """A point's marker: a shape per series, outlined in black."""
    edge = f'fill="{colour}" stroke="#000" stroke-width="0.8"'
    if shape == "square":
        return f'<rect x="{_num(x - 4)}" y="{_num(y - 4)}" width="8" height="8" {edge}/>'
    if shape == "triangle":
        points = f"{_num(x)},{_num(y - 5)} {_num(x - 5)},{_num(y + 4)} {_num(x + 5)},{_num(y + 4)}"
        return f'<polygon points="{points}" {edge}/>'
    if shape == "diamond":
        points = f"{_num(x)},{_num(y - 5)} {_num(x - 5)},{_num(y)} {_num(x)},{_num(y + 5)} " + (
            f"{_num(x + 5)},{_num(y)}"
        )
        return f'<polygon points="{points}" {edge}/>'
    if shape == "cross":
        return (
            f'<path d="M{_num(x - 4)} {_num(y - 4)}L{_num(x + 4)} {_num(y + 4)}M{_num(x + 4)} '
            f'{_num(y - 4)}L{_num(x - 4)} {_num(y + 4)}" stroke="{colour}" stroke-width="2.5"/>'
        )
    return f'<circle cx="{_num(x)}" cy="{_num(y)}" r="4" {edge}/>'


def init_app(app: Flask) -> None:
    """Give templates the ``count_text`` filter (the charts' own number formatting)."""
    from fieldapp.i18n import current_language

    def count_filter(cell: Cell, locale: str | None = None) -> str:
        """A cell written as the current language (or ``locale``) writes numbers."""
        return count_text(cell, locale or current_language().locale)

    app.jinja_env.filters.setdefault("count_text", count_filter)
