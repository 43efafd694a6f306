"""Participants' own voice on a shared device: the flow, privacy, and the locked kiosk."""

from __future__ import annotations

import json
import re
import time
from datetime import timedelta

import pytest

from fieldapp.database import writing
from fieldapp.extensions import db
from fieldapp.models import DeviceRole, IntakeSession, ParticipantDraft, Role, Submission
from fieldapp.models.types import utcnow
from fieldapp.services import intake, records, workspace

from .conftest import PASSWORD, add_user, login, set_language, translated, translated_plural
from .participants import agree
from .sync_world import Installation, site

SECRET_ANSWER = "ڕێگای گوندەکە داخراوە"


@pytest.fixture
def laptop(tmp_path):
    ho = Installation(tmp_path / "ho", DeviceRole.HEADOFFICE, "Head office")
    laptop = Installation(tmp_path / "laptop", DeviceRole.FIELD, "Bashiqa laptop", (ho,))
    with site(laptop.folder, WTF_CSRF_ENABLED=False, PASSWORD_HASH_METHOD="scrypt:1024:8:1") as app:
        add_user(app, "amira", Role.COORDINATOR)
        yield app


@pytest.fixture
def meeting(laptop):
    """An open consultation in Arabic, Sorani and Kurmanji with three questions."""
    with laptop.app_context():
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


def drafts(app) -> int:
    """Unsent answers the laptop holds."""
    with app.app_context():
        return db.session.query(ParticipantDraft).count()


def answer_everything(client, code, questions, language="ckb"):
    choice, rating, text = questions
    assert agree(client, code, language).headers["Location"].endswith("/q/1")
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
    with laptop.app_context():
        [row] = db.session.query(Submission).all()
        drafts = db.session.query(ParticipantDraft).count()
    body = json.loads(row.body)
    assert body["channel"] == "kiosk"  # on the laptop itself; phones come through the listener
    assert body["language"] == "ckb"
    assert body["answers"] == {questions[0]: "o2", questions[1]: 4, questions[2]: SECRET_ANSWER}
    assert body["demographics"] == {"gender": "prefer_not_to_say"}
    assert body["consent"] is True
    assert drafts == 0


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
    with laptop.app_context():
        assert db.session.query(Submission).count() == 1


@pytest.mark.parametrize("lang", ["ar", "ckb", "ku"])
def test_required_questions_and_going_back(laptop, meeting, lang):
    _record_id, code, (choice, rating, _text) = meeting
    client = laptop.test_client()
    agree(client, code, lang)
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
    agree(client, code, "ar")
    client.post(f"/p/{code}/q/1", data={f"q_{choice}": "o2", "go": "next"})
    client.post(f"/p/{code}/language", data={"language": "ku", "back": f"/p/{code}/q/1"})
    page = client.get(f"/p/{code}/q/1").get_data(as_text=True)
    assert '<html lang="ku" dir="ltr">' in page
    assert "Pêşînî?" in page
    assert re.search(r'value="o2" checked', page)


def test_declining_records_nothing(laptop, meeting):
    _record_id, code, _questions = meeting
    client = laptop.test_client()
    consent = client.post(f"/p/{code}", data={"language": "ar"}).headers["Location"]
    response = client.post(consent, data={"choice": "decline"})
    assert "/declined" in response.headers["Location"]
    assert client.get_cookie("fieldapp_participant", path="/p") is None
    with laptop.app_context():
        assert db.session.query(ParticipantDraft).count() == 0
        assert db.session.query(Submission).count() == 0


def test_an_idle_device_forgets_unsent_answers(laptop, meeting):
    _record_id, code, (choice, _rating, _text) = meeting
    client = laptop.test_client()
    agree(client, code, "ar")
    client.post(f"/p/{code}/q/1", data={f"q_{choice}": "o1", "go": "next"})
    with laptop.app_context(), writing() as session:
        for draft in session.query(ParticipantDraft):
            draft.updated_at = draft.updated_at - timedelta(minutes=10)
    assert client.get(f"/p/{code}/q/2").headers["Location"].endswith(f"/p/{code}")
    assert drafts(laptop) == 0
    # And the page's own idle timer posts here:
    agree(client, code, "ar")
    assert drafts(laptop) == 1
    assert client.post(f"/p/{code}/reset").status_code == 302
    assert drafts(laptop) == 0


def test_unknown_codes_are_not_found_and_closed_ones_say_so(laptop, meeting):
    """A code that never existed is not found; a closed one is gone (tests/test_hotspot.py)."""
    record_id, code, _questions = meeting
    client = laptop.test_client()
    assert client.get("/p/ZZZZZZZ").status_code == 404
    assert client.get(f"/p/{code}").status_code == 200  # seen while open, then closed
    with laptop.app_context():
        intake.close_intake(record_id)
    assert client.get(f"/p/{code}").status_code == 410
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
    with laptop.app_context():
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
    with laptop.app_context():
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
    with laptop.app_context():
        code = intake.open_code(record_id)
    assert code in browser.get(f"/consultations/{record_id}").get_data(as_text=True)
    browser.post(f"/consultations/{record_id}/intake/close")
    with laptop.app_context():
        assert intake.open_code(record_id) is None
        assert records.current(record_id) is not None


