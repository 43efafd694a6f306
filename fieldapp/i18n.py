"""Languages of the interface: which exist, how one is chosen, and which way it is written.

The table follows I18N.md. Each UI language has a short code (used in forms, cookies and the
catalogue folder) and the Babel locale used for formatting. Sorani is ``ckb_IQ``; Kurmanji in
Latin script is ``ku`` (never ``kmr``, which Babel silently maps elsewhere).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from babel import Locale
from babel.core import get_locale_identifier
from babel.lists import format_list
from babel.support import NullTranslations, Translations
from flask import Flask, abort, current_app, g, has_request_context, request
from flask_babel import LazyString, get_locale, gettext, refresh
from markupsafe import Markup, escape

TRANSLATIONS_DIR = Path(__file__).resolve().parent.parent / "translations"


@dataclass(frozen=True)
class Language:
    """One interface language (its locale, direction and tag are worked out once)."""

    code: str  # the short code people pick: en, ar, ckb, ku
    locale: str  # the Babel locale for formatting
    native_name: str  # the language's name in itself, for the switcher

    @cached_property
    def babel_locale(self) -> Locale:
        """Return the Babel ``Locale`` for this language."""
        return Locale.parse(self.locale)

    @cached_property
    def direction(self) -> str:
        """Return ``rtl`` or ``ltr`` from CLDR data, never from a hard-coded list."""
        return self.babel_locale.text_direction

    @cached_property
    def tag(self) -> str:
        """Return the BCP 47 tag for ``<html lang>``, for example ``ckb-IQ``."""
        loc = self.babel_locale
        return get_locale_identifier(
            (loc.language, loc.territory, loc.script, loc.variant), sep="-"
        )


LANGUAGES: tuple[Language, ...] = (
    Language("ar", "ar_IQ", "العربية"),
    Language("ckb", "ckb_IQ", "کوردی (سۆرانی)"),
    Language("ku", "ku", "Kurdî (Kurmancî)"),
    Language("en", "en", "English"),
)
BY_CODE = {lang.code: lang for lang in LANGUAGES}
DEFAULT_CODE = "en"
TRANSLATED_CODES = tuple(code for code in BY_CODE if code != "en")


class UnknownLanguage(ValueError):
    """A language code that the app does not offer."""


def language(code: str) -> Language:
    """Return the language for ``code`` or raise :class:`UnknownLanguage`."""
    try:
        return BY_CODE[code]
    except KeyError:
        raise UnknownLanguage(code) from None


def language_for_locale(locale: Locale | None) -> Language:
    """Return the interface language whose Babel locale is ``locale``."""
    if locale is not None:
        for lang in LANGUAGES:
            if lang.babel_locale.language == locale.language:
                return lang
    return BY_CODE[DEFAULT_CODE]


def current_language() -> Language:
    """Return the language of the current request."""
    return language_for_locale(get_locale())


def _from_accept_language() -> str | None:
    """Pick the best offered language from the browser's Accept-Language header."""
    for value, _quality in request.accept_languages:
        primary = value.replace("_", "-").split("-")[0].lower()
        if primary in BY_CODE:
            return primary
        if primary in ("kmr", "sdh"):  # Kurmanji (and Southern Kurdish) readers get Kurmanji
            return "ku"
    return None


def select_code() -> str:
    """Choose the language code: explicit choice, then remembered choice, browser, English.

    The explicit choice is ``g.explicit_language`` (set by the language form or a ``?lang=``
    link); the remembered choice is the language cookie. Unknown codes never reach here: the
    request hook answers them with a 400 page.
    """
    if not has_request_context():
        return DEFAULT_CODE  # command line: callers use force_locale for their language
    explicit = getattr(g, "explicit_language", None)
    if explicit in BY_CODE:
        return str(explicit)
    remembered = request.cookies.get(current_app.config["LANGUAGE_COOKIE_NAME"])
    if remembered in BY_CODE:
        return str(remembered)
    return _from_accept_language() or DEFAULT_CODE


