"""Computing and storing the horizon of every record that holds personal data.

The unit of computation is a **person with everything that refers to them**: their fiches
(with documents and receipts), accompaniments (with documents), consents (with documents),
the legal holds on them or on one of their fiches, and the referents' early marks. Every
horizon of that set depends only on it, so `recompute_for_person` sets them all at once and
the other entry points (`recompute_for_fiche`, `..._for_accompaniment`, `..._for_consent`,
`..._for_convention`) name the persons to recompute.

Rules (`retention.policy` for the arithmetic):

- a fiche: ``min(end of convention + axis period, no-longer-needed + grace)``, where the
  no-longer-needed date is its decision date when declined, cancelled or recalled, the exit
  date of the accompaniment it belongs to, or a referent's mark; a fiche never sent (draft,
  signed, countersigned) is abandoned 12 months after it was last touched, the lifetime
  `exchange.fiches.drafts.working_epoch` seals drafts for;
- an accompaniment: the same, from its exit date (or a mark); the fiches that belong to it
  (the accepted orientation, bilans, returns) live exactly as long as it does, since they
  refer to each other;
- a consent: as long as the longest-lived fiche sent under it; an unused one, the rule of the
  conventions between the collecting and the recipient institution, from its withdrawal;
- documents and receipts: their parent's horizon;
- the person: the longest-lived of all the above (`policy.person_horizon`), or 30 days after
  creation when nothing refers to them;
- a legal hold on the person holds all of it; a hold on a fiche holds the fiche and, when it
  belongs to an accompaniment, the accompaniment and its fiches (they cannot be deleted apart).
  Held records have a NULL horizon; the person's then is NULL too.

Data keys are sealed under the retention epoch (month) of the horizon. When a horizon moves to
another month and is not already past, `move_epoch` re-seals the document under the new epoch
(in place: same row, same public id) and `PersonalFields.reseal` re-seals the person's key, so
that each epoch key can be destroyed as soon as its month is over.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from exchange.accounts.models import User
from exchange.domain.clock import paris_date
from exchange.domain.dates import add_months
from exchange.domain.vocabulary import Axis, FicheState
from exchange.fiches.models import Accompaniment, Fiche, Receipt
from exchange.org.models import Convention
from exchange.persons.models import Consent, Person
from exchange.platform.blobs import BlobError, delete_after_commit, write_in_transaction
from exchange.platform.documents import DocumentStore
from exchange.platform.models import Document, KeyWrap
from keys.envelope import Header
from keys.errors import KeysError
from keys.personal import PersonalFields
from retention.models import LegalHold, RetentionMark
from retention.policy import RetentionRule, epoch_of, horizon, person_horizon

log = logging.getLogger("liaison.retention")

DRAFT_LIFETIME_MONTHS = 12
ORPHAN_PERSON_DAYS = 30
FALLBACK_CONSENT_MONTHS = 2
UNSENT_STATES = frozenset({FicheState.DRAFT, FicheState.SIGNED, FicheState.COUNTERSIGNED})
DECIDED_STATES = frozenset({FicheState.DECLINED, FicheState.CANCELLED, FicheState.RECALLED})

# Why a record has the horizon it has (shown in notices, written in deletion reports).
CONVENTION_END = "convention_end"
NO_LONGER_NEEDED = "no_longer_needed"
MARKED = "marked"
DRAFT_ABANDONED = "draft_abandoned"
FOLLOWS_ACCOMPANIMENT = "follows_accompaniment"
FOLLOWS_FICHES = "follows_fiches"
FOLLOWS_RECORDS = "follows_records"
ORPHAN = "orphan"
HELD = "legal_hold"


@dataclass(frozen=True)
class Basis:
    """A computed horizon and the rule that gave it: ``since`` is the date the rule counts
    from (the convention's end, the no-longer-needed day...)."""

    horizon: date | None
    rule: str
    since: date | None = None


HELD_BASIS = Basis(None, HELD)


@dataclass(frozen=True)
class Sealing:
    """What moving data keys to another epoch needs. Without it (None), horizons are
    computed and stored but nothing is re-sealed (dry runs, previews)."""

    documents: DocumentStore
    personal: PersonalFields
    today: date


@dataclass
class Outcome:
    """What one recomputation changed."""

    persons: int = 0
    changed: int = 0
    documents_moved: int = 0
    person_keys_moved: int = 0
    move_failures: list[str] = field(default_factory=list)

    def add(self, other: Outcome) -> None:
        self.persons += other.persons
        self.changed += other.changed
        self.documents_moved += other.documents_moved
        self.person_keys_moved += other.person_keys_moved
        self.move_failures.extend(other.move_failures)


def rule_of(convention: Convention) -> RetentionRule:
    return RetentionRule(grace_days=convention.grace_days, axis_period_months={
        Axis.AXE2: convention.retention_axis2_months,
        Axis.AXE3: convention.retention_axis3_months})


def policy_basis(convention: Convention, axis: Axis, no_longer_needed: date | None,
                 why: str = NO_LONGER_NEEDED) -> Basis:
    """The earlier of the convention's "au plus tard" and no-longer-needed + grace."""
    rule = rule_of(convention)
    end = convention.effective_end_date
    latest = horizon(end, axis, rule)
    day = horizon(end, axis, rule, no_longer_needed)
    if no_longer_needed is not None and day < latest:
        return Basis(day, why, no_longer_needed)
    return Basis(latest, CONVENTION_END, end)


def _earliest(*days: tuple[date | None, str]) -> tuple[date | None, str]:
    known = [(d, why) for d, why in days if d is not None]
    return min(known) if known else (None, NO_LONGER_NEEDED)


# -- the person's file -------------------------------------------------------------------------


@dataclass
class PersonFile:
    """A person and everything whose horizon depends on them, with the computed bases."""

    person: Person
    fiches: list[Fiche]
    accompaniments: list[Accompaniment]
    consents: list[Consent]
    held_person: bool
    held_fiches: set[int]
    marks: dict[tuple[str, int], date]
    fiche_bases: dict[int, Basis] = field(default_factory=dict)
    accompaniment_bases: dict[int, Basis] = field(default_factory=dict)
    consent_bases: dict[int, Basis] = field(default_factory=dict)
    person_basis: Basis = HELD_BASIS


def load_file(session: Session, person: Person) -> PersonFile:
    fiches = list(session.scalars(select(Fiche).where(Fiche.person_id == person.id)
                                  .order_by(Fiche.id)))
    accompaniments = list(session.scalars(
        select(Accompaniment).where(Accompaniment.person_id == person.id)
        .order_by(Accompaniment.id)))
    consents = list(session.scalars(select(Consent).where(Consent.person_id == person.id)
                                    .order_by(Consent.id)))
    fiche_ids = [f.id for f in fiches]
    holds = session.execute(select(LegalHold.target_type, LegalHold.target_id).where(
        LegalHold.lifted_at.is_(None),
        or_((LegalHold.target_type == "person") & (LegalHold.target_id == person.id),
            (LegalHold.target_type == "fiche") & LegalHold.target_id.in_(fiche_ids)))).all()
    targets = [("fiche", i) for i in fiche_ids] + [("accompaniment", a.id)
                                                   for a in accompaniments]
    marks: dict[tuple[str, int], date] = {}
    if targets:
        for mark in session.scalars(select(RetentionMark).where(
                RetentionMark.target_type.in_({t for t, _ in targets}),
                RetentionMark.target_id.in_({i for _, i in targets}))):
            if (mark.target_type, mark.target_id) in targets:
                marks[(mark.target_type, mark.target_id)] = mark.no_longer_needed_on
    return PersonFile(
        person=person, fiches=fiches, accompaniments=accompaniments, consents=consents,
        held_person=any(t == "person" for t, _ in holds),
        held_fiches={i for t, i in holds if t == "fiche"}, marks=marks)


def compute(session: Session, file: PersonFile) -> PersonFile:
    """Fill the bases of every record of the file (no write)."""
    by_accompaniment: dict[int, list[Fiche]] = {}
    for fiche in file.fiches:
        if fiche.accompaniment_id is not None:
            by_accompaniment.setdefault(fiche.accompaniment_id, []).append(fiche)
    orientation_of = {a.orientation_id: a for a in file.accompaniments}

    for a in file.accompaniments:
        members = [f for f in by_accompaniment.get(a.id, [])
                   if FicheState(f.state) not in DECIDED_STATES]
        if file.held_person or any(f.id in file.held_fiches
                                   for f in [*members, *_orientation(file, a)]):
            file.accompaniment_bases[a.id] = HELD_BASIS
            continue
        day, why = _earliest((a.exit_date, NO_LONGER_NEEDED),
                             (file.marks.get(("accompaniment", a.id)), MARKED))
        file.accompaniment_bases[a.id] = policy_basis(a.convention, Axis(a.axis), day, why)

    for fiche in file.fiches:
        file.fiche_bases[fiche.id] = _fiche_basis(file, fiche, orientation_of)

    for consent in file.consents:
        file.consent_bases[consent.id] = _consent_basis(session, file, consent)

    file.person_basis = _person_basis(file)
    return file


def _orientation(file: PersonFile, a: Accompaniment) -> list[Fiche]:
    return [f for f in file.fiches if f.id == a.orientation_id]


def _fiche_basis(file: PersonFile, fiche: Fiche,
                 orientation_of: dict[int, Accompaniment]) -> Basis:
    if file.held_person or fiche.id in file.held_fiches:
        return HELD_BASIS
    state = FicheState(fiche.state)
    accompaniment = orientation_of.get(fiche.id)
    if accompaniment is None and fiche.accompaniment_id is not None and \
            state not in DECIDED_STATES:
        accompaniment = next((a for a in file.accompaniments
                              if a.id == fiche.accompaniment_id), None)
    if accompaniment is not None:
        followed = file.accompaniment_bases[accompaniment.id]
        return Basis(followed.horizon, FOLLOWS_ACCOMPANIMENT if followed.horizon else HELD,
                     followed.since)
    mark = file.marks.get(("fiche", fiche.id))
    if state in DECIDED_STATES:
        decided = paris_date(fiche.decided_at) if fiche.decided_at else \
            paris_date(fiche.updated_at)
        day, why = _earliest((decided, NO_LONGER_NEEDED), (mark, MARKED))
        return policy_basis(fiche.convention, Axis(fiche.axis), day, why)
    basis = policy_basis(fiche.convention, Axis(fiche.axis), mark, MARKED)
    if state in UNSENT_STATES:
        touched = paris_date(fiche.updated_at)
        abandoned = add_months(touched, DRAFT_LIFETIME_MONTHS)
        if basis.horizon is None or abandoned < basis.horizon:
            return Basis(abandoned, DRAFT_ABANDONED, touched)
    return basis


def _consent_basis(session: Session, file: PersonFile, consent: Consent) -> Basis:
    if file.held_person:
        return HELD_BASIS
    used = [file.fiche_bases[f.id] for f in file.fiches if f.consent_id == consent.id]
    if used:
        latest = person_horizon(b.horizon for b in used)
        return Basis(latest, FOLLOWS_FICHES) if latest is not None else HELD_BASIS
    withdrawn = paris_date(consent.withdrawn_at) if consent.withdrawn_at else None
    collector = session.get(User, consent.collected_by_user_id)
    conventions: list[Convention] = []
    if collector is not None:
        ours = collector.unit.institution_id
        theirs = consent.recipient_institution_id
        conventions = list(session.scalars(select(Convention).where(or_(
            (Convention.institution_a_id == ours) & (Convention.institution_b_id == theirs),
            (Convention.institution_a_id == theirs) & (Convention.institution_b_id == ours)))))
    if not conventions:
        return Basis(add_months(consent.collected_on, FALLBACK_CONSENT_MONTHS), ORPHAN,
                     consent.collected_on)
    bases = [policy_basis(c, Axis(consent.axis), withdrawn) for c in conventions]
    return max(bases, key=lambda b: b.horizon or date.max)


def _person_basis(file: PersonFile) -> Basis:
    if file.held_person:
        return HELD_BASIS
    horizons = [*(b.horizon for b in file.fiche_bases.values()),
                *(b.horizon for b in file.accompaniment_bases.values()),
                *(b.horizon for b in file.consent_bases.values())]
    if not horizons:
        created = paris_date(file.person.created_at)
        return Basis(created + timedelta(days=ORPHAN_PERSON_DAYS), ORPHAN, created)
    latest = person_horizon(horizons)
    return Basis(latest, FOLLOWS_RECORDS) if latest is not None else HELD_BASIS


# -- storing -----------------------------------------------------------------------------------


def _should_move(current_epoch: str, day: date | None, sealing: Sealing | None) -> str | None:
    """The epoch to move to, or None: not when held, already due or already right."""
    if sealing is None or day is None or day < sealing.today:
        return None
    target = epoch_of(day)
    return target if target != current_epoch else None


def store(session: Session, file: PersonFile, sealing: Sealing | None) -> Outcome:
    """Write the computed horizons on the rows, documents and receipts; move epochs."""
    outcome = Outcome(persons=1)

    def set_horizon(row: Fiche | Accompaniment | Consent | Person | Document,
                    day: date | None) -> None:
        if row.horizon != day:
            row.horizon = day
            outcome.changed += 1

    for fiche in file.fiches:
        set_horizon(fiche, file.fiche_bases[fiche.id].horizon)
        session.execute(update(Receipt).where(Receipt.fiche_id == fiche.id)
                        .values(horizon=file.fiche_bases[fiche.id].horizon))
    for a in file.accompaniments:
        set_horizon(a, file.accompaniment_bases[a.id].horizon)
    for consent in file.consents:
        set_horizon(consent, file.consent_bases[consent.id].horizon)

    parents: dict[tuple[str, int], date | None] = {}
    parents.update({("fiche", i): b.horizon for i, b in file.fiche_bases.items()})
    parents.update({("accompaniment", i): b.horizon for i, b in file.accompaniment_bases.items()})
    parents.update({("consent", i): b.horizon for i, b in file.consent_bases.items()})
    documents = documents_of(session, fiche_ids=[f.id for f in file.fiches],
                             accompaniment_ids=[a.id for a in file.accompaniments],
                             consent_ids=[c.id for c in file.consents])
    by_parent: dict[tuple[str, int], list[Document]] = {}
    for document in documents:
        by_parent.setdefault(parent_of(document), []).append(document)
    for parent, docs in by_parent.items():
        day = parents.get(parent)
        for document in docs:
            set_horizon(document, day)
        # Moving one document of a parent moves all of them, in id order, so that the order
        # of attachments (which follows the ids) is kept.
        if sealing is not None and any(_should_move(d.epoch, day, sealing) for d in docs):
            assert day is not None
            for document in docs:
                if document.epoch == epoch_of(day):
                    continue
                try:
                    move_epoch(sealing.documents, document, epoch_of(day))
                    outcome.documents_moved += 1
                except (KeysError, BlobError) as exc:
                    log.error("retention: document %s not moved to epoch %s (%s)",
                              document.public_id, epoch_of(day), type(exc).__name__)
                    outcome.move_failures.append(document.public_id)

    person = file.person
    set_horizon(person, file.person_basis.horizon)
    target = _should_move(person.epoch, file.person_basis.horizon, sealing)
    if target is not None and sealing is not None:
        try:
            person.sealed_key = sealing.personal.reseal(person.sealed_key, person.public_id,
                                                        target)
            person.epoch = target
            outcome.person_keys_moved += 1
        except KeysError as exc:
            log.error("retention: person %s key not moved to epoch %s (%s)",
                      person.public_id, target, type(exc).__name__)
            outcome.move_failures.append(person.public_id)
    session.flush()
    return outcome


def documents_of(session: Session, *, fiche_ids: Iterable[int] = (),
                 accompaniment_ids: Iterable[int] = (),
                 consent_ids: Iterable[int] = ()) -> list[Document]:
    conditions = []
    for column, ids in ((Document.fiche_id, list(fiche_ids)),
                        (Document.accompaniment_id, list(accompaniment_ids)),
                        (Document.consent_id, list(consent_ids))):
        if ids:
            conditions.append(column.in_(ids))
    if not conditions:
        return []
    return list(session.scalars(select(Document).where(or_(*conditions)).order_by(Document.id)))


def parent_of(document: Document) -> tuple[str, int]:
    if document.fiche_id is not None:
        return ("fiche", document.fiche_id)
    if document.accompaniment_id is not None:
        return ("accompaniment", document.accompaniment_id)
    if document.consent_id is not None:
        return ("consent", document.consent_id)
    return ("document", document.id)


def move_epoch(documents: DocumentStore, document: Document, epoch: str) -> None:
    """Re-seal a document under another retention epoch, in place.

    The epoch is bound in the envelope's header, so this is a full re-seal: open with one of
    its readers, seal again for the readers that still have a wrap (their current key
    versions and share keys; a reader whose share was erased has none, and gets none back)
    with the same id, version, kind, sender, subject and creation time under ``epoch``,
    replace the wraps, write the new ciphertext and shred the old one once the transaction
    commits. A document sealed before share keys existed (no subject) gets its person as
    subject on the way: from then on it is erased with the person's shares too.
    """
    old = Header.from_bytes(document.header)
    readers = tuple(sorted({w.reader for w in document.wraps} & set(old.readers)))
    if not readers:
        raise KeysError("no reader can open this document")
    plaintext = documents.open(document, readers[0])
    header = Header(document_id=old.document_id, version=old.version, kind=old.kind,
                    sender=old.sender, readers=readers, created_at=old.created_at,
                    epoch=epoch, subject=old.subject or documents.subject_of(
                        fiche_id=document.fiche_id, consent_id=document.consent_id,
                        accompaniment_id=document.accompaniment_id))
    envelope = documents.envelopes.seal(plaintext, header, header.readers, epoch)
    session = documents.session
    blob = write_in_transaction(session, documents.blobs, envelope.ciphertext)
    delete_after_commit(session, documents.blobs, document.blob)
    document.header = header.to_bytes()
    document.nonce = envelope.nonce
    document.epoch_wrap = envelope.epoch_wrap
    document.epoch = epoch
    document.blob = blob
    document.size = len(envelope.ciphertext)
    document.wraps = [KeyWrap(reader=w.reader, key_id=w.key_id, key_version=w.key_version,
                              enc=w.enc) for w in envelope.wraps]


# -- entry points ------------------------------------------------------------------------------


def recompute_for_person(session: Session, person: Person,
                         sealing: Sealing | None = None) -> Outcome:
    """Recompute and store every horizon of the person's file (and move epochs)."""
    return store(session, compute(session, load_file(session, person)), sealing)


def recompute_for_persons(session: Session, person_ids: Iterable[int],
                          sealing: Sealing | None = None) -> Outcome:
    outcome = Outcome()
    for person_id in sorted(set(person_ids)):
        person = session.get(Person, person_id)
        if person is not None:
            outcome.add(recompute_for_person(session, person, sealing))
    return outcome


def recompute_for_fiche(session: Session, fiche: Fiche,
                        sealing: Sealing | None = None) -> Outcome:
    return recompute_for_person(session, fiche.person, sealing)


def recompute_for_accompaniment(session: Session, accompaniment: Accompaniment,
                                sealing: Sealing | None = None) -> Outcome:
    """After an accompaniment closed (or its exit was corrected)."""
    return recompute_for_person(session, accompaniment.person, sealing)


def recompute_for_consent(session: Session, consent: Consent,
                          sealing: Sealing | None = None) -> Outcome:
    return recompute_for_person(session, consent.person, sealing)


def persons_of_convention(session: Session, convention: Convention) -> set[int]:
    ids: set[int] = set(session.scalars(
        select(Fiche.person_id).where(Fiche.convention_id == convention.id)))
    ids.update(session.scalars(select(Accompaniment.person_id).where(
        Accompaniment.convention_id == convention.id)))
    ids.update(session.scalars(select(Consent.person_id).where(
        Consent.recipient_institution_id.in_(convention.parties()))))
    return ids


def recompute_for_convention(session: Session, convention: Convention,
                             sealing: Sealing | None = None) -> Outcome:
    """After an amendment moved the convention's end date (or its retention rule changed)."""
    return recompute_for_persons(session, persons_of_convention(session, convention), sealing)


def explain(session: Session, person: Person) -> PersonFile:
    """The computed bases of a person's file, for notices and reports (no write)."""
    return compute(session, load_file(session, person))
