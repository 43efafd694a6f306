"""The Backup page (GET) and the backup download (POST): thin views over services/backup.py."""

from __future__ import annotations

import shutil
from pathlib import Path

from flask import current_app, flash, redirect, render_template, send_file, url_for
from werkzeug.wrappers import Response

from ..services import backup
from ..services.errors import FieldappError
from ..services.sync.bundle import private_tempdir
from . import bp
from .forms import BackupForm


@bp.route("/backup")
def backup_page() -> str:
    """What a backup holds, and the passphrase form."""
    return render_template("backup/backup.html", form=BackupForm())


@bp.route("/backup", methods=["POST"])
def backup_download() -> Response | str:
    """Write a backup into a private folder, check it, and send it; the folder goes after."""
    form = BackupForm()
    if not form.validate_on_submit():
        for errors in form.errors.values():
            for error in errors:
                flash(str(error), "error")
        return redirect(url_for("backup.backup_page"))
    folder = private_tempdir()
    try:
        result = backup.create_backup(
            Path(current_app.instance_path), folder, form.passphrase.data or ""
        )
    except FieldappError as exc:
        shutil.rmtree(folder, ignore_errors=True)
        flash(str(exc.message), "error")
        return redirect(url_for("backup.backup_page"))
    path = Path(result.path)
    response = send_file(
        path,
        mimetype="application/octet-stream",
        as_attachment=True,
        download_name=path.name,
        max_age=0,
    )
    response.call_on_close(lambda: shutil.rmtree(folder, ignore_errors=True))
    return response
