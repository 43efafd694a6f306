"""fieldapp backup and restore (SECURITY.md D-04, E-06, E-07), as a facilitator and head office
use them: the restored laptop holds the same data, accounts and keys, and bad input is refused
with a message, never a traceback.

Passphrase backups cost about a second each way (age's scrypt), so one module-wide laptop and
backup are shared by the tests that only read them.
"""

from __future__ import annotations

import errno
import json
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import select

from fieldapp.cli import cli
from fieldapp.config import DATABASE_FILE
from fieldapp.extensions import db
from fieldapp.models import AuditEvent, DeviceRole, Role
from fieldapp.services import accounts, backup, demo
from fieldapp.services.sync import bundle, keys
from fieldapp.services.sync.export import export_bundle

from .conftest import FAST_HASH, PASSWORD, login
from .sync_world import Installation, opened, site

PASSPHRASE = "seven blue camels at noon"


def run(*args: str, stdin: str | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), input=stdin)


@dataclass
class World:
    root: Path
    ho: Installation
    laptop: Installation
    backup: Path  # passphrase backup of the laptop, after its first export
    stats: dict


def _activity(folder: Path) -> list[str]:
    with opened(folder):
        return list(db.session.execute(select(AuditEvent.action)).scalars())


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    root = tmp_path_factory.mktemp("backup")
    ho = Installation(root / "ho", DeviceRole.HEADOFFICE, "Erbil head office")
    laptop = Installation(root / "laptop", DeviceRole.FIELD, "Duhok laptop 3", (ho,))
    ho.register(laptop)
    with laptop.session():
        demo.fill(consultations=2, submissions=40, seed=5)
        accounts.create_user(
            "amira", PASSWORD, Role.FACILITATOR, accounts.PasswordPolicy(hash_method=FAST_HASH)
        )
    (root / "files").mkdir()
    ho.merge(laptop.export(root / "files"))  # export 1 reaches head office before the backup
    # The facilitator's way: the Backup page, a passphrase typed twice, a download.
    with site(laptop.folder, WTF_CSRF_ENABLED=False) as app:
        client = app.test_client()
        login(client, "amira", PASSWORD)
        response = client.post("/backup", data={"passphrase": PASSPHRASE, "confirm": PASSPHRASE})
        assert response.status_code == 200
        disposition = response.headers["Content-Disposition"]
        assert re.fullmatch(r"attachment; filename=[0-9a-f]{16}\.fieldbackup", disposition)
        file = root / disposition.split("=", 1)[1]
        file.write_bytes(response.get_data())
        response.close()
    assert backup.needs_passphrase(file)
    return World(root, ho, laptop, file, laptop.stats())


def test_round_trip_restores_data_accounts_and_keys(world: World, tmp_path: Path) -> None:
    """Restore into a new folder: same digest, the old password signs in, same device key, and
    the copy's next export never takes a number the original laptop uses."""
    target = tmp_path / "new-laptop"
    restored = run(
        "--instance", str(target), "restore", str(world.backup), "--passphrase-stdin",
        stdin=PASSPHRASE + "\n",
    )  # fmt: skip
    assert restored.exit_code == 0, restored.output
    assert "WARNING" in restored.output
    assert "1002" in restored.output
    stats = json.loads(run("--instance", str(target), "stats", "--json").output)
    assert stats == world.stats
    assert (target / DATABASE_FILE).stat().st_mode & 0o077 == 0
    with opened(target):
        assert keys.public_key_info(keys.self_device()) == world.laptop.public
        keys.load_signing_key(target)  # the secret key came back too
    with site(target, WTF_CSRF_ENABLED=False) as app:
        response = login(app.test_client(), "amira", PASSWORD)
        assert response.status_code == 302
        assert "/login" not in response.headers["Location"]
    assert "restore.done" in _activity(target)
    assert "backup.written" in _activity(world.laptop.folder)

    # Both laptops go on exporting; head office merges both without a reused number.
    files = tmp_path / "files"
    files.mkdir()
    original = world.laptop.export(files)
    with opened(target):
        copy = Path(export_bundle(target, files).path)
    summaries = world.ho.merge(original, copy)
    assert [s.ok for s in summaries] == [True, True]
    assert [s.export_seq for s in summaries] == [2, 1002]
    assert not any(s.export_reused for s in summaries)


