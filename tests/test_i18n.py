"""Languages: choice, direction, completeness of the catalogues, fonts and layout rules."""

from __future__ import annotations

import io
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from fieldapp.i18n import BY_CODE, TRANSLATED_CODES, TRANSLATIONS_DIR

from .conftest import UI_LANGUAGES, set_language, translated

ROOT = Path(__file__).resolve().parent.parent
STATIC = ROOT / "fieldapp" / "static"
PLACEHOLDER = re.compile(r"%\(\w+\)[sd]")
TAG = re.compile(r"</?[a-zA-Z][^>]*>")

EXPECTED_HTML = {
    "en": ('lang="en"', 'dir="ltr"'),
    "ar": ('lang="ar-IQ"', 'dir="rtl"'),
    "ckb": ('lang="ckb-IQ"', 'dir="rtl"'),
    "ku": ('lang="ku"', 'dir="ltr"'),
}


def html_tag(page: str) -> str:
    match = re.search(r"<html[^>]*>", page)
    assert match
    return match.group(0)


@pytest.mark.parametrize("code", sorted(EXPECTED_HTML))
def test_each_language_sets_lang_and_direction(signed_in, code):
    """Arabic and Sorani pages read right to left, Kurmanji and English left to right."""
    set_language(signed_in, code)
    for path in ("/", "/account/password", "/admin/users", "/missing"):
        tag = html_tag(signed_in.get(path).get_data(as_text=True))
        for expected in EXPECTED_HTML[code]:
            assert expected in tag, (path, tag)


def test_switcher_names_each_language_in_itself(client, coordinator):
    """Every page offers العربية, کوردی, Kurdî and English, whatever the current language."""
    for lang in UI_LANGUAGES:
        set_language(client, lang)
        page = client.get("/login").get_data(as_text=True)
        for name in ("العربية", "کوردی (سۆرانی)", "Kurdî (Kurmancî)", "English"):
            assert name in page
        assert 'aria-current="true"' in page


def test_selection_order(client, coordinator):
    """Explicit choice, then remembered choice, then the browser's header, then English."""
    assert 'lang="en"' in html_tag(client.get("/login").get_data(as_text=True))
    header = {"Accept-Language": "ar-IQ,ar;q=0.9,en;q=0.5"}
    assert 'lang="ar-IQ"' in html_tag(client.get("/login", headers=header).get_data(as_text=True))
    set_language(client, "ckb")  # remembered
    assert 'lang="ckb-IQ"' in html_tag(client.get("/login", headers=header).get_data(as_text=True))
    page = client.get("/login?lang=ku", headers=header).get_data(as_text=True)  # explicit
    assert 'lang="ku"' in html_tag(page)
    # The explicit choice was for that page only; the remembered one still holds.
    assert 'lang="ckb-IQ"' in html_tag(client.get("/login").get_data(as_text=True))


def test_kurmanji_browsers_get_kurmanji(client, coordinator):
    """A browser asking for kmr (Kurmanji) gets the ku catalogue."""
    page = client.get("/login", headers={"Accept-Language": "kmr"}).get_data(as_text=True)
    assert 'lang="ku"' in html_tag(page)


def test_choice_is_remembered_on_the_account(client, app, coordinator):
    """The language chosen while signed in is kept with the account."""
    from fieldapp.extensions import db
    from fieldapp.models import User

    from .conftest import login

    login(client)
    set_language(client, "ku")
    with app.app_context():
        assert db.session.get(User, coordinator).language == "ku"


@pytest.mark.parametrize("lang", UI_LANGUAGES)
def test_unknown_language_code_gets_a_clear_400(client, coordinator, lang):
    """An unknown code is refused with a translated explanation, in link or in form."""
    set_language(client, lang)
    expected = translated(
        lang, "This language is not available. Choose one of the languages listed."
    )
    for response in (
        client.get("/login?lang=xx"),
        client.post("/language", data={"lang": "fr"}),
    ):
        assert response.status_code == 400
        assert expected in response.get_data(as_text=True)


