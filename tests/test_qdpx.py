"""The coded contributions as a REFI-QDA project (.qdpx) that NVivo, ATLAS.ti, MAXQDA and
Taguette can open: validated against the published REFI-QDA project schema (vendored under
tests/assets/refi-qda/, MIT licence) and read back for what the standard describes."""

from __future__ import annotations

import hashlib
import io
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from fieldapp.services.analysis.qdpx import QdaCode, QdaSource, write_qdpx

ASSETS = Path(__file__).parent / "assets" / "refi-qda"
XSD = ASSETS / "Project-mrt2019.xsd"
XSD_SHA256 = "a2cc1ffb4ab1c07c51d6c78e69f2c9968458a9f0ad3b317ddde27f1e86f15a15"
NS = {"q": "urn:QDA-XML:project:1.0"}

ARABIC = "نحتاج إلى مياه نظيفة في الحي، والآبار جفت منذ الصيف 💧"
SORANI = "ڕێگاکە خراپە و ئاو نییە"
HOSTILE = 'a < b & c ]]> "quoted" \x01\x08\x0b\x1f\ufffe end'


def guid(name: str) -> str:
    """A uuid5 as callers make them."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"test:{name}"))


WATER, WELLS, JOBS = guid("code/water"), guid("code/wells"), guid("code/jobs")
CODES = [
    QdaCode(WATER, "المياه", "#1f77b4", description="Water & sanitation <all>"),
    QdaCode(WELLS, "بیر", "#2ca02c", parent=WATER),
    QdaCode(JOBS, HOSTILE, "#d62728"),
]


@pytest.fixture(scope="module")
def schema() -> etree.XMLSchema:
    """The REFI-QDA project schema, as published."""
    assert hashlib.sha256(XSD.read_bytes()).hexdigest() == XSD_SHA256
    return etree.XMLSchema(etree.parse(str(XSD)))


def export(sources: list[QdaSource], codes: list[QdaCode] = CODES) -> tuple[int, zipfile.ZipFile]:
    """Write a project to memory and open it."""
    out = io.BytesIO()
    count = write_qdpx(out, project="Ninewa LPCs", user_name="layla", codes=codes, sources=sources)
    return count, zipfile.ZipFile(io.BytesIO(out.getvalue()))


def project_of(archive: zipfile.ZipFile) -> etree._Element:
    """The parsed project.qde (a hard error if it is not well-formed)."""
    return etree.fromstring(archive.read("project.qde"))


def sample_sources() -> list[QdaSource]:
    """An Arabic contribution with two codes, a Sorani one with a sub-code, a hostile one."""
    return [
        QdaSource(guid("s/1"), "Mosul town hall 1", ARABIC, [WATER, JOBS], "2025-03-04T10:00:00"),
        QdaSource(guid("s/2"), "Erbil LPC 2", SORANI, [WELLS], "2025-03-05"),
        QdaSource(guid("s/3"), HOSTILE, HOSTILE, [JOBS], None, description=HOSTILE),
    ]


def test_project_is_valid_against_the_published_schema(schema: etree.XMLSchema) -> None:
    """Does project.qde validate against the REFI-QDA project schema?"""
    count, archive = export(sample_sources())
    assert count == 3
    schema.assertValid(project_of(archive))


def test_the_schema_check_has_teeth(schema: etree.XMLSchema) -> None:
    """Would the check catch a project with its elements in the wrong order or a selection
    without its positions?"""
    _, archive = export(sample_sources())
    swapped = project_of(archive)
    users = swapped.find("q:Users", NS)
    swapped.remove(users)
    swapped.append(users)  # Users after Sources: not what the schema allows
    assert not schema.validate(swapped)
    unpositioned = project_of(archive)
    del unpositioned.find(".//q:PlainTextSelection", NS).attrib["endPosition"]
    assert not schema.validate(unpositioned)


def test_layout_of_the_archive() -> None:
    """Is there one project.qde and one sources/<guid>.txt per contribution, in UTF-8, with
    the text exactly as said, referred to as internal://<guid>.txt?"""
    sources = sample_sources()
    _, archive = export(sources)
    names = sorted(archive.namelist())
    assert names == sorted(["project.qde", *(f"sources/{s.guid}.txt" for s in sources)])
    for source in sources:
        assert archive.read(f"sources/{source.guid}.txt").decode("utf-8") == source.text
        element = project_of(archive).find(f"q:Sources/q:TextSource[@guid='{source.guid}']", NS)
        assert element.get("plainTextPath") == f"internal://{source.guid}.txt"
    assert archive.read("project.qde").startswith(b'<?xml version="1.0" encoding="UTF-8"?>')


def test_codebook_has_the_sub_code_inside_its_code() -> None:
    """Is the codebook there with names, colours and descriptions, the sub-code nested in
    its parent?"""
    _, archive = export(sample_sources())
    codes = project_of(archive).find("q:CodeBook/q:Codes", NS)
    top = codes.findall("q:Code", NS)
    assert [code.get("guid") for code in top] == [WATER, JOBS]
    water = top[0]
    assert water.get("name") == "المياه"
    assert water.get("color") == "#1f77b4"
    assert water.get("isCodable") == "true"
    assert water.findtext("q:Description", namespaces=NS) == "Water & sanitation <all>"
    assert [code.get("name") for code in water.findall("q:Code", NS)] == ["بیر"]


