"""The audit trail: one function records an event in the caller's transaction; `verify` walks it.

Each event hashes the previous event's hash together with its own fields (SHA-256), so editing,
deleting or reordering a row breaks the chain from that row on. Events carry opaque ids, fixed
action names and fixed purposes only: `record` refuses anything that could be free text.
"""

from __future__ import annotations

import gc
import hashlib
import re
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select, update
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
    "audit.verified", "audit.searched", "audit.exported", "audit.checkpoint", "audit.pruned",
    # fiches de liaison (exchange.fiches), their attachments and the accompaniments they start
    "fiche.created", "fiche.draft_saved", "fiche.signed", "fiche.countersigned", "fiche.sent",
    "fiche.opened", "fiche.viewed", "fiche.pdf_downloaded", "fiche.acknowledged",
    "fiche.accepted", "fiche.declined", "fiche.recalled", "fiche.cancelled", "fiche.tampered",
    "fiche.refused",
    "attachment.added", "attachment.removed", "attachment.downloaded",
    "accompaniment.created", "accompaniment.entry_recorded", "accompaniment.renewed",
    "accompaniment.midterm_done", "accompaniment.closed", "accompaniment.refused",
    # steering indicators (exchange.web.indicators): de-identified figures only
    "indicators.viewed", "indicators.exported", "report.downloaded",
    # retention (retention/): deletions by id, legal holds, early marks, signed reports
    "retention.deleted", "retention.skipped_hold", "retention.report",
    "retention.epoch_destroyed", "retention.marked_unneeded", "hold.placed", "hold.lifted",
    # data-subject rights, the breach register and the register of processing (exchange.rights)
    "rights.request_created", "rights.request_updated", "rights.request_viewed",
    "rights.access_export", "rights.restriction_set", "rights.restriction_lifted",
    "rights.erasure_approved", "rights.erased", "breach.recorded", "breach.updated",
    "breach.viewed", "register.viewed",
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
    event.hash = chain_hash(event.prev_hash, *_row_of(event)[:len(HASHED_COLUMNS)])
    head.hash = event.hash
    session.add(event)
    session.flush()
    return event


HASHED_COLUMNS = ("seq", "at", "actor_user_id", "actor_unit_id", "actor_role", "action",
                  "object_type", "object_id", "outcome", "address", "purpose")
"""The columns an event's hash covers, in hashing order; raw rows list them first, then
``prev_hash`` and ``hash``."""
ROW_COLUMNS = (*HASHED_COLUMNS, "prev_hash", "hash")


def format_at(value: datetime | str) -> str:
    """An event's time as the hash covers it: ISO 8601 in UTC to the microsecond
    ("2026-11-23T09:00:00.000000+00:00"). Takes the aware datetime the model holds (or that
    PostgreSQL returns), or the text SQLite keeps ("2026-11-23 09:00:00.000000", in UTC)."""
    if isinstance(value, str):
        if len(value) == 26 and value[10] == " ":  # SQLite's storage format: the fast path
            return value[:10] + "T" + value[11:] + "+00:00"
        parsed = datetime.fromisoformat(value)
        value = parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def row_fields(row: Sequence[Any]) -> tuple[str | None, ...]:
    """The hashed fields of a row whose first values are HASHED_COLUMNS, as text."""
    return (str(row[0]), format_at(row[1]), *row[2:11])


def event_fields(event: AuditEvent) -> tuple[str | None, ...]:
    return row_fields(_row_of(event))


def chain_hash(prev_hash: str, seq: int | str, at: datetime | str, actor_user_id: str | None,
               actor_unit_id: str | None, actor_role: str | None, action: str,
               object_type: str | None, object_id: str | None, outcome: str,
               address: str | None, purpose: str | None) -> str:
    """THE hash rule. SHA-256 of the previous hash, then each field of HASHED_COLUMNS as text
    (`format_at` for the time), each preceded by 0x1f; an absent field is 0x00, so that None
    and "" differ. Takes the raw values a row holds, as named arguments, because verifying a
    million events calls it a million times: one call, one join, one digest."""
    none = "\x00"
    return hashlib.sha256("\x1f".join((
        prev_hash, str(seq), format_at(at),
        none if actor_user_id is None else actor_user_id,
        none if actor_unit_id is None else actor_unit_id,
        none if actor_role is None else actor_role,
        action,
        none if object_type is None else object_type,
        none if object_id is None else object_id,
        outcome,
        none if address is None else address,
        none if purpose is None else purpose,
    )).encode("utf-8")).hexdigest()


def event_hash(prev_hash: str, fields: Sequence[str | None]) -> str:
    """The hash of an event given its fields as `event_fields` renders them (rendering them
    again changes nothing): `chain_hash`."""
    return chain_hash(prev_hash, *fields)


