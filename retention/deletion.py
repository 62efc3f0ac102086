"""Deleting due items, a batch at a time: what the sweep does between finding them and
shredding their blobs (`retention.sweep`).

A batch is up to `BATCH_SIZE` consecutive due items of one kind, handled in one database
transaction that the sweep opens and commits:

1. **Load** what every item of the batch needs with a few ``IN (...)`` queries: the rows, the
   fiches an accompaniment takes with it, the accompaniments that refer to a fiche, the active
   legal holds on the persons and fiches, the de-identified statistics facts
   (`statistics_missing`), the persons that still have records.
2. **Decide** each item in Python from those loads, in the order `find_due` gave: gone
   already, no longer due, still referenced, held (the skip is audited), statistics missing,
   or to delete. An error here concerns one item and writes nothing: it is logged by id and
   the item left for the next run.
3. **Write** the deletions of all the items decided in one savepoint, set-based: destroy the
   key wraps, record the blob names as doomed, delete the documents, receipts, marks, fiches,
   accompaniments, consents, then the persons left without records (their holds were checked
   in step 2) with their share keys recorded as doomed (`retention.shares`: the sweep
   destroys them once the batch commits), and append the audit events with
   `exchange.audit.trail.record_many`. If anything
   fails, the savepoint is rolled back and the items are written again one by one, each in
   its own savepoint (``session.begin_nested()``), so that only the item at fault is rolled
   back and reported.

So each item stays atomic, as if it had its own transaction: its checks and all its writes
commit together or not at all, and nothing of it can be seen half-deleted. What changed is
that a commit now covers a batch: a process killed in the middle of a batch loses the whole
batch (rolled back, redone by the next run) instead of one item, and an error on the commit
itself reports the whole batch. The cost of one item went from some fifteen statements and a
commit to a share of some twenty statements per batch: a hundred thousand deletions take
a minute or two instead of most of an hour (bench/bench_retention.py, retention/README.md).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Protocol, TypeVar

from sqlalchemy import ColumnElement, Row, delete, insert, inspect, select, update
from sqlalchemy.orm import InstrumentedAttribute, Session

from exchange.audit import trail as audit
from exchange.domain.clock import paris_date
from exchange.domain.dates import add_months
from exchange.domain.vocabulary import Axis, FicheState
from exchange.fiches.models import Accompaniment, Fiche, Receipt
from exchange.org.models import Convention
from exchange.persons.models import Consent, Person
from exchange.platform.models import Document, KeyWrap
from keys.store import KeyStore
from retention.horizons import (
    CONVENTION_END,
    DECIDED_STATES,
    DRAFT_ABANDONED,
    FOLLOWS_FICHES,
    FOLLOWS_RECORDS,
    MARKED,
    NO_LONGER_NEEDED,
    UNSENT_STATES,
    rule_of,
)
from retention.models import DoomedBlob, LegalHold, RetentionMark
from retention.shares import doom_subjects

log = logging.getLogger("liaison.retention")

BATCH_SIZE = 500
IN_CHUNK = 500  # values per IN (...): well under every driver's limit on bound parameters
STAT_TABLE = "stat_facts"
T = TypeVar("T")


@dataclass(frozen=True)
class DueItem:
    kind: str
    row_id: int
    public_id: str
    horizon: date
    axis: int | None = None
    convention_id: int | None = None
    person_id: int | None = None


def batches(items: Sequence[DueItem], size: int = BATCH_SIZE) -> Iterator[list[DueItem]]:
    """Consecutive items of one kind, ``size`` at most, in the order given: `find_due` puts
    what refers to a record before the record (fiches before their consent and person)."""
    batch: list[DueItem] = []
    for item in items:
        if batch and (len(batch) == size or batch[0].kind != item.kind):
            yield batch
            batch = []
        batch.append(item)
    if batch:
        yield batch


def chunked(values: Sequence[T], size: int = IN_CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(values), size):
        yield values[start:start + size]


class DeletionRules:
    """Which rule made an item due (before its marks are deleted), for the report."""

    def __init__(self, conventions: dict[int, Convention],
                 marked: set[tuple[str, int]]) -> None:
        self.conventions = conventions
        self.marked = marked
        self._latest: dict[tuple[int, int], date] = {}

    def __call__(self, convention_id: int | None, axis: int | None, day: date, kind: str,
                 row_id: int, state: str | None) -> str:
        convention = self.conventions.get(convention_id) if convention_id else None
        if convention is not None and axis is not None:
            latest = self._latest.get((convention.id, axis))
            if latest is None:
                latest = self._latest[(convention.id, axis)] = add_months(
                    convention.effective_end_date,
                    rule_of(convention).period_months(Axis(axis)))
            if day >= latest:
                return CONVENTION_END
        if (kind, row_id) in self.marked:
            return MARKED
        if state is not None and FicheState(state) in UNSENT_STATES:
            return DRAFT_ABANDONED
        return NO_LONGER_NEEDED


# -- statistics facts --------------------------------------------------------------------------


class FicheFacts(Protocol):
    """What matching a fiche with its statistics facts reads: a `Fiche` or a row of it."""

    @property
    def id(self) -> int: ...

    @property
    def kind(self) -> str: ...

    @property
    def axis(self) -> int: ...

    @property
    def convention_id(self) -> int: ...

    @property
    def sender_unit_id(self) -> int: ...

    @property
    def recipient_unit_id(self) -> int: ...

    @property
    def sent_at(self) -> datetime | None: ...


def statistics_missing(session: Session, fiches: Sequence[FicheFacts],
                       keystore: Callable[[], KeyStore]) -> set[int]:
    """The ids of the fiches whose de-identified statistics facts are not found
    (`retention.sweep.statistics_recorded` says what is matched), with a query or two for all
    of them. ``keystore`` is called only if a blind index has to be computed."""
    if not fiches or not has_stat_table(session):
        return set()
    from exchange.domain.indicators import month_of
    from exchange.domain.vocabulary import FicheKind
    from exchange.indicators.facts import ACCOMPANIMENT_PREFIX
    from exchange.indicators.models import StatFact
    from keys.personal import blind_index

    sent = {f.id: f for f in fiches
            if f.sent_at is not None and FicheKind(f.kind).is_orientation}
    if not sent:
        return set()
    started: dict[int, str] = {}
    for chunk in chunked(list(sent)):
        started.update((r[0], r[1]) for r in session.execute(
            select(Accompaniment.orientation_id, Accompaniment.public_id)
            .where(Accompaniment.orientation_id.in_(chunk))))
    missing: set[int] = set()
    if started:
        store = keystore()
        refs = {fiche_id: blind_index(store, ACCOMPANIMENT_PREFIX, public_id)
                for fiche_id, public_id in started.items()}
        found: set[str | None] = set()
        for some in chunked(sorted(set(refs.values()))):
            found.update(session.scalars(select(StatFact.accompaniment_ref).distinct()
                                         .where(StatFact.accompaniment_ref.in_(some))))
        missing.update(fiche_id for fiche_id, ref in refs.items() if ref not in found)
    wanted = {f.id: (f.convention_id, f.axis, f.sender_unit_id, f.recipient_unit_id,
                     month_of(paris_date(f.sent_at)))
              for f in sent.values() if f.id not in started and f.sent_at is not None}
    if wanted:
        conventions = sorted({key[0] for key in wanted.values()})
        months = sorted({key[4] for key in wanted.values()})
        facts: set[tuple[Any, ...]] = set()
        for chunk in chunked(conventions):
            facts.update(tuple(r) for r in session.execute(
                select(StatFact.convention_id, StatFact.axis, StatFact.sender_unit_id,
                       StatFact.receiving_unit_id, StatFact.month).distinct()
                .where(StatFact.event == "orientation_sent",
                       StatFact.convention_id.in_(chunk), StatFact.month.in_(months))))
        missing.update(fiche_id for fiche_id, key in wanted.items() if key not in facts)
    return missing


def has_stat_table(session: Session) -> bool:
    cached = session.info.get("liaison.stat_table")
    if cached is None:
        cached = inspect(session.connection()).has_table(STAT_TABLE)
        session.info["liaison.stat_table"] = cached
    return bool(cached)


# -- what a batch did --------------------------------------------------------------------------


@dataclass
class Outcome:
    """What a batch (or one item of it) did; the sweep adds it to its result once committed."""

    deleted: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)
    skipped_hold: list[dict[str, Any]] = field(default_factory=list)
    errors: list[dict[str, str]] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    subjects: list[str] = field(default_factory=list)
    """Persons deleted, whose share keys to destroy once committed."""
    documents: int = 0
    wraps: int = 0
    recompute: set[int] = field(default_factory=set)
    """Persons whose horizons to recompute after the deletions (something of theirs stays)."""
    settled: set[int] = field(default_factory=set)
    """Persons deleted: nothing left to recompute."""

    def add(self, other: Outcome) -> None:
        self.deleted.extend(other.deleted)
        self.skipped.extend(other.skipped)
        self.skipped_hold.extend(other.skipped_hold)
        self.errors.extend(other.errors)
        self.names.extend(other.names)
        self.subjects.extend(other.subjects)
        self.documents += other.documents
        self.wraps += other.wraps
        self.recompute |= other.recompute
        self.settled |= other.settled

    def error(self, item: DueItem, exc: BaseException) -> None:
        log.error("retention: %s %s not deleted (%s)", item.kind, item.public_id,
                  type(exc).__name__)
        self.errors.append({"kind": item.kind, "id": item.public_id,
                            "error": type(exc).__name__})


@dataclass
class _Plan:
    """What deleting one due item takes, decided from the batch's loads."""

    item: DueItem
    records: list[tuple[DueItem, str]]
    """What goes, in the audit's order, with the rule that made it due."""
    person_id: int | None = None
    """The person this may be the last record of."""
    fiche_ids: list[int] = field(default_factory=list)
    accompaniment_id: int | None = None
    consent_id: int | None = None
    person_row: int | None = None
    document_id: int | None = None