def test_each_code_is_a_selection_over_the_whole_text() -> None:
    """Does a contribution with two codes get two selections from 0 to its length in code
    points (the emoji counts once), each coded with its code, by the exporting user?"""
    _, archive = export(sample_sources())
    project = project_of(archive)
    user = project.find("q:Users/q:User", NS)
    assert user.get("name") == "layla"
    source = project.find(f"q:Sources/q:TextSource[@guid='{guid('s/1')}']", NS)
    assert source.get("name") == "Mosul town hall 1"
    assert source.get("creationDateTime") == "2025-03-04T10:00:00"
    selections = source.findall("q:PlainTextSelection", NS)
    assert len(ARABIC) == len(ARABIC.encode("utf-16-le")) // 2 - 1  # one astral code point
    assert [(s.get("startPosition"), s.get("endPosition")) for s in selections] == [
        ("0", str(len(ARABIC))),
        ("0", str(len(ARABIC))),
    ]
    refs = [s.find("q:Coding/q:CodeRef", NS).get("targetGUID") for s in selections]
    assert refs == [WATER, JOBS]
    assert {s.get("creatingUser") for s in selections} == {user.get("guid")}
    assert len({s.get("guid") for s in selections}) == 2


def test_hostile_text_parses_and_keeps_what_xml_can_carry(schema: etree.XMLSchema) -> None:
    """Do <, &, ]]>, quotes and control characters in names, descriptions and texts give a
    well-formed, valid project (control characters dropped from the XML only)?"""
    _, archive = export(sample_sources())
    project = project_of(archive)
    schema.assertValid(project)
    readable = 'a < b & c ]]> "quoted"  end'
    source = project.find(f"q:Sources/q:TextSource[@guid='{guid('s/3')}']", NS)
    assert source.get("name") == readable
    assert source.findtext("q:Description", namespaces=NS) == readable
    assert project.find(f"q:CodeBook/q:Codes/q:Code[@guid='{JOBS}']", NS).get("name") == readable
    assert archive.read(f"sources/{guid('s/3')}.txt").decode("utf-8") == HOSTILE
    selection = source.find("q:PlainTextSelection", NS)
    assert selection.get("endPosition") == str(len(HOSTILE))


@settings(max_examples=60, deadline=None)
@given(
    texts=st.lists(st.text(max_size=40), min_size=1, max_size=5),
    name=st.text(max_size=20),
)
def test_any_text_gives_a_valid_project(texts: list[str], name: str) -> None:
    """For any text people could type (any code point), is the project valid and does each
    selection end at the text's length in code points?"""
    validator = etree.XMLSchema(etree.parse(str(XSD)))
    sources = [
        QdaSource(guid(f"h/{n}"), name + text, text, [WATER], "2025-01-01")
        for n, text in enumerate(texts)
    ]
    _, archive = export(sources)
    project = project_of(archive)
    validator.assertValid(project)
    for source, element in zip(sources, project.find("q:Sources", NS), strict=True):
        selection = element.find("q:PlainTextSelection", NS)
        if source.text:
            assert selection.get("endPosition") == str(len(source.text))
        else:
            assert selection is None
            assert element.find("q:Coding/q:CodeRef", NS).get("targetGUID") == WATER


def test_no_codes_and_no_sources_is_still_a_valid_project(schema: etree.XMLSchema) -> None:
    """With an empty codebook and nothing to export, is the file still valid and empty?"""
    count, archive = export([], codes=[])
    assert count == 0
    project = project_of(archive)
    schema.assertValid(project)
    assert project.find("q:CodeBook", NS) is None
    assert project.find("q:Sources", NS) is None
    assert archive.namelist() == ["project.qde"]


def test_codes_not_in_the_codebook_are_left_out(schema: etree.XMLSchema) -> None:
    """Is a code the codebook does not have left out rather than a dangling reference?"""
    unknown = guid("code/removed")
    _, archive = export([QdaSource(guid("s/9"), "x", "text", [unknown, WATER, WATER])])
    project = project_of(archive)
    schema.assertValid(project)
    refs = [ref.get("targetGUID") for ref in project.iterfind(".//q:CodeRef", NS)]
    assert refs == [WATER]


def test_sources_stream_one_at_a_time(tmp_path: Path) -> None:
    """Are sources written as they come (the generator is read once, in step), to a path?"""
    seen: list[int] = []

    def sources() -> Iterator[QdaSource]:
        for n in range(500):
            seen.append(n)
            yield QdaSource(guid(f"stream/{n}"), f"c{n}", f"{SORANI} {n}", [WELLS])

    target = tmp_path / "project.qdpx"
    count = write_qdpx(target, project="p", user_name="u", codes=CODES, sources=sources())
    assert count == 500
    assert seen == list(range(500))
    with zipfile.ZipFile(target) as archive:
        assert len(archive.namelist()) == 501
        assert len(project_of(archive).find("q:Sources", NS)) == 500


def test_bad_guids_and_repeated_sources_are_refused(tmp_path: Path) -> None:
    """Is a guid that is not a UUID, or a source given twice, refused without leaving a
    half-written file?"""
    target = tmp_path / "bad.qdpx"
    with pytest.raises(ValueError, match="not a UUID"):
        write_qdpx(
            target,
            project="p",
            user_name="u",
            codes=CODES,
            sources=[QdaSource("not-a-guid", "x", "t", [])],
        )
    assert not target.exists()
    twice = QdaSource(guid("s/twice"), "x", "t", [])
    with pytest.raises(ValueError, match="share the guid"):
        write_qdpx(target, project="p", user_name="u", codes=CODES, sources=[twice, twice])
    assert not target.exists()