def _row_of(event: AuditEvent) -> tuple[Any, ...]:
    return tuple(getattr(event, name) for name in ROW_COLUMNS)


@dataclass(frozen=True)
class Verification:
    ok: bool
    events: int
    first_bad_seq: int | None = None
    reason: str = ""
    seen: Mapping[int, str] = field(default_factory=dict, compare=False, repr=False)
    """The hash found at each sequence number the caller asked to watch (`marks`)."""

    def describe(self) -> str:
        if self.ok:
            return f"Chaîne d'audit intègre : {self.events} événements vérifiés."
        return f"Chaîne d'audit rompue à l'événement n° {self.first_bad_seq} : {self.reason}"


def verify_rows(
    batches: Iterable[Sequence[Sequence[Any]]],
    start: tuple[int, str] = (1, GENESIS),
    *,
    end: tuple[int, str] | None = None,
    marks: Collection[int] = (),
) -> Verification:
    """Walk raw rows (ROW_COLUMNS, in sequence order, in batches) from `start` (sequence
    number, previous hash). `end`, when given, is the head the walk must arrive at; the hash
    seen at each sequence number in `marks` is reported, for checkpoints to compare."""
    first, prev = start
    expected = first
    watch = frozenset(marks)
    seen: dict[int, str] = {}
    for batch in batches:
        for (seq, at, user, unit, role, action, object_type, object_id, outcome, address,
             purpose, prev_hash, hash_) in batch:
            if seq != expected:
                return Verification(False, expected - first, expected,
                                    f"événement manquant ou déplacé (trouvé n° {seq})", seen)
            if prev_hash != prev:
                return Verification(False, expected - first, seq,
                                    "lien vers l'événement précédent modifié", seen)
            if chain_hash(prev, seq, at, user, unit, role, action, object_type, object_id,
                          outcome, address, purpose) != hash_:
                return Verification(False, expected - first, seq,
                                    "contenu de l'événement modifié", seen)
            prev = hash_
            if seq in watch:
                seen[seq] = prev
            expected += 1
    if end is not None and (end[0] != expected - 1 or end[1] != prev):
        return Verification(False, expected - first, expected,
                            "fin du journal tronquée ou tête de chaîne modifiée", seen)
    return Verification(True, expected - first, seen=seen)


def verify_events(
    events: Iterable[AuditEvent], head: AuditHead | None, start: tuple[int, str] = (1, GENESIS)
) -> Verification:
    """Walk mapped events in sequence order from `start` (sequence number, previous hash)."""
    end = None if head is None else (head.seq, head.hash)
    return verify_rows([[_row_of(event) for event in events]], start, end=end)


def raw_rows(session: Session, first: int, last: int,
             size: int = 1000) -> Iterator[list[tuple[Any, ...]]]:
    """Events `first`..`last` as plain tuples (ROW_COLUMNS), in batches, straight from the
    driver: no ORM objects and no type processing, which would cost more than the hashing.
    PostgreSQL streams them through a server-side cursor."""
    connection = session.connection()
    dbapi = connection.connection.dbapi_connection
    assert dbapi is not None
    if connection.dialect.name == "postgresql":
        cursor = dbapi.cursor(name="audit_walk")
        marker = "%s"
    else:
        cursor = dbapi.cursor()
        marker = "?"
    sql = (f"SELECT {', '.join(ROW_COLUMNS)} FROM audit_events "  # noqa: S608 - fixed names  # nosec B608
           f"WHERE seq >= {marker} AND seq <= {marker} ORDER BY seq")
    try:
        cursor.execute(sql, (first, last))
        while batch := cursor.fetchmany(size):
            yield batch
    finally:
        cursor.close()


def verify(
    session: Session,
    start: tuple[int, str] = (1, GENESIS),
    *,
    stop: int | None = None,
    marks: Collection[int] = (),
) -> Verification:
    """Walk the stored chain from `start` (after a purge: the purge checkpoint's sequence
    number + 1 and hash) to the head, or only to `stop`; see `verify_rows`."""
    head_seq, head_hash, last_seq = session.execute(
        select(AuditHead.seq, AuditHead.hash,
               select(func.max(AuditEvent.seq)).scalar_subquery())
        .where(AuditHead.id == 1)
    ).one()
    if stop is None and last_seq is not None and last_seq > head_seq:
        return Verification(False, 0, head_seq + 1,
                            "événements au-delà de la tête de chaîne : tête modifiée")
    last = head_seq if stop is None else min(stop, head_seq)
    end = (head_seq, head_hash) if stop is None else None
    # The walk allocates a million short-lived tuples and no cycle: the cyclic collector
    # would only rescan them (about a tenth of the time).
    collecting = gc.isenabled()
    gc.disable()
    try:
        return verify_rows(raw_rows(session, start[0], last), start, end=end, marks=marks)
    finally:
        if collecting:
            gc.enable()
