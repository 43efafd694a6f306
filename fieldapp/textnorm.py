"""Normalisation of Arabic and Kurdish (Sorani) text: what we store, and how we compare it.

Arabic and Kurdish keyboards produce different code points for the "same" letter (ي/ی/ى, ك/ک,
ه/ە/ھ/ة), and text may carry diacritics, tatweel, zero-width and bidi control characters.

- :func:`storage_form` is what goes into the database: NFC, invisible and bidi controls
  stripped, surrounding whitespace trimmed. The zero-width non-joiner is dropped too, except
  where Sorani needs it to change the letter: ه + ZWNJ is stored as ە.
- :func:`strict_key` decides duplicates: NFKC, marks and tatweel stripped, ي/ى→ی, ك→ک, every
  digit ASCII, casefolded.
- :func:`loose_key` serves search and "possible duplicate" hints: the strict key with alef
  variants→ا, ة/ە/ھ→ه, ۆ/ؤ→و, ێ→ی, ڕ→ر, ڵ→ل, ڤ→ف, word-initial ئ→ا (ئا, Sorani's initial
  "a", becomes a single ا), Latin accents removed, whitespace collapsed to single spaces.
- :func:`ascii_digits` turns digits of any script (٠-٩, ۰-۹, 0-9, ...) into ASCII ones.
- :func:`matches` is the search predicate built on the loose key.

Every function is idempotent, and ``loose_key(strict_key(x)) == loose_key(x)``.
"""

from __future__ import annotations

import functools
import re
import sys
import unicodedata

__all__ = ["ascii_digits", "loose_key", "matches", "storage_form", "strict_key"]

ZWNJ = "\u200c"
HEH = "\u0647"  # ه ARABIC LETTER HEH
AE = "\u06d5"  # ە ARABIC LETTER AE (Sorani)
TATWEEL = "\u0640"

# Invisible and bidi controls, always removed (ZWNJ, U+200C, is handled on its own).
_INVISIBLE = re.compile(
    "[\u200b\u200d-\u200f"  # zero-width space, ZWJ, LRM, RLM
    "\u202a-\u202e"  # LRE, RLE, PDF, LRO, RLO
    "\u2066-\u2069"  # LRI, RLI, FSI, PDI
    "\ufeff"  # zero-width no-break space / BOM
    "\u061c"  # Arabic letter mark
    "\u00ad]"  # soft hyphen
)

# Arabic combining marks (harakat, Quranic marks) that may sit between ه and its ZWNJ.
_ARABIC_MARKS = (
    "\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06dc\u06df-\u06e4\u06e7\u06e8\u06ea-\u06ed"
)
# ه + ZWNJ is how Sorani is typed on keyboards without ە.
_HEH_ZWNJ = re.compile(HEH + "([" + _ARABIC_MARKS + "]*)" + ZWNJ)

_STRICT_LETTERS = str.maketrans(
    {
        "\u064a": "\u06cc",  # ي ARABIC YEH → ی FARSI YEH
        "\u0649": "\u06cc",  # ى ALEF MAKSURA → ی
        "\u0643": "\u06a9",  # ك ARABIC KAF → ک KEHEH
    }
)

_LOOSE_LETTERS = str.maketrans(
    {
        # Alef variants → ا (the hamza and madda forms are also decomposed by NFKD).
        "\u0622": "\u0627",  # آ
        "\u0623": "\u0627",  # أ
        "\u0625": "\u0627",  # إ
        "\u0671": "\u0627",  # ٱ alef wasla
        "\u0672": "\u0627",  # ٲ alef with wavy hamza above
        "\u0673": "\u0627",  # ٳ alef with wavy hamza below
        # ة/ە/ھ → ه
        "\u0629": HEH,  # ة teh marbuta
        AE: HEH,  # ە ae
        "\u06be": HEH,  # ھ heh doachashmee
        # ۆ/ؤ → و
        "\u06c6": "\u0648",  # ۆ oe
        "\u0624": "\u0648",  # ؤ waw with hamza above
        # ێ → ی, and the yeh forms NFKD uncovers (ئ → ي + hamza)
        "\u06ce": "\u06cc",  # ێ yeh with small v
        "\u064a": "\u06cc",  # ي
        "\u0649": "\u06cc",  # ى
        "\u0643": "\u06a9",  # ك
        "\u0695": "\u0631",  # ڕ reh with small v below → ر
        "\u06b5": "\u0644",  # ڵ lam with small v → ل
        "\u06a4": "\u0641",  # ڤ veh → ف
    }
)

_STRICT_PAIRS = tuple((chr(a), b) for a, b in _STRICT_LETTERS.items())
_LOOSE_PAIRS = tuple((chr(a), b) for a, b in _LOOSE_LETTERS.items())

_ALEFS = "\u0627\u0622\u0623\u0625\u0671\u0672\u0673"  # ا آ أ إ ٱ ٲ ٳ
# ئ at the start of a word, with the alef that follows it in Sorani's ئا (initial "a").
_WORD_INITIAL_YEH_HAMZA = re.compile(r"(?<!\w)\u0626([" + _ALEFS + "]?)")


def _strip_controls(text: str) -> str:
    """Remove invisible/bidi controls and ZWNJ, turning ه + ZWNJ into ە first."""
    text = _INVISIBLE.sub("", text)
    text = _HEH_ZWNJ.sub(AE + r"\1", text)
    return text.replace(ZWNJ, "")