def test_closing_the_consultation_closes_input(laptop, meeting):
    """Setting the consultation to closed ends its join code."""
    record_id, code, _questions = meeting
    browser = laptop.test_client()
    login(browser)
    with laptop.app_context():
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
    with laptop.app_context():
        assert intake.open_code(record_id) is None
    assert laptop.test_client().get(f"/p/{code}").status_code == 410  # input has closed


def test_a_question_corrected_during_the_meeting_shows_at_once(laptop, meeting):
    """Participants' pages keep the meeting in memory, but never show an outdated question."""
    _record_id, code, (choice, _rating, _text) = meeting
    phone = laptop.test_client()
    agree(phone, code, "ar")
    assert "الأولوية؟" in phone.get(f"/p/{code}/q/1").get_data(as_text=True)
    with laptop.app_context():
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
    # As another process would: no word to this one's caches.
    with laptop.app_context(), writing() as session:
        session.execute(
            IntakeSession.__table__.update()
            .where(IntakeSession.consultation_id == record_id)
            .values(closed_at=utcnow())
        )
    assert phone.get(f"/p/{code}").status_code == 200  # still the remembered meeting
    monkeypatch.setattr(intake, "MEETING_CACHE_SECONDS", 0)
    assert phone.get(f"/p/{code}").status_code == 410  # input has closed


WAIT_SINGULAR = "Too many wrong passwords on this kiosk. Wait %(num)s second and try again."
WAIT_PLURAL = "Too many wrong passwords on this kiosk. Wait %(num)s seconds and try again."


def kiosk_browser(laptop, record_id, lang="en"):
    """The facilitator's browser, turned into a kiosk for the meeting."""
    browser = laptop.test_client()
    assert login(browser).status_code == 302
    set_language(browser, lang)
    assert browser.post(f"/consultations/{record_id}/kiosk").status_code == 302
    return browser


def unlock(browser, password):
    """One try at the kiosk's unlock form: (status, page)."""
    response = browser.post("/kiosk/unlock", data={"password": password})
    return response.status_code, response.get_data(as_text=True)


def unlock_audit(laptop):
    """The audit log's kiosk events: (action, account name, consultation)."""
    from fieldapp.models import AuditEvent, User

    with laptop.app_context():
        rows = db.session.query(AuditEvent, User).join(User, AuditEvent.actor_id == User.id)
        return [
            (event.action, user.username, event.subject)
            for event, user in rows.order_by(AuditEvent.id)
            if event.action.startswith("kiosk.")
        ]


def test_wrong_unlocks_never_lock_the_facilitator_out(laptop, meeting):
    """Ten wrong passwords at the kiosk: the kiosk is slowed, the account signs in at once."""
    record_id, code, _questions = meeting
    kiosk = kiosk_browser(laptop, record_id)
    statuses = [unlock(kiosk, f"guess number {n}")[0] for n in range(10)]
    assert statuses == [401] * 3 + [429] * 7
    assert kiosk.get("/consultations").headers["Location"].endswith(f"/p/{code}")  # locked
    elsewhere = laptop.test_client()
    assert login(elsewhere).status_code == 302
    assert elsewhere.get("/consultations").status_code == 200
    assert unlock_audit(laptop) == [("kiosk.unlock_failed", "amira", record_id)] * 3


@pytest.mark.parametrize("lang", ["en", "ku"])
def test_the_kiosk_waits_longer_after_each_wrong_password(laptop, meeting, lang):
    """After three wrong passwords, 2 s, then 4 s, and the page says how long."""
    record_id, code, _questions = meeting
    kiosk = kiosk_browser(laptop, record_id, lang)
    for n in range(3):
        assert unlock(kiosk, f"guess number {n}")[0] == 401
    status, page = unlock(kiosk, PASSWORD)  # even the right password waits its turn
    assert status == 429
    assert translated_plural(lang, WAIT_SINGULAR, WAIT_PLURAL, 2) in page
    assert kiosk.get("/consultations").headers["Location"].endswith(f"/p/{code}")
    time.sleep(2.1)
    assert unlock(kiosk, "guess number 3")[0] == 401
    status, page = unlock(kiosk, PASSWORD)
    assert status == 429
    assert translated_plural(lang, WAIT_SINGULAR, WAIT_PLURAL, 4) in page
    time.sleep(4.1)
    status, _page = unlock(kiosk, PASSWORD)
    assert status == 302
    assert kiosk.get("/consultations").status_code == 200
    assert unlock_audit(laptop) == [
        *[("kiosk.unlock_failed", "amira", record_id)] * 4,
        ("kiosk.unlocked", "amira", record_id),
    ]


def test_another_kiosk_is_not_slowed(laptop, meeting):
    """The delay belongs to the kiosk where the guesses were made."""
    record_id, _code, _questions = meeting
    guessed_at = kiosk_browser(laptop, record_id)
    for n in range(4):
        unlock(guessed_at, f"guess number {n}")
    other = kiosk_browser(laptop, record_id)
    assert unlock(other, PASSWORD)[0] == 302


def test_delays_grow_and_stop_growing():
    """2, 4, 8 ... seconds after the third failure, never more than five minutes."""
    from fieldapp.auth.kiosk import FREE_TRIES, MAX_WAIT_SECONDS
    from fieldapp.ratelimit import GrowingDelay

    delays = GrowingDelay(FREE_TRIES, MAX_WAIT_SECONDS)
    waits = [delays.delay_after(n) for n in range(13)]
    assert waits == [0, 0, 0, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300]
