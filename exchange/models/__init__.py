"""Typed SQLAlchemy models. They never import Flask."""

from exchange.models.accounts import LoginFailure, RecoveryCode, User, UserRole, WebSession
from exchange.models.audit import AuditEvent, AuditHead
from exchange.models.documents import Document, KeyWrap
from exchange.models.fiches import Accompaniment, Fiche, Receipt
from exchange.models.keyrecords import KeyRecordRow, PlatformValue
from exchange.models.notifications import Notification
from exchange.models.org import Convention, ConventionAmendment, Institution, Unit
from exchange.models.people import Consent, Person, PersonUnit
from exchange.models.statistics import StatFact

__all__ = [
    "Accompaniment",
    "Consent",
    "Document",
    "Fiche",
    "KeyWrap",
    "Person",
    "PersonUnit",
    "Receipt",
    "AuditEvent",
    "AuditHead",
    "Convention",
    "ConventionAmendment",
    "Institution",
    "KeyRecordRow",
    "LoginFailure",
    "Notification",
    "PlatformValue",
    "RecoveryCode",
    "StatFact",
    "Unit",
    "User",
    "UserRole",
    "WebSession",
]
