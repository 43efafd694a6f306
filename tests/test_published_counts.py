"""Issue #11's proof on the real code: published counts never expose a small group.

A handful of head offices are filled with random data through the real services (records,
demo-like submissions indexed into the read model, reviews with some exclusions, codings,
attendance, action points); Hypothesis then draws random filter sets and a random k in 3..6
and checks, for the dashboard (``exact=False``), its JSON summary and the aggregate CSV:

(a) no published count lies in 1..k-1;
(b) for each suppressed cell of each published table with totals, what the table publishes
    (its other cells and its row and column totals) leaves at least two possible values.

The checker for (b) is independent of ``suppression.py``: a table with its totals is a flow
network (source -> row total -> cell -> column total -> sink -> grand total -> source), every
published number fixes an edge, every suppressed one is an unknown edge between 0 and the
table's raw grand total. The raw (exact) table is one integer solution; a suppressed cell can
take another value exactly when an augmenting cycle through it exists over the unknown edges
(integrality of network flows). The checker finds that cycle, builds the second table and
verifies it against every published number, so each "two values" verdict is shown by example.
"""

from __future__ import annotations

import csv
import io
import random
import uuid
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from flask import Flask, g
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from fieldapp.extensions import db
from fieldapp.models import Contribution, DeviceRole
from fieldapp.services import demo, places, records, workspace
from fieldapp.services.contribution_query import Filters
from fieldapp.services.records import submission_row, utc_stamp
from fieldapp.services.sync import schema

from .conftest import SERVICE_CONTEXT
from .sync_world import Installation, site

SEEDS = (11, 23, 37, 41)
TODAY = date(2026, 12, 3)
KINDS = schema.CONSULTATION_KINDS


# ---- random head offices, through the real services ------------------------------------------


def _options() -> list[dict[str, Any]]:
    return [{"id": key, "label": label} for key, label in demo.PRIORITIES]


def _answer(rng: random.Random, qtype: str, language: str) -> Any:
    options = [key for key, _label in demo.PRIORITIES]
    if qtype == "multiple_choice":
        return rng.sample(options, rng.randint(1, 3))
    if qtype == "ranking":
        return rng.sample(options, len(options))
    return demo._answer(rng, qtype, language)  # single choice, rating, yes/no, free text


