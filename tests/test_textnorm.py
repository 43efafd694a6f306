"""Arabic and Kurdish text normalisation, rule by rule as I18N.md states them."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from fieldapp.textnorm import ascii_digits, loose_key, matches, storage_form, strict_key

ZWNJ = "\u200c"
BIDI_AND_INVISIBLE = [
    "\u200b",  # zero-width space
    "\u200d",  # zero-width joiner
    "\u200e",  # left-to-right mark
    "\u200f",  # right-to-left mark
    "\u202a",  # LRE
    "\u202b",  # RLE
    "\u202c",  # PDF
    "\u202d",  # LRO
    "\u202e",  # RLO
    "\u2066",  # LRI
    "\u2067",  # RLI
    "\u2068",  # FSI
    "\u2069",  # PDI
    "\ufeff",  # zero-width no-break space
    "\u061c",  # Arabic letter mark
    "\u00ad",  # soft hyphen
]

# Letters, marks, digits and controls where the rules meet, so Hypothesis mixes them often.
TRICKY = (
    "اأإآٱٲٳئؤيىیكکهەھةۀۆێڕرڵلڤفوزدعمحطنسش"
    "ـًٌٍَُِّْٰٕٓٔ"  # tatweel and harakat
    "٠١٢٣۰۱۲۳0123"
    "ŞşêeAİßﻻﷲ\ufc5e\u0345\u00a0 \t\n" + ZWNJ + "".join(BIDI_AND_INVISIBLE)
)
texts = st.one_of(
    st.text(),
    st.text(alphabet=TRICKY),
    st.lists(st.one_of(st.text(max_size=3), st.text(alphabet=TRICKY, max_size=6))).map("".join),
)
PROPERTY = settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# --- The check pairs --------------------------------------------------------------------


def test_yeh_forms_are_the_same_letter_in_the_strict_key():
    """علي (Arabic yeh) and علی (Farsi yeh) are duplicates, not just similar."""
    assert strict_key("علي") == strict_key("علی") == "علی"
    assert strict_key("مصطفى") == strict_key("مصطفی")
    assert loose_key("علي") == loose_key("علی")


def test_kaf_forms_are_the_same_letter_in_the_strict_key():
    """Arabic ك and Kurdish/Persian ک are one letter."""
    assert strict_key("كركوك") == strict_key("کرکوک") == "کرکوک"


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("فاطمة", "فاطمە"),  # ة / ە
        ("هاوڕێ", "هاوري"),  # ڕ/ر and ێ/ي
        ("ئازاد", "آزاد"),  # word-initial ئ and alef with madda
        ("Şêxan", "Sexan"),  # Latin accents
    ],
)
def test_loose_check_pairs_meet_only_in_the_loose_key(one, other):
    """The check pairs are possible duplicates: same loose key, different strict keys."""
    assert loose_key(one) == loose_key(other)
    assert strict_key(one) != strict_key(other)


def test_check_pair_loose_keys_spelt_out():
    """What the check pairs' loose keys are, letter by letter."""
    assert loose_key("فاطمة") == "فاطمه"
    assert loose_key("هاوڕێ") == "هاوری"
    assert loose_key("ئازاد") == "ازاد"
    assert loose_key("Şêxan") == "sexan"


# --- Storage form -----------------------------------------------------------------------


@pytest.mark.parametrize("control", BIDI_AND_INVISIBLE)
def test_storage_form_strips_invisible_and_bidi_controls(control):
    """Every listed control disappears from the stored text, wherever it was."""
    assert storage_form(f"{control}ئاز{control}اد{control}") == "ئازاد"


def test_storage_form_strips_a_bidi_isolated_name():
    """A name pasted with isolates and marks around it is stored bare."""
    assert storage_form("\u2067\u200fهاوڕێ\u2069 \u202bShêx\u202c") == "هاوڕێ Shêx"


def test_storage_form_turns_heh_and_zwnj_into_ae():
    """ه + ZWNJ is how Sorani writes ە without the key for it; we store ە."""
    assert storage_form("ماڵه" + ZWNJ) == "ماڵە"
    assert storage_form("فاطمه" + ZWNJ) == storage_form("فاطمە") == "فاطمە"
    # A haraka between ه and the ZWNJ does not hide it.
    assert storage_form("ه\u064e" + ZWNJ) == "ە\u064e"


def test_storage_form_drops_zwnj_elsewhere():
    """A ZWNJ after any other letter only affects rendering, so it is not stored."""
    assert storage_form("می" + ZWNJ + "خواهم") == "میخواهم"
    assert ZWNJ not in storage_form(ZWNJ + "ا" + ZWNJ + ZWNJ)


