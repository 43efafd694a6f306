"""Ranking questions: ranks typed in any digits, shown in rank order, counted as priorities."""

from __future__ import annotations

import json
import re

import pytest
from werkzeug.datastructures import MultiDict

from fieldapp.answers import read_answer, read_rank
from fieldapp.extensions import db
from fieldapp.models import DeviceRole, Role, Submission
from fieldapp.services import intake, records, results, workspace

from .conftest import add_user, login, set_language
from .participants import agree
from .sync_world import Installation, site

FAST = "scrypt:1024:8:1"
OPTIONS = [
    {"id": "o1", "label": {"ar": "الطرق", "ckb": "ڕێگاوبان", "ku": "Rê", "en": "Roads"}},
    {"id": "o2", "label": {"ar": "الصحة", "ckb": "تەندروستی", "ku": "Tenduristî", "en": "Health"}},
    {"id": "o3", "label": {"ar": "فرص العمل", "ckb": "هەلی کار", "ku": "Kar", "en": "Jobs"}},
]
RANKING = {
    "type": "ranking",
    "original_language": "ar",
    "required": True,
    "text": {
        "ar": "رتّب الأولويات",
        "ckb": "ئەولەویەتەکان ڕیز بکە",
        "ku": "Pêşîniyan rêz bikin",
        "en": "Rank the priorities",
    },
    "options": OPTIONS,
}


# ---- the computation, on hand-counted answers ------------------------------------------------


def test_points_first_choices_and_order_from_hand_counted_answers():
    """Four people, one of whom ranked only their first choice (a partial ranking).

    With three options a first choice earns 3 points, a second 2, a third 1:
    Roads 2 + 1 + 3 = 6, Health 1 + 2 + 1 + 3 = 7, Jobs 3 + 3 + 2 = 8.
    """
    found = results.priorities(
        ["o1", "o2", "o3"],
        [["o3", "o1", "o2"], ["o3", "o2", "o1"], ["o1", "o3", "o2"], ["o2"]],
    )
    assert found.respondents == 4
    assert found.first_choice_points == 3
    assert [(o.option, o.place, o.points, o.first_choices, o.ranked_by) for o in found.options] == [
        ("o3", 1, 8, 2, 3),
        ("o2", 2, 7, 1, 4),
        ("o1", 3, 6, 1, 3),
    ]


def test_equal_points_are_decided_by_first_choices_and_full_ties_share_a_place():
    """a: 1 + 3 = 4 points, 1 first choice; b: 3 + 1 = 4, 1 first; c: 2 + 2 = 4, no first.

    a and b are tied on both and share first place (in the sheet's order); c comes third.
    """
    found = results.priorities(["a", "b", "c"], [["b", "c", "a"], ["a", "c", "b"]])
    assert [(o.option, o.place, o.points, o.first_choices) for o in found.options] == [
        ("a", 1, 4, 1),
        ("b", 1, 4, 1),
        ("c", 3, 4, 0),
    ]


def test_answers_that_are_not_rankings_of_the_options_are_left_out():
    """Old single-choice answers, removed options and repeated ids do not count."""
    found = results.priorities(
        ["a", "b"], ["a", [], None, ["gone"], ["gone", "b", "b", "a", 7], {"a": 1}]
    )
    assert found.respondents == 1
    assert [(o.option, o.points, o.first_choices) for o in found.options] == [
        ("b", 2, 1),
        ("a", 1, 0),
    ]


def test_no_rankings_yet():
    found = results.priorities(["a", "b"], [])
    assert found.respondents == 0
    assert [(o.option, o.place, o.points) for o in found.options] == [("a", 1, 0), ("b", 1, 0)]


# ---- reading ranks typed in any digits ------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "rank"),
    [
        ("2", 2),
        ("٢", 2),  # Arabic-Indic, Arabic keyboard
        ("۳", 3),  # Extended Arabic-Indic, Persian/Kurdish keyboard
        (" ١٠ ", 10),
        ("\u200f٢", 2),  # a right-to-left mark some keyboards type before the digit
        ("", None),
        ("0", None),
        ("-1", None),
        ("2.5", None),
        ("²", None),  # a look-alike that str.isdigit() accepts and int() refuses
        ("دوو", None),
    ],
)
def test_a_rank_is_read_in_any_digits(typed, rank):
    assert read_rank(typed) == rank


def test_a_ranking_is_stored_in_rank_order_whatever_the_digits():
    question = workspace.Item("q1", "rev", "question", RANKING)
    form = MultiDict({"q_q1_o1": "٢", "q_q1_o2": "۳", "q_q1_o3": "1"})
    assert read_answer(form, question) == ["o3", "o1", "o2"]
    partial = MultiDict({"q_q1_o1": "", "q_q1_o2": "١", "q_q1_o3": "²"})
    assert read_answer(partial, question) == ["o2"]
    assert read_answer(MultiDict({"q_q1_o1": "²"}), question) is None


# ---- pages -----------------------------------------------------------------------------------


