"""``fieldapp codebook``: write the signed codebook file, import one, list the codes.

Head office writes the file (``export``) and sends it to the laptops, which ``import`` it, so
that everyone codes with the same themes. Refusals print why and exit with code 2.
"""

from __future__ import annotations

from pathlib import Path

import click

from .cli import (
    _emit,
    cli,
    cli_language,
    fail,
    instance_path,
    one_line,
    open_installation,
    read_limited,
    reports_instance_errors,
    say,
    single_lines,
    translate_lazy,
)
from .config import N_
from .i18n import cli_translations, pick


@cli.group("codebook")
def codebook_group() -> None:
    """The shared codebook of themes and sub-themes."""


@codebook_group.command("export", with_appcontext=False)
@click.option(
    "--output", required=True, type=click.Path(dir_okay=False, path_type=Path), help="File."
)
@reports_instance_errors
def codebook_export_command(output: Path) -> None:
    """Write the codebook as a file signed by this installation, for the laptops."""
    from .services import codebook
    from .services.errors import FieldappError

    path = instance_path()
    app = open_installation(path)
    with app.app_context():
        try:
            data = codebook.codebook_file(path)
            count = len(codebook.all_codes(include_merged=True))
        except FieldappError as exc:
            fail(translate_lazy(app, exc.message))
    try:
        output.write_bytes(data)
    except OSError as exc:
        fail(N_("Cannot write %(path)s: %(reason)s"), {"path": str(output), "reason": exc.strerror})
    say(N_("Codebook of %(count)s codes written to %(path)s."), count=count, path=str(output))


@codebook_group.command("import", with_appcontext=False)
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@reports_instance_errors
def codebook_import_command(file: Path, as_json: bool) -> None:
    """Import a codebook file signed by a registered installation (all or nothing)."""
    from .services import codebook
    from .services.errors import FieldappError

    data = read_limited(file, codebook.MAX_CODEBOOK_BYTES + 1)
    app = open_installation(instance_path())
    with app.app_context():
        try:
            summary = codebook.import_codebook_file(data)
        except FieldappError as exc:
            fail(
                N_("%(file)s: refused. %(reason)s"),
                {"file": str(file), "reason": translate_lazy(app, exc.message)},
            )
    text = cli_translations(cli_language())
    line = text.gettext(
        N_(
            "Codebook from “%(device)s” imported: %(new)s new, %(updated)s updated, "
            "%(unchanged)s unchanged."
        )
    ) % single_lines(
        {
            "device": summary.device_name,
            "new": summary.new,
            "updated": summary.updated,
            "unchanged": summary.unchanged,
        }
    )
    _emit(summary.as_dict(), as_json, [line])


@codebook_group.command("list", with_appcontext=False)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@reports_instance_errors
def codebook_list_command(as_json: bool) -> None:
    """List the codes: each theme, then its sub-themes (retired and merged ones marked)."""
    from .services import codebook

    app = open_installation(instance_path())
    with app.app_context():
        themes = codebook.tree(include_retired=True, include_merged=True)
    lang = cli_language() or "en"
    lines: list[str] = []
    for theme in themes:
        for code in (theme.code, *theme.subthemes):
            name = one_line(pick(code.name, lang, code.original_language)[0])
            marks = (
                [code.status] if code.merged_into is None else [f"merged into {code.merged_into}"]
            )
            indent = "" if code is theme.code else "  "
            lines.append(f"{indent}{code.id}  {code.colour}  {name} [{', '.join(marks)}]")
    data = {
        "codes": [code.as_dict() for theme in themes for code in (theme.code, *theme.subthemes)]
    }
    _emit(data, as_json, lines)
    if not as_json and not lines:
        say(N_("The codebook is empty."))
