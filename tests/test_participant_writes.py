"""How often one participant makes the laptop write (issue #13: a room of phones, one disk).

Nothing is written before consent (choosing a language and declining write nothing at all),
agreeing is one write, a screen is at most one write and none when nothing changed, and
submitting is one transaction. Each page is visited as a browser would, CSRF tokens included.

Writes are counted twice, and both counts must agree: every transaction that took the write
lock (``BEGIN IMMEDIATE``) or ran an INSERT, UPDATE or DELETE on the app's engine, and every
transaction that reached the disk (commit frames in the write-ahead log, whoever wrote them).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import event

from fieldapp.database import writing
from fieldapp.extensions import db
from fieldapp.i18n import BY_CODE
from fieldapp.models import DeviceRole, ParticipantDraft, Submission
from fieldapp.services import intake, workspace

from .conftest import translated
from .sync_world import Installation, site

COOKIE = "fieldapp_participant"
OTHER = {"ar": "ckb", "ckb": "ar"}
SUGGESTION = {"ar": "نريد مدرسة للبنات في القرية", "ckb": "ڕێگای گوندەکە چاک بکەنەوە"}
WORRY = {"ar": "الماء قليل في الصيف", "ckb": "لە هاویندا ئاو کەمە"}


def _text(ar: str, ckb: str) -> dict[str, str]:
    return {"ar": ar, "ckb": ckb}


def _options(*labels: tuple[str, str]) -> list[dict[str, Any]]:
    return [{"id": f"o{n}", "label": _text(*label)} for n, label in enumerate(labels, 1)]


# Eight questions of every kind a participant meets, in Arabic and Sorani.
QUESTIONS: list[dict[str, Any]] = [
    {
        "type": "single_choice",
        "required": True,
        "text": _text("ما الأولوية؟", "ئەولەویەت چییە؟"),
        "options": _options(("الأمن", "ئاسایش"), ("الخدمات", "خزمەتگوزاری")),
    },
    {
        "type": "multiple_choice",
        "text": _text("ما الذي ينقص؟", "چی کەمە؟"),
        "options": _options(("الماء", "ئاو"), ("الكهرباء", "کارەبا"), ("الطرق", "ڕێگا")),
    },
    {"type": "rating", "text": _text("كيف تقيّم الخدمات؟", "خزمەتگوزارییەکان چۆن هەڵدەسەنگێنیت؟")},
    {"type": "yes_no", "text": _text("هل تشعر بالأمان؟", "هەست بە ئاسایش دەکەیت؟")},
    {
        "type": "ranking",
        "text": _text("رتّب ما يهمك", "ڕیزیان بکە"),
        "options": _options(("المدارس", "قوتابخانە"), ("العيادات", "نەخۆشخانە"), ("العمل", "کار")),
    },
    {"type": "free_text", "text": _text("ماذا تقترح؟", "پێشنیارت چییە؟")},
    {"type": "free_text", "text": _text("ما الذي يقلقك؟", "چی نیگەرانت دەکات؟")},
    {
        "type": "single_choice",
        "text": _text("هل ستحضر الاجتماع القادم؟", "بەشداری کۆبوونەوەی داهاتوو دەکەیت؟"),
        "options": _options(("نعم", "بەڵێ"), ("ربما", "لەوانەیە")),
    },
]


@dataclass
class Meeting:
    """An open consultation on a laptop, served to test clients with CSRF on."""

    app: Flask
    code: str
    questions: list[str]
    database: Path


@pytest.fixture
def meeting(tmp_path: Path) -> Iterator[Meeting]:
    ho = Installation(tmp_path / "ho", DeviceRole.HEADOFFICE, "Head office")
    laptop = Installation(tmp_path / "laptop", DeviceRole.FIELD, "Zakho laptop", (ho,))
    with laptop.session():
        record_id = workspace.save_consultation(
            {
                "kind": "consultation_gathering",
                "title": _text("مشاورة حول الخدمات", "ڕاوێژ دەربارەی خزمەتگوزاری"),
                "original_language": "ar",
                "status": "open",
                "governorate": "IQ-DA",
                "languages": ["ar", "ckb"],
                "consent_text": _text("مشاركتك طوعية.", "بەشداریت خۆبەخشانەیە."),
            }
        )
        questions = [
            workspace.add_question(record_id, {**body, "original_language": "ar"})
            for body in QUESTIONS
        ]
        code = intake.open_intake(record_id)
    with site(laptop.folder) as app:
        app.test_client().get(f"/p/{code}")  # the app's first page (not a participant's)
        yield Meeting(app, code, questions, laptop.folder / "fieldapp.sqlite3")


class Browser:
    """A participant's browser: cookies, and the CSRF token of the last page sent back."""

    def __init__(self, app: Flask) -> None:
        self.client = app.test_client()
        self.csrf = ""

    def get(self, path: str) -> Any:
        response = self.client.get(path)
        found = re.search(r'name="csrf_token" value="([^"]+)"', response.get_data(as_text=True))
        if found:
            self.csrf = found.group(1)
        return response

    def post(self, path: str, data: dict[str, Any]) -> Any:
        return self.client.post(path, data={**data, "csrf_token": self.csrf})

    def token(self) -> str | None:
        cookie = self.client.get_cookie(COOKIE, path="/p")
        return cookie.value if cookie is not None else None