def fill(seed: int) -> dict[str, Any]:
    """Random consultations, attendance, action points, submissions, reviews and codings."""
    rng = random.Random(seed)  # noqa: S311 -- reproducible test data
    device = records.this_device_id()
    governorates = rng.sample(places.governorates(), rng.randint(2, 3))
    codes = []
    for number in range(rng.randint(2, 3)):
        code_id, _rev = records.create(
            "code",
            {
                "name": {"en": f"Theme {number}"},
                "original_language": "en",
                "colour": f"#{rng.randrange(0x1000000):06x}",
                "status": "active",
            },
        )
        codes.append(code_id)
    parent = codes[0]
    sub_id, _rev = records.create(
        "code",
        {
            "name": {"en": "Sub-theme"},
            "original_language": "en",
            "colour": "#336699",
            "status": "active",
            "parent": parent,
        },
    )
    codes.append(sub_id)
    consultations: list[tuple[str, list[tuple[str, str]]]] = []
    held: list[str] = []
    for index in range(rng.randint(3, 5)):
        governorate = governorates[index % len(governorates)]
        district = rng.choice(governorate.districts)
        consultation_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        starts_on = (date(2026, 1, 5) + timedelta(days=rng.randint(0, 320))).isoformat()
        held.append(starts_on)
        records.create(
            "consultation",
            {
                "kind": rng.choice(KINDS),
                "title": {"en": f"Consultation {index}", "ar": f"مشاورة {index}"},
                "original_language": "ar",
                "status": rng.choice(["open", "closed"]),
                "governorate": governorate.code,
                "district": district.code,
                "programme": "Inclusive governance",
                "starts_on": starts_on,
                "languages": ["ar", "ckb", "ku", "en"],
                "groups": demo.GROUPS,
            },
            record_id=consultation_id,
        )
        types = [
            "free_text",
            *rng.sample([t for t in schema.QUESTION_TYPES if t != "free_text"], 3),
        ]
        questions = []
        for position, qtype in enumerate(types):
            body: dict[str, Any] = {
                "consultation": consultation_id,
                "position": position,
                "type": qtype,
                "text": {"en": f"Question {position} ({qtype})", "ar": f"سؤال {position}"},
                "original_language": "ar",
                "required": False,
            }
            if qtype in ("single_choice", "multiple_choice", "ranking"):
                body["options"] = _options()
            question_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
            records.create("question", body, question_id)
            questions.append((question_id, qtype))
        counts = []
        for gender in schema.GENDERS:
            for band in schema.AGE_BANDS:
                if rng.random() < 0.55:
                    row: dict[str, Any] = {
                        "gender": gender,
                        "age_band": band,
                        "count": rng.choice([0, 1, 2, 3, 4, 5, 6, 7, 9, 12, 20]),
                    }
                    if rng.random() < 0.4:
                        row["group"] = rng.choice(demo.GROUPS)["id"]
                    counts.append(row)
        attendance: dict[str, Any] = {"consultation": consultation_id, "counts": counts}
        if rng.random() < 0.5:
            attendance["group_counts"] = [
                {"group": grp["id"], "count": rng.randint(0, 9)} for grp in demo.GROUPS
            ]
        records.create(
            "attendance", attendance, str(uuid.UUID(int=rng.getrandbits(128), version=4))
        )
        for _number in range(rng.randint(1, 3)):
            workspace.add_action(
                consultation_id,
                {
                    "text": rng.choice(demo.ACTIONS),
                    "original_language": "ar",
                    "priority": rng.choice(schema.PRIORITIES),
                    "status": rng.choice(schema.ACTION_STATUSES),
                    "responsible": "Local council",
                    "due_on": (TODAY + timedelta(days=rng.randint(-60, 60))).isoformat(),
                },
            )
        consultations.append((consultation_id, questions))
    rows = []
    for _number in range(rng.randint(25, 140)):
        consultation_id, questions = rng.choice(consultations)
        language = rng.choice(schema.LANGS)
        demographics: dict[str, Any] = {}
        if rng.random() < 0.9:
            demographics["gender"] = rng.choice(schema.GENDERS)
        if rng.random() < 0.9:
            demographics["age_band"] = rng.choice(schema.AGE_BANDS)
        if rng.random() < 0.3:
            demographics["group"] = rng.choice(demo.GROUPS)["id"]
        record = {
            "uuid": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "consultation": consultation_id,
            "device": device,
            "created_at": utc_stamp(
                datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=rng.randint(0, 29_000_000))
            ),
            "language": language,
            "channel": rng.choice(schema.CHANNELS),
            "consent": True,
            "idempotency_key": uuid.UUID(int=rng.getrandbits(128), version=4).hex,
            "answers": {
                qid: _answer(rng, qtype, language)
                for qid, qtype in questions
                if rng.random() < 0.85
            },
            "demographics": demographics,
        }
        schema.check_submission(record)
        rows.append(submission_row(record))
    demo._insert(rows)  # stores the submissions and fills the read model, as demo.fill does
    answers = db.session.execute(
        select(
            Contribution.submission_uuid,
            Contribution.question_id,
            Contribution.consultation_id,
            Contribution.text,
        ).order_by(Contribution.key)
    ).all()
    reviews, codings = {}, {}
    for submission, question, consultation, text in answers:
        subject = {"submission": submission, "question": question, "consultation": consultation}
        if rng.random() < 0.45:
            state = rng.choice(["approved", "approved", "has_issues", "excluded"])
            review: dict[str, Any] = {**subject, "state": state}
            if state == "excluded":
                review["reason"] = rng.choice(schema.EXCLUSION_REASONS)
            reviews[schema.contribution_record_id("review", submission, question)] = review
        if text is not None and rng.random() < 0.7:
            codings[schema.contribution_record_id("coding", submission, question)] = {
                **subject,
                "codes": rng.sample(codes, rng.randint(1, 2)),
            }
    records.save_many("review", reviews)
    records.save_many("coding", codings)
    return {
        "governorates": sorted({g.code for g in governorates}),
        "dates": sorted(held),
        "submissions": len(rows),
    }


@dataclass
class Office:
    """One filled head office: its app (no context pushed) and what the data used."""

    app: Flask
    governorates: list[str]
    dates: list[str]
    submissions: int
    states: dict[str, int] = field(default_factory=dict)


