"""fieldapp backup and restore (SECURITY.md D-04, E-06, E-07), as a facilitator and head office
use them: the restored laptop holds the same data, accounts and keys, and bad input is refused
with a message, never a traceback.

Passphrase backups cost about a second each way (age's scrypt), so one module-wide laptop and
backup are shared by the tests that only read them.
"""

from __future__ import annotations

import errno
import hashlib
import io
import json
import os
import re
import secrets
import shutil
import sqlite3
import struct
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pyrage
import pytest
from click.testing import CliRunner, Result
from sqlalchemy import select

from fieldapp.cli import cli
from fieldapp.config import DATABASE_FILE
from fieldapp.extensions import db
from fieldapp.models import AuditEvent, DeviceRole, Role
from fieldapp.services import accounts, backup, demo, workdir
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
    # The next number: 1000 plus a random part (below 9000) above the backup's last export, 1.
    next_seq = int(re.search(r"continue at number (\d+)", restored.output).group(1))
    assert 1002 <= next_seq < 1002 + backup.EXPORT_SEQ_RANDOM
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
    assert [s.export_seq for s in summaries] == [2, next_seq]
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


# ---- review fixes: settings never live, work folders, --output, bad zips, numbering, newer ---


def _forged(
    world: World,
    root: Path,
    extra: dict[str, bytes] | None = None,
    manifest: dict | None = None,
    revision: str | None = None,
    mutate: Callable[[bytes], bytes] | None = None,
) -> Path:
    """A backup built by hand, encrypted to head office's public key (anyone can make one)."""
    snapshot = root / f"snap-{secrets.token_hex(4)}.sqlite3"
    with opened(world.laptop.folder):
        facts = backup._snapshot(backup._database_path(), snapshot)
        recipient = keys.headoffice_recipients()[0]
    if revision is not None:
        with sqlite3.connect(snapshot) as connection:
            connection.execute("UPDATE alembic_version SET version_num = ?", (revision,))
        connection.close()
    members = {
        "database.sqlite3": snapshot.read_bytes(),
        "secret_key": (world.laptop.folder / "secret_key").read_bytes(),
        **(extra or {}),
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        document = {
            "format": "fieldapp-backup",
            "format_version": 1,
            "device": None,
            **facts,
            **(manifest or {}),
            "members": {
                n: {"sha256": hashlib.sha256(d).hexdigest(), "length": len(d)}
                for n, d in members.items()
            },
        }
        for name, data in members.items():
            archive.writestr(name, data)
        archive.writestr("manifest.json", json.dumps(document))
    plain = buffer.getvalue()
    if mutate is not None:
        plain = mutate(plain)
    file = root / f"forged-{secrets.token_hex(4)}.fieldbackup"
    file.write_bytes(pyrage.encrypt(plain, [pyrage.x25519.Recipient.from_str(recipient)]))
    return file


def _restore_with_identity(world: World, file: Path, target: Path) -> Result:
    identity = str(world.ho.folder / "keys" / keys.AGE_IDENTITY_FILE)
    return run("--instance", str(target), "restore", str(file), "--identity", identity)


def test_a_restore_never_makes_the_backups_settings_file_live(world: World, tmp_path: Path) -> None:
    """A backup to head office's keys can be forged with the public key alone: its config.py
    must not run at head office. It is kept as config.py.restored, and the command says so."""
    marker = tmp_path / "PWNED"
    code = f"open({str(marker)!r}, 'w').write('ran')\nPURGE_AFTER_DAYS = 0\n".encode()
    forged = _forged(world, tmp_path, extra={"config.py": code})
    target = tmp_path / "restored"
    result = _restore_with_identity(world, forged, target)
    assert result.exit_code == 0, result.output
    assert "config.py.restored" in result.output
    assert "by hand" in result.output
    assert (target / "config.py.restored").read_bytes() == code
    assert (target / "config.py.restored").stat().st_mode & 0o077 == 0
    assert not (target / "config.py").exists()
    assert run("--instance", str(target), "stats", "--json").exit_code == 0
    assert not marker.exists(), "the backup's config.py ran"
    assert b"PWNED" not in (target / "config.py").read_bytes()  # the template, made at start
    assert not (target / "tmp").exists()


def test_a_backup_cut_short_leaves_no_clear_copy_outside_the_instance_folder(
    world: World, tmp_path: Path
) -> None:
    """A power cut while the backup is encrypted: nothing in the system temp folder; the work
    folder inside the instance folder is removed at the next start."""
    folder = tmp_path / "laptop"
    shutil.copytree(world.laptop.folder, folder)
    system_temp, stick = tmp_path / "systemtemp", tmp_path / "stick"
    system_temp.mkdir()
    stick.mkdir()
    child = (
        "import os, sys, pyrage\n"
        "pyrage.encrypt_io = lambda *a, **k: os._exit(1)\n"
        "from fieldapp.cli import cli\n"
        "cli.main(['--instance', sys.argv[1], 'backup', '--output', sys.argv[2]])\n"
    )
    env = {**os.environ, "TMPDIR": str(system_temp), "TEMP": str(system_temp)}
    done = subprocess.run(  # noqa: S603 -- this interpreter, fixed arguments
        [sys.executable, "-c", child, str(folder), str(stick)],
        env=env, capture_output=True, text=True, cwd=str(Path(__file__).parent.parent),
    )  # fmt: skip
    assert done.returncode == 1, done.stderr[-2000:]
    assert [p for p in system_temp.rglob("*") if p.is_file()] == []
    leftovers = list((folder / "tmp").iterdir())
    assert len(leftovers) == 1
    assert (leftovers[0] / DATABASE_FILE).is_file()  # the clear snapshot the cut left
    assert (folder / "tmp").stat().st_mode & 0o077 == 0
    assert run("--instance", str(folder), "stats", "--json").exit_code == 0
    assert list((folder / "tmp").iterdir()) == []


def test_a_work_folder_in_use_is_not_removed_by_another_start(tmp_path: Path) -> None:
    """Another process starting while a backup runs must not pull its work folder away."""
    with workdir.work_folder(tmp_path) as busy:
        (busy / "snapshot").write_bytes(b"x")
        stale = tmp_path / "tmp" / "work-stale"
        stale.mkdir()
        (stale / workdir.LOCK_FILE).touch()
        assert workdir.remove_leftovers(tmp_path) == 1
        assert (busy / "snapshot").is_file()
        assert not stale.exists()
    assert not busy.exists()


def test_backup_output_never_replaces_the_live_database_keys_or_a_file(
    world: World, tmp_path: Path
) -> None:
    """--output into the instance folder (the live database, a key) or onto an existing file:
    exit 1 with a sentence, nothing changed."""
    live = world.laptop.folder / DATABASE_FILE
    key = world.laptop.folder / "secret_key"
    existing = tmp_path / "mine.fieldbackup"
    existing.write_bytes(b"an older backup")
    before = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in (live, key, existing)}
    for output, words in (
        (live, "inside the instance folder"),
        (key, "inside the instance folder"),
        (world.laptop.folder / "keys", "inside the instance folder"),
        (world.laptop.folder, "inside the instance folder"),
        (existing, "already exists"),
    ):
        result = run("--instance", str(world.laptop.folder), "backup", "--output", str(output))
        assert result.exit_code == 1, (output, result.output)
        assert words in result.output
        assert "Traceback" not in result.output
    assert {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in before} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine.fieldbackup"]
    assert not list((world.laptop.folder / "keys").glob("*.fieldbackup"))


