"""The retention sweep: deletes, on time, everything whose horizon is past.

One run (`run_sweep`), under the cross-process lock of `retention.lock`:

1. shreds the blobs a previous, interrupted run left to shred (``retention_doomed_blobs``);
2. catches up the horizons with what changed since the last run: every state change is
   audited in its own transaction, so the audit events after the stored watermark name the
   fiches, accompaniments, consents, persons and conventions whose horizons may have moved
   (`retention.horizons`, epochs moved as needed);
3. takes the due items (`find_due`: ``horizon < :today`` on indexed columns, no scan) and
   deletes them one by one, each in its own transaction: re-check the legal holds, check the
   de-identified statistics rows exist, destroy the key wraps, delete the document rows
   (their blob names go to ``retention_doomed_blobs`` in the same transaction), receipts,
   fiches, accompaniment, consent, and the person when nothing else refers to them, and
   audit each deletion by id; after the commit the blobs are overwritten and unlinked (in a
   small thread pool: the fsyncs dominate) and their doomed rows removed. An error on one
   item is logged by id and the sweep goes on; a process killed anywhere leaves either a
   rolled-back transaction or doomed blobs, which the next run finishes;
4. destroys the key of every past retention epoch no document or person key uses any more;
5. signs and stores the deletion report (`retention.reports`), releases the lock and, on
   SQLite, checkpoints the WAL (``TRUNCATE``) so the deleted pages (zeroed by
   ``secure_delete``) leave the log too.

A dry run takes no lock and writes nothing: it computes in a transaction it rolls back.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Protocol

from sqlalchemy import ColumnElement, delete, exists, insert, inspect, select, update
from sqlalchemy.orm import Session

from exchange import audit
from exchange.blobs import BlobError, FolderBlobStore
from exchange.db import Database
from exchange.documents import DocumentStore
from exchange.domain.clock import paris_date
from exchange.domain.dates import add_months
from exchange.domain.vocabulary import Axis, FicheState
from exchange.models.audit import AuditEvent
from exchange.models.documents import Document, KeyWrap
from exchange.models.fiches import Accompaniment, Fiche, Receipt
from exchange.models.org import Convention
from exchange.models.people import Consent, Person
from keys.personal import PersonalFields
from keys.store import KeyStore
from retention.holds import REASONS
from retention.horizons import (
    CONVENTION_END,
    DECIDED_STATES,
    DRAFT_ABANDONED,
    FOLLOWS_FICHES,
    FOLLOWS_RECORDS,
    MARKED,
    NO_LONGER_NEEDED,
    UNSENT_STATES,
    Outcome,
    Sealing,
    compute,
    load_file,
    persons_of_convention,
    recompute_for_person,
    rule_of,
)
from retention.lock import DEFAULT_TTL, SweepLock, lock_for, wall_clock
from retention.models import (
    DoomedBlob,
    LegalHold,
    RetentionMark,
    RetentionRun,
    RetentionState,
)
from retention.policy import epoch_of
from retention.reports import store_report

log = logging.getLogger("liaison.retention")

STAT_TABLE = "stat_facts"
BLOB_BATCH = 512
BLOB_WORKERS = 16
RENEW_EVERY_SECONDS = 60.0
FEED_BATCH = 2000
# Audited actions after which a horizon may have moved (reads change nothing).
CHANGE_ACTIONS = frozenset({
    "person.created", "person.updated", "consent.recorded", "consent.withdrawn",
    "fiche.created", "fiche.draft_saved", "fiche.signed", "fiche.countersigned", "fiche.sent",
    "fiche.acknowledged", "fiche.accepted", "fiche.declined", "fiche.recalled",
    "fiche.cancelled", "attachment.added", "attachment.removed",
    "accompaniment.created", "accompaniment.entry_recorded", "accompaniment.renewed",
    "accompaniment.closed", "convention.created", "convention.updated", "convention.amended",
})


class SweepServices(Protocol):
    """What the sweep needs: `exchange.services.Services` is one."""

    @property
    def db(self) -> Database: ...

    @property
    def blobs(self) -> FolderBlobStore: ...

    def keystore(self, session: Session) -> KeyStore: ...

    def documents(self, session: Session) -> DocumentStore: ...

    def personal(self, session: Session) -> PersonalFields: ...


def no_fault(step: str) -> None:
    """Tests replace this to fail (or be killed) between two steps."""


# -- what is due -------------------------------------------------------------------------------


@dataclass(frozen=True)
class DueItem:
    kind: str
    row_id: int
    public_id: str
    horizon: date
    axis: int | None = None
    convention_id: int | None = None
    person_id: int | None = None


def find_due(session: Session, today: date) -> list[DueItem]:
    """Everything whose horizon is before ``today``, in deletion order: accompaniments (with
    their fiches), fiches, consents, persons, then documents that belong to nothing. Each
    query is a range search on the horizon index; held records (NULL) never match."""
    items: list[DueItem] = []
    for kind, model in (("accompaniment", Accompaniment), ("fiche", Fiche)):
        for a in session.execute(
                select(model.id, model.public_id, model.horizon, model.axis,
                       model.convention_id, model.person_id)
                .where(model.horizon < today).order_by(model.horizon, model.id)):
            items.append(DueItem(kind, a[0], a[1], _day(a[2]), a[3], a[4], a[5]))
    for c in session.execute(
            select(Consent.id, Consent.public_id, Consent.horizon, Consent.axis,
                   Consent.person_id)
            .where(Consent.horizon < today).order_by(Consent.horizon, Consent.id)):
        items.append(DueItem("consent", c[0], c[1], _day(c[2]), c[3], None, c[4]))
    for p in session.execute(
            select(Person.id, Person.public_id, Person.horizon)
            .where(Person.horizon < today).order_by(Person.horizon, Person.id)):
        items.append(DueItem("person", p[0], p[1], _day(p[2]), None, None, p[0]))
    for d in session.execute(
            select(Document.id, Document.public_id, Document.horizon)
            .where(Document.horizon < today, Document.fiche_id.is_(None),
                   Document.consent_id.is_(None), Document.accompaniment_id.is_(None))
            .order_by(Document.horizon, Document.id)):
        items.append(DueItem("document", d[0], d[1], _day(d[2])))
    return items


def _day(value: date | None) -> date:
    assert value is not None  # `horizon < :today` never matches NULL
    return value


def statistics_recorded(session: Session, fiche: Fiche, keystore: KeyStore) -> bool:
    """Whether the de-identified statistics rows of a fiche exist (`exchange.statistics`), so
    that deleting it leaves the indicators unchanged.

    Facts name no fiche (by design), so the check is what can be matched: an accepted
    orientation's accompaniment has facts under its opaque reference; a sent orientation has an
    ``orientation_sent`` fact for its convention, units, axis and month. Bilans, returns and
    fiches never sent write no fact. True while the ``stat_facts`` table does not exist."""
    if not _has_stat_table(session) or fiche.sent_at is None:
        return True
    from exchange.domain.indicators import month_of
    from exchange.domain.vocabulary import FicheKind
    from exchange.models.statistics import StatFact
    from exchange.statistics import ACCOMPANIMENT_PREFIX
    from keys.personal import blind_index

    if not FicheKind(fiche.kind).is_orientation:
        return True
    accompaniment = session.scalar(select(Accompaniment).where(
        Accompaniment.orientation_id == fiche.id))
    if accompaniment is not None:
        ref = blind_index(keystore, ACCOMPANIMENT_PREFIX, accompaniment.public_id)
        return bool(session.scalar(select(exists().where(StatFact.accompaniment_ref == ref))))
    return bool(session.scalar(select(exists().where(
        StatFact.event == "orientation_sent", StatFact.convention_id == fiche.convention_id,
        StatFact.axis == fiche.axis, StatFact.sender_unit_id == fiche.sender_unit_id,
        StatFact.receiving_unit_id == fiche.recipient_unit_id,
        StatFact.month == month_of(paris_date(fiche.sent_at))))))


def _has_stat_table(session: Session) -> bool:
    cached = session.info.get("liaison.stat_table")
    if cached is None:
        cached = inspect(session.connection()).has_table(STAT_TABLE)
        session.info["liaison.stat_table"] = cached
    return bool(cached)


# -- the result --------------------------------------------------------------------------------


@dataclass
class SweepResult:
    status: str
    run_at: datetime
    today: date
    deleted: list[dict[str, Any]] = field(default_factory=list)
    skipped_hold: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)
    errors: list[dict[str, str]] = field(default_factory=list)
    epochs_destroyed: list[str] = field(default_factory=list)
    documents: int = 0
    wraps: int = 0
    blobs: int = 0
    recomputed: Outcome = field(default_factory=Outcome)
    report_id: str | None = None
    checkpoint: tuple[int, int, int] | None = None
    seconds: float = 0.0

    def counts(self) -> dict[str, dict[str, int]]:
        counts: dict[str, Counter[str]] = {}
        for item in self.deleted:
            axis = item.get("axis")
            counts.setdefault(item["kind"], Counter())[f"axe{axis}" if axis else "-"] += 1
        counts.setdefault("document", Counter())["-"] += self.documents
        return {kind: dict(sorted(c.items())) for kind, c in sorted(counts.items())}

    def payload(self) -> dict[str, Any]:
        return {
            "dry_run": self.status == "dry_run",
            "counts": self.counts(),
            "documents_deleted": self.documents,
            "wraps_destroyed": self.wraps,
            "blobs_shredded": self.blobs,
            "deleted": self.deleted,
            "skipped_hold": self.skipped_hold,
            "skipped": self.skipped,
            "errors": self.errors,
            "epochs_destroyed": self.epochs_destroyed,
            "horizons": {"persons_recomputed": self.recomputed.persons,
                         "documents_moved": self.recomputed.documents_moved,
                         "person_keys_moved": self.recomputed.person_keys_moved},
        }

    def describe(self) -> str:
        if self.status == "busy":
            return "Une autre purge est en cours : rien n'a été fait."
        what = "Simulation" if self.status == "dry_run" else "Purge"
        lines = [f"{what} du {self.today.isoformat()} : {len(self.deleted)} élément(s) "
                 f"{'à supprimer' if self.status == 'dry_run' else 'supprimé(s)'}, "
                 f"{self.documents} document(s), {self.blobs} fichier(s) chiffré(s) détruit(s), "
                 f"{len(self.skipped_hold)} conservé(s) sous conservation légale, "
                 f"{len(self.errors)} erreur(s), {len(self.epochs_destroyed)} clé(s) "
                 f"d'époque détruite(s) en {self.seconds:.1f} s."]
        for kind, by_axis in self.counts().items():
            detail = ", ".join(f"{k}: {v}" for k, v in by_axis.items())
            lines.append(f"  {kind} — {detail}")
        if self.report_id:
            lines.append(f"Rapport signé : {self.report_id}")
        return "\n".join(lines)


# -- the sweep ---------------------------------------------------------------------------------


def run_sweep(svc: SweepServices, now: datetime, *, dry_run: bool = False,
              fault: Callable[[str], None] = no_fault, lock: SweepLock | None = None,
              clock: Callable[[], datetime] = wall_clock) -> SweepResult:
    """Run one sweep as of ``now`` (the rules use its Paris day). ``clock`` is the wall clock
    the lock expires on; ``fault`` is called between steps (tests make it raise)."""
    if dry_run:
        return _Sweep(svc, now, fault).dry_run()
    lock = lock or lock_for(svc.db, ttl=DEFAULT_TTL, now=clock)
    if not lock.acquire():
        log.info("retention: another sweep holds the lock")
        return SweepResult("busy", now, paris_date(now))
    try:
        fault("locked")
        result = _Sweep(svc, now, fault, lock=lock, clock=clock).run()
    except Exception:
        lock.release()
        raise
    lock.release()
    result.checkpoint = checkpoint(svc.db)
    return result


def checkpoint(db: Database) -> tuple[int, int, int] | None:
    """SQLite: move the WAL into the database file and truncate it to zero bytes."""
    if db.engine.dialect.name != "sqlite":
        return None
    connection = db.engine.raw_connection()
    try:
        cursor = connection.cursor()
        cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        row = cursor.fetchone()
        cursor.close()
    finally:
        connection.close()
    return (int(row[0]), int(row[1]), int(row[2])) if row else None


class _Sweep:
    def __init__(self, svc: SweepServices, now: datetime, fault: Callable[[str], None],
                 lock: SweepLock | None = None,
                 clock: Callable[[], datetime] = wall_clock) -> None:
        self.svc = svc
        self.now = now
        self.today = paris_date(now)
        self.fault = fault
        self.lock = lock
        self.clock = clock
        self.result = SweepResult("done", now, self.today)
        self.doomed: list[str] = []
        self.recompute: set[int] = set()
        self.conventions: dict[int, Convention] = {}
        self.marked: set[tuple[str, int]] = set()
        self.hold_targets: set[tuple[str, int]] = set()
        self._renewed = time.monotonic()

    # -- entry points --------------------------------------------------------------------------

    def dry_run(self) -> SweepResult:
        started = time.monotonic()
        self.result.status = "dry_run"
        session = self.svc.db.sessions()
        try:
            self._refresh_in(session, sealing=None)
            self._load_conventions(session)
            for item in find_due(session, self.today):
                self.result.deleted.append(self._entry(session, item))
            self.result.skipped_hold = held_due(session, self.today)
        finally:
            session.rollback()
            session.close()
        self.result.seconds = time.monotonic() - started
        return self.result

    def run(self) -> SweepResult:
        started = time.monotonic()
        with self.svc.db.unit_of_work() as session:
            run = RetentionRun(started_at=self.now, today=self.today, status="running")
            session.add(run)
            session.flush()
            run_id = run.id
        with ThreadPoolExecutor(BLOB_WORKERS, thread_name_prefix="shred") as pool:
            self.pool = pool
            self._shred_leftovers()
            self._refresh()
            with self.svc.db.unit_of_work() as session:
                self._load_conventions(session)
                due = find_due(session, self.today)
                self.result.skipped_hold = held_due(session, self.today)
                for entry in self.result.skipped_hold:
                    audit.record(session, "retention.skipped_hold", at=self.now,
                                 object_type=entry["kind"], object_id=entry["id"],
                                 purpose="legal_hold")
            for item in due:
                self._one(item)
            self._recompute_left()
            self._shred()
        self._destroy_epochs()
        self._report(run_id)
        self.result.seconds = time.monotonic() - started
        return self.result

    # -- steps -----------------------------------------------------------------------------

    def _renew(self) -> None:
        if self.lock is not None and time.monotonic() - self._renewed > RENEW_EVERY_SECONDS:
            self.lock.renew()
            self._renewed = time.monotonic()

    def _erase_notes(self, session: Session, kind: str, ids: list[int]) -> None:
        if any((kind, i) in self.hold_targets for i in ids):
            _erase_notes(session, kind, ids)

    def _load_conventions(self, session: Session) -> None:
        """Conventions, and which targets have marks or (even lifted) holds: few rows that
        spare a query per item (a hold placed during the sweep is still seen: `_held`)."""
        self.marked = {(r[0], r[1]) for r in session.execute(
            select(RetentionMark.target_type, RetentionMark.target_id))}
        self.hold_targets = {(r[0], r[1]) for r in session.execute(
            select(LegalHold.target_type, LegalHold.target_id))}
        self.conventions = {c.id: c for c in session.scalars(select(Convention))}
        for convention in self.conventions.values():
            _ = convention.effective_end_date  # loads the amendments while the session is open

    def _refresh(self) -> None:
        with self.svc.db.unit_of_work() as session:
            state = session.get(RetentionState, 1)
            watermark = state.audit_seq if state is not None else 0
        while True:
            with self.svc.db.unit_of_work() as session:
                rows = session.execute(
                    select(AuditEvent.seq, AuditEvent.object_type, AuditEvent.object_id)
                    .where(AuditEvent.seq > watermark, AuditEvent.action.in_(CHANGE_ACTIONS))
                    .order_by(AuditEvent.seq).limit(FEED_BATCH)).all()
                persons = changed_persons(session, [(r[1], r[2]) for r in rows])
            if not rows:
                return
            for person_id in sorted(persons):
                self._recompute_person(person_id)
            watermark = rows[-1][0]
            with self.svc.db.unit_of_work() as session:
                session.execute(update(RetentionState).where(RetentionState.id == 1)
                                .values(audit_seq=watermark)
                                .execution_options(synchronize_session=False))
            self._renew()

    def _refresh_in(self, session: Session, sealing: Sealing | None) -> None:
        state = session.get(RetentionState, 1)
        watermark = state.audit_seq if state is not None else 0
        rows = session.execute(
            select(AuditEvent.object_type, AuditEvent.object_id)
            .where(AuditEvent.seq > watermark, AuditEvent.action.in_(CHANGE_ACTIONS))).all()
        for person_id in sorted(changed_persons(session, [(r[0], r[1]) for r in rows])):
            person = session.get(Person, person_id)
            if person is not None:
                recompute_for_person(session, person, sealing)

    def _recompute_person(self, person_id: int) -> None:
        try:
            with self.svc.db.unit_of_work() as session:
                person = session.get(Person, person_id)
                if person is None:
                    return
                sealing = Sealing(self.svc.documents(session), self.svc.personal(session),
                                  self.today)
                self.result.recomputed.add(recompute_for_person(session, person, sealing))
        except Exception as exc:
            log.error("retention: horizons of person %s not recomputed (%s)",
                      person_id, type(exc).__name__)
            self.result.errors.append({"kind": "horizon", "id": str(person_id),
                                       "error": type(exc).__name__})

    def _recompute_left(self) -> None:
        for person_id in sorted(self.recompute):
            self._recompute_person(person_id)

    def _one(self, item: DueItem) -> None:
        try:
            with self.svc.db.unit_of_work() as session:
                names = self._delete(session, item)
            self.fault(f"{item.kind}:committed")
            if names:
                self.doomed.extend(names)
                if len(self.doomed) >= BLOB_BATCH:
                    self._shred()
        except Exception as exc:
            log.error("retention: %s %s not deleted (%s)", item.kind, item.public_id,
                      type(exc).__name__)
            self.result.errors.append({"kind": item.kind, "id": item.public_id,
                                       "error": type(exc).__name__})
        self._renew()

    # -- deleting ------------------------------------------------------------------------------

    def _delete(self, session: Session, item: DueItem) -> list[str]:
        if item.kind == "accompaniment":
            return self._delete_accompaniment(session, item)
        if item.kind == "fiche":
            return self._delete_fiche(session, item)
        if item.kind == "consent":
            return self._delete_consent(session, item)
        if item.kind == "person":
            return self._delete_person(session, item)
        return self._delete_document(session, item)

    def _still_due(self, day: date | None) -> bool:
        return day is not None and day < self.today

    def _skip(self, item: DueItem, why: str) -> list[str]:
        self.result.skipped.append({"kind": item.kind, "id": item.public_id, "why": why})
        if item.person_id is not None:
            self.recompute.add(item.person_id)
        return []

    def _held(self, session: Session, item: DueItem, person_id: int,
              fiche_ids: Iterable[int]) -> bool:
        hold = active_hold(session, person_id, fiche_ids)
        if hold is None:
            return False
        self.hold_targets.add((hold.target_type, hold.target_id))
        self.result.skipped_hold.append({"kind": item.kind, "id": item.public_id,
                                         "hold": hold.public_id, "reason": hold.reason_code})
        audit.record(session, "retention.skipped_hold", at=self.now, object_type=item.kind,
                     object_id=item.public_id, purpose="legal_hold")
        self.recompute.add(person_id)
        return True

    def _delete_accompaniment(self, session: Session, item: DueItem) -> list[str]:
        accompaniment = session.get(Accompaniment, item.row_id)
        if accompaniment is None:
            return []
        if not self._still_due(accompaniment.horizon):
            return self._skip(item, "not_due")
        fiches = list(session.scalars(select(Fiche).where(
            (Fiche.accompaniment_id == accompaniment.id)
            | (Fiche.id == accompaniment.orientation_id)).order_by(Fiche.id)))
        fiche_ids = [f.id for f in fiches]
        if self._held(session, item, accompaniment.person_id, fiche_ids):
            return []
        keystore = self.svc.keystore(session)
        if not all(statistics_recorded(session, f, keystore) for f in fiches):
            return self._skip(item, "statistics_missing")
        self.fault("accompaniment:checked")
        rules = {f.id: self._rule(session, f.convention_id, f.axis, item.horizon, "fiche", f.id,
                                  f.state) for f in fiches}
        rule = self._rule(session, accompaniment.convention_id, accompaniment.axis,
                          item.horizon, "accompaniment", accompaniment.id, None)
        names = self._documents(session, (Document.fiche_id.in_(fiche_ids))
                                | (Document.accompaniment_id == accompaniment.id))
        session.execute(delete(Receipt).where(Receipt.fiche_id.in_(fiche_ids)))
        session.execute(delete(RetentionMark).where(
            ((RetentionMark.target_type == "fiche") & RetentionMark.target_id.in_(fiche_ids))
            | ((RetentionMark.target_type == "accompaniment")
               & (RetentionMark.target_id == accompaniment.id))))
        self._erase_notes(session, "fiche", fiche_ids)
        session.execute(update(Fiche).where(Fiche.id.in_(fiche_ids))
                        .values(accompaniment_id=None)
                        .execution_options(synchronize_session=False))
        session.execute(delete(Accompaniment).where(Accompaniment.id == accompaniment.id)
                        .execution_options(synchronize_session=False))
        session.execute(delete(Fiche).where(Fiche.id.in_(fiche_ids))
                        .execution_options(synchronize_session=False))
        self.fault("accompaniment:rows_deleted")
        self._deleted(session, item, rule)
        for fiche in fiches:
            self._deleted(session, DueItem("fiche", fiche.id, fiche.public_id, item.horizon,
                                           fiche.axis, fiche.convention_id, fiche.person_id),
                          rules[fiche.id])
        self._person_after(session, accompaniment.person_id)
        self.fault("accompaniment:audited")
        return names

    def _delete_fiche(self, session: Session, item: DueItem) -> list[str]:
        fiche = session.get(Fiche, item.row_id)
        if fiche is None:
            return []
        if not self._still_due(fiche.horizon):
            return self._skip(item, "not_due")
        if FicheState(fiche.state) not in DECIDED_STATES and (
                fiche.accompaniment_id is not None or session.scalar(
                select(Accompaniment.id).where(Accompaniment.orientation_id == fiche.id))):
            # It goes with its accompaniment, which refers to it.
            return self._skip(item, "follows_accompaniment")
        if self._held(session, item, fiche.person_id, [fiche.id]):
            return []
        if fiche.sent_at is not None and not statistics_recorded(
                session, fiche, self.svc.keystore(session)):
            return self._skip(item, "statistics_missing")
        self.fault("fiche:checked")
        rule = self._rule(session, fiche.convention_id, fiche.axis, item.horizon, "fiche",
                          fiche.id, fiche.state)
        names = self._documents(session, Document.fiche_id == fiche.id)
        session.execute(delete(Receipt).where(Receipt.fiche_id == fiche.id))
        if ("fiche", fiche.id) in self.marked:
            session.execute(delete(RetentionMark).where(RetentionMark.target_type == "fiche",
                                                        RetentionMark.target_id == fiche.id))
        self._erase_notes(session, "fiche", [fiche.id])
        session.execute(delete(Fiche).where(Fiche.id == fiche.id)
                        .execution_options(synchronize_session=False))
        self.fault("fiche:rows_deleted")
        self._deleted(session, item, rule)
        self._person_after(session, fiche.person_id, checked_hold=True)
        self.fault("fiche:audited")
        return names

    def _delete_consent(self, session: Session, item: DueItem) -> list[str]:
        consent = session.get(Consent, item.row_id)
        if consent is None:
            return []
        if not self._still_due(consent.horizon):
            return self._skip(item, "not_due")
        if session.scalar(select(exists().where(Fiche.consent_id == consent.id))):
            return self._skip(item, "still_referenced")
        if self._held(session, item, consent.person_id, []):
            return []
        names = self._documents(session, Document.consent_id == consent.id)
        session.execute(delete(Consent).where(Consent.id == consent.id)
                        .execution_options(synchronize_session=False))
        self.fault("consent:rows_deleted")
        self._deleted(session, item, FOLLOWS_FICHES)
        self._person_after(session, consent.person_id)
        return names

    def _delete_person(self, session: Session, item: DueItem) -> list[str]:
        person = session.get(Person, item.row_id)
        if person is None:
            return []
        if not self._still_due(person.horizon):
            return self._skip(item, "not_due")
        if _has_records(session, person.id):
            return self._skip(item, "still_referenced")
        if self._held(session, item, person.id, []):
            return []
        self._delete_person_row(session, person.id, person.public_id, item.horizon)
        return []

    def _delete_document(self, session: Session, item: DueItem) -> list[str]:
        document = session.get(Document, item.row_id)
        if document is None or not self._still_due(document.horizon):
            return []
        names = self._documents(session, Document.id == document.id)
        self.result.documents -= 1  # counted as the item itself
        self._deleted(session, item, NO_LONGER_NEEDED)
        return names

    def _documents(self, session: Session, condition: ColumnElement[bool]) -> list[str]:
        """Destroy the wraps, then delete the rows; the blob names become doomed rows."""
        rows = session.execute(select(Document.id, Document.blob).where(condition)).all()
        if not rows:
            return []
        ids = [r[0] for r in rows]
        names = [r[1] for r in rows]
        wraps = session.execute(delete(KeyWrap).where(KeyWrap.document_id.in_(ids))
                                .execution_options(synchronize_session=False))
        self.fault("wraps_destroyed")
        session.execute(insert(DoomedBlob), [{"name": n} for n in names])
        session.execute(delete(Document).where(Document.id.in_(ids))
                        .execution_options(synchronize_session=False))
        self.result.documents += len(ids)
        self.result.wraps += int(wraps.rowcount)  # type: ignore[attr-defined]
        return names

    def _person_after(self, session: Session, person_id: int, *,
                      checked_hold: bool = False) -> None:
        """Delete the person with their last record; otherwise recompute them later.
        ``checked_hold``: this transaction already found no hold on the person."""
        if _has_records(session, person_id):
            self.recompute.add(person_id)
            return
        if not checked_hold and active_hold(session, person_id, []) is not None:
            return
        person = session.execute(select(Person.public_id, Person.horizon)
                                 .where(Person.id == person_id)).first()
        if person is not None:
            self._delete_person_row(session, person_id, person[0], person[1])

    def _delete_person_row(self, session: Session, person_id: int, public_id: str,
                           horizon: date | None) -> None:
        self._erase_notes(session, "person", [person_id])
        session.execute(delete(Person).where(Person.id == person_id)
                        .execution_options(synchronize_session=False))
        self.recompute.discard(person_id)
        self._deleted(session, DueItem("person", person_id, public_id,
                                       horizon or self.today, None, None, person_id),
                      FOLLOWS_RECORDS)

    def _deleted(self, session: Session, item: DueItem, rule: str) -> None:
        audit.record(session, "retention.deleted", at=self.now, object_type=item.kind,
                     object_id=item.public_id)
        convention = self.conventions.get(item.convention_id) if item.convention_id else None
        self.result.deleted.append({
            "kind": item.kind, "id": item.public_id, "axis": item.axis,
            "convention": convention.public_id if convention is not None else None,
            "horizon": item.horizon.isoformat(), "rule": rule})

    def _rule(self, session: Session | None, convention_id: int | None, axis: int | None,
              day: date, kind: str, row_id: int, state: str | None) -> str:
        """Which rule made the item due (before its marks are deleted)."""
        convention = self.conventions.get(convention_id) if convention_id else None
        if convention is not None and axis is not None:
            latest = add_months(convention.effective_end_date,
                                rule_of(convention).period_months(Axis(axis)))
            if day >= latest:
                return CONVENTION_END
        if (kind, row_id) in self.marked:
            return MARKED
        if state is not None and FicheState(state) in UNSENT_STATES:
            return DRAFT_ABANDONED
        return NO_LONGER_NEEDED

    def _entry(self, session: Session, item: DueItem) -> dict[str, Any]:
        rule = FOLLOWS_RECORDS if item.kind == "person" else (
            FOLLOWS_FICHES if item.kind == "consent" else
            self._rule(session, item.convention_id, item.axis, item.horizon, item.kind,
                       item.row_id, None))
        convention = self.conventions.get(item.convention_id) if item.convention_id else None
        return {"kind": item.kind, "id": item.public_id, "axis": item.axis,
                "convention": convention.public_id if convention is not None else None,
                "horizon": item.horizon.isoformat(), "rule": rule}

    # -- blobs, epochs, report -----------------------------------------------------------------

    def _shred_leftovers(self) -> None:
        with self.svc.db.unit_of_work() as session:
            self.doomed.extend(session.scalars(select(DoomedBlob.name)))
        self._shred()

    def _shred(self) -> None:
        names, self.doomed = self.doomed, []
        if not names:
            return
        store = self.svc.blobs
        done = [n for n, ok in zip(names, self.pool.map(lambda n: _shred_one(store, n), names),
                                   strict=True) if ok]
        self.fault("blobs_shredded")
        with self.svc.db.unit_of_work() as session:
            for start in range(0, len(done), 500):
                session.execute(delete(DoomedBlob).where(
                    DoomedBlob.name.in_(done[start:start + 500])))
        self.result.blobs += len(done)

    def _destroy_epochs(self) -> None:
        current = epoch_of(self.today)
        with self.svc.db.unit_of_work() as session:
            epochs = self.svc.keystore(session).epochs
            candidates = [e for e in epochs.epochs() if e < current]
        for epoch in candidates:
            try:
                with self.svc.db.unit_of_work() as session:
                    if epoch_in_use(session, epoch):
                        continue
                    self.fault("epoch:checked")
                    epochs.destroy(epoch)
                    audit.record(session, "retention.epoch_destroyed", at=self.now,
                                 object_type="epoch", object_id=epoch)
                self.result.epochs_destroyed.append(epoch)
            except Exception as exc:
                log.error("retention: epoch %s not destroyed (%s)", epoch, type(exc).__name__)
                self.result.errors.append({"kind": "epoch", "id": epoch,
                                           "error": type(exc).__name__})

    def _report(self, run_id: int) -> None:
        with self.svc.db.unit_of_work() as session:
            report = store_report(session, self.svc.keystore(session), self.result.payload(),
                                  run_at=self.now, today=self.today,
                                  complete=not self.result.errors)
            audit.record(session, "retention.report", at=self.now, object_type="report",
                         object_id=report.public_id)
            session.execute(update(RetentionRun).where(RetentionRun.id == run_id).values(
                finished_at=self.now, report_id=report.id,
                status="done" if not self.result.errors else "errors")
                .execution_options(synchronize_session=False))
            self.result.report_id = report.public_id


def _shred_one(store: FolderBlobStore, name: str) -> bool:
    try:
        store.delete(name)
    except BlobError:
        log.warning("retention: blob %s not shredded yet", name)
        return False
    return True


# -- queries the sweep and the screens share ---------------------------------------------------


def _has_records(session: Session, person_id: int) -> bool:
    return bool(session.scalar(select(
        exists().where(Fiche.person_id == person_id)
        | exists().where(Accompaniment.person_id == person_id)
        | exists().where(Consent.person_id == person_id))))


def active_hold(session: Session, person_id: int, fiche_ids: Iterable[int]) -> LegalHold | None:
    ids = list(fiche_ids)
    condition = (LegalHold.target_type == "person") & (LegalHold.target_id == person_id)
    if ids:
        condition = condition | ((LegalHold.target_type == "fiche")
                                 & LegalHold.target_id.in_(ids))
    return session.scalar(select(LegalHold).where(LegalHold.lifted_at.is_(None), condition)
                          .order_by(LegalHold.id).limit(1))


def _erase_notes(session: Session, kind: str, ids: list[int]) -> None:
    """The held data is going: so does the DPO's note about it (the reason code stays)."""
    if ids:
        session.execute(update(LegalHold).where(LegalHold.target_type == kind,
                                                LegalHold.target_id.in_(ids))
                        .values(sealed_note=None).execution_options(synchronize_session=False))


