"""What head office has received from one device: export numbers, gaps, reuse, last import.

Computed from the ``bundle_import`` table (one row per distinct file merged). Export numbers
are bounded (:data:`bundle.MAX_EXPORT_SEQ`), and every list here is built from the rows, never
from the range of numbers, so a device that claims export 999,999 after export 1 costs two
rows, not a list of a million numbers: gaps are reported as inclusive ranges.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select

from ...extensions import db
from ...models import BundleImport

Range = tuple[int, int]


@dataclass(frozen=True)
class DeviceHistory:
    """The exports of one device as head office has received them.

    ``received`` and ``missing`` are inclusive ranges of export numbers, in order; ``missing``
    holds the gaps between 1 and the newest number received. ``reused`` lists export numbers
    that arrived with more than one different content (a laptop restored from a backup exports
    its numbers again). ``last_import`` is when a file of this device was last merged here.
    """

    received: list[Range]
    missing: list[Range]
    reused: list[int]
    last_import: datetime | None


def runs(numbers: Iterable[int]) -> list[Range]:
    """Consecutive runs of the distinct positive ``numbers``, as inclusive ranges in order."""
    result: list[Range] = []
    for number in sorted(set(numbers)):
        if result and number == result[-1][1] + 1:
            result[-1] = (result[-1][0], number)
        else:
            result.append((number, number))
    return result


def gaps(received: list[Range]) -> list[Range]:
    """The numbers from 1 to the last received number that are not in ``received``."""
    result: list[Range] = []
    expected = 1
    for first, last in received:
        if first > expected:
            result.append((expected, first - 1))
        expected = last + 1
    return result


def format_ranges(ranges: Iterable[Range]) -> str:
    """Ranges as people read them: ``1, 3-7, 12`` (digits and ASCII punctuation only)."""
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in ranges)


def device_history(device_id: str) -> DeviceHistory:
    """What has been merged here from ``device_id`` (empty lists for an unknown device)."""
    rows = db.session.execute(
        select(
            BundleImport.export_seq,
            func.count(BundleImport.id),
            func.max(BundleImport.imported_at),
        )
        .where(BundleImport.device_id == device_id)
        .group_by(BundleImport.export_seq)
    ).all()
    received = runs(seq for seq, _files, _at in rows)
    reused = sorted(seq for seq, files, _at in rows if files > 1)
    last_import = max((at for _seq, _files, at in rows), default=None)
    return DeviceHistory(received, gaps(received), reused, last_import)
