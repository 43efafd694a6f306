"""``fieldapp receipt`` and ``fieldapp purge``: what head office holds leaves the laptop.

At head office, after merging a laptop's files: ``fieldapp receipt --device ID --output FILE``
writes the signed receipt. On the laptop: ``fieldapp receipt apply FILE`` checks and keeps it,
and ``fieldapp purge --acknowledged --yes`` removes the answers it acknowledged. A refused
file or a missing confirmation prints why and exits with code 1, and so does ``receipt apply`` or
``purge`` on a head office (it keeps what it merged); an unusable installation exits with code 2.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from .cli import (
    _emit,
    cli,
    cli_language,
    echo,
    fail,
    instance_path,
    open_installation,
    read_limited,
    reports_instance_errors,
    single_lines,
    translate_lazy,
)
from .config import N_
from .i18n import cli_translations

REFUSED = 1


def _write_file(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` whole or not at all (a temporary file renamed into place)."""
    partial = path.with_name(path.name + ".partial")
    with partial.open("wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(partial, path)


@cli.group("receipt", invoke_without_command=True)
@click.option("--device", "device_id", help="Device id of the laptop (see: fieldapp devices list).")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), help="File to write.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_context
@reports_instance_errors
def receipt_group(
    ctx: click.Context, device_id: str | None, output: Path | None, as_json: bool
) -> None:
    """Head office: write a signed receipt for a laptop (--device ID --output FILE).
    A laptop: apply one (receipt apply FILE)."""
    if ctx.invoked_subcommand is not None:
        if device_id or output:
            fail(
                N_(
                    "Use either “fieldapp receipt --device ID --output FILE” or "
                    "“fieldapp receipt apply FILE”, not both."
                ),
                exit_code=REFUSED,
            )
        return
    if not device_id or not output:
        fail(
            N_(
                "Write a receipt at head office with “fieldapp receipt --device ID --output "
                "FILE”; apply one on a laptop with “fieldapp receipt apply FILE”."
            ),
            exit_code=REFUSED,
        )
    from .services.backup import check_destination
    from .services.errors import FieldappError
    from .services.sync import receipts

    app = open_installation(instance_path())
    with app.app_context():
        try:
            # Never into the instance folder (the live database, the keys), never over a file.
            check_destination(output, instance_path())
        except FieldappError as exc:
            fail(translate_lazy(app, exc.message), exit_code=REFUSED)
        try:
            written = receipts.write_receipt(device_id.strip(), instance_path())
        except receipts.ReceiptError as exc:
            fail(translate_lazy(app, exc.message), exit_code=REFUSED)
        except FieldappError as exc:  # no keys here: the installation is not usable for this
            fail(translate_lazy(app, exc.message))
    try:
        _write_file(output, written.data)
    except OSError as exc:
        fail(
            N_("Cannot write %(path)s: %(reason)s"),
            {"path": str(output), "reason": exc.strerror},
            exit_code=REFUSED,
        )
    from .services.sync.history import format_ranges

    text = cli_translations(cli_language())
    line = text.gettext(
        N_("Receipt for “%(name)s” written to %(path)s: exports %(numbers)s acknowledged.")
    ) % single_lines(
        {
            "name": written.device_name,
            "path": str(output),
            "numbers": format_ranges(written.exports),
        }
    )
    _emit({**written.as_dict(), "path": str(output)}, as_json, [line])


