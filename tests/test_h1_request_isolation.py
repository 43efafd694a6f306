"""The test apps refuse to let two requests share one app context.

Flask reuses an app context that is already pushed, and Flask-Login keeps the signed-in user
on ``g``: a browser without a cookie would then be "signed in" by the one before it, and every
"not signed in" or "wrong role" check after it would pass for the wrong reason.
"""

from __future__ import annotations

import pytest

from fieldapp.models import DeviceRole

from .conftest import login
from .sync_world import Installation, opened, site


def test_two_requests_in_one_app_context_are_refused(app, coordinator):
    """A test that holds an app context open around its requests fails loudly."""
    with app.app_context():
        browser = app.test_client()
        login(browser)
        with pytest.raises(AssertionError, match="two requests shared one app context"):
            app.test_client().get("/consultations")


def test_requests_inside_opened_are_refused(tmp_path):
    """``opened`` is for service calls; pages are reached through ``site``."""
    laptop = Installation(tmp_path / "ho", DeviceRole.HEADOFFICE, "Head office")
    with opened(laptop.folder) as app, pytest.raises(AssertionError, match="service calls"):
        app.test_client().get("/login")
    with site(laptop.folder) as app:
        assert app.test_client().get("/login").status_code == 302  # to the first-account setup
        assert app.test_client().get("/login").status_code == 302
