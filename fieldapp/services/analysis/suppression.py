"""Small-count suppression: no published count lets a reader find out who came or said what.

**Primary suppression.** Every cell, totals included, that holds a count from 1 to ``k - 1``
becomes :class:`~.tables.Suppressed`. Zeros stay shown: a zero names nobody.

**Secondary suppression.** Where a table has a total row and/or a total column, the totals
are sums of the other cells, so a reader can subtract. Each suppressed cell must then keep at
least two values consistent with everything published (non-negative whole numbers, rows
adding up to their row totals, columns to their column totals, a suppressed total being one
more unknown). A table without totals gives a reader no equations, so primary suppression is
all it needs.

How the protection is checked. Write ``y = -x`` for the cells of the total row and of the
total column (the grand total keeps its sign) and every constrained row and column of ``y``
sums to zero. A change of the suppressed cells that keeps all the published figures true is
then a circulation on the bipartite graph whose nodes are the constrained rows and columns
(the unconstrained side, when a table has totals one way only, collapses into one free node)
and whose edges are the suppressed cells; orient ``+1`` as row -> column and ``-1`` as
column -> row. A cell whose count is 0 can only grow, so it has one arc; any other cell has
both. A cell has a second possible value exactly when one of its arcs lies on a directed
cycle through other cells (conformal decomposition: any admissible change is a sum of such
cycles; the constraint matrix is totally unimodular, so a second real value means a second
whole one). A cell that has no such cycle gets complements: the cheapest path that closes a
cycle, where a cell already suppressed costs nothing, a shown count costs the people it
hides, and a zero is used only when nothing else closes the cycle (lexicographic costs:
zeros first, then people, then cells). Suppressing more cells never makes a protected cell
unprotected, so one pass in row-major order settles a table; it is deterministic.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Collection, Iterable, Sequence

from .tables import Cell, Suppressed, Table

_Arc = tuple[int, int, int]  # (from node, to node, cell index)


def suppress(table: Table, k: int, hide: Collection[tuple[int, int]] = ()) -> Table:
    """``table`` published with threshold ``k``: primary and, where it has totals, secondary
    suppression. Cells already :class:`Suppressed` stay so (their counts being unknown, they
    are taken to be non-zero), so publishing a published table changes nothing.

    ``hide`` names (row, column) cells to withhold whatever their count, for example a count
    that another table of the same output withholds; they are protected like the small ones
    (a withheld cell that the totals give away would be no protection).

    Raises ``ValueError`` for ``k < 1`` or when a table's totals are not the sums of its cells.
    """
    if k < 1:
        raise ValueError("the minimum count k must be at least 1")
    grid = table.counts()
    _check_totals(table, grid)
    if not grid or not grid[0]:
        return table.with_cells(grid, published=True)
    graph = _Graph(table, grid, k, frozenset(hide))
    if table.total_row or table.total_column:
        _protect(graph)
    width = len(grid[0])
    cells: list[list[Cell]] = [
        [
            c
            if isinstance(c, Suppressed)
            else (Suppressed(k) if graph.hidden[i * width + j] else c)
            for j, c in enumerate(row)
        ]
        for i, row in enumerate(grid)
    ]
    return table.with_cells(cells, published=True)


def publish(tables: Iterable[Table], k: int) -> list[Table]:
    """Each of ``tables`` suppressed with threshold ``k`` (each table is protected on its own;
    a count repeated in several tables must be withheld alike by the caller)."""
    return [suppress(t, k) for t in tables]


def share(part: Cell, whole: Cell) -> float | None:
    """``part`` as a share of ``whole`` (0..1), or None where either is suppressed (a share
    would give the hidden count away) or ``whole`` is 0."""
    if isinstance(part, Suppressed) or isinstance(whole, Suppressed) or whole == 0:
        return None
    return part / whole


def demographics_allowed(group_count: Cell, k: int) -> bool:
    """Whether a quote may be shown beside its demographics: only when the group it would
    point at has at least ``k`` contributions (a shown count, never a suppressed one)."""
    return isinstance(group_count, int) and not isinstance(group_count, bool) and group_count >= k


# ---- the constraint graph ---------------------------------------------------------------------


def _check_totals(table: Table, grid: Sequence[Sequence[Cell]]) -> None:
    """Refuse a table whose totals are not sums (suppression would reason about a lie)."""
    if any(isinstance(c, Suppressed) for row in grid for c in row) or not grid or not grid[0]:
        return
    if table.total_column:
        for row in grid:
            if sum(row[:-1]) != row[-1]:  # type: ignore[arg-type]
                raise ValueError(f"table {table.name!r}: a row total is not the row's sum")
    if table.total_row:
        body = grid[:-1]
        for j in range(len(grid[0])):
            if sum(r[j] for r in body) != grid[-1][j]:  # type: ignore[misc]
                raise ValueError(f"table {table.name!r}: a column total is not the column's sum")


class _Graph:
    """The cells of a table (flat, row-major) as edges between its constrained rows and columns,
    with which of them are hidden."""

    def __init__(
        self,
        table: Table,
        grid: Sequence[Sequence[Cell]],
        k: int,
        hide: frozenset[tuple[int, int]] = frozenset(),
    ) -> None:
        n_rows, n_cols = len(grid), len(grid[0])
        row_nodes = n_rows if table.total_column else 1  # rows add up only with a total
        col_nodes = n_cols if table.total_row else 1
        self.nodes = row_nodes + col_nodes
        self.arcs: list[list[_Arc]] = []  # per cell, the arcs it may move along
        self.hidden: list[bool] = []
        self.cost: list[int] = []  # what hiding it costs (see _costs); 0 once hidden
        # Costs order (zeros hidden, people hidden, cells hidden) lexicographically, in one int.
        cells = n_rows * n_cols + 1
        self.zero = (sum(c for row in grid for c in row if isinstance(c, int)) + 1) * cells
        self.out: list[list[tuple[int, int]]] = [[] for _ in range(self.nodes)]
        for i, row in enumerate(grid):
            for j, cell in enumerate(row):
                r = i if table.total_column else 0
                c = row_nodes + (j if table.total_row else 0)
                margin = (table.total_row and i == n_rows - 1) != (
                    table.total_column and j == n_cols - 1
                )
                index = len(self.arcs)
                up = (c, r, index) if margin else (r, c, index)  # the arc that adds 1 to x
                arcs = [up] if cell == 0 else [up, (up[1], up[0], index)]
                self.arcs.append(arcs)
                for frm, to, _ in arcs:
                    self.out[frm].append((to, index))
                if isinstance(cell, Suppressed) or 1 <= cell < k or (i, j) in hide:
                    self.hidden.append(True)
                    self.cost.append(0)
                else:
                    self.hidden.append(False)
                    self.cost.append(self.zero if cell == 0 else cell * cells + 1)

    def hide(self, index: int) -> None:
        """Hide cell ``index`` (it costs nothing more to use)."""
        self.hidden[index] = True
        self.cost[index] = 0


def _protect(graph: _Graph) -> None:
    """Hide complements until every hidden cell keeps two possible values."""
    protected: set[int] = set()
    while (start := _first_exposed(graph, protected)) is not None:
        cycle = _cycle(graph, start, free_only=False)
        if cycle is None:  # cannot happen when totals are sums; hide everything rather than leak
            for index in range(len(graph.hidden)):
                graph.hide(index)
            return
        for index in cycle:
            graph.hide(index)
            protected.add(index)


def _first_exposed(graph: _Graph, protected: set[int]) -> int | None:
    """The first hidden cell (row-major) with no second possible value yet, or None.

    While every hidden cell may move both ways (none is a hidden zero), a cell is exposed
    exactly when it is a bridge of the hidden cells' graph, found for all cells at once;
    otherwise each cell is searched for a cycle of its own.
    """
    hidden = [index for index, hide in enumerate(graph.hidden) if hide]
    if all(len(graph.arcs[index]) == 2 for index in hidden):
        bridges = _bridges(graph, hidden)
        return next((index for index in hidden if index in bridges), None)
    for index in hidden:
        if index in protected:
            continue
        cycle = _cycle(graph, index, free_only=True)
        if cycle is None:
            return index
        protected.update(cycle)
    return None


def _bridges(graph: _Graph, hidden: Sequence[int]) -> set[int]:
    """The ``hidden`` cells that lie on no cycle of hidden cells (Tarjan, iterative; two
    cells between the same row and column are a cycle of two)."""
    adjacent: list[list[tuple[int, int]]] = [[] for _ in range(graph.nodes)]
    for index in hidden:
        frm, to, _ = graph.arcs[index][0]
        adjacent[frm].append((to, index))
        adjacent[to].append((frm, index))
    order = [-1] * graph.nodes
    low = [0] * graph.nodes
    bridges: set[int] = set()
    counter = 0
    for root in range(graph.nodes):
        if order[root] != -1:
            continue
        order[root] = low[root] = counter
        counter += 1
        stack: list[tuple[int, int, int]] = [(root, -1, 0)]  # node, cell it came by, next arc
        while stack:
            node, via, position = stack[-1]
            if position < len(adjacent[node]):
                stack[-1] = (node, via, position + 1)
                to, index = adjacent[node][position]
                if index == via:
                    continue
                if order[to] == -1:
                    order[to] = low[to] = counter
                    counter += 1
                    stack.append((to, index, 0))
                else:
                    low[node] = min(low[node], order[to])
                continue
            stack.pop()
            if stack:
                parent = stack[-1][0]
                low[parent] = min(low[parent], low[node])
                if low[node] > order[parent]:
                    bridges.add(via)
    return bridges


def _cycle(graph: _Graph, start: int, *, free_only: bool) -> list[int] | None:
    """The cells of a cheapest admissible cycle through cell ``start`` (itself first), or
    None. With ``free_only`` only hidden cells may be used (a plain search)."""
    best: tuple[int, list[int]] | None = None
    for source, target, _ in graph.arcs[start]:
        if free_only:
            path = _path_hidden(graph, target, source, start)
            if path is not None:
                return [start, *path]
            continue
        found = _cheapest_path(graph, target, source, start)
        if found is not None and (best is None or found[0] < best[0]):
            best = found
            if found[0] < graph.zero:  # no zero used: the other way round costs no less
                break
    return None if best is None else [start, *best[1]]


def _path_hidden(graph: _Graph, source: int, target: int, skip: int) -> list[int] | None:
    """The cells of a path from ``source`` to ``target`` over hidden cells but ``skip`` (BFS)."""
    came: dict[int, tuple[int, int]] = {source: (-1, -1)}
    queue = deque([source])
    hidden = graph.hidden
    while queue:
        node = queue.popleft()
        for to, index in graph.out[node]:
            if to not in came and index != skip and hidden[index]:
                came[to] = (node, index)
                if to == target:
                    return _unwind(came, target)
                queue.append(to)
    return None


def _cheapest_path(
    graph: _Graph, source: int, target: int, skip: int
) -> tuple[int, list[int]] | None:
    """The cost and cells of the cheapest path from ``source`` to ``target`` over any cell but
    ``skip`` (Dijkstra; ties go to the lower node, so the result is deterministic)."""
    dist = {source: 0}
    came: dict[int, tuple[int, int]] = {source: (-1, -1)}
    heap = [(0, source)]
    done: set[int] = set()
    cost = graph.cost
    while heap:
        here, node = heapq.heappop(heap)
        if node in done:
            continue
        if node == target:
            return here, _unwind(came, target)
        done.add(node)
        for to, index in graph.out[node]:
            if index == skip or to in done:
                continue
            there = here + cost[index]
            if there < dist.get(to, there + 1):
                dist[to] = there
                came[to] = (node, index)
                heapq.heappush(heap, (there, to))
    return None


def _unwind(came: dict[int, tuple[int, int]], target: int) -> list[int]:
    """The cell indices of the path that ends at ``target``."""
    cells: list[int] = []
    node = target
    while came[node][0] != -1:
        node, index = came[node]
        cells.append(index)
    return cells[::-1]