@dataclass(frozen=True)
class _Hold:
    id: int
    public_id: str
    target_type: str
    target_id: int
    reason_code: str


class _Holds:
    """The active legal holds on a batch's persons and fiches: one query for the batch."""

    def __init__(self, session: Session, persons: Iterable[int], fiches: Iterable[int]) -> None:
        self.first: dict[tuple[str, int], _Hold] = {}
        columns = (LegalHold.id, LegalHold.public_id, LegalHold.target_type,
                   LegalHold.target_id, LegalHold.reason_code)
        for kind, ids in (("person", sorted(set(persons))), ("fiche", sorted(set(fiches)))):
            for chunk in chunked(ids):
                for row in session.execute(select(*columns).where(
                        LegalHold.lifted_at.is_(None), LegalHold.target_type == kind,
                        LegalHold.target_id.in_(chunk))):
                    hold = _Hold(*row)
                    known = self.first.get((kind, hold.target_id))
                    if known is None or hold.id < known.id:
                        self.first[(kind, hold.target_id)] = hold

    def on(self, person_id: int, fiche_ids: Iterable[int]) -> _Hold | None:
        """The oldest hold on the person or one of the fiches (as `sweep.active_hold`)."""
        found = [self.first.get(("person", person_id))]
        found += [self.first.get(("fiche", f)) for f in fiche_ids]
        holds = [h for h in found if h is not None]
        return min(holds, key=lambda h: h.id) if holds else None


