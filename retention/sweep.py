"""The retention sweep: deletes, on time, everything whose horizon is past.

One run (`run_sweep`), under the cross-process lock of `retention.lock`:

1. shreds the blobs a previous, interrupted run left to shred (``retention_doomed_blobs``);
2. catches up the horizons with what changed since the last run: every state change is
   audited in its own transaction, so the audit events after the stored watermark name the
   fiches, accompaniments, consents, persons and conventions whose horizons may have moved
   (`retention.horizons`, epochs moved as needed);
3. takes the due items (`find_due`: ``horizon < :today`` on indexed columns, no scan) and
   deletes them in batches (`retention.deletion`), one transaction per batch and a savepoint
   per item when a batch's writes fail: re-check the legal holds, check the de-identified
   statistics rows exist, destroy the key wraps, delete the document rows (their blob names
   go to ``retention_doomed_blobs`` in the same transaction), receipts, fiches,
   accompaniment, consent, and the person when nothing else refers to them, and audit each
   deletion by id. Each item is atomic: all of it commits or none of it. After a batch
   commits, the share keys of the persons it deleted are destroyed (`keys.shares`, one
   filesystem flush per batch), its blobs are overwritten, flushed to disk with one
   filesystem sync and unlinked (`FolderBlobStore.delete_many`), and their doomed rows
   removed. An error on one item is
   logged by id and the sweep goes on; a process killed anywhere leaves either a
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
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Protocol

from sqlalchemy import delete, exists, select, update
from sqlalchemy.orm import Session

from exchange.audit import trail as audit
from exchange.audit.models import AuditEvent
from exchange.domain.clock import paris_date
from exchange.fiches.models import Accompaniment, Fiche
from exchange.org.models import Convention
from exchange.persons.models import Consent, Person
from exchange.platform.blobs import BlobError, BlobStore, FolderBlobStore
from exchange.platform.db import Database
from exchange.platform.documents import DocumentStore
from exchange.platform.models import Document
from keys.personal import PersonalFields
from keys.shares import ShareKeyStore
from keys.store import KeyStore
from retention.deletion import (
    Deleter,
    DueItem,
    batches,
    chunked,
    statistics_missing,
)
from retention.deletion import Outcome as Deleted
from retention.holds import REASONS
from retention.horizons import (
    FOLLOWS_FICHES,
    FOLLOWS_RECORDS,
    Outcome,
    Sealing,
    compute,
    load_file,
    persons_of_convention,
    recompute_for_person,
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
from retention.shares import finish_doomed
from retention.shares import forget as forget_shares

log = logging.getLogger("liaison.retention")

BLOB_BATCH = 1000
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
    """What the sweep needs: `exchange.platform.services.Services` is one."""

    @property
    def db(self) -> Database: ...

    @property
    def blobs(self) -> BlobStore: ...

    def keystore(self, session: Session) -> KeyStore: ...

    @property
    def share_keys(self) -> ShareKeyStore: ...

    def documents(self, session: Session) -> DocumentStore: ...

    def personal(self, session: Session) -> PersonalFields: ...


def no_fault(step: str) -> None:
    """Tests replace this to fail (or be killed) between two steps."""


# -- what is due -------------------------------------------------------------------------------


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
    """Whether the de-identified statistics rows of a fiche exist (`exchange.indicators.facts`), so
    that deleting it leaves the indicators unchanged.

    Facts name no fiche (by design), so the check is what can be matched: an accepted
    orientation's accompaniment has facts under its opaque reference; a sent orientation has an
    ``orientation_sent`` fact for its convention, units, axis and month. Bilans, returns and
    fiches never sent write no fact. True while the ``stat_facts`` table does not exist. The
    sweep checks a whole batch at once (`retention.deletion.statistics_missing`)."""
    return fiche.id not in statistics_missing(session, [fiche], lambda: keystore)


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
    share_keys: int = 0
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
            "share_keys_destroyed": self.share_keys,
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
        """Blobs whose rows are deleted and committed, to shred."""
        self.shredding: Future[list[str]] | None = None
        """The group of blobs being shredded in the background while the next batch goes on."""
        self.shredded: list[str] = []
        """Blobs shredded whose doomed rows are still to delete."""
        self.shares_done: list[str] = []
        """Persons whose share keys are destroyed, whose doomed rows are still to delete."""
        self.recompute: set[int] = set()
        self.conventions: dict[int, Convention] = {}
        self.marked: set[tuple[str, int]] = set()
        self._renewed = time.monotonic()

    # -- entry points --------------------------------------------------------------------------

    def dry_run(self) -> SweepResult:
        started = time.monotonic()
        self.result.status = "dry_run"
        session = self.svc.db.sessions()
        try:
            self._refresh_in(session, sealing=None)
            self._load_conventions(session)
            deleter = self._deleter()
            for item in find_due(session, self.today):
                rule = FOLLOWS_RECORDS if item.kind == "person" else (
                    FOLLOWS_FICHES if item.kind == "consent" else deleter.rule(
                        item.convention_id, item.axis, item.horizon, item.kind, item.row_id,
                        None))
                self.result.deleted.append(deleter.entry(item, rule))
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
        with ThreadPoolExecutor(BLOB_WORKERS, thread_name_prefix="shred") as pool, \
                ThreadPoolExecutor(1, thread_name_prefix="shred-group") as shredder:
            self.pool, self.shredder = pool, shredder
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
            deleter = self._deleter()
            for batch in batches(due):
                self._batch(deleter, batch)
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

    def _load_conventions(self, session: Session) -> None:
        """Conventions, and which targets have marks: few rows, read once, that say which
        rule made an item due."""
        self.marked = {(r[0], r[1]) for r in session.execute(
            select(RetentionMark.target_type, RetentionMark.target_id))}
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

    def _batch(self, deleter: Deleter, items: list[DueItem]) -> None:
        """One batch of due items of one kind, in one transaction (`retention.deletion`),
        which also forgets the doomed rows of the blobs shredded meanwhile."""
        self._collect(wait=False)
        forget, forget_subjects = self.shredded, self.shares_done
        try:
            with self.svc.db.unit_of_work() as session:
                _forget(session, forget)
                forget_shares(session, forget_subjects)
                done = deleter.delete(session, items)
        except Exception as exc:
            # Nothing of the batch was committed: every item of it is left for the next run.
            failed = Deleted()
            for item in items:
                failed.error(item, exc)
            self.result.errors.extend(failed.errors)
            self._renew()
            return
        self.shredded = self.shredded[len(forget):]
        self.shares_done = self.shares_done[len(forget_subjects):]
        self._merge(done)
        self.fault(f"{items[0].kind}:committed")
        self._destroy_shares(done.subjects)
        self.doomed.extend(done.names)
        if len(self.doomed) >= BLOB_BATCH and (self.shredding is None
                                               or self.shredding.done()):
            # The group shreds while the next batches are deleted; if it is slower than
            # they are, the next group is bigger.
            self._collect(wait=True)
            names, self.doomed = self.doomed, []
            self.shredding = self.shredder.submit(self._shred_group, names)
        self._renew()

    def _merge(self, done: Deleted) -> None:
        self.result.deleted.extend(done.deleted)
        self.result.skipped.extend(done.skipped)
        self.result.skipped_hold.extend(done.skipped_hold)
        self.result.errors.extend(done.errors)
        self.result.documents += done.documents
        self.result.wraps += done.wraps
        self.recompute |= done.recompute
        self.recompute -= done.settled

    def _deleter(self) -> Deleter:
        return Deleter(now=self.now, today=self.today, conventions=self.conventions,
                       marked=self.marked, keystore=self.svc.keystore, fault=self.fault)

    # -- blobs, epochs, report -----------------------------------------------------------------

    def _destroy_shares(self, subjects: list[str]) -> None:
        """The share keys of the persons a committed batch deleted (their doomed rows go in
        the next transaction; if this fails, the next run destroys them)."""
        if not subjects:
            return
        try:
            self.result.share_keys += self.svc.share_keys.destroy_subjects(subjects)
        except OSError as exc:
            log.error("retention: share keys of %d person(s) not destroyed yet (%s)",
                      len(subjects), type(exc).__name__)
            self.result.errors.append({"kind": "share_keys", "id": str(len(subjects)),
                                       "error": type(exc).__name__})
            return
        self.fault("shares_destroyed")
        self.shares_done.extend(subjects)

    def _shred_leftovers(self) -> None:
        """What an earlier run (or an erasure) doomed and a crash left: blobs to shred, share
        keys to destroy."""
        with self.svc.db.unit_of_work() as session:
            self.doomed.extend(session.scalars(select(DoomedBlob.name)))
            finish_doomed(session, self.svc.share_keys)
        self._shred()

    def _shred(self) -> None:
        """Shred every doomed blob left (their rows are committed as deleted) and forget
        them: waits for the group shredding in the background first."""
        self._collect(wait=True)
        names, self.doomed = self.doomed, []
        for group in chunked(names, BLOB_BATCH):
            self._shredded(self._shred_group(group))
        if self.shredded or self.shares_done:
            with self.svc.db.unit_of_work() as session:
                _forget(session, self.shredded)
                forget_shares(session, self.shares_done)
            self.shredded, self.shares_done = [], []

    def _collect(self, *, wait: bool) -> None:
        """Take the names the background group shredded (raising what it raised)."""
        if self.shredding is not None and (wait or self.shredding.done()):
            done, self.shredding = self.shredding.result(), None
            self._shredded(done)

    def _shredded(self, names: list[str]) -> None:
        self.shredded.extend(names)
        self.result.blobs += len(names)

    def _shred_group(self, names: Sequence[str]) -> list[str]:
        store = self.svc.blobs
        if isinstance(store, FolderBlobStore):
            # Zeros over every file, one flush of the filesystem, then the unlinks.
            try:
                done = store.delete_many(names, self.pool)
            except BlobError:
                log.warning("retention: %d blob(s) not shredded yet", len(names))
                done = []
        else:
            done = [n for n, ok in zip(names, self.pool.map(
                lambda n: _shred_one(store, n), names), strict=True) if ok]
        self.fault("blobs_shredded")
        return done

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


def _forget(session: Session, names: Sequence[str]) -> None:
    """The doomed rows of shredded blobs."""
    for chunk in chunked(names):
        session.execute(delete(DoomedBlob).where(DoomedBlob.name.in_(chunk)))


def _shred_one(store: BlobStore, name: str) -> bool:
    try:
        store.delete(name)
    except BlobError:
        log.warning("retention: blob %s not shredded yet", name)
        return False
    return True


# -- queries the sweep and the screens share ---------------------------------------------------


def active_hold(session: Session, person_id: int, fiche_ids: Iterable[int]) -> LegalHold | None:
    ids = list(fiche_ids)
    condition = (LegalHold.target_type == "person") & (LegalHold.target_id == person_id)
    if ids:
        condition = condition | ((LegalHold.target_type == "fiche")
                                 & LegalHold.target_id.in_(ids))
    return session.scalar(select(LegalHold).where(LegalHold.lifted_at.is_(None), condition)
                          .order_by(LegalHold.id).limit(1))


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