@pytest.fixture
def laptop(tmp_path):
    """A field laptop with keys and a coordinator's account (no app context held open)."""
    ho = Installation(tmp_path / "ho", DeviceRole.HEADOFFICE, "Head office")
    laptop = Installation(tmp_path / "laptop", DeviceRole.FIELD, "Bashiqa laptop", (ho,))
    with site(laptop.folder, WTF_CSRF_ENABLED=False, PASSWORD_HASH_METHOD=FAST) as app:
        add_user(app, "amira", Role.COORDINATOR)
        yield app


@pytest.fixture
def meeting(laptop):
    """An open consultation in Arabic, Sorani, Kurmanji and English with one ranking question."""
    with laptop.app_context():
        record_id = workspace.save_consultation(
            {
                "kind": "town_hall",
                "title": {"ar": "اجتماع عام", "ckb": "کۆبوونەوەی گشتی", "en": "Town hall"},
                "original_language": "ar",
                "status": "open",
                "governorate": "IQ-NI",
                "languages": ["ar", "ckb", "ku", "en"],
                "consent_text": {"ar": "هل توافق؟", "ckb": "ڕازیت؟"},
            }
        )
        question = workspace.add_question(record_id, RANKING)
    return record_id, question


def labels_in_order(html: str, language: str) -> list[str]:
    """The option labels of ``html``, in the order the page shows them."""
    names = [o["label"][language] for o in OPTIONS]
    return sorted(names, key=html.index)


@pytest.mark.parametrize("language", ["ar", "ckb", "ku", "en"])
def test_check_your_answers_lists_the_ranking_in_rank_order(laptop, meeting, language):
    """Ranked Health 1, Jobs 2, Roads 3 (typed ٣ ١ ٢): the review shows them in that order."""
    record_id, question = meeting
    with laptop.app_context():
        code = intake.open_intake(record_id)
    client = laptop.test_client()
    agree(client, code, language)
    form = {f"q_{question}_o1": "٣", f"q_{question}_o2": "١", f"q_{question}_o3": "۲"}
    response = client.post(f"/p/{code}/q/1", data={**form, "go": "next"})
    assert response.headers["Location"].endswith("/about")
    page = client.get(f"/p/{code}/review").get_data(as_text=True)
    ranked = re.search(r'<ol class="answer ranked">(.*?)</ol>', page, re.S)
    assert ranked, page
    assert labels_in_order(ranked.group(1), language) == [
        OPTIONS[1]["label"][language],
        OPTIONS[2]["label"][language],
        OPTIONS[0]["label"][language],
    ]
    assert ranked.group(1).count("<li>") == 3
    # Going back shows the ranks as given, in ASCII digits the boxes accept.
    again = client.get(f"/p/{code}/q/1").get_data(as_text=True)
    assert re.search(rf'name="q_{question}_o1"[^>]*value="3"', again)
    client.post(f"/p/{code}/review")
    with laptop.app_context():
        body = json.loads(db.session.query(Submission).one().body)
    assert body["answers"] == {question: ["o2", "o3", "o1"]}


def test_a_partial_ranking_lists_only_what_was_ranked(laptop, meeting):
    record_id, question = meeting
    with laptop.app_context():
        code = intake.open_intake(record_id)
    client = laptop.test_client()
    agree(client, code, "en")
    client.post(f"/p/{code}/q/1", data={f"q_{question}_o3": "1", "go": "next"})
    page = client.get(f"/p/{code}/review").get_data(as_text=True)
    ranked = re.search(r'<ol class="answer ranked">(.*?)</ol>', page, re.S).group(1)
    assert "Jobs" in ranked
    assert "Roads" not in ranked
    assert "Health" not in ranked


def test_several_choices_are_listed_in_the_readers_way(laptop):
    """Chosen options are joined as the reader's language writes a list, not by an Arabic comma
    in every language."""
    with laptop.app_context():
        record_id = workspace.save_consultation(
            {
                "kind": "town_hall",
                "title": {"ar": "اجتماع عام"},
                "original_language": "ar",
                "status": "open",
                "governorate": "IQ-NI",
                "languages": ["ar", "ku", "en"],
            }
        )
        question = workspace.add_question(record_id, {**RANKING, "type": "multiple_choice"})
        code = intake.open_intake(record_id)
    for language, expected in (
        ("ar", ["الطرق", " و", "فرص العمل"]),
        ("ku", ["Rê", " û ", "Kar"]),
        ("en", ["Roads", " and ", "Jobs"]),
    ):
        client = laptop.test_client()
        agree(client, code, language)
        client.post(f"/p/{code}/q/1", data={f"q_{question}": ["o1", "o3"], "go": "next"})
        page = client.get(f"/p/{code}/review").get_data(as_text=True)
        answer = re.search(r'<p class="answer">(.*?)</p>', page, re.S).group(1)
        assert re.sub(r"<[^>]+>", "", answer).strip() == "".join(expected)
        assert "،" not in answer


