"""Participants' own voice on a shared device: the flow, privacy, and the locked kiosk."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest

from fieldapp.database import writing
from fieldapp.extensions import db
from fieldapp.models import DeviceRole, IntakeSession, ParticipantDraft, Role, Submission
from fieldapp.models.types import utcnow
from fieldapp.services import intake, records, workspace

from .conftest import PASSWORD, add_user, login, set_language, translated
from .sync_world import Installation, opened

SECRET_ANSWER = "ڕێگای گوندەکە داخراوە"


@pytest.fixture
def laptop(tmp_path):
    ho = Installation(tmp_path / "ho", DeviceRole.HEADOFFICE, "Head office")
    laptop = Installation(tmp_path / "laptop", DeviceRole.FIELD, "Bashiqa laptop", (ho,))
    with opened(
        laptop.folder, WTF_CSRF_ENABLED=False, PASSWORD_HASH_METHOD="scrypt:1024:8:1"
    ) as app:
        add_user(app, "amira", Role.COORDINATOR)
        yield app


@pytest.fixture
def meeting(laptop):
    """An open consultation in Arabic, Sorani and Kurmanji with three questions."""
    record_id = workspace.save_consultation(
        {
            "kind": "town_hall",
            "title": {"ar": "اجتماع عام", "ckb": "کۆبوونەوەی گشتی", "ku": "Civîna giştî"},
            "original_language": "ar",
            "status": "open",
            "governorate": "IQ-NI",
            "languages": ["ar", "ckb", "ku"],
            "consent_text": {"ar": "هل توافق؟", "ckb": "ڕازیت؟"},
        }
    )
    choice = workspace.add_question(
        record_id,
        {
            "type": "single_choice",
            "original_language": "ar",
            "required": True,
            "text": {"ar": "الأولوية؟", "ckb": "ئەولەویەت؟", "ku": "Pêşînî?"},
            "options": [
                {"id": "o1", "label": {"ar": "الأمن", "ckb": "ئاسایش", "ku": "Ewlehî"}},
                {"id": "o2", "label": {"ar": "الخدمات", "ckb": "خزمەتگوزاری", "ku": "Xizmet"}},
            ],
        },
    )
    rating = workspace.add_question(
        record_id,
        {
            "type": "rating",
            "original_language": "ar",
            "text": {"ar": "التقييم؟", "ckb": "هەڵسەنگاندن؟"},
        },
    )
    text = workspace.add_question(
        record_id,
        {
            "type": "free_text",
            "original_language": "ar",
            "text": {"ar": "ماذا تقترح؟", "ckb": "پێشنیارت چییە؟"},
        },
    )
    code = intake.open_intake(record_id)
    return record_id, code, (choice, rating, text)


def answer_everything(client, code, questions, language="ckb"):
    choice, rating, text = questions
    assert client.post(f"/p/{code}", data={"language": language}).status_code == 302
    assert (
        client.post(f"/p/{code}/consent", data={"choice": "agree"})
        .headers["Location"]
        .endswith("/q/1")
    )
    assert (
        client.post(f"/p/{code}/q/1", data={f"q_{choice}": "o2", "go": "next"})
        .headers["Location"]
        .endswith("/q/2")
    )
    client.post(f"/p/{code}/q/2", data={f"q_{rating}": "٤", "go": "next"})
    assert (
        client.post(f"/p/{code}/q/3", data={f"q_{text}": SECRET_ANSWER, "go": "next"})
        .headers["Location"]
        .endswith("/about")
    )
    client.post(f"/p/{code}/about", data={"gender": "prefer_not_to_say", "go": "next"})


def test_a_participant_answers_and_submits(laptop, meeting):
    record_id, code, questions = meeting
    client = laptop.test_client()
    start = client.get(f"/p/{code}").get_data(as_text=True)
    for name in ("العربية", "کوردی (سۆرانی)", "Kurdî (Kurmancî)"):
        assert name in start
    answer_everything(client, code, questions)
    review = client.get(f"/p/{code}/review").get_data(as_text=True)
    assert '<html lang="ckb-IQ" dir="rtl">' in review
    assert SECRET_ANSWER in review
    response = client.post(f"/p/{code}/review")
    assert response.status_code == 302
    assert "/thanks" in response.headers["Location"]
    assert "fieldapp_participant=;" in response.headers["Set-Cookie"]  # the token is gone
    [row] = db.session.query(Submission).all()
    body = json.loads(row.body)
    assert body["channel"] == "kiosk"  # on the laptop itself; phones come through the listener
    assert body["language"] == "ckb"
    assert body["answers"] == {questions[0]: "o2", questions[1]: 4, questions[2]: SECRET_ANSWER}
    assert body["demographics"] == {"gender": "prefer_not_to_say"}
    assert body["consent"] is True
    assert db.session.query(ParticipantDraft).count() == 0


def test_back_reload_or_reopen_after_submit_shows_the_start(laptop, meeting):
    """The next person never sees the previous answers."""
    _record_id, code, questions = meeting
    client = laptop.test_client()
    answer_everything(client, code, questions)
    client.post(f"/p/{code}/review")
    thanks = client.get(f"/p/{code}/thanks?lang=ckb")
    assert SECRET_ANSWER not in thanks.get_data(as_text=True)
    assert thanks.headers["Cache-Control"] == "no-store"
    for path in ("/review", "/q/3", "/about", "/consent"):
        response = client.get(f"/p/{code}{path}")
        assert response.status_code == 302
        assert response.headers["Location"].endswith(f"/p/{code}")
    assert SECRET_ANSWER not in client.get(f"/p/{code}").get_data(as_text=True)


def test_answers_never_in_urls_or_cookies(laptop, meeting):
    _record_id, code, questions = meeting
    client = laptop.test_client()
    answer_everything(client, code, questions)
    for cookie in client._cookies.values():  # noqa: SLF001 -- inspecting what the browser holds
        assert SECRET_ANSWER not in cookie.value
        assert "o2" not in cookie.value


def test_double_submit_saves_once_and_shows_the_same_receipt(laptop, meeting):
    _record_id, code, questions = meeting
    client = laptop.test_client()
    answer_everything(client, code, questions)
    token = client.get_cookie("fieldapp_participant", path="/p").value
    first = client.post(f"/p/{code}/review")
    client.set_cookie("fieldapp_participant", token, path="/p")  # the retry still carries it
    second = client.post(f"/p/{code}/review")
    assert "/thanks" in first.headers["Location"]
    assert "/thanks" in second.headers["Location"]
    assert db.session.query(Submission).count() == 1


@pytest.mark.parametrize("lang", ["ar", "ckb"])
def test_required_questions_and_going_back(laptop, meeting, lang):
    _record_id, code, (choice, rating, _text) = meeting
    client = laptop.test_client()
    client.post(f"/p/{code}", data={"language": lang})
    client.post(f"/p/{code}/consent", data={"choice": "agree"})
    page = client.post(f"/p/{code}/q/1", data={"go": "next"}).get_data(as_text=True)
    assert translated(lang, "This question needs an answer.") in page
    client.post(f"/p/{code}/q/1", data={f"q_{choice}": "o1", "go": "next"})
    client.post(f"/p/{code}/q/2", data={f"q_{rating}": "3", "go": "back"})
    page = client.get(f"/p/{code}/q/1").get_data(as_text=True)
    assert re.search(r'value="o1" checked', page)  # the answer is still there
    page = client.get(f"/p/{code}/q/2").get_data(as_text=True)
    assert re.search(r'value="3" checked', page)


def test_switching_language_keeps_the_answers(laptop, meeting):
    _record_id, code, (choice, _rating, _text) = meeting
    client = laptop.test_client()
    client.post(f"/p/{code}", data={"language": "ar"})
    client.post(f"/p/{code}/consent", data={"choice": "agree"})
    client.post(f"/p/{code}/q/1", data={f"q_{choice}": "o2", "go": "next"})
    client.post(f"/p/{code}/language", data={"language": "ku", "back": f"/p/{code}/q/1"})
    page = client.get(f"/p/{code}/q/1").get_data(as_text=True)
    assert '<html lang="ku" dir="ltr">' in page
    assert "Pêşînî?" in page
    assert re.search(r'value="o2" checked', page)


def test_declining_records_nothing(laptop, meeting):
    _record_id, code, _questions = meeting
    client = laptop.test_client()
    client.post(f"/p/{code}", data={"language": "ar"})
    response = client.post(f"/p/{code}/consent", data={"choice": "decline"})
    assert "/declined" in response.headers["Location"]
    assert db.session.query(ParticipantDraft).count() == 0
    assert db.session.query(Submission).count() == 0


def test_an_idle_device_forgets_unsent_answers(laptop, meeting):
    _record_id, code, (choice, _rating, _text) = meeting
    client = laptop.test_client()
    client.post(f"/p/{code}", data={"language": "ar"})
    client.post(f"/p/{code}/consent", data={"choice": "agree"})
    client.post(f"/p/{code}/q/1", data={f"q_{choice}": "o1", "go": "next"})
    with writing() as session:
        for draft in session.query(ParticipantDraft):
            draft.updated_at = draft.updated_at - timedelta(minutes=10)
    assert client.get(f"/p/{code}/q/2").headers["Location"].endswith(f"/p/{code}")
    assert db.session.query(ParticipantDraft).count() == 0
    # And the page's own idle timer posts here:
    client.post(f"/p/{code}", data={"language": "ar"})
    assert client.post(f"/p/{code}/reset").status_code == 302
    assert db.session.query(ParticipantDraft).count() == 0


def test_unknown_or_closed_codes_are_not_found(laptop, meeting):
    record_id, code, _questions = meeting
    client = laptop.test_client()
    assert client.get("/p/ZZZZZZZ").status_code == 404
    assert client.get(f"/p/{code}").status_code == 200  # seen while open, then closed
    intake.close_intake(record_id)
    assert client.get(f"/p/{code}").status_code == 404
    assert len(code) == 7
    assert re.fullmatch(r"[23456789ABCDEFGHJKMNPQRSTUVWXYZ]{7}", code)


def test_locked_kiosk_reaches_only_participant_pages(laptop, meeting):
    """In kiosk mode every facilitator page leads back to the start; the password unlocks."""
    record_id, code, questions = meeting
    browser = laptop.test_client()
    login(browser)
    set_language(browser, "ckb")
    response = browser.post(f"/consultations/{record_id}/kiosk")
    assert response.headers["Location"].endswith(f"/p/{code}")
    for path in ("/", "/consultations", f"/consultations/{record_id}", "/admin/users", "/export"):
        assert browser.get(path).headers["Location"].endswith(f"/p/{code}"), path
    answer_everything(browser, code, questions)
    browser.post(f"/p/{code}/review")
    assert json.loads(db.session.query(Submission).one().body)["channel"] == "kiosk"
    page = browser.post("/kiosk/unlock", data={"password": "not it at all"})
    assert page.status_code == 401
    assert translated(
        "ckb", "This is not the password of the facilitator who started the kiosk."
    ) in page.get_data(as_text=True)
    assert browser.get("/consultations").status_code == 302
    response = browser.post("/kiosk/unlock", data={"password": PASSWORD})
    assert response.headers["Location"].endswith(f"/consultations/{record_id}")
    assert browser.get("/consultations").status_code == 200


def test_facilitator_opens_and_closes_input(laptop):
    browser = laptop.test_client()
    login(browser)
    record_id = workspace.save_consultation(
        {
            "kind": "survey",
            "title": {"en": "Survey"},
            "original_language": "en",
            "status": "open",
            "governorate": "IQ-BG",
            "languages": ["en"],
        }
    )
    browser.post(f"/consultations/{record_id}/intake/open")
    code = intake.open_code(record_id)
    assert code in browser.get(f"/consultations/{record_id}").get_data(as_text=True)
    browser.post(f"/consultations/{record_id}/intake/close")
    assert intake.open_code(record_id) is None
    assert records.current(record_id) is not None


def test_closing_the_consultation_closes_input(laptop, meeting):
    """Setting the consultation to closed ends its join code."""
    record_id, code, _questions = meeting
    browser = laptop.test_client()
    login(browser)
    item = workspace.get(record_id, "consultation")
    data = {
        "kind": "town_hall",
        "status": "closed",
        "title_ar": "اجتماع عام",
        "governorate": "IQ-NI",
        "languages": ["ar"],
        "original_language": "ar",
        "base_rev": item.rev,
    }
    assert browser.post(f"/consultations/{record_id}/edit", data=data).status_code == 302
    assert intake.open_code(record_id) is None
    assert laptop.test_client().get(f"/p/{code}").status_code == 404


def test_a_question_corrected_during_the_meeting_shows_at_once(laptop, meeting):
    """Participants' pages keep the meeting in memory, but never show an outdated question."""
    _record_id, code, (choice, _rating, _text) = meeting
    phone = laptop.test_client()
    phone.post(f"/p/{code}", data={"language": "ar"})
    phone.post(f"/p/{code}/consent", data={"choice": "agree"})
    assert "الأولوية؟" in phone.get(f"/p/{code}/q/1").get_data(as_text=True)
    question = workspace.get(choice, "question")
    corrected = {**question.body["text"], "ar": "ما هي الأولوية الأولى؟"}
    workspace.update_fields(question, {"text": corrected}, question.rev)
    page = phone.get(f"/p/{code}/q/1").get_data(as_text=True)
    assert "ما هي الأولوية الأولى؟" in page
    assert "الأولوية؟<" not in page


def test_changes_from_another_program_show_within_seconds(laptop, meeting, monkeypatch):
    """A change written by another process (the command line) is read again after a while."""
    record_id, code, _questions = meeting
    phone = laptop.test_client()
    assert phone.get(f"/p/{code}").status_code == 200
    with writing() as session:  # as another process would: no word to this one's caches
        session.execute(
            IntakeSession.__table__.update()
            .where(IntakeSession.consultation_id == record_id)
            .values(closed_at=utcnow())
        )
    assert phone.get(f"/p/{code}").status_code == 200  # still the remembered meeting
    monkeypatch.setattr(intake, "MEETING_CACHE_SECONDS", 0)
    assert phone.get(f"/p/{code}").status_code == 404
