"""``fieldapp devices revoke`` (head office) and ``fieldapp keys rotate`` (a field laptop).

Refused input (an unknown device, a bad number, a head office asked to rotate) prints why and
exits with code 1; an unusable instance folder exits with code 2, as everywhere.
"""

from __future__ import annotations

import click

from .cli import (
    devices_group,
    fail,
    instance_path,
    keys_group,
    open_installation,
    reports_instance_errors,
    say,
    translate_lazy,
)
from .config import N_


@devices_group.command("revoke", with_appcontext=False)
@click.argument("device")
@click.option(
    "--after-seq",
    type=int,
    help="Exports numbered up to this still merge; later ones are refused.",
)
@click.option("--yes", is_flag=True, help="Keep the exports merged so far (the number it prints).")
@reports_instance_errors
def devices_revoke_command(device: str, after_seq: int | None, yes: bool) -> None:
    """Revoke a lost or seized laptop: its later exports are refused from now on."""
    from .services.errors import FieldappError
    from .services.sync import revocation

    app = open_installation(instance_path())
    with app.app_context():
        try:
            found = revocation.find_device(device)
            last = revocation.last_merged(found.device_id)
            if after_seq is None and not yes:
                fail(
                    N_(
                        "The highest export number of “%(name)s” merged here is %(seq)s. "
                        "Exports up to the number you give still merge; later ones are "
                        "refused. Run again with --after-seq %(seq)s (or --yes to keep "
                        "exactly those), or with another number."
                    ),
                    {"name": found.name, "seq": last or 0},
                    exit_code=1,
                )
            done = revocation.revoke(device, (last or 0) if after_seq is None else after_seq)
        except FieldappError as exc:
            fail(translate_lazy(app, exc.message), exit_code=1)
    say(
        N_(
            "Revoked “%(name)s” (device %(device)s): its exports numbered above %(seq)s are "
            "refused from now on; exports up to %(seq)s still merge."
        ),
        name=done.name,
        device=done.device_id,
        seq=done.after_seq,
    )
    if done.after_seq > (done.last_merged or 0):
        say(
            N_(
                "Exports %(first)s to %(seq)s have not been merged here yet; they will still be "
                "accepted when they arrive."
            ),
            first=(done.last_merged or 0) + 1,
            seq=done.after_seq,
        )


@keys_group.command("rotate", with_appcontext=False)
@reports_instance_errors
def keys_rotate_command() -> None:
    """Give this laptop a new signing key; its next exports tell head office, signed by the
    old key."""
    from .services.errors import FieldappError
    from .services.sync import rotation

    path = instance_path()
    app = open_installation(path)
    with app.app_context():
        try:
            result = rotation.rotate(path)
        except FieldappError as exc:
            fail(translate_lazy(app, exc.message), exit_code=1)
    say(
        N_(
            "This laptop now signs with a new key, from export %(seq)s on: %(key)s. Its next "
            "exports carry the change, signed by the old key, and head office takes the new "
            "key when it merges one. The old key is gone."
        ),
        seq=result.from_seq,
        key=result.new_key,
    )