def test_rank_boxes_take_any_digits_with_a_numeric_keyboard(laptop, meeting):
    """Kiosk, phone, capture and preview share the boxes: text with inputmode=numeric.

    A type=number box empties itself when ٢ is typed on an Arabic or Kurdish keyboard.
    """
    record_id, question = meeting
    browser = laptop.test_client()
    assert login(browser).status_code == 302
    with laptop.app_context():
        code = intake.open_intake(record_id)
    participant = laptop.test_client()
    agree(participant, code, "ar")
    pages = {
        "capture": browser.get(f"/consultations/{record_id}/capture").get_data(as_text=True),
        "preview": browser.get(f"/consultations/{record_id}/preview").get_data(as_text=True),
        "kiosk": participant.get(f"/p/{code}/q/1").get_data(as_text=True),
    }
    for name, page in pages.items():
        boxes = re.findall(rf'<input [^>]*name="q_{question}_o\d"[^>]*>', page)
        assert len(boxes) == 3, name
        for box in boxes:
            assert 'type="text"' in box, (name, box)
            assert 'inputmode="numeric"' in box, (name, box)
            assert 'type="number"' not in box


def test_capture_stores_ranks_typed_in_arabic_digits_in_rank_order(laptop, meeting):
    record_id, question = meeting
    browser = laptop.test_client()
    assert login(browser).status_code == 302
    response = browser.post(
        f"/consultations/{record_id}/capture",
        data={
            "channel": "paper",
            "language": "ar",
            "consent_method": "written",
            f"q_{question}_o1": "\u200f٢",
            f"q_{question}_o2": "۳",
            f"q_{question}_o3": "١",
            "idempotency_key": "paper-1",
        },
    )
    assert response.status_code == 302
    with laptop.app_context():
        body = json.loads(db.session.query(Submission).one().body)
    assert body["answers"] == {question: ["o3", "o1", "o2"]}


def test_a_look_alike_digit_is_not_a_server_error(laptop, meeting):
    """² passes str.isdigit() but not int(): it was a 500 page, now the box counts as empty."""
    record_id, question = meeting
    browser = laptop.test_client()
    assert login(browser).status_code == 302
    response = browser.post(
        f"/consultations/{record_id}/capture",
        data={
            "channel": "paper",
            "language": "ar",
            "consent_method": "written",
            f"q_{question}_o1": "²",
        },
    )
    assert response.status_code == 200
    assert "Please answer the questions marked as required." in response.get_data(as_text=True)


def add_rankings(app, record_id: str, question: str) -> None:
    """The four hand-counted rankings of the first test, as paper forms."""
    with app.app_context():
        for number, ranking in enumerate(
            (["o3", "o1", "o2"], ["o3", "o2", "o1"], ["o1", "o3", "o2"], ["o2"])
        ):
            records.add_submission(record_id, {question: ranking}, "ar", "paper", f"form-{number}")


def priority_rows(html: str) -> list[list[str]]:
    """The rows of the priorities table: place, option, first choices, points."""
    table = re.search(r'<table class="priorities">(.*?)</table>', html, re.S)
    assert table, html
    rows = re.findall(r"<tr>(.*?)</tr>", table.group(1).split("<tbody>")[1], re.S)
    cells = [re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", row, re.S) for row in rows]
    return [[re.sub(r"<[^>]+>", "", c).strip() for c in row] for row in cells]


@pytest.mark.parametrize("language", ["en", "ar", "ckb", "ku"])
def test_overview_shows_priorities_highest_first(laptop, meeting, language):
    """Jobs 8 points (2 first choices), Health 7 (1), Roads 6 (1); n = 4."""
    record_id, question = meeting
    add_rankings(laptop, record_id, question)
    browser = laptop.test_client()
    assert login(browser).status_code == 302
    set_language(browser, language)
    page = browser.get(f"/consultations/{record_id}").get_data(as_text=True)
    label = [o["label"][language] for o in OPTIONS]
    assert priority_rows(page) == [
        ["1", label[2], "2", "8"],
        ["2", label[1], "1", "7"],
        ["3", label[0], "1", "6"],
    ]
    assert "(n = 4)" in page
    if language == "en":  # the other catalogues are merged later; English checks the wording
        assert "4 people ranked the options" in page
        assert "First choices" in page
        assert "first choice earns 3 points" in page


@pytest.mark.parametrize("language", ["ar", "ckb", "en"])
def test_printed_summary_shows_priorities_in_the_meetings_language(laptop, meeting, language):
    record_id, question = meeting
    add_rankings(laptop, record_id, question)
    browser = laptop.test_client()
    assert login(browser).status_code == 302
    page = browser.get(f"/consultations/{record_id}/print?in={language}").get_data(as_text=True)
    label = [o["label"][language] for o in OPTIONS]
    assert [row[1] for row in priority_rows(page)] == [label[2], label[1], label[0]]
    assert [row[3] for row in priority_rows(page)] == ["8", "7", "6"]
    assert "(n = 4)" in page


def test_overview_service_gives_the_priorities(laptop, meeting):
    record_id, question = meeting
    add_rankings(laptop, record_id, question)
    with laptop.app_context():
        summary = workspace.overview(record_id)
    assert summary.rankings[question] == results.priorities(
        ["o1", "o2", "o3"],
        [["o3", "o1", "o2"], ["o3", "o2", "o1"], ["o1", "o3", "o2"], ["o2"]],
    )
