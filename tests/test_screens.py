"""Screens as they were seen (issue #9): lists, the printed summary's language, stale-edit
labels, attendance errors, the template file picker, the kiosk's unlock page and favicons."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from flask_babel import force_locale
from markupsafe import Markup

from fieldapp.i18n import BY_CODE, counted, list_of
from fieldapp.models import DeviceRole, Role
from fieldapp.services import intake

from .conftest import add_user, login, set_language, translated
from .sync_world import Installation, site
from .test_workspace import CONSULTATION, FAST, create, current, district_code


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
    """The coordinator, signed in."""
    client = laptop.test_client()
    assert login(client).status_code == 302
    return client


@pytest.fixture(autouse=True)
def _real_district():
    CONSULTATION["district"] = district_code("Al-Hamdaniya")


@pytest.fixture
def request_app() -> Flask:
    """A bare Flask app with Babel, to call the list helpers inside a request."""
    from flask_babel import Babel

    app = Flask(__name__)
    Babel(app)
    return app


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("ar", "<bdi>Rê</bdi> و<bdi>Tenduristî</bdi> و<bdi>Kar</bdi>"),
        ("ckb", "<bdi>Rê</bdi>، <bdi>Tenduristî</bdi> و <bdi>Kar</bdi>"),
        ("ku", "<bdi>Rê</bdi>, <bdi>Tenduristî</bdi> û <bdi>Kar</bdi>"),
        ("en", "<bdi>Rê</bdi>, <bdi>Tenduristî</bdi>, and <bdi>Kar</bdi>"),
    ],
)
def test_lists_are_joined_as_the_reader_language_joins_them(request_app, code, expected):
    """Kurmanji gets Latin commas and "û", Sorani and Arabic their own comma and "و"."""
    with request_app.test_request_context(), force_locale(BY_CODE[code].locale):
        assert str(list_of(["Rê", "Tenduristî", "Kar"])) == expected


@pytest.mark.parametrize(
    ("code", "comma"),
    [("ar", "، "), ("ckb", "، "), ("ku", " û "), ("en", ", ")],
)
def test_counts_keep_the_page_direction_and_the_language_comma(request_app, code, comma):
    """``ژن: 41، پیاو: 12``: no Latin comma in Arabic or Sorani; each label isolated."""
    direction = BY_CODE[code].direction
    with request_app.test_request_context(), force_locale(BY_CODE[code].locale):
        joined = str(list_of([counted("ژن", 41), counted("پیاو", 12)], "unit"))
    item = '<span dir="{}"><bdi>{}</bdi>: {}</span>'
    assert joined == item.format(direction, "ژن", 41) + comma + item.format(direction, "پیاو", 12)


def test_two_counts_in_arabic_are_not_repeated(request_app):
    """CLDR's Arabic unit pattern for two items prints the second item twice in Babel."""
    with request_app.test_request_context(), force_locale("ar_IQ"):
        assert str(list_of(["أ", "ب"], "unit")) == "<bdi>أ</bdi>، <bdi>ب</bdi>"
        assert str(list_of(["أ"], "unit")) == "<bdi>أ</bdi>"
        assert str(list_of([], "unit")) == ""


def test_list_items_are_escaped_never_trusted(request_app):
    """Text typed by people is escaped; Markup built by the app is kept."""
    with request_app.test_request_context(), force_locale("ckb_IQ"):
        joined = str(list_of(["<script>x</script>", Markup("<em>ok</em>"), "\x001\x00"]))
    assert "<script>" not in joined
    assert "&lt;script&gt;" in joined
    assert "<bdi><em>ok</em></bdi>" in joined
    assert joined.count("<bdi>") == 3


def test_an_unknown_list_style_is_refused(request_app):
    with request_app.test_request_context(), pytest.raises(ValueError, match="style"):
        list_of(["a"], "poetic")


# ---- the printed summary ----------------------------------------------------------------


def _html_lang(page: str) -> str:
    found = re.search(r'<html lang="([^"]+)" dir="([^"]+)">', page)
    assert found
    return f"{found[1]} {found[2]}"