@pytest.fixture(scope="module")
def offices(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Office]]:
    """A few random head offices, built once for the module."""
    import contextlib

    root = tmp_path_factory.mktemp("published")
    with contextlib.ExitStack() as stack:
        made = []
        for seed in SEEDS:
            ho = Installation(root / f"ho{seed}", DeviceRole.HEADOFFICE, f"Office {seed}")
            with ho.session():
                info = fill(seed)
                states = {
                    state: count
                    for state, count in db.session.execute(
                        select(Contribution.state, db.func.count()).group_by(Contribution.state)
                    )
                }
            app = stack.enter_context(site(ho.folder))
            made.append(
                Office(app, info["governorates"], info["dates"], info["submissions"], states)
            )
        yield made


def test_the_offices_hold_what_the_proof_needs(offices: list[Office]) -> None:
    """Each office has excluded and approved contributions and 2-3 governorates (else the
    property below would pass on data that cannot show a leak)."""
    for office in offices:
        assert 2 <= len(office.governorates) <= 3
        assert office.states.get("excluded", 0) > 0, office.states
        assert office.states.get("approved", 0) > 0, office.states
        assert office.states.get("received", 0) > 0, office.states


# ---- the independent checker for (b) ---------------------------------------------------------

Edge = tuple[Any, Any]


def _network(table: Any) -> tuple[list[dict[str, Any]], int]:
    """The table's cells as edges of a flow network; the bound of an unknown cell."""
    inner_rows = len(table.rows) - (1 if table.total_row else 0)
    inner_cols = len(table.columns) - (1 if table.total_column else 0)
    cells = table.counts()
    grand = sum(
        c for r in cells[:inner_rows] for c in r[:inner_cols] if isinstance(c, int)
    )  # raw tables only: every cell an int
    edges: list[dict[str, Any]] = []

    def add(tail: Any, head: Any, where: tuple[int, int] | None, value: int) -> None:
        edges.append({"tail": tail, "head": head, "cell": where, "raw": value})

    for i in range(inner_rows):
        row_sum = sum(cells[i][:inner_cols])
        add("S", ("r", i), (i, inner_cols) if table.total_column else None, row_sum)
        for j in range(inner_cols):
            add(("r", i), ("c", j), (i, j), cells[i][j])
    for j in range(inner_cols):
        col_sum = sum(cells[i][j] for i in range(inner_rows))
        add(("c", j), "T", (inner_rows, j) if table.total_row else None, col_sum)
    both = table.total_row and table.total_column
    add("T", "S", (inner_rows, inner_cols) if both else None, grand)
    return edges, grand


def pinned_cells(raw: Any, published: Any) -> list[str]:
    """Suppressed cells of ``published`` that its published numbers leave one value for.

    ``raw`` is the same table unsuppressed. Also reports a published number that differs from
    the raw one (suppression must hide, never change, a count).
    """
    problems: list[str] = []
    edges, grand = _network(raw)
    shown = published.counts()
    for edge in edges:
        where = edge["cell"]
        if where is None:
            edge["known"], edge["upper"] = False, None  # not in the table: free
            continue
        value = shown[where[0]][where[1]]
        edge["known"] = isinstance(value, int)
        edge["upper"] = grand
        if edge["known"] and value != edge["raw"]:
            problems.append(f"{published.name} cell {where}: shows {value}, is {edge['raw']}")
    for e_index, edge in enumerate(edges):
        if edge["known"] or edge["cell"] is None:
            continue
        second = _second_solution(edges, e_index)
        if second is None:
            label = published.rows[edge["cell"][0]].label
            problems.append(
                f"{published.name} cell {edge['cell']} (row {label!s}):"
                f" suppressed, but the published numbers leave only {edge['raw']}"
            )
            continue
        _verify(edges, second, grand)
        assert second[e_index] != edge["raw"]
    return problems


def _arcs(edges: list[dict[str, Any]], skip: int) -> dict[Any, list[tuple[Any, int, int]]]:
    """Residual arcs over the unknown edges: (next node, edge index, +1 or -1)."""
    arcs: dict[Any, list[tuple[Any, int, int]]] = {}
    for index, edge in enumerate(edges):
        if index == skip or edge["known"]:
            continue
        upper = edge["upper"]
        if upper is None or edge["raw"] < upper:
            arcs.setdefault(edge["tail"], []).append((edge["head"], index, +1))
        if edge["raw"] > 0:
            arcs.setdefault(edge["head"], []).append((edge["tail"], index, -1))
    return arcs


