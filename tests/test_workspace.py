"""The facilitator's workspace through the web pages, in English, Arabic, Sorani and Kurmanji."""

from __future__ import annotations

import json
import re

import pytest

from fieldapp.extensions import db
from fieldapp.models import DeviceRole, Role, Submission
from fieldapp.services import records, workspace

from .conftest import UI_LANGUAGES, add_user, login, set_language, translated
from .sync_world import Installation, site

FAST = "scrypt:1024:8:1"


@pytest.fixture
def laptop(tmp_path):
    """A field laptop with keys and a coordinator's account (no app context held open)."""
    ho = Installation(tmp_path / "ho", DeviceRole.HEADOFFICE, "Head office")
    laptop = Installation(tmp_path / "laptop", DeviceRole.FIELD, "Bashiqa laptop", (ho,))
    with site(laptop.folder, WTF_CSRF_ENABLED=False, PASSWORD_HASH_METHOD=FAST) as app:
        add_user(app, "amira", Role.COORDINATOR)
        yield app


@pytest.fixture
def browser(laptop):
    client = laptop.test_client()
    assert login(client).status_code == 302
    return client


CONSULTATION = {
    "kind": "lpc_meeting",
    "status": "open",
    "title_ar": "اجتماع لجنة السلام المحلية، بعشيقة",
    "title_ckb": "کۆبوونەوەی لیژنەی ئاشتیی ناوچەیی، بەعشیقە",
    "title_en": "LPC meeting, Bashiqa",
    "governorate": "IQ-NI",
    "district": "IQ-NI-AL-HAMDANIYA",
    "place": "Bashiqa community hall",
    "starts_on": "٢٠٢٦-٠٣-١٢",
    "start_time": "09:30",
    "languages": ["ar", "ckb", "en"],
    "original_language": "ar",
    "groups": "IDPs\nReturnees",
}


def create(browser, **changes) -> str:
    response = browser.post("/consultations/new", data={**CONSULTATION, **changes})
    assert response.status_code == 302, response.get_data(as_text=True)[-2000:]
    return response.headers["Location"].rsplit("/", 1)[-1]


def district_code(name: str) -> str:
    from fieldapp.services import places

    for g in places.governorates():
        for d in g.districts:
            if d.name("en") == name:
                return d.code
    raise KeyError(name)


@pytest.fixture(autouse=True)
def _real_district():
    CONSULTATION["district"] = district_code("Al-Hamdaniya")


def test_a_browser_without_a_cookie_gets_the_sign_in_page(laptop, browser):
    """Another client on the same app is not signed in because the first one is."""
    assert browser.get("/consultations").status_code == 200
    stranger = laptop.test_client()
    response = stranger.get("/consultations")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")
    page = stranger.get("/consultations", follow_redirects=True).get_data(as_text=True)
    assert translated("en", "Please sign in to see this page.") in page


@pytest.mark.parametrize("lang", UI_LANGUAGES)
def test_plan_a_consultation_in_any_language(laptop, browser, lang):
    """A facilitator plans a meeting; Arabic-Indic digits in the date are understood."""
    set_language(browser, lang)
    record_id = create(browser)
    page = browser.get(f"/consultations/{record_id}").get_data(as_text=True)
    assert translated(lang, "The consultation has been saved.") in page
    assert "2026-03-12" in page
    body = current(laptop, record_id, "consultation").body
    assert body["title"]["ckb"].startswith("کۆبوونەوە")
    assert [g["id"] for g in body["groups"]] == ["idps", "returnees"]


@pytest.mark.parametrize("lang", ["ar", "ckb", "ku"])
@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"title_ar": "", "title_ckb": "", "title_en": ""},
            "Give the consultation a title in at least one language.",
        ),
        (
            {"starts_on": "12/13/2026"},
            "This is not a date. Write it as year-month-day, e.g. 2026-03-12.",
        ),
        ({"district": "IQ-DA-ZAKHO"}, "Choose a governorate, and a district that belongs to it."),
        ({"start_time": "25:99"}, "This is not a time. Write it as hours:minutes, e.g. 09:30."),
        ({"kind": "party"}, "Please choose from the list."),
    ],
    ids=["no-title", "bad-date", "district-elsewhere", "bad-time", "bad-kind"],
)
def test_bad_consultation_input_is_explained_and_nothing_saved(
    laptop, browser, lang, changes, message
):
    set_language(browser, lang)
    response = browser.post("/consultations/new", data={**CONSULTATION, **changes})
    assert response.status_code == 200
    assert translated(lang, message) in response.get_data(as_text=True)
    with laptop.app_context():
        assert workspace.list_consultations() == []


