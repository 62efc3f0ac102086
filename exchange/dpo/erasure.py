"""Erasure on request (RGPD art. 17) of one institution's share of a person.

Each institution is its own data controller: its DPO's erasure removes what that institution
holds about the person, not what a partner holds. The institution's *share* is:

- its units' links to the person (`PersonUnit`): its staff no longer find the person;
- the consents its staff recorded (a consent a fiche kept for the partner was sent under
  stays: the fiche's signed manifest names it, and it is the partner's proof of a lawful
  exchange; its scanned form, readable by the institution alone, goes);
- its wraps of every document about the person, and the documents only it could read (drafts,
  consent forms, its own notes);
- the fiches and accompaniments only it had a side of (drafts it never sent, fiches between two
  of its own units), deleted; those exchanged with a partner stay for the partner, and the
  institution's side is marked erased (`Fiche.sender_erased_at`...), which `exchange.policy`
  reads: its units no longer see them. A fiche or accompaniment whose other side was erased
  before goes entirely;
- its share key of the person (`keys.shares`), doomed in the transaction and destroyed once it
  commits (`retention.shares`): every wrap of it, in the live database and in any backup taken
  before, stops opening, while the partner's copies still open for the partner.

When no other institution holds the person, everything about them is deleted, the person's
row (identity) included, and every share key of the person is destroyed.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session

from exchange.accounts.models import User
from exchange.fiches.models import Accompaniment, Fiche
from exchange.org.models import Institution, Unit
from exchange.persons.models import Consent, Person, PersonUnit
from exchange.platform.blobs import delete_after_commit
from exchange.platform.models import Document, KeyWrap
from exchange.platform.services import Services
from exchange.policy import RECEIVED_STATES
from retention.deletion import delete_records
from retention.models import LegalHold
from retention.shares import doom_share, doom_subject

Gone = list[tuple[str, str]]
"""(kind, public id) of what an erasure removed, for the audit trail (``rights.erased``)."""


def erase_share(svc: Services, session: Session, person: Person,
                institution_id: int) -> Gone:
    """Erase ``institution_id``'s share of ``person`` (module docstring), or the person
    altogether when no other institution holds them. The caller has checked the legal holds
    and records one event per returned entry."""
    now = svc.clock.now()
    ours = set(session.scalars(select(Unit.id).where(Unit.institution_id == institution_id)))
    fiches = list(session.scalars(select(Fiche).where(Fiche.person_id == person.id)
                                  .order_by(Fiche.id)))
    accompaniments = list(session.scalars(select(Accompaniment).where(
        Accompaniment.person_id == person.id).order_by(Accompaniment.id)))
    consents = list(session.scalars(select(Consent).where(Consent.person_id == person.id)
                                    .order_by(Consent.id)))
    if not _held_elsewhere(session, person, ours, fiches, accompaniments):
        gone = erase_everything(svc, session, person, fiches, accompaniments, consents)
        doom_subject(session, svc.share_keys, person.public_id, now)
        return gone

    institution = session.get(Institution, institution_id)
    assert institution is not None
    owner = institution.key_owner
    gone: Gone = []
    kept_accompaniments, drop_accompaniments = [], []
    for a in accompaniments:
        advisor, social = a.advisor_unit_id in ours, a.social_unit_id in ours
        if not (advisor or social):
            continue
        if (not advisor and a.advisor_erased_at is None) or \
                (not social and a.social_erased_at is None):
            a.advisor_erased_at = a.advisor_erased_at or (now if advisor else None)
            a.social_erased_at = a.social_erased_at or (now if social else None)
            kept_accompaniments.append(a)
            gone.append(("accompaniment_side", a.public_id))
        else:
            drop_accompaniments.append(a)
    oriented = {a.orientation_id for a in kept_accompaniments}
    kept_fiches, drop_fiches = [], []
    for fiche in fiches:
        sender = fiche.sender_unit_id in ours
        recipient = fiche.recipient_unit_id in ours and fiche.state in RECEIVED_STATES
        partner = (fiche.sender_unit_id not in ours and fiche.sender_erased_at is None) or (
            fiche.recipient_unit_id not in ours and fiche.state in RECEIVED_STATES
            and fiche.recipient_erased_at is None)
        if partner or fiche.id in oriented:
            if sender or recipient:
                fiche.sender_erased_at = fiche.sender_erased_at or (now if sender else None)
                fiche.recipient_erased_at = fiche.recipient_erased_at or (
                    now if recipient else None)
                gone.append(("fiche_side", fiche.public_id))
            kept_fiches.append(fiche)
        else:
            drop_fiches.append(fiche)
    referenced = {f.consent_id for f in kept_fiches}
    staff = set(session.scalars(select(User.id).where(User.unit_id.in_(ours))))
    drop_consents = [c for c in consents
                     if c.collected_by_user_id in staff and c.id not in referenced]

    gone += _delete_records(svc, session, drop_fiches, drop_accompaniments, drop_consents)
    gone += _remove_wraps(svc, session, owner, kept_fiches, kept_accompaniments,
                          [c for c in consents if c not in drop_consents])
    _erase_notes(session, person, [f.id for f in fiches], staff)
    _unlink_units(session, person, ours)
    gone.append(("person_share", person.public_id))
    if doom_share(session, svc.share_keys, person.public_id, owner, now) is not None:
        gone.append(("share_key", person.public_id))
    person.updated_at = now
    return gone


def _held_elsewhere(session: Session, person: Person, ours: set[int], fiches: list[Fiche],
                    accompaniments: list[Accompaniment]) -> bool:
    """Whether another institution still holds a share of the person: a unit of it is linked
    to them, or has a side of a fiche or an accompaniment not erased. (Recording a consent
    takes seeing the person, so a link; a consent kept after its institution erased its share
    is the partner's record of what it received.)"""
    units = set(session.scalars(select(PersonUnit.unit_id).where(
        PersonUnit.person_id == person.id)))
    for fiche in fiches:
        if fiche.sender_erased_at is None:
            units.add(fiche.sender_unit_id)
        if fiche.state in RECEIVED_STATES and fiche.recipient_erased_at is None:
            units.add(fiche.recipient_unit_id)
    for a in accompaniments:
        if a.advisor_erased_at is None:
            units.add(a.advisor_unit_id)
        if a.social_erased_at is None:
            units.add(a.social_unit_id)
    return bool(units - ours)


def _documents(session: Session, fiche_ids: Iterable[int], accompaniment_ids: Iterable[int],
               consent_ids: Iterable[int]) -> list[Document]:
    return list(session.scalars(select(Document).where(or_(
        Document.fiche_id.in_(list(fiche_ids)), Document.consent_id.in_(list(consent_ids)),
        Document.accompaniment_id.in_(list(accompaniment_ids)))).order_by(Document.id)))


def _remove_wraps(svc: Services, session: Session, owner: str, fiches: list[Fiche],
                  accompaniments: list[Accompaniment], consents: list[Consent]) -> Gone:
    """The institution's wraps of the documents that stay; a document no one else can read
    goes."""
    gone: Gone = []
    store = svc.documents(session)
    for document in _documents(session, [f.id for f in fiches], [a.id for a in accompaniments],
                               [c.id for c in consents]):
        readers = {w.reader for w in document.wraps}
        if owner not in readers:
            continue
        if readers == {owner}:
            gone.append(("document", document.public_id))
            store.destroy(document)
        else:
            session.execute(delete(KeyWrap).where(KeyWrap.document_id == document.id,
                                                  KeyWrap.reader == owner))
            session.expire(document, ["wraps"])
            gone.append(("key_wrap", document.public_id))
    session.flush()
    return gone


def _delete_records(svc: Services, session: Session, fiches: list[Fiche],
                    accompaniments: list[Accompaniment], consents: list[Consent]) -> Gone:
    """Delete these fiches, accompaniments and consents with what hangs on them, through the
    retention sweep's own deletion (`retention.deletion.delete_records`); their blobs are
    shredded as soon as the transaction commits (the sweep would shred any left over)."""
    rows = delete_records(session, fiche_ids=[f.id for f in fiches],
                          accompaniment_ids=[a.id for a in accompaniments],
                          consent_ids=[c.id for c in consents])
    for name in rows.blobs:
        delete_after_commit(session, svc.blobs, name)
    for row in (*fiches, *accompaniments, *consents):
        session.expunge(row)
    gone: Gone = [("document", public_id) for public_id in rows.documents]
    gone += [("receipt", public_id) for public_id in rows.receipts]
    gone += [("accompaniment", a.public_id) for a in accompaniments]
    gone += [("fiche", f.public_id) for f in fiches]
    gone += [("consent", c.public_id) for c in consents]
    return gone


def _erase_notes(session: Session, person: Person, fiche_ids: list[int],
                 staff: set[int] | None) -> None:
    """Lifted or not, a hold keeps its reason code; its note may name the person: the notes
    the institution's DPO wrote (every note, when ``staff`` is None) go."""
    query = update(LegalHold).where(
        ((LegalHold.target_type == "fiche") & LegalHold.target_id.in_(fiche_ids))
        | ((LegalHold.target_type == "person") & (LegalHold.target_id == person.id)))
    if staff is not None:
        query = query.where(LegalHold.placed_by_id.in_(staff))
    session.execute(query.values(sealed_note=None).execution_options(synchronize_session=False))


def _unlink_units(session: Session, person: Person, ours: set[int]) -> None:
    """The institution's units lose the person; if one of them recorded the person, the
    earliest remaining unit keeps the identity (rectifies it) from now on."""
    session.execute(delete(PersonUnit).where(PersonUnit.person_id == person.id,
                                             PersonUnit.unit_id.in_(ours))
                    .execution_options(synchronize_session=False))
    if person.created_by_unit_id in ours:
        keeper = session.scalar(select(PersonUnit.unit_id).where(
            PersonUnit.person_id == person.id).order_by(PersonUnit.since, PersonUnit.id)
            .limit(1))
        if keeper is not None:
            person.created_by_unit_id = keeper


def erase_everything(svc: Services, session: Session, person: Person, fiches: list[Fiche],
                     accompaniments: list[Accompaniment], consents: list[Consent]) -> Gone:
    """Delete everything held about ``person``: each document through `DocumentStore.destroy`
    (key wraps and row now, ciphertext once committed), then receipts, early marks,
    accompaniments, fiches, consents, the units' links and the person (whose row carries the
    sealed per-person key and the encrypted identity). The de-identified statistics rows are
    not touched."""
    gone = _delete_records(svc, session, fiches, accompaniments, consents)
    _erase_notes(session, person, [f.id for f in fiches], None)
    session.execute(delete(PersonUnit).where(PersonUnit.person_id == person.id)
                    .execution_options(synchronize_session=False))
    session.execute(delete(Person).where(Person.id == person.id)
                    .execution_options(synchronize_session=False))
    session.expunge(person)
    gone.append(("person", person.public_id))
    return gone
