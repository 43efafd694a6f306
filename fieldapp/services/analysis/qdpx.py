"""Coded contributions as a REFI-QDA project (.qdpx), the file NVivo, ATLAS.ti, MAXQDA,
QualCoder and Taguette exchange.

What the standard (REFI-QDA 1.5, schema "Project-mrt2019.xsd", namespace
``urn:QDA-XML:project:1.0``) asks, and how it is met here:

- a .qdpx is a zip holding one ``project.qde`` (UTF-8 XML) and a flat ``sources/`` folder
  of internal sources named by their GUID; a plain text source is ``sources/<guid>.txt`` in
  UTF-8, referred to as ``plainTextPath="internal://<guid>.txt"``;
- ``Project`` holds, in this order, ``Users``, ``CodeBook`` (one ``Codes`` of ``Code`` elements,
  sub-codes nested directly inside their parent ``Code`` after its ``Description``) and
  ``Sources``; a list element may not be empty, so an empty codebook or source list is left out;
- a text selection is given by Unicode code point positions, the first code point being 0; each
  coding here covers the whole text: ``startPosition="0" endPosition="<code points>"`` (Python's
  ``len`` counts code points);
- GUIDs are UUIDs; colours are ``#RRGGBB``.

The file is streamed: each source text goes into the zip as it comes and its XML into a
temporary file, which becomes ``project.qde`` at the end, so no more than one source is held in
memory. Text that XML 1.0 cannot carry (control characters other than tab and line breaks) is
left out of the XML; the source files keep the text exactly, so the positions hold.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import uuid
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import IO, BinaryIO
from xml.sax.saxutils import escape, quoteattr

NAMESPACE = "urn:QDA-XML:project:1.0"
ORIGIN = "fieldapp"
PROJECT_FILE = "project.qde"
SOURCES_FOLDER = "sources"

# Everything XML 1.0 forbids: C0 controls other than tab, LF and CR, lone surrogates, U+FFFE
# and U+FFFF.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_RGB = re.compile(r"#(?:[0-9A-Fa-f]{6}|[0-9A-Fa-f]{3})")
# Parsers turn a literal CR in element text into LF; a character reference keeps it.
_TEXT_ENTITIES = {"\r": "&#13;"}


@dataclass
class QdaCode:
    """A code of the codebook: a theme, or a sub-theme when ``parent`` is another code's guid."""

    guid: str
    name: str
    colour: str
    description: str = ""
    parent: str | None = None


@dataclass
class QdaSource:
    """One text source: a contribution's text and the codes applied to all of it."""

    guid: str
    name: str
    text: str
    code_guids: Sequence[str]
    created_at: str | None = None
    description: str = ""


def _guid(value: str) -> str:
    """``value`` as the canonical lower-case UUID the schema's GUIDType accepts."""
    try:
        return str(uuid.UUID(value))
    except (ValueError, AttributeError, TypeError) as error:
        raise ValueError(f"not a UUID: {value!r}") from error


def _text(value: str) -> str:
    """Element text: forbidden characters dropped, markup escaped."""
    return escape(_NOT_XML.sub("", value), _TEXT_ENTITIES)


def _attr(value: str) -> str:
    """An attribute value with its quotes: forbidden characters dropped, markup escaped."""
    return quoteattr(_NOT_XML.sub("", value))