def test_printed_summary_opens_in_the_readers_language(laptop, browser):
    """A Sorani reader of a meeting held in Arabic and Sorani gets the summary in Sorani."""
    record_id = create(browser, original_language="ckb")
    set_language(browser, "ckb")
    page = browser.get(f"/consultations/{record_id}/print").get_data(as_text=True)
    assert _html_lang(page) == "ckb-IQ rtl"
    # The chooser offers the meeting's languages, marks the one shown, and is not printed.
    chooser = re.search(r'<nav class="no-print[^"]*"[^>]*>(.*?)</nav>', page, re.S)
    assert chooser
    links = re.findall(r'<a href="[^"]*print\?in=(\w+)"[^>]*>', chooser[1])
    assert links == ["ar", "ckb", "en"]
    assert re.search(r'print\?in=ckb"[^>]*aria-current="true"', chooser[1])
    assert _html_lang(browser.get(f"/consultations/{record_id}/print?in=ar").get_data(True)) == (
        "ar-IQ rtl"
    )


def test_printed_summary_for_a_reader_of_another_language(laptop, browser):
    """A Kurmanji reader of a meeting without Kurmanji gets the language it was written in."""
    record_id = create(browser, original_language="ckb", languages=["ar", "ckb"])
    set_language(browser, "ku")
    page = browser.get(f"/consultations/{record_id}/print").get_data(as_text=True)
    assert _html_lang(page) == "ckb-IQ rtl"


def test_printed_attendance_is_joined_with_the_language_comma(laptop, browser):
    record_id = create(browser)
    browser.post(
        f"/consultations/{record_id}/attendance", data={"c_woman_18_29": "41", "c_man_30_44": "12"}
    )
    page = browser.get(f"/consultations/{record_id}/print?in=ckb").get_data(as_text=True)
    woman, man = translated("ckb", "Woman"), translated("ckb", "Man")
    item = '<span dir="rtl"><bdi>{}</bdi>: {}</span>'
    expected = item.format(woman, 41) + "، " + item.format(man, 12)
    assert expected in page
    assert ": 41, " not in page


# ---- a stale edit -----------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["en", "ckb"])
def test_stale_edit_names_fields_as_the_form_does(laptop, browser, lang):
    """The "what changed" table says "Place" (in the reader's language), never ``place``."""
    record_id = create(browser)
    old_rev = current(laptop, record_id, "consultation").rev
    saved = browser.post(
        f"/consultations/{record_id}/edit",
        data={**CONSULTATION, "place": "Mosul", "status": "closed", "base_rev": old_rev},
    )
    assert saved.status_code == 302
    set_language(browser, lang)
    page = browser.post(
        f"/consultations/{record_id}/edit",
        data={**CONSULTATION, "place": "Bashiqa school", "base_rev": old_rev},
    ).get_data(as_text=True)
    table = re.search(r'<article class="changes".*?</article>', page, re.S)
    assert table
    rows = re.findall(r"<tr><th scope=\"row\">(.*?)</th>", table[0])
    assert translated(lang, "Place") in rows
    assert translated(lang, "Status") in rows
    assert "place" not in rows
    assert "<code" not in table[0]
    # Choices are shown by their labels too, not by their stored values.
    assert translated(lang, "Closed") in table[0]
    assert "Mosul" in table[0]
    assert "Bashiqa school" in table[0]


# ---- attendance -------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["abc", "2.5", "-3"])
def test_a_bad_count_is_explained_once(laptop, browser, value):
    record_id = create(browser)
    set_language(browser, "ckb")
    page = browser.post(
        f"/consultations/{record_id}/attendance", data={"c_woman_18_29": value}
    ).get_data(as_text=True)
    assert page.count(translated("ckb", "Counts are whole numbers, 0 or more.")) == 1


# ---- templates page ---------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["en", "ar", "ckb", "ku"])
def test_template_file_picker_speaks_the_page_language(laptop, browser, lang):
    """Like the Import page: our own translated button and "no file chosen" text."""
    set_language(browser, lang)
    page = browser.get("/templates").get_data(as_text=True)
    assert 'class="file-input"' in page
    assert re.search(r'<label for="file" role="button" class="[^"]*file-button', page)
    assert translated(lang, "Choose a file") in page
    assert f'data-none="{translated(lang, "No file chosen yet.")}"' in page
    assert re.search(r"js/file-picker\.[0-9a-f]{12}\.js", page)
    refused = browser.post("/templates", data={}).get_data(as_text=True)
    assert translated(lang, "Choose a template file.") in refused
    assert 'aria-invalid="true"' in refused


# ---- the kiosk's unlock page ------------------------------------------------------------


