"""Installation identities: head-office and field keys, public key files, device registry."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner

from fieldapp.cli import cli
from fieldapp.services.sync import keys

from .conftest import translated


def run(*args: str):
    return CliRunner().invoke(cli, list(args))


@pytest.fixture
def headoffice(tmp_path):
    """A head-office installation and its public key file."""
    folder = tmp_path / "erbil"
    assert (
        run("--instance", str(folder), "init", "--role", "headoffice", "--name", "Erbil").exit_code
        == 0
    )
    public = tmp_path / "erbil.pub"
    assert run("--instance", str(folder), "keys", "public", "--output", str(public)).exit_code == 0
    return folder, public


def test_headoffice_has_a_signing_key_and_an_age_identity(headoffice):
    """Head office can decrypt; its secret keys are files only its owner can read."""
    folder, public = headoffice
    for name in (keys.SIGNING_KEY_FILE, keys.AGE_IDENTITY_FILE):
        path = folder / "keys" / name
        assert path.is_file()
        if os.name == "posix":
            assert stat.S_IMODE(path.stat().st_mode) == 0o600
    document = json.loads(public.read_text())
    assert document["role"] == "headoffice"
    assert document["age_recipient"].startswith("age1")
    assert "SECRET" not in public.read_text()


def test_field_laptop_holds_no_headoffice_secret(tmp_path, headoffice):
    """A laptop gets only its signing key; it encrypts to head office and cannot decrypt."""
    _folder, ho_public = headoffice
    laptop = tmp_path / "duhok"
    result = run(
        "--instance",
        str(laptop),
        "init",
        "--role",
        "field",
        "--name",
        "Duhok laptop 3",
        "--headoffice-key",
        str(ho_public),
    )
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (laptop / "keys").iterdir()) == [keys.SIGNING_KEY_FILE]
    for path in laptop.rglob("*"):
        if path.is_file():
            assert b"AGE-SECRET-KEY" not in path.read_bytes(), path
    listing = run("--instance", str(laptop), "devices", "list").output
    assert "Erbil" in listing
    assert "Duhok laptop 3 [self]" in listing


def test_field_laptop_needs_a_headoffice_key(tmp_path):
    """Without a head-office key a laptop could not encrypt its exports: refused, explained."""
    result = run(
        "--instance", str(tmp_path / "l"), "--lang", "ckb", "init", "--role", "field", "--name", "x"
    )
    assert result.exit_code == 1
    assert (
        translated(
            "ckb",
            "A field installation needs the head office's public key file (--headoffice-key).",
        )
        in result.output
    )


def test_headoffice_registers_a_laptop_once(tmp_path, headoffice):
    """devices add registers a laptop; adding the same file again changes nothing."""
    folder, ho_public = headoffice
    laptop = tmp_path / "sinjar"
    run(
        "--instance",
        str(laptop),
        "init",
        "--role",
        "field",
        "--name",
        "Sinjar",
        "--headoffice-key",
        str(ho_public),
    )
    laptop_public = tmp_path / "sinjar.pub"
    run("--instance", str(laptop), "keys", "public", "--output", str(laptop_public))
    first = run("--instance", str(folder), "devices", "add", str(laptop_public))
    assert first.exit_code == 0
    assert "Registered" in first.output
    again = run("--instance", str(folder), "devices", "add", str(laptop_public))
    assert again.exit_code == 0
    assert "registered already" in again.output
    assert run("--instance", str(folder), "devices", "list").output.count("Sinjar") == 1


def test_a_backup_headoffice_key_is_another_recipient(tmp_path, headoffice, app):
    """Several head-office recipients are supported (an offline escrow key)."""
    _folder, main_public = headoffice
    backup = tmp_path / "backup"
    run("--instance", str(backup), "init", "--role", "headoffice", "--name", "Escrow")
    backup_public = tmp_path / "backup.pub"
    run("--instance", str(backup), "keys", "public", "--output", str(backup_public))
    with app.app_context():
        keys.initialise(
            Path(app.instance_path),
            keys.DeviceRole.FIELD,
            "Mosul laptop",
            [keys.read_public_key(main_public), keys.read_public_key(backup_public)],
        )
        recipients = keys.headoffice_recipients()
    assert len(recipients) == 2
    assert all(r.startswith("age1") for r in recipients)


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"not json",
        b'{"format": "fieldapp-public-key", "version": 1}',
        b'{"format": "something-else", "version": 1}',
        b'{"format": "fieldapp-public-key", "format": "fieldapp-public-key", "version": 1}',
        b'{"format": "fieldapp-public-key", "version": NaN}',
        b"[" * 100_000,
        b"x" * 20_000,
    ],
    ids=["empty", "text", "incomplete", "other-format", "duplicate-key", "nan", "deep", "huge"],
)
def test_bad_public_key_files_are_refused(content):
    """Anything but a well-formed public key file gets one clear refusal."""
    with pytest.raises(keys.DeviceKeyError):
        keys.parse_public_key(content)


def test_tampered_public_key_fields_are_refused(headoffice):
    """A wrong role, a short key or an extra field is not a public key file."""
    _folder, public = headoffice
    good = json.loads(public.read_text())
    for change in (
        {"role": "emperor"},
        {"ed25519_public_key": "AAAA"},
        {"age_recipient": "age1notreally"},
        {"device_id": "../../etc/passwd"},
        {"extra": 1},
        {"version": 2},
        {"name": ""},
    ):
        with pytest.raises(keys.DeviceKeyError):
            keys.parse_public_key(json.dumps({**good, **change}).encode())
    keys.parse_public_key(json.dumps(good).encode())


def test_a_device_key_is_never_silently_replaced(tmp_path, headoffice):
    """The same device id with another key is refused; changing role is refused too."""
    folder, _public = headoffice
    laptop = tmp_path / "l"
    run("--instance", str(laptop), "init", "--role", "headoffice", "--name", "Second")
    laptop_public = tmp_path / "l.pub"
    run("--instance", str(laptop), "keys", "public", "--output", str(laptop_public))
    document = json.loads(laptop_public.read_text())
    assert run("--instance", str(folder), "devices", "add", str(laptop_public)).exit_code == 0
    forged = {
        **document,
        "ed25519_public_key": json.loads((tmp_path / "erbil.pub").read_text())[
            "ed25519_public_key"
        ],
    }
    forged_file = tmp_path / "forged.pub"
    forged_file.write_text(json.dumps(forged))
    result = run("--instance", str(folder), "devices", "add", str(forged_file))
    assert result.exit_code == 1
    assert "different key" in result.output
    result = run("--instance", str(folder), "init", "--role", "field", "--name", "Erbil")
    assert result.exit_code == 1
    assert "cannot change role" in result.output
