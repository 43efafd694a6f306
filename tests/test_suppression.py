"""Small counts never expose anyone: primary and secondary suppression of analysis tables.

The property tests run the real :func:`suppress` on random tables and judge the result with a
checker of their own: an exact integer search over the suppressed cells (bounds propagation
and branching, nothing shared with the module's cycle reasoning) that looks for a second set
of values consistent with every published cell and every published total.
"""

from __future__ import annotations

import random
import statistics
import time
from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fieldapp.config import Defaults
from fieldapp.services.analysis.suppression import (
    demographics_allowed,
    publish,
    share,
    suppress,
)
from fieldapp.services.analysis.tables import Row, Suppressed, Table, table

S = Suppressed

# ---- building tables ------------------------------------------------------------------------


def make(counts: list[list[int]], shape: str = "both") -> Table:
    """A table of ``counts`` with totals both ways, a total column only, a total row only,
    or none (``shape``): the same way the dashboard builds them."""
    columns = [f"c{j}" for j in range(len(counts[0]))]
    rows = [Row(f"r{i}", tuple(r), key=f"r{i}") for i, r in enumerate(counts)]
    if shape == "both":
        return table("t", "T", columns, rows, totals=True)
    plain = table("t", "T", columns, rows)
    if shape == "column":
        summed = tuple(replace(r, cells=(*r.cells, sum(r.cells))) for r in rows)  # type: ignore[arg-type]
        return replace(plain, columns=(*columns, "Total"), rows=summed, total_column=True)
    if shape == "row":
        sums = tuple(sum(r[j] for r in counts) for j in range(len(columns)))
        return replace(plain, rows=(*rows, Row("Total", sums)), total_row=True)
    return plain


def cells(t: Table) -> list[list[object]]:
    """The cells as plain lists (Suppressed markers kept)."""
    return [list(r.cells) for r in t.rows]


# ---- the independent checker ----------------------------------------------------------------


def equations(t: Table) -> list[list[tuple[tuple[int, int], int]]]:
    """The sums a reader knows hold, as lists of (cell, coefficient) summing to 0."""
    n_rows, n_cols = len(t.rows), len(t.columns)
    found = []
    if t.total_column:
        for i in range(n_rows):
            found.append([((i, j), 1) for j in range(n_cols - 1)] + [((i, n_cols - 1), -1)])
    if t.total_row:
        for j in range(n_cols):
            found.append([((i, j), 1) for i in range(n_rows - 1)] + [((n_rows - 1, j), -1)])
    return found


