"""Who may open which page: one table, checked on the server before every view.

Every endpoint of the app is listed here or in the ``ACCESS`` table of its blueprint package,
with the roles that may use it. An endpoint listed nowhere is refused to every signed-in
account (403), so a new page is closed until someone decides who may see it, and
``tests/test_roles.py`` crawls the url map and proves each route's roles.

Roles:
- **facilitator**: the workspace on a laptop (consultations, capture, export), the
  contributions of that laptop's own data, and coding typed answers at the meeting;
- **analyst** (head office): browse, review and code contributions, the codebook, conflicts,
  merging files; no account administration;
- **viewer**: dashboards and reports only (the next issue), never row-level answers;
- **coordinator**: everything, including accounts, devices and the activity log.
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib import import_module

from flask import Flask, abort, current_app, request
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from ..models import Role

Roles = frozenset[Role]

EVERYONE: Roles = frozenset(Role)
FIELD: Roles = frozenset({Role.FACILITATOR, Role.COORDINATOR})
OFFICE: Roles = frozenset({Role.ANALYST, Role.COORDINATOR})
WORKERS: Roles = frozenset({Role.FACILITATOR, Role.ANALYST, Role.COORDINATOR})
COORDINATORS: Roles = frozenset({Role.COORDINATOR})
# Head office's readers: dashboards, reports, action plans (viewers never see row-level data).
READERS: Roles = frozenset({Role.ANALYST, Role.VIEWER, Role.COORDINATOR})

# Endpoints of the blueprints that were here before roles had their own table.
CORE: dict[str, Roles] = {
    "main.home": EVERYONE,
    "auth.change_password": EVERYONE,
    "auth.logout": EVERYONE,
    "auth.setup_installation": COORDINATORS,
    "auth.setup_done": COORDINATORS,
    "admin.users": COORDINATORS,
    "admin.user_new": COORDINATORS,
    "admin.user_edit": COORDINATORS,
    "admin.user_active": COORDINATORS,
    "admin.user_reset_password": COORDINATORS,
    "admin.user_role": COORDINATORS,
    "sync.export_page": FIELD,
    "sync.export_now": FIELD,
    "sync.export_download": FIELD,
    "sync.import_page": WORKERS,
    # Receipts: written where files are merged (as the Import page), applied and acted on
    # where exports are made (as the Export page).
    "sync.receipt_download": WORKERS,
    "sync.receipt_apply": FIELD,
    "sync.purge_acknowledged": FIELD,
    "sync.devices": COORDINATORS,
    "sync.device_page": COORDINATORS,
    "sync.device_revoke": COORDINATORS,
    "sync.public_key_download": EVERYONE,  # a public key is no secret
}
# The facilitator's workspace: every page of the consultations blueprint.
WORKSPACE_ENDPOINTS = (
    "action_edit",
    "action_move",
    "actions",
    "attendance",
    "capture",
    "consultation_edit",
    "consultation_list",
    "consultation_new",
    "consultation_view",
    "intake_phones",
    "intake_switch",
    "kiosk_start",
    "kiosk_unlock",
    "minutes",
    "open_actions",
    "preview",
    "print_summary",
    "question_delete",
    "question_edit",
    "question_move",
    "questions",
    "template_download",
    "template_list",
    "template_save",
)
CORE.update({f"consultations.{name}": FIELD for name in WORKSPACE_ENDPOINTS})

# Blueprint packages that keep their own ACCESS table beside their routes.
BLUEPRINT_TABLES = (
    "fieldapp.review",
    "fieldapp.codebook",
    "fieldapp.conflicts",
    "fieldapp.activity",
    "fieldapp.analysis",
    "fieldapp.action_plans",
    "fieldapp.backup",
)


ROLE_LABELS = {
    Role.FACILITATOR: _l("Facilitator"),
    Role.ANALYST: _l("Analyst"),
    Role.VIEWER: _l("Viewer"),
    Role.COORDINATOR: _l("Coordinator"),
}


def role_label(role: Role | str) -> str:
    """The name of a role in the reader's language."""
    return str(ROLE_LABELS[Role(role)])


def endpoint_roles() -> dict[str, Roles]:
    """Every endpoint's allowed roles (public endpoints are in ``sessions.PUBLIC_ENDPOINTS``)."""
    table = dict(CORE)
    for name in BLUEPRINT_TABLES:
        try:
            module = import_module(name)
        except ModuleNotFoundError:
            continue
        extra: Mapping[str, Roles] = getattr(module, "ACCESS", {})
        table.update(extra)
    return table


def may(role: Role | str, endpoint: str) -> bool:
    """True when an account of ``role`` may use ``endpoint``."""
    roles = current_app.extensions["fieldapp_access"].get(endpoint, frozenset())
    return Role(role) in roles


def check_role() -> None:
    """Refuse (403) a signed-in account whose role may not use the requested endpoint."""
    endpoint = request.endpoint
    if endpoint is None or not current_user.is_authenticated:
        return
    if not may(current_user.role, endpoint):
        abort(403)


def init_app(app: Flask) -> None:
    """Build the table once for this app and make ``may`` available to templates."""
    app.extensions["fieldapp_access"] = endpoint_roles()
    app.jinja_env.globals["role_label"] = role_label
    app.jinja_env.globals["may"] = lambda endpoint: (
        current_user.is_authenticated and may(current_user.role, endpoint)
    )
