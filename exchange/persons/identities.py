"""Persons: create, find, read and rectify a job seeker's identity, on behalf of a user.

The identity is stored only as ciphertext under a per-person data key (`keys.personal`); it is
found through keyed blind indexes of the normalised name and birth date, the birth name and
birth date, and the France Travail identifier. Every query goes through `exchange.policy`, so a
user finds, and is warned about, only the persons their unit may see.

Each use case that reads or writes personal data records exactly one audit event, through the
acting context (`exchange.acting.Context.record`), in the caller's transaction. A ciphertext
that does not open is recorded as a failure and reported as
`IdentityUnreadable`, whose French message is what the user sees: the caller must catch it
inside its unit of work, so that the failure event is committed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, selectinload

from exchange.acting import Context
from exchange.domain.dates import add_months
from exchange.domain.errors import DomainError
from exchange.domain.identity import Identity, PersonSearch
from exchange.org.models import Convention
from exchange.persons.models import Person
from exchange.platform.types import new_public_id
from exchange.policy import person_query, share_person, visible_person
from keys.errors import EnvelopeTampered, KeyNotFound
from keys.personal import PersonalFields, blind_index
from keys.store import KeyStore
from retention.policy import epoch_of

FALLBACK_HORIZON_MONTHS = 2
TAMPERED_MESSAGE = ("Ces données ne peuvent pas être déchiffrées : elles ont été altérées. "
                    "L'incident est enregistré.")
ERASED_MESSAGE = ("Ces données ne sont plus disponibles : leur clé a été détruite (durée de "
                  "conservation échue, ou effacement demandé par la personne). L'incident est "
                  "enregistré.")

class IdentityUnreadable(DomainError):
    """A person's (or a document's) ciphertext did not open; the failure is already audited."""

    default_code = "identity_unreadable"
    default_message = TAMPERED_MESSAGE



def unreadable(ctx: Context, action: str, object_type: str, object_id: str,
               exc: Exception) -> IdentityUnreadable:
    """Record the failed read or write and give the error to raise."""
    ctx.record(action, object_type, object_id, outcome="failure")
    erased = isinstance(exc, KeyNotFound)  # KeyDestroyed is one
    return IdentityUnreadable(ERASED_MESSAGE if erased else TAMPERED_MESSAGE,
                              code="identity_erased" if erased else None)

@dataclass(frozen=True)
class Found:
    """A person a search or a duplicate check turned up; ``identity`` is None when its
    ciphertext did not open."""

    person: Person
    identity: Identity | None


# -- pieces other modules reuse (no audit: their caller records its own event) -----------------


def initial_person_horizon(session: Session, institution_id: int, today: date) -> date:
    """The horizon given to a person when they are created: the latest (effective end date +
    axe 2 retention period) among the conventions of the creating institution, or today +
    2 months when it has none that still runs (none at all, or all of them past).

    Only a first value, so that the identity's key is sealed under a live retention epoch:
    the retention job recomputes the horizon from the records that refer to the person
    (`retention.policy.person_horizon`) and reseals the key when it moves.
    """
    conventions = session.scalars(
        select(Convention)
        .where(or_(Convention.institution_a_id == institution_id,
                   Convention.institution_b_id == institution_id))
        .options(selectinload(Convention.amendments))
    ).all()
    latest = max((add_months(c.effective_end_date, c.retention_axis2_months)
                  for c in conventions), default=None)
    if latest is None or latest < today:
        return add_months(today, FALLBACK_HORIZON_MONTHS)
    return latest


def open_identity(personal: PersonalFields, person: Person) -> Identity:
    """The decrypted identity; EnvelopeTampered, KeyDestroyed or KeyNotFound otherwise."""
    fields = personal.decrypt(person.sealed_key, person.public_id, person.identity)
    try:
        return Identity.from_fields(fields)
    except ValueError:
        raise EnvelopeTampered("person identity is malformed") from None


def name_index(keystore: KeyStore, name: str, birth_date: date) -> str:
    return blind_index(keystore, name, birth_date.isoformat())


def ft_index(keystore: KeyStore, ft_identifier: str) -> str:
    return blind_index(keystore, "ft", ft_identifier)


def _set_indexes(keystore: KeyStore, person: Person, identity: Identity) -> None:
    person.index_name_birth = name_index(keystore, identity.last_name, identity.birth_date)
    person.index_birth_name_birth = (
        name_index(keystore, identity.birth_name, identity.birth_date)
        if identity.birth_name else None)
    person.index_ft_id = (ft_index(keystore, identity.ft_identifier)
                          if identity.ft_identifier else None)


def _open_all(ctx: Context, persons: Iterable[Person]) -> list[Found]:
    found = []
    for person in persons:
        try:
            identity: Identity | None = open_identity(ctx.personal, person)
        except (EnvelopeTampered, KeyNotFound):
            identity = None
        found.append(Found(person, identity))
    return found


# -- use cases ---------------------------------------------------------------------------------


def find_duplicates(ctx: Context, identity: Identity) -> list[Found]:
    """Persons the user's unit already sees with the same (last or birth) name and birth date,
    or the same France Travail identifier. Persons of other units are never looked at.
    Audited (``person.searched``) only when something is found, since only then is anything
    shown."""
    names = [name_index(ctx.keystore, identity.last_name, identity.birth_date)]
    if identity.birth_name:
        names.append(name_index(ctx.keystore, identity.birth_name, identity.birth_date))
    conditions = [Person.index_name_birth.in_(names), Person.index_birth_name_birth.in_(names)]
    if identity.ft_identifier:
        conditions.append(Person.index_ft_id == ft_index(ctx.keystore, identity.ft_identifier))
    persons = ctx.session.scalars(
        person_query(ctx.agent).where(or_(*conditions)).order_by(Person.created_at)).all()
    if not persons:
        return []
    found = _open_all(ctx, persons)
    outcome = "success" if all(f.identity for f in found) else "failure"
    ctx.record("person.searched", "person_search", f"duplicate:{len(found)}", outcome=outcome)
    return found


def create_person(ctx: Context, identity: Identity) -> Person:
    """Encrypt and store a new person, visible to the user's unit (``person.created``)."""
    now = ctx.svc.clock.now()
    horizon = initial_person_horizon(ctx.session, ctx.agent.institution.id, ctx.svc.clock.today())
    public_id = new_public_id()
    epoch = epoch_of(horizon)
    sealed_key = ctx.personal.new_person_key(public_id, epoch)
    person = Person(
        public_id=public_id,
        sealed_key=sealed_key,
        identity=ctx.personal.encrypt(sealed_key, public_id, identity.to_fields()),
        identity_version=1,
        epoch=epoch,
        horizon=horizon,
        restricted=False,
        created_by_unit_id=ctx.agent.unit_id,
        created_at=now,
        updated_at=now,
    )
    _set_indexes(ctx.keystore, person, identity)
    ctx.session.add(person)
    ctx.session.flush()
    share_person(ctx.session, person, ctx.agent.unit_id, now)
    ctx.record("person.created", "person", public_id)
    return person


