"""The shipped list of Iraq's governorates and districts, and the module that reads it."""

from __future__ import annotations

import re

import pytest

from fieldapp.services import places
from fieldapp.services.places import District, Governorate, UnknownPlace

ISO_CODES = {
    "IQ-AN",
    "IQ-BA",
    "IQ-BB",
    "IQ-BG",
    "IQ-DA",
    "IQ-DI",
    "IQ-DQ",
    "IQ-HA",  # Halabja: no ISO 3166-2 code yet, the list's own
    "IQ-KA",
    "IQ-KI",
    "IQ-AR",
    "IQ-MA",
    "IQ-MU",
    "IQ-NA",
    "IQ-NI",
    "IQ-QA",
    "IQ-SD",
    "IQ-SU",
    "IQ-WA",
}
LANGUAGES = ("ar", "ckb", "ku", "en")
DISTRICT_CODE = re.compile(r"^(IQ-[A-Z]{2})-[A-Z0-9]+(?:-[A-Z0-9]+)*$")
# Letters of the Arabic alphabet that Sorani writes with its own: ی ک ە for ي ك ة ى.
NOT_SORANI = set("يكةى")
ARABIC_SCRIPT = re.compile(r"[\u0600-\u06FF\u0750-\u077F\u08A0-\u08FF\uFB50-\uFDFF\uFE70-\uFEFF]")


def all_places() -> list[Governorate | District]:
    """Every governorate and every district."""
    result: list[Governorate | District] = []
    for item in places.governorates():
        result.append(item)
        result.extend(item.districts)
    return result


def all_districts() -> list[District]:
    """Every district of every governorate."""
    return [d for item in places.governorates() for d in item.districts]


def test_nineteen_governorates_with_their_codes():
    """Halabja is the 19th governorate (law of 14 April 2025), no longer a district."""
    codes = [item.code for item in places.governorates()]
    assert len(codes) == 19
    assert set(codes) == ISO_CODES
    assert places.governorate("IQ-HA").note


def test_a_plausible_number_of_districts():
    assert 100 <= len(all_districts()) <= 125


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_place_has_every_name(lang):
    missing = [p.code for p in all_places() if not p.names.get(lang, "").strip()]
    assert missing == []


def test_codes_are_unique():
    codes = [p.code for p in all_places()]
    assert len(codes) == len(set(codes))


def test_district_codes_match_the_pattern_and_their_governorate():
    for item in places.governorates():
        for d in item.districts:
            match = DISTRICT_CODE.match(d.code)
            assert match, d.code
            assert match.group(1) == item.code == d.governorate_code, d.code


def test_sorani_names_use_sorani_letters():
    wrong = {p.code: p.names["ckb"] for p in all_places() if set(p.names["ckb"]) & NOT_SORANI}
    assert wrong == {}


def test_kurmanji_names_are_in_latin_script():
    wrong = {p.code: p.names["ku"] for p in all_places() if ARABIC_SCRIPT.search(p.names["ku"])}
    assert wrong == {}


def test_arabic_names_are_in_arabic_script():
    wrong = {p.code: p.names["ar"] for p in all_places() if not ARABIC_SCRIPT.search(p.names["ar"])}
    assert wrong == {}


def test_every_governorate_has_districts():
    assert [item.code for item in places.governorates() if not item.districts] == []


def test_source_note_is_present():
    assert places.source().strip()


def district_code(governorate_code: str, *english: str) -> str:
    """The code of the district of ``governorate_code`` named one of ``english``."""
    for d in places.districts_of(governorate_code):
        if d.names["en"] in english:
            return d.code
    pytest.fail(f"none of {english} in {governorate_code}")


@pytest.mark.parametrize(
    ("governorate_code", "english"),
    [
        ("IQ-NI", ("Sinjar",)),
        ("IQ-DA", ("Zakho",)),
        ("IQ-AR", ("Soran",)),
        ("IQ-HA", ("Halabja",)),
        ("IQ-HA", ("Khurmal",)),
        ("IQ-BA", ("Al-Zubair", "Zubair")),
        ("IQ-BG", ("Kadhimiya", "Al-Kadhimiya")),
        ("IQ-NI", ("Mosul",)),
        ("IQ-NI", ("Makhmour",)),
        ("IQ-NI", ("Akre",)),
    ],
)
def test_known_pairs_are_valid(governorate_code, english):
    code = district_code(governorate_code, *english)
    assert places.is_valid(governorate_code, code)
    assert places.district(code).governorate_code == governorate_code


def test_cross_pairs_are_not_valid():
    mosul = district_code("IQ-NI", "Mosul")
    zakho = district_code("IQ-DA", "Zakho")
    assert not places.is_valid("IQ-DA", mosul)
    assert not places.is_valid("IQ-NI", zakho)


def test_unknown_codes():
    assert places.is_valid("IQ-NI", None)
    assert not places.is_valid("IQ-XX", None)
    assert not places.is_valid("IQ-XX", "IQ-NI-MOSUL")
    assert not places.is_valid("IQ-NI", "IQ-NI-NOWHERE")
    with pytest.raises(UnknownPlace):
        places.governorate("IQ-XX")
    with pytest.raises(UnknownPlace):
        places.district("IQ-NI-NOWHERE")
    with pytest.raises(UnknownPlace):
        places.districts_of("IQ-XX")
    with pytest.raises(KeyError):  # UnknownPlace is a KeyError
        places.governorate("")


def test_disputed_districts_are_listed_once_with_a_note():
    names = [d.names["en"] for d in all_districts()]
    for english in ("Akre", "Shekhan", "Makhmour", "Halabja", "Kifri"):
        assert names.count(english) == 1, english
        code = next(d.code for d in all_districts() if d.names["en"] == english)
        assert places.district(code).note, english


