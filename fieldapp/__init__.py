"""fieldapp: offline-first field consultations, for facilitators and head office."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask, Response, current_app, send_from_directory

from . import config as cfg

__version__ = "0.1.0"

MIGRATIONS_DIR = str(Path(__file__).resolve().parent / "migrations")


class FieldApp(Flask):
    """Flask, except that unhandled errors are logged without their message.

    An exception's message can quote what a participant typed or an SQL parameter; the log
    keeps the error type and where it happened, which is enough to find the bug (W-21).
    """

    def log_exception(self, exc_info: Any) -> None:
        """Log type and location only; the calm 500 page is rendered by ``errors``."""
        from .errors import describe_exception

        _type, error, _tb = exc_info
        if error is not None:
            self.logger.error("unhandled error: %s", describe_exception(error))


def default_instance_path() -> Path:
    """The instance folder: ``FIELDAPP_INSTANCE`` if set, else ``./instance``."""
    return Path(os.environ.get("FIELDAPP_INSTANCE") or "instance").resolve()


def create_app(
    test_config: Mapping[str, Any] | None = None,
    instance_path: str | Path | None = None,
    participant_only: bool = False,
) -> Flask:
    """Build the application for one installation.

    Settings are applied in order: defaults, ``instance/config.py``, ``FIELDAPP_*`` environment
    variables, then ``test_config``. Raises :class:`fieldapp.config.InstanceError` with a
    message a person can act on when the instance folder is unusable, or the database URL is
    unreadable or needs a driver that is not installed.

    With ``participant_only`` the app has the participant pages and static files and nothing
    else: it is what phones reach on the laptop's Wi-Fi, where every facilitator route is 404.
    """
    path = Path(instance_path).resolve() if instance_path else default_instance_path()
    app = FieldApp(__name__, instance_path=str(path), instance_relative_config=True)
    app.config.from_object(cfg.Defaults)
    app.config["SQLALCHEMY_DATABASE_URI"] = cfg.sqlite_uri(path)
    app.config.update(cfg.read_instance_config(path))
    app.config.update(cfg.environment_overrides(os.environ))
    if test_config:
        app.config.update(test_config)
    if "SECRET_KEY" not in (test_config or {}):
        app.config["SECRET_KEY"] = cfg.read_secret_key(path)
    secret = app.config.get("SECRET_KEY") or ""
    if len(secret) < 2 * cfg.MIN_SECRET_BYTES:
        raise cfg.InstanceError(cfg.N_("The secret key is missing or too short."))
    app.config["DEBUG"] = False  # the debugger is never available (W-19)
    if participant_only:
        app.config.update(cfg.PARTICIPANT_SETTINGS)
        app.config.update(test_config or {})
    uri = cfg.normalise_database_uri(app.config["SQLALCHEMY_DATABASE_URI"])
    app.config["SQLALCHEMY_DATABASE_URI"] = uri

    from .database import check_database_url

    check_database_url(uri)  # a bad URL or missing driver: a message, not a traceback
    from .services import health

    health.check_at_start(app)  # D-05: a damaged SQLite file is opened read-only
    _init_extensions(app)
    return app


def _init_extensions(app: Flask) -> None:
    """Bind extensions, blueprints, error pages and security hooks to ``app``."""
    from . import database, errors, i18n, security, staticfiles
    from .action_plans import bp as action_plans_bp
    from .activity import bp as activity_bp
    from .admin import bp as admin_bp
    from .analysis import bp as analysis_bp
    from .auth import bp as auth_bp
    from .auth import sessions
    from .backup import bp as backup_bp
    from .codebook import bp as codebook_bp
    from .conflicts import bp as conflicts_bp
    from .consultations import bp as consultations_bp
    from .extensions import babel, csrf, db, migrate
    from .kiosk import bp as kiosk_bp
    from .main import bp as main_bp
    from .review import bp as review_bp
    from .sync import bp as sync_bp

    participant_only = app.config.get("PARTICIPANT_ONLY", False)
    db.init_app(app)
    with app.app_context():
        database.configure_engine(db.engine)
    database.install_write_guard()
    migrate.init_app(app, db, directory=MIGRATIONS_DIR, render_as_batch=True)
    babel.init_app(
        app,
        locale_selector=i18n.select_locale,
        default_translation_directories=str(i18n.TRANSLATIONS_DIR),
    )
    from .sync.routes import allow_large_uploads

    if not participant_only:
        app.before_request(allow_large_uploads)  # before CSRF reads the form
    csrf.init_app(app)
    i18n.init_app(app)
    if not participant_only:
        sessions.init_app(app)
    security.init_app(app)
    errors.init_app(app)
    from .services.analysis import charts

    charts.init_app(app)
    if not participant_only:
        app.register_blueprint(auth_bp)
        app.register_blueprint(main_bp)
        app.register_blueprint(admin_bp)
        app.register_blueprint(sync_bp)
        app.register_blueprint(backup_bp)
        app.register_blueprint(consultations_bp)
        app.register_blueprint(review_bp)
        app.register_blueprint(codebook_bp)
        app.register_blueprint(conflicts_bp)
        app.register_blueprint(activity_bp)
        app.register_blueprint(analysis_bp)
        app.register_blueprint(action_plans_bp)
    app.register_blueprint(kiosk_bp)
    # Browsers that ignore the page's <link rel="icon"> ask for /favicon.ico: answer, not 404.
    app.add_url_rule("/favicon.ico", "favicon", _favicon)
    staticfiles.init_app(app)  # /static/... answered before Flask; url_for gives hashed names


def _favicon() -> Response:
    """The app's icon at the address browsers ask for by default (cached like static files)."""
    return send_from_directory(Path(current_app.static_folder or ""), "favicon.ico", max_age=86400)