def test_search_ignores_spelling_variants_and_filters(browser):
    """علي/علی, ة/ە, Şêxan/Sexan: search finds what was meant; filters narrow."""
    first = create(browser, title_ar="جلسة حوار مع علي", title_ckb="", title_en="")
    create(
        browser,
        title_ar="",
        title_ckb="",
        title_en="Town hall in Şêxan",
        kind="town_hall",
        status="closed",
    )
    assert first in browser.get("/consultations?q=علی").get_data(as_text=True)
    page = browser.get("/consultations?q=sexan").get_data(as_text=True)
    assert "Town hall in Şêxan" in page
    assert first not in page
    assert "Town hall in Şêxan" not in browser.get("/consultations?status=open").get_data(
        as_text=True
    )
    # Place names are searchable in every language: بعشيقة is not typed anywhere, the district is.
    assert first in browser.get("/consultations?q=Hamdaniya").get_data(as_text=True)


def add_questions(browser, record_id: str) -> list[str]:
    """Add three questions through the form; return their ids in order."""
    for data in (
        {
            "type": "single_choice",
            "text_ar": "ما هي الأولوية؟",
            "text_ckb": "ئەولەویەت چییە؟",
            "options_ar": "الأمن\nالخدمات",
            "options_ckb": "ئاسایش\nخزمەتگوزاری",
            "options_en": "Security\nServices",
            "original_language": "ar",
            "required": "y",
        },
        {"type": "rating", "text_ar": "كيف تقيّم الخدمات؟", "original_language": "ar"},
        {
            "type": "free_text",
            "text_ar": "ماذا يجب أن يحدث أولاً؟",
            "text_en": "What first?",
            "original_language": "ar",
        },
    ):
        response = browser.post(f"/consultations/{record_id}/questions", data=data)
        assert response.status_code == 302, response.get_data(as_text=True)[-1500:]
    return question_ids(browser.application, record_id)


def question_ids(app, record_id: str) -> list[str]:
    """The ids of a consultation's questions, in their order."""
    with app.app_context():
        return [q.id for q in workspace.questions_of(record_id)]


def current(app, record_id: str, kind: str) -> workspace.Item:
    """A record as the workspace holds it now."""
    with app.app_context():
        return workspace.get(record_id, kind)


def test_question_sheet_builder(laptop, browser):
    """Add, reorder, edit, remove; missing translations shown; preview per language."""
    record_id = create(browser)
    first, second, third = add_questions(browser, record_id)
    page = browser.get(f"/consultations/{record_id}/questions").get_data(as_text=True)
    assert "Missing translations:" in page
    browser.post(f"/consultations/{record_id}/questions/{third}/move/up")
    assert question_ids(laptop, record_id) == [first, third, second]
    question = current(laptop, second, "question")
    response = browser.post(
        f"/consultations/{record_id}/questions/{second}",
        data={
            "type": "rating",
            "text_ar": "كيف تقيّم الخدمات في منطقتك؟",
            "text_ckb": "خزمەتگوزارییەکان چۆنن؟",
            "original_language": "ar",
            "base_rev": question.rev,
        },
    )
    assert response.status_code == 302
    browser.post(
        f"/consultations/{record_id}/questions/{first}/delete",
        data={"base_rev": current(laptop, first, "question").rev},
    )
    assert question_ids(laptop, record_id) == [third, second]
    preview = browser.get(f"/consultations/{record_id}/preview?in=ckb").get_data(as_text=True)
    assert '<html lang="ckb-IQ" dir="rtl">' in preview
    assert "خزمەتگوزارییەکان چۆنن؟" in preview
    assert preview.count('class="face"') == 5
    english = browser.get(f"/consultations/{record_id}/preview?in=en").get_data(as_text=True)
    assert '<html lang="en" dir="ltr">' in english
    assert "What first?" in english


@pytest.mark.parametrize("lang", ["ar", "ckb", "ku"])
def test_choice_question_without_options_is_refused(laptop, browser, lang):
    set_language(browser, lang)
    record_id = create(browser)
    response = browser.post(
        f"/consultations/{record_id}/questions",
        data={
            "type": "single_choice",
            "text_ar": "سؤال",
            "options_ar": "خيار واحد",
            "original_language": "ar",
        },
    )
    assert translated(lang, "A choice question needs at least two options.") in response.get_data(
        as_text=True
    )
    assert question_ids(laptop, record_id) == []


def test_stale_edit_shows_what_changed(laptop, browser):
    """Someone saved first: the form is not overwritten, the differences are shown."""
    record_id = create(browser)
    old_rev = current(laptop, record_id, "consultation").rev
    assert (
        browser.post(
            f"/consultations/{record_id}/edit",
            data={**CONSULTATION, "place": "Mosul", "base_rev": old_rev},
        ).status_code
        == 302
    )
    response = browser.post(
        f"/consultations/{record_id}/edit",
        data={**CONSULTATION, "place": "Bashiqa school", "base_rev": old_rev},
    )
    page = response.get_data(as_text=True)
    assert "Someone else changed this record since you opened it." in page
    assert "Mosul" in page
    assert "Bashiqa school" in page
    assert current(laptop, record_id, "consultation").body["place"] == "Mosul"


