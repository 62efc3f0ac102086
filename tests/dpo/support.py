"""What the rights tests share: the DPO signed in, a request recorded through the form, the
DPO's use-case context, and looks into the audit trail; a DPO for an institution the demo
gives none, and a person only the CIAS holds."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from exchange.accounts.models import User, UserRole
from exchange.acting import Context
from exchange.acting import acting_as as acting_by_id
from exchange.audit import trail as audit
from exchange.audit.models import AuditEvent
from exchange.demo.seed import DEMO_PASSWORD, TOTP_BOX, demo_totp_secret
from exchange.domain.clock import FixedClock
from exchange.domain.identity import Identity
from exchange.dpo import rights
from exchange.dpo.models import RightsRequest
from exchange.org.models import Unit
from exchange.persons import identities as persons
from tests.conftest import csrf_token
from tests.fiches.support import (
    IDENTITY,
    acting_as,
    services_of,
    signed_in,
    user_id,
)

DPO = "dpo.departement"
CIAS_DPO = "dpo.cias"
FT_DPO = "dpo.francetravail"
CIAS_UNIT = "CIAS Lodévois et Larzac — Lodève"
FT_UNIT = "Direction territoriale Lot – Tarn-et-Garonne"
CIAS = "CIAS Lodévois et Larzac"
DEPARTEMENT = "Département de Tarn-et-Garonne"
FRANCE_TRAVAIL = "France Travail Occitanie"
BERNARD = Identity(last_name="Bernard", first_names="Lucie", birth_date=date(1991, 7, 9),
                   ft_identifier="5555555C")


def dpo_client(app: Flask, clock: FixedClock, username: str = DPO) -> FlaskClient:
    return signed_in(app, username, clock)


def add_dpo(app: Flask, username: str, unit_name: str) -> None:
    """A DPO account in ``unit_name`` (the demo has one for the Département only), with the
    demo password and second factor, so that `tests.conftest.login` signs it in."""
    svc = services_of(app)
    now = svc.clock.now()
    with svc.db.unit_of_work() as s:
        unit = s.scalar(select(Unit).where(Unit.name == unit_name))
        assert unit is not None
        user = User(username=username, display_name="Délégué à la protection des données",
                    email=f"{username}@demo.liaison.invalid", unit_id=unit.id,
                    password_hash=svc.passwords.hash(DEMO_PASSWORD),
                    must_change_password=False, created_at=now, totp_enrolled_at=now,
                    totp_last_step=0)
        s.add(user)
        s.flush()
        user.totp_secret = svc.secret_box(TOTP_BOX).seal(demo_totp_secret(username).encode(),
                                                         user.public_id.encode())
        s.add(UserRole(user_id=user.id, role="dpo"))
        audit.record(s, "user.created", at=now, object_type="user", object_id=user.public_id)


def cias_person(app: Flask, identity: Identity = BERNARD) -> str:
    """A person ts.lodeve (CIAS) records and looks at: the CIAS alone holds them."""
    with acting_as(app, "ts.lodeve") as ctx:
        pctx = ctx
        person = persons.create_person(pctx, identity)
        persons.read_identity(pctx, person)
        return person.public_id


def post(client: FlaskClient, path: str, data: dict[str, Any] | None = None,
         **kwargs: Any) -> Any:
    """POST with the CSRF token of the DPO's session."""
    token = csrf_token(client, "/dpo/droits/")
    return client.post(path, data={**(data or {}), "csrf_token": token}, **kwargs)


def new_request(client: FlaskClient, kind: str, *, last_name: str = IDENTITY.last_name,
                birth_date: date = IDENTITY.birth_date, received_on: date | None = None,
                ft_identifier: str = "") -> str:
    """Record a request through the form; its public id."""
    response = post(client, "/dpo/droits/demandes/nouvelle", {
        "kind": kind, "channel": "postal",
        "received_on": (received_on or date(2026, 11, 23)).isoformat(),
        "last_name": last_name, "birth_date": birth_date.isoformat(),
        "ft_identifier": ft_identifier})
    assert response.status_code == 302, response.get_data(as_text=True)[:3000]
    match = re.search(r"/dpo/droits/demandes/([0-9a-f]{32})$", response.location)
    assert match, response.location
    return match.group(1)


def request_row(app: Flask, rid: str) -> RightsRequest:
    with services_of(app).db.unit_of_work() as s:
        row = s.scalar(select(RightsRequest).where(RightsRequest.public_id == rid))
        assert row is not None
        return row


@contextmanager
def dpo_context(app: Flask, username: str = DPO) -> Iterator[Context]:
    with acting_by_id(services_of(app), user_id(app, username), address="127.0.0.1",
                      purpose=rights.PURPOSE) as ctx:
        yield ctx


def events(app: Flask, action: str | None = None, **where: Any) -> list[AuditEvent]:
    with services_of(app).db.unit_of_work() as s:
        query = select(AuditEvent)
        if action is not None:
            query = query.where(AuditEvent.action == action)
        if where:
            query = query.filter_by(**where)
        return list(s.scalars(query.order_by(AuditEvent.seq)))


def flashed(response: Any) -> str:
    html = response.get_data(as_text=True)
    return " ".join(re.findall(r'<p class="msg msg-[a-z]+">(.*?)</p>', html, re.DOTALL))