def test_kiosk_unlock_page_shows_no_facilitator_menu(laptop, browser):
    """Every menu link would lead back to the kiosk: none is shown, but the language
    switcher and the way back are."""
    record_id = create(browser)
    assert browser.post(f"/consultations/{record_id}/kiosk").status_code == 302
    page = browser.get("/kiosk/unlock").get_data(as_text=True)
    for path in ("/consultations", "/actions", "/export", "/admin/users", "/account/password"):
        assert f'href="{path}"' not in page, path
    assert "/logout" not in page
    assert 'class="language-switcher"' in page
    with laptop.app_context():
        code = intake.open_code(record_id)
    assert f'href="/p/{code}"' in page
    assert translated("en", "Back to the kiosk") in page


# ---- favicons ---------------------------------------------------------------------------


def test_participant_pages_link_a_favicon_that_exists(laptop, browser):
    record_id = create(browser)
    with laptop.app_context():
        code = intake.open_intake(record_id)
    stranger = laptop.test_client()
    page = stranger.get(f"/p/{code}").get_data(as_text=True)
    icons = re.findall(r'<link rel="icon" href="([^"]+)"', page)
    assert icons
    for href in icons:
        with stranger.get(href) as response:
            assert response.status_code == 200, href
            assert response.mimetype in ("image/svg+xml", "image/vnd.microsoft.icon")
    facilitator = browser.get("/consultations").get_data(as_text=True)
    assert re.findall(r'<link rel="icon" href="([^"]+)"', facilitator) == icons


def test_favicon_ico_answers_without_a_session_on_both_servers(laptop, tmp_path):
    """Browsers that ignore the page's icon link ask for /favicon.ico: never a 404."""
    from fieldapp import create_app

    participant_app = create_app(
        {"TESTING": True}, instance_path=laptop.instance_path, participant_only=True
    )
    for client in (laptop.test_client(), participant_app.test_client()):
        with client.get("/favicon.ico") as response:
            assert response.status_code == 200
            assert response.mimetype == "image/vnd.microsoft.icon"
            assert "no-store" not in response.headers.get("Cache-Control", "")


def test_overview_lists_the_meeting_languages_as_the_reader_writes_a_list(laptop, browser):
    """The overview's languages and per-language counts: CLDR list, each name isolated."""
    record_id = create(browser, languages=["ar", "ckb", "en"])
    set_language(browser, "ckb")
    page = browser.get(f"/consultations/{record_id}").get_data(as_text=True)
    names = [f'<bdi lang="{BY_CODE[c].tag}">{BY_CODE[c].native_name}</bdi>' for c in ("ar", "ckb")]
    assert names[0] + "، " + names[1] in page
    assert "</span>, <span" not in page
    set_language(browser, "en")
    page = browser.get(f"/consultations/{record_id}").get_data(as_text=True)
    assert ", and <bdi" in page or " and <bdi" in page


def test_start_screen_offers_the_languages_before_the_titles(laptop, browser):
    """On a phone the language buttons come first; the titles follow them."""
    record_id = create(browser)
    with laptop.app_context():
        code = intake.open_intake(record_id)
    page = laptop.test_client().get(f"/p/{code}").get_data(as_text=True)
    assert page.index('class="kiosk-languages"') < page.index('class="kiosk-title"')


def test_participant_pages_load_their_own_light_stylesheet_and_one_font(laptop, browser):
    """The participants' pages use participant.css (not the facilitator's fonts and Pico) and
    preload the one font file that exists; the faces themselves are checked in test_fonts."""
    record_id = create(browser)
    with laptop.app_context():
        code = intake.open_intake(record_id)
    client = laptop.test_client()
    page = client.get(f"/p/{code}").get_data(as_text=True)
    assert "css/participant." in page
    assert "css/app-fonts." not in page
    assert "pico" not in page
    preloads = re.findall(r'<link rel="preload" href="([^"]+)" as="font"', page)
    assert len(preloads) == 1
    for href in preloads:
        with client.get(href) as response:
            assert response.status_code == 200


@pytest.mark.parametrize(
    ("kind", "name", "msgid"),
    [
        ("question", "type", "Type of answer"),
        ("question", "text", "Question"),
        ("action_point", "text", "What will be done"),
        ("action_point", "notes", "Progress"),
        ("consultation", "consent_text", "Consent text read to participants"),
        ("attendance", "counts", "Attendance"),
    ],
)
def test_every_kind_of_record_names_its_fields_as_its_form(laptop, kind, name, msgid):
    from fieldapp.consultations.routes import field_label

    with laptop.test_request_context(), force_locale("ckb_IQ"):
        assert str(field_label(kind, name)) == translated("ckb", msgid)
        assert field_label(kind, "consultation") == "consultation"  # internal: as it is
