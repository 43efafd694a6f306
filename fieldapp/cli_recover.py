"""``fieldapp --instance NEW recover DAMAGED``: copy what a damaged database still holds.

Exit code 0 when every row was copied; 1 when rows were lost (the summary says which), and 1
with a sentence for a folder that is no installation, a new folder that is not empty, or an
installation on PostgreSQL.
"""

from __future__ import annotations

from pathlib import Path

import click

from .cli import _emit, cli, cli_language, fail, instance_path, single_lines
from .cli_backup import lazy_text
from .config import N_, InstanceError
from .i18n import cli_translations

# Why a table was not copied (services/recover.py TableResult.skipped).
SKIPPED = {
    "rebuilt": N_("%(table)s: not copied, rebuilt from the copied data"),
    "unknown": N_("%(table)s: not copied, this version of fieldapp has no such table"),
}


@cli.command("recover", with_appcontext=False)
@click.argument("damaged", type=click.Path(file_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def recover_command(damaged: Path, as_json: bool) -> None:
    """Copy what can still be read from the installation in DAMAGED (a damaged database) into
    the empty or new instance folder given by --instance."""
    from .services import recover
    from .services.errors import FieldappError

    target = instance_path()
    try:
        result = recover.recover(damaged, target)
    except FieldappError as exc:
        fail(lazy_text(exc.message), exit_code=1)
    except InstanceError as exc:  # the damaged installation's config.py cannot be read
        fail(exc.message, exc.params, exit_code=1)
    text = cli_translations(cli_language())
    lines = [
        text.gettext(N_("What could be read of %(source)s is copied into %(path)s."))
        % single_lines({"source": result.source, "path": result.path})
    ]
    for table in result.tables:
        if table.skipped:
            lines.append("  " + text.gettext(SKIPPED[table.skipped]) % {"table": table.name})
            continue
        lines.append(
            "  "
            + text.ngettext(
                "%(table)s: %(num)s row copied", "%(table)s: %(num)s rows copied", table.copied
            )
            % {"table": table.name, "num": table.copied}
        )
        if table.lost is None:
            lines.append(
                "    "
                + text.gettext(
                    N_("Some rows could not be read and are lost; how many is not known.")
                )
            )
        elif table.lost:
            lines.append(
                "    "
                + text.ngettext(
                    "%(num)s row could not be read and is lost.",
                    "%(num)s rows could not be read and are lost.",
                    table.lost,
                )
                % {"num": table.lost}
            )
    if result.complete:
        lines.append(text.gettext(N_("Every row was copied: nothing was lost.")))
    else:
        lost = result.rows_lost
        lines.append(
            text.gettext(
                N_(
                    "Some rows could not be read and are lost (see above). What head office "
                    "received in earlier exports is safe there; a backup may hold the rest."
                )
            )
            if lost is None
            else text.ngettext(
                "In all %(num)s row could not be read and is lost. What head office received "
                "in earlier exports is safe there; a backup may hold the rest.",
                "In all %(num)s rows could not be read and are lost. What head office "
                "received in earlier exports is safe there; a backup may hold the rest.",
                lost,
            )
            % {"num": lost}
        )
    if result.settings_file:
        lines.append(
            text.gettext(
                N_(
                    "The damaged installation's settings were saved as %(path)s and are not "
                    "used: compare them with config.py and copy the settings you need by hand."
                )
            )
            % single_lines({"path": result.settings_file})
        )
    lines.append(
        text.gettext(
            N_(
                "Next: start fieldapp on the new folder (fieldapp --instance %(path)s serve) "
                "and export at once. Its exports continue at number %(next)s. Use only the new "
                "folder from now on, and keep the damaged folder as it is for support."
            )
        )
        % single_lines({"path": result.path, "next": result.export_seq_floor + 1})
    )
    _emit(result.as_dict(), as_json, lines)
    if not result.complete:
        raise SystemExit(1)
