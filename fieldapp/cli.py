"""The ``fieldapp`` command: one installation per instance folder.

``fieldapp --instance DIR COMMAND`` (or ``FIELDAPP_INSTANCE=DIR``) works on that folder, so
several installations can live on one machine. Messages are printed in the language of
``--lang``, ``FIELDAPP_LANG`` or the system locale (``LANG``), English otherwise.
"""

from __future__ import annotations

import faulthandler
import json
import os
import re
import signal
import socket
import sys
from collections.abc import Callable, Mapping
from functools import wraps
from pathlib import Path
from typing import Any, NoReturn

import click
from flask import Flask
from flask.cli import FlaskGroup, routes_command, shell_command
from flask_babel import force_locale
from flask_migrate.cli import db as migrations_group

from . import create_app
from .config import N_, NO_INSTALLATION, InstanceError, holds_installation
from .i18n import BY_CODE, cli_translations

DEFAULT_PORT = 5000
LOOPBACK = "127.0.0.1"


def _root_params() -> dict[str, Any]:
    ctx = click.get_current_context(silent=True)
    return ctx.find_root().params if ctx is not None else {}


def instance_path() -> Path:
    """The instance folder chosen for this command."""
    value = _root_params().get("instance") or os.environ.get("FIELDAPP_INSTANCE") or "instance"
    return Path(value).resolve()


def cli_language() -> str | None:
    """The language for messages: ``--lang``, then FIELDAPP_LANG, then LANG."""
    for value in (
        _root_params().get("lang"),
        os.environ.get("FIELDAPP_LANG"),
        os.environ.get("LANG", "").split(".")[0],
    ):
        if value:
            code = value.replace("-", "_").split("_")[0].lower()
            if code in BY_CODE:
                return code
    return None


