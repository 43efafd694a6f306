"""How consent was given: said aloud, in writing, not asked, or on the participant's screen.

A facilitator typing a contribution says how consent was given (for the consultation or for
each contribution); "not asked" is a choice, never a default. The printed summary and every
file of contributions say it; a file from a laptop that does not record it still merges, and
a file that records it falsely is refused.
"""

from __future__ import annotations

import csv
import io
import json
import re

import openpyxl
import pytest

from fieldapp.extensions import db
from fieldapp.models import DeviceRole, Role, Submission
from fieldapp.services import contribution_query, intake, records, workspace
from fieldapp.services.analysis import exports
from fieldapp.services.sync import schema
from fieldapp.services.sync.bundle import member_name
from fieldapp.services.sync.revisions import canonical_json

from .conftest import add_user, login, set_language, translated, translated_plural
from .participants import agree
from .sync_world import Installation, site
from .test_sync_refusals import decrypted, rebuild, snapshot

FAST = "scrypt:1024:8:1"
SUBMISSIONS = member_name("submission")


@pytest.fixture
def installations(tmp_path):
    ho = Installation(tmp_path / "ho", DeviceRole.HEADOFFICE, "Erbil head office")
    laptop = Installation(tmp_path / "laptop", DeviceRole.FIELD, "Bashiqa laptop", (ho,))
    ho.register(laptop)
    return ho, laptop


@pytest.fixture
def meeting(installations):
    """An open town hall in Arabic and Sorani with one free-text question."""
    _ho, laptop = installations
    with laptop.session():
        record_id = workspace.save_consultation(
            {
                "kind": "town_hall",
                "title": {"ar": "اجتماع عام", "ckb": "کۆبوونەوەی گشتی"},
                "original_language": "ar",
                "status": "open",
                "governorate": "IQ-NI",
                "languages": ["ar", "ckb"],
            }
        )
        question = workspace.add_question(
            record_id,
            {"type": "free_text", "text": {"ar": "ماذا تقترح؟"}, "original_language": "ar"},
        )
    return record_id, question


@pytest.fixture
def laptop_app(installations):
    _ho, laptop = installations
    with site(laptop.folder, WTF_CSRF_ENABLED=False, PASSWORD_HASH_METHOD=FAST) as app:
        add_user(app, "amira", Role.COORDINATOR)
        yield app


@pytest.fixture
def browser(laptop_app):
    client = laptop_app.test_client()
    assert login(client).status_code == 302
    return client


def capture(browser, record_id, question, words, **fields):
    data = {
        "channel": "spoken",
        "language": "ar",
        f"q_{question}": words,
        "idempotency_key": words[:20].encode().hex()[:64],
        **fields,
    }
    return browser.post(f"/consultations/{record_id}/capture", data=data)


def stored(app) -> dict[str, dict]:
    """The laptop's submissions by their first answer."""
    with app.app_context():
        bodies = [json.loads(s.body) for s in db.session.query(Submission).all()]
    return {next(iter(b["answers"].values())): b for b in bodies}


# ---- the capture screen --------------------------------------------------------------------


def test_each_choice_on_the_capture_screen_is_stored(laptop_app, browser, meeting):
    record_id, question = meeting
    for method in ("spoken", "written", "not_asked"):
        response = capture(browser, record_id, question, f"رأي {method}", consent_method=method)
        assert response.status_code == 302
        assert f"consent_method={method}" in response.headers["Location"]  # kept for the next
    saved = stored(laptop_app)
    assert saved["رأي spoken"]["consent_method"] == "spoken"
    assert saved["رأي written"]["consent_method"] == "written"
    assert saved["رأي not_asked"]["consent_method"] == "not_asked"
    assert [saved[f"رأي {m}"]["consent"] for m in ("spoken", "written", "not_asked")] == [
        True,
        True,
        False,
    ]


