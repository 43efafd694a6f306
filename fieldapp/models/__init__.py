"""SQLAlchemy models, one module per aggregate. Importing this package registers them all."""

from .audit import AuditEvent
from .counter import Counter
from .user import LoginFailure, LoginSession, Role, User

__all__ = ["AuditEvent", "Counter", "LoginFailure", "LoginSession", "Role", "User"]
