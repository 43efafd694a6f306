"""The fieldapp command: instance folders, first start, accounts, serving, broken configs."""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner

from fieldapp import create_app
from fieldapp.cli import cli
from fieldapp.config import InstanceError
from fieldapp.extensions import db
from fieldapp.models import User

from .conftest import PASSWORD, translated
from .serving import free_port, wait_for

ROOT = Path(__file__).resolve().parent.parent


def run(*args: str, stdin: str | None = None, env: dict[str, str] | None = None):
    """Invoke the real console-script group in-process."""
    return CliRunner().invoke(cli, list(args), input=stdin, env=env, catch_exceptions=False)


def usernames(instance: Path) -> list[str]:
    app = create_app({"TESTING": True}, instance_path=instance)
    with app.app_context():
        names = [u.username for u in db.session.query(User).order_by(User.username)]
        db.engine.dispose()
        return names


def test_init_creates_a_private_instance(tmp_path):
    """init makes the folder, a 32-byte secret key readable only by its owner, and the DB."""
    instance = tmp_path / "laptop"
    result = run("--instance", str(instance), "init")
    assert result.exit_code == 0, result.output
    assert str(instance) in result.output
    key = instance / "secret_key"
    assert len(bytes.fromhex(key.read_text().strip())) >= 32
    if os.name == "posix":
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
        assert stat.S_IMODE(instance.stat().st_mode) == 0o700
    assert (instance / "fieldapp.sqlite3").is_file()
    again = run("--instance", str(instance), "init")  # safe to run again
    assert again.exit_code == 0
    assert key.read_text() == key.read_text()


def test_two_installations_live_side_by_side(tmp_path):
    """--instance and FIELDAPP_INSTANCE pick the installation; each keeps its own accounts."""
    first, second = tmp_path / "one", tmp_path / "two"
    assert (
        run(
            "--instance", str(first), "create-user", "amira", "--password-stdin", stdin=PASSWORD
        ).exit_code
        == 0
    )
    result = run(
        "create-user",
        "bahar",
        "--role",
        "coordinator",
        "--password-stdin",
        stdin=PASSWORD + "\n",
        env={"FIELDAPP_INSTANCE": str(second)},
    )
    assert result.exit_code == 0, result.output
    assert usernames(first) == ["amira"]
    assert usernames(second) == ["bahar"]


def test_create_user_refuses_a_weak_password_in_the_chosen_language(tmp_path):
    """Bad input gets a translated message and a non-zero exit, never a traceback."""
    result = CliRunner().invoke(
        cli,
        [
            "--instance",
            str(tmp_path / "i"),
            "--lang",
            "ar",
            "create-user",
            "amira",
            "--password-stdin",
        ],
        input="password\n",
    )
    assert result.exit_code == 1
    assert (
        translated(
            "ar", "This password is too easy to guess. A few unrelated words make a good password."
        )
        in result.output
    )
    assert "Traceback" not in result.output


def test_create_user_prompts_twice(tmp_path):
    """Without --password-stdin the password is asked twice and never echoed."""
    result = run(
        "--instance", str(tmp_path / "i"), "create-user", "amira", stdin=f"{PASSWORD}\n{PASSWORD}\n"
    )
    assert result.exit_code == 0, result.output
    assert PASSWORD not in result.output


@pytest.mark.parametrize("lang", ["en", "ar", "ckb"])
def test_corrupt_settings_file_is_reported_clearly(tmp_path, lang):
    """A broken instance/config.py stops start-up with a message that names the file."""
    instance = tmp_path / "i"
    assert run("--instance", str(instance), "init").exit_code == 0
    (instance / "config.py").write_text("IDLE_TIMEOUT_MINUTES = = 3\n")
    result = CliRunner().invoke(cli, ["--instance", str(instance), "--lang", lang, "serve"])
    assert result.exit_code == 2
    assert "config.py" in result.output
    assert "SyntaxError" in result.output
    expected = translated(
        lang, "The settings file %(path)s cannot be read: %(error)s", path="", error=""
    )
    assert expected.strip(": ").split("%")[0][:12] in result.output
    assert "Traceback" not in result.output