@pytest.mark.parametrize("lang", ["en", "ckb", "ku"])
def test_attendance_counts(laptop, browser, lang):
    set_language(browser, lang)
    record_id = create(browser)
    data = {
        "c_woman_18_29": "٥",
        "c_man_30_44": "7",
        "c_prefer_not_to_say_60_plus": "1",
        "g_idps": "4",
    }
    response = browser.post(
        f"/consultations/{record_id}/attendance", data=data, follow_redirects=True
    )
    assert translated(lang, "Attendance has been saved: %(n)s people.", n=13) in response.get_data(
        as_text=True
    )
    with laptop.app_context():
        attendance = workspace.attendance_of(record_id)
    assert workspace.attendance_total(attendance) == 13
    assert attendance.body["group_counts"] == [{"group": "idps", "count": 4}]


@pytest.mark.parametrize("value", ["-3", "abc", "2.5"])
def test_negative_or_odd_counts_are_refused(laptop, browser, value):
    record_id = create(browser)
    set_language(browser, "ar")
    response = browser.post(f"/consultations/{record_id}/attendance", data={"c_woman_18_29": value})
    assert translated("ar", "Counts are whole numbers, 0 or more.") in response.get_data(
        as_text=True
    )
    with laptop.app_context():
        assert workspace.attendance_of(record_id) is None


def submissions(app) -> list[Submission]:
    """The submissions the laptop holds."""
    with app.app_context():
        return db.session.query(Submission).all()


def test_capture_save_and_next(laptop, browser):
    """Typed contributions are submissions like kiosk ones; a double submit saves once."""
    record_id = create(browser)
    first, _rating, third = add_questions(browser, record_id)
    page = browser.get(f"/consultations/{record_id}/capture").get_data(as_text=True)
    key = re.search(r'name="idempotency_key" value="([0-9a-f]+)"', page).group(1)
    data = {
        "channel": "spoken",
        "language": "ckb",
        "consent_method": "spoken",
        f"q_{first}": "o1",
        f"q_{third}": "ڕێگاکە داخراوە",
        "gender": "woman",
        "age_band": "prefer_not_to_say",
        "idempotency_key": key,
    }
    response = browser.post(f"/consultations/{record_id}/capture", data=data)
    assert response.status_code == 302
    assert "channel=spoken" in response.headers["Location"]
    browser.post(f"/consultations/{record_id}/capture", data=data)  # pressed twice
    rows = submissions(laptop)
    assert len(rows) == 1
    body = json.loads(rows[0].body)
    assert body["channel"] == "spoken"
    assert body["answers"] == {first: "o1", third: "ڕێگاکە داخراوە"}
    assert body["demographics"] == {"gender": "woman", "age_band": "prefer_not_to_say"}
    # Required question left empty: explained, nothing saved.
    response = browser.post(
        f"/consultations/{record_id}/capture",
        data={**data, f"q_{first}": "", "idempotency_key": "other"},
    )
    assert "Please answer the questions marked as required." in response.get_data(as_text=True)
    assert len(submissions(laptop)) == 1


def action_ids(app, record_id: str) -> list[str]:
    """The ids of a consultation's action points, in their order."""
    with app.app_context():
        return [a.id for a in workspace.actions_of(record_id)]


def test_action_plan_and_follow_up(laptop, browser):
    """Add, reorder, update with a progress note; open points are listed across consultations."""
    record_id = create(browser)
    for text in ("إصلاح طريق القرية", "اجتماع مع مديرية التربية"):
        response = browser.post(
            f"/consultations/{record_id}/actions",
            data={
                "text_ar": text,
                "responsible": "المجلس المحلي",
                "due_on": "2026-06-01",
                "priority": "high",
                "status": "agreed",
                "original_language": "ar",
            },
        )
        assert response.status_code == 302
    first, second = action_ids(laptop, record_id)
    browser.post(f"/consultations/{record_id}/actions/{second}/move/up")
    assert action_ids(laptop, record_id) == [second, first]
    action = current(laptop, first, "action_point")
    assert action.body["agreed_at"] == record_id
    response = browser.post(
        f"/actions/{first}",
        data={
            "note-base_rev": action.rev,
            "note-on": "2026-06-10",
            "note-text": "بدأ العمل",
            "note-status": "in_progress",
        },
    )
    assert response.status_code == 302
    action = current(laptop, first, "action_point")
    assert action.body["status"] == "in_progress"
    assert action.body["notes"] == [{"on": "2026-06-10", "text": "بدأ العمل"}]
    page = browser.get("/actions").get_data(as_text=True)
    assert "إصلاح طريق القرية" in page
    assert "اجتماع مع مديرية التربية" in page


