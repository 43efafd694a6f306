"""The subset font still draws every letter of Arabic, Sorani and Kurmanji, and still shapes.

scripts/subset_fonts.py cuts Noto Sans Arabic down to what the three languages need (issue
#13). The alphabets are written out here, not taken from that script, so that a letter dropped
from its list is a failing test, not a shorter list.
"""

from __future__ import annotations

import importlib.util
import io
import re
import unicodedata
from functools import cache
from pathlib import Path

import pytest
from babel.messages.pofile import read_po
from fontTools.ttLib import TTFont

ROOT = Path(__file__).resolve().parent.parent
STATIC = ROOT / "fieldapp" / "static"
SOURCES = ROOT / "scripts" / "font-sources" / "noto-sans-arabic"

# The 28 letters, hamza on its own and on its seats, teh marbuta, alef maksura.
ARABIC = "ابتثجحخدذرزسشصضطظعغفقكلمنهوي" + "ءآأؤإئ" + "ةى"
# Sorani's alphabet (33 letters, with ئ and the two-letter وو written once), ھ, and ڎ of Badini.
SORANI = "ئابپتجچحخدرڕزژسشعغفڤقکگلڵمنهەوۆیێ" + "ھ" + "ڎ"
# Kurmanji in Latin script: 31 letters, both cases.
KURMANJI = "abcçdeêfghiîjklmnopqrsştuûvwxyz"
DIGITS = "0123456789" + "٠١٢٣٤٥٦٧٨٩" + "۰۱۲۳۴۵۶۷۸۹"
# Tanwin, fatha, damma, kasra, shadda, sukun, hamza above and below, superscript alef.
MARKS = "\u064b\u064c\u064d\u064e\u064f\u0650\u0651\u0652\u0654\u0655\u0670"
PUNCTUATION = "،؛؟«»٪٫٬" + ".,:;!?()-/%'\"" + "\u2014\u201c\u201d"
# ZWNJ, ZWJ, LRM, RLM, ALM, tatweel.
FORMAT = "\u200c\u200d\u200e\u200f\u061c\u0640"

EVERYTHING = ARABIC + SORANI + KURMANJI + KURMANJI.upper() + DIGITS + MARKS + PUNCTUATION + FORMAT


def _font_files() -> list[Path]:
    """Every font file a stylesheet of the pages names (the sources, not the built copies)."""
    found = set()
    for css in (STATIC / "css").glob("*.css"):
        for url in re.findall(r"""url\(\s*["']?([^"')]+\.woff2)""", css.read_text("utf-8")):
            found.add((css.parent / url).resolve())
    return sorted(found)


FONT_FILES = _font_files()


@cache
def _cmap(path: Path) -> frozenset[int]:
    return frozenset(TTFont(path).getBestCmap())


def test_the_pages_use_the_two_subsets_and_nothing_else():
    """participant.css and app-fonts.css name only the subsets, which exist."""
    names = sorted(path.name for path in FONT_FILES)
    assert names == [
        "noto-sans-arabic-subset-400-normal.woff2",
        "noto-sans-arabic-subset-700-normal.woff2",
    ]
    for path in FONT_FILES:
        assert path.is_file(), path
        assert path.stat().st_size < 25_000, path  # 22 KB each, against 67 KB before
        assert (path.parent / "OFL.txt").is_file()


@pytest.mark.parametrize("path", FONT_FILES, ids=lambda path: path.name)
def test_every_letter_digit_and_mark_of_the_three_languages_is_in_the_font(path):
    cmap = _cmap(path)
    missing = [
        f"U+{ord(c):04X} {unicodedata.name(c, '?')}" for c in EVERYTHING if ord(c) not in cmap
    ]
    assert missing == []


@pytest.mark.parametrize("path", FONT_FILES, ids=lambda path: path.name)
def test_every_character_the_participants_read_in_the_catalogues_is_in_the_font(path):
    """Letters, marks, digits and punctuation of every ar, ckb and ku translation."""
    cmap = _cmap(path)
    missing: dict[str, str] = {}
    for lang in ("ar", "ckb", "ku"):
        po = ROOT / "translations" / lang / "LC_MESSAGES" / "messages.po"
        with po.open("rb") as handle:
            catalogue = read_po(handle)
        for message in catalogue:
            strings = message.string if isinstance(message.string, tuple) else (message.string,)
            for text in strings:
                for char in text or "":
                    if unicodedata.category(char)[0] in "LMNP" and ord(char) not in cmap:
                        missing[char] = f"{lang}: {message.id!r}"
    assert missing == {}