_FICHE = (Fiche.id, Fiche.public_id, Fiche.horizon, Fiche.state, Fiche.kind, Fiche.axis,
          Fiche.convention_id, Fiche.person_id, Fiche.accompaniment_id, Fiche.sent_at,
          Fiche.sender_unit_id, Fiche.recipient_unit_id)


def _rows(session: Session, columns: Sequence[Any], key: InstrumentedAttribute[Any],
          values: Sequence[Any]) -> list[Row[Any]]:
    found: list[Row[Any]] = []
    for chunk in chunked(values):
        found.extend(session.execute(select(*columns).where(key.in_(chunk))))
    return found


def _delete_in(session: Session, model: Any, key: InstrumentedAttribute[Any],
               values: Sequence[Any], *where: ColumnElement[bool]) -> int:
    count = 0
    for chunk in chunked(values):
        result = session.execute(delete(model).where(key.in_(chunk), *where)
                                 .execution_options(synchronize_session=False))
        count += int(result.rowcount)  # type: ignore[attr-defined]
    return count


def with_records(session: Session, person_ids: Sequence[int]) -> set[int]:
    """Which of these persons a fiche, accompaniment or consent still refers to."""
    found: set[int] = set()
    for chunk in chunked(person_ids):
        found.update(session.scalars(
            select(Fiche.person_id).where(Fiche.person_id.in_(chunk))
            .union(select(Accompaniment.person_id).where(Accompaniment.person_id.in_(chunk)),
                   select(Consent.person_id).where(Consent.person_id.in_(chunk)))))
    return found


