"""The access policy: what a user may see, decided by unit and role, never by the URL.

Every query for a person, a fiche or an accompaniment on behalf of a user goes through these
functions. An object the user may not see is reported as absent (`NotVisible`, shown as 404),
so that ids of other units reveal nothing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from sqlalchemy import Select, exists, or_, select
from sqlalchemy.orm import Session

from exchange.db import is_reading
from exchange.models.fiches import Accompaniment, Fiche
from exchange.models.people import Person, PersonUnit

# A recipient sees a fiche once it has been sent, never its drafts.
RECEIVED_STATES = frozenset({"sent", "read", "acknowledged", "accepted", "declined", "recalled"})
ROLES_WITH_PERSONS = frozenset({"social_worker", "advisor", "unit_manager"})
WRITER_ROLES = ("social_worker", "advisor")
"""Who records persons and consents and writes fiches; a unit manager reads and countersigns."""


class NotVisible(LookupError):
    """The object does not exist or the user may not see it: the same answer for both."""


class Viewer(Protocol):
    id: int

    @property
    def unit_id(self) -> int: ...

    @property
    def roles(self) -> frozenset[str]: ...


def _unit_id(viewer: Viewer) -> int:
    return viewer.unit_id


def person_query(viewer: Viewer) -> Select[tuple[Person]]:
    if not viewer.roles & ROLES_WITH_PERSONS:
        return select(Person).where(Person.id.is_(None))
    return select(Person).where(exists().where(
        PersonUnit.person_id == Person.id, PersonUnit.unit_id == _unit_id(viewer)))


def visible_person(s: Session, viewer: Viewer, public_id: str) -> Person:
    person = s.scalar(person_query(viewer).where(Person.public_id == public_id))
    if person is None:
        raise NotVisible(public_id)
    return person


def fiche_query(viewer: Viewer) -> Select[tuple[Fiche]]:
    if not viewer.roles & ROLES_WITH_PERSONS:
        return select(Fiche).where(Fiche.id.is_(None))
    unit = _unit_id(viewer)
    return select(Fiche).where(or_(
        Fiche.sender_unit_id == unit,
        (Fiche.recipient_unit_id == unit) & Fiche.state.in_(RECEIVED_STATES),
    ))


def visible_fiche(s: Session, viewer: Viewer, public_id: str) -> Fiche:
    """The fiche, if `viewer` may see it. In a unit of work its row is locked until the end of
    the transaction, so that two transitions of one fiche cannot both pass their state check
    (PostgreSQL; SQLite's transactions already take the database's one write lock)."""
    query = fiche_query(viewer).where(Fiche.public_id == public_id)
    if not is_reading(s):
        query = query.with_for_update(of=Fiche)
    fiche = s.scalar(query)
    if fiche is None:
        raise NotVisible(public_id)
    return fiche


def is_sender(viewer: Viewer, fiche: Fiche) -> bool:
    return fiche.sender_unit_id == _unit_id(viewer)


def is_recipient(viewer: Viewer, fiche: Fiche) -> bool:
    return fiche.recipient_unit_id == _unit_id(viewer) and fiche.state in RECEIVED_STATES


def accompaniment_query(viewer: Viewer) -> Select[tuple[Accompaniment]]:
    if not viewer.roles & ROLES_WITH_PERSONS:
        return select(Accompaniment).where(Accompaniment.id.is_(None))
    unit = _unit_id(viewer)
    return select(Accompaniment).where(or_(Accompaniment.advisor_unit_id == unit,
                                           Accompaniment.social_unit_id == unit))


def visible_accompaniment(s: Session, viewer: Viewer, public_id: str) -> Accompaniment:
    accompaniment = s.scalar(accompaniment_query(viewer).where(
        Accompaniment.public_id == public_id))
    if accompaniment is None:
        raise NotVisible(public_id)
    return accompaniment


def share_person(s: Session, person: Person, unit_id: int, at: datetime) -> None:
    """Let a unit see a person (it sent or received a fiche, or shares an accompaniment)."""
    already = s.scalar(select(PersonUnit.id).where(PersonUnit.person_id == person.id,
                                                   PersonUnit.unit_id == unit_id))
    if already is None:
        s.add(PersonUnit(person_id=person.id, unit_id=unit_id, since=at))
