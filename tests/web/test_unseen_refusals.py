"""An id the user may not see answers 404, exactly like one that does not exist, and the refusal
is recorded (``access.refused``, the object's type and the requested id) — up to a bound per
user and hour, so that probing cannot flood the trail the DPO reads."""

from __future__ import annotations

import re
import secrets
from datetime import timedelta

from flask import Flask
from sqlalchemy import select

from exchange.accounts.models import User
from exchange.audit.models import AuditEvent
from exchange.domain.clock import FixedClock
from exchange.web.errors import REFUSALS_PER_HOUR
from tests.fiches.support import accepted, services_of, signed_in

PROBER = "cft.clermont"  # an advisor of another France Travail agency


def _events(app: Flask, username: str) -> list[AuditEvent]:
    """The user's refusals of unseen objects and cap events, in order."""
    with services_of(app).db.unit_of_work() as s:
        user = s.scalar(select(User.public_id).where(User.username == username))
        return list(s.scalars(select(AuditEvent).where(
            AuditEvent.actor_user_id == user,
            AuditEvent.action.in_(("access.refused", "access.refusals_capped")),
            (AuditEvent.object_type != "endpoint") | AuditEvent.object_type.is_(None))
            .order_by(AuditEvent.seq)))


def _page(answer: object) -> str:
    return re.sub(r'name="csrf_token" value="[^"]*"', "", answer.get_data(as_text=True))  # type: ignore[attr-defined]


def test_a_refusal_names_the_object_type_and_the_requested_id(app: Flask,
                                                               clock: FixedClock) -> None:
    prepared, accompaniment = accepted(app)
    prober = signed_in(app, PROBER, clock)
    unknown = secrets.token_hex(16)
    answers = [prober.get(path) for path in (
        f"/fiches/{prepared.fiche}", f"/personnes/{prepared.person}",
        f"/accompagnements/{accompaniment}", f"/fiches/{unknown}/pdf",
        f"/personnes/{prepared.person}/consentements/{prepared.consent}/formulaire")]
    assert [a.status_code for a in answers] == [404] * 5
    # Another unit's object and an object that does not exist get the same page (but for the
    # CSRF token of the sign-out form, signed with the time).
    assert _page(answers[0]) == _page(answers[3])
    assert [(e.object_type, e.object_id, e.outcome) for e in _events(app, PROBER)] == [
        ("fiche", prepared.fiche, "refused"), ("person", prepared.person, "refused"),
        ("accompaniment", accompaniment, "refused"), ("fiche", unknown, "refused"),
        ("person", prepared.person, "refused")]


def test_probing_fifty_foreign_ids_records_refusals_up_to_the_bound(
        app: Flask, clock: FixedClock) -> None:
    prepared, accompaniment = accepted(app)
    prober = signed_in(app, PROBER, clock)
    foreign = [f"/fiches/{prepared.fiche}", f"/personnes/{prepared.person}",
               f"/accompagnements/{accompaniment}"]
    paths = [foreign[i % 3] if i % 2 else f"/fiches/{secrets.token_hex(16)}" for i in range(50)]
    for path in paths:
        assert prober.get(path).status_code == 404
    events = _events(app, PROBER)
    assert [e.action for e in events] == (
        ["access.refused"] * REFUSALS_PER_HOUR + ["access.refusals_capped"])
    assert events[-1].object_type == "user" and events[-1].outcome == "refused"
    # The bound holds: more probes in the hour add nothing.
    for path in paths[:10]:
        assert prober.get(path).status_code == 404
    assert len(_events(app, PROBER)) == REFUSALS_PER_HOUR + 1
    # Another user's refusals are their own.
    worker = signed_in(app, "ts.lodeve", clock)
    assert worker.get(f"/fiches/{prepared.fiche}").status_code == 404
    assert len(_events(app, "ts.lodeve")) == 1
    # An hour later, refusals are recorded again.
    clock.advance(timedelta(minutes=61))
    prober = signed_in(app, PROBER, clock)
    assert prober.get(foreign[0]).status_code == 404
    assert _events(app, PROBER)[-1].action == "access.refused"
    assert len(_events(app, PROBER)) == REFUSALS_PER_HOUR + 2


def test_a_malformed_id_is_a_404_with_nothing_to_record(app: Flask, clock: FixedClock) -> None:
    prober = signed_in(app, PROBER, clock)
    assert prober.get("/fiches/not-an-id").status_code == 404
    assert _events(app, PROBER) == []
