"""The Export page (write a bundle to carry) and the Import page (merge bundles at head office)."""

from __future__ import annotations

import shutil
from pathlib import Path

from flask import abort, current_app, flash, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from sqlalchemy import select
from werkzeug.wrappers import Response

from ..extensions import db
from ..forms import ActionForm
from ..models import BundleExport, DeviceRole
from ..services import activity
from ..services.errors import FieldappError
from ..services.sync import keys
from ..services.sync.bundle import Limits, private_tempdir
from ..services.sync.export import EXPORT_DIR, export_bundle
from ..services.sync.history import format_ranges
from ..services.sync.merge import merge_files
from . import bp

MAX_IMPORT_FILES = 50


def _instance() -> Path:
    return Path(current_app.instance_path)


@bp.route("/export")
def export_page() -> str:
    """This installation, where its exports go, and the exports made so far."""
    exports = list(
        db.session.execute(
            select(BundleExport).order_by(BundleExport.export_seq.desc()).limit(20)
        ).scalars()
    )
    folder = _instance() / EXPORT_DIR
    # Exports written elsewhere from the command line (--output) cannot be downloaded here.
    downloadable = {e.export_seq for e in exports if (folder / e.file_name).is_file()}
    return render_template(
        "sync/export.html",
        device=keys.self_device(),
        recipients=keys.headoffice_recipients(),
        exports=exports,
        downloadable=downloadable,
        form=ActionForm(),
    )


@bp.route("/export", methods=["POST"])
def export_now() -> Response:
    """Write a new bundle, checked on disk before the facilitator is told it is safe."""
    form = ActionForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        result = export_bundle(_instance())
    except FieldappError as exc:
        flash(str(exc.message), "error")
    else:
        flash(
            _(
                "Export %(seq)s is written and checked. Download it and carry it to head office.",
                seq=result.export_seq,
            ),
            "success",
        )
    return redirect(url_for("sync.export_page"))


@bp.route("/export/<int:seq>/download")
def export_download(seq: int) -> Response:
    """Download a bundle this installation wrote (an attachment with its neutral name)."""
    export = db.session.execute(
        select(BundleExport).where(BundleExport.export_seq == seq)
    ).scalar_one_or_none()
    if export is None:
        abort(404)
    path = _instance() / EXPORT_DIR / export.file_name
    if not path.is_file() or path.name != export.file_name:
        abort(404)
    activity.export_downloaded(export.export_seq, export.file_name)
    return send_file(
        path,
        mimetype="application/octet-stream",
        as_attachment=True,
        download_name=export.file_name,
        max_age=0,
    )


def _is_headoffice() -> bool:
    device = keys.self_device()
    return device is not None and device.role == DeviceRole.HEADOFFICE


@bp.route("/import", methods=["GET", "POST"])
def import_page() -> str | tuple[str, int]:
    """Head office merges several bundles at once; each gets its own summary."""
    if not _is_headoffice():
        return render_template("sync/import.html", allowed=False, form=ActionForm()), 403
    form = ActionForm()
    summaries = []
    if request.method == "POST":
        if not form.validate_on_submit():
            abort(400)
        uploads = [f for f in request.files.getlist("bundles") if f and f.filename]
        if not uploads:
            flash(_("Choose one or more export files to import."), "error")
        elif len(uploads) > MAX_IMPORT_FILES:
            flash(_("Import at most %(n)s files at a time.", n=MAX_IMPORT_FILES), "error")
        else:
            folder = private_tempdir()
            try:
                paths = []
                for number, upload in enumerate(uploads):
                    # Our own name on disk; the person's file name is only shown back to them.
                    path = folder / f"{number:03d}.fieldsync"
                    upload.save(path)
                    paths.append((path, Path(upload.filename or "").name[:100]))
                results = merge_files([p for p, _name in paths], _instance())
                for result, (_path, shown) in zip(results, paths, strict=True):
                    result.file = shown
                activity.imports_ended(results)
                summaries = results
            except FieldappError as exc:
                flash(str(exc.message), "error")
            finally:
                shutil.rmtree(folder, ignore_errors=True)
    return render_template(
        "sync/import.html",
        allowed=True,
        form=form,
        summaries=summaries,
        format_ranges=format_ranges,
    )


@bp.app_context_processor
def _installation() -> dict[str, object]:
    """Templates know whether this is a head office (the Import link is only shown there)."""
    return {"is_headoffice": _is_headoffice}


def allow_large_uploads() -> None:
    """Let the head office's Import page receive export files larger than the 1 MB default.

    Registered before CSRF protection, which reads the form (and so the upload) first.
    """
    if request.endpoint == "sync.import_page" and request.method == "POST":
        request.max_content_length = Limits().max_file * 2