class _VisibleText(HTMLParser):
    """Collects the text a person sees (and the labels a screen reader reads)."""

    def __init__(self) -> None:
        super().__init__()
        self.chunks: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style", "title"):
            self._skip += 1
        for name, value in attrs:
            if name in ("aria-label", "placeholder", "title") and value:
                self.chunks.append(value)

    def handle_endtag(self, tag):
        if tag in ("script", "style", "title"):
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip and data.strip():
            self.chunks.append(" ".join(data.split()))


def english_sources() -> set[str]:
    catalogue = read_po(io.BytesIO((TRANSLATIONS_DIR / "messages.pot").read_bytes()))
    return {
        message.id
        for message in catalogue
        if message.id and isinstance(message.id, str) and len(message.id) > 4
    }


@pytest.mark.parametrize("lang", ["ar", "ckb", "ku"])
def test_no_english_is_left_on_translated_pages(app, coordinator, lang):
    """A Kurdish or Arabic speaker never meets an English interface sentence."""
    from .conftest import login

    sources = english_sources()
    client = app.test_client()
    set_language(client, lang)
    pages = [client.get("/login").get_data(as_text=True)]
    login(client, password="wrong password")  # error message
    login(client)
    for path in ("/", "/account/password", "/admin/users", "/admin/users/new", "/admin/users/1"):
        pages.append(client.get(path).get_data(as_text=True))
    pages.append(client.post("/admin/users/new", data={}).get_data(as_text=True))
    pages.append(client.get("/nowhere").get_data(as_text=True))
    for page in pages:
        parser = _VisibleText()
        parser.feed(page)
        leftover = [text for text in parser.chunks if text in sources]
        assert leftover == []


# ---- catalogue gates -------------------------------------------------------------------


def _messages(path: Path) -> dict[str, tuple[str, ...]]:
    catalogue = read_po(io.BytesIO(path.read_bytes()))
    return {str(m.id): tuple(m.auto_comments) for m in catalogue if m.id and isinstance(m.id, str)}


def test_committed_pot_equals_a_fresh_extraction(tmp_path):
    """No string was added or changed without extracting it (CTFd's dropped strings)."""
    fresh = tmp_path / "messages.pot"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "babel.messages.frontend",
            "extract",
            "-F",
            str(TRANSLATIONS_DIR / "babel.cfg"),
            "-k",
            "_l",
            "-k",
            "N_",
            "--add-comments=Translators:",
            "--add-location=never",
            "--no-wrap",
            "-o",
            str(fresh),
            "fieldapp",
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    assert _messages(TRANSLATIONS_DIR / "messages.pot") == _messages(fresh)


def _catalogue(code: str):
    return read_po(
        io.BytesIO((TRANSLATIONS_DIR / code / "LC_MESSAGES" / "messages.po").read_bytes())
    )


@pytest.mark.parametrize("code", TRANSLATED_CODES)
def test_catalogue_is_complete_and_not_fuzzy(code):
    """Every source string has a translation, none fuzzy, none obsolete or missing."""
    catalogue = _catalogue(code)
    sources = set(_messages(TRANSLATIONS_DIR / "messages.pot"))
    ids = {str(m.id) for m in catalogue if m.id and isinstance(m.id, str)}
    assert ids == sources
    problems = [
        m.id
        for m in catalogue
        if m.id and (m.fuzzy or not (all(m.string) if isinstance(m.string, tuple) else m.string))
    ]
    assert problems == []


@pytest.mark.parametrize("code", TRANSLATED_CODES)
def test_placeholders_and_tags_match_the_source(code):
    """A translation keeps every %(name)s placeholder and HTML tag of its source."""
    for message in _catalogue(code):
        if not message.id:
            continue
        sources = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        for source in sources:
            for string in strings:
                assert sorted(PLACEHOLDER.findall(source)) == sorted(PLACEHOLDER.findall(string)), (
                    code,
                    source,
                )
                assert sorted(TAG.findall(source)) == sorted(TAG.findall(string)), (code, source)


def test_plural_headers():
    """Arabic has 6 plural forms, Sorani and Kurmanji 2."""
    assert _catalogue("ar").num_plurals == 6
    assert _catalogue("ckb").num_plurals == 2
    assert _catalogue("ku").num_plurals == 2