def test_missing_secret_key_of_an_existing_installation_is_refused(tmp_path):
    """The app refuses to start without its key instead of quietly making a new one."""
    instance = tmp_path / "i"
    run("--instance", str(instance), "init")
    (instance / "secret_key").unlink()
    with pytest.raises(InstanceError):
        create_app(instance_path=instance)
    result = CliRunner().invoke(cli, ["--instance", str(instance), "--lang", "ckb", "serve"])
    assert result.exit_code == 2
    assert (
        translated(
            "ckb",
            "The secret key file %(path)s is missing. Run “fieldapp init” to create one.",
            path=str(instance / "secret_key"),
        )
        in result.output
    )
    assert run("--instance", str(instance), "init").exit_code == 0  # init repairs it
    create_app(instance_path=instance)


@pytest.mark.parametrize(
    ("content", "mode"),
    [("abcd\n", 0o600), ("zz" * 40 + "\n", 0o600), ("ab" * 32 + "\n", 0o644)],
    ids=["short", "damaged", "readable-by-others"],
)
def test_bad_secret_keys_are_refused(tmp_path, content, mode):
    """A short, damaged or exposed key stops start-up with a clear message (W-09)."""
    instance = tmp_path / "i"
    run("--instance", str(instance), "init")
    key = instance / "secret_key"
    key.write_text(content)
    key.chmod(mode)
    result = CliRunner().invoke(cli, ["--instance", str(instance), "serve"])
    assert result.exit_code == 2
    assert "secret key" in result.output
    assert "Traceback" not in result.output


def local_addresses() -> list[str]:
    """This machine's non-loopback IPv4 addresses, if any."""
    addresses = set()
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.connect(("10.255.255.255", 1))  # no packet is sent for UDP connect
            addresses.add(sock.getsockname()[0])
    except OSError:
        pass
    return [a for a in addresses if not a.startswith("127.")]


@pytest.mark.parametrize("entry", ["run.py", "fieldapp serve"])
def test_serve_starts_on_loopback_and_prints_the_address(tmp_path, entry):
    """A first start creates the installation, prints the address and serves the setup page."""
    port = free_port()
    instance = tmp_path / "instance"
    if entry == "run.py":
        command = [sys.executable, str(ROOT / "run.py"), "--port", str(port)]
    else:
        command = [
            sys.executable,
            "-m",
            "fieldapp",
            "--instance",
            str(instance),
            "serve",
            "--port",
            str(port),
        ]
    env = {**os.environ, "FIELDAPP_INSTANCE": str(instance), "LANG": "C.UTF-8"}
    started = time.monotonic()
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
    )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_for(url + "/setup", process)
        assert time.monotonic() - started < 15
        with urllib.request.urlopen(url + "/setup") as response:  # noqa: S310
            assert response.status == 200
            assert b"Set up fieldapp" in response.read()
        for address in local_addresses():
            with (
                pytest.raises(ConnectionRefusedError),
                socket.create_connection((address, port), timeout=1),
            ):
                pass
        assert (instance / "fieldapp.sqlite3").is_file()
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=10)
    assert f"http://127.0.0.1:{port}" in output
    assert "Traceback" not in output


def test_port_in_use_is_explained(tmp_path):
    """Starting twice on one port says so, instead of a traceback."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = CliRunner().invoke(
            cli, ["--instance", str(tmp_path / "i"), "serve", "--port", str(port)]
        )
    assert result.exit_code == 2
    assert "already in use" in result.output


def test_no_development_server_command(tmp_path):
    """Flask's development server is not offered (W-19)."""
    run("--instance", str(tmp_path / "i"), "init")
    result = CliRunner().invoke(cli, ["--instance", str(tmp_path / "i"), "run"])
    assert result.exit_code != 0
    assert "No such command" in result.output
