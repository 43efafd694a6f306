"""``fieldapp analysis``: the analysts' files and the dashboard's tables from the command line.

The same services as the web pages: ``export`` writes the row-level CSV, XLSX or REFI-QDA file
of a filter (``services/analysis/exports.py``), ``summary`` prints the dashboard's published
tables as one JSON object. An unknown option, governorate or date is refused with a message
and exit code 1 (click's own usage errors would exit 2), and nothing is written.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

import click
from flask import Flask

from .cli import (
    _UNSAFE_IN_JSON,
    cli,
    cli_language,
    echo,
    fail,
    instance_path,
    open_installation,
    reports_instance_errors,
    say,
    translate_lazy,
)
from .config import N_

REFUSED = 1  # exit code of a refused command line (unknown option or filter value)
LANGS = ("ar", "ckb", "ku", "en")


class Refused(click.UsageError):
    """A usage error of these commands: click's message, exit code 1."""

    exit_code = REFUSED


class RefusingCommand(click.Command):
    """A command whose usage errors (unknown option, bad value) exit with code 1, not 2."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        """Parse as click does; a usage error keeps its message and exits with code 1."""
        try:
            return super().parse_args(ctx, args)
        except click.UsageError as exc:
            if isinstance(exc, Refused):
                raise
            raise Refused(exc.format_message(), exc.ctx or ctx) from exc


def _filter_options(command: Any) -> Any:
    """The filters both commands take (the Contributions page's, by name)."""
    for option in reversed(
        (
            click.option(
                "--governorate",
                "governorates",
                multiple=True,
                help="Governorate code or name in any language (repeatable).",
            ),
            click.option("--since", help="First day, YYYY-MM-DD."),
            click.option("--until", help="Last day, YYYY-MM-DD."),
            click.option(
                "--include-excluded", is_flag=True, help="Include excluded contributions."
            ),
        )
    ):
        command = option(command)
    return command


@cli.group("analysis")
def analysis_group() -> None:
    """Files and figures for analysts: row-level exports and the dashboard's tables."""


def _governorate_code(name: str) -> str | None:
    """The code of a governorate named by its code or its name in any language."""
    from .services import places
    from .textnorm import loose_key

    wanted = loose_key(name)
    for governorate in places.governorates():
        if governorate.code.lower() == name.strip().lower():
            return governorate.code
        if any(loose_key(n) == wanted for n in governorate.names.values()):
            return governorate.code
    return None


def _valid_day(value: str) -> bool:
    try:
        return date.fromisoformat(value).isoformat() == value
    except ValueError:
        return False


def _filters(
    app: Flask,
    governorates: Sequence[str],
    since: str | None,
    until: str | None,
    include_excluded: bool,
) -> Any:
    """The filters of the command line, or a refusal (exit code 1) naming the bad value."""
    from .services import contribution_query

    for value, option in ((since, "--since"), (until, "--until")):
        if value is not None and not _valid_day(value):
            fail(
                N_("%(option)s %(value)s is not a date (year-month-day)."),
                {"option": option, "value": value},
                exit_code=REFUSED,
            )
    codes = []
    for name in governorates:
        code = _governorate_code(name)
        if code is None:
            fail(N_("There is no governorate “%(value)s”."), {"value": name}, exit_code=REFUSED)
        codes.append(code)
    args: dict[str, list[str]] = {"governorate": codes}
    if since:
        args["from"] = [since]
    if until:
        args["to"] = [until]
    if include_excluded:
        args["excluded"] = ["1"]
    filters, problems = contribution_query.parse_filters(args)
    if problems:
        fail(
            N_("Refused: %(reason)s"),
            {"reason": translate_lazy(app, problems[0].message)},
            exit_code=REFUSED,
        )
    return filters


def _write_atomically(output: Path, write: Any) -> Any:
    """Run ``write(stream)`` into a temporary file beside ``output``, then rename it there:
    on any error no file, and no half-written one, is left at ``output``."""
    folder = output.resolve().parent
    handle, temporary = tempfile.mkstemp(prefix=f".{output.name}.", suffix=".part", dir=folder)
    try:
        with os.fdopen(handle, "wb") as stream:
            result = write(stream)
        os.replace(temporary, output)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return result


@analysis_group.command("export", cls=RefusingCommand, with_appcontext=False)
@click.option(
    "--format", "fmt", required=True, type=click.Choice(("csv", "xlsx", "qdpx")), help="File type."
)
@click.option(
    "--output", required=True, type=click.Path(dir_okay=False, path_type=Path), help="File."
)
@click.option("--lang", "lang", type=click.Choice(LANGS), help="Language of headers and labels.")
@click.option("--hxl", is_flag=True, help="Add a row of HXL hashtags under the headers.")
@_filter_options
@reports_instance_errors
def analysis_export_command(
    fmt: str,
    output: Path,
    lang: str | None,
    hxl: bool,
    governorates: tuple[str, ...],
    since: str | None,
    until: str | None,
    include_excluded: bool,
) -> None:
    """Write the contributions of a filter as CSV, XLSX or a REFI-QDA project (.qdpx)."""
    from .services.analysis import exports
    from .services.errors import FieldappError

    if not output.resolve().parent.is_dir():
        fail(N_("There is no folder %(path)s."), {"path": str(output.parent)}, exit_code=REFUSED)
    app = open_installation(instance_path())
    with app.app_context():
        filters = _filters(app, governorates, since, until, include_excluded)
        request = exports.ExportRequest(filters, fmt, lang or cli_language() or "en", hxl)
        try:
            done = _write_atomically(output, lambda stream: exports.write(request, stream))
        except FieldappError as exc:
            fail(N_("Refused: %(reason)s"), {"reason": translate_lazy(app, exc.message)}, REFUSED)
        except OSError as exc:
            fail(
                N_("Cannot write %(path)s: %(reason)s"),
                {"path": str(output), "reason": exc.strerror},
            )
    say(N_("Rows written to %(path)s: %(num)s"), num=str(done.rows), path=str(output))


@analysis_group.command("summary", cls=RefusingCommand, with_appcontext=False)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option(
    "--min-count",
    type=click.IntRange(min=2),
    help="Smallest count shown (k); smaller ones are “<k”. Default: the installation's.",
)
@click.option("--lang", "lang", type=click.Choice(LANGS), help="Language of titles and labels.")
@_filter_options
@reports_instance_errors
def analysis_summary_command(
    as_json: bool,
    min_count: int | None,
    lang: str | None,
    governorates: tuple[str, ...],
    since: str | None,
    until: str | None,
    include_excluded: bool,
) -> None:
    """Print the dashboard's tables, small counts withheld: counts only, "<k" where withheld."""
    from flask_babel import force_locale

    from .i18n import BY_CODE
    from .services.analysis import dashboard

    app = open_installation(instance_path())
    code = lang or cli_language() or "en"
    with app.app_context():
        filters = _filters(app, governorates, since, until, include_excluded)
        k = min_count or int(app.config["MIN_CELL_COUNT"])
        with app.test_request_context(), force_locale(BY_CODE[code].locale):
            data = dashboard.summary(dashboard.build(filters, k=k), BY_CODE[code].locale)
    if as_json:
        text = json.dumps(data, ensure_ascii=False, indent=2)
        # As ``_emit`` does: C1 and bidi controls escaped, the same data for a program.
        click.echo(_UNSAFE_IN_JSON.sub(lambda m: f"\\u{ord(m.group()):04x}", text))
        return
    for table in data.get("tables", []):
        echo(str(table.get("title", "")))
        echo("  " + "  ".join(str(c) for c in table.get("columns", [])))
        for row in table.get("rows", []):
            cells = "  ".join(str(c) for c in row.get("cells", []))
            echo(f"  {row.get('label', '')}: {cells}")