@pytest.mark.parametrize("code", TRANSLATED_CODES)
def test_compiled_catalogues_are_current(code):
    """The committed .mo files hold exactly what the .po files say (no manual compile step)."""
    folder = TRANSLATIONS_DIR / code / "LC_MESSAGES"
    compiled = read_mo(io.BytesIO((folder / "messages.mo").read_bytes()))
    source = read_po(io.BytesIO((folder / "messages.po").read_bytes()))

    def entries(catalogue):
        as_tuple = lambda v: tuple(v) if isinstance(v, (list, tuple)) else v  # noqa: E731
        return {as_tuple(m.id): as_tuple(m.string) for m in catalogue if m.id}

    assert entries(compiled) == entries(source)


def test_sorani_uses_its_own_letters():
    """Sorani text never uses Arabic or Persian stand-ins (ي ك ة ى) for its letters."""
    offenders = [
        m.id for m in _catalogue("ckb") if m.id and any(ch in str(m.string) for ch in "يكةى")
    ]
    assert offenders == []


def test_kurmanji_is_in_latin_script():
    """The ku catalogue is Kurmanji in the Latin (Hawar) alphabet."""
    arabic_script = re.compile(r"[\u0600-\u06FF]")
    assert [m.id for m in _catalogue("ku") if m.id and arabic_script.search(str(m.string))] == []


def test_glossary_names_every_field_term():
    """The glossary fixes one translation per field concept in every language."""
    text = (TRANSLATIONS_DIR / "GLOSSARY.md").read_text(encoding="utf-8")
    for term in (
        "consultation",
        "town hall",
        "Local Peace Committee",
        "facilitator",
        "participant",
        "action point",
        "head office",
        "export",
        "merge",
        "consent",
        "governorate",
        "district",
        "review state",
        "code",
        "codebook",
        "theme",
        "conflict",
        "activity",
    ):
        rows = [line for line in text.splitlines() if line.startswith(f"| {term}")]
        assert rows, term
        cells = [cell.strip() for cell in rows[0].strip("|").split("|")]
        assert all(cells[1:4]), term


def test_every_language_has_a_compiled_catalogue():
    """Start-up refuses a configured language without its catalogue."""
    for code in TRANSLATED_CODES:
        assert (TRANSLATIONS_DIR / code / "LC_MESSAGES" / "messages.mo").is_file()
    assert set(BY_CODE) == {"en", "ar", "ckb", "ku"}


# ---- fonts and layout ------------------------------------------------------------------


def test_font_covers_sorani_and_kurmanji_letters():
    """The vendored font draws every Sorani letter and the Kurmanji Latin letters."""
    from fontTools.ttLib import TTFont

    folder = STATIC / "fonts" / "noto-sans-arabic"
    assert (folder / "OFL.txt").is_file()
    for weight in ("400", "700"):
        covered: set[int] = set()
        for font_file in folder.glob(f"*-{weight}-normal.woff2"):
            covered |= set(TTFont(font_file).getBestCmap())
        for letter in "ڕڵۆێەڤ" + "ابپتجچحخدرزژسشعغفقکگلمنوهیئ" + "êîûçşÊÎÛÇŞ":
            assert ord(letter) in covered, (weight, letter)


def test_stylesheet_loads_only_vendored_fonts():
    """The font stylesheet names the vendored font files, each of which exists."""
    css = (STATIC / "css" / "app-fonts.css").read_text(encoding="utf-8")
    urls = re.findall(r'url\("([^"]+)"\)', css)
    assert urls
    for url in urls:
        assert (STATIC / "css" / url).resolve().is_file(), url


def test_layout_css_uses_logical_properties_only():
    """Our own CSS has no left/right rules, so one stylesheet serves both directions."""
    css = "".join(
        (STATIC / "css" / name).read_text(encoding="utf-8") for name in ("app.css", "print.css")
    )
    physical = re.compile(
        r"(?:margin|padding|border)-(?:left|right)\b|(?<![\w-])(?:left|right)\s*:"
        r"|text-align\s*:\s*(?:left|right)|float\s*:\s*(?:left|right)"
    )
    assert physical.findall(css) == []
