"""Legal holds keep everything until lifted; a referent's mark brings the deletion forward;
closing an accompaniment starts its grace; each of them is audited."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from flask import Flask
from sqlalchemy import select

from exchange.audit import trail as audit
from exchange.fiches.models import Accompaniment, Fiche
from exchange.persons.models import Person
from retention import holds
from retention.models import LegalHold
from tests.fiches.support import acting_as, audit_events, services_of, user_id
from tests.retention.support import (
    axe3_sent,
    closed_accompaniment,
    counts,
    exists,
    horizon_of,
    sealing,
    sweep,
)

AFTER_AXE3 = date(2028, 3, 1)
DPO = audit.Actor("dpo", "unit", "dpo")


def _hold(app: Flask, kind: str, public_id: str, reason: str = "litigation",
          note: str = "Contentieux prud'homal n° 24/0042") -> str:
    svc = services_of(app)
    with svc.db.unit_of_work() as s:
        hold = holds.place_hold(s, kind=kind, public_id=public_id, reason_code=reason,
                                note=note, by_user_id=user_id(app, "dpo.departement"),
                                actor=DPO, at=svc.clock.now(),
                                box=svc.secret_box(holds.NOTE_PURPOSE),
                                sealing=sealing(app, s, svc.clock.today()))
        return hold.public_id


def _lift(app: Flask, hold: str) -> None:
    svc = services_of(app)
    with svc.db.unit_of_work() as s:
        holds.lift_hold(s, hold, by_user_id=user_id(app, "dpo.departement"), actor=DPO,
                        at=svc.clock.now(), sealing=sealing(app, s, svc.clock.today()))


@pytest.mark.parametrize("target", ["person", "fiche"])
def test_a_legal_hold_keeps_everything_until_lifted(app: Flask, target: str) -> None:
    built = axe3_sent(app)
    hold = _hold(app, target, built.person if target == "person" else built.fiche)
    assert horizon_of(app, Fiche, built.fiche) is None
    assert horizon_of(app, Person, built.person) is None

    kept = sweep(app, AFTER_AXE3)
    assert not kept.deleted and not kept.errors
    assert exists(app, Fiche, built.fiche) and exists(app, Person, built.person)
    skipped = {(i["kind"], i["id"]): i for i in kept.skipped_hold}
    assert skipped[("fiche", built.fiche)]["reason"] == "litigation"
    assert skipped[("fiche", built.fiche)]["hold"] == hold
    assert "24/0042" not in repr(kept.payload())  # the note never leaves its box
    assert audit_events(app, "retention.skipped_hold", built.fiche)
    assert "2028-02" not in kept.epochs_destroyed  # held data stays readable

    _lift(app, hold)
    gone = sweep(app, AFTER_AXE3 + timedelta(days=1))
    assert not exists(app, Fiche, built.fiche) and not exists(app, Person, built.person)
    assert counts(app)["documents"] == 0
    with services_of(app).db.unit_of_work() as s:
        row = s.scalar(select(LegalHold).where(LegalHold.public_id == hold))
        assert row is not None and row.lifted_at is not None
        assert row.sealed_note is None  # erased with the data it was about
    assert gone.deleted
    assert audit_events(app, "hold.placed") and audit_events(app, "hold.lifted")


def test_a_hold_needs_a_reason_from_the_list_and_a_note_for_other(app: Flask) -> None:
    built = axe3_sent(app)
    with pytest.raises(holds.HoldError):
        _hold(app, "person", built.person, reason="because")
    with pytest.raises(holds.HoldError):
        _hold(app, "person", built.person, reason="other", note="  ")
    with pytest.raises(holds.HoldError):
        _hold(app, "person", "0" * 32)
    svc = services_of(app)
    hold = _hold(app, "person", built.person, reason="other", note="Demande du juge")
    with svc.db.unit_of_work() as s:
        row = s.scalar(select(LegalHold).where(LegalHold.public_id == hold))
        assert row is not None and row.sealed_note is not None
        assert b"juge" not in row.sealed_note
        assert holds.read_note(svc.secret_box(holds.NOTE_PURPOSE), row) == "Demande du juge"


def test_closing_an_accompaniment_starts_its_grace(app: Flask) -> None:
    prepared, accompaniment_pid, exit_day = closed_accompaniment(app)
    sweep(app, exit_day)
    due = exit_day + timedelta(days=30)
    assert horizon_of(app, Accompaniment, accompaniment_pid) == due
    assert horizon_of(app, Fiche, prepared.fiche) == due  # the orientation follows it
    assert not sweep(app, due).deleted
    result = sweep(app, due + timedelta(days=1))
    assert not result.errors, result.errors
    assert not exists(app, Accompaniment, accompaniment_pid)
    assert not exists(app, Fiche, prepared.fiche)
    assert not exists(app, Person, prepared.person)
    assert counts(app)["receipts"] == 0 and counts(app)["documents"] == 0


def test_a_referent_marks_an_item_no_longer_needed(app: Flask) -> None:
    built = axe3_sent(app)
    svc = services_of(app)
    today = svc.clock.today()
    with acting_as(app, "cft.montauban") as ctx:
        fiche = ctx.session.scalar(select(Fiche).where(Fiche.public_id == built.fiche))
        assert fiche is not None
        holds.mark_no_longer_needed(ctx.session, fiche, day=today, by_user_id=ctx.agent.id,
                                    actor=audit.Actor(ctx.agent.public_id, None, "advisor"),
                                    at=ctx.now, sealing=sealing(app, ctx.session, today))
    assert horizon_of(app, Fiche, built.fiche) == today + timedelta(days=30)
    assert audit_events(app, "retention.marked_unneeded", built.fiche)
    result = sweep(app, today + timedelta(days=31))
    assert [i["rule"] for i in result.deleted if i["kind"] == "fiche"] == ["marked"]
    assert not exists(app, Person, built.person)