def test_not_asked_is_said_when_it_is_saved(browser, meeting):
    record_id, question = meeting
    response = capture(browser, record_id, question, "رأي", consent_method="not_asked")
    page = browser.get(response.headers["Location"]).get_data(as_text=True)
    assert "Saved without consent" in page
    assert re.search(r'value="not_asked"\s+checked', page)


@pytest.mark.parametrize(
    "given", [None, "", "yes", "on_screen"], ids=["absent", "empty", "yes", "screen"]
)
def test_no_choice_saves_nothing_and_says_why_in_arabic(laptop_app, browser, meeting, given):
    """Without a choice (and no setting on the consultation) nothing is saved: "not asked"
    is never a silent default, and "on screen" is not the facilitator's to claim."""
    record_id, question = meeting
    set_language(browser, "ar")
    fields = {} if given is None else {"consent_method": given}
    response = capture(browser, record_id, question, "رأي بلا موافقة", **fields)
    assert response.status_code == 200
    message = "Choose how consent was given: said aloud, in writing, or not asked."
    assert translated("ar", message) in response.get_data(as_text=True)
    assert stored(laptop_app) == {}


@pytest.mark.parametrize(
    "fields",
    [{}, {"consent_method": "spoken", "channel": ""}],
    ids=["no consent choice", "no channel"],
)
def test_what_was_typed_is_shown_again_when_a_choice_is_missing(
    laptop_app, browser, meeting, fields
):
    """The facilitator forgot a choice: are the typed words and the speaker still on the page,
    so that pressing Save again after choosing loses nothing?"""
    record_id, question = meeting
    words = "نريد مدرسة للبنات في القرية"
    response = capture(
        browser, record_id, question, words, gender="woman", age_band="18_29", **fields
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert stored(laptop_app) == {}
    assert f">{words}</textarea>" in page
    assert re.search(r'<option value="woman"\s+selected>', page)
    assert re.search(r'<option value="18_29"\s+selected>', page)


def test_the_consultation_s_setting_is_the_capture_screen_s_default(laptop_app, browser, meeting):
    record_id, question = meeting
    page = browser.get(f"/consultations/{record_id}/capture").get_data(as_text=True)
    assert not re.search(r'name="consent_method" value="[a-z_]+"\s+checked', page)
    edit = browser.get(f"/consultations/{record_id}/edit").get_data(as_text=True)
    assert 'name="consent_method"' in edit
    with laptop_app.app_context():
        item = workspace.get(record_id, "consultation")
        workspace.update_fields(item, {"consent_method": "written"}, item.rev)
    page = browser.get(f"/consultations/{record_id}/capture").get_data(as_text=True)
    assert re.search(r'name="consent_method" value="written"\s+checked', page)
    # A facilitator may still choose otherwise for one contribution.
    capture(browser, record_id, question, "قال ذلك بصوت عالٍ", consent_method="spoken")
    assert stored(laptop_app)["قال ذلك بصوت عالٍ"]["consent_method"] == "spoken"


def test_the_consultation_form_saves_the_setting_and_only_known_values(
    laptop_app, browser, meeting
):
    record_id, _question = meeting
    form = browser.get(f"/consultations/{record_id}/edit").get_data(as_text=True)
    fields = dict(re.findall(r'name="(\w+)"[^>]*value="([^"]*)"', form))
    fields.update(
        kind="town_hall",
        status="open",
        title_ar="اجتماع عام",
        governorate="IQ-NI",
        original_language="ar",
        languages=["ar", "ckb"],
        consent_method="not_asked",
    )
    response = browser.post(f"/consultations/{record_id}/edit", data=fields)
    assert response.status_code == 302, response.get_data(as_text=True)[-1500:]
    with laptop_app.app_context():
        body = workspace.get(record_id, "consultation").body
    assert body["consent_method"] == "not_asked"
    form = browser.get(f"/consultations/{record_id}/edit").get_data(as_text=True)
    fields["base_rev"] = re.search(r'name="base_rev" type="hidden" value="([^"]+)"', form).group(1)
    response = browser.post(
        f"/consultations/{record_id}/edit", data={**fields, "consent_method": "on_screen"}
    )
    assert response.status_code == 200
    assert "Please choose from the list." in response.get_data(as_text=True)


def test_a_participant_at_the_kiosk_consents_on_screen(laptop_app, meeting):
    record_id, question = meeting
    with laptop_app.app_context():
        code = intake.open_intake(record_id)
    client = laptop_app.test_client()
    agree(client, code, "ar")
    client.post(f"/p/{code}/q/1", data={f"q_{question}": "من الشاشة", "go": "next"})
    client.post(f"/p/{code}/about", data={"go": "next"})
    assert client.post(f"/p/{code}/review").status_code == 302
    body = stored(laptop_app)["من الشاشة"]
    assert (body["channel"], body["consent"], body["consent_method"]) == (
        "kiosk",
        True,
        "on_screen",
    )


# ---- the printed summary and the files -----------------------------------------------------


def test_the_printed_summary_counts_each_way_and_flags_not_asked(browser, meeting):
    record_id, question = meeting
    for number, method in enumerate(("spoken", "spoken", "written", "not_asked")):
        capture(browser, record_id, question, f"رأي {number}", consent_method=method)
    page = browser.get(f"/consultations/{record_id}/print?in=ar").get_data(as_text=True)
    assert translated("ar", "Consent") in page
    for label, count in (("Said aloud", 2), ("In writing", 1), ("Not asked", 1)):
        assert f"<bdi>{translated('ar', label)}</bdi>: {count}" in page
    warning = translated_plural(
        "ar",
        "%(num)s contribution was recorded without asking for consent.",
        "%(num)s contributions were recorded without asking for consent.",
        1,
    )
    assert warning in page


def test_a_summary_without_not_asked_has_no_warning(browser, meeting):
    record_id, question = meeting
    capture(browser, record_id, question, "رأي", consent_method="written")
    page = browser.get(f"/consultations/{record_id}/print?in=ar").get_data(as_text=True)
    assert 'class="not-asked"' not in page


def export_rows(app, fmt: str = "csv", lang: str = "ar") -> list[list]:
    out = io.BytesIO()
    with app.app_context():
        request = exports.ExportRequest(contribution_query.Filters(), fmt, lang)
        exports.write(request, out)
    if fmt == "csv":
        return list(csv.reader(io.StringIO(out.getvalue().decode("utf-8-sig"), newline="")))
    book = openpyxl.load_workbook(io.BytesIO(out.getvalue()), read_only=True)
    sheet = book.worksheets[1]  # after the About sheet
    return [list(row) for row in sheet.iter_rows(values_only=True)]


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_the_files_of_contributions_have_a_consent_column_in_arabic(
    laptop_app, browser, meeting, fmt
):
    record_id, question = meeting
    for method in ("spoken", "written", "not_asked"):
        capture(browser, record_id, question, f"رأي {method}", consent_method=method)
    header, *rows = export_rows(laptop_app, fmt)
    column = header.index(translated("ar", "Consent"))
    answers = header.index("ماذا تقترح؟")
    shown = {row[answers]: row[column] for row in rows}
    assert shown == {
        "رأي spoken": translated("ar", "Said aloud"),
        "رأي written": translated("ar", "In writing"),
        "رأي not_asked": translated("ar", "Not asked"),
    }


# ---- files between laptop and head office --------------------------------------------------


def old_style_submissions(laptop, record_id, question) -> None:
    """What a laptop without this feature saved: no consent_method, consent true."""
    with laptop.session():
        for channel in ("spoken", "kiosk"):
            records.add_submission(record_id, {question: f"قديم {channel}"}, "ar", channel, channel)


def test_a_file_without_the_field_still_merges_and_says_not_recorded(
    installations, meeting, tmp_path
):
    ho, laptop = installations
    record_id, question = meeting
    old_style_submissions(laptop, record_id, question)
    with laptop.session():
        records.add_submission(
            record_id, {question: "جديد"}, "ar", "paper", "new", None, True, "written"
        )
    [summary] = ho.merge(laptop.export(tmp_path))
    assert summary.ok, summary.error
    with site(ho.folder) as app:
        header, *rows = export_rows(app, lang="en")
    column, answers = header.index("Consent"), header.index("ماذا تقترح؟")
    assert {row[answers]: row[column] for row in rows} == {
        "قديم spoken": "Not recorded",  # typed before fieldapp asked: never guessed
        "قديم kiosk": "On screen, by the participant",  # the kiosk always asked
        "جديد": "In writing",
    }


@pytest.mark.parametrize(
    ("change", "detail"),
    [
        ({"consent_method": "nodded"}, "consent_method"),
        ({"consent_method": "not_asked"}, "consent_method"),  # with consent: true
        ({"consent_method": "on_screen"}, "consent_method"),  # typed, yet "on screen"
        ({"consent_method": None}, "consent_method"),
    ],
    ids=["unknown", "not-asked-but-consented", "typed-on-screen", "null"],
)
def test_a_file_with_a_false_consent_is_refused(installations, meeting, tmp_path, change, detail):
    ho, laptop = installations
    record_id, question = meeting
    with laptop.session():
        records.add_submission(
            record_id, {question: "رأي"}, "ar", "spoken", "k", None, True, "spoken"
        )
    world = {"a": laptop, "ho": ho, "files": {"L1": laptop.export(tmp_path)}}
    members = decrypted(world, "L1")
    [line] = members[SUBMISSIONS].splitlines()
    members[SUBMISSIONS] = canonical_json({**json.loads(line), **change}) + b"\n"
    before = snapshot(ho)
    path = tmp_path / "false.fieldsync"
    path.write_bytes(rebuild(world, members))
    [summary] = ho.merge(path)
    assert not summary.ok
    assert "not valid" in summary.error
    assert detail in summary.error
    assert snapshot(ho) == before


def test_the_schema_keeps_consent_and_its_way_in_agreement():
    def record(**fields):
        return {
            "uuid": "00000000-0000-4000-8000-000000000001",
            "consultation": "00000000-0000-4000-8000-000000000002",
            "device": "00000000-0000-4000-8000-000000000003",
            "created_at": "2026-03-12T09:30:00Z",
            "language": "ar",
            "channel": "spoken",
            "consent": True,
            "idempotency_key": "k",
            "answers": {},
            **fields,
        }

    assert schema.is_valid_submission(record())  # an old record, without the field
    assert schema.is_valid_submission(record(consent_method="written"))
    assert schema.is_valid_submission(record(consent_method="not_asked", consent=False))
    assert schema.is_valid_submission(record(channel="own_device", consent_method="on_screen"))
    assert not schema.is_valid_submission(record(consent_method="not_asked"))
    assert not schema.is_valid_submission(record(consent_method="written", consent=False))
    assert not schema.is_valid_submission(record(channel="kiosk", consent_method="spoken"))
    with pytest.raises(schema.RecordInvalid, match="consent_method"):
        schema.check_submission(record(consent_method="on_screen"))


def test_a_kiosk_record_that_says_no_consent_is_never_shown_as_consent_on_screen():
    """An older kiosk record carries no way of consent; if it says consent was not given,
    does any page or file still claim the participant agreed on screen?"""
    from fieldapp.services import consent as consent_service

    assert consent_service.method_of({"channel": "kiosk", "consent": True}) == "on_screen"
    assert consent_service.method_of({"channel": "kiosk", "consent": False}) == "not_recorded"
    assert consent_service.method_of({"channel": "own_device", "consent": False}) == "not_recorded"
