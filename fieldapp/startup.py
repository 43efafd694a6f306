"""Opening an installation: create what is missing, refuse what is broken, apply migrations."""

from __future__ import annotations

from pathlib import Path

from flask import Flask
from flask_migrate import upgrade

from . import MIGRATIONS_DIR, create_app
from .config import (
    NO_INSTALLATION,
    InstanceError,
    create_secret_key,
    holds_installation,
    prepare_instance,
)
from .database import connection_errors, database_unreachable
from .services.health import is_damaged
from .services.workdir import remove_leftovers


def open_instance(instance_path: Path, initialise: bool = False, create: bool = False) -> Flask:
    """Return a ready app for ``instance_path``, its database at the newest schema.

    Only with ``create`` (``fieldapp init``, the first start of ``run.py``) does a folder that
    holds no installation get its settings file, secret key and database; otherwise it is
    refused before anything is written, so a mistyped ``--instance`` never makes an empty
    installation. With ``initialise`` a missing secret key is also made for an existing
    installation (``fieldapp init``). Raises :class:`fieldapp.config.InstanceError` when the
    folder or its database cannot be used.
    """
    if not (create or initialise) and not holds_installation(instance_path):
        raise InstanceError(NO_INSTALLATION, path=str(instance_path))
    prepare_instance(instance_path)
    # A backup or restore cut short (a power cut) leaves its clear copy of the database and
    # keys in a work folder in instance/tmp: gone at the next start.
    remove_leftovers(instance_path)
    if initialise:
        create_secret_key(instance_path)
    app = create_app(instance_path=instance_path)
    if not is_damaged(app):  # migrating writes: a damaged file is only ever read (D-05)
        upgrade_database(app)
    return app


def upgrade_database(app: Flask) -> None:
    """Bring the database to the newest schema; a laptop upgraded in the field keeps its data.

    A database that cannot be reached (server down, wrong address, no such database) raises
    :class:`fieldapp.config.InstanceError` naming it, without its password.
    """
    with app.app_context():
        try:
            upgrade(directory=MIGRATIONS_DIR)
        except connection_errors() as exc:
            raise database_unreachable(app.config["SQLALCHEMY_DATABASE_URI"], exc) from None