def epoch_in_use(session: Session, epoch: str) -> bool:
    return bool(session.scalar(select(exists().where(Document.epoch == epoch)
                                      | exists().where(Person.epoch == epoch))))


def changed_persons(session: Session, changes: Iterable[tuple[str | None, str | None]]) -> set[int]:
    """The persons whose horizons an audited change may have moved."""
    by_type: dict[str, set[str]] = {}
    for object_type, object_id in changes:
        if object_type and object_id:
            by_type.setdefault(object_type, set()).add(object_id)
    persons: set[int] = set()
    for ids in _chunks(by_type.get("fiche", set())):
        persons.update(session.scalars(select(Fiche.person_id).where(Fiche.public_id.in_(ids))))
    for ids in _chunks(by_type.get("accompaniment", set())):
        persons.update(session.scalars(select(Accompaniment.person_id)
                                       .where(Accompaniment.public_id.in_(ids))))
    for ids in _chunks(by_type.get("consent", set())):
        persons.update(session.scalars(select(Consent.person_id)
                                       .where(Consent.public_id.in_(ids))))
    for ids in _chunks(by_type.get("person", set())):
        persons.update(session.scalars(select(Person.id).where(Person.public_id.in_(ids))))
    for ids in _chunks(by_type.get("document", set())):
        persons.update(session.scalars(select(Fiche.person_id).join(
            Document, Document.fiche_id == Fiche.id).where(Document.public_id.in_(ids))))
    for ids in _chunks(by_type.get("convention", set())):
        for convention in session.scalars(select(Convention).where(
                Convention.public_id.in_(ids))):
            persons.update(persons_of_convention(session, convention))
    return persons