def select_locale() -> str:
    """The Flask-Babel locale selector."""
    return BY_CODE[select_code()].locale


def check_catalogues(app: Flask) -> None:
    """Refuse to start when a configured language has no compiled catalogue."""
    missing = [
        code
        for code in TRANSLATED_CODES
        if not (TRANSLATIONS_DIR / code / "LC_MESSAGES" / "messages.mo").is_file()
    ]
    if missing:
        raise RuntimeError(
            "compiled translations are missing for: "
            + ", ".join(missing)
            + " (run: pybabel compile -d translations)"
        )


def cli_translations(code: str | None) -> NullTranslations:
    """Translations for messages printed outside a request (command line, start-up errors)."""
    if code not in BY_CODE:
        return NullTranslations()  # English, the source language
    return Translations.load(str(TRANSLATIONS_DIR), [BY_CODE[str(code)].locale])


def take_explicit_language() -> None:
    """Honour ``?lang=`` for this page view; an unknown code gets a 400 page.

    Flask-Babel caches the locale on the application context, which a request may share with
    an outer context (scripts, tests): forget it so every request chooses afresh.
    """
    refresh()
    code = request.args.get("lang")
    if code is None:
        return
    if code not in BY_CODE:
        abort(400, description="unknown-language")
    g.explicit_language = code


# Multilingual content falls back in this order: the reader's language, the language it was
# written in, then English, Arabic, Sorani, Kurmanji. Screens mark text shown in another language.
CONTENT_FALLBACK = ("en", "ar", "ckb", "ku")


def pick(
    texts: Mapping[str, str] | None, code: str, original: str | None = None
) -> tuple[str, str | None]:
    """The text to show a reader of ``code``, and the language it is actually in."""
    texts = texts or {}
    for candidate in (code, original, *CONTENT_FALLBACK):
        if candidate and str(texts.get(candidate) or "").strip():
            return str(texts[candidate]), candidate
    return "", None


def multilingual(texts: Mapping[str, str] | None, original: str | None = None) -> Markup:
    """Render multilingual content in the reader's language, marked when it falls back."""
    reader = current_language()
    text, shown = pick(texts, reader.code, original)
    if shown is None:
        return Markup("")
    lang = BY_CODE[shown]
    span = Markup('<span lang="{}" dir="auto">{}</span>').format(lang.tag, text)
    if shown == reader.code:
        return span
    marker = gettext("(in %(language)s)", language=lang.native_name)
    return span + Markup(' <small class="fallback">{}</small>').format(marker)


class Isolated(Markup):
    """Markup that already isolates its direction: :func:`list_of` takes it as it is."""


def counted(label: object, number: object) -> Isolated:
    """``label: number`` for a list of counts, laid out in the reader's direction.

    The label is isolated (a language's own name may run the other way); the whole item keeps
    the page's direction so the colon and the number stay on the label's reading side.
    """
    return Isolated('<span dir="{}"><bdi>{}</bdi>: {}</span>').format(
        current_language().direction, label, number
    )


# Where CLDR 49 has no usable list patterns, the ones a native reader writes. Sorani (ckb) has
# none at all (Babel falls back to root's Latin ", "), and Arabic's "unit" style lacks its
# two-item pattern (Babel prints the second item twice). Keys follow CLDR: start, middle, end, 2.
LIST_PATTERNS: dict[tuple[str, str], dict[str, str]] = {
    ("ckb", "standard"): {
        "start": "{0}، {1}",
        "middle": "{0}، {1}",
        "end": "{0} و {1}",
        "2": "{0} و {1}",
    },
    ("ckb", "unit"): dict.fromkeys(("start", "middle", "end", "2"), "{0}، {1}"),
    ("ar", "unit"): dict.fromkeys(("start", "middle", "end", "2"), "{0}، {1}"),
}
LIST_STYLES = ("standard", "unit")
_MARK = re.compile(r"\x00([0-9]+)\x00")


