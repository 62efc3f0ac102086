"""The access policy: what a user may see, decided by unit and role, never by the URL.

Every query for a person, a fiche or an accompaniment on behalf of a user goes through these
functions. An object the user may not see is reported as absent (`NotVisible`, shown as 404),
so that ids of other units reveal nothing.

A DPO's scope is the institution, not the unit: each institution is its own data controller
(the conventions: "chaque partie est seule responsable du traitement qu'elle met en œuvre pour
son propre compte"). The `dpo_*` functions and the institution's *share* below are the one
place that says which persons, records and audit events a DPO sees and acts on; a request
about a person of a partner is passed on to that partner (`exchange.dpo.rights`), never acted on.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, Select, and_, exists, or_, select
from sqlalchemy.orm import Session

from exchange.accounts.models import User
from exchange.acting import Agent
from exchange.audit.models import AuditEvent
from exchange.dpo.models import Breach, RightsRequest
from exchange.fiches.models import Accompaniment, Fiche
from exchange.org.models import Institution, Unit
from exchange.persons.models import Consent, Person, PersonUnit
from exchange.platform.db import is_reading

# A recipient sees a fiche once it has been sent, never its drafts.
RECEIVED_STATES = frozenset({"sent", "read", "acknowledged", "accepted", "declined", "recalled"})
ROLES_WITH_PERSONS = frozenset({"social_worker", "advisor", "unit_manager"})
WRITER_ROLES = ("social_worker", "advisor")
# The roles that open persons, fiches or (for the DPO: art. 15 exports, searches by person)
# personal data: granting one is shown to the DPO of the account's institution.
PERSONAL_DATA_ROLES = ROLES_WITH_PERSONS | {"dpo"}
# One action per role, about the account (object type "user"): the DPO's journal names the role
# and finds the event among the events about the institution's accounts.
ROLE_GRANTED = "user.role_granted."
"""Who records persons and consents and writes fiches; a unit manager reads and countersigns."""
DPO_ROLE = "dpo"


class NotVisible(LookupError):
    """The object does not exist or the user may not see it: the same answer for both (a 404,
    recorded as a refusal: `exchange.web.errors`)."""

    def __init__(self, requested: str, object_type: str | None = None) -> None:
        super().__init__(requested)
        self.requested = requested
        self.object_type = object_type


def _unit_id(viewer: Agent) -> int:
    return viewer.unit_id


def person_query(viewer: Agent) -> Select[tuple[Person]]:
    if not viewer.roles & ROLES_WITH_PERSONS:
        return select(Person).where(Person.id.is_(None))
    return select(Person).where(exists().where(
        PersonUnit.person_id == Person.id, PersonUnit.unit_id == _unit_id(viewer)))


def visible_person(s: Session, viewer: Agent, public_id: str) -> Person:
    person = s.scalar(person_query(viewer).where(Person.public_id == public_id))
    if person is None:
        raise NotVisible(public_id, "person")
    return person


def fiche_query(viewer: Agent) -> Select[tuple[Fiche]]:
    if not viewer.roles & ROLES_WITH_PERSONS:
        return select(Fiche).where(Fiche.id.is_(None))
    unit = _unit_id(viewer)
    # A side whose institution erased its share of the person no longer sees the fiche.
    return select(Fiche).where(or_(
        (Fiche.sender_unit_id == unit) & Fiche.sender_erased_at.is_(None),
        (Fiche.recipient_unit_id == unit) & Fiche.state.in_(RECEIVED_STATES)
        & Fiche.recipient_erased_at.is_(None),
    ))


def visible_fiche(s: Session, viewer: Agent, public_id: str) -> Fiche:
    """The fiche, if `viewer` may see it. In a unit of work its row is locked until the end of
    the transaction, so that two transitions of one fiche cannot both pass their state check
    (PostgreSQL; SQLite's transactions already take the database's one write lock)."""
    query = fiche_query(viewer).where(Fiche.public_id == public_id)
    if not is_reading(s):
        query = query.with_for_update(of=Fiche)
    fiche = s.scalar(query)
    if fiche is None:
        raise NotVisible(public_id, "fiche")
    return fiche


def is_sender(viewer: Agent, fiche: Fiche) -> bool:
    return fiche.sender_unit_id == _unit_id(viewer) and fiche.sender_erased_at is None


def is_recipient(viewer: Agent, fiche: Fiche) -> bool:
    return (fiche.recipient_unit_id == _unit_id(viewer) and fiche.state in RECEIVED_STATES
            and fiche.recipient_erased_at is None)


def accompaniment_query(viewer: Agent) -> Select[tuple[Accompaniment]]:
    if not viewer.roles & ROLES_WITH_PERSONS:
        return select(Accompaniment).where(Accompaniment.id.is_(None))
    unit = _unit_id(viewer)
    return select(Accompaniment).where(or_(
        (Accompaniment.advisor_unit_id == unit) & Accompaniment.advisor_erased_at.is_(None),
        (Accompaniment.social_unit_id == unit) & Accompaniment.social_erased_at.is_(None)))


def visible_accompaniment(s: Session, viewer: Agent, public_id: str) -> Accompaniment:
    accompaniment = s.scalar(accompaniment_query(viewer).where(
        Accompaniment.public_id == public_id))
    if accompaniment is None:
        raise NotVisible(public_id, "accompaniment")
    return accompaniment


def share_person(s: Session, person: Person, unit_id: int, at: datetime) -> None:
    """Let a unit see a person (it sent or received a fiche, or shares an accompaniment)."""
    already = s.scalar(select(PersonUnit.id).where(PersonUnit.person_id == person.id,
                                                   PersonUnit.unit_id == unit_id))
    if already is None:
        s.add(PersonUnit(person_id=person.id, unit_id=unit_id, since=at))


# -- the DPO: one institution's persons, records and audit events -----------------------------


def dpo_institution(viewer: Agent) -> int | None:
    """The institution whose DPO ``viewer`` is; None for any other role (deny by default)."""
    return viewer.institution.id if DPO_ROLE in viewer.roles else None


def institution_units(institution_id: int) -> Select[tuple[int]]:
    return select(Unit.id).where(Unit.institution_id == institution_id)


def held_by(institution_id: int) -> ColumnElement[bool]:
    """A person is the institution's when one of its units holds a `PersonUnit` link: the unit
    recorded the person, or sent or received a fiche about them, or shares their
    accompaniment. A person two institutions hold is in both DPOs' scope."""
    return exists().where(PersonUnit.person_id == Person.id,
                          PersonUnit.unit_id.in_(institution_units(institution_id)))