def _chunks(values: set[str], size: int = 500) -> Iterator[list[str]]:
    ordered = sorted(values)
    for start in range(0, len(ordered), size):
        yield ordered[start:start + size]


def held_due(session: Session, today: date) -> list[dict[str, Any]]:
    """Records kept only because of a legal hold: their horizon without the hold is past."""
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for hold in session.scalars(select(LegalHold).where(LegalHold.lifted_at.is_(None))
                                .order_by(LegalHold.id)):
        person = session.get(Person, hold.target_id) if hold.target_type == "person" else None
        if hold.target_type == "fiche":
            fiche = session.get(Fiche, hold.target_id)
            person = fiche.person if fiche is not None else None
        if person is None:
            continue
        unheld = load_file(session, person)
        unheld.held_person, unheld.held_fiches = False, set()
        compute(session, unheld)
        held = compute(session, load_file(session, person))
        records: list[tuple[str, str, date | None, date | None]] = []
        records += [("fiche", f.public_id, unheld.fiche_bases[f.id].horizon,
                     held.fiche_bases[f.id].horizon) for f in unheld.fiches]
        records += [("accompaniment", a.public_id, unheld.accompaniment_bases[a.id].horizon,
                     held.accompaniment_bases[a.id].horizon) for a in unheld.accompaniments]
        records += [("consent", c.public_id, unheld.consent_bases[c.id].horizon,
                     held.consent_bases[c.id].horizon) for c in unheld.consents]
        records.append(("person", person.public_id, unheld.person_basis.horizon,
                        held.person_basis.horizon))
        for kind, public_id, free, kept in records:
            if kept is None and free is not None and free < today:
                found.setdefault((kind, public_id), {
                    "kind": kind, "id": public_id, "hold": hold.public_id,
                    "reason": hold.reason_code, "reason_label": REASONS.get(hold.reason_code,
                                                                            "")})
    return list(found.values())