def _path(
    arcs: dict[Any, list[tuple[Any, int, int]]], start: Any, goal: Any
) -> list[tuple[int, int]] | None:
    """The (edge, +1/-1) steps of a shortest residual path from ``start`` to ``goal``."""
    seen: dict[Any, tuple[Any, int, int] | None] = {start: None}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        if node == goal:
            steps = []
            came = seen[node]
            while came is not None:
                previous, index, sign = came
                steps.append((index, sign))
                came = seen[previous]
            return steps
        for nxt, index, sign in arcs.get(node, ()):
            if nxt not in seen:
                seen[nxt] = (node, index, sign)
                queue.append(nxt)
    return None


def _second_solution(edges: list[dict[str, Any]], e_index: int) -> list[int] | None:
    """Values of every edge with edge ``e_index`` one up or one down, if that is possible."""
    edge = edges[e_index]
    arcs = _arcs(edges, e_index)
    for sign in (+1, -1):
        if sign > 0 and edge["upper"] is not None and edge["raw"] >= edge["upper"]:
            continue
        if sign < 0 and edge["raw"] == 0:
            continue
        start, goal = (edge["head"], edge["tail"]) if sign > 0 else (edge["tail"], edge["head"])
        steps = _path(arcs, start, goal)
        if steps is None:
            continue
        values = [e["raw"] for e in edges]
        values[e_index] += sign
        for index, step in steps:
            values[index] += step
        return values
    return None


def _verify(edges: list[dict[str, Any]], values: Sequence[int], grand: int) -> None:
    """The second table agrees with every published number, every sum and every bound."""
    balance: dict[Any, int] = {}
    for edge, value in zip(edges, values, strict=True):
        assert value >= 0
        if edge["known"]:
            assert value == edge["raw"]
        elif edge["upper"] is not None:
            assert value <= grand
        balance[edge["tail"]] = balance.get(edge["tail"], 0) - value
        balance[edge["head"]] = balance.get(edge["head"], 0) + value
    assert all(v == 0 for v in balance.values()), balance


def test_the_checker_finds_a_pinned_cell_and_accepts_a_safe_pattern() -> None:
    """The checker itself: a lone suppressed cell in a row is pinned by the row total; the
    classic four-corner pattern is not."""
    from fieldapp.services.analysis.tables import Row, Suppressed, table

    raw = table("t", "t", ["a", "b", "c"], [Row("x", (2, 7, 9)), Row("y", (8, 3, 6))], totals=True)
    hidden = Suppressed(5)
    lone = raw.with_cells([[hidden, 7, 9, 18], [8, 3, 6, 17], [10, 10, 15, 35]], published=True)
    assert len(pinned_cells(raw, lone)) == 1
    corners = raw.with_cells(
        [[hidden, hidden, 9, 18], [hidden, hidden, 6, 17], [10, 10, 15, 35]], published=True
    )
    assert pinned_cells(raw, corners) == []
    # hiding the totals as well does not help a lone cell whose row is otherwise shown
    partial = raw.with_cells(
        [[hidden, 7, 9, hidden], [8, 3, 6, 17], [hidden, 10, 15, 35]], published=True
    )
    assert len(pinned_cells(raw, partial)) == 3  # the column total pins it, then the rest


# ---- the property ------------------------------------------------------------------------------


def _filters(draw: st.DrawFn, office: Office) -> Filters:
    subset = lambda values: tuple(draw(st.lists(st.sampled_from(values), unique=True, max_size=3)))  # noqa: E731
    dates = [None, *office.dates, "2026-06-30"]
    since = draw(st.sampled_from(dates))
    until = draw(st.sampled_from(dates))
    if since and until and since > until:
        since, until = until, since
    return Filters(
        governorates=subset(office.governorates),
        kinds=subset(list(KINDS)),
        genders=subset(list(schema.GENDERS)),
        states=subset(list(schema.REVIEW_STATES)),
        include_excluded=draw(st.booleans()),
        date_from=since,
        date_to=until,
    )


def _small(value: Any, k: int) -> bool:
    return type(value) is int and 1 <= value < k


