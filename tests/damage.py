"""Damaging a database file as a failing disk or a power cut during a write could (D-05)."""

from __future__ import annotations

import sqlite3
import struct
from pathlib import Path


def leaf_page_of(database: Path, table: str, child: int | None = None) -> tuple[int, int]:
    """A leaf page of ``table``'s b-tree below its root (page number, page size): the rightmost
    one, or the ``child``-th from the left (rows before and after it on other pages)."""
    with sqlite3.connect(database) as connection:
        page_size = connection.execute("PRAGMA page_size").fetchone()[0]
        root = connection.execute(
            "SELECT rootpage FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)
        ).fetchone()[0]
    connection.close()
    raw = database.read_bytes()
    header = (root - 1) * page_size + (100 if root == 1 else 0)
    assert raw[header] == 0x05, "the table must span several pages (an interior root page)"
    (rightmost,) = struct.unpack(">I", raw[header + 8 : header + 12])
    if child is None:
        return rightmost, page_size
    (cells,) = struct.unpack(">H", raw[header + 3 : header + 5])
    assert child < cells, "the root page has fewer children"
    pointer = header + 12 + 2 * child
    (offset,) = struct.unpack(">H", raw[pointer : pointer + 2])
    start = (root - 1) * page_size + offset
    (left,) = struct.unpack(">I", raw[start : start + 4])
    return left, page_size


def corrupt(database: Path, table: str = "submission", child: int | None = None) -> None:
    """Overwrite the start of one leaf page of ``table`` (its page header); see
    :func:`leaf_page_of` for ``child``."""
    page, page_size = leaf_page_of(database, table, child)
    with database.open("r+b") as fh:
        fh.seek((page - 1) * page_size)  # a page boundary in the middle of the file
        fh.write(b"\xff" * 16)