def test_wrong_passphrase_is_refused(world: World, tmp_path: Path) -> None:
    """A wrong passphrase: exit 1, a sentence, nothing left in the target folder."""
    target = tmp_path / "new"
    result = run(
        "--instance", str(target), "restore", str(world.backup), "--passphrase-stdin",
        stdin="not the passphrase\n",
    )  # fmt: skip
    assert result.exit_code == 1
    assert "passphrase is wrong" in result.output
    assert "Traceback" not in result.output
    assert not target.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("fieldapp-")]


def test_a_folder_that_is_not_empty_is_refused(world: World, tmp_path: Path) -> None:
    """An existing installation (or any file) in the folder: exit 1, the folder untouched."""
    target = tmp_path / "busy"
    target.mkdir()
    (target / "notes.txt").write_text("mine")
    result = run(
        "--instance", str(target), "restore", str(world.backup), "--passphrase-stdin",
        stdin=PASSPHRASE + "\n",
    )  # fmt: skip
    assert result.exit_code == 1
    assert "is not empty" in result.output
    assert [p.name for p in target.iterdir()] == ["notes.txt"]
    refused = run(
        "--instance", str(world.laptop.folder), "restore", str(world.backup),
        "--passphrase-stdin", stdin=PASSPHRASE + "\n",
    )  # fmt: skip
    assert refused.exit_code == 1
    assert "is not empty" in refused.output


def test_damaged_and_foreign_files_are_refused(world: World, tmp_path: Path) -> None:
    """A text file, an export to head office: exit 1 with a sentence each, no folder made."""
    text = tmp_path / "notes.txt"
    text.write_text("not a backup")
    export = next((world.root / "files").iterdir())  # an export to head office: not a backup
    for file, expected in (
        (text, "not a fieldapp backup"),
        (export, "encrypted to head office's keys"),
    ):
        target = tmp_path / f"from-{file.stem}"
        result = run(
            "--instance", str(target), "restore", str(file), "--passphrase-stdin",
            stdin=PASSPHRASE + "\n",
        )  # fmt: skip
        assert result.exit_code == 1, (file, result.output)
        assert expected in result.output
        assert "Traceback" not in result.output
        assert not target.exists()
    with_key = run(
        "--instance", str(tmp_path / "x"), "restore", str(export),
        "--identity", str(world.ho.folder / "keys" / keys.AGE_IDENTITY_FILE),
    )  # fmt: skip
    assert with_key.exit_code == 1
    assert "not a fieldapp backup" in with_key.output


def test_head_office_keys_backup_restores_only_with_head_office_key(
    world: World, tmp_path: Path
) -> None:
    """Without a passphrase a laptop encrypts to head office; it restores with --identity."""
    out = tmp_path / "ho.fieldbackup"
    made = run("--instance", str(world.laptop.folder), "backup", "--output", str(out))
    assert made.exit_code == 0, made.output
    assert run("--instance", str(tmp_path / "a"), "restore", str(out)).exit_code == 1
    data = out.read_bytes()
    middle = len(data) // 2
    identity = str(world.ho.folder / "keys" / keys.AGE_IDENTITY_FILE)
    for name, damaged in (
        ("short", data[:-10]),  # E-07: a file cut short on the stick
        ("flipped", data[:middle] + bytes([data[middle] ^ 1]) + data[middle + 1 :]),
    ):
        file = tmp_path / f"{name}.fieldbackup"
        file.write_bytes(damaged)
        cut = run("--instance", str(tmp_path / name), "restore", str(file), "--identity", identity)
        assert cut.exit_code == 1
        assert "cannot be decrypted" in cut.output
        assert not (tmp_path / name).exists()
        assert not list(tmp_path.glob("fieldapp-*"))  # no staging folder left beside it
    ok = run("--instance", str(tmp_path / "c"), "restore", str(out), "--identity", identity)
    assert ok.exit_code == 0, ok.output
    assert json.loads(run("--instance", str(tmp_path / "c"), "stats", "--json").output) == (
        world.laptop.stats()
    )