def test_storage_form_is_nfc():
    """Decomposed input is stored composed, in Arabic and in Latin."""
    assert storage_form("\u0627\u0653") == "\u0622"  # ا + madda → آ
    assert storage_form("S\u0327e\u0302xan") == "Şêxan"
    # Removing a control can bring a letter and its mark together: they still compose.
    assert storage_form("\u0627\u200b\u0653") == "\u0622"


def test_storage_form_keeps_what_was_typed_otherwise():
    """Harakat, tatweel, letter variants, digits and inner spacing stay as typed."""
    typed = "مُـحَـمَّد  علي\tك ٢٠٢٦"
    assert storage_form(f"  {typed}\n") == typed


# --- Strict key -------------------------------------------------------------------------


def test_strict_key_strips_harakat_and_tatweel():
    """مُـحَـمَّد with harakat and tatweel is the same name as محمد."""
    assert strict_key("مُـحَـمَّد") == strict_key("محمد") == "محمد"
    assert strict_key("مــــحمد") == "محمد"
    assert strict_key("عَلِيٌّ") == "علی"
    assert strict_key("رحمٰن") == "رحمن"  # superscript alef U+0670


def test_strict_key_is_nfkc_and_casefolded():
    """Presentation forms, ligatures, full-width letters and case do not make a new name."""
    assert strict_key("\ufee3\ufea3\ufee4\ufeaa") == "محمد"  # presentation forms of محمد
    assert strict_key("ﻻ") == "لا"
    assert strict_key("ŞÊXAN") == strict_key("şêxan")
    assert strict_key("Straße") == strict_key("STRASSE") == "strasse"
    assert strict_key("Ａzad") == "azad"


def test_strict_key_ignores_controls_and_outer_whitespace():
    """Invisible characters and surrounding spaces never separate duplicates."""
    assert strict_key("\u200f علی\u200b ") == strict_key("علی")


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("کەر", "کەڕ"),  # ر / ڕ: "deaf" and "donkey" are not the same word
        ("پەر", "پەڕ"),  # "feather" and "page"
        ("گوڵ", "گول"),  # ڵ / ل
        ("فاطمە", "فاطمه"),  # ە / ه
        ("ئازاد", "آزاد"),  # ئ / آ
        ("ڤیان", "فیان"),  # ڤ / ف
        ("ئێوە", "ئیوە"),  # ێ / ی
        ("ۆ", "و"),  # ۆ / و
        ("Şêxan", "Sexan"),  # accents
    ],
)
def test_strict_key_keeps_letters_that_loose_key_merges(one, other):
    """Strict keys still tell ڕ from ر (different Sorani words) and the like; loose keys do not."""
    assert strict_key(one) != strict_key(other)
    assert loose_key(one) == loose_key(other)


# --- Digits -----------------------------------------------------------------------------


@pytest.mark.parametrize("digits", ["٢٠٢٦", "۲۰۲۶", "2026", "٢۰2٦"])
def test_digits_of_every_script_become_ascii(digits):
    """Arabic-Indic, Extended Arabic-Indic and ASCII digits, even mixed, all read 2026."""
    assert ascii_digits(digits) == "2026"
    assert strict_key(digits) == "2026"
    assert loose_key(digits) == "2026"


def test_ascii_digits_converts_all_ten_and_only_digits():
    """Every digit of both Arabic scripts, and nothing but digits, is converted."""
    assert ascii_digits("٠١٢٣٤٥٦٧٨٩") == "0123456789"
    assert ascii_digits("۰۱۲۳۴۵۶۷۸۹") == "0123456789"
    assert ascii_digits("ماڵی ژمارە ٧ / ۸, Şêx 9") == "ماڵی ژمارە 7 / 8, Şêx 9"
    assert ascii_digits("") == ""


def test_strict_key_digits_inside_names():
    """A house number typed in either script makes the same key."""
    assert strict_key("ماڵی ٤٢") == strict_key("ماڵی ۴۲") == strict_key("ماڵی 42")


# --- Loose key --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("variant", "plain"),
    [
        ("أحمد", "احمد"),
        ("إبراهيم", "ابراهیم"),
        ("آزاد", "ازاد"),
        ("ٱلله", "الله"),
        ("حمزة", "حمزه"),
        ("ماڵە", "ماله"),
        ("ھەولێر", "هەولیر"),
        ("کۆیە", "کویه"),
        ("مؤمن", "مومن"),
        ("ڕێگا", "ریگا"),
        ("ڤیان", "فیان"),
        ("ئاسۆ", "آسو"),
        ("ئێران", "ایران"),
        ("Çîya", "ciya"),
    ],
)
def test_loose_key_merges_letter_variants(variant, plain):
    """Each loose rule: alef variants, ة/ە/ھ, ۆ/ؤ, ێ, ڕ, ڵ, ڤ, initial ئ, Latin accents."""
    assert loose_key(variant) == loose_key(plain)


