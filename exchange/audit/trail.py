"""The audit trail: one function records an event in the caller's transaction; `verify` walks it.

Each event's hash is an HMAC-SHA256, under a sub-key of the master key, of the previous event's
hash together with its own fields, so editing, deleting or reordering a row breaks the chain
from that row on, and whoever can write the database but does not hold the master key cannot
recompute it: a rewritten, renumbered or appended event shows even after the last signed
checkpoint. Events appended before the chain was keyed keep their plain SHA-256 hashes: they
end at `AuditHead.keyed_from` - 1, which signed checkpoints carry, and verification requires a
signed checkpoint at or beyond them (`exchange.audit.checkpoints`). Cutting the end of the log
shows against the anchor kept outside the database (`exchange.audit.anchor`) and against the
checkpoint schedule. Events carry opaque ids, fixed action names and fixed purposes only:
`record` refuses anything that could be free text.
"""

from __future__ import annotations

import gc
import hashlib
import hmac
import os
import re
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key

from exchange.audit import anchor as audit_anchor
from exchange.audit import walk as audit_walk
from exchange.audit.models import AuditEvent, AuditHead
from exchange.platform import features

GENESIS = "0" * 64
_OPAQUE = re.compile(r"^[A-Za-z0-9:._-]{1,64}$")
_ADDRESS = re.compile(r"^[0-9A-Fa-f:.]{1,64}$")

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


def _check_event(action: str, actor: Actor, object_type: str | None,
                 object_id: str | None, outcome: str, address: str | None,
                 purpose: str | None) -> None:
    """What `record` and `record_many` accept: known names, opaque ids only."""
    if action not in features.actions():
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
    """Append one event to the chain, in the caller's transaction; the event is returned as a
    transient object (its row is written already)."""
    (row,) = _append(session, [Entry(action, at, actor, object_type, object_id, outcome,
                                     address, purpose)])
    return AuditEvent(**row)


@dataclass(frozen=True)
class Entry:
    """One event for `record_many`: what `record` takes after the session."""

    action: str
    at: datetime
    actor: Actor = SYSTEM
    object_type: str | None = None
    object_id: str | None = None
    outcome: str = "success"
    address: str | None = None
    purpose: str | None = None


def record_many(session: Session, entries: Sequence[Entry]) -> int:
    """Append several events to the chain, in order, in the caller's transaction. Returns how
    many."""
    return len(_append(session, entries))


_HEAD = AuditHead.__table__
_EVENTS = AuditEvent.__table__


def _append(session: Session, entries: Sequence[Entry]) -> list[dict[str, Any]]:
    """Check every entry before anything is written, then three statements whatever their
    number: move the head's sequence number (which takes the write lock, so concurrent writers
    queue there) and read the hash it had, insert the rows (`chain_hash`, keyed), store the new
    head hash. Plain statements, not the ORM's unit of work: the caller's pending changes are
    not flushed here, and a head object the session holds is expired. The new head is noted
    for the anchor, which moves to it once the transaction commits."""
    for e in entries:
        _check_event(e.action, e.actor, e.object_type, e.object_id, e.outcome, e.address,
                     e.purpose)
    if not entries:
        return []
    key = audit_anchor.chain_key(session)
    moved = session.execute(
        update(_HEAD).where(_HEAD.c.id == 1).values(seq=_HEAD.c.seq + len(entries))
        .returning(_HEAD.c.seq, _HEAD.c.hash)).first()
    if moved is None:
        raise RuntimeError("the audit head row is missing: run the migrations")
    seq, prev = moved.seq - len(entries), moved.hash
    rows = []
    for e in entries:
        seq += 1
        digest = chain_hash(prev, seq, e.at, e.actor.user_id, e.actor.unit_id, e.actor.role,
                            e.action, e.object_type, e.object_id, e.outcome, e.address,
                            e.purpose, key=key)
        rows.append({"seq": seq, "at": e.at, "actor_user_id": e.actor.user_id,
                     "actor_unit_id": e.actor.unit_id, "actor_role": e.actor.role,
                     "action": e.action, "object_type": e.object_type,
                     "object_id": e.object_id, "outcome": e.outcome, "address": e.address,
                     "purpose": e.purpose, "prev_hash": prev, "hash": digest})
        prev = digest
    session.execute(insert(_EVENTS), rows)
    session.execute(update(_HEAD).where(_HEAD.c.id == 1).values(hash=prev))
    held = session.identity_map.get(identity_key(AuditHead, 1))
    if held is not None:
        session.expire(held)
    audit_anchor.note(session, seq=seq, head=prev)
    return rows


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
               address: str | None, purpose: str | None, *, key: bytes | None) -> str:
    """THE hash rule. The message is the previous hash, then each field of HASHED_COLUMNS as
    text (`format_at` for the time), each preceded by 0x1f; an absent field is 0x00, so that
    None and "" differ. The hash is HMAC-SHA256 of the message under `key`, the chain key
    (`exchange.audit.anchor.chain_key`), as lowercase hex; with `key=None`, the SHA-256 of the
    events appended before the chain was keyed. Takes the raw values a row holds, as named
    arguments, because verifying a million events calls it a million times: one call, one
    join, one digest."""
    none = "\x00"
    message = "\x1f".join((
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
    )).encode("utf-8")
    if key is None:
        return hashlib.sha256(message).hexdigest()
    return hmac.digest(key, message, "sha256").hex()