# What a hostile file or device name could use to take over the coordinator's terminal: C0
# controls (ESC starts escape sequences; newline and tab are kept in our own text), DEL, C1
# controls (0x9b is a one-byte CSI on some terminals), and the bidi embeddings, overrides and
# isolates, which reorder how a line reads ("Trojan source"). The marks LRM, RLM and ALM are
# kept: they change no order of letters, only where neutral characters such as digits and
# punctuation sit, and Arabic and Kurdish names need them to read correctly.
_CONTROLS = "\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069"
_UNSAFE = re.compile(f"[{_CONTROLS}]")
_UNSAFE_IN_VALUE = re.compile(f"[\\n\\t{_CONTROLS}]")
_UNSAFE_IN_JSON = re.compile("[\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _shown(match: re.Match[str]) -> str:
    """A control character made visible and harmless, as in a Python string: ``\\x1b``."""
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def terminal_safe(text: str) -> str:
    """``text`` with every control character that could act on a terminal made visible."""
    return _UNSAFE.sub(_shown, text)


def one_line(value: Any) -> Any:
    """A value for a placeholder: strings lose their line breaks and tabs as well (a file
    name with a line break could otherwise print a line of its own, such as a false
    "merged"). Other values are returned as they are."""
    return _UNSAFE_IN_VALUE.sub(_shown, value) if isinstance(value, str) else value


def single_lines(params: Mapping[str, Any]) -> dict[str, Any]:
    """Placeholder values for a message, each on one line (see :func:`one_line`)."""
    return {name: one_line(value) for name, value in params.items()}


def echo(text: str, err: bool = False) -> None:
    """Print a line to the terminal; every line the command prints goes through here."""
    click.echo(terminal_safe(text), err=err)


def say(msgid: str, err: bool = False, **params: Any) -> None:
    """Print a translated message with its placeholders filled in."""
    text = cli_translations(cli_language()).gettext(msgid)
    echo(text % single_lines(params) if params else text, err=err)


ROLE_NAMES = {"field": N_("field laptop"), "headoffice": N_("head office")}


def role_name(role: str) -> str:
    """The name of an installation role in the command's language."""
    return cli_translations(cli_language()).gettext(ROLE_NAMES[role])


def fail(msgid: str, params: Mapping[str, Any] | None = None, exit_code: int = 2) -> NoReturn:
    """Print a translated error to stderr and exit with ``exit_code``."""
    say(msgid, err=True, **(params or {}))
    sys.exit(exit_code)


def read_limited(path: Path, limit: int, exit_code: int = 2) -> bytes:
    """At most ``limit`` bytes of a file a command reads whole (a signed codebook, a receipt),
    or a refusal that names the file and the reason, never a traceback."""
    try:
        with path.open("rb") as stream:
            return stream.read(limit)
    except OSError as exc:
        fail(
            N_("Cannot read %(path)s: %(reason)s"),
            {"path": str(path), "reason": exc.strerror},
            exit_code=exit_code,
        )


def translate_lazy(app: Flask, message: Any) -> str:
    """Render a lazy gettext message from a service in the command's language."""
    code = cli_language() or "en"
    with app.test_request_context(), force_locale(BY_CODE[code].locale):
        return str(message)


def _load_app() -> Flask:
    """Create the app for the chosen instance folder (used by Flask's own commands)."""
    path = instance_path()
    if not holds_installation(path):
        fail(NO_INSTALLATION, {"path": str(path)})
    try:
        app = create_app(instance_path=path)
    except InstanceError as exc:
        fail(exc.message, exc.params)
    from .cli_backup import refuse_if_damaged

    refuse_if_damaged(app)  # Flask-Migrate's "db upgrade" would write into a damaged file
    return app


def open_installation(path: Path, initialise: bool = False, create: bool = False) -> Flask:
    """Open the installation for this command; its database connections close with it."""
    from .startup import open_instance

    app = open_instance(path, initialise=initialise, create=create)
    click.get_current_context().call_on_close(lambda: _close_database(app))
    from .cli_backup import refuse_if_damaged

    refuse_if_damaged(app)  # a damaged database: exit 2 with what to do (D-05)
    return app


def _close_database(app: Flask) -> None:
    """Close the pooled connections of ``app`` (a server would otherwise see them linger)."""
    from .extensions import db

    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def reports_instance_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """Turn an unusable instance folder into a clear message and exit code 2."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except InstanceError as exc:
            fail(exc.message, exc.params)

    return wrapper


class FieldappGroup(FlaskGroup):
    """Flask's command group without Flask's own options (``--app``, ``--env-file``,
    ``--debug``, ``--version``): they mean nothing for fieldapp. A database that cannot be
    reached in any command, Flask-Migrate's included, is a message and exit code 2."""

    FLASK_OPTIONS = frozenset({"env_file", "app", "debug", "version"})

    def __init__(self, **extra: Any) -> None:
        """Build the group, then drop Flask's options from it."""
        super().__init__(add_version_option=False, **extra)
        self.params = [p for p in self.params if p.name not in self.FLASK_OPTIONS]

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        """Parse like a plain click group (Flask's version pre-loads ``--app``)."""
        return click.Group.parse_args(self, ctx, args)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """Our commands and installed plugins'; the app is not loaded to find them (Flask
        does), so ``--help`` works where no installation is."""
        self._load_plugin_commands()
        return click.Group.get_command(self, ctx, cmd_name)

    def list_commands(self, ctx: click.Context) -> list[str]:
        """The names of our commands and installed plugins' commands."""
        self._load_plugin_commands()
        return click.Group.list_commands(self, ctx)

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command; an unreachable database becomes a message naming it."""
        from .database import connection_errors, database_unreachable

        try:
            return super().invoke(ctx)
        except InstanceError as exc:
            fail(exc.message, exc.params)
        except connection_errors() as exc:
            from .config import environment_overrides, read_instance_config, sqlite_uri

            path = instance_path()
            try:
                settings = {**read_instance_config(path), **environment_overrides(os.environ)}
            except InstanceError:
                settings = {}
            uri = settings.get("SQLALCHEMY_DATABASE_URI") or sqlite_uri(path)
            error = database_unreachable(str(uri), exc)
            fail(error.message, error.params)


cli = FieldappGroup(
    name="fieldapp",
    help=__doc__,
    create_app=lambda *_: _load_app(),
    add_default_commands=False,
    load_dotenv=False,
    set_debug_flag=False,
    params=[
        click.Option(
            ["--instance"],
            envvar="FIELDAPP_INSTANCE",
            type=click.Path(file_okay=False),
            help="Instance folder of the installation (default: ./instance).",
        ),
        click.Option(
            ["--lang"],
            type=click.Choice(sorted(BY_CODE)),
            help="Language of messages: ar, ckb, ku or en.",
        ),
    ],
)
cli.add_command(shell_command)
cli.add_command(routes_command)
cli.add_command(migrations_group)  # Flask-Migrate's ``db``, found without loading the app


@cli.command("init", with_appcontext=False)
@click.option(
    "--role",
    type=click.Choice(["field", "headoffice"]),
    help="Give the installation its identity and keys: a field laptop or a head office.",
)
@click.option("--name", help="Name of the installation, e.g. “Duhok laptop 3”.")
@click.option(
    "--headoffice-key",
    "headoffice_keys",
    multiple=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Public key file of a head office to encrypt exports to (repeat for a backup key).",
)
@reports_instance_errors
def init_command(role: str | None, name: str | None, headoffice_keys: tuple[Path, ...]) -> None:
    """Create the instance folder, its secret key and database (safe to run again)."""
    from .models import DeviceRole
    from .services.errors import FieldappError
    from .services.sync import keys

    path = instance_path()
    app = open_installation(path, initialise=True, create=True)
    say(N_("The installation in %(path)s is ready."), path=str(path))
    if role is None:
        return
    with app.app_context():
        try:
            infos = [keys.read_public_key(file) for file in headoffice_keys]
            device = keys.initialise(path, DeviceRole(role), name or "", infos)
        except FieldappError as exc:
            fail(translate_lazy(app, exc.message), exit_code=1)
        say(
            N_("This installation is “%(name)s” (%(role)s), device %(device)s."),
            name=device.name,
            role=role_name(device.role.value),
            device=device.device_id,
        )


@cli.group("keys")
def keys_group() -> None:
    """This installation's public key file."""


@keys_group.command("public", with_appcontext=False)
@click.option(
    "--output", required=True, type=click.Path(dir_okay=False, path_type=Path), help="File."
)
@reports_instance_errors
def keys_public_command(output: Path) -> None:
    """Write the public key file that head office (or a laptop) registers."""
    from .services.errors import FieldappError
    from .services.sync import keys

    app = open_installation(instance_path())
    with app.app_context():
        try:
            info = keys.write_public_key(output)
        except FieldappError as exc:
            fail(translate_lazy(app, exc.message), exit_code=1)
    say(N_("Public key of “%(name)s” written to %(path)s."), name=info.name, path=str(output))


@cli.group("devices")
def devices_group() -> None:
    """Installations registered with this one."""


@devices_group.command("add", with_appcontext=False)
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@reports_instance_errors
def devices_add_command(files: tuple[Path, ...]) -> None:
    """Register laptops (or a backup head-office key) from their public key files."""
    from .services.errors import FieldappError
    from .services.sync import keys

    app = open_installation(instance_path())
    with app.app_context():
        for file in files:
            try:
                device, new = keys.register(keys.read_public_key(file))
            except FieldappError as exc:
                fail(translate_lazy(app, exc.message), exit_code=1)
            message = (
                N_("Registered “%(name)s” (%(role)s, device %(device)s).")
                if new
                else N_("“%(name)s” (device %(device)s) was registered already.")
            )
            say(
                message,
                name=device.name,
                role=role_name(device.role.value),
                device=device.device_id,
            )


@devices_group.command("list", with_appcontext=False)
@reports_instance_errors
def devices_list_command() -> None:
    """List this installation and the devices registered with it."""
    from .services.sync import keys

    app = open_installation(instance_path())
    with app.app_context():
        for device in keys.list_devices():
            marks = ["self"] if device.is_self else []
            if device.revoked:
                marks.append("revoked")
            suffix = f" [{', '.join(marks)}]" if marks else ""
            name = one_line(device.name)
            echo(f"{device.device_id}  {device.role.value:<10}  {name}{suffix}")


@cli.command("serve", with_appcontext=False)
@click.option("--port", type=click.IntRange(1, 65535), default=DEFAULT_PORT, show_default=True)
@reports_instance_errors
def serve_command(port: int) -> None:
    """Start fieldapp for the facilitator on this laptop (http://127.0.0.1:PORT)."""
    serve(instance_path(), port)


PORT_IN_USE = N_(
    "Port %(port)s is already in use. Is fieldapp already running? "
    "Open http://127.0.0.1:%(port)s or start with another port, e.g. --port 5001."
)


def port_is_free(port: int) -> bool:
    """True when the loopback port can be bound (checked before waitress tries)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((LOOPBACK, port))
        except OSError:
            return False
    return True


def serve(path: Path, port: int) -> None:
    """Open the installation and serve it with waitress on the loopback address only."""
    import waitress

    from .lan import WAITRESS_SETTINGS

    if not port_is_free(port):
        fail(PORT_IN_USE, {"port": port})
    app = open_installation(path, create=True)  # run.py's first start makes the installation
    from .services.health import is_damaged

    if not is_damaged(app):  # a damaged file is only read: its pages explain instead (D-05)
        with app.app_context():  # PURGE_AFTER_DAYS: acknowledged answers leave at start
            from .services.purge import purge_due

            purge_due()
    try:
        server = waitress.create_server(
            app,
            host=LOOPBACK,
            port=port,
            # The facilitator's server takes large imports; the app limits each route itself.
            **{**WAITRESS_SETTINGS, "max_request_body_size": 1024**3},
        )
    except OSError:
        fail(PORT_IN_USE, {"port": port})
    say(
        N_(
            "fieldapp is running. Open %(url)s in the browser on this laptop. Press Ctrl+C to stop."
        ),
        url=f"http://{LOOPBACK}:{port}",
    )
    sys.stdout.flush()
    # A stop asked by the system (task manager, shutdown, closing the terminal) ends like Ctrl+C,
    # so the database is checkpointed and closed instead of left with a write-ahead log. Ctrl+C
    # itself is handled here too: a program started in the background by a script inherits
    # SIGINT ignored, and Python then never raises KeyboardInterrupt (the listeners stopped,
    # fieldapp went on serving).
    names = ("SIGINT", "SIGTERM", "SIGHUP")
    signals = [getattr(signal, name) for name in names if hasattr(signal, name)]
    before = {number: signal.signal(number, _interrupt) for number in signals}
    try:
        server.run()
    except KeyboardInterrupt:
        say(N_("fieldapp has stopped."))
    finally:
        watched = watch_a_slow_stop()
        from .database import close_database, save_write_wait_stats
        from .lan import stop_all

        # The phones' listeners first: a listener that stops (Ctrl+C reaches it too) is not
        # restarted once its supervisor knows fieldapp is stopping.
        stop_all()
        server.close()
        with app.app_context():
            close_database()
        save_write_wait_stats(path, "facilitator")
        if watched:
            faulthandler.cancel_dump_traceback_later()
        for number, handler in before.items():
            signal.signal(number, handler)


# After this long stopping, the server prints every thread's stack (see serve()).
SLOW_STOP_SECONDS = 8.0


def watch_a_slow_stop() -> bool:
    """A stop should take a second or two: if it takes over :data:`SLOW_STOP_SECONDS`, print
    where each thread is on standard error (for whoever reads the log) and go on stopping.
    False when standard error is no file (a test's captured output)."""
    try:
        faulthandler.dump_traceback_later(SLOW_STOP_SECONDS, exit=False)
    except (ValueError, OSError, AttributeError):  # io.UnsupportedOperation: no fileno()
        return False
    return True


def _interrupt(_signum: int, _frame: object) -> None:
    """Stop serving as Ctrl+C does."""
    raise KeyboardInterrupt


@cli.command("create-user", with_appcontext=False)
@click.argument("username")
@click.option(
    "--role",
    type=click.Choice(["facilitator", "analyst", "viewer", "coordinator"]),
    default="facilitator",
    show_default=True,
)
@click.option("--display-name", default="", help="Name shown on screens.")
@click.option(
    "--password-stdin", is_flag=True, help="Read the password from standard input (scripts)."
)
@reports_instance_errors
def create_user_command(username: str, role: str, display_name: str, password_stdin: bool) -> None:
    """Create an account. The password is asked twice (it is never an argument)."""
    from .auth.sessions import password_policy
    from .models import Role
    from .services import accounts

    app = open_installation(instance_path())
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        text = cli_translations(cli_language())
        password = click.prompt(
            text.gettext(N_("Password")), hide_input=True, confirmation_prompt=True
        )
    with app.app_context():
        try:
            accounts.create_user(
                username, password, Role(role), password_policy(), display_name=display_name
            )
        except accounts.AccountError as exc:
            fail(translate_lazy(app, exc.message), exit_code=1)
    say(N_("The account %(name)s has been created."), name=username)


def _emit(data: dict[str, Any], as_json: bool, lines: list[str]) -> None:
    """Print one JSON object (``--json``) or human-readable lines.

    JSON escapes C0 controls itself; C1 and bidi controls are escaped here too (``\\u009b``),
    which leaves the same data for a program and nothing that acts on a terminal.
    """
    if as_json:
        text = json.dumps(data, ensure_ascii=False, sort_keys=True)
        click.echo(_UNSAFE_IN_JSON.sub(lambda m: f"\\u{ord(m.group()):04x}", text))
    else:
        for line in lines:
            echo(line)


@cli.command("export", with_appcontext=False)
@click.option("--output", type=click.Path(path_type=Path), help="File or folder to write to.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@reports_instance_errors
def export_command(output: Path | None, as_json: bool) -> None:
    """Write one encrypted bundle with everything this installation holds."""
    from .services.errors import FieldappError
    from .services.sync.export import export_bundle

    path = instance_path()
    app = open_installation(path)
    with app.app_context():
        try:
            result = export_bundle(path, output)
        except FieldappError as exc:
            fail(translate_lazy(app, exc.message), exit_code=1)
    text = cli_translations(cli_language())
    _emit(
        result.as_dict(),
        as_json,
        [
            text.gettext(N_("Export %(seq)s written and checked: %(path)s"))
            % single_lines({"seq": result.export_seq, "path": result.path}),
            text.gettext(N_("It is safe to carry. Records: %(counts)s"))
            % {"counts": ", ".join(f"{k} {v}" for k, v in result.counts.items())},
        ],
    )


@cli.command("merge", with_appcontext=False)
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@reports_instance_errors
def merge_command(files: tuple[Path, ...], as_json: bool) -> None:
    """Merge bundles from laptops (or another office); each file on its own."""
    from .services import activity
    from .services.errors import FieldappError
    from .services.sync.history import format_ranges
    from .services.sync.merge import merge_files

    path = instance_path()
    app = open_installation(path)
    with app.app_context():
        try:
            summaries = merge_files(files, path, translate=lambda m: translate_lazy(app, m))
            activity.imports_ended(summaries)  # each file's outcome on the Activity page
        except FieldappError as exc:
            fail(translate_lazy(app, exc.message), exit_code=1)
    text = cli_translations(cli_language())
    lines = []
    for summary in summaries:
        if summary.ok:
            lines.append(
                text.gettext(
                    N_(
                        "%(file)s: from %(device)s, export %(seq)s: %(new)s new, %(updated)s "
                        "updated, %(unchanged)s unchanged, %(conflicts)s with conflicts."
                    )
                )
                % single_lines(
                    {
                        "file": summary.file,
                        "device": summary.device_name,
                        "seq": summary.export_seq,
                        "new": summary.new,
                        "updated": summary.updated,
                        "unchanged": summary.unchanged,
                        "conflicts": summary.conflicts,
                    }
                )
            )
            if summary.export_reused:
                lines.append(
                    text.gettext(
                        N_(
                            "WARNING: export %(seq)s of %(device)s was merged before with "
                            "other content: the laptop numbered two different exports alike "
                            "(restored from a backup?). Nothing was counted twice; check the "
                            "laptop."
                        )
                    )
                    % {"seq": summary.export_seq, "device": summary.device_name}
                )
            if summary.missing_exports:
                lines.append(
                    text.gettext(N_("Exports not merged yet from this device: %(numbers)s"))
                    % {"numbers": format_ranges(summary.missing_exports)}
                )
        else:
            lines.append(
                text.gettext(N_("%(file)s: refused. %(reason)s"))
                % single_lines({"file": summary.file, "reason": summary.error})
            )
    _emit({"files": [s.as_dict() for s in summaries]}, as_json, lines)
    if not all(s.ok for s in summaries):
        sys.exit(1)


@cli.command("stats", with_appcontext=False)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@reports_instance_errors
def stats_command(as_json: bool) -> None:
    """Counts of what this installation holds, and its digest."""
    from .services.sync.stats import stats

    app = open_installation(instance_path())
    with app.app_context():
        result = stats()
    lines = [f"{name}: {number}" for name, number in result["counts"].items()]
    _emit(result, as_json, [*lines, f"digest: {result['digest']}"])


@cli.command("demo-data", with_appcontext=False)
@click.option("--consultations", type=click.IntRange(1, 10_000), default=3, show_default=True)
@click.option("--submissions", type=click.IntRange(0, 10_000_000), default=60, show_default=True)
@click.option("--seed", type=int, default=1, show_default=True)
@reports_instance_errors
def demo_data_command(consultations: int, submissions: int, seed: int) -> None:
    """Fill this installation with realistic multilingual demo records."""
    from .services import demo
    from .services.errors import FieldappError

    app = open_installation(instance_path())
    with app.app_context():
        try:
            made = demo.fill(consultations, submissions, seed)
        except FieldappError as exc:
            fail(translate_lazy(app, exc.message), exit_code=1)
    echo(", ".join(f"{name} {number}" for name, number in made.items()))


@migrations_group.command("rebuild-index")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@reports_instance_errors
def rebuild_index_command(as_json: bool) -> None:
    """Fill the Contributions read model again from the submissions and records held."""
    from .services import contributions

    app = open_installation(instance_path())
    with app.app_context():
        result = contributions.rebuild()
    text = cli_translations(cli_language())
    line = text.gettext(
        N_(
            "Rebuilt the contributions index: %(contributions)s answers from %(submissions)s "
            "submissions, %(reviews)s review and coding records applied."
        )
    ) % {
        "contributions": result["contributions"],
        "submissions": result["submissions"],
        "reviews": result["reviews_and_codings"],
    }
    _emit(result, as_json, [line])


# Each adds its command group ("fieldapp analysis", "fieldapp codebook") to ``cli``.
from . import cli_analysis, cli_codebook  # noqa: E402,F401

# isort: split
# Adds "fieldapp devices revoke" and "fieldapp keys rotate" to their groups above.
from . import cli_devices  # noqa: E402,F401

# isort: split
# Adds "fieldapp backup" and "fieldapp restore".
from . import cli_backup  # noqa: E402,F401

# isort: split
# Adds "fieldapp receipt" and "fieldapp purge".
from . import cli_receipts  # noqa: E402,F401

# isort: split
# Adds "fieldapp recover".
from . import cli_recover  # noqa: E402,F401

# isort: split
# Adds the hidden "fieldapp participants-listener" (the phones' listener, started by lan.py).
from . import cli_listener  # noqa: E402,F401