def _joined(parts: list[str], style: str, locale: Locale) -> str:
    """``parts`` joined by the list patterns of ``locale`` (CLDR, or LIST_PATTERNS above)."""
    patterns = LIST_PATTERNS.get((locale.language, style))
    if patterns is None:
        return format_list(parts, style=style, locale=locale)  # type: ignore[arg-type]
    if len(parts) < 2:
        return "".join(parts)
    if len(parts) == 2:
        return patterns["2"].format(*parts)
    result = patterns["start"].format(parts[0], parts[1])  # as babel.lists.format_list does
    for part in parts[2:-1]:
        result = patterns["middle"].format(result, part)
    return patterns["end"].format(result, parts[-1])


def list_of(items: Iterable[object], style: str = "standard") -> Markup:
    """A list as the reader's language writes one: ``ژن: 41، پیاو: 12``, ``Rê, Tenduristî û Kar``.

    ``style`` is a CLDR list style: ``standard`` (with "and") or ``unit`` (commas only, for
    counts). Each item is isolated in ``<bdi>``, so an item in another direction (a Sorani name
    on an English page) keeps its own order. Items are escaped unless they are already
    ``Markup``; the joining words come from CLDR and are escaped too.
    """
    if style not in LIST_STYLES:
        raise ValueError(f"unknown list style {style!r}")
    isolated = [
        item if isinstance(item, Isolated) else Markup("<bdi>{}</bdi>").format(item)
        for item in items
    ]
    # Join placeholders, then escape the joined text and put the items in: CLDR's words and
    # punctuation never pass unescaped, and the items are never escaped twice.
    marks = [f"\x00{number}\x00" for number in range(len(isolated))]
    joined = str(escape(_joined(marks, style, current_language().babel_locale)))
    built = _MARK.sub(lambda found: str(isolated[int(found[1])]), joined)  # one pass
    return Markup(built)  # noqa: S704 -- built from escaped text and escaped items only


def language_name(code: str) -> Isolated:
    """A meeting language's own name (کوردی (سۆرانی), Kurdî), tagged and isolated for lists."""
    language = BY_CODE[code]
    return Isolated('<bdi lang="{}">{}</bdi>').format(language.tag, language.native_name)


class LazyText(LazyString):
    """Text from the data (a participant's words, a place, a date), worked out when shown.

    flask_babel's ``LazyString`` says it is already HTML (its ``__html__`` returns the text
    as it is), which is right for the app's own translated words but would let a template
    print data unescaped: this one is escaped like any other string (SECURITY.md W-13).
    """

    def __html__(self) -> str:
        """The text, escaped for HTML."""
        return str(escape(str(self)))


def stamp(value: object) -> Markup:
    """A stored UTC time (2026-12-03T14:20:35Z) as people read it, "2026-12-03 14:20 UTC",
    isolated left to right so that it never reorders in Arabic or Sorani text; empty for none."""
    text = str(value or "")
    if not text:
        return Markup("")
    shown = text.replace("T", " ")[:16] + " UTC" if text.endswith("Z") else text
    return Markup('<bdi dir="ltr"><time datetime="{}">{}</time></bdi>').format(text, shown)


def init_app(app: Flask) -> None:
    """Validate catalogues, take explicit choices and expose language helpers to templates."""
    check_catalogues(app)
    app.before_request(take_explicit_language)

    # Globals, not a context processor: imported macros see globals but not the context.
    app.jinja_env.globals.update(
        languages=LANGUAGES, by_code=BY_CODE, ml=multilingual, counted=counted
    )
    app.jinja_env.filters["list_of"] = list_of
    app.jinja_env.filters["language_name"] = language_name
    app.jinja_env.filters["stamp"] = stamp

    @app.context_processor
    def _language_context() -> dict[str, object]:
        return {"current_language": current_language()}