def erase_notes(session: Session, kind: str, ids: Sequence[int]) -> None:
    """The held data is going: so does the DPO's note about it (the reason code stays)."""
    for chunk in chunked(ids):
        session.execute(update(LegalHold).where(LegalHold.target_type == kind,
                                                LegalHold.target_id.in_(chunk))
                        .values(sealed_note=None).execution_options(synchronize_session=False))


def _unique(values: Iterable[T]) -> list[T]:
    return list(dict.fromkeys(values))


# -- the batch ---------------------------------------------------------------------------------


@dataclass
class DeletedRows:
    """What `delete_records` removed: documents (public ids), their blobs (doomed: shredded once
    the transaction commits), key wraps, receipts (public ids)."""

    documents: list[str] = field(default_factory=list)
    blobs: list[str] = field(default_factory=list)
    wraps: int = 0
    receipts: list[str] = field(default_factory=list)


def delete_records(session: Session, *, fiche_ids: Sequence[int] = (),
                   accompaniment_ids: Sequence[int] = (), consent_ids: Sequence[int] = (),
                   document_ids: Sequence[int] = (),
                   fault: Callable[[str], None] = lambda _: None) -> DeletedRows:
    """Delete these fiches, accompaniments and consents with everything that hangs on them (and
    these documents): key wraps first, then the documents, their blobs recorded as doomed
    (`DoomedBlob`), receipts, early marks, legal-hold notes, accompaniments, fiches, consents.
    The one deletion of records, for the retention sweep and for an erasure on request alike;
    set-based, in the caller's transaction. Persons are the caller's."""
    done = DeletedRows()
    documents: dict[int, tuple[str, str]] = {}
    for key, ids in ((Document.fiche_id, fiche_ids),
                     (Document.accompaniment_id, accompaniment_ids),
                     (Document.consent_id, consent_ids), (Document.id, document_ids)):
        documents.update((r.id, (r.public_id, r.blob)) for r in _rows(
            session, (Document.id, Document.public_id, Document.blob), key, ids))
    done.documents = [public_id for public_id, _ in documents.values()]
    done.blobs = [blob for _, blob in documents.values()]
    done.wraps = _delete_in(session, KeyWrap, KeyWrap.document_id, list(documents))
    fault("wraps_destroyed")
    if done.blobs:
        session.execute(insert(DoomedBlob), [{"name": name} for name in done.blobs])
    _delete_in(session, Document, Document.id, list(documents))
    done.receipts = [r.public_id for r in _rows(session, (Receipt.public_id,), Receipt.fiche_id,
                                                fiche_ids)]
    _delete_in(session, Receipt, Receipt.fiche_id, fiche_ids)
    _delete_in(session, RetentionMark, RetentionMark.target_id, fiche_ids,
               RetentionMark.target_type == "fiche")
    _delete_in(session, RetentionMark, RetentionMark.target_id, accompaniment_ids,
               RetentionMark.target_type == "accompaniment")
    erase_notes(session, "fiche", fiche_ids)
    if accompaniment_ids:  # they and their fiches (kept ones too) refer to each other
        for key, ids in ((Fiche.id, fiche_ids), (Fiche.accompaniment_id, accompaniment_ids)):
            for chunk in chunked(list(ids)):
                session.execute(update(Fiche).where(key.in_(chunk)).values(accompaniment_id=None)
                                .execution_options(synchronize_session=False))
    _delete_in(session, Accompaniment, Accompaniment.id, accompaniment_ids)
    _delete_in(session, Fiche, Fiche.id, fiche_ids)
    _delete_in(session, Consent, Consent.id, consent_ids)
    return done