def _flip_after(name: str) -> Callable[[bytes], bytes]:
    """Damage the deflate stream of ``name`` (just after its local header)."""

    def mutate(data: bytes) -> bytes:
        out = bytearray(data)
        start = out.find(name.encode()) + len(name)
        for k in range(start, start + 8):
            out[k] ^= 0xFF
        return bytes(out)

    return mutate


def _unknown_method(data: bytes) -> bytes:
    """Every header says compression method 99 (which zipfile does not know)."""
    out = bytearray(data)
    for signature, offset in ((b"PK\x03\x04", 8), (b"PK\x01\x02", 10)):
        at = 0
        while (at := out.find(signature, at)) != -1:
            out[at + offset : at + offset + 2] = struct.pack("<H", 99)
            at += 4
    return bytes(out)


@pytest.mark.parametrize(
    "mutate",
    [_flip_after("manifest.json"), _flip_after("database.sqlite3"), _unknown_method],
    ids=["manifest-deflate", "database-deflate", "unknown-method"],
)
def test_a_backup_with_malformed_contents_is_refused_without_a_traceback(
    world: World, tmp_path: Path, mutate: Callable[[bytes], bytes]
) -> None:
    """A file that decrypts but holds a damaged zip: the "damaged file" sentence, exit 1."""
    forged = _forged(world, tmp_path, mutate=mutate)
    target = tmp_path / "restored"
    result = _restore_with_identity(world, forged, target)
    assert result.exit_code == 1, (result.output, result.exception)
    assert "damaged or is not a fieldapp backup" in result.output
    assert not target.exists()
    assert not list(tmp_path.glob("fieldapp-*"))


def test_two_restores_of_one_backup_continue_at_different_numbers(
    world: World, tmp_path: Path
) -> None:
    """A backup restored twice (a spare laptop, a second try): the copies' next export numbers
    differ, at least 1000 and far below the limit above the backup's last export."""
    with opened(world.laptop.folder):
        made = backup.create_backup(world.laptop.folder, tmp_path)
    identity = world.ho.folder / "keys" / keys.AGE_IDENTITY_FILE
    floors = [
        backup.restore_backup(
            Path(made.path), tmp_path / f"copy{i}", None, identity
        ).export_seq_floor
        for i in range(3)
    ]
    assert len(set(floors)) > 1, floors
    for floor in floors:
        assert made.last_export_seq + 1000 <= floor < made.last_export_seq + 10_000
        assert floor < bundle.MAX_EXPORT_SEQ // 10


@pytest.mark.parametrize("where", ["manifest-and-database", "database-only"])
def test_a_backup_from_a_newer_fieldapp_asks_to_update_first(
    world: World, tmp_path: Path, where: str
) -> None:
    """An unknown schema revision is refused before any migration, in plain words."""
    manifest = {"schema_revision": "0099"} if where == "manifest-and-database" else {}
    forged = _forged(world, tmp_path, manifest=manifest, revision="0099")
    target = tmp_path / "restored"
    result = _restore_with_identity(world, forged, target)
    assert result.exit_code == 1, (result.output, result.exception)
    assert "made by a newer version of fieldapp: update fieldapp first" in result.output
    assert "Traceback" not in result.output
    assert not target.exists()
    assert not list(tmp_path.glob("fieldapp-*"))