def _date_time(value: str | datetime | date | None) -> str | None:
    """An ISO date or date-time as an xsd:dateTime (UTC with "Z" when it has a zone), or None
    when there is none or it cannot be read."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return None
    if not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day)
    if value.tzinfo is not None:
        return value.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="seconds") + "Z"
    return value.isoformat(timespec="seconds")


def _codebook(codes: Sequence[QdaCode]) -> str:
    """The ``CodeBook`` element (empty string when there are no codes)."""
    children: dict[str | None, list[QdaCode]] = {}
    known = {_guid(code.guid) for code in codes}
    for code in codes:
        parent = _guid(code.parent) if code.parent else None
        children.setdefault(parent if parent in known else None, []).append(code)
    parts: list[str] = []
    written: set[str] = set()

    def write(code: QdaCode) -> None:
        guid = _guid(code.guid)
        if guid in written:  # a cycle or a repeated code: each code once
            return
        written.add(guid)
        colour = f" color={_attr(code.colour)}" if _RGB.fullmatch(code.colour or "") else ""
        parts.append(f'<Code guid={_attr(guid)} name={_attr(code.name)} isCodable="true"{colour}>')
        if code.description:
            parts.append(f"<Description>{_text(code.description)}</Description>")
        for child in children.get(guid, ()):
            write(child)
        parts.append("</Code>")

    for code in children.get(None, ()):
        write(code)
    for code in codes:  # codes only reachable through a cycle of parents
        write(code)
    if not parts:
        return ""
    return "<CodeBook><Codes>" + "".join(parts) + "</Codes></CodeBook>"


def _source_xml(source: QdaSource, guid: str, user: str, code_guids: Sequence[str]) -> str:
    """The ``TextSource`` element of one source, with one whole-text selection per code."""
    created = _date_time(source.created_at)
    created_attr = f" creationDateTime={_attr(created)}" if created else ""
    parts = [
        f"<TextSource guid={_attr(guid)} name={_attr(source.name)}"
        f' plainTextPath="internal://{guid}.txt" creatingUser={_attr(user)}{created_attr}>'
    ]
    if source.description:
        parts.append(f"<Description>{_text(source.description)}</Description>")
    length = len(source.text)
    namespace = uuid.UUID(guid)
    codings = []
    for code in code_guids:
        coding = uuid.uuid5(namespace, f"coding/{code}")
        codings.append(
            f'<Coding guid="{coding}" creatingUser={_attr(user)}{created_attr}>'
            f'<CodeRef targetGUID="{code}"/></Coding>'
        )
    if length:
        for code, coding_xml in zip(code_guids, codings, strict=True):
            selection = uuid.uuid5(namespace, f"selection/{code}")
            parts.append(
                f'<PlainTextSelection guid="{selection}" startPosition="0"'
                f' endPosition="{length}" creatingUser={_attr(user)}{created_attr}>'
                f"{coding_xml}</PlainTextSelection>"
            )
    else:
        # An empty text has nothing to select: code the source itself.
        parts.extend(codings)
    parts.append("</TextSource>")
    return "".join(parts)


def _write(
    archive: zipfile.ZipFile,
    xml: IO[bytes],
    *,
    project: str,
    user_name: str,
    codes: Sequence[QdaCode],
    sources: Iterable[QdaSource],
) -> int:
    """Write the sources into ``archive`` and the project XML into ``xml``; count sources."""
    user = str(uuid.uuid5(uuid.NAMESPACE_URL, f"fieldapp:user:{user_name}"))
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    head = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<Project xmlns="{NAMESPACE}" name={_attr(project)} origin="{ORIGIN}"'
        f' creatingUserGUID="{user}" creationDateTime="{now}">'
        f'<Users><User guid="{user}" name={_attr(user_name)}/></Users>'
        f"{_codebook(codes)}"
    )
    xml.write(head.encode("utf-8"))
    known = {_guid(code.guid) for code in codes}
    seen: set[str] = set()
    count = 0
    for source in sources:
        guid = _guid(source.guid)
        if guid in seen:
            raise ValueError(f"two sources share the guid {guid}")
        seen.add(guid)
        code_guids = list(dict.fromkeys(g for g in map(_guid, source.code_guids) if g in known))
        if not count:
            xml.write(b"<Sources>")
        # "replace" keeps one character for one code point, so the positions still hold.
        archive.writestr(f"{SOURCES_FOLDER}/{guid}.txt", source.text.encode("utf-8", "replace"))
        xml.write(_source_xml(source, guid, user, code_guids).encode("utf-8"))
        count += 1
    xml.write(b"</Sources></Project>\n" if count else b"</Project>\n")
    return count


def write_qdpx(
    out: BinaryIO | Path | str,
    *,
    project: str,
    user_name: str,
    codes: Sequence[QdaCode],
    sources: Iterable[QdaSource],
) -> int:
    """Write a REFI-QDA project to ``out`` (a path or a binary file object, which need not be
    seekable): the codebook ``codes`` (sub-codes under their parent), one text source per item
    of ``sources`` coded with its ``code_guids`` over its whole text, all made by one user
    ``user_name``. Codes a source names that are not in ``codes`` are left out. Returns the
    number of sources. Raises ValueError for a guid that is not a UUID or a repeated source.
    """
    is_path = isinstance(out, str | os.PathLike)
    try:
        with (
            tempfile.TemporaryFile(prefix="fieldapp-qde-") as xml,
            zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive,
        ):
            count = _write(
                archive, xml, project=project, user_name=user_name, codes=codes, sources=sources
            )
            xml.seek(0)
            with archive.open(PROJECT_FILE, "w") as member:
                shutil.copyfileobj(xml, member)
    except BaseException:
        if is_path:
            Path(out).unlink(missing_ok=True)  # type: ignore[arg-type]
        raise
    return count