class Unknowns:
    """The integer system a reader faces: suppressed cells in ``[0, bound]`` and the sums."""

    def __init__(self, published: Table, bound: int) -> None:
        grid = cells(published)
        self.names = [
            (i, j) for i, r in enumerate(grid) for j, c in enumerate(r) if isinstance(c, S)
        ]
        where = {name: n for n, name in enumerate(self.names)}
        self.bound = bound
        self.rows: list[tuple[list[tuple[int, int]], int]] = []  # (var, coef) list, rhs
        for equation in equations(published):
            terms, rhs = [], 0
            for (i, j), coef in equation:
                if (i, j) in where:
                    terms.append((where[(i, j)], coef))
                else:
                    rhs -= coef * grid[i][j]  # type: ignore[operator]
            if terms:
                self.rows.append((terms, rhs))
            else:
                assert rhs == 0, "published totals must add up"

    def holds(self, values: list[int]) -> bool:
        """Whether ``values`` are non-negative and satisfy every sum."""
        return all(v >= 0 for v in values) and all(
            sum(coef * values[v] for v, coef in terms) == rhs for terms, rhs in self.rows
        )

    def propagate(self, lo: list[int], hi: list[int]) -> bool:
        """Tighten the bounds to a fixpoint; False when some sum cannot be met."""
        changed = True
        while changed:
            changed = False
            for terms, rhs in self.rows:
                low = sum(coef * (lo[v] if coef > 0 else hi[v]) for v, coef in terms)
                high = sum(coef * (hi[v] if coef > 0 else lo[v]) for v, coef in terms)
                if low > rhs or high < rhs:
                    return False
                for v, coef in terms:
                    own_low = coef * (lo[v] if coef > 0 else hi[v])
                    own_high = coef * (hi[v] if coef > 0 else lo[v])
                    # coef * x lies in [rhs - (high - own_high), rhs - (low - own_low)]
                    a, b = rhs - (high - own_high), rhs - (low - own_low)
                    new_lo, new_hi = (a, b) if coef > 0 else (-b, -a)
                    if new_lo > lo[v]:
                        lo[v], changed = new_lo, True
                    if new_hi < hi[v]:
                        hi[v], changed = new_hi, True
                    if lo[v] > hi[v]:
                        return False
        return True

    def solve(self, lo: list[int], hi: list[int], budget: list[int]) -> list[int] | None:
        """Some solution within the bounds (branch and propagate), or None."""
        budget[0] -= 1
        if budget[0] < 0:
            raise AssertionError("the checker gave up: search too large")
        if not self.propagate(lo, hi):
            return None
        open_vars = [v for v in range(len(lo)) if lo[v] < hi[v]]
        if not open_vars:
            return lo[:] if self.holds(lo) else None
        v = min(open_vars, key=lambda n: (hi[n] - lo[n], n))
        middle = (lo[v] + hi[v]) // 2
        for a, b in ((lo[v], middle), (middle + 1, hi[v])):
            lo2, hi2 = lo[:], hi[:]
            lo2[v], hi2[v] = a, b
            found = self.solve(lo2, hi2, budget)
            if found is not None:
                return found
        return None

    def other_value(self, var: int, value: int) -> list[int] | None:
        """A solution in which unknown ``var`` is not ``value``, or None."""
        for a, b in ((0, value - 1), (value + 1, self.bound)):
            if a > b:
                continue
            lo, hi = [0] * len(self.names), [self.bound] * len(self.names)
            lo[var], hi[var] = a, b
            found = self.solve(lo, hi, [20_000])
            if found is not None:
                assert self.holds(found)
                return found
        return None


def exposed(original: Table, published: Table) -> list[tuple[int, int]]:
    """The suppressed cells of ``published`` that a reader could work out exactly."""
    grid = cells(original)
    bound = 2 * sum(c for r in grid for c in r) + 2  # type: ignore[misc]
    system = Unknowns(published, bound)
    truth = [grid[i][j] for i, j in system.names]
    assert system.holds(truth), "the true counts must satisfy the published sums"  # type: ignore[arg-type]
    settled: set[int] = set()
    found = []
    for var, name in enumerate(system.names):
        if var in settled:
            continue
        witness = system.other_value(var, truth[var])  # type: ignore[arg-type]
        if witness is None:
            found.append(name)
            continue
        settled.update(n for n, (w, t) in enumerate(zip(witness, truth, strict=True)) if w != t)
    return found


# ---- random tables --------------------------------------------------------------------------

small_skewed = st.one_of(
    st.integers(0, 6), st.integers(0, 6), st.integers(0, 12), st.integers(0, 30)
)


@st.composite
def raw_tables(draw: st.DrawFn) -> Table:
    """A table of 1-6 rows and 1-6 columns of counts skewed to small, with some totals."""
    n_rows, n_cols = draw(st.integers(1, 6)), draw(st.integers(1, 6))
    counts = [[draw(small_skewed) for _ in range(n_cols)] for _ in range(n_rows)]
    return make(counts, draw(st.sampled_from(["both", "both", "column", "row", "none"])))


PROPERTY = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(raw_tables(), st.integers(2, 10))
def test_no_published_cell_is_a_small_count(raw, k):
    """Does any published cell, totals included, still show a count from 1 to k-1?"""
    shown = suppress(raw, k)
    assert shown.published
    for row in shown.rows:
        for cell in row.cells:
            assert isinstance(cell, S) or not 1 <= cell < k


