"""The dashboard service: attendance, participation, questions, codes, quotes, suppression."""

from __future__ import annotations

import json
import shutil

import pytest
from flask_babel import force_locale

from fieldapp.models import DeviceRole, RecordHead, Role
from fieldapp.services import contribution_query as query
from fieldapp.services import contributions, demo, places, records, review
from fieldapp.services.analysis import dashboard
from fieldapp.services.analysis.tables import Suppressed
from fieldapp.services.sync import schema

from .conftest import add_user, translated
from .sync_world import Installation, site

FAST = "scrypt:1024:8:1"
K = 5
# The known consultation's attendance: 30 people, 15 of them women, 3 under 18.
ATTENDANCE = [
    {"gender": "woman", "age_band": "18_29", "count": 12},
    {"gender": "woman", "age_band": "under_18", "count": 3},
    {"gender": "man", "age_band": "30_44", "count": 7},
    {"gender": "man", "age_band": "18_29", "count": 8},
]
TEXTS = [
    "The road to the village is still closed.",
    "Please repair the village road before winter.",
    "The road floods every spring.",
    "We cannot drive to the market on this road.",
    "The road is dangerous for children.",
    "The bridge on the road is broken.",
    "There is no clean water in our street.",
    "The water is cut for days.",
    "Water tankers are too expensive.",
    "We need a new water pipe.",
    "The well is dry since summer.",
    "Water comes only at night.",
]


def _option(key, en, ar):
    return {"id": key, "label": {"en": en, "ar": ar}}


def _known_consultation(governorate):
    """One consultation with known attendance, answers, reviews and codes (12 submissions)."""
    consultation, _ = records.create(
        "consultation",
        {
            "kind": "town_hall",
            "title": {"en": "Known town hall", "ar": "اجتماع معروف"},
            "original_language": "en",
            "status": "closed",
            "governorate": governorate,
            "starts_on": "2026-06-15",
            "groups": [{"id": "idp", "label": {"en": "IDPs", "ar": "نازحون"}}],
        },
    )
    questions = {}
    for position, (name, qtype, options) in enumerate(
        [
            (
                "mc",
                "multiple_choice",
                [
                    _option("water", "Water", "الماء"),
                    _option("roads", "Roads", "الطرق"),
                    _option("jobs", "Jobs", "العمل"),
                ],
            ),
            (
                "rank",
                "ranking",
                [
                    _option("school", "School", "مدرسة"),
                    _option("clinic", "Clinic", "عيادة"),
                    _option("road", "Road", "طريق"),
                ],
            ),
            ("rate", "rating", None),
            ("text", "free_text", None),
        ]
    ):
        body = {
            "consultation": consultation,
            "position": position,
            "type": qtype,
            "text": {"en": f"Known question {name}", "ar": f"سؤال معروف {name}"},
            "original_language": "en",
        }
        if options:
            body["options"] = options
        questions[name] = records.create("question", body)[0]
    records.create(
        "attendance",
        {
            "consultation": consultation,
            "counts": ATTENDANCE,
            "group_counts": [{"group": "idp", "count": 6}],
        },
    )
    submissions = []
    for i in range(12):
        answers = {
            questions["mc"]: ["water", "roads"] if i < 8 else ["jobs"],
            questions["rank"]: (
                ["school", "clinic", "road"]
                if i < 6
                else ["clinic", "school", "road"]
                if i < 10
                else ["road", "school", "clinic"]
            ),
            questions["rate"]: 5 if i < 6 else 4,
            questions["text"]: TEXTS[i],
        }
        demographics = {
            "gender": "woman" if i < 7 else "man",
            "age_band": "18_29" if i < 7 else "30_44",
        }
        submissions.append(
            records.add_submission(consultation, answers, "en", "paper", f"known-{i}", demographics)
        )
    roads, _ = records.create(
        "code",
        {
            "name": {"en": "Roads", "ar": "الطرق"},
            "original_language": "en",
            "colour": "#d55e00",
            "status": "active",
        },
    )
    village, _ = records.create(
        "code",
        {
            "name": {"en": "Village road", "ar": "طريق القرية"},
            "original_language": "en",
            "colour": "#e69f00",
            "status": "active",
            "parent": roads,
        },
    )
    water, _ = records.create(
        "code",
        {
            "name": {"en": "Water", "ar": "الماء"},
            "original_language": "en",
            "colour": "#0072b2",
            "status": "active",
        },
    )

    def subject(i, name):
        return review.Subject(submissions[i], questions[name], consultation)

    for i in range(12):
        review.apply_codes(subject(i, "text"), [roads, village] if i < 6 else [water])
    for i in (0, 1, 6, 7):
        review.set_state(subject(i, "text"), "approved")
    review.set_state(subject(11, "mc"), "excluded", "other")
    return {
        "consultation": consultation,
        "governorate": governorate,
        "questions": questions,
        "codes": {"roads": roads, "village": village, "water": water},
        "submissions": submissions,
    }