class Deleter:
    """Deletes batches of due items as of one sweep's day; `delete` works in the caller's
    transaction and leaves the commit to it."""

    def __init__(self, *, now: datetime, today: date, conventions: dict[int, Convention],
                 marked: set[tuple[str, int]], keystore: Callable[[Session], KeyStore],
                 fault: Callable[[str], None]) -> None:
        self.now = now
        self.today = today
        self.conventions = conventions
        self.rule = DeletionRules(conventions, marked)
        self.keystore = keystore
        self.fault = fault

    def delete(self, session: Session, items: Sequence[DueItem]) -> Outcome:
        """Load, decide and write one batch of items of one kind (see the module's doc)."""
        if not items:
            return Outcome()
        kind = items[0].kind
        assert all(item.kind == kind for item in items)
        outcome = Outcome()
        held: list[audit.Entry] = []
        planner = {"accompaniment": self._plan_accompaniments, "fiche": self._plan_fiches,
                   "consent": self._plan_consents, "person": self._plan_persons,
                   "document": self._plan_documents}[kind]
        plans = planner(session, items, outcome, held)
        audit.record_many(session, held)
        self._write(session, kind, plans, outcome)
        return outcome

    # -- deciding ------------------------------------------------------------------------------

    def _each(self, items: Sequence[DueItem], outcome: Outcome,
              decide: Callable[[DueItem], _Plan | None]) -> list[_Plan]:
        plans = []
        for item in items:
            try:
                plan = decide(item)
            except Exception as exc:
                outcome.error(item, exc)
                continue
            if plan is not None:
                plans.append(plan)
        return plans

    def _still_due(self, day: date | None) -> bool:
        return day is not None and day < self.today

    def _skip(self, outcome: Outcome, item: DueItem, why: str) -> None:
        outcome.skipped.append({"kind": item.kind, "id": item.public_id, "why": why})
        if item.person_id is not None:
            outcome.recompute.add(item.person_id)

    def _held(self, outcome: Outcome, held: list[audit.Entry], holds: _Holds, item: DueItem,
              person_id: int, fiche_ids: Iterable[int]) -> bool:
        hold = holds.on(person_id, fiche_ids)
        if hold is None:
            return False
        outcome.skipped_hold.append({"kind": item.kind, "id": item.public_id,
                                     "hold": hold.public_id, "reason": hold.reason_code})
        held.append(audit.Entry("retention.skipped_hold", self.now, object_type=item.kind,
                                object_id=item.public_id, purpose="legal_hold"))
        outcome.recompute.add(person_id)
        return True

    def _missing_statistics(self, session: Session, fiches: Iterable[Any]) -> set[int]:
        return statistics_missing(session, [f for f in fiches if f.sent_at is not None],
                                  lambda: self.keystore(session))

    def _plan_accompaniments(self, session: Session, items: Sequence[DueItem],
                             outcome: Outcome, held: list[audit.Entry]) -> list[_Plan]:
        rows = {r.id: r for r in _rows(
            session, (Accompaniment.id, Accompaniment.horizon, Accompaniment.person_id,
                      Accompaniment.orientation_id, Accompaniment.convention_id,
                      Accompaniment.axis), Accompaniment.id, [i.row_id for i in items])}
        orientation_of = {r.orientation_id: r.id for r in rows.values()}
        fiches = {f.id: f for f in _rows(session, _FICHE, Fiche.accompaniment_id, list(rows))}
        fiches.update((f.id, f) for f in _rows(session, _FICHE, Fiche.id, list(orientation_of)))
        belongs: dict[int, list[Any]] = {}
        for fiche in sorted(fiches.values(), key=lambda f: f.id):
            owners = {fiche.accompaniment_id, orientation_of.get(fiche.id)} & rows.keys()
            for owner in owners:
                belongs.setdefault(owner, []).append(fiche)
        holds = _Holds(session, (r.person_id for r in rows.values()), fiches)
        missing = self._missing_statistics(session, fiches.values())
        claimed: set[int] = set()

        def decide(item: DueItem) -> _Plan | None:
            a = rows.get(item.row_id)
            if a is None:
                return None
            if not self._still_due(a.horizon):
                self._skip(outcome, item, "not_due")
                return None
            its = [f for f in belongs.get(a.id, []) if f.id not in claimed]
            if self._held(outcome, held, holds, item, a.person_id, [f.id for f in its]):
                return None
            if any(f.id in missing for f in its):
                self._skip(outcome, item, "statistics_missing")
                return None
            self.fault("accompaniment:checked")
            records = [(item, self.rule(a.convention_id, a.axis, item.horizon,
                                         "accompaniment", a.id, None))]
            records += [(DueItem("fiche", f.id, f.public_id, item.horizon, f.axis,
                                 f.convention_id, f.person_id),
                         self.rule(f.convention_id, f.axis, item.horizon, "fiche", f.id,
                                    f.state)) for f in its]
            claimed.update(f.id for f in its)
            return _Plan(item, records, person_id=a.person_id, fiche_ids=[f.id for f in its],
                         accompaniment_id=a.id)

        return self._each(items, outcome, decide)

    def _plan_fiches(self, session: Session, items: Sequence[DueItem], outcome: Outcome,
                     held: list[audit.Entry]) -> list[_Plan]:
        rows = {r.id: r for r in _rows(session, _FICHE, Fiche.id, [i.row_id for i in items])}
        oriented = {r[0] for r in _rows(session, (Accompaniment.orientation_id,),
                                        Accompaniment.orientation_id, list(rows))}
        holds = _Holds(session, (r.person_id for r in rows.values()), rows)
        missing = self._missing_statistics(session, rows.values())

        def decide(item: DueItem) -> _Plan | None:
            fiche = rows.get(item.row_id)
            if fiche is None:
                return None
            if not self._still_due(fiche.horizon):
                self._skip(outcome, item, "not_due")
                return None
            if FicheState(fiche.state) not in DECIDED_STATES and (
                    fiche.accompaniment_id is not None or fiche.id in oriented):
                # It goes with its accompaniment, which refers to it.
                self._skip(outcome, item, "follows_accompaniment")
                return None
            if self._held(outcome, held, holds, item, fiche.person_id, [fiche.id]):
                return None
            if fiche.id in missing:
                self._skip(outcome, item, "statistics_missing")
                return None
            self.fault("fiche:checked")
            rule = self.rule(fiche.convention_id, fiche.axis, item.horizon, "fiche",
                              fiche.id, fiche.state)
            return _Plan(item, [(item, rule)], person_id=fiche.person_id,
                         fiche_ids=[fiche.id])

        return self._each(items, outcome, decide)

    def _plan_consents(self, session: Session, items: Sequence[DueItem], outcome: Outcome,
                       held: list[audit.Entry]) -> list[_Plan]:
        rows = {r.id: r for r in _rows(
            session, (Consent.id, Consent.horizon, Consent.person_id), Consent.id,
            [i.row_id for i in items])}
        referenced = {r[0] for r in _rows(session, (Fiche.consent_id,), Fiche.consent_id,
                                          list(rows))}
        holds = _Holds(session, (r.person_id for r in rows.values()), ())

        def decide(item: DueItem) -> _Plan | None:
            consent = rows.get(item.row_id)
            if consent is None:
                return None
            if not self._still_due(consent.horizon):
                self._skip(outcome, item, "not_due")
                return None
            if consent.id in referenced:
                self._skip(outcome, item, "still_referenced")
                return None
            if self._held(outcome, held, holds, item, consent.person_id, ()):
                return None
            self.fault("consent:checked")
            return _Plan(item, [(item, FOLLOWS_FICHES)], person_id=consent.person_id,
                         consent_id=consent.id)

        return self._each(items, outcome, decide)

    def _plan_persons(self, session: Session, items: Sequence[DueItem], outcome: Outcome,
                      held: list[audit.Entry]) -> list[_Plan]:
        rows = {r.id: r for r in _rows(session, (Person.id, Person.horizon), Person.id,
                                       [i.row_id for i in items])}
        referenced = with_records(session, list(rows))
        holds = _Holds(session, rows, ())

        def decide(item: DueItem) -> _Plan | None:
            person = rows.get(item.row_id)
            if person is None:
                return None
            if not self._still_due(person.horizon):
                self._skip(outcome, item, "not_due")
                return None
            if person.id in referenced:
                self._skip(outcome, item, "still_referenced")
                return None
            if self._held(outcome, held, holds, item, person.id, ()):
                return None
            self.fault("person:checked")
            return _Plan(item, [(item, FOLLOWS_RECORDS)], person_row=person.id)

        return self._each(items, outcome, decide)

    def _plan_documents(self, session: Session, items: Sequence[DueItem], outcome: Outcome,
                        held: list[audit.Entry]) -> list[_Plan]:
        rows = {r.id: r for r in _rows(session, (Document.id, Document.horizon), Document.id,
                                       [i.row_id for i in items])}

        def decide(item: DueItem) -> _Plan | None:
            document = rows.get(item.row_id)
            if document is None or not self._still_due(document.horizon):
                return None
            return _Plan(item, [(item, NO_LONGER_NEEDED)], document_id=document.id)

        return self._each(items, outcome, decide)

    # -- writing -------------------------------------------------------------------------------

    def _write(self, session: Session, kind: str, plans: list[_Plan],
               outcome: Outcome) -> None:
        """All the plans in one savepoint; if that fails, each plan in its own."""
        if not plans:
            return
        try:
            with session.begin_nested():
                done = self._apply(session, kind, plans)
        except Exception as exc:
            if len(plans) == 1:
                outcome.error(plans[0].item, exc)
                return
            log.warning("retention: a batch of %d %s items failed (%s); one at a time now",
                        len(plans), kind, type(exc).__name__)
            for plan in plans:
                try:
                    with session.begin_nested():
                        done = self._apply(session, kind, [plan])
                except Exception as exc_one:
                    outcome.error(plan.item, exc_one)
                    continue
                outcome.add(done)
            return
        outcome.add(done)

    def _apply(self, session: Session, kind: str, plans: Sequence[_Plan]) -> Outcome:
        done = Outcome()
        fiche_ids = _unique(i for p in plans for i in p.fiche_ids)
        document_items = [p.document_id for p in plans if p.document_id]
        rows = delete_records(
            session, fiche_ids=fiche_ids,
            accompaniment_ids=[p.accompaniment_id for p in plans if p.accompaniment_id],
            consent_ids=[p.consent_id for p in plans if p.consent_id],
            document_ids=document_items, fault=self.fault)
        done.names, done.wraps = rows.blobs, rows.wraps
        done.documents = len(rows.documents) - len(document_items)  # those count as items
        self.fault(f"{kind}:rows_deleted")

        # A person goes with their last record; their holds were checked with the record's.
        candidates = _unique(p.person_id for p in plans if p.person_id is not None)
        kept = with_records(session, candidates)
        gone = {r.id: r for r in _rows(session, (Person.id, Person.public_id, Person.horizon),
                                       Person.id, [c for c in candidates if c not in kept])}
        persons = [p.person_row for p in plans if p.person_row] + list(gone)
        erase_notes(session, "person", persons)
        _delete_in(session, Person, Person.id, persons)
        done.subjects = [p.item.public_id for p in plans if p.person_row] + [
            r.public_id for r in gone.values()]
        doom_subjects(session, done.subjects, self.now)
        done.recompute = kept
        done.settled = set(persons)

        last = {p.person_id: index for index, p in enumerate(plans)}
        records: list[tuple[DueItem, str]] = []
        for index, plan in enumerate(plans):
            records += plan.records
            person = gone.get(plan.person_id) if plan.person_id is not None else None
            if person is not None and last[person.id] == index:
                records.append((DueItem("person", person.id, person.public_id,
                                        person.horizon or self.today, None, None, person.id),
                                FOLLOWS_RECORDS))
        audit.record_many(session, [
            audit.Entry("retention.deleted", self.now, object_type=item.kind,
                        object_id=item.public_id) for item, _ in records])
        done.deleted = [self.entry(item, rule) for item, rule in records]
        self.fault(f"{kind}:audited")
        return done

    def entry(self, item: DueItem, rule: str) -> dict[str, Any]:
        """An item as the report lists it."""
        convention = self.conventions.get(item.convention_id) if item.convention_id else None
        return {"kind": item.kind, "id": item.public_id, "axis": item.axis,
                "convention": convention.public_id if convention is not None else None,
                "horizon": item.horizon.isoformat(), "rule": rule}
