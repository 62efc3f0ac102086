"""The audit trail: one function records an event in the caller's transaction; `verify` walks it.

Each event hashes the previous event's hash together with its own fields (SHA-256), so editing,
deleting or reordering a row breaks the chain from that row on. Events carry opaque ids, fixed
action names and fixed purposes only: `record` refuses anything that could be free text.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from exchange.models.audit import AuditEvent, AuditHead

GENESIS = "0" * 64
_OPAQUE = re.compile(r"^[A-Za-z0-9:._-]{1,64}$")
_ADDRESS = re.compile(r"^[0-9A-Fa-f:.]{1,64}$")

ACTIONS = frozenset({
    # accounts and sessions
    "login.success", "login.failure", "login.throttled", "login.second_factor_failure",
    "login.recovery_code_used", "logout", "session.expired", "totp.enrolled",
    "password.changed",
    # access control
    "access.refused", "csrf.refused",
    # administration
    "institution.created", "institution.updated", "unit.created", "unit.updated",
    "convention.created", "convention.updated", "convention.amended",
    "user.created", "user.updated", "user.disabled", "user.enabled", "user.password_reset",
    "user.second_factor_reset", "keys.initialised", "keys.institution_created", "keys.rotated",
    # persons and their consent
    "person.created", "person.viewed", "person.searched", "person.updated",
    "consent.recorded", "consent.viewed", "consent.withdrawn", "consent.form_downloaded",
    "consent.notice_viewed", "upload.refused",
    # the audit trail itself
    "audit.verified",
    # fiches de liaison (exchange.fiches), their attachments and the accompaniments they start
    "fiche.created", "fiche.draft_saved", "fiche.signed", "fiche.countersigned", "fiche.sent",
    "fiche.opened", "fiche.viewed", "fiche.pdf_downloaded", "fiche.acknowledged",
    "fiche.accepted", "fiche.declined", "fiche.recalled", "fiche.cancelled", "fiche.tampered",
    "fiche.refused",
    "attachment.added", "attachment.removed", "attachment.downloaded",
    "accompaniment.created", "accompaniment.entry_recorded", "accompaniment.renewed",
    "accompaniment.midterm_done", "accompaniment.closed", "accompaniment.refused",
})
OUTCOMES = frozenset({"success", "refused", "failure"})
PURPOSES = frozenset({"party", "accompaniment", "dpo_request", "legal_hold", "support"})


@dataclass(frozen=True)
class Actor:
    user_id: str | None
    unit_id: str | None
    role: str | None = None


SYSTEM = Actor(user_id=None, unit_id=None, role="system")


def _checked(value: str | None, pattern: re.Pattern[str], what: str) -> str | None:
    if value is not None and not pattern.match(value):
        raise ValueError(f"audit {what} must be an opaque id, got something else")
    return value


def record(
    session: Session,
    action: str,
    *,
    at: datetime,
    actor: Actor = SYSTEM,
    object_type: str | None = None,
    object_id: str | None = None,
    outcome: str = "success",
    address: str | None = None,
    purpose: str | None = None,
) -> AuditEvent:
    """Append one event to the chain, in the caller's transaction."""
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}")
    if outcome not in OUTCOMES:
        raise ValueError(f"unknown audit outcome {outcome!r}")
    if purpose is not None and purpose not in PURPOSES:
        raise ValueError(f"unknown audit purpose {purpose!r}")
    if object_type is not None and not _OPAQUE.match(object_type):
        raise ValueError("audit object type must be a plain name")
    _checked(object_id, _OPAQUE, "object id")
    _checked(actor.user_id, _OPAQUE, "user id")
    _checked(actor.unit_id, _OPAQUE, "unit id")
    _checked(address, _ADDRESS, "address")
    # Updating the head first takes the write lock, so concurrent writers queue here.
    session.execute(update(AuditHead).where(AuditHead.id == 1).values(seq=AuditHead.seq + 1))
    head = session.get(AuditHead, 1, populate_existing=True)
    if head is None:
        raise RuntimeError("the audit head row is missing: run the migrations")
    event = AuditEvent(
        seq=head.seq,
        at=at,
        actor_user_id=actor.user_id,
        actor_unit_id=actor.unit_id,
        actor_role=actor.role,
        action=action,
        object_type=object_type,
        object_id=object_id,
        outcome=outcome,
        address=address,
        purpose=purpose,
    )
    event.prev_hash = head.hash
    event.hash = event_hash(event.prev_hash, event_fields(event))
    head.hash = event.hash
    session.add(event)
    session.flush()
    return event


def event_fields(event: AuditEvent) -> tuple[str | None, ...]:
    return (
        str(event.seq),
        event.at.isoformat(timespec="microseconds"),
        event.actor_user_id,
        event.actor_unit_id,
        event.actor_role,
        event.action,
        event.object_type,
        event.object_id,
        event.outcome,
        event.address,
        event.purpose,
    )


def event_hash(prev_hash: str, fields: Sequence[str | None]) -> str:
    digest = hashlib.sha256(prev_hash.encode("ascii"))
    for value in fields:
        # 0x1f separates fields; 0x00 marks an absent value so that None and "" differ.
        digest.update(b"\x1f\x00" if value is None else b"\x1f" + value.encode("utf-8"))
    return digest.hexdigest()


@dataclass(frozen=True)
class Verification:
    ok: bool
    events: int
    first_bad_seq: int | None = None
    reason: str = ""

    def describe(self) -> str:
        if self.ok:
            return f"Chaîne d'audit intègre : {self.events} événements vérifiés."
        return f"Chaîne d'audit rompue à l'événement n° {self.first_bad_seq} : {self.reason}"


def verify_events(
    events: Iterable[AuditEvent], head: AuditHead | None, start: tuple[int, str] = (1, GENESIS)
) -> Verification:
    """Walk events in sequence order from `start` (sequence number, previous hash)."""
    expected_seq, prev = start
    count = 0
    for event in events:
        if event.seq != expected_seq:
            return Verification(False, count, expected_seq,
                                f"événement manquant ou déplacé (trouvé n° {event.seq})")
        if event.prev_hash != prev:
            return Verification(False, count, event.seq, "lien vers l'événement précédent modifié")
        if event_hash(prev, event_fields(event)) != event.hash:
            return Verification(False, count, event.seq, "contenu de l'événement modifié")
        prev = event.hash
        expected_seq += 1
        count += 1
    if head is not None and (head.seq != expected_seq - 1 or head.hash != prev):
        return Verification(False, count, expected_seq,
                            "fin du journal tronquée ou tête de chaîne modifiée")
    return Verification(True, count)


def verify(session: Session) -> Verification:
    events = session.scalars(
        select(AuditEvent).order_by(AuditEvent.seq).execution_options(yield_per=5000)
    )
    return verify_events(events, session.get(AuditHead, 1))