def _wal_commits(database: Path) -> tuple[bytes, int]:
    """The write-ahead log's salt and how many transactions it holds (commit frames).

    A frame belongs to the log while its salt is the header's; a commit frame records the
    database's size after the commit, other frames a zero.
    """
    wal = database.with_name(database.name + "-wal")
    data = wal.read_bytes() if wal.exists() else b""
    if len(data) < 32:
        return b"", 0
    page_size = int.from_bytes(data[8:12], "big")
    salt = data[16:24]
    commits, offset = 0, 32
    while offset + 24 + page_size <= len(data) and data[offset + 8 : offset + 16] == salt:
        commits += int.from_bytes(data[offset + 4 : offset + 8], "big") != 0
        offset += 24 + page_size
    return salt, commits


def _files(database: Path) -> tuple[bytes, bytes]:
    """Every byte of the database file and of its write-ahead log."""
    wal = database.with_name(database.name + "-wal")
    return database.read_bytes(), wal.read_bytes() if wal.exists() else b""


@dataclass
class Writes:
    """Counts write transactions on the app's engine and commits in the write-ahead log."""

    database: Path
    transactions: int = 0
    log: list[tuple[str, int]] = field(default_factory=list)

    def _statement(self, conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        words = statement.split(None, 1)
        first = words[0].upper() if words else ""
        if first in ("INSERT", "UPDATE", "DELETE", "REPLACE") or statement.strip().upper() == (
            "BEGIN IMMEDIATE"
        ):
            conn.info["fieldapp_test_wrote"] = True

    def _commit(self, conn: Any) -> None:
        if conn.info.pop("fieldapp_test_wrote", False):
            self.transactions += 1

    def _rollback(self, conn: Any) -> None:
        conn.info.pop("fieldapp_test_wrote", None)

    def step(self, name: str, action: Callable[[], Any]) -> Any:
        """Run ``action``, note how many writes it made (both counts must agree)."""
        transactions, (salt, commits) = self.transactions, _wal_commits(self.database)
        result = action()
        after_salt, after_commits = _wal_commits(self.database)
        assert after_salt == salt or not commits, f"{name}: the log was reset, cannot count"
        on_disk = after_commits - commits if after_salt == salt else after_commits
        made = self.transactions - transactions
        assert made == on_disk, f"{name}: {made} write transactions, {on_disk} commits on disk"
        self.log.append((name, made))
        return result


@pytest.fixture
def writes(meeting: Meeting) -> Iterator[Writes]:
    with meeting.app.app_context():
        engine = db.engine
    counter = Writes(meeting.database)
    listeners = [
        ("before_cursor_execute", counter._statement),
        ("commit", counter._commit),
        ("rollback", counter._rollback),
    ]
    for name, listener in listeners:
        event.listen(engine, name, listener)
    yield counter
    for name, listener in listeners:
        event.remove(engine, name, listener)


def drafts(meeting: Meeting) -> list[ParticipantDraft]:
    with meeting.app.app_context():
        return list(db.session.query(ParticipantDraft))


def html_lang(response: Any) -> str:
    found = re.search(r'<html lang="([^"]+)"', response.get_data(as_text=True))
    assert found, response.status
    return found.group(1)


def answers_of(meeting: Meeting, language: str) -> list[dict[str, Any]]:
    """What one person answers to each of the eight questions, as the form sends it."""
    q = meeting.questions
    return [
        {f"q_{q[0]}": "o2"},
        {f"q_{q[1]}": ["o1", "o3"]},
        {f"q_{q[2]}": "٤"},  # typed on an Arabic keyboard
        {f"q_{q[3]}": "yes"},
        {f"q_{q[4]}_o1": "٢", f"q_{q[4]}_o3": "1"},
        {f"q_{q[5]}": SUGGESTION[language]},
        {f"q_{q[6]}": WORRY[language]},
        {f"q_{q[7]}": "o1"},
    ]


def choose_and_agree(browser: Browser, meeting: Meeting, language: str) -> None:
    """Start screen, language, consent: the first write."""
    code = meeting.code
    browser.get(f"/p/{code}")
    consent = browser.post(f"/p/{code}", {"language": language}).headers["Location"]
    browser.get(consent)
    assert browser.post(consent, {"choice": "agree"}).headers["Location"].endswith("/q/1")


@pytest.mark.parametrize("language", ["ar", "ckb"])
def test_one_write_at_consent_one_per_screen_and_one_transaction_to_submit(
    meeting: Meeting, writes: Writes, language: str
) -> None:
    """A participant answering eight questions once: 1 + 8 + 1 (about) + 1 writes."""
    code, browser = meeting.code, Browser(meeting.app)
    tag = BY_CODE[language].tag
    start = writes.step("start page", lambda: browser.get(f"/p/{code}"))
    assert start.status_code == 200
    chosen = writes.step("language", lambda: browser.post(f"/p/{code}", {"language": language}))
    consent = chosen.headers["Location"]
    assert consent == f"/p/{code}/consent?lang={language}"
    assert browser.token() is None  # nothing kept yet, not even a token
    page = writes.step("consent page", lambda: browser.get(consent))
    assert html_lang(page) == tag
    agreed = writes.step("agree", lambda: browser.post(consent, {"choice": "agree"}))
    assert agreed.headers["Location"].endswith(f"/p/{code}/q/1")
    assert browser.token() is not None  # the token cookie is set at consent
    [draft] = drafts(meeting)
    assert (draft.language, draft.consented, draft.answers) == (language, True, "{}")

    for number, form in enumerate(answers_of(meeting, language), 1):
        page = writes.step(f"q{number} page", lambda n=number: browser.get(f"/p/{code}/q/{n}"))
        assert html_lang(page) == tag
        assert QUESTIONS[number - 1]["text"][language] in page.get_data(as_text=True)
        sent = writes.step(
            f"q{number} next",
            lambda n=number, f=form: browser.post(f"/p/{code}/q/{n}", {**f, "go": "next"}),
        )
        assert sent.status_code == 302
    writes.step("about page", lambda: browser.get(f"/p/{code}/about"))
    about = {"gender": "woman", "age_band": "30_44", "go": "next"}
    writes.step("about next", lambda: browser.post(f"/p/{code}/about", about))
    review = writes.step("review page", lambda: browser.get(f"/p/{code}/review"))
    assert SUGGESTION[language] in review.get_data(as_text=True)
    token = browser.token()
    sent = writes.step("submit", lambda: browser.post(f"/p/{code}/review", {}))
    assert sent.headers["Location"] == f"/p/{code}/thanks?lang={language}"
    assert browser.token() is None  # the cookie is deleted after submitting
    # A retry after a dropped connection still carries the token: same receipt, no write.
    browser.client.set_cookie(COOKIE, token or "", path="/p")
    again = writes.step("submit again", lambda: browser.post(f"/p/{code}/review", {}))
    assert "/thanks" in again.headers["Location"]
    writes.step("receipt", lambda: browser.get(sent.headers["Location"]))

    expected = [("start page", 0), ("language", 0), ("consent page", 0), ("agree", 1)]
    for number in range(1, 9):
        expected += [(f"q{number} page", 0), (f"q{number} next", 1)]
    expected += [("about page", 0), ("about next", 1), ("review page", 0), ("submit", 1)]
    expected += [("submit again", 0), ("receipt", 0)]
    assert writes.log == expected
    assert sum(made for _name, made in writes.log) == 1 + 8 + 1 + 1
    with meeting.app.app_context():
        [submission] = db.session.query(Submission).all()
        assert db.session.query(ParticipantDraft).count() == 0
    body = json.loads(submission.body)
    assert body["language"] == language
    assert body["answers"] == {
        meeting.questions[0]: "o2",
        meeting.questions[1]: ["o1", "o3"],
        meeting.questions[2]: 4,
        meeting.questions[3]: True,
        meeting.questions[4]: ["o3", "o1"],
        meeting.questions[5]: SUGGESTION[language],
        meeting.questions[6]: WORRY[language],
        meeting.questions[7]: "o1",
    }
    assert body["demographics"] == {"gender": "woman", "age_band": "30_44"}


@pytest.mark.parametrize("language", ["ar", "ckb"])
def test_declining_writes_nothing_at_all(meeting: Meeting, writes: Writes, language: str) -> None:
    """Start, language, consent, switch language there, decline: not one byte changes."""
    code, browser = meeting.code, Browser(meeting.app)
    before = _files(meeting.database)
    other = OTHER[language]

    writes.step("start page", lambda: browser.get(f"/p/{code}"))
    chosen = writes.step("language", lambda: browser.post(f"/p/{code}", {"language": language}))
    consent = chosen.headers["Location"]
    assert html_lang(writes.step("consent page", lambda: browser.get(consent))) == (
        BY_CODE[language].tag
    )
    switched = writes.step(
        "switch language",
        lambda: browser.post(
            f"/p/{code}/language", {"language": other, "back": f"/p/{code}/consent"}
        ),
    )
    assert switched.headers["Location"] == f"/p/{code}/consent?lang={other}"
    page = writes.step("consent page again", lambda: browser.get(switched.headers["Location"]))
    assert html_lang(page) == BY_CODE[other].tag
    assert _text("مشاركتك طوعية.", "بەشداریت خۆبەخشانەیە.")[other] in page.get_data(as_text=True)
    declined = writes.step(
        "decline", lambda: browser.post(switched.headers["Location"], {"choice": "decline"})
    )
    assert declined.headers["Location"] == f"/p/{code}/declined?lang={other}"
    thanks = writes.step("declined page", lambda: browser.get(declined.headers["Location"]))
    assert translated(
        other, "Nothing was recorded. Please hand the device to the next person."
    ) in (thanks.get_data(as_text=True))

    assert writes.log == [
        ("start page", 0),
        ("language", 0),
        ("consent page", 0),
        ("switch language", 0),
        ("consent page again", 0),
        ("decline", 0),
        ("declined page", 0),
    ]
    assert _files(meeting.database) == before  # no new frame in the log, no byte in the file
    assert drafts(meeting) == []
    assert browser.token() is None


def test_next_or_back_over_unchanged_answers_writes_nothing(
    meeting: Meeting, writes: Writes
) -> None:
    """Only a screen that changes something writes, once; going back and forth is free."""
    code, browser, q = meeting.code, Browser(meeting.app), meeting.questions
    choose_and_agree(browser, meeting, "ckb")
    for number, form in enumerate(answers_of(meeting, "ckb")[:3], 1):
        browser.post(f"/p/{code}/q/{number}", {**form, "go": "next"})
    writes.log.clear()

    def send(number: int, form: dict[str, Any], go: str) -> Any:
        browser.get(f"/p/{code}/q/{number}")
        return browser.post(f"/p/{code}/q/{number}", {**form, "go": go})

    back = writes.step("q3 back, unchanged", lambda: send(3, {f"q_{q[2]}": "٤"}, "back"))
    assert back.headers["Location"].endswith("/q/2")
    writes.step("q3 as 4, not ٤", lambda: send(3, {f"q_{q[2]}": "4"}, "back"))
    writes.step("q2 back, unchanged", lambda: send(2, {f"q_{q[1]}": ["o1", "o3"]}, "back"))
    writes.step("q1 next, unchanged", lambda: send(1, {f"q_{q[0]}": "o2"}, "next"))
    writes.step("q2 changed", lambda: send(2, {f"q_{q[1]}": ["o2"]}, "next"))
    writes.step("q3 next, unchanged", lambda: send(3, {f"q_{q[2]}": "٤"}, "next"))
    writes.step("q4 left empty", lambda: send(4, {}, "next"))
    writes.step("q4 back, still empty", lambda: send(4, {}, "back"))
    writes.step(
        "switch language",
        lambda: browser.post(f"/p/{code}/language", {"language": "ar", "back": f"/p/{code}/q/3"}),
    )
    writes.step(
        "switch to the same",
        lambda: browser.post(f"/p/{code}/language", {"language": "ar", "back": f"/p/{code}/q/3"}),
    )
    writes.step("about, nothing chosen", lambda: browser.post(f"/p/{code}/about", {"go": "next"}))
    writes.step("about back", lambda: browser.post(f"/p/{code}/about", {"go": "back"}))
    chosen = {"gender": "prefer_not_to_say", "go": "next"}
    writes.step("about chosen", lambda: browser.post(f"/p/{code}/about", chosen))
    writes.step("about again", lambda: browser.post(f"/p/{code}/about", chosen))

    assert writes.log == [
        ("q3 back, unchanged", 0),
        ("q3 as 4, not ٤", 0),
        ("q2 back, unchanged", 0),
        ("q1 next, unchanged", 0),
        ("q2 changed", 1),
        ("q3 next, unchanged", 0),
        ("q4 left empty", 0),
        ("q4 back, still empty", 0),
        ("switch language", 1),
        ("switch to the same", 0),
        ("about, nothing chosen", 0),
        ("about back", 0),
        ("about chosen", 1),
        ("about again", 0),
    ]
    shown = browser.get(f"/p/{code}/q/2")
    assert html_lang(shown) == BY_CODE["ar"].tag
    page = shown.get_data(as_text=True)
    assert re.search(r'value="o2" checked', page)
    assert not re.search(r'value="o1" checked', page)
    browser.get(f"/p/{code}/review")
    assert browser.post(f"/p/{code}/review", {}).headers["Location"].endswith("?lang=ar")
    with meeting.app.app_context():
        body = json.loads(db.session.query(Submission).one().body)
    assert body["answers"] == {q[0]: "o2", q[1]: ["o2"], q[2]: 4}
    assert body["demographics"] == {"gender": "prefer_not_to_say"}


def test_a_required_question_left_empty_writes_nothing(meeting: Meeting, writes: Writes) -> None:
    code, browser = meeting.code, Browser(meeting.app)
    choose_and_agree(browser, meeting, "ar")
    page = writes.step("q1 empty", lambda: browser.post(f"/p/{code}/q/1", {"go": "next"}))
    assert translated("ar", "This question needs an answer.") in page.get_data(as_text=True)
    assert writes.log == [("q1 empty", 0)]


def test_a_participant_going_on_without_changes_is_not_taken_for_idle(
    meeting: Meeting, writes: Writes
) -> None:
    """The idle rule counts from the last write: an unchanged Next late in the idle time
    writes once (the draft's time alone), so a person still moving through keeps their answers.
    """
    code, browser, q = meeting.code, Browser(meeting.app), meeting.questions
    choose_and_agree(browser, meeting, "ckb")
    browser.post(f"/p/{code}/q/1", {f"q_{q[0]}": "o1", "go": "next"})
    idle = timedelta(seconds=meeting.app.config["KIOSK_IDLE_SECONDS"])

    def age(by: timedelta) -> None:
        with meeting.app.app_context(), writing() as session:
            for draft in session.query(ParticipantDraft):
                draft.updated_at = draft.updated_at - by

    age(idle * 0.3)  # written a little while ago: an unchanged Next writes nothing
    writes.step("soon after", lambda: browser.post(f"/p/{code}/q/1", {f"q_{q[0]}": "o1"}))
    age(idle * 0.4)  # now 0.7 of the idle time ago: written again, time only
    writes.step("later", lambda: browser.post(f"/p/{code}/q/1", {f"q_{q[0]}": "o1"}))
    age(idle * 0.7)  # 0.7 since that write: still here (1.4 since the answer was changed)
    page = browser.get(f"/p/{code}/q/1")
    assert page.status_code == 200
    assert re.search(r'value="o1" checked', page.get_data(as_text=True))
    assert writes.log == [("soon after", 0), ("later", 1)]


def test_the_next_person_never_meets_the_previous_one_s_unsent_answers(
    meeting: Meeting, writes: Writes
) -> None:
    """A shared kiosk left mid-way without the idle reset: choosing a language forgets it."""
    code, browser, q = meeting.code, Browser(meeting.app), meeting.questions
    choose_and_agree(browser, meeting, "ar")
    browser.post(f"/p/{code}/q/6", {f"q_{q[5]}": SUGGESTION["ar"], "go": "next"})
    assert len(drafts(meeting)) == 1
    browser.get(f"/p/{code}")  # the next person, same browser
    chosen = browser.post(f"/p/{code}", {"language": "ckb"})
    assert drafts(meeting) == []
    assert browser.token() is None
    consent = browser.get(chosen.headers["Location"])
    assert html_lang(consent) == BY_CODE["ckb"].tag
    browser.post(chosen.headers["Location"], {"choice": "agree"})
    page = browser.get(f"/p/{code}/q/6").get_data(as_text=True)
    assert SUGGESTION["ar"] not in page
    [draft] = drafts(meeting)
    assert (draft.language, draft.answers) == ("ckb", "{}")
