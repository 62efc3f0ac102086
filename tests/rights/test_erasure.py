"""Erasure on request: two steps (request recorded, then the DPO's approval), refused while a
legal hold applies, everything of the person deleted (rows, key wraps, ciphertexts) and
audited by id, the statistics rows kept."""

from __future__ import annotations

from datetime import date

from flask import Flask
from sqlalchemy import func, select

from exchange.domain.clock import FixedClock
from exchange.models.documents import Document, KeyWrap
from exchange.models.fiches import Accompaniment, Fiche, Receipt
from exchange.models.people import Consent, Person, PersonUnit
from exchange.models.statistics import StatFact
from retention.holds import place_hold
from tests.fiches.support import accepted, prepare, services_of
from tests.retention.support import blob_files
from tests.rights.support import (
    dpo_client,
    dpo_context,
    events,
    flashed,
    new_request,
    post,
    request_row,
)
from tests.rights.test_access_export import OTHER


def _count(app: Flask, model: object, **where: object) -> int:
    with services_of(app).db.unit_of_work() as s:
        query = select(func.count()).select_from(model)  # type: ignore[arg-type]
        for name, value in where.items():
            query = query.where(getattr(model, name) == value)
        return int(s.scalar(query) or 0)


def test_an_approved_erasure_deletes_everything_but_the_statistics(app: Flask,
                                                                    clock: FixedClock) -> None:
    mine, accompaniment = accepted(app)
    other = prepare(app, identity=OTHER)
    facts = _count(app, StatFact)
    assert facts > 0
    blobs_before = blob_files(app)
    with services_of(app).db.unit_of_work() as s:
        mine_docs = {d.blob for d in s.scalars(select(Document).join(
            Fiche, Document.fiche_id == Fiche.id).where(Fiche.public_id == mine.fiche))}
    assert mine_docs and mine_docs <= blobs_before

    client = dpo_client(app, clock)
    rid = new_request(client, "erasure")
    assert _count(app, Person, public_id=mine.person) == 1  # recorded, not yet approved
    unconfirmed = post(client, f"/dpo/droits/demandes/{rid}/effacement", {},
                       follow_redirects=True)
    assert "Cochez la case" in flashed(unconfirmed)
    assert _count(app, Person, public_id=mine.person) == 1

    done = post(client, f"/dpo/droits/demandes/{rid}/effacement", {"confirm": "y"},
                follow_redirects=True)
    assert "Effacement effectué" in flashed(done)
    assert _count(app, Person, public_id=mine.person) == 0
    assert _count(app, Fiche, public_id=mine.fiche) == 0
    assert _count(app, Accompaniment, public_id=accompaniment) == 0
    assert _count(app, Consent) == 1 and _count(app, Fiche) == 1  # the other person's
    assert _count(app, Receipt) == 0
    assert _count(app, PersonUnit) == _count(app, PersonUnit, person_id=_other_id(app, other))
    with services_of(app).db.unit_of_work() as s:
        left = set(s.scalars(select(Document.blob)))
        wraps = set(s.scalars(select(KeyWrap.document_id)))
        assert wraps <= set(s.scalars(select(Document.id)))
    assert not mine_docs & left
    assert not mine_docs & blob_files(app)  # the ciphertexts are gone from the disk
    assert _count(app, StatFact) == facts

    approved = events(app, "rights.erasure_approved")
    assert [(e.object_id, e.outcome) for e in approved] == [(rid, "success")]
    erased = {(e.object_type, e.object_id) for e in events(app, "rights.erased")}
    assert {("person", mine.person), ("fiche", mine.fiche),
            ("accompaniment", accompaniment)} <= erased
    assert {kind for kind, _ in erased} >= {"document", "consent", "receipt"}
    row = request_row(app, rid)
    assert row.erased_at is not None and row.status == "in_progress"
    page = client.get(f"/dpo/droits/demandes/{rid}").get_data(as_text=True)
    assert "Données effacées le" in page


def _other_id(app: Flask, other: object) -> int:
    with services_of(app).db.unit_of_work() as s:
        found = s.scalar(select(Person.id).where(Person.public_id == other.person))  # type: ignore[attr-defined]
        assert found is not None
        return found


def test_a_legal_hold_refuses_the_erasure(app: Flask, clock: FixedClock) -> None:
    prepared = prepare(app)
    client = dpo_client(app, clock)
    rid = new_request(client, "objection")
    with dpo_context(app) as ctx:
        place_hold(ctx.session, kind="fiche", public_id=prepared.fiche,
                   reason_code="litigation", note="", by_user_id=ctx.user.id, actor=ctx.actor,
                   at=ctx.now, box=ctx.svc.secret_box("legal-hold-note"), sealing=None)
    refused = post(client, f"/dpo/droits/demandes/{rid}/effacement", {"confirm": "y"},
                   follow_redirects=True)
    assert "conservation légale" in flashed(refused)
    assert "Contentieux en cours" in flashed(refused)
    assert _count(app, Person, public_id=prepared.person) == 1
    assert _count(app, Fiche, public_id=prepared.fiche) == 1
    assert [(e.object_id, e.outcome) for e in events(app, "rights.erasure_approved")] == [
        (rid, "refused")]
    assert events(app, "rights.erased") == []


def test_an_access_request_cannot_erase(app: Flask, clock: FixedClock) -> None:
    prepared = prepare(app, sign=False)
    client = dpo_client(app, clock)
    rid = new_request(client, "access", received_on=date(2026, 11, 20))
    refused = post(client, f"/dpo/droits/demandes/{rid}/effacement", {"confirm": "y"},
                   follow_redirects=True)
    assert "ne permet pas cette opération" in flashed(refused)
    assert _count(app, Person, public_id=prepared.person) == 1
