"""Typed SQLAlchemy models. They never import Flask."""

from exchange.models.accounts import LoginFailure, RecoveryCode, User, UserRole, WebSession
from exchange.models.audit import AuditEvent, AuditHead
from exchange.models.keyrecords import KeyRecordRow, PlatformValue
from exchange.models.org import Convention, ConventionAmendment, Institution, Unit

__all__ = [
    "AuditEvent",
    "AuditHead",
    "Convention",
    "ConventionAmendment",
    "Institution",
    "KeyRecordRow",
    "LoginFailure",
    "PlatformValue",
    "RecoveryCode",
    "Unit",
    "User",
    "UserRole",
    "WebSession",
]
