"""Iraq's governorates and districts (qada), a reference list shipped with the package.

The list lives in ``fieldapp/data/iraq_places.json`` and is read once per process: it is
shipped data that changes only with a release, not database rows. Every place has names
in Arabic (``ar``), Sorani (``ckb``), Kurmanji (``ku``) and English (``en``).

Records keep the codes they were made with. When the list changes (Halabja, a district of
Sulaymaniyah until 2025, is now a governorate of its own), the old code stays valid as a
*former district* that resolves to the district it became, and the governorate shown is always
derived from the district through the current list (:func:`placement`). No synced record is
rewritten, so installations holding the same versions keep the same digest.
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
    """One of Iraq's 19 governorates, by its ISO 3166-2:IQ code (Halabja, not yet in ISO
    3166-2, as IQ-HA), with its districts."""

    code: str
    names: Mapping[str, str] = field(hash=False)
    districts: tuple[District, ...]
    note: str | None = None

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
    return Governorate(
        code=code,
        names=_names(raw.get("names"), code),
        districts=districts,
        note=raw.get("note") or None,
    )


@dataclass(frozen=True)
class FormerDistrict:
    """A district code of an earlier list: records made with it are shown under ``now``."""

    code: str
    governorate_code: str
    now: District


@dataclass(frozen=True)
class _Places:
    """The shipped list, read once: governorates in order and the indexes by code."""

    governorates: tuple[Governorate, ...]
    by_code: Mapping[str, Governorate]
    districts: Mapping[str, District]
    former: Mapping[str, FormerDistrict]


def _former(raw: Any, districts: Mapping[str, District]) -> FormerDistrict:
    """Build one former district; its ``now`` must be a district of the current list."""
    code, now = str(raw["code"]), str(raw["now"])
    if code in districts or now not in districts:
        raise ValueError(f"{DATA_FILE}: former district {code} must point to a current one")
    return FormerDistrict(code=code, governorate_code=str(raw["governorate"]), now=districts[now])


@cache
def _load() -> _Places:
    """Read the shipped list once: the governorates in order, and the indexes by code."""
    text = resources.files(DATA_PACKAGE).joinpath(DATA_FILE).read_text("utf-8")
    data = json.loads(text)
    items = tuple(_governorate(raw) for raw in data["governorates"])
    by_code = {item.code: item for item in items}
    districts = {d.code: d for item in items for d in item.districts}
    if len(by_code) != len(items) or len(districts) != sum(len(i.districts) for i in items):
        raise ValueError(f"{DATA_FILE}: place codes must be unique")
    former = {
        f.code: f for f in (_former(raw, districts) for raw in data.get("former_districts", []))
    }
    return _Places(
        items, MappingProxyType(by_code), MappingProxyType(districts), MappingProxyType(former)
    )


@cache
def source() -> str:
    """The data file's note on where the list comes from and how old it is."""
    text = resources.files(DATA_PACKAGE).joinpath(DATA_FILE).read_text("utf-8")
    return str(json.loads(text).get("source", ""))


def governorates() -> list[Governorate]:
    """All 19 governorates, in the order of the data file."""
    return list(_load().governorates)


def governorate(code: str) -> Governorate:
    """The governorate with ISO 3166-2 ``code`` (e.g. ``IQ-NI``); UnknownPlace if none."""
    try:
        return _load().by_code[code]
    except KeyError:
        raise UnknownPlace(code) from None


def district(code: str) -> District:
    """The district with ``code`` (e.g. ``IQ-NI-MOSUL``), or the district a former code
    became (``IQ-SU-HALABJA`` gives Halabja district of Halabja); UnknownPlace if none."""
    loaded = _load()
    found = loaded.districts.get(code)
    if found is not None:
        return found
    former = loaded.former.get(code)
    if former is not None:
        return former.now
    raise UnknownPlace(code)


def former_districts() -> list[FormerDistrict]:
    """District codes of earlier lists that records may still carry."""
    return list(_load().former.values())


def districts_of(governorate_code: str) -> list[District]:
    """The districts of a governorate; UnknownPlace if the governorate is unknown."""
    return list(governorate(governorate_code).districts)


def is_valid(governorate_code: str, district_code: str | None) -> bool:
    """Whether the governorate exists and, if a district is given, the district is in it.

    A former district is valid with the governorate it had (what a laptop with the old list
    saved) and with the governorate it is in now.
    """
    loaded = _load()
    if district_code is None:
        return governorate_code in loaded.by_code
    former = loaded.former.get(district_code)
    if former is not None and former.governorate_code == governorate_code:
        return True
    found = loaded.districts.get(district_code) or (former.now if former else None)
    return found is not None and found.governorate_code == governorate_code


def placement(
    governorate_code: str | None, district_code: str | None
) -> tuple[str | None, str | None]:
    """The governorate and district a record's place codes mean in the current list.

    A known district decides the governorate (a consultation saved as Sulaymaniyah /
    Halabja with the old list is in Halabja governorate now); a former district code gives the
    district it became. Unknown codes are returned as they are.
    """
    if not district_code:
        return governorate_code, district_code
    try:
        found = district(district_code)
    except UnknownPlace:
        return governorate_code, district_code
    return found.governorate_code, found.code


def all_names(governorate_code: str | None, district_code: str | None) -> list[str]:
    """The names of a governorate and district in every language (for search), where the
    current list places them; unknown codes give none."""
    governorate_code, district_code = placement(governorate_code, district_code)
    names: list[str] = []
    for code, lookup in ((governorate_code, governorate), (district_code, district)):
        if not code:
            continue
        try:
            names.extend(lookup(code).names.values())
        except UnknownPlace:
            continue
    return names