@PROPERTY
@given(raw_tables(), st.integers(2, 10))
def test_shown_counts_are_the_true_counts_and_the_shape_stays(raw, k):
    """Are the counts left showing the original ones, in a table of the same shape?"""
    shown = suppress(raw, k)
    assert len(shown.rows) == len(raw.rows)
    assert shown.columns == raw.columns
    assert (shown.total_row, shown.total_column) == (raw.total_row, raw.total_column)
    for before, after in zip(raw.rows, shown.rows, strict=True):
        assert before.label == after.label
        assert len(before.cells) == len(after.cells)
        for old, new in zip(before.cells, after.cells, strict=True):
            assert new == old or new == S(k)
    if not (raw.total_row or raw.total_column):
        # Without totals there is nothing to subtract from: primary suppression only.
        assert all(
            (new == S(k)) == (1 <= old < k)
            for b, a in zip(raw.rows, shown.rows, strict=True)
            for old, new in zip(b.cells, a.cells, strict=True)
        )


@PROPERTY
@given(raw_tables(), st.integers(2, 10))
def test_every_suppressed_cell_keeps_two_possible_values(raw, k):
    """Can a reader work out any suppressed cell from the totals and the other cells?"""
    assert exposed(raw, suppress(raw, k)) == []


@PROPERTY
@given(raw_tables(), st.integers(2, 10))
def test_publishing_twice_changes_nothing(raw, k):
    """Is a published table published again the same table?"""
    once = suppress(raw, k)
    assert suppress(once, k) == once
    assert suppress(raw, k) == once  # deterministic


# ---- examples a reader can follow -----------------------------------------------------------


def test_one_small_cell_in_a_two_by_two_gets_three_complements():
    """A 3 among larger counts: its row, column and the opposite cell hide too, totals show."""
    raw = make([[3, 10], [12, 20]])
    shown = suppress(raw, 5)
    assert cells(shown) == [[S(5), S(5), 13], [S(5), S(5), 32], [15, 30, 45]]
    assert exposed(raw, shown) == []


def test_a_lone_small_cell_beside_a_row_total_takes_the_smallest_other_count():
    """3 + 10 + 8 = 21 shown: hiding only the 3 would let 21 - 10 - 8 give it away."""
    raw = make([[3, 10, 8]], shape="column")
    shown = suppress(raw, 5)
    assert cells(shown) == [[S(5), 10, S(5), 21]]
    assert exposed(raw, shown) == []
    primary_only = raw.with_cells([[S(5), 10, 8, 21]], published=True)
    assert exposed(raw, primary_only) == [(0, 0)]


def test_a_zero_is_not_used_as_a_complement_when_a_count_will_do():
    """A zero next to the 3 stays shown; the cycle runs through larger counts instead."""
    raw = make([[3, 0, 10]], shape="column")
    shown = suppress(raw, 5)
    assert cells(shown) == [[S(5), 0, S(5), 13]]


def test_zeros_that_cannot_move_do_not_protect_a_cycle():
    """Row 0 is 3 + 0 = 3: both 3s are hidden, the 0 shows, so the column must hide more."""
    raw = make([[3, 0], [20, 30]])
    shown = suppress(raw, 5)
    grid = cells(shown)
    assert grid[0] == [S(5), 0, S(5)]
    assert exposed(raw, shown) == []
    # The naive answer (hide the row's 3s only) gives the 3 away: 23 - 20 = 3.
    naive = raw.with_cells([[S(5), 0, S(5)], [20, 30, 50], [23, 30, 53]], published=True)
    assert exposed(raw, naive) == [(0, 0), (0, 2)]


def test_the_default_threshold_is_five():
    """With the installation's default MIN_CELL_COUNT a 4 is hidden and a 5 is shown."""
    k = Defaults.MIN_CELL_COUNT
    assert k == 5
    shown = suppress(make([[4, 5, 0]], shape="none"), k)
    assert cells(shown) == [[S(5), 5, 0]]
    assert str(shown.rows[0].cells[0]) == "<5"


def test_small_totals_are_suppressed_too():
    """A grand total of 4 is itself a small count."""
    shown = suppress(make([[1, 3]]), 5)
    assert all(isinstance(c, S) for r in shown.rows for c in r.cells)
    assert exposed(make([[1, 3]]), shown) == []