def test_loose_key_maps_initial_yeh_hamza_only_at_word_start():
    """ئ carrying a word's first vowel becomes ا; inside a word it is read as ی."""
    assert loose_key("ئەو") == "اهو"
    assert loose_key("کوردستان ئێران") == "کوردستان ایران"
    assert loose_key("سائیل") == "ساییل"


def test_loose_key_collapses_whitespace():
    """Runs of spaces, tabs, newlines and no-break spaces become one space; ends are trimmed."""
    assert loose_key("  علی \t\n حسن\u00a0\u00a0 ") == "علی حسن"


# --- Search -----------------------------------------------------------------------------


def test_matches_every_query_word_as_a_substring():
    """Each query word must occur somewhere in the text, in any order, across spellings."""
    text = "فاطمة علي هاوڕێ"
    assert matches("علی", text)
    assert matches("فاطمە", text)
    assert matches("هاوري فاطم", text)
    assert matches("  ری  ", text)
    assert not matches("علی حسن", text)
    assert matches("sexan", "Şêxan, ١٢")
    assert matches("12", "Şêxan, ١٢")
    assert matches("ازاد", "ئازاد")


@pytest.mark.parametrize("query", ["", "   ", "\u200f", "ـ"])
def test_empty_query_matches_everything(query):
    """A query with nothing searchable in it finds every row, even an empty one."""
    assert matches(query, "علی")
    assert matches(query, "")


# --- Properties -------------------------------------------------------------------------


@PROPERTY
@given(texts)
def test_storage_form_is_idempotent(text):
    """Storing stored text changes nothing."""
    stored = storage_form(text)
    assert storage_form(stored) == stored


@PROPERTY
@given(texts)
def test_keys_are_idempotent(text):
    """A key is its own key: strict and loose alike."""
    strict, loose = strict_key(text), loose_key(text)
    assert strict_key(strict) == strict
    assert loose_key(loose) == loose


@PROPERTY
@given(texts)
def test_keys_refine_each_other(text):
    """The loose key is the loose key of the strict key, and keys ignore the storage step."""
    assert loose_key(strict_key(text)) == loose_key(text)
    assert strict_key(storage_form(text)) == strict_key(text)
    assert loose_key(storage_form(text)) == loose_key(text)


@PROPERTY
@given(texts)
def test_output_is_clean(text):
    """No control survives storage; keys hold no marks, tatweel or non-ASCII digits."""
    stored, strict, loose = storage_form(text), strict_key(text), loose_key(text)
    for control in [*BIDI_AND_INVISIBLE, ZWNJ]:
        assert control not in stored
        assert control not in strict
    for key in (strict, loose):
        assert "\u0640" not in key
        assert not any("\u064b" <= ch <= "\u065f" or ch == "\u0670" for ch in key)
        assert not any(ch.isdecimal() and not ch.isascii() for ch in key)


@PROPERTY
@given(texts, texts)
def test_text_matches_itself_and_its_parts(text, other):
    """Every text matches itself and a query made of a part of it."""
    assert matches(text, text)
    assert matches(text, f"{other} {text} {other}")
    assert matches("", other)


TRICKY = list("٠٣۵۹ًَِٰـ̧́êە०３⃐") + ["\U0001d7ce"]


@given(
    st.one_of(
        st.text(alphabet=st.characters(max_codepoint=0x6FF, codec="utf-8"), max_size=20),
        st.text(
            alphabet=st.one_of(st.characters(codec="utf-8"), st.sampled_from(TRICKY)),
            max_size=40,
        ),
    )
)
@example("٣")
@example("رقم ۵")
@example("ê\u064b")
@example("“ًا”")
def test_fast_paths_equal_the_definitions(text: str) -> None:
    """The quick tests that skip work (most answers hold no marks and no non-ASCII digits)
    give exactly what asking unicodedata character by character gives."""
    import unicodedata

    from fieldapp.textnorm import TATWEEL, _strip_marks

    assert _strip_marks(text) == "".join(
        ch for ch in text if ch != TATWEEL and unicodedata.category(ch) != "Mn"
    )
    assert ascii_digits(text) == "".join(
        str(unicodedata.decimal(ch)) if unicodedata.category(ch) == "Nd" else ch for ch in text
    )