@pytest.fixture(scope="module")
def office_folder(tmp_path_factory):
    """A head office with demo data (3 consultations, 90 submissions) and one known consultation."""
    root = tmp_path_factory.mktemp("dashboard")
    ho = Installation(root / "ho", DeviceRole.HEADOFFICE, "Erbil head office")
    with ho.session() as app:
        demo.fill(consultations=3, submissions=90, seed=7)
        contributions.rebuild()
        used = {body.get("governorate") for _id, body in query._consultation_bodies()}
        free = next(g.code for g in places.governorates() if g.code not in used)
        with records.acting_as(records.Actor(None, "layla", "Layla")):
            known = _known_consultation(free)
        add_user(app, "layla", Role.ANALYST, display_name="Layla")
    return ho, known


@pytest.fixture
def office(office_folder, tmp_path):
    """A fresh copy of the head office for one test, and what the known consultation holds."""
    ho, known = office_folder
    folder = tmp_path / "ho"
    shutil.copytree(ho.folder, folder)
    with (
        site(folder, WTF_CSRF_ENABLED=False, PASSWORD_HASH_METHOD=FAST) as app,
        app.app_context(),
    ):
        yield app, known


def build(filters=None, **options):
    options.setdefault("k", K)
    return dashboard.build(filters or query.Filters(), **options)


def cells(table):
    """A table's cells by row key, then column label (English)."""
    return {
        row.key: dict(zip((str(c) for c in table.columns), row.cells, strict=True))
        for row in table.rows
    }


def question(d, known, name):
    [result] = [q for q in d.questions if q.question_id == known["questions"][name]]
    return result


def known_filter(known, **more):
    return query.Filters(governorates=(known["governorate"],), **more)


def every_count(d):
    return [c for t in d.tables() for row in t.rows for c in row.cells]


# ---- attendance ---------------------------------------------------------------------------------


def test_attendance_totals_equal_the_attendance_records(office):
    """Every attendance record's counts add up, cell by cell, to the exact attendance table."""
    _app, _known = office
    expected: dict[tuple[str, str], int] = {}
    for head in RecordHead.query.filter_by(kind="attendance", deleted=False):
        for item in json.loads(head.body)["counts"]:
            pair = (item["gender"], item["age_band"])
            expected[pair] = expected.get(pair, 0) + item["count"]
    d = build(exact=True)
    labels = {str(dashboard._labels("ages")[a]): a for a in schema.AGE_BANDS}
    for row in d.attendance.rows[:-1]:
        for column, cell in zip(d.attendance.columns[:-1], row.cells, strict=False):
            assert cell == expected.get((row.key, labels[str(column)]), 0)
    assert d.attendance.rows[-1].cells[-1] == sum(expected.values())
    assert d.consultations == 4


