"""The backup form: a passphrase typed twice."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import PasswordField
from wtforms.validators import EqualTo, InputRequired, Length

from ..forms import REQUIRED
from ..services.backup import MAX_PASSPHRASE, MIN_PASSPHRASE


class BackupForm(FlaskForm):
    """The passphrase that will open the backup, and the same again."""

    passphrase = PasswordField(
        _l("Passphrase"),
        validators=[
            InputRequired(REQUIRED),
            Length(
                min=MIN_PASSPHRASE,
                max=MAX_PASSPHRASE,
                message=_l("At least %(min)s characters, please.", min=MIN_PASSPHRASE),
            ),
        ],
        description=_l(
            "Without it nobody can open the backup, you included: write it down and keep it "
            "apart from the USB stick."
        ),
        render_kw={"autocomplete": "new-password"},
    )
    confirm = PasswordField(
        _l("Repeat the passphrase"),
        validators=[
            InputRequired(REQUIRED),
            EqualTo("passphrase", message=_l("The two passphrases are not the same.")),
        ],
        render_kw={"autocomplete": "new-password"},
    )