@receipt_group.command("apply", with_appcontext=False)
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@reports_instance_errors
def receipt_apply_command(file: Path, as_json: bool) -> None:
    """Check a receipt from head office and keep it (a refused one changes nothing)."""
    from .services import purge
    from .services.errors import FieldappError
    from .services.sync import receipts
    from .services.sync.history import format_ranges

    data = read_limited(file, receipts.MAX_RECEIPT_BYTES + 1, exit_code=REFUSED)
    app = open_installation(instance_path())
    with app.app_context():
        if purge.is_headoffice():
            fail(translate_lazy(app, purge.HEADOFFICE_REFUSAL), exit_code=REFUSED)
        try:
            result = purge.apply_receipt(data)
        except FieldappError as exc:
            fail(
                N_("%(file)s: refused. %(reason)s"),
                {"file": str(file), "reason": translate_lazy(app, exc.message)},
                exit_code=REFUSED,
            )
    text = cli_translations(cli_language())
    if result.already_applied:
        first = text.gettext(
            N_("This receipt from “%(name)s” was applied before; nothing changed.")
        )
    else:
        first = text.gettext(N_("Receipt from “%(name)s” applied."))
    lines = [first % single_lines({"name": result.headoffice_name})]
    if result.acknowledged:
        lines.append(
            text.gettext(N_("Exports of this laptop acknowledged by head office: %(numbers)s."))
            % {"numbers": format_ranges(result.acknowledged)}
        )
    else:
        lines.append(
            text.gettext(
                N_(
                    "The receipt names none of this laptop's exports as they were written "
                    "here, so it acknowledges nothing (was the laptop restored from a backup?)."
                )
            )
        )
    if result.purged is not None:
        lines.append(
            text.ngettext(
                "%(num)s submission was removed automatically (PURGE_AFTER_DAYS).",
                "%(num)s submissions were removed automatically (PURGE_AFTER_DAYS).",
                result.purged,
            )
            % {"num": result.purged}
        )
    if result.purgeable:
        lines.append(
            text.ngettext(
                "%(num)s submission held here is acknowledged; remove it with "
                "“fieldapp purge --acknowledged --yes”.",
                "%(num)s submissions held here are acknowledged; remove them with "
                "“fieldapp purge --acknowledged --yes”.",
                result.purgeable,
            )
            % {"num": result.purgeable}
        )
    _emit(result.as_dict(), as_json, lines)


@cli.command("purge", with_appcontext=False)
@click.option(
    "--acknowledged",
    is_flag=True,
    help="Remove the answers that head office acknowledged with a receipt.",
)
@click.option("--yes", is_flag=True, help="Do it (without: only say what would be removed).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@reports_instance_errors
def purge_command(acknowledged: bool, yes: bool, as_json: bool) -> None:
    """Remove from this laptop the participants' answers that head office acknowledged."""
    from .services import purge

    if not acknowledged:
        fail(
            N_(
                "Say what to remove: “fieldapp purge --acknowledged --yes” removes the answers "
                "head office acknowledged with a receipt."
            ),
            exit_code=REFUSED,
        )
    app = open_installation(instance_path())
    text = cli_translations(cli_language())
    with app.app_context():
        if purge.is_headoffice():
            fail(translate_lazy(app, purge.HEADOFFICE_REFUSAL), exit_code=REFUSED)
        planned = purge.plan()
        if not planned.submissions:
            _emit(
                {**planned.as_dict(), "removed": 0},
                as_json,
                [
                    text.gettext(
                        N_(
                            "Nothing to remove: no submission held here has been acknowledged "
                            "by a receipt from head office."
                        )
                    )
                ],
            )
            return
        if not yes:
            warning = text.ngettext(
                "This would remove %(num)s submission (%(answers)s answers) that head office "
                "acknowledged, through export %(seq)s, for good. Run again with --yes to "
                "remove it.",
                "This would remove %(num)s submissions (%(answers)s answers) that head office "
                "acknowledged, through export %(seq)s, for good. Run again with --yes to "
                "remove them.",
                planned.submissions,
            ) % {
                "num": planned.submissions,
                "answers": planned.answers,
                "seq": planned.through_export,
            }
            echo(warning, err=True)
            sys.exit(REFUSED)
        result = purge.purge()
    lines = [
        text.ngettext(
            "Removed %(num)s submission (%(answers)s answers) that head office holds.",
            "Removed %(num)s submissions (%(answers)s answers) that head office holds.",
            result.submissions,
        )
        % {"num": result.submissions, "answers": result.answers}
    ]
    if not result.wiped:
        lines.append(
            text.gettext(
                N_(
                    "The database's journal could not be wiped because another program holds "
                    "the database open. Close fieldapp and run the purge again."
                )
            )
        )
    _emit({**result.as_dict(), "removed": result.submissions}, as_json, lines)
    if not result.wiped:
        raise SystemExit(REFUSED)