@pytest.mark.parametrize("path", FONT_FILES, ids=lambda path: path.name)
def test_the_arabic_shaping_features_are_kept(path):
    font = TTFont(path)
    gsub = {record.FeatureTag for record in font["GSUB"].table.FeatureList.FeatureRecord}
    gpos = {record.FeatureTag for record in font["GPOS"].table.FeatureList.FeatureRecord}
    assert {"ccmp", "init", "medi", "fina", "rlig", "liga", "locl"} <= gsub
    assert {"mark", "mkmk", "kern"} <= gpos


def _shaper(path: Path):  # noqa: ANN202 -- a uharfbuzz Font
    import uharfbuzz as hb

    font = TTFont(path)
    font.flavor = None  # harfbuzz reads the sfnt; woff2 is a transport wrapper
    data = io.BytesIO()
    font.save(data)
    return hb.Font(hb.Face(data.getvalue()))


def _shape(font, text: str) -> list[tuple[int, int, int, int, int]]:  # noqa: ANN001
    """(glyph id, cluster, advance, x offset, y offset) of each glyph, in drawing order."""
    import uharfbuzz as hb

    buffer = hb.Buffer()
    buffer.add_str(text)
    buffer.guess_segment_properties()
    hb.shape(font, buffer, {})
    return [
        (info.codepoint, info.cluster, pos.x_advance, pos.x_offset, pos.y_offset)
        for info, pos in zip(buffer.glyph_infos, buffer.glyph_positions, strict=True)
    ]


WORDS = [
    "بيت",  # beh, yeh, teh: initial, medial, final forms
    "لا إله",  # lam-alef ligatures (rlig)
    "مُحَمَّد",  # marks placed on their letters (mark, mkmk)
    "ڕێگای گوندەکە",
    "هاوڕێ",
    "پێشنیارت چییە؟",
    "خۆبەخشانەیە",
    "ڤیان و ڵ",
    "می\u200cخواهم",  # ZWNJ keeps the letters apart
    "٣٤ / ۳۴ / 34",
    "Şêwirîn li ser xizmetguzariyê",
    "Çi? Û Îro",
]


FULL_FONTS = {"400": "NotoSansArabic-Regular.ttf", "700": "NotoSansArabic-Bold.ttf"}


@pytest.mark.parametrize("path", FONT_FILES, ids=lambda path: path.name)
def test_words_shape_as_with_the_full_font(path):
    """Every glyph of each word has the advance and offsets the full font gives it: joining
    forms, ligatures and marks survived the subsetting, and nothing is drawn as a box."""
    weight = re.search(r"-(\d00)-normal", path.name).group(1)  # type: ignore[union-attr]
    subset, full = _shaper(path), _shaper(SOURCES / FULL_FONTS[weight])
    for word in WORDS:
        shaped = _shape(subset, word)
        assert all(glyph[0] != 0 for glyph in shaped), word  # glyph 0 is .notdef, a box
        # Glyph ids differ (the subset numbers its glyphs anew); the geometry may not.
        assert [g[1:] for g in shaped] == [g[1:] for g in _shape(full, word)], word
    # Beh at the end, in the middle and at the start of a word: three different glyphs.
    letters = {glyph[0] for glyph in _shape(subset, "ببب") if glyph[2] != 0}  # marks: no advance
    assert len(letters) == 3


def _subset_script():  # noqa: ANN202 -- the module
    spec = importlib.util.spec_from_file_location(
        "subset_fonts", ROOT / "scripts" / "subset_fonts.py"
    )
    assert spec
    assert spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_committed_subsets_hold_exactly_the_script_s_characters():
    """Whoever changes the list in scripts/subset_fonts.py runs it (and build_static.py):
    the fonts in the repository have the characters it lists that the full font has."""
    script = _subset_script()
    for weight, (source, _digest, output) in script.FONTS.items():
        full = _cmap(SOURCES / source)
        wanted = {c for c in script.CODEPOINTS if c in full}
        assert _cmap(STATIC / "fonts" / "noto-sans-arabic" / output) == wanted, weight
        script.source_path(weight)  # the source is the one SOURCE.md describes (SHA-256)


def test_participants_get_the_app_s_regular_face_never_swapped_late():
    """participant.css (the participants' pages and their error page) declares exactly
    the regular face of app-fonts.css, with font-display: optional (a font that arrives late
    would re-wrap the lines under a participant's finger); no bold file for the phones."""
    css = STATIC / "css"
    faces = re.compile(r"@font-face \{.*?\}", re.S)
    app_faces = faces.findall((css / "app-fonts.css").read_text(encoding="utf-8"))
    assert [re.search(r"font-weight: (\d+)", face).group(1) for face in app_faces] == [
        "400",
        "700",
    ]
    assert "font-display: swap" in app_faces[0]
    regular = app_faces[0].replace("font-display: swap", "font-display: optional")
    for name in ("participant.css",):
        assert faces.findall((css / name).read_text(encoding="utf-8")) == [regular], name
