#!/usr/bin/env python3
"""Subset Noto Sans Arabic to the letters, marks and digits of Arabic, Sorani and Kurmanji.

    python scripts/subset_fonts.py            # writes the two .woff2 files, prints their sizes
    python scripts/subset_fonts.py --check    # exit 1 if the committed files differ from a rebuild

Input: the full fonts in ``scripts/font-sources/noto-sans-arabic/`` (provenance, checksums and
licence in its SOURCE.md and OFL.txt), checked against the SHA-256 below. Output:
``fieldapp/static/fonts/noto-sans-arabic/noto-sans-arabic-subset-{400,700}-normal.woff2``,
one file per weight holding both scripts: every participant page shows Arabic-script text
(the language buttons) and Latin digits, so two files split by ``unicode-range`` would both be
downloaded anyway, with two sets of headers. After running it, run scripts/build_static.py.

Measured with fontTools 4.69 (woff2, regular / bold): the characters below 21.9 / 22.3 KB;
the whole Arabic block U+0600-06FF with Latin-1 31.1 / 31.9 KB; the fontsource files they
replace (arabic, latin, latin-ext) 66.1 / 67.4 KB.

The OpenType layout features that shaping needs are kept (fontTools' default list: ccmp, locl,
isol, init, medi, fina, rlig and liga for lam-alef, calt, curs, kern, mark, mkmk, rtlm ...),
with every glyph they reach from the characters kept (their closure). fontTools reads and
writes woff2 with the ``brotli`` package: ``pip install -e ".[fonts]"``.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ROOT / "scripts" / "font-sources" / "noto-sans-arabic"
OUTPUT = ROOT / "fieldapp" / "static" / "fonts" / "noto-sans-arabic"

HB_REPACKER = "fontTools.ttLib.tables.otBase:USE_HARFBUZZ_REPACKER"
# weight: (source file, its SHA-256, output file)
FONTS = {
    "400": (
        "NotoSansArabic-Regular.ttf",
        "252629ca0e87b6233851249b8cbf7b43445211a8caf199f1b306a19202251508",
        "noto-sans-arabic-subset-400-normal.woff2",
    ),
    "700": (
        "NotoSansArabic-Bold.ttf",
        "a86a704ff8b315082f4859b04c2f8f746f4cefb14553ef10505f143e0d4829d3",
        "noto-sans-arabic-subset-700-normal.woff2",
    ),
}


def _span(first: int, last: int) -> list[int]:
    return list(range(first, last + 1))


# Arabic: hamza and its seats (ء آ أ ؤ إ ئ), the 28 letters, ة and ى, tatweel, ك and ي.
ARABIC_LETTERS = _span(0x0621, 0x063A) + _span(0x0640, 0x064A)
# Harakat, tanwin, shadda, sukun, hamza above/below and the other combining marks of the
# block's first row, superscript alef, alef wasla.
ARABIC_MARKS = _span(0x064B, 0x065F) + [0x0670, 0x0671]
# Sorani (and Badini and Persian in Arabic script): پ چ ژ ڤ ک گ ی ڕ ڵ ۆ ێ ە ھ ڎ, the other
# Kurdish vowel letters found in older texts (ۊ ۋ ۅ ۇ ۈ ۉ), ہ ۀ.
KURDISH_ARABIC_LETTERS = [
    0x067E,
    0x0686,
    0x0698,
    0x06A4,
    0x06A9,
    0x06AF,
    0x06CC,
    0x0695,
    0x06B5,
    0x06C6,
    0x06CE,
    0x06D5,
    0x06BE,
    0x068E,
    0x06CA,
    0x06CB,
    0x06C5,
    0x06C7,
    0x06C8,
    0x06C9,
    0x06C1,
    0x06C0,
]
# Arabic-Indic and Extended Arabic-Indic (Persian/Kurdish keyboards) digits.
ARABIC_DIGITS = _span(0x0660, 0x0669) + _span(0x06F0, 0x06F9)
# ، ؛ ؟ ٪ ٫ ٬ ٭ and the Arabic letter mark (ALM).
ARABIC_PUNCTUATION = [0x060C, 0x061B, 0x061F, 0x066A, 0x066B, 0x066C, 0x066D, 0x061C]
# ASCII and Latin-1 (Kurmanji ç ê î û with their capitals, « », names typed with accents).
LATIN = _span(0x0020, 0x007E) + _span(0x00A0, 0x00FF)
# Kurmanji ş Ş, and the Turkish letters a Kurmanji keyboard from Turkey types (ğ Ğ ı İ).
LATIN_EXTENDED = [0x015E, 0x015F, 0x011E, 0x011F, 0x0130, 0x0131]
# ZWNJ (Sorani needs it), ZWJ, LRM, RLM, the bidi embeddings and isolates, dashes, quotes,
# ellipsis, bullet, single guillemets, minus.
GENERAL = (
    _span(0x200C, 0x200F)
    + _span(0x202A, 0x202E)
    + _span(0x2066, 0x2069)
    + [0x2010, 0x2011, 0x2013, 0x2014, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2026]
    + [0x2039, 0x203A, 0x2212]
)

CODEPOINTS = sorted(
    set(
        ARABIC_LETTERS
        + ARABIC_MARKS
        + KURDISH_ARABIC_LETTERS
        + ARABIC_DIGITS
        + ARABIC_PUNCTUATION
        + LATIN
        + LATIN_EXTENDED
        + GENERAL
    )
)


def source_path(weight: str) -> Path:
    """The full font of ``weight``, refused if its bytes are not the recorded ones."""
    name, digest, _output = FONTS[weight]
    path = SOURCES / name
    found = hashlib.sha256(path.read_bytes()).hexdigest()
    if found != digest:
        raise SystemExit(f"{path}: SHA-256 {found}, expected {digest} (see SOURCE.md)")
    return path


def subset(weight: str) -> bytes:
    """The woff2 subset of ``weight``, the same bytes on every run with one fontTools."""
    from fontTools import subset as ftsubset
    from fontTools.ttLib import TTFont

    # fontTools packs GSUB and GPOS with harfbuzz's repacker where uharfbuzz is installed (the
    # test extra has it), other bytes for the same font: its own packer on every machine.
    font = TTFont(source_path(weight), recalcTimestamp=False, cfg={HB_REPACKER: False})
    options = ftsubset.Options()
    options.flavor = "woff2"
    options.name_languages = ["*"]
    subsetter = ftsubset.Subsetter(options)
    # Only code points the font has: the rest (the bidi controls) are never drawn anyway.
    cmap = font.getBestCmap()
    subsetter.populate(unicodes=[c for c in CODEPOINTS if c in cmap])
    subsetter.subset(font)
    out = io.BytesIO()
    font.flavor = "woff2"
    font.save(out)
    return out.getvalue()


def main(argv: list[str] | None = None) -> int:
    """Write the subsets (or with ``--check``, compare them with the committed files)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--check", action="store_true", help="compare, write nothing")
    check = parser.parse_args(argv).check
    stale = []
    for weight, (_name, _digest, output) in FONTS.items():
        data = subset(weight)
        path = OUTPUT / output
        if check:
            if not path.is_file() or path.read_bytes() != data:
                stale.append(str(path))
            continue
        path.write_bytes(data)
        print(f"{path.relative_to(ROOT)}: {len(data)} bytes")  # noqa: T201 -- a build script
    if stale:
        print("stale (run scripts/subset_fonts.py):", *stale, sep="\n  ", file=sys.stderr)  # noqa: T201
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