def test_one_governorate_counts_only_that_governorate(office):
    """Filtering on the known consultation's governorate leaves its 30 people and 12 forms."""
    _app, known = office
    everything = build(exact=True)
    d = build(known_filter(known), exact=True)
    assert d.consultations == 1
    assert d.attendance.rows[-1].cells[-1] == 30 < everything.attendance.rows[-1].cells[-1]
    grid = cells(d.attendance)
    assert grid["woman"]["18-29"] == 12
    assert grid["woman"]["Under 18"] == 3
    assert grid["man"]["30-44"] == 7
    assert d.participation.rows[-1].cells == (30, 12)
    assert [r.key for r in d.participation.rows] == ["2026-06", "__total__"]
    assert {q.question_id for q in d.questions} == {
        known["questions"][n] for n in ("mc", "rank", "rate")
    }
    assert cells(d.attendance_groups)["idp"]["People who came"] == 6
    assert d.shares["women"] == pytest.approx(15 / 30)
    assert d.shares["young"] == pytest.approx(23 / 30)


def test_a_share_never_uses_a_withheld_count(office):
    """Published, the 3 people under 18 are withheld, so the young people's share is too."""
    _app, known = office
    d = build(known_filter(known))
    under_18 = cells(d.attendance)["__total__"]["Under 18"]
    assert isinstance(under_18, Suppressed)
    assert d.shares["young"] is None


# ---- questions ----------------------------------------------------------------------------------


def test_excluded_answers_are_left_out_unless_asked(office):
    """One excluded multiple-choice answer: 11 respondents, 3 for jobs; with excluded, 12 and 4."""
    _app, known = office
    mc = question(build(known_filter(known), exact=True), known, "mc")
    assert mc.respondents == 11
    assert cells(mc.table)["jobs"]["People who chose it"] == 3
    mc = question(build(known_filter(known, include_excluded=True), exact=True), known, "mc")
    assert mc.respondents == 12
    assert cells(mc.table)["jobs"]["People who chose it"] == 4


def test_multiple_choice_counts_people_per_option_without_a_total_row(office):
    _app, known = office
    mc = question(build(known_filter(known), exact=True), known, "mc")
    grid = cells(mc.table)
    assert [grid[o]["People who chose it"] for o in ("water", "roads", "jobs")] == [8, 8, 3]
    assert not mc.table.total_row  # people choose several options: rows do not add up
    by_gender = question(build(known_filter(known), exact=True, breakdown="gender"), known, "mc")
    assert cells(by_gender.table)["water"] == {
        "Woman": 7,
        "Man": 1,
        "Prefer not to say": 0,
        "Total": 8,
    }


def test_a_ratings_mean_and_distribution(office):
    """Six fives and six fours: mean 4.5, in its own field."""
    _app, known = office
    rate = question(build(known_filter(known)), known, "rate")
    assert rate.mean == 4.5
    grid = cells(rate.table)
    assert grid[json.dumps(5)]["Answers"] == 6
    assert grid[json.dumps(4)]["Answers"] == 6
    assert grid["__total__"]["Answers"] == 12
    assert rate.respondents == 12


def test_a_ranking_counts_first_choices_and_mean_ranks(office):
    _app, known = office
    rank = question(build(known_filter(known), exact=True), known, "rank")
    grid = cells(rank.table)
    assert [grid[o]["First choice"] for o in ("school", "clinic", "road")] == [6, 4, 2]
    assert grid["__total__"]["First choice"] == 12
    means = {row.key: row.extra.get("mean_rank") for row in rank.table.rows}
    assert means["school"] == pytest.approx(1.5)
    assert means["clinic"] == pytest.approx(22 / 12, abs=0.01)
    assert means["road"] == pytest.approx(32 / 12, abs=0.01)


def test_questions_come_in_consultation_then_position_order(office):
    _app, known = office
    d = build(known_filter(known))
    assert [q.question_id for q in d.questions] == [
        known["questions"][n] for n in ("mc", "rank", "rate")
    ]
    assert [q.table.name for q in d.questions][0] == f"question:{known['questions']['mc']}"


# ---- codes and quotes ---------------------------------------------------------------------------