def test_publish_suppresses_every_table():
    """publish() hands back each table suppressed, in order."""
    tables = [make([[3, 10], [12, 20]]), make([[2, 7]], shape="none")]
    shown = publish(tables, 5)
    assert [t.published for t in shown] == [True, True]
    assert shown == [suppress(t, 5) for t in tables]


def test_tables_whose_totals_do_not_add_up_are_refused():
    """Suppression reasons about sums; a total that is not one is a bug to surface."""
    wrong = make([[3, 10], [12, 20]])
    grid = cells(wrong)
    grid[0][2] = 14
    with pytest.raises(ValueError, match="row total"):
        suppress(wrong.with_cells(grid, published=False), 5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="at least 1"):
        suppress(wrong, 0)


def test_a_twenty_by_twenty_table_is_fast():
    """A big table with many small counts takes well under 10 ms of CPU time."""
    rng = random.Random(2)
    counts = [[rng.choice(range(40)) for _ in range(20)] for _ in range(20)]
    raw = make(counts)
    times = []
    for _ in range(7):
        start = time.process_time()
        shown = suppress(raw, 5)
        times.append(time.process_time() - start)
    assert statistics.median(times) < 0.010
    assert exposed(raw, shown) == []


# ---- shares and quotes ----------------------------------------------------------------------


def test_share_is_withheld_with_its_counts():
    """A share of or from a suppressed count, or of nothing, is not shown."""
    assert share(3, 12) == 0.25
    assert share(0, 7) == 0.0
    assert share(S(5), 12) is None
    assert share(6, S(5)) is None
    assert share(0, 0) is None


def test_quotes_beside_demographics_need_k_contributions():
    """A quote may name its group only when the group has at least k contributions."""
    assert demographics_allowed(5, 5)
    assert demographics_allowed(12, 5)
    assert not demographics_allowed(4, 5)
    assert not demographics_allowed(0, 5)
    assert not demographics_allowed(S(5), 5)
    assert not demographics_allowed(True, 1)  # a flag is not a count


def test_a_hidden_zero_can_only_grow():
    """The module's own judgement agrees with the checker when a hidden zero cannot go below 0.

    Complements are zeros only when nothing else closes a cycle, which tables whose totals add
    up never need, so this drives the graph directly: row 0 is 0 + 0 = 0 with its total shown,
    and hiding both zeros hides nothing.
    """
    from fieldapp.services.analysis import suppression

    raw = make([[0, 0], [3, 3]])
    graph = suppression._Graph(raw, cells(raw), 5)
    width = len(raw.columns)
    for j in (0, 1):
        graph.hide(j)  # cells (0, 0) and (0, 1)
    hidden = [(i, j) for i in range(3) for j in range(width) if graph.hidden[i * width + j]]
    published = raw.with_cells(
        [
            [S(5) if (i, j) in hidden else c for j, c in enumerate(r)]
            for i, r in enumerate(cells(raw))
        ],
        published=True,
    )
    assert exposed(raw, published) == [(0, 0), (0, 1)]
    assert suppression._first_exposed(graph, set()) == 0


@PROPERTY
@given(raw_tables(), st.integers(2, 10), st.data())
def test_a_cell_withheld_for_another_table_is_protected_too(raw, k, data):
    """A count that another table withholds is withheld here too: can a reader still work it
    out from this table's totals and shown cells?"""
    grid = cells(raw)
    forced = data.draw(
        st.sets(st.tuples(st.integers(0, len(grid) - 1), st.integers(0, len(grid[0]) - 1)))
    )
    shown = suppress(raw, k, hide=forced)
    assert all(isinstance(shown.rows[i].cells[j], S) for i, j in forced)
    assert exposed(raw, shown) == []


def test_a_codes_total_withheld_elsewhere_takes_its_one_governorate_along():
    """Found by the dashboard's property test: one governorate, a code counted 3 there (k=3)
    and withheld in the by-gender table. Its total here is withheld too, so its one
    governorate cell, equal to it, must not show."""
    raw = make([[2], [0], [3], [1]], shape="both")
    shown = suppress(raw, 3, hide={(2, 1)})
    assert isinstance(shown.rows[2].cells[0], S)
    assert exposed(raw, shown) == []