def event_hash(prev_hash: str, fields: Sequence[str | None], *, key: bytes | None) -> str:
    """The hash of an event given its fields as `event_fields` renders them (rendering them
    again changes nothing): `chain_hash`."""
    return chain_hash(prev_hash, *fields, key=key)


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
    key: bytes,
    keyed_from: int = 1,
    end: tuple[int, str] | None = None,
    marks: Collection[int] = (),
) -> Verification:
    """Walk raw rows (ROW_COLUMNS, in sequence order, in batches) from `start` (sequence
    number, previous hash), keyed with `key` from event `keyed_from` on (before it, the plain
    SHA-256 of the first events). `end`, when given, is the head the walk must arrive at; the
    hash seen at each sequence number in `marks` is reported, for checkpoints to compare."""
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
            try:
                intact = chain_hash(prev, seq, at, user, unit, role, action, object_type,
                                    object_id, outcome, address, purpose,
                                    key=key if seq >= keyed_from else None) == hash_
            except (TypeError, ValueError, AttributeError):  # not text, or not a time
                intact = False
            if not intact:
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
    workers: int | None = None,
    keyed_from: int | None = None,
) -> Verification:
    """Walk the stored chain from `start` (after a purge: the purge checkpoint's sequence
    number + 1 and hash) to the head, or only to `stop`; see `verify_rows`. The chain is keyed
    from `keyed_from` on, by default from where the head row says (which only a signed
    checkpoint vouches for: `exchange.audit.checkpoints` checks it).

    On SQLite the fast walk (`exchange.audit.walk`) first verifies as far as it can, in
    `workers` processes (by default one per processor when the log is long), and `verify_rows`
    walks the rest from there: it names the first bad event exactly as a walk from `start`
    would, since everything before it is verified."""
    head_seq, head_hash, head_keyed_from, last_seq = session.execute(
        select(AuditHead.seq, AuditHead.hash, AuditHead.keyed_from,
               select(func.max(AuditEvent.seq)).scalar_subquery())
        .where(AuditHead.id == 1)
    ).one()
    key = audit_anchor.chain_key(session)
    keyed = head_keyed_from if keyed_from is None else keyed_from
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
        fast = _walk_fast(session, start, last, key, keyed, marks, workers)
        assert fast.prev is not None
        rest = verify_rows(raw_rows(session, fast.upto, last), (fast.upto, fast.prev),
                           key=key, keyed_from=keyed, end=end, marks=marks)
    finally:
        if collecting:
            gc.enable()
    return Verification(rest.ok, fast.upto - start[0] + rest.events, rest.first_bad_seq,
                        rest.reason, {**fast.seen, **rest.seen})


def _walk_fast(session: Session, start: tuple[int, str], last: int, key: bytes,
               keyed_from: int, marks: Collection[int],
               workers: int | None) -> audit_walk.Stretch:
    """How far from `start` the fast walk verifies (PostgreSQL: not at all, `verify_rows`
    walks it all)."""
    connection = session.connection()
    if connection.dialect.name != "sqlite":
        return audit_walk.stitch(start, [])
    if workers is None:
        long = last - start[0] + 1 >= audit_walk.PARALLEL_FROM
        workers = audit_walk.processors() if long else 1
    database = connection.engine.url.database
    if workers > 1 and database and os.path.isfile(database):
        done = audit_walk.walk_parallel(os.path.abspath(database), start, last, key,
                                        keyed_from, marks, workers)
        # The workers read the committed log: this transaction must hold the same events
        # (they never change, so counting them is enough).
        if done.upto > start[0] and _count(session, start[0], done.upto - 1) == (
                done.upto - start[0]):
            return done
    dbapi = connection.connection.dbapi_connection
    assert dbapi is not None
    return audit_walk.stitch(start, [audit_walk.walk(dbapi, start[0], last, start[1], key,
                                                     keyed_from, marks)])


def _count(session: Session, first: int, last: int) -> int:
    """Events first..last: all of them less those outside, as SQLite counts a whole table on
    its smallest index several times faster than it walks a range of rows."""
    events = select(func.count()).select_from(AuditEvent)
    return session.scalar(select(
        events.scalar_subquery() - events.where(AuditEvent.seq < first).scalar_subquery()
        - events.where(AuditEvent.seq > last).scalar_subquery())) or 0
