"""Ending kiosk mode with the facilitator's password, without a way to lock them out (W-04).

A participant holding the kiosk can type at its unlock form. Wrong passwords there slow down
that kiosk only (its server-side session), with a growing delay; they never count as failed
sign-ins, so the facilitator's own sign-in is never paused by them. Each wrong password is
recorded in the audit log, for the coordinator to see who was being guessed at, and where.
"""

from __future__ import annotations

import hashlib
import math

from flask import current_app
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from werkzeug.security import check_password_hash

from ..database import writing
from ..models import User
from ..ratelimit import GrowingDelay
from ..services import audit
from ..services.accounts import InvalidCredentials
from ..services.errors import FieldappError
from .sessions import current_token

# Three wrong passwords are free (anyone mistypes); then each try waits 2, 4, 8 ... seconds
# after the last failure, never more than five minutes.
FREE_TRIES = 3
MAX_WAIT_SECONDS = 300
_DELAY_KEY = "fieldapp.kiosk_unlock"

UNLOCK_FAILED = "kiosk.unlock_failed"
UNLOCKED = "kiosk.unlocked"


class UnlockThrottled(FieldappError):
    """Too many wrong passwords on this kiosk; ``seconds`` until the next try."""

    def __init__(self, seconds: int) -> None:
        super().__init__(
            ngettext(
                "Too many wrong passwords on this kiosk. Wait %(num)s second and try again.",
                "Too many wrong passwords on this kiosk. Wait %(num)s seconds and try again.",
                seconds,
            )
        )
        self.seconds = seconds


def _delays() -> GrowingDelay:
    """The kiosks' delays of this app (kept in memory, like the other request counts)."""
    delays = current_app.extensions.get(_DELAY_KEY)
    if delays is None:
        delays = current_app.extensions.setdefault(
            _DELAY_KEY, GrowingDelay(FREE_TRIES, MAX_WAIT_SECONDS)
        )
    return delays


def kiosk_key() -> str:
    """This kiosk: its server-side session, which a participant cannot swap for a new one
    without signing the facilitator out (and then there is nothing left to unlock)."""
    token = current_token() or ""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def unlock(user: User, password: str, consultation_id: str | None) -> None:
    """Check the facilitator's password at the kiosk; return when it is right.

    Raises :class:`UnlockThrottled` while this kiosk must wait (the password is not even
    checked then), or :class:`InvalidCredentials` for a wrong one, which is recorded in the
    audit log with the consultation the kiosk was serving.
    """
    delays = _delays()
    key = kiosk_key()
    wait = delays.begin(key)
    if wait > 0:
        raise UnlockThrottled(math.ceil(wait))
    try:
        valid = user.active and check_password_hash(user.password_hash, password)
        with writing():
            audit.record(UNLOCKED if valid else UNLOCK_FAILED, user, consultation_id)
    except BaseException:
        delays.end(key)
        raise
    if not valid:
        delays.failed(key)
        raise InvalidCredentials(
            _l("This is not the password of the facilitator who started the kiosk.")
        )
    delays.succeeded(key)