def test_head_office_must_give_a_passphrase(world: World, tmp_path: Path) -> None:
    """A head office has no one to encrypt to: without a passphrase the backup is refused."""
    result = run("--instance", str(world.ho.folder), "backup", "--output", str(tmp_path))
    assert result.exit_code == 1
    assert "passphrase" in result.output
    assert "Traceback" not in result.output
    short = run(
        "--instance", str(world.ho.folder), "backup", "--output", str(tmp_path),
        "--passphrase-stdin", stdin="short\n",
    )  # fmt: skip
    assert short.exit_code == 1
    assert "at least 8 characters" in short.output
    assert list(tmp_path.iterdir()) == []


def test_a_read_back_that_differs_is_reported(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """E-06: when the stick returns other bytes than were written, the backup is not "done"."""
    monkeypatch.setattr(bundle, "file_sha256", lambda _path: "0" * 64)
    result = run("--instance", str(world.laptop.folder), "backup", "--output", str(tmp_path))
    assert result.exit_code == 1
    assert "could not be written correctly" in result.output
    assert list(tmp_path.iterdir()) == []


def test_a_failed_write_leaves_no_temporary_file(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """E-07: a stick that fills up half way: exit 1, no partial file, no private copy left."""
    stick, private = tmp_path / "stick", tmp_path / "tmp"
    stick.mkdir()
    private.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(private))
    real_write = bundle.HashingWriter.write

    def half_then_full(self: bundle.HashingWriter, data: bytes) -> int:
        real_write(self, data[: len(data) // 2])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(bundle.HashingWriter, "write", half_then_full)
    result = run("--instance", str(world.laptop.folder), "backup", "--output", str(stick))
    assert result.exit_code == 1
    assert "No space left on device" in result.output
    assert "Traceback" not in result.output
    assert list(stick.iterdir()) == []
    assert list(private.iterdir()) == []


def test_postgresql_is_refused_with_pg_dump_named(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On PostgreSQL the command names the tool to use instead."""
    monkeypatch.setattr(backup, "sqlite_file", lambda _url: None)
    result = run("--instance", str(world.laptop.folder), "backup", "--output", str(tmp_path))
    assert result.exit_code == 1
    assert "pg_dump" in result.output


def test_the_backup_page_asks_for_the_passphrase_twice(world: World) -> None:
    """Two different passphrases: no file, a message in the page, nothing left on the laptop."""
    before = set(Path(tempfile.gettempdir()).glob("fieldapp-*"))
    with site(world.laptop.folder, WTF_CSRF_ENABLED=False) as app:
        client = app.test_client()
        login(client, "amira", PASSWORD)
        page = client.get("/backup").get_data(as_text=True)
        assert 'type="password"' in page
        assert 'autocomplete="new-password"' in page
        different = client.post(
            "/backup", data={"passphrase": PASSPHRASE, "confirm": PASSPHRASE + "!"}
        )
        assert different.status_code == 302
        assert "not the same" in client.get("/backup").get_data(as_text=True)
        short = client.post("/backup", data={"passphrase": "short", "confirm": "short"})
        assert short.status_code == 302
        assert "At least 8 characters" in client.get("/backup").get_data(as_text=True)
    assert set(Path(tempfile.gettempdir()).glob("fieldapp-*")) == before
