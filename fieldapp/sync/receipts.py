"""Receipts on the web: head office downloads one after merging (Import summary, Devices
page); the laptop applies it and purges what head office acknowledged (Export page)."""

from __future__ import annotations

from pathlib import Path

from flask import abort, current_app, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from werkzeug.wrappers import Response
from wtforms import BooleanField
from wtforms.validators import InputRequired

from ..forms import ActionForm
from ..services import purge
from ..services.errors import FieldappError
from ..services.sync import receipts
from ..services.sync.history import format_ranges
from . import bp

EXPORT_PAGE = "sync.export_page"


class ReceiptForm(FlaskForm):
    """A receipt file from head office."""

    file = FileField(_l("Receipt file"), validators=[InputRequired(_l("Choose a receipt file."))])


class PurgeForm(FlaskForm):
    """The facilitator's confirmation that acknowledged answers may leave the laptop."""

    confirm = BooleanField(
        _l("I understand: the acknowledged answers are removed from this laptop for good."),
        validators=[InputRequired(_l("Tick the box to confirm the removal."))],
    )


@bp.route("/devices/<device_id>/receipt", methods=["POST"])
def receipt_download(device_id: str) -> Response:
    """The signed receipt for one device, as a download (head office, after merging)."""
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        written = receipts.write_receipt(device_id, Path(current_app.instance_path))
    except FieldappError as exc:
        flash(str(exc.message), "error")
        return redirect(url_for("sync.import_page"))
    return Response(
        written.data,
        mimetype="application/json",
        headers={"Content-Disposition": f"attachment; filename={written.file_name()}"},
    )


@bp.route("/export/receipt", methods=["POST"])
def receipt_apply() -> Response:
    """Apply a receipt from head office (a refused one changes nothing and says why)."""
    request.max_content_length = receipts.MAX_RECEIPT_BYTES + 64 * 1024
    form = ReceiptForm()
    if not form.validate_on_submit():
        for errors in form.errors.values():
            for error in errors:
                flash(str(error), "error")
        return redirect(url_for(EXPORT_PAGE))
    try:
        result = purge.apply_receipt(form.file.data.read(receipts.MAX_RECEIPT_BYTES + 1))
    except FieldappError as exc:
        flash(str(exc.message), "error")
        return redirect(url_for(EXPORT_PAGE))
    if result.already_applied:
        flash(
            _(
                "This receipt from “%(name)s” was applied before; nothing changed.",
                name=result.headoffice_name,
            ),
            "success",
        )
    elif result.acknowledged:
        flash(
            _(
                "Receipt from “%(name)s” applied: head office holds exports %(numbers)s of "
                "this laptop.",
                name=result.headoffice_name,
                numbers=format_ranges(result.acknowledged),
            ),
            "success",
        )
    else:
        flash(
            _(
                "The receipt names none of this laptop's exports as they were written here, "
                "so it acknowledges nothing (was the laptop restored from a backup?)."
            ),
            "error",
        )
    if result.purged:
        flash(
            ngettext(
                "%(num)s submission was removed automatically (PURGE_AFTER_DAYS).",
                "%(num)s submissions were removed automatically (PURGE_AFTER_DAYS).",
                result.purged,
            ),
            "success",
        )
    return redirect(url_for(EXPORT_PAGE))


@bp.route("/export/purge", methods=["POST"])
def purge_acknowledged() -> Response:
    """Remove the answers head office acknowledged, once the facilitator has confirmed."""
    form = PurgeForm()
    if not form.validate_on_submit():
        flash(_("Tick the box to confirm the removal."), "error")
        return redirect(url_for(EXPORT_PAGE))
    try:
        result = purge.purge()
    except FieldappError as exc:  # a head office keeps what it merged
        flash(str(exc.message), "error")
        return redirect(url_for(EXPORT_PAGE))
    if not result.submissions:
        flash(_("Nothing was removed: head office has acknowledged no answer held here."), "error")
    else:
        flash(
            ngettext(
                "%(num)s submission that head office holds was removed from this laptop.",
                "%(num)s submissions that head office holds were removed from this laptop.",
                result.submissions,
            ),
            "success",
        )
    if not result.wiped:
        flash(
            _(
                "The database's journal could not be wiped because another program holds the "
                "database open. Close it and remove again."
            ),
            "error",
        )
    return redirect(url_for(EXPORT_PAGE))


def _receipts_panel() -> dict[str, object]:
    """What the Export page shows of receipts: those applied, what is acknowledged, what a
    purge would remove, and the two forms."""
    return {
        "applied": [
            (row, name, format_ranges(receipts.stored_ranges(row.acknowledged)))
            for row, name in receipts.applied_receipts()
        ],
        "acknowledged": format_ranges(receipts.acknowledged_ranges()),
        "plan": purge.plan(),
        "receipt_form": ReceiptForm(),
        "purge_form": PurgeForm(),
    }


@bp.app_context_processor
def _receipt_helpers() -> dict[str, object]:
    """The Export page calls ``receipts_panel()`` (only that page pays for its queries)."""
    return {"receipts_panel": _receipts_panel}
