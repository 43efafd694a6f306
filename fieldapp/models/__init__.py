"""SQLAlchemy models, one module per aggregate. Importing this package registers them all."""

from .audit import AuditEvent
from .counter import Counter
from .device import Device, DeviceKey, DeviceRole
from .intake import IntakeSession, ParticipantDraft
from .receipt import ExportedSubmission, ExportManifest, Receipt
from .review import Contribution, ContributionCode
from .sync import BundleExport, BundleImport, RecordHead, RecordVersion, Submission
from .user import LoginFailure, LoginSession, Role, User

__all__ = [
    "BundleExport",
    "Contribution",
    "ContributionCode",
    "BundleImport",
    "RecordHead",
    "RecordVersion",
    "Submission",
    "AuditEvent",
    "Counter",
    "Device",
    "DeviceKey",
    "DeviceRole",
    "IntakeSession",
    "ParticipantDraft",
    "ExportedSubmission",
    "ExportManifest",
    "Receipt",
    "LoginFailure",
    "LoginSession",
    "Role",
    "User",
]
