"""Small helpers every view uses: transactions, the acting agent and context, the audit call,
the address."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flask import Flask, abort, request
from flask_login import current_user
from sqlalchemy.orm import Session

from exchange.acting import Agent, Context
from exchange.acting import acting as acting_with
from exchange.audit import trail as audit
from exchange.audit.models import AuditEvent
from exchange.domain.vocabulary import Role
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


def current_agent() -> Agent:
    """The signed-in agent (Flask-Login's `current_user` is the `Agent` itself)."""
    agent = current_user._get_current_object()  # type: ignore[attr-defined]
    if not isinstance(agent, Agent):
        abort(403)
    return agent


def current_actor() -> audit.Actor:
    if not current_user.is_authenticated:
        return audit.Actor(None, None, "anonymous")
    return current_agent().audit_actor


@contextmanager
def acting(*, read_only: bool = False, purpose: str | None = None) -> Iterator[Context]:
    """This request's acting context in a new transaction: a unit of work, or with
    ``read_only`` a reading (for pages that write nothing, not even an audit event)."""
    with acting_with(services(), current_agent(), address=client_address(), read_only=read_only,
                     purpose=purpose) as ctx:
        yield ctx


def context_in(session: Session, *, purpose: str | None = None) -> Context:
    """This request's acting context in a transaction the view already holds."""
    svc = services()
    return Context(svc, session, current_agent(), client_address(), svc.clock.now(), purpose)


def record(session: Session, action: str, **fields: Any) -> AuditEvent:
    """The web's way into the one audit function: actor, address and time filled in."""
    fields.setdefault("actor", current_actor())
    fields.setdefault("address", client_address())
    return audit.record(session, action, at=services().clock.now(), **fields)


def init_app(app: Flask) -> None:
    @app.context_processor
    def inject() -> dict[str, Any]:
        return {"Role": Role, "demo_mode": services().settings.demo}
