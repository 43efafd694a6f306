"""A USB stick that fills up during an export: a message, no traceback, no file left behind."""

from __future__ import annotations

import errno
from typing import IO

import pytest

from fieldapp.models import DeviceRole
from fieldapp.services.sync import bundle
from fieldapp.services.sync.export import export_bundle

from .sync_world import Installation


class FullStick:
    """A file on a stick that has room for 100 bytes."""

    def __init__(self, target: IO[bytes]) -> None:
        self.target = target
        self.written = 0

    def write(self, data: bytes) -> int:
        if self.written + len(data) > 100:
            raise OSError(errno.ENOSPC, "No space left on device")
        self.written += len(data)
        return self.target.write(data)

    def flush(self) -> None:
        self.target.flush()


@pytest.fixture
def laptop(tmp_path):
    """A field laptop that knows its head office's key."""
    ho = Installation(tmp_path / "ho", DeviceRole.HEADOFFICE, "Erbil")
    return Installation(tmp_path / "laptop", DeviceRole.FIELD, "Duhok laptop 3", (ho,))


def test_a_full_stick_is_said_in_words_and_leaves_no_file(laptop, tmp_path, monkeypatch):
    """The stick is full half way through the export: is the facilitator told, and is no
    empty or cut file left to be carried to head office as if it were the export?

    pyrage swallows an error raised by the last write of an encryption; before the writer
    kept it, this export "succeeded" with an empty file."""
    stick = tmp_path / "stick"
    stick.mkdir()
    real_init = bundle.HashingWriter.__init__
    monkeypatch.setattr(
        bundle.HashingWriter, "__init__", lambda self, target: real_init(self, FullStick(target))
    )
    with laptop.session(), pytest.raises(bundle.BundleRefused) as refused:
        export_bundle(laptop.folder, stick)
    assert "Try another disk or USB stick" in str(refused.value.message)
    assert list(stick.iterdir()) == []  # no half-written file, no temporary file
