"""The query layer of the Contributions page: filters, keyset pages, counts, neighbours.

One field laptop is filled through the real services (consultations and questions through the
workspace, participants' input through ``records.add_submission``, reviews, codings and codes
as records), so the read model is what the app itself keeps. Every query is checked against a
plain Python filter over all rows; a Hypothesis property tries random filters and page sizes.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from werkzeug.datastructures import MultiDict

from fieldapp.models import DeviceRole
from fieldapp.services import contribution_query as cq
from fieldapp.services import records, workspace
from fieldapp.services.sync import schema
from fieldapp.textnorm import loose_key

from .sync_world import Installation, opened

# Typed answers that must find each other: Arabic/Persian yeh, teh marbuta/Sorani ae, Ş/S.
TEXTS = [
    "علي يريد مدرسة في الحي",
    "علی دەیەوێت قوتابخانە",
    "فاطمة تطلب عيادة",
    "فاطمە داوای نەخۆشخانە دەکات",
    "Şêxan needs a road",
    "Sexan road is closed",
    "We need 100% clean_water",
    "نريد مدرسة ومستشفى",
    "نريد مدرسة ومستشفى!!",  # a near duplicate of the one before
    "ok",
]


def _consultation(
    kind: str, governorate: str, district: str | None, programme: str, day: str
) -> str:
    body: dict[str, Any] = {
        "kind": kind,
        "title": {"ar": f"اجتماع {day}", "en": f"Meeting {day}"},
        "original_language": "ar",
        "status": "open",
        "governorate": governorate,
        "programme": programme,
        "starts_on": day,
        "languages": ["ar", "ckb", "ku", "en"],
        "groups": [
            {"id": "idp", "label": {"en": "IDPs"}},
            {"id": "leader", "label": {"en": "Leaders"}},
        ],
    }
    if district:
        body["district"] = district
    return workspace.save_consultation(body)


def _fill() -> dict[str, Any]:
    """Three consultations, two questions each, 40 submissions, reviews, codings and codes."""
    rng = random.Random(7)  # noqa: S311 -- reproducible test data
    consultations = [
        _consultation("town_hall", "IQ-NI", None, "Inclusive governance", "2026-03-12"),
        _consultation("lpc_meeting", "IQ-AR", None, "Inclusive governance", "2026-04-02"),
        _consultation("focus_group", "IQ-AR", None, "Youth", "2026-05-20"),
    ]
    questions: dict[str, list[str]] = {}
    for consultation in consultations:
        questions[consultation] = [
            workspace.add_question(
                consultation,
                {"type": "free_text", "text": {"ar": "ماذا تقترح؟"}, "original_language": "ar"},
            ),
            workspace.add_question(
                consultation,
                {
                    "type": "rating",
                    "text": {"ar": "كيف تقيّم؟", "en": "How do you rate it?"},
                    "original_language": "ar",
                },
            ),
        ]
    submissions = []
    for number in range(40):
        consultation = consultations[number % 3]
        free, rating = questions[consultation]
        demographics = {
            "gender": rng.choice(schema.GENDERS),
            "age_band": rng.choice(schema.AGE_BANDS),
        }
        if number % 4:
            demographics["group"] = rng.choice(["idp", "leader"])
        submission = records.add_submission(
            consultation,
            {free: TEXTS[number % len(TEXTS)], rating: rng.randint(1, 5)},
            rng.choice(schema.LANGS),
            rng.choice(schema.CHANNELS),
            uuid.UUID(int=rng.getrandbits(128)).hex,
            demographics,
        )
        submissions.append((submission, consultation, free, rating))
    codes = []
    for name, colour in (("Services", "#aa3300"), ("Security", "#0033aa")):
        code_id, _rev = records.create(
            "code",
            {"name": {"en": name}, "original_language": "en", "colour": colour, "status": "active"},
        )
        codes.append(code_id)
    for index, (submission, consultation, free, _rating) in enumerate(submissions):
        subject = {"submission": submission, "question": free, "consultation": consultation}
        if index % 5 == 0:
            body = {**subject, "state": "approved"}
        elif index % 5 == 1:
            body = {**subject, "state": "excluded", "reason": "test_entry"}
        elif index % 5 == 2:
            body = {**subject, "state": "has_issues"}
        else:
            body = None
        if body:
            records.create(
                "review", body, schema.contribution_record_id("review", submission, free)
            )
        if index % 3 == 0:
            chosen = codes[: 1 + index % 2] if index % 6 else [codes[1]]
            records.create(
                "coding",
                {**subject, "codes": chosen},
                schema.contribution_record_id("coding", submission, free),
            )
    return {"consultations": consultations, "questions": questions, "codes": codes}


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> dict[str, Any]:
    """A field laptop holding the test data (built once for the module)."""
    root = tmp_path_factory.mktemp("contributions")
    ho = Installation(root / "ho", DeviceRole.HEADOFFICE, "Head office")
    laptop = Installation(root / "laptop", DeviceRole.FIELD, "Laptop", (ho,))
    with laptop.session():
        made = _fill()
    return {"folder": laptop.folder, **made}


@pytest.fixture
def held(world) -> Iterator[dict[str, Any]]:
    """The laptop opened for service calls."""
    with opened(world["folder"]):
        yield world


def _everything() -> list[cq.Row]:
    keys = cq.matching_keys(cq.Filters(include_excluded=True))
    rows = [cq.get(k) for k in keys]
    assert all(rows)
    return rows  # type: ignore[return-value]


def _oracle(rows: list[cq.Row], f: cq.Filters) -> list[str]:
    """The keys ``f`` should give, decided in Python, newest first."""
    consultation_of = {q.id: q.consultation for q in cq.choices().questions}

    def wanted(row: cq.Row) -> bool:
        plain = {
            "programmes": row.programme,
            "governorates": row.governorate,
            "districts": row.district,
            "kinds": row.consultation_kind,
            "consultations": row.consultation_id,
            "questions": row.question_id,
            "languages": row.language,
            "channels": row.channel,
            "genders": row.gender,
            "age_bands": row.age_band,
            "groups": row.group,
            "states": row.state,
        }
        for name, value in plain.items():
            allowed = getattr(f, name)
            if allowed and value not in allowed:
                return False
        if row.state == "excluded" and not (f.include_excluded or "excluded" in f.states):
            return False
        if f.codes:
            ids = set(f.codes) - {"none"}
            if not (("none" in f.codes and not row.codes) or ids & set(row.codes)):
                return False
        if f.date_from and row.day < f.date_from:
            return False
        if f.date_to and row.day > f.date_to:
            return False
        haystack = loose_key(row.text or "")
        if row.text is None and f.text.strip():
            return False
        assert row.question_id in consultation_of
        return all(word in haystack for word in loose_key(f.text).split())

    return sorted((r.key for r in rows if wanted(r)), reverse=True)


def _walk_forward(f: cq.Filters, limit: int) -> list[str]:
    seen: list[str] = []
    after = None
    pages = 0
    while True:
        result = cq.page(f, after=after, limit=limit)
        seen += [r.key for r in result.rows]
        pages += 1
        assert pages < 500
        if pages > 1:
            assert result.prev_before == (result.rows[0].key if result.rows else None)
        if result.next_after is None:
            return seen
        assert len(result.rows) == limit
        after = result.next_after


def _walk_back(f: cq.Filters, limit: int, start: str) -> list[str]:
    """From just after the oldest key ``start`` back to the first page, newest first."""
    seen: list[str] = []
    before: str | None = start
    while before is not None:
        result = cq.page(f, before=before, limit=limit)
        seen = [r.key for r in result.rows] + seen
        if result.prev_before is not None:  # a cursor promises a full page of newer rows
            assert len(result.rows) == limit
            assert result.prev_before == result.rows[0].key
        if result.rows:  # walking back from ``start``, an older row always exists
            assert result.next_after == result.rows[-1].key
        before = result.prev_before
    return seen


def test_every_answer_is_a_row_with_its_columns(held):
    """40 submissions of two answers each give 80 rows; a row carries the answer decoded."""
    rows = _everything()
    assert len(rows) == 80
    typed = [r for r in rows if r.text is not None]
    rated = [r for r in rows if r.text is None]
    assert len(typed) == 40
    assert {type(r.value) for r in rated} == {int}
    assert all(r.value is None for r in typed)
    assert {r.governorate for r in rows} == {"IQ-NI", "IQ-AR"}
    assert {r.programme for r in rows} == {"Inclusive governance", "Youth"}
    coded = [r for r in rows if r.codes]
    assert coded
    assert all(isinstance(r.codes, tuple) for r in coded)
    assert cq.by_answer(rows[0].submission_uuid, rows[0].question_id) == rows[0]
    assert cq.get("no such key") is None
    assert cq.by_answer(rows[0].submission_uuid, str(uuid.uuid4())) is None


def test_each_filter_narrows_and_they_combine(held):
    """Every filter alone, then several at once, give exactly the rows they describe."""
    rows = _everything()
    first = held["consultations"][0]
    code = held["codes"][0]
    singles = [
        cq.Filters(programmes=("Youth",)),
        cq.Filters(governorates=("IQ-AR",)),
        cq.Filters(kinds=("town_hall", "focus_group")),
        cq.Filters(consultations=(first,)),
        cq.Filters(questions=(held["questions"][first][0],)),
        cq.Filters(languages=("ckb",)),
        cq.Filters(channels=("paper", "spoken")),
        cq.Filters(genders=("woman",)),
        cq.Filters(age_bands=("18_29", "60_plus")),
        cq.Filters(groups=("idp",)),
        cq.Filters(states=("approved",)),
        cq.Filters(states=("excluded",)),
        cq.Filters(codes=(code,)),
        cq.Filters(codes=("none",)),
        cq.Filters(codes=("none", code)),
        cq.Filters(date_from="2026-04-01"),
        cq.Filters(date_to="2026-04-02"),
        cq.Filters(date_from="2026-04-02", date_to="2026-04-02"),
        cq.Filters(text="مدرسة"),
        cq.Filters(text="road"),
        cq.Filters(include_excluded=True),
    ]
    everything = _oracle(rows, cq.Filters())
    for f in singles:
        expected = _oracle(rows, f)
        assert cq.matching_keys(f) == expected, f
        assert cq.count(f) == (len(expected), False), f
        if f != cq.Filters(include_excluded=True) and f.states != ("excluded",):
            assert 0 < len(expected) < len(everything), f
    combined = cq.Filters(
        governorates=("IQ-AR",),
        states=("approved", "has_issues", "received"),
        codes=(code, "none"),
        text="road",
    )
    expected = _oracle(rows, combined)
    assert expected
    assert cq.matching_keys(combined) == expected
    assert set(expected) < set(_oracle(rows, cq.Filters(governorates=("IQ-AR",))))
    nothing = cq.Filters(governorates=("IQ-NI",), programmes=("Youth",))
    assert cq.matching_keys(nothing) == []
    assert cq.page(nothing) == cq.Page([], None, None)


def test_excluded_contributions_are_hidden_by_default(held):
    """Excluded rows come back only with the switch or when the state filter asks for them."""
    rows = _everything()
    excluded = {r.key for r in rows if r.state == "excluded"}
    assert excluded
    assert not excluded & set(cq.matching_keys(cq.Filters()))
    assert excluded <= set(cq.matching_keys(cq.Filters(include_excluded=True)))
    assert set(cq.matching_keys(cq.Filters(states=("excluded",)))) == excluded
    assert {r.reason for r in rows if r.state == "excluded"} == {"test_entry"}


@pytest.mark.parametrize(
    ("query", "needle"),
    [
        ("علي", "علی"),
        ("علی", "علي"),
        ("فاطمة", "فاطمە"),
        ("فاطمە", "فاطمة"),
        ("Şêxan", "Sexan"),
        ("sexan", "Şêxan"),
    ],
)
def test_search_matches_across_spellings(held, query, needle):
    """A search finds the other spelling of the same name, as the workspace does."""
    texts = {
        cq.get(k).text for k in cq.matching_keys(cq.Filters(text=query, include_excluded=True))
    }
    assert any(needle in t for t in texts)
    assert any(loose_key(query) in loose_key(t) for t in texts)
    assert all(loose_key(query) in loose_key(t) for t in texts)


def test_search_words_all_count_and_like_marks_are_plain(held):
    """Every word must occur; % and _ are letters, not wildcards."""
    everything = cq.Filters(include_excluded=True)
    both = {
        cq.get(k).text
        for k in cq.matching_keys(cq.Filters(text="road closed", include_excluded=True))
    }
    assert both == {"Sexan road is closed"}
    percent = {
        cq.get(k).text for k in cq.matching_keys(cq.Filters(text="100%", include_excluded=True))
    }
    assert percent == {"We need 100% clean_water"}
    assert cq.matching_keys(cq.Filters(text="%", include_excluded=True)) == cq.matching_keys(
        cq.Filters(text="100%", include_excluded=True)
    )
    assert cq.matching_keys(cq.Filters(text="n_ed", include_excluded=True)) == []
    assert len(cq.matching_keys(everything)) == 80


def test_paging_visits_every_row_once_forwards_and_back(held):
    """Pages of 7 walk the list without gaps or repeats, both ways."""
    rows = _everything()
    for f in (
        cq.Filters(),
        cq.Filters(governorates=("IQ-AR",), text="مدرسة"),
        cq.Filters(include_excluded=True),
    ):
        expected = _oracle(rows, f)
        forward = _walk_forward(f, 7)
        assert forward == expected
        if expected:
            oldest = expected[-1]
            back = _walk_back(f, 7, oldest)
            assert back == expected[:-1]
    first = cq.page(cq.Filters(), limit=5)
    assert first.prev_before is None
    assert first.next_after == first.rows[-1].key
    assert len(first.rows) == 5


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_random_filters_page_like_the_oracle(held, data):
    """Random filters and page sizes: pages forward and back equal the Python filter."""
    choices = cq.choices()
    pick = lambda values: st.lists(st.sampled_from(values), max_size=2, unique=True).map(tuple)  # noqa: E731
    f = cq.Filters(
        programmes=data.draw(pick(choices.programmes)),
        governorates=data.draw(pick(choices.governorates)),
        kinds=data.draw(pick(list(schema.CONSULTATION_KINDS))),
        consultations=data.draw(pick([c.id for c in choices.consultations])),
        questions=data.draw(pick([q.id for q in choices.questions])),
        languages=data.draw(pick(list(schema.LANGS))),
        channels=data.draw(pick(list(schema.CHANNELS))),
        genders=data.draw(pick(list(schema.GENDERS))),
        age_bands=data.draw(pick(list(schema.AGE_BANDS))),
        groups=data.draw(pick(["idp", "leader"])),
        states=data.draw(pick(list(schema.REVIEW_STATES))),
        codes=data.draw(pick([*held["codes"], "none"])),
        date_from=data.draw(st.sampled_from([None, "2026-03-12", "2026-04-02"])),
        date_to=data.draw(st.sampled_from([None, "2026-04-02", "2026-06-01"])),
        text=data.draw(st.sampled_from(["", "مدرسة", "road", "علي", "need"])),
        include_excluded=data.draw(st.booleans()),
    )
    if f.date_from and f.date_to and f.date_from > f.date_to:
        f = cq.Filters(**{**f.__dict__, "date_to": None})
    limit = data.draw(st.integers(1, 9))
    expected = _oracle(_everything(), f)
    assert _walk_forward(f, limit) == expected
    if expected:
        assert _walk_back(f, limit, expected[-1]) == expected[:-1]
        middle = expected[len(expected) // 2]
        position = expected.index(middle)
        newer = expected[position - 1] if position else None
        older = expected[position + 1] if position + 1 < len(expected) else None
        assert cq.neighbours(f, middle) == (newer, older)
    assert cq.count(f) == (len(expected), False)
    assert cq.count(f, cap=2) == ((2, True) if len(expected) > 2 else (len(expected), False))
    args = MultiDict(cq.filter_args(f))
    assert cq.parse_filters(args) == (f, [])


def test_neighbours_follow_the_filter(held):
    """Previous is the newer row, next the older one, both inside the filter; None at the ends."""
    f = cq.Filters(languages=("ar", "ckb"))
    keys = cq.matching_keys(f)
    assert len(keys) >= 3
    assert cq.neighbours(f, keys[0]) == (None, keys[1])
    assert cq.neighbours(f, keys[1]) == (keys[0], keys[2])
    assert cq.neighbours(f, keys[-1]) == (keys[-2], None)
    # A row outside the filter (say, just excluded) still has neighbours inside it.
    outside = next(k for k in cq.matching_keys(cq.Filters(include_excluded=True)) if k not in keys)
    newer, older = cq.neighbours(f, outside)
    assert newer is None or newer > outside
    assert older is None or older < outside
    assert cq.matching_keys(f, limit=2) == keys[:2]


def test_possible_duplicates_are_counted_within_the_consultation(held):
    """Near-equal typed answers in one consultation flag each other; short ones never."""
    rows = _everything()
    for row in rows:
        if row.text is None or row.text == "ok":
            assert row.possible_duplicates == 0
            assert cq.duplicates_of(row) == []
            continue
        others = [
            r
            for r in rows
            if r.key != row.key
            and r.consultation_id == row.consultation_id
            and r.text is not None
            and loose_key(r.text).strip("!") == loose_key(row.text).strip("!")
        ]
        found = cq.duplicates_of(row)
        assert {r.key for r in found} == {r.key for r in others}, row.text
        assert row.possible_duplicates == len([r for r in found if r.state != "excluded"])
    near = [r for r in rows if r.text and r.text.startswith("نريد")]
    assert any(r.possible_duplicates and r.text.endswith("!!") for r in near)
    mixed = {r.text for r in cq.duplicates_of(next(r for r in near if r.text.endswith("!!")))}
    assert "نريد مدرسة ومستشفى" in mixed


def test_count_stops_at_the_cap(held):
    """count() says "more than" once the cap is passed, and exact numbers below it."""
    total = len(cq.matching_keys(cq.Filters()))
    assert cq.count(cq.Filters()) == (total, False)
    assert cq.count(cq.Filters(), cap=10) == (10, True)
    assert cq.count(cq.Filters(), cap=total) == (total, False)
    assert cq.count(cq.Filters(), cap=total - 1) == (total - 1, True)


def test_unknown_filter_values_are_problems_and_left_out(held):
    """Values not held here are named in a problem each, and the rest of the filter stays."""
    first = held["consultations"][0]
    missing = str(uuid.uuid4())
    args = MultiDict(
        [
            ("consultation", first),
            ("consultation", missing),
            ("question", missing),
            ("code", missing),
            ("code", "none"),
            ("kind", "picnic"),
            ("state", "deleted"),
            ("language", "fr"),
            ("channel", "pigeon"),
            ("gender", "x"),
            ("age", "200"),
            ("governorate", "IQ-XX"),
            ("governorate", "IQ-AR"),
            ("from", "2026-02-30"),
            ("to", "tomorrow"),
            ("q", "  road  "),
        ]
    )
    f, problems = cq.parse_filters(args)
    assert f == cq.Filters(
        governorates=("IQ-AR",), consultations=(first,), codes=("none",), text="road"
    )
    named = {(p.param, p.value) for p in problems}
    assert named == {
        ("consultation", missing),
        ("question", missing),
        ("code", missing),
        ("kind", "picnic"),
        ("state", "deleted"),
        ("language", "fr"),
        ("channel", "pigeon"),
        ("gender", "x"),
        ("age", "200"),
        ("governorate", "IQ-XX"),
        ("from", "2026-02-30"),
        ("to", "tomorrow"),
    }
    message = next(p.message for p in problems if p.param == "consultation")
    assert str(message) == f"There is no consultation {missing} here; that filter was left out."
    backwards, problems = cq.parse_filters({"from": ["2026-05-01"], "to": ["2026-04-01"]})
    assert backwards == cq.Filters()
    assert [(p.param, p.value) for p in problems] == [("to", "2026-04-01")]
    assert cq.parse_filters({}) == (cq.Filters(), [])
    assert cq.parse_filters({"excluded": ["1"], "q": "علي"}) == (
        cq.Filters(include_excluded=True, text="علي"),
        [],
    )


def test_filter_args_round_trip(held):
    """filter_args writes every field; parsing them back gives the same filters."""
    choices = cq.choices()
    f = cq.Filters(
        programmes=("Youth", "Inclusive governance"),
        governorates=("IQ-AR",),
        kinds=("focus_group",),
        consultations=tuple(c.id for c in choices.consultations[:2]),
        questions=(choices.questions[0].id,),
        languages=("ckb", "ar"),
        channels=("paper",),
        genders=("woman",),
        age_bands=("18_29",),
        groups=("idp",),
        states=("excluded", "approved"),
        codes=(held["codes"][1], "none"),
        date_from="2026-01-01",
        date_to="2026-12-31",
        text="فاطمە road",
        include_excluded=True,
    )
    args = cq.filter_args(f)
    assert args[0] == ("programme", "Youth")
    assert ("excluded", "1") in args
    assert ("q", "فاطمە road") in args
    assert cq.parse_filters(MultiDict(args)) == (f, [])
    assert cq.filter_args(cq.Filters()) == []


def test_choices_offer_what_is_held(held):
    """The form offers the consultations, questions, codes and places held here."""
    choices = cq.choices()
    assert {c.id for c in choices.consultations} == set(held["consultations"])
    assert len(choices.questions) == 6
    assert {q.type for q in choices.questions} == {"free_text", "rating"}
    assert {c.id for c in choices.codes} == set(held["codes"])
    assert {c.colour for c in choices.codes} == {"#aa3300", "#0033aa"}
    assert choices.programmes == ["Inclusive governance", "Youth"]
    assert choices.governorates == ["IQ-AR", "IQ-NI"]
    assert [g.id for g in choices.groups] == ["idp", "leader"]
    assert choices.consultations[0].held_on == "2026-05-20"  # newest first


def test_a_review_changes_what_the_filter_shows(tmp_path):
    """Excluding a row through a review record takes it out of the default list at once."""
    ho = Installation(tmp_path / "ho", DeviceRole.HEADOFFICE, "Head office")
    laptop = Installation(tmp_path / "laptop", DeviceRole.FIELD, "Laptop", (ho,))
    with laptop.session():
        consultation = _consultation("town_hall", "IQ-NI", None, "P", "2026-01-05")
        question = workspace.add_question(
            consultation,
            {"type": "free_text", "text": {"ar": "ماذا تقترح؟"}, "original_language": "ar"},
        )
        submission = records.add_submission(consultation, {question: "طريق"}, "ar", "kiosk", "k1")
        row = cq.by_answer(submission, question)
        assert cq.matching_keys(cq.Filters()) == [row.key]
        records.create(
            "review",
            {
                "submission": submission,
                "question": question,
                "consultation": consultation,
                "state": "excluded",
                "reason": "duplicate",
            },
            schema.contribution_record_id("review", submission, question),
        )
        assert cq.matching_keys(cq.Filters()) == []
        assert cq.count(cq.Filters(states=("excluded",))) == (1, False)
        assert cq.by_answer(submission, question).reason == "duplicate"


# ---------------------------------------------------------------------------------------------
# The same on PostgreSQL


def _postgres_reason() -> str | None:
    from .test_postgres import _reason

    return _reason


@pytest.mark.postgres
def test_the_same_queries_on_postgresql(tmp_path):
    """Filters, search, paging both ways, neighbours, duplicates and count on PostgreSQL."""
    reason = _postgres_reason()
    if reason:
        pytest.skip(reason)
    import secrets

    from .test_postgres import PG_SERVER, _execute

    schema_name = "fieldapp_" + secrets.token_hex(6)
    _execute(f"CREATE SCHEMA {schema_name}")
    try:
        url = f"{PG_SERVER}/test?options=-csearch_path%3D{schema_name}"
        ho = Installation(tmp_path / "ho", DeviceRole.HEADOFFICE, "Head office")
        laptop = Installation(
            tmp_path / "laptop", DeviceRole.FIELD, "Laptop", (ho,), SQLALCHEMY_DATABASE_URI=url
        )
        with laptop.session():
            from fieldapp.extensions import db

            assert db.engine.dialect.name == "postgresql"
            made = _fill()
            rows = _everything()
            assert len(rows) == 80
            for f in (
                cq.Filters(),
                cq.Filters(governorates=("IQ-AR",), codes=(made["codes"][0], "none"), text="road"),
                cq.Filters(text="علی"),
                cq.Filters(text="100%", include_excluded=True),
                cq.Filters(states=("excluded",), date_from="2026-04-01"),
                cq.Filters(questions=(made["questions"][made["consultations"][0]][0],)),
            ):
                expected = _oracle(rows, f)
                assert _walk_forward(f, 4) == expected, f
                if expected:
                    assert _walk_back(f, 4, expected[-1]) == expected[:-1]
                assert cq.count(f) == (len(expected), False)
            keys = cq.matching_keys(cq.Filters())
            assert cq.neighbours(cq.Filters(), keys[1]) == (keys[0], keys[2])
            assert cq.count(cq.Filters(), cap=3) == (3, True)
            near = next(r for r in rows if r.text == "نريد مدرسة ومستشفى!!")
            assert near.possible_duplicates >= 1
            assert {r.text for r in cq.duplicates_of(near)} >= {"نريد مدرسة ومستشفى"}
            assert any(
                "علي" in (r.text or "")
                for r in (cq.get(k) for k in cq.matching_keys(cq.Filters(text="علی")))
            )
    finally:
        _execute(f"DROP SCHEMA {schema_name} CASCADE")
