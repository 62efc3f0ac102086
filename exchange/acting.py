"""The one acting context: who acts, for which unit and institution, from which address, at
what time, in which transaction. The web shell, the CLI, the jobs and the tests build it the
same way, and every use case takes it: a use case imports neither Flask nor Flask-Login, so an
API or a job calls it without faking a request.

`Agent` is the acting user as the use cases and the access policy see them: a frozen snapshot
read in one joined query, safe to keep for a whole request outside any transaction. The web shell
hands the same object to Flask-Login as `current_user` (the four attributes Flask-Login reads
are plain properties here), so a request loads its user once.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from functools import cached_property
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from exchange.accounts.models import User
from exchange.audit import trail
from exchange.audit.models import AuditEvent
from exchange.domain.clock import paris_date
from exchange.org.models import Institution, Unit

if TYPE_CHECKING:
    from exchange.platform.documents import DocumentStore
    from exchange.platform.services import Services
    from keys.personal import PersonalFields
    from keys.store import KeyStore


@dataclass(frozen=True)
class InstitutionRef:
    id: int
    public_id: str
    name: str
    kind: str
    key_owner: str


@dataclass(frozen=True)
class UnitRef:
    id: int
    public_id: str
    name: str
    kind: str
    institution_id: int


@dataclass(frozen=True)
class Agent:
    """Who acts: a user of one unit of one institution, with their roles."""

    id: int
    public_id: str
    username: str
    display_name: str
    roles: frozenset[str]
    unit: UnitRef
    institution: InstitutionRef
    active: bool = True
    must_change_password: bool = False
    second_factor_enrolled: bool = True

    @property
    def unit_id(self) -> int:
        return self.unit.id

    def has_role(self, *roles: str) -> bool:
        return bool(self.roles.intersection(roles))

    @property
    def audit_actor(self) -> trail.Actor:
        return _actor(self.public_id, self.unit.public_id, self.roles)

    # What Flask-Login reads of `current_user`.
    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_active(self) -> bool:
        return self.active

    @property
    def is_anonymous(self) -> bool:
        return False

    def get_id(self) -> str:
        return str(self.id)


def _actor(public_id: str, unit_public_id: str, roles: frozenset[str]) -> trail.Actor:
    """Who, as an audit event names them: opaque ids, and the role when there is only one."""
    ordered = sorted(roles)
    return trail.Actor(public_id, unit_public_id, ordered[0] if len(ordered) == 1 else None)


def actor_for(user: User) -> trail.Actor:
    """An account as an audit event names it, before it is signed in (sign-in steps)."""
    return _actor(user.public_id, user.unit.public_id, frozenset(user.roles))


def agent_from_row(user: User) -> Agent:
    unit, institution = user.unit, user.unit.institution
    return Agent(
        id=user.id, public_id=user.public_id, username=user.username,
        display_name=user.display_name, roles=frozenset(user.roles),
        unit=UnitRef(unit.id, unit.public_id, unit.name, unit.kind, unit.institution_id),
        institution=InstitutionRef(institution.id, institution.public_id, institution.name,
                                   institution.kind, institution.key_owner),
        active=user.active, must_change_password=user.must_change_password,
        second_factor_enrolled=user.totp_enrolled_at is not None,
    )


def user_row(session: Session, user_id: int) -> User | None:
    """The user with their roles, unit and institution, in one joined query."""
    return session.execute(
        select(User)
        .where(User.id == user_id)
        .options(joinedload(User.role_rows), joinedload(User.unit).joinedload(Unit.institution))
    ).unique().scalar_one_or_none()


def load_agent(session: Session, user_id: int) -> Agent | None:
    """The agent, if the account exists, is active and has its second factor."""
    user = user_row(session, user_id)
    if user is None or not user.active or user.totp_enrolled_at is None:
        return None
    return agent_from_row(user)


NO_PURPOSE = ""
"""`record(..., purpose=NO_PURPOSE)`: this event has no purpose, whatever the context's."""


@dataclass
class Context:
    """What a use case works with: the services, the open transaction, who acts, from where and
    when; and `record`, the use cases' one way into the audit trail."""

    svc: Services
    session: Session
    agent: Agent
    address: str | None
    now: datetime
    purpose: str | None = None

    @property
    def today(self) -> date:
        return paris_date(self.now)

    @property
    def owner(self) -> str:
        """The key owner of the acting institution."""
        return self.agent.institution.key_owner

    @cached_property
    def institution(self) -> Institution:
        """The acting institution's row, in this transaction."""
        row = self.session.get(Institution, self.agent.institution.id)
        if row is None:
            raise LookupError("the acting institution no longer exists")
        return row

    @cached_property
    def keystore(self) -> KeyStore:
        return self.svc.keystore(self.session)

    @cached_property
    def documents(self) -> DocumentStore:
        return self.svc.documents(self.session)

    @cached_property
    def personal(self) -> PersonalFields:
        return self.svc.personal(self.session)

    def record(self, action: str, object_type: str | None = None,
               object_id: str | None = None, *, outcome: str = "success",
               purpose: str | None = None) -> AuditEvent:
        """One audit event in this transaction, naming the agent, the address and the time; the
        purpose is the context's unless given (`NO_PURPOSE` for none)."""
        return trail.record(self.session, action, at=self.now, actor=self.agent.audit_actor,
                            object_type=object_type, object_id=object_id, outcome=outcome,
                            address=self.address,
                            purpose=None if purpose == NO_PURPOSE else purpose or self.purpose)


@contextmanager
def acting(svc: Services, agent: Agent, *, address: str | None = None, read_only: bool = False,
           purpose: str | None = None) -> Iterator[Context]:
    """A context in a new transaction: a unit of work, or with `read_only` a reading (for what
    writes nothing, not even an audit event). Leaving the block commits the unit of work;
    an exception rolls it back."""
    database = svc.db
    with (database.reading() if read_only else database.unit_of_work()) as session:
        yield Context(svc, session, agent, address, svc.clock.now(), purpose)


@contextmanager
def acting_as(svc: Services, user_id: int, *, address: str | None = None,
              read_only: bool = False, purpose: str | None = None) -> Iterator[Context]:
    """The same, for an entry point that knows only the user's id (CLI, jobs, tests): the agent
    is read in the context's own transaction. LookupError when the account cannot act."""
    database = svc.db
    with (database.reading() if read_only else database.unit_of_work()) as session:
        agent = load_agent(session, user_id)
        if agent is None:
            raise LookupError("no active account with this id")
        yield Context(svc, session, agent, address, svc.clock.now(), purpose)
