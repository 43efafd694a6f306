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

from .conftest import PASSWORD, UI_LANGUAGES, translated
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
    for folder in (first, second):
        assert run("--instance", str(folder), "init").exit_code == 0
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
    assert run("--instance", str(tmp_path / "i"), "init").exit_code == 0
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
    assert run("--instance", str(tmp_path / "i"), "init").exit_code == 0
    result = run(
        "--instance", str(tmp_path / "i"), "create-user", "amira", stdin=f"{PASSWORD}\n{PASSWORD}\n"
    )
    assert result.exit_code == 0, result.output
    assert PASSWORD not in result.output


@pytest.mark.parametrize("lang", UI_LANGUAGES)
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


@pytest.mark.parametrize(
    "command",
    [
        ["stats"],
        ["stats", "--json"],
        ["export"],
        ["merge", "bundle.fieldsync"],
        ["create-user", "amira", "--password-stdin"],
        ["devices", "add", "laptop.pub"],
        ["devices", "list"],
        ["keys", "public", "--output", "ho.pub"],
        ["demo-data"],
        ["db", "upgrade"],
    ],
    ids=lambda command: " ".join(command[:2]),
)
@pytest.mark.parametrize("exists", [False, True], ids=["missing", "empty"])
def test_a_mistyped_instance_folder_is_refused(tmp_path, command, exists):
    """Only init (and the first start) makes an installation: a wrong --instance says so."""
    (tmp_path / "bundle.fieldsync").write_bytes(b"age-encryption.org/v1\n")
    (tmp_path / "laptop.pub").write_text("{}")
    wrong = tmp_path / "instnace"
    if exists:
        wrong.mkdir()
    args = [
        str(tmp_path / a) if a in ("bundle.fieldsync", "laptop.pub", "ho.pub") else a
        for a in command
    ]
    result = run("--instance", str(wrong), *args, stdin=PASSWORD + "\n")
    assert result.exit_code == 2, result.output
    assert f"{wrong} holds no fieldapp installation" in result.output
    assert "fieldapp init" in result.output
    assert "Traceback" not in result.output
    assert wrong.exists() == exists
    assert not exists or list(wrong.iterdir()) == []
    assert not (tmp_path / "ho.pub").exists()


def test_help_shows_only_fieldapps_options(tmp_path):
    """fieldapp --help lists its own options and commands, none of Flask's."""
    result = CliRunner().invoke(cli, ["--help"], env={"FIELDAPP_INSTANCE": str(tmp_path / "no")})
    assert result.exit_code == 0, result.output
    for own in ("--instance", "--lang", "init", "serve", "merge", "stats", "db"):
        assert own in result.output
    for flask_option in ("--env-file", "--app", "--debug", "--version", "Flask"):
        assert flask_option not in result.output
    assert not (tmp_path / "no").exists()


def test_serve_refuses_flasks_debug_option(tmp_path):
    """--debug is not an option any more (the debugger is never available, W-19)."""
    result = CliRunner().invoke(cli, ["--debug", "--instance", str(tmp_path), "stats"])
    assert result.exit_code == 2
    assert "No such option" in result.output


def database_refusal(tmp_path: Path, url: str, *command: str) -> str:
    """What ``fieldapp stats`` says on an installation whose database is ``url``."""
    instance = tmp_path / "i"
    if not instance.exists():
        assert run("--instance", str(instance), "init").exit_code == 0
    result = CliRunner().invoke(
        cli,
        ["--instance", str(instance), *(command or ("stats",))],
        env={"FIELDAPP_DATABASE_URL": url},
    )
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert "s3cret-pass" not in result.output
    return result.output


def test_a_database_server_that_is_down_is_named(tmp_path):
    """No server at the address: the message names the database, never its password."""
    port = free_port()
    url = f"postgresql://fieldapp:s3cret-pass@127.0.0.1:{port}/headoffice"
    output = database_refusal(tmp_path, url)
    assert f"postgresql+psycopg://fieldapp:***@127.0.0.1:{port}/headoffice" in output
    assert "cannot be opened" in output
    assert "Connection refused" in output or "connection failed" in output
    assert "cannot be opened" in database_refusal(tmp_path, url, "db", "upgrade")


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("mysql://fieldapp:s3cret-pass@127.0.0.1/ho", "needs the Python module MySQLdb"),
        ("postgress://fieldapp:s3cret-pass@127.0.0.1/ho", "is not valid"),
        ("fieldapp:s3cret-pass@127.0.0.1/ho", "is not valid"),
    ],
    ids=["driver-missing", "unknown-database-kind", "unreadable"],
)
def test_a_bad_database_address_is_explained(tmp_path, url, expected):
    """A missing driver or a misspelt address: a message and exit code 2, for every command."""
    assert expected in database_refusal(tmp_path, url)
    assert expected in database_refusal(tmp_path, url, "db", "upgrade")


def test_run_py_explains_an_unreachable_database(tmp_path):
    """The facilitator's own start (run.py) says which database it cannot reach."""
    port = free_port()
    env = {
        **os.environ,
        "FIELDAPP_INSTANCE": str(tmp_path / "instance"),
        "FIELDAPP_DATABASE_URL": f"postgresql://fieldapp:s3cret-pass@127.0.0.1:{port}/ho",
        "LANG": "C.UTF-8",
    }
    done = subprocess.run(
        [sys.executable, str(ROOT / "run.py"), "--port", str(free_port())],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert f"postgresql+psycopg://fieldapp:***@127.0.0.1:{port}/ho" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    assert "s3cret-pass" not in done.stderr + done.stdout


@pytest.mark.parametrize(
    ("written", "used"),
    [
        ("postgresql://fieldapp@127.0.0.1/ho", "postgresql+psycopg://fieldapp@127.0.0.1/ho"),
        ("postgres://fieldapp@127.0.0.1/ho", "postgresql+psycopg://fieldapp@127.0.0.1/ho"),
        ("postgresql+psycopg2://fieldapp@h/ho", "postgresql+psycopg2://fieldapp@h/ho"),
        ("sqlite:////tmp/x.sqlite3", "sqlite:////tmp/x.sqlite3"),
    ],
)
def test_a_postgresql_url_without_a_driver_means_psycopg_3(written, used):
    """README's ``postgresql://`` means psycopg 3 whichever driver SQLAlchemy would pick."""
    from fieldapp.config import normalise_database_uri

    assert normalise_database_uri(written) == used


def test_the_readme_database_url_opens_with_psycopg_3(tmp_path):
    """The example line of the README, in config.py, makes an app on psycopg 3."""
    instance = tmp_path / "i"
    assert run("--instance", str(instance), "init").exit_code == 0
    line = 'SQLALCHEMY_DATABASE_URI = "postgresql://fieldapp@127.0.0.1/fieldapp"\n'
    (instance / "config.py").write_text(line)
    app = create_app({"TESTING": True}, instance_path=instance)
    with app.app_context():
        assert db.engine.dialect.name == "postgresql"
        assert db.engine.driver == "psycopg"
        db.engine.dispose()