def dpo_person_query(viewer: Agent) -> Select[tuple[Person]]:
    institution = dpo_institution(viewer)
    if institution is None:
        return select(Person).where(Person.id.is_(None))
    return select(Person).where(held_by(institution))


def dpo_visible_person(s: Session, viewer: Agent, public_id: str) -> Person:
    person = s.scalar(dpo_person_query(viewer).where(Person.public_id == public_id))
    if person is None:
        raise NotVisible(public_id, "person")
    return person


def institutions_holding(s: Session, person_ids: list[int]) -> list[Institution]:
    """The institutions whose units hold any of these persons, by name. Naming them is what
    the conventions' duty to relay a rights request needs; nothing of the persons is read."""
    if not person_ids:
        return []
    return list(s.scalars(
        select(Institution).where(Institution.id.in_(
            select(Unit.institution_id).join(PersonUnit, PersonUnit.unit_id == Unit.id)
            .where(PersonUnit.person_id.in_(person_ids))))
        .order_by(Institution.name)))


def institution_users(institution_id: int) -> Select[tuple[int]]:
    return select(User.id).where(User.unit_id.in_(institution_units(institution_id)))


def dpo_fiche_query(viewer: Agent) -> Select[tuple[Fiche]]:
    institution = dpo_institution(viewer)
    if institution is None:
        return select(Fiche).where(Fiche.id.is_(None))
    return select(Fiche).where(share_fiches(institution))