def test_codes_and_sub_codes_are_counted(office):
    """Six contributions coded Roads and Village road, six Water; the sub-code follows its theme."""
    _app, known = office
    d = build(known_filter(known), exact=True)
    codes = known["codes"]
    keys = [row.key for row in d.codes.rows]
    assert keys.index(codes["village"]) == keys.index(codes["roads"]) + 1
    grid = cells(d.codes)
    assert grid[codes["roads"]]["Contributions"] == 6
    assert grid[codes["village"]]["Contributions"] == 6
    assert grid[codes["water"]]["Contributions"] == 6
    [village] = [row for row in d.codes.rows if row.key == codes["village"]]
    assert village.extra["parent"] == codes["roads"]
    assert village.colour == "#e69f00"
    assert cells(d.codes_by_gender)[codes["water"]]["Woman"] == 1
    assert cells(d.codes_by_gender)[codes["water"]]["Total"] == 6
    by_place = cells(d.codes_by_governorate)[codes["water"]]
    assert list(by_place.values()) == [6, 6]  # one governorate, and the total


def test_a_quotes_demographics_are_hidden_when_its_group_is_small(office):
    """Only one woman's answer is coded Water: her quote shows without her gender or age."""
    _app, known = office
    codes = known["codes"]
    d = build(known_filter(known))
    water = {q.key: q for q in d.quotes[codes["water"]]}
    assert len(water) == 2  # the two approved answers coded Water
    [hers] = [q for q in water.values() if q.text == TEXTS[6]]
    assert hers.gender is None
    assert hers.age_band is None
    assert hers.governorate == known["governorate"]
    [road] = [q for q in d.quotes[codes["roads"]] if q.text == TEXTS[0]]
    assert road.gender == "woman"  # six women's answers are coded Roads
    assert road.age_band == "18_29"
    exact = build(known_filter(known), exact=True)
    [hers] = [q for q in exact.quotes[codes["water"]] if q.text == TEXTS[6]]
    assert hers.gender == "woman"


def test_only_approved_answers_are_quoted(office):
    _app, known = office
    d = build(known_filter(known))
    quoted = {q.text for quotes in d.quotes.values() for q in quotes}
    assert quoted == {TEXTS[0], TEXTS[1], TEXTS[6], TEXTS[7]}


# ---- small counts -------------------------------------------------------------------------------


@pytest.mark.parametrize("breakdown", [None, "gender", "age"])
def test_published_tables_hold_no_count_from_1_to_k_minus_1(office, breakdown):
    _app, known = office
    for filters in (query.Filters(), known_filter(known)):
        d = build(filters, breakdown=breakdown)
        assert all(t.published for t in d.tables())
        small = [c for c in every_count(d) if not isinstance(c, Suppressed) and 0 < c < K]
        assert small == []
        assert any(isinstance(c, Suppressed) for c in every_count(d))
        for result in d.questions:
            assert isinstance(result.respondents, Suppressed) or not 0 < result.respondents < K


def test_exact_counts_show_the_small_ones(office):
    _app, known = office
    d = build(known_filter(known), exact=True)
    assert not any(t.published for t in d.tables())
    assert any(isinstance(c, int) and 0 < c < K for c in every_count(d))
    assert not any(isinstance(c, Suppressed) for c in every_count(d))
    assert cells(question(d, known, "rank").table)["road"]["First choice"] == 2


def test_the_same_count_is_withheld_alike_in_every_table(office):
    """A code's total by governorate and by gender, and in the codes table, show alike."""
    _app, known = office
    d = build()
    by_gov, by_gender = cells(d.codes_by_governorate), cells(d.codes_by_gender)
    for row in d.codes.rows:
        first = row.cells[0]
        assert first == by_gov[row.key]["Total"] == by_gender[row.key]["Total"]


# ---- the JSON summary ---------------------------------------------------------------------------


