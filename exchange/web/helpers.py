"""Small helpers every view uses: the services, the acting user, the audit call, the address."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Protocol

from flask import Flask, request
from flask_login import current_user
from sqlalchemy.orm import Session

from exchange.audit import trail as audit
from exchange.audit.models import AuditEvent
from exchange.domain.vocabulary import Role
from exchange.org.models import Unit
from exchange.platform.current import services


@contextmanager
def unit_of_work() -> Iterator[Session]:
    """A transaction that writes: on SQLite it holds the one write lock until it ends."""
    with services().db.unit_of_work() as session:
        yield session


@contextmanager
def reading() -> Iterator[Session]:
    """A read-only transaction (``Database.reading``), for what writes nothing, not even an
    audit event: it neither waits for the write lock nor holds it."""
    with services().db.reading() as session:
        yield session


def client_address() -> str | None:
    return request.remote_addr


class _Account(Protocol):
    public_id: str
    unit: Unit

    @property
    def roles(self) -> frozenset[str]: ...


def actor_for(user: _Account) -> audit.Actor:
    """Who acts, by opaque ids; the role is named when the account holds just one."""
    roles = sorted(user.roles)
    return audit.Actor(user.public_id, user.unit.public_id, roles[0] if len(roles) == 1 else None)


def current_actor() -> audit.Actor:
    if not current_user.is_authenticated:
        return audit.Actor(None, None, "anonymous")
    return actor_for(current_user)


def record(session: Session, action: str, **fields: Any) -> AuditEvent:
    """The web's way into the one audit function: actor, address and time filled in."""
    fields.setdefault("actor", current_actor())
    fields.setdefault("address", client_address())
    return audit.record(session, action, at=services().clock.now(), **fields)


def init_app(app: Flask) -> None:
    @app.context_processor
    def inject() -> dict[str, Any]:
        return {"Role": Role, "demo_mode": services().settings.demo}
