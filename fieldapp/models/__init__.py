"""SQLAlchemy models, one module per aggregate. Importing this package registers them all."""

from .audit import AuditEvent
from .counter import Counter
from .device import Device, DeviceRole
from .user import LoginFailure, LoginSession, Role, User

__all__ = [
    "AuditEvent",
    "Counter",
    "Device",
    "DeviceRole",
    "LoginFailure",
    "LoginSession",
    "Role",
    "User",
]