def test_lookups_agree():
    ninewa = places.governorate("IQ-NI")
    assert ninewa.names["en"] == "Ninewa"
    assert places.districts_of("IQ-NI") == list(ninewa.districts)
    assert places.district("IQ-NI-MOSUL") in ninewa.districts
    assert places.governorates() is not places.governorates()  # callers get their own list


def test_name_in_each_language():
    ninewa = places.governorate("IQ-NI")
    assert ninewa.name("ar") == "نينوى"
    assert ninewa.name("ckb") == "نەینەوا"
    assert ninewa.name("ku") == "Neynewa"
    assert ninewa.name("en") == "Ninewa"


def test_name_falls_back_to_english_then_arabic():
    place = District(
        code="IQ-NI-TEST",
        governorate_code="IQ-NI",
        names={"ar": "اختبار", "en": "Test", "ckb": ""},
    )
    assert place.name("ckb") == "Test"  # empty counts as missing
    assert place.name("fr") == "Test"
    arabic_only = Governorate(code="IQ-XX", names={"ar": "اختبار"}, districts=())
    assert arabic_only.name("ku") == "اختبار"
    assert arabic_only.name("en") == "اختبار"
    assert places.district("IQ-NI-MOSUL").name("fr") == "Mosul"


HALABJA_DISTRICTS = {
    "IQ-HA-HALABJA": {"ar": "حلبجة", "ckb": "هەڵەبجە", "ku": "Helebce", "en": "Halabja"},
    "IQ-HA-KHURMAL": {"ar": "خورمال", "ckb": "خورماڵ", "ku": "Xurmal", "en": "Khurmal"},
    "IQ-HA-SIRWAN": {"ar": "سيروان", "ckb": "سیروان", "ku": "Sîrwan", "en": "Sirwan"},
    "IQ-HA-BYARA": {"ar": "بيارة", "ckb": "بیارە", "ku": "Biyare", "en": "Byara"},
}


def test_halabja_has_its_own_districts_in_four_languages():
    """Halabja (centre), Khurmal, Sirwan and Byara, each noting its federal status."""
    halabja = places.governorate("IQ-HA")
    assert halabja.names == {"ar": "حلبجة", "ckb": "هەڵەبجە", "ku": "Helebce", "en": "Halabja"}
    assert {d.code: dict(d.names) for d in halabja.districts} == HALABJA_DISTRICTS
    assert all(d.note for d in halabja.districts)


def test_sulaymaniyah_no_longer_lists_halabja():
    names = [d.names["en"] for d in places.districts_of("IQ-SU")]
    assert "Halabja" not in names
    assert len(names) == 9


def test_the_old_halabja_code_still_resolves_to_halabja_governorate():
    """A record saved with the old list (Sulaymaniyah / IQ-SU-HALABJA) keeps a valid place."""
    (former,) = places.former_districts()
    assert (former.code, former.governorate_code) == ("IQ-SU-HALABJA", "IQ-SU")
    assert places.district("IQ-SU-HALABJA").code == "IQ-HA-HALABJA"
    assert places.is_valid("IQ-SU", "IQ-SU-HALABJA")  # the old form
    assert places.is_valid("IQ-HA", "IQ-SU-HALABJA")
    assert places.is_valid("IQ-HA", "IQ-HA-HALABJA")  # the new form
    assert not places.is_valid("IQ-SU", "IQ-HA-HALABJA")
    assert not places.is_valid("IQ-DA", "IQ-SU-HALABJA")


def test_the_governorate_shown_is_derived_from_the_district():
    assert places.placement("IQ-SU", "IQ-SU-HALABJA") == ("IQ-HA", "IQ-HA-HALABJA")
    assert places.placement("IQ-HA", "IQ-HA-KHURMAL") == ("IQ-HA", "IQ-HA-KHURMAL")
    assert places.placement("IQ-NI", "IQ-NI-MOSUL") == ("IQ-NI", "IQ-NI-MOSUL")
    assert places.placement("IQ-NI", None) == ("IQ-NI", None)
    # Codes this list does not know (a newer list's) are left as they are.
    assert places.placement("IQ-ZZ", "IQ-ZZ-NEW") == ("IQ-ZZ", "IQ-ZZ-NEW")


def test_search_names_of_an_old_halabja_record_are_halabja_governorates():
    names = places.all_names("IQ-SU", "IQ-SU-HALABJA")
    assert "سلێمانی" not in names
    assert "Sulaymaniyah" not in names
    assert names.count("Halabja") == 2  # the governorate and its district


@pytest.mark.parametrize(
    ("code", "ckb", "ku"),
    [
        ("IQ-KI-DIBIS", "دوبز", "Dubz"),
        ("IQ-SD-TOOZ", "دووزخورماتوو", "Dûz Xurmatû"),
        ("IQ-KI-KIRKUK", "کەرکووک", "Kerkûk"),
        ("IQ-NI-TEL-AFAR", "تەلەعفەر", "Tilafer"),
        ("IQ-NI-SHEKHAN", "شێخان", "Şêxan"),
        ("IQ-NI-SINJAR", "شنگال", "Şingal"),
    ],
)
def test_kurdish_names_follow_kurdish_usage(code, ckb, ku):
    """Dibis is دوبز / Dubz in Kurdish, not دبس / Dibis."""
    district = places.district(code)
    assert (district.names["ckb"], district.names["ku"]) == (ckb, ku)


def test_the_data_file_cites_its_sources():
    import json
    from importlib import resources

    data = json.loads(resources.files("fieldapp.data").joinpath("iraq_places.json").read_text())
    sources = " ".join(data["_sources"])
    for needle in ("14 April 2025", "دوبز", "Khurmal", "https://"):
        assert needle in sources