_HIGH = re.compile("[^\\x00-\\u06ff]")


@functools.cache
def _special() -> tuple[re.Pattern[str], re.Pattern[str], frozenset[str], dict[int, str]]:
    """What :func:`_strip_marks` and :func:`ascii_digits` look for, built once on first use
    (about 0.3 s): every nonspacing mark (category Mn) with tatweel; every non-ASCII decimal
    digit (category Nd) with its ASCII digit; and a quick test that a text holds none of them.

    Most typed answers hold neither marks nor other digits. The quick test is a small regular
    expression of the marks and digits below U+0700 (Latin accents, Arabic harakat and digits)
    plus "any character from U+0700 on"; it answers in C, about fifty times faster than asking
    ``unicodedata`` character by character (a merge normalises 10^5 answers).
    """
    marks = {TATWEEL}
    digits: dict[int, str] = {}
    for point in range(0x80, sys.maxunicode + 1):
        category = unicodedata.category(chr(point))
        if category == "Mn":
            marks.add(chr(point))
        elif category == "Nd":
            digits[point] = str(unicodedata.decimal(chr(point)))
    low_marks = "".join(re.escape(ch) for ch in sorted(marks) if ord(ch) < 0x700)
    low_digits = "".join(re.escape(chr(p)) for p in digits if p < 0x700)
    quick = re.compile("[" + low_marks + low_digits + "]|" + _HIGH.pattern)
    return quick, re.compile("[" + low_marks + "]+"), frozenset(marks), digits


def _strip_marks(text: str) -> str:
    """Drop nonspacing marks (category Mn: harakat, accents) and tatweel."""
    if text.isascii():  # before _special(): ASCII text never pays for building its tables
        return text
    quick, low_marks, marks, _digits = _special()
    found = quick.search(text)
    if found is None:
        return text
    if _HIGH.search(text, found.start()) is None:  # every mark is below U+0700: one C pass
        return low_marks.sub("", text)
    return "".join(ch for ch in text if ch not in marks)


def _replace_letters(text: str, table: tuple[tuple[str, str], ...]) -> str:
    """``text`` with each letter of ``table`` replaced (a few C scans beat ``translate``)."""
    if text.isascii():
        return text
    for old, new in table:
        if old in text:
            text = text.replace(old, new)
    return text


def _initial_alef(match: re.Match[str]) -> str:
    """Word-initial ئ becomes ا; ئا becomes one alef, so ئازاد meets آزاد."""
    return match.group(1) or "\u0627"


def ascii_digits(text: str) -> str:
    """Return ``text`` with every decimal digit, in any script, replaced by its ASCII digit.

    Arabic-Indic (٠-٩), Extended Arabic-Indic (۰-۹) and every other Unicode decimal digit
    (category Nd) become 0-9; everything else is left as it is.
    """
    if text.isascii():
        return text
    quick, _low_marks, _marks, digits = _special()
    if quick.search(text) is None:
        return text
    return text.translate(digits)


def storage_form(text: str) -> str:
    """Return the form of ``text`` to store: NFC, with invisible and bidi controls removed.

    Removed: U+200B..U+200F, U+202A..U+202E, U+2066..U+2069, U+FEFF, U+061C and U+00AD. The
    ZWNJ (U+200C) is removed as well, except that ه + ZWNJ becomes ە (U+06D5), the letter the
    Sorani typist meant. Leading and trailing whitespace is trimmed; inner whitespace, letters,
    diacritics, tatweel and digits stay as typed (use :func:`ascii_digits` for numbers).
    """
    return unicodedata.normalize("NFC", _strip_controls(text)).strip()


def strict_key(text: str) -> str:
    """Return the key under which two texts are duplicates of each other.

    The storage form, NFKC-normalised and casefolded, without nonspacing marks (harakat) or
    tatweel, with ي/ى→ی and ك→ک, and every digit in ASCII. Letters that Sorani tells apart,
    such as ڕ and ر, or ە and ه, stay distinct.
    """
    text = unicodedata.normalize("NFKC", storage_form(text))
    text = unicodedata.normalize("NFKC", text.casefold())
    # Removing marks can bring together characters that compose, hence the second NFKC.
    text = unicodedata.normalize("NFKC", _strip_marks(text))
    return ascii_digits(_replace_letters(text, _STRICT_PAIRS)).strip()


def loose_key(text: str) -> str:
    """Return the key for search and "possible duplicate" hints.

    The strict key, with word-initial ئ→ا (ئا becomes a single ا, so ئازاد matches آزاد),
    alef variants→ا, ة/ە/ھ→ه, ۆ/ؤ→و, ێ→ی, ڕ→ر, ڵ→ل, ڤ→ف, Latin accents removed (NFKD without
    nonspacing marks, so Ş→s) and runs of whitespace collapsed to single spaces.
    """
    text = _WORD_INITIAL_YEH_HAMZA.sub(_initial_alef, strict_key(text))
    text = _strip_marks(unicodedata.normalize("NFKD", text))
    return " ".join(_replace_letters(text, _LOOSE_PAIRS).split())


def matches(query: str, text: str) -> bool:
    """Tell whether ``text`` matches the search ``query``.

    True when every whitespace-separated word of ``loose_key(query)`` occurs as a substring of
    ``loose_key(text)``; an empty (or blank) query matches everything.
    """
    haystack = loose_key(text)
    return all(word in haystack for word in loose_key(query).split())