def test_minutes_and_print_summary(laptop, browser):
    """Minutes in the meeting's language; the printed summary is in that language and direction."""
    record_id = create(browser)
    first, _rating, _third = add_questions(browser, record_id)
    browser.post(f"/consultations/{record_id}/attendance", data={"c_woman_18_29": "5"})
    item = current(laptop, record_id, "consultation")
    response = browser.post(
        f"/consultations/{record_id}/minutes",
        data={"minutes_ckb": "کۆبوونەوەکە باش بوو.", "base_rev": item.rev},
    )
    assert response.status_code == 302
    page = browser.get(f"/consultations/{record_id}/print?in=ckb").get_data(as_text=True)
    assert '<html lang="ckb-IQ" dir="rtl">' in page
    assert "کۆبوونەوەکە باش بوو." in page
    assert "کەس ئامادە بوو" in page
    assert "css/print." in page
    assert browser.get(f"/consultations/{record_id}/print?in=xx").status_code == 400


def test_templates_round_trip_between_installations(browser, laptop, tmp_path):
    """Save questions as a template, start a consultation from it, send it as a signed file."""
    record_id = create(browser)
    add_questions(browser, record_id)
    browser.post(
        f"/consultations/{record_id}/template", data={"name_en": "LPC standard", "name_ar": "قالب"}
    )
    with laptop.app_context():
        [template] = workspace.templates()
    response = browser.post(
        f"/consultations/new?template={template.id}", data={**CONSULTATION, "template": template.id}
    )
    assert response.status_code == 302
    new_id = response.headers["Location"].rsplit("/", 1)[-1]
    assert len(question_ids(laptop, new_id)) == 3
    download = browser.get(f"/templates/{template.id}/file")
    assert download.headers["Content-Disposition"].startswith("attachment;")
    data = download.data
    # The same laptop imports its own file again: nothing duplicated.
    import io

    response = browser.post(
        "/templates",
        data={"file": (io.BytesIO(data), "t.json")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 302
    with laptop.app_context():
        assert len(workspace.templates()) == 1
    tampered = data.replace(b"LPC standard", b"LPC modified")
    set_language(browser, "ckb")
    response = browser.post(
        "/templates",
        data={"file": (io.BytesIO(tampered), "t.json")},
        content_type="multipart/form-data",
    )
    assert translated(
        "ckb", "The signature of this template does not match its installation."
    ) in response.get_data(as_text=True)
    response = browser.post(
        "/templates",
        data={"file": (io.BytesIO(b"{not json"), "t.json")},
        content_type="multipart/form-data",
    )
    assert translated(
        "ckb", "This template file is damaged or is not a fieldapp template."
    ) in response.get_data(as_text=True)


def test_overview_counts(laptop, browser):
    record_id = create(browser)
    first, rating, _third = add_questions(browser, record_id)
    with laptop.app_context():
        for number, answer in enumerate(("o1", "o2", "o1")):
            records.add_submission(
                record_id, {first: answer, rating: 4}, "ar", "paper", f"form-{number}"
            )
    page = browser.get(f"/consultations/{record_id}").get_data(as_text=True)
    with laptop.app_context():
        summary = workspace.overview(record_id)
    assert summary.contributions == 3
    assert summary.by_channel == {"paper": 3}
    assert summary.choices[first]["o1"] == 2
    assert ">Security</span>: 2" in page


def test_template_from_an_unknown_installation_is_refused(laptop, browser, tmp_path):
    """A template signed by an installation this laptop does not know is not added."""
    import io

    stranger = Installation(tmp_path / "stranger", DeviceRole.HEADOFFICE, "Unknown office")
    with stranger.session():
        source, _rev = records.create(
            "consultation",
            {
                "kind": "survey",
                "title": {"en": "x"},
                "original_language": "en",
                "status": "draft",
                "governorate": "IQ-BG",
            },
        )
        workspace.add_question(
            source, {"type": "yes_no", "text": {"en": "Safe?"}, "original_language": "en"}
        )
        template_id = workspace.save_as_template(source, {"en": "Foreign"}, "en")
        data = workspace.template_file(template_id, stranger.folder)
    set_language(browser, "ar")
    response = browser.post(
        "/templates",
        data={"file": (io.BytesIO(data), "t.json")},
        content_type="multipart/form-data",
    )
    assert translated(
        "ar", "This template comes from an installation that is not registered here."
    ) in response.get_data(as_text=True)
    with laptop.app_context():
        assert workspace.templates() == []
