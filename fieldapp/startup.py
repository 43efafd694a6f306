"""Opening an installation: create what is missing, refuse what is broken, apply migrations."""

from __future__ import annotations

from pathlib import Path

from flask import Flask
from flask_migrate import upgrade

from . import MIGRATIONS_DIR, create_app
from .config import create_secret_key, prepare_instance


def open_instance(instance_path: Path, initialise: bool = False) -> Flask:
    """Return a ready app for ``instance_path``, its database at the newest schema.

    A new folder gets its settings file, secret key and database. With ``initialise`` a
    missing secret key is also made for an existing installation (``fieldapp init``).
    Raises :class:`fieldapp.config.InstanceError` when the folder cannot be used.
    """
    prepare_instance(instance_path)
    if initialise:
        create_secret_key(instance_path)
    app = create_app(instance_path=instance_path)
    upgrade_database(app)
    return app


def upgrade_database(app: Flask) -> None:
    """Bring the database to the newest schema; a laptop upgraded in the field keeps its data."""
    with app.app_context():
        upgrade(directory=MIGRATIONS_DIR)