def search_persons(ctx: Context, query: PersonSearch) -> list[Found]:
    """Visible persons whose last or birth name and birth date, or France Travail identifier,
    match (``person.searched``; outcome failure when a match does not decrypt)."""
    if query.ft_identifier is not None:
        condition = Person.index_ft_id == ft_index(ctx.keystore, query.ft_identifier)
    else:
        assert query.name is not None and query.birth_date is not None
        index = name_index(ctx.keystore, query.name, query.birth_date)
        condition = or_(Person.index_name_birth == index, Person.index_birth_name_birth == index)
    persons = ctx.session.scalars(
        person_query(ctx.agent).where(condition).order_by(Person.created_at)).all()
    found = _open_all(ctx, persons)
    outcome = "success" if all(f.identity for f in found) else "failure"
    ctx.record("person.searched", "person_search", f"{query.mode}:{len(found)}", outcome=outcome)
    return found


def person_for(ctx: Context, public_id: str) -> Person:
    """The person if the user's unit may see it (NotVisible otherwise); nothing decrypted, so
    nothing audited."""
    return visible_person(ctx.session, ctx.agent, public_id)


def read_identity(ctx: Context, person: Person, action: str = "person.viewed") -> Identity:
    """Decrypt a visible person's identity, recording ``action`` (one event, success or
    failure); IdentityUnreadable when the ciphertext does not open."""
    try:
        identity = open_identity(ctx.personal, person)
    except (EnvelopeTampered, KeyNotFound) as exc:
        raise unreadable(ctx, action, "person", person.public_id, exc) from None
    ctx.record(action, "person", person.public_id)
    return identity


def view_person(ctx: Context, public_id: str) -> tuple[Person, Identity]:
    """A visible person and their identity (``person.viewed``)."""
    person = person_for(ctx, public_id)
    return person, read_identity(ctx, person)


def may_rectify(ctx: Context, person: Person) -> bool:
    """The unit that recorded the person keeps their identity; a partner that received it asks
    that unit (or the DPO, through a rectification request) rather than rewriting it."""
    return person.created_by_unit_id == ctx.agent.unit_id


def rectify_identity(ctx: Context, person: Person, identity: Identity) -> Person:
    """Replace the identity (RGPD art. 16): a new ciphertext under the same person key,
    ``identity_version`` + 1, indexes recomputed (``person.updated``)."""
    try:
        blob = ctx.personal.encrypt(person.sealed_key, person.public_id, identity.to_fields())
    except (EnvelopeTampered, KeyNotFound) as exc:
        raise unreadable(ctx, "person.updated", "person", person.public_id, exc) from None
    person.identity = blob
    person.identity_version += 1
    person.updated_at = ctx.svc.clock.now()
    _set_indexes(ctx.keystore, person, identity)
    ctx.record("person.updated", "person", person.public_id)
    return person
