"""Iraq's governorates and districts (qada), a reference list shipped with the package.

The list lives in ``fieldapp/data/iraq_places.json`` and is read once per process: it is
shipped data that changes only with a release, not database rows. Every place has names
in Arabic (``ar``), Sorani (``ckb``), Kurmanji (``ku``) and English (``en``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from types import MappingProxyType
from typing import Any

DATA_PACKAGE = "fieldapp.data"
DATA_FILE = "iraq_places.json"
FALLBACK_LANGUAGES = ("en", "ar")


class UnknownPlace(KeyError):
    """A governorate or district code that is not in the list."""


def _name(names: Mapping[str, str], lang: str, code: str) -> str:
    """The name in ``lang``, else in English, else in Arabic (else the code itself)."""
    for candidate in (lang, *FALLBACK_LANGUAGES):
        name = names.get(candidate)
        if name:
            return name
    return code


@dataclass(frozen=True)
class District:
    """A district (qada), under the governorate that the federal (OCHA) list gives it."""

    code: str
    governorate_code: str
    names: Mapping[str, str] = field(hash=False)
    note: str | None = None

    def name(self, lang: str) -> str:
        """The district's name in ``lang``, falling back to English, then Arabic."""
        return _name(self.names, lang, self.code)


@dataclass(frozen=True)
class Governorate:
    """One of Iraq's 18 governorates, by its ISO 3166-2:IQ code, with its districts."""

    code: str
    names: Mapping[str, str] = field(hash=False)
    districts: tuple[District, ...]

    def name(self, lang: str) -> str:
        """The governorate's name in ``lang``, falling back to English, then Arabic."""
        return _name(self.names, lang, self.code)


def _names(raw: Any, code: str) -> Mapping[str, str]:
    """Check a ``names`` object from the JSON file and return it read-only."""
    if not isinstance(raw, dict) or not all(
        isinstance(key, str) and isinstance(value, str) for key, value in raw.items()
    ):
        raise ValueError(f"{DATA_FILE}: names of {code} must map language codes to strings")
    return MappingProxyType(dict(raw))


def _governorate(raw: dict[str, Any]) -> Governorate:
    """Build a governorate and its districts from their JSON objects."""
    code = str(raw["code"])
    districts = tuple(
        District(
            code=str(item["code"]),
            governorate_code=code,
            names=_names(item.get("names"), str(item["code"])),
            note=item.get("note") or None,
        )
        for item in raw.get("districts", [])
    )
    return Governorate(code=code, names=_names(raw.get("names"), code), districts=districts)


@cache
def _load() -> tuple[tuple[Governorate, ...], Mapping[str, Governorate], Mapping[str, District]]:
    """Read the shipped list once: the governorates in order, and both indexes by code."""
    text = resources.files(DATA_PACKAGE).joinpath(DATA_FILE).read_text("utf-8")
    data = json.loads(text)
    items = tuple(_governorate(raw) for raw in data["governorates"])
    by_code = {item.code: item for item in items}
    districts = {d.code: d for item in items for d in item.districts}
    if len(by_code) != len(items) or len(districts) != sum(len(i.districts) for i in items):
        raise ValueError(f"{DATA_FILE}: place codes must be unique")
    return items, MappingProxyType(by_code), MappingProxyType(districts)


@cache
def source() -> str:
    """The data file's note on where the list comes from and how old it is."""
    text = resources.files(DATA_PACKAGE).joinpath(DATA_FILE).read_text("utf-8")
    return str(json.loads(text).get("source", ""))


def governorates() -> list[Governorate]:
    """All 18 governorates, in the order of the data file."""
    return list(_load()[0])


def governorate(code: str) -> Governorate:
    """The governorate with ISO 3166-2 ``code`` (e.g. ``IQ-NI``); UnknownPlace if none."""
    try:
        return _load()[1][code]
    except KeyError:
        raise UnknownPlace(code) from None


def district(code: str) -> District:
    """The district with ``code`` (e.g. ``IQ-NI-MOSUL``); UnknownPlace if none."""
    try:
        return _load()[2][code]
    except KeyError:
        raise UnknownPlace(code) from None


def districts_of(governorate_code: str) -> list[District]:
    """The districts of a governorate; UnknownPlace if the governorate is unknown."""
    return list(governorate(governorate_code).districts)


def is_valid(governorate_code: str, district_code: str | None) -> bool:
    """Whether the governorate exists and, if a district is given, the district is in it."""
    _items, by_code, districts = _load()
    if governorate_code not in by_code:
        return False
    if district_code is None:
        return True
    found = districts.get(district_code)
    return found is not None and found.governorate_code == governorate_code


def all_names(governorate_code: str | None, district_code: str | None) -> list[str]:
    """The names of a governorate and district in every language (for search); unknown codes
    give none."""
    names: list[str] = []
    for code, lookup in ((governorate_code, governorate), (district_code, district)):
        if not code:
            continue
        try:
            names.extend(lookup(code).names.values())
        except UnknownPlace:
            continue
    return names