def test_the_summary_is_json_with_counts_only_in_cells(office):
    _app, known = office
    d = build(known_filter(known))
    data = json.loads(json.dumps(dashboard.summary(d, "en")))
    assert data["min_count"] == K
    names = [t["name"] for t in data["tables"]]
    assert names[:3] == ["attendance", "attendance_groups", "participation"]
    assert names[-4:] == ["codes", "codes_by_governorate", "codes_by_gender", "actions_by_status"]
    assert f"question:{known['questions']['rate']}" in names
    for entry in data["tables"]:
        assert set(entry) >= {"name", "title", "columns", "rows"}
        for row in entry["rows"]:
            assert isinstance(row["label"], str)
            assert len(row["cells"]) == len(entry["columns"])
            for cell in row["cells"]:
                assert cell == "<5" or (type(cell) is int and (cell == 0 or cell >= K))
    assert "<5" in json.dumps(data)
    [rate] = [t for t in data["tables"] if t["name"].endswith(known["questions"]["rate"])]
    assert rate["mean"] == 4.5
    assert rate["title"] == "Known question rate"
    [attendance] = [t for t in data["tables"] if t["name"] == "attendance"]
    assert attendance["shares"]["young"] is None


def test_the_summary_speaks_arabic(office):
    _app, known = office
    data = dashboard.summary(build(known_filter(known)), "ar")
    [attendance] = [t for t in data["tables"] if t["name"] == "attendance"]
    assert translated("ar", "Woman") in [r["label"] for r in attendance["rows"]]
    assert translated("ar", "Under 18") in attendance["columns"]
    [rate] = [t for t in data["tables"] if t["name"].endswith(known["questions"]["rate"])]
    assert rate["title"] == "سؤال معروف rate"
    [mc] = [t for t in data["tables"] if t["name"].endswith(known["questions"]["mc"])]
    assert [r["label"] for r in mc["rows"]] == ["الماء", "الطرق", "العمل"]
    with force_locale("ar"):
        assert str(dashboard.build(query.Filters(), k=K).attendance.rows[0].label) != "Woman"


def test_a_small_number_of_respondents_is_withheld(office):
    """Four men answered the multiple-choice question (one more was excluded): "<5"."""
    _app, known = office
    men = known_filter(known, genders=("man",))
    assert question(build(men), known, "mc").respondents == Suppressed(K)
    assert question(build(men, exact=True), known, "mc").respondents == 4


def test_a_mean_is_withheld_beside_withheld_counts(office):
    """A rating's mean with its total would let a reader solve for two withheld counts."""
    _app, _known = office
    published = build()
    exact = {q.question_id: q for q in build(exact=True).questions}
    withheld = [
        q
        for q in published.questions
        if q.type == "rating"
        and any(isinstance(c, Suppressed) for r in q.table.rows for c in r.cells)
    ]
    assert withheld
    for result in withheld:
        assert result.mean is None
        assert exact[result.question_id].mean is not None


def test_submissions_per_month_agree_with_a_count_of_the_answers(office):
    """Counted from the submission table or from the answers, a month's submissions agree,
    also once every answer of one submission is excluded (it no longer counts)."""
    _app, known = office
    for filters in (query.Filters(), known_filter(known), query.Filters(include_excluded=True)):
        chosen = dashboard._selected_consultations(filters, query._consultation_bodies())
        where = query.conditions(filters)
        fast = dashboard._submissions_by_month(filters, chosen, where)
        assert +fast == dashboard._submissions_counted(where)
    before = build(known_filter(known)).participation.rows[-1].cells[1]
    keys = [r.key for r in query.page(query.Filters(), limit=500).rows]
    first = known["submissions"][0]
    review.bulk_states(review.subjects_of([k for k in keys if first in k]), "excluded", "other")
    assert build(known_filter(known)).participation.rows[-1].cells[1] == before - 1 == 11
    every = query.Filters()
    chosen = dashboard._selected_consultations(every, query._consultation_bodies())
    where = query.conditions(every)
    assert +dashboard._submissions_by_month(every, chosen, where) == (
        dashboard._submissions_counted(where)
    )