def share_fiches(institution_id: int) -> ColumnElement[bool]:
    """The fiches that are the institution's: sent by one of its units, or received by one
    (once sent: a draft addressed to it is still only the sender's), unless it erased its
    side."""
    units = institution_units(institution_id)
    return or_(Fiche.sender_unit_id.in_(units) & Fiche.sender_erased_at.is_(None),
               Fiche.recipient_unit_id.in_(units) & Fiche.state.in_(RECEIVED_STATES)
               & Fiche.recipient_erased_at.is_(None))


def share_accompaniments(institution_id: int) -> ColumnElement[bool]:
    units = institution_units(institution_id)
    return or_(
        Accompaniment.advisor_unit_id.in_(units) & Accompaniment.advisor_erased_at.is_(None),
        Accompaniment.social_unit_id.in_(units) & Accompaniment.social_erased_at.is_(None))


def share_consents(institution_id: int) -> ColumnElement[bool]:
    """Consents collected by the institution's staff, or given for exchanges with it."""
    return or_(Consent.recipient_institution_id == institution_id,
               Consent.collected_by_user_id.in_(institution_users(institution_id)))


def _about_institution(institution_id: int) -> ColumnElement[bool]:
    """Events whose object is one of the institution's accounts, its units, itself, or an
    entry of its registers (requests, breaches)."""
    unit_ids = select(Unit.public_id).where(Unit.institution_id == institution_id)
    users = select(User.public_id).join(Unit, User.unit_id == Unit.id).where(
        Unit.institution_id == institution_id)
    institution = select(Institution.public_id).where(Institution.id == institution_id)
    requests = select(RightsRequest.public_id).where(
        RightsRequest.institution_id == institution_id)
    breaches = select(Breach.public_id).where(Breach.institution_id == institution_id)
    return or_(
        and_(AuditEvent.object_type == "user", AuditEvent.object_id.in_(users)),
        and_(AuditEvent.object_type == "unit", AuditEvent.object_id.in_(unit_ids)),
        and_(AuditEvent.object_type == "institution", AuditEvent.object_id.in_(institution)),
        and_(AuditEvent.object_type == "rights_request", AuditEvent.object_id.in_(requests)),
        and_(AuditEvent.object_type == "breach", AuditEvent.object_id.in_(breaches)),
    )


def dpo_audit_scope(institution_id: int) -> ColumnElement[bool]:
    """The audit events a DPO sees: those of the institution's staff (the actor's unit is one
    of its units), and those about the institution's own accounts, units and register
    entries whoever the actor (a failed sign-in on one of its accounts, an administrator's
    change to one of them, a request a partner passed on to it). Not the events of a
    partner's staff, even on a record both institutions hold: each controller answers for its
    own processing. Platform jobs' events about persons' records (retention) name records by
    opaque ids that may be gone; they stay out, and the signed deletion reports say what the
    sweep deleted."""
    unit_ids = select(Unit.public_id).where(Unit.institution_id == institution_id)
    return or_(AuditEvent.actor_unit_id.in_(unit_ids), _about_institution(institution_id))


def dpo_audit_branches(s: Session, institution_id: int) -> list[ColumnElement[bool]]:
    """`dpo_audit_scope` cut into disjoint conditions that together select the same events:
    one per unit of the institution (one range of the actor-unit index each), and one for the
    events about the institution that other actors wrote. The DPO's search pages through
    their union (`exchange.audit.search`), so that a page reads index ranges, not the whole
    log filtered, however few of the log's events are the institution's."""
    units = list(s.scalars(select(Unit.public_id).where(Unit.institution_id == institution_id)
                           .order_by(Unit.id)))
    others = or_(AuditEvent.actor_unit_id.is_(None), AuditEvent.actor_unit_id.not_in(units))
    return [*(AuditEvent.actor_unit_id == unit for unit in units),
            and_(others, _about_institution(institution_id))]
