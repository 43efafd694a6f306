"""The Devices page at head office (register laptops' public key files, see what each sent)
and the download of this installation's own public key file."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

from flask import abort, flash, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from werkzeug.wrappers import Response
from wtforms import IntegerField
from wtforms.validators import InputRequired, NumberRange

from ..extensions import db
from ..forms import ActionForm
from ..models import BundleImport, Device, DeviceRole
from ..services.sync import keys, revocation
from ..services.sync.bundle import MAX_EXPORT_SEQ
from ..services.sync.history import DeviceHistory, device_history, format_ranges
from . import bp

MAX_KEY_FILES = 50
RECENT_IMPORTS = 50


@dataclass
class Registration:
    """What became of one uploaded public key file."""

    file: str
    device: Device | None = None
    new: bool = False
    error: str = ""


def _coordinator_at_headoffice() -> None:
    """Only a coordinator registers devices, and only a head office has laptops to register."""
    if not current_user.is_coordinator:
        abort(403)
    device = keys.self_device()
    if device is None or device.role != DeviceRole.HEADOFFICE:
        abort(403)


def _register_uploads() -> list[Registration]:
    """Register each uploaded file on its own; a bad file changes nothing and says why."""
    uploads = [f for f in request.files.getlist("keys") if f and f.filename]
    if not uploads:
        flash(_("Choose one or more public key files (their names end in .pub)."), "error")
        return []
    if len(uploads) > MAX_KEY_FILES:
        flash(_("Register at most %(n)s files at a time.", n=MAX_KEY_FILES), "error")
        return []
    results = []
    for upload in uploads:
        result = Registration(Path(upload.filename or "").name[:100])
        try:
            result.device, result.new = keys.register(keys.read_public_key_stream(upload.stream))
        except keys.DeviceKeyError as exc:
            result.error = str(exc.message)
        results.append(result)
    return results


@bp.route("/devices", methods=["GET", "POST"])
def devices() -> str:
    """The devices registered here, and a form to register more from their key files."""
    _coordinator_at_headoffice()
    form = ActionForm()
    registrations: list[Registration] = []
    if request.method == "POST":
        if not form.validate_on_submit():
            abort(400)
        registrations = _register_uploads()
    listed = keys.list_devices()
    histories = {d.device_id: device_history(d.device_id) for d in listed if not d.is_self}
    return render_template(
        "sync/devices.html",
        form=form,
        devices=listed,
        histories=histories,
        registrations=registrations,
    )


@bp.route("/devices/<device_id>")
def device_page(device_id: str) -> str:
    """One device: the exports received from it, the numbers still missing, any reused."""
    _coordinator_at_headoffice()
    device = db.session.execute(
        select(Device).where(Device.device_id == device_id)
    ).scalar_one_or_none()
    if device is None or device.is_self:
        abort(404)
    history: DeviceHistory = device_history(device.device_id)
    imports = list(
        db.session.execute(
            select(BundleImport)
            .where(BundleImport.device_id == device.device_id)
            .order_by(BundleImport.imported_at.desc(), BundleImport.id.desc())
            .limit(RECENT_IMPORTS)
        ).scalars()
    )
    return render_template(
        "sync/device.html",
        device=device,
        history=history,
        imports=imports,
        format_ranges=format_ranges,
    )


@bp.route("/keys/public")
def public_key_download() -> Response:
    """This installation's public key file, as ``fieldapp keys public`` writes it.

    It holds no secret: head office registers a laptop's file, a laptop is set up with head
    office's. Any signed-in account may download it.
    """
    device = keys.self_device()
    if device is None:
        abort(404)
    return send_file(
        io.BytesIO(keys.public_key_bytes(keys.public_key_info(device))),
        mimetype="application/json",
        as_attachment=True,
        download_name=keys.public_key_file_name(device.name),
        max_age=0,
    )


class RevokeForm(FlaskForm):
    """The confirmation of a revocation: the last export number that still merges."""

    after_seq = IntegerField(
        _l("Exports up to this number still merge"),
        validators=[
            InputRequired(_l("Give the last export number that still merges.")),
            NumberRange(
                0,
                MAX_EXPORT_SEQ,
                message=_l("A number from 0 to %(max)s, please.", max=MAX_EXPORT_SEQ),
            ),
        ],
    )


@bp.route("/devices/<device_id>/revoke", methods=["GET", "POST"])
def device_revoke(device_id: str) -> str | Response:
    """Revoke a lost or seized laptop after confirming which of its exports still merge."""
    _coordinator_at_headoffice()
    device = db.session.execute(
        select(Device).where(Device.device_id == device_id)
    ).scalar_one_or_none()
    if device is None or device.is_self:
        abort(404)
    last = revocation.last_merged(device.device_id)
    form = RevokeForm()
    if request.method == "GET":
        form.after_seq.data = last or 0
    elif form.validate_on_submit():
        try:
            done = revocation.revoke(device.device_id, form.after_seq.data or 0)
        except revocation.RevocationRefused as exc:
            flash(str(exc.message), "error")
        else:
            flash(
                _(
                    "“%(name)s” is revoked: its exports numbered above %(seq)s are refused from "
                    "now on; exports up to %(seq)s still merge.",
                    name=done.name,
                    seq=done.after_seq,
                ),
                "success",
            )
            return redirect(url_for("sync.device_page", device_id=device.device_id))
    else:
        for message in form.after_seq.errors:
            flash(str(message), "error")
    return render_template("sync/device_revoke.html", device=device, form=form, last=last)