def check_outputs(filters: Filters, k: int) -> None:
    """(a) and (b) for the dashboard, its JSON summary and its aggregate CSV."""
    from fieldapp.services.analysis import dashboard, exports

    published = dashboard.build(filters, k=k, today=TODAY)
    raw = dashboard.build(filters, k=k, exact=True, today=TODAY)
    assert published.exact is False
    tables, raw_tables = published.tables(), raw.tables()
    assert [t.name for t in tables] == [t.name for t in raw_tables]
    problems: list[str] = []
    for shown, exact in zip(tables, raw_tables, strict=True):
        assert shown.published, shown.name
        for r_index, row in enumerate(shown.rows):
            for c_index, cell in enumerate(row.cells):
                if _small(cell, k):
                    problems.append(f"{shown.name} [{r_index}][{c_index}] shows {cell} (k={k})")
        if shown.total_row or shown.total_column:
            pinned = pinned_cells(exact, shown)
            if pinned:
                problems.extend([*pinned, _dump(shown, exact)])
    for question in published.questions:
        if _small(question.respondents, k):
            problems.append(f"question {question.question_id}: {question.respondents} respondents")
    summary = dashboard.summary(published, "en")
    assert summary["min_count"] == k
    for item in summary["tables"]:
        for row in item["rows"]:
            for cell in row["cells"]:
                assert type(cell) is int or cell == f"<{k}", (item["name"], cell)
                if _small(cell, k):
                    problems.append(f"summary {item['name']} {row['label']}: {cell}")
    out = io.BytesIO()
    exports.write_tables(published, "csv", out, "en")
    problems.extend(_csv_problems(out.getvalue(), tables, k))
    assert not problems, "\n".join(problems)


def _dump(shown: Any, exact: Any) -> str:
    """A published table beside its exact counts, for a failure message."""
    lines = [f"  {shown.name}: {[str(c) for c in shown.columns]}"]
    for row, raw in zip(shown.rows, exact.rows, strict=True):
        lines.append(
            f"    {str(row.label)[:20]:20} {[str(c) for c in row.cells]} {list(raw.cells)}"
        )
    return "\n".join(lines)


def _csv_problems(data: bytes, tables: list[Any], k: int) -> list[str]:
    """The aggregate CSV, block by block (title, header, one line per row, a blank line):
    every count cell is the published cell, so none is in 1..k-1."""
    lines = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    problems = []
    at = 0
    for number, shown in enumerate(tables):
        if number:
            assert lines[at] == [], lines[at]
            at += 1
        at += 2  # the title, the header
        for row in shown.rows:
            line = lines[at]
            at += 1
            cells = line[1 : 1 + len(shown.columns)]
            expected = [str(c) for c in row.cells]
            if cells != expected:
                problems.append(f"aggregate CSV {shown.name}: {cells} for {expected}")
            for cell in cells:
                if cell.isdigit() and 1 <= int(cell) < k:
                    problems.append(f"aggregate CSV {shown.name} {line[0]!r}: {cell} (k={k})")
    assert at == len(lines), lines[at:]
    return problems


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_no_published_count_is_small_or_can_be_worked_out(offices: list[Office], data: Any) -> None:
    """(a) and (b) for random offices, random filter sets and a random k in 3..6."""
    office = offices[data.draw(st.integers(0, len(offices) - 1), label="office")]
    filters = _filters(data.draw, office)
    k = data.draw(st.integers(3, 6), label="k")
    data.draw(st.just(filters), label="filters")
    with office.app.app_context():
        setattr(g, SERVICE_CONTEXT, True)
        try:
            check_outputs(filters, k)
        finally:
            db.session.remove()


def test_the_unfiltered_dashboard_suppresses_something(offices: list[Office]) -> None:
    """The data is small enough that suppression has work to do (else (a) proves nothing)."""
    from fieldapp.services.analysis import dashboard
    from fieldapp.services.analysis.tables import Suppressed

    hidden = 0
    for office in offices:
        with office.app.app_context():
            setattr(g, SERVICE_CONTEXT, True)
            built = dashboard.build(
                Filters(governorates=(office.governorates[0],)), k=5, today=TODAY
            )
            hidden += sum(
                isinstance(c, Suppressed) for t in built.tables() for r in t.rows for c in r.cells
            )
            db.session.remove()
    assert hidden > 0
