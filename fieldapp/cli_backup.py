"""``fieldapp backup`` and ``fieldapp restore``, and the refusal of a damaged database.

A refused input (wrong passphrase, a folder that is not empty, a file that is no backup) exits
with code 1; an installation that cannot be used (a damaged database) with code 2.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
from flask import Flask

from .cli import (
    _emit,
    cli,
    cli_language,
    echo,
    fail,
    instance_path,
    open_installation,
    reports_instance_errors,
    single_lines,
)
from .config import N_
from .i18n import cli_translations

NEEDS_PASSPHRASE = N_(
    "This backup needs a passphrase: type it in a terminal, or give it with --passphrase-stdin."
)
# The one command a damaged installation still runs: the server, whose every page explains.
RUNS_WHEN_DAMAGED = frozenset({"serve"})


def refuse_if_damaged(app: Flask) -> None:
    """Exit with code 2 and the advice when the database is damaged (D-05), except to serve."""
    from .services import health

    ctx = click.get_current_context(silent=True)
    if health.is_damaged(app) and (ctx is None or ctx.info_name not in RUNS_WHEN_DAMAGED):
        fail(health.DAMAGED_ADVICE)


def lazy_text(message: Any) -> str:
    """A service's lazy message in the command's language, without an app (restore has none)."""
    args = getattr(message, "_args", ())
    if not args or not isinstance(args[0], str):
        return str(message)
    text = cli_translations(cli_language()).gettext(args[0])
    params = getattr(message, "_kwargs", None)
    return text % single_lines(params) if params else text


def _passphrase(from_stdin: bool, confirm: bool) -> str:
    """The passphrase: one line of standard input, or typed (twice for a new backup)."""
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    text = cli_translations(cli_language())
    return str(
        click.prompt(text.gettext(N_("Passphrase")), hide_input=True, confirmation_prompt=confirm)
    )


@cli.command("backup", with_appcontext=False)
@click.option(
    "--output",
    required=True,
    type=click.Path(path_type=Path),
    help="File or folder (e.g. the USB stick) to write the backup to.",
)
@click.option(
    "--passphrase-stdin",
    is_flag=True,
    help="Read the passphrase from standard input. Without it a field laptop encrypts to head "
    "office's keys; a head office asks for a passphrase.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@reports_instance_errors
def backup_command(output: Path, passphrase_stdin: bool, as_json: bool) -> None:
    """Write an encrypted backup of this installation (data, accounts, keys, settings)."""
    from .models import DeviceRole
    from .services import backup
    from .services.errors import FieldappError
    from .services.sync import keys

    path = instance_path()
    app = open_installation(path)
    with app.app_context():
        device = keys.self_device()
        # Only a field laptop has someone else to encrypt to: everyone else types a passphrase.
        ask = passphrase_stdin or device is None or device.role == DeviceRole.HEADOFFICE
        if ask and not passphrase_stdin and not sys.stdin.isatty():
            fail(NEEDS_PASSPHRASE, exit_code=1)
        passphrase = _passphrase(passphrase_stdin, confirm=True) if ask else None
        try:
            result = backup.create_backup(path, output, passphrase)
        except FieldappError as exc:
            fail(lazy_text(exc.message), exit_code=1)
    text = cli_translations(cli_language())
    lines = [
        text.gettext(N_("Backup written and checked: %(path)s"))
        % single_lines({"path": result.path})
    ]
    if result.encrypted_to == "headoffice":
        lines.append(
            text.gettext(
                N_(
                    "It is encrypted to head office's keys: only head office can restore it "
                    "(fieldapp restore --identity)."
                )
            )
        )
    _emit(result.as_dict(), as_json, lines)


@cli.command("restore", with_appcontext=False)
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--passphrase-stdin", is_flag=True, help="Read the passphrase from standard input.")
@click.option(
    "--identity",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Head office's age key file, for a backup encrypted to head office's keys.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@reports_instance_errors
def restore_command(
    file: Path, passphrase_stdin: bool, identity: Path | None, as_json: bool
) -> None:
    """Restore a backup into the empty or new instance folder given by --instance."""
    from .services import backup
    from .services.errors import FieldappError

    target = instance_path()
    try:
        backup.check_empty_folder(target)
        passphrase = None
        if backup.needs_passphrase(file):
            if not passphrase_stdin and not sys.stdin.isatty():
                fail(NEEDS_PASSPHRASE, exit_code=1)
            passphrase = _passphrase(passphrase_stdin, confirm=False)
        result = backup.restore_backup(file, target, passphrase, identity)
    except FieldappError as exc:
        fail(lazy_text(exc.message), exit_code=1)
    text = cli_translations(cli_language())
    lines = [
        text.gettext(N_("The backup is restored into %(path)s.")) % single_lines({"path": target}),
        text.gettext(
            N_(
                "WARNING: this installation now has the identity of the laptop the backup was "
                "made on (device %(device)s). Use only one of the two: if that laptop still "
                "works, stop using it, and tell head office about this restore. Exports from "
                "here continue at number %(next)s, so head office never receives two different "
                "files under one number."
            )
        )
        % single_lines({"device": result.device_id or "-", "next": result.export_seq_floor + 1}),
    ]
    if result.settings_file:
        lines.append(
            text.gettext(
                N_(
                    "The backup's settings were saved as %(path)s and are not used: compare "
                    "them with config.py and copy the settings you need by hand."
                )
            )
            % single_lines({"path": result.settings_file})
        )
    if as_json:
        _emit(result.as_dict(), True, [])
        for line in lines[1:]:
            echo(line, err=True)
    else:
        _emit(result.as_dict(), False, lines)
