"""The register of data-subject requests: the person found through the blind index (never by
a name in a URL), due dates and their one extension, the sealed answer, the reminders, and the
dpo-only guard."""

from __future__ import annotations

from datetime import date, timedelta

from flask import Flask
from sqlalchemy import select

from exchange.domain.clock import FixedClock
from exchange.dpo.models import RightsRequest
from exchange.org.models import Institution, Unit
from exchange.persons.models import Person
from exchange.platform.models import Document, KeyWrap
from tests.conftest import login
from tests.dpo.support import dpo_client, events, flashed, new_request, post, request_row
from tests.fiches.support import IDENTITY, prepare, services_of

ANSWER = "Madame, nous avons bien rectifié votre adresse postale le 24 novembre."


def test_a_request_finds_the_person_through_the_blind_index(app: Flask,
                                                              clock: FixedClock) -> None:
    prepared = prepare(app, sign=False)
    client = dpo_client(app, clock)
    # Typed differently (case, accent): the normalised blind index still matches.
    rid = new_request(client, "access", last_name="LEFEVRE")
    row = request_row(app, rid)
    assert row.person_public_id == prepared.person
    assert row.status == "received"
    assert row.received_on == date(2026, 11, 23)
    assert row.due_on == date(2026, 12, 23)
    created = events(app, "rights.request_created")
    assert [(e.object_type, e.object_id, e.purpose) for e in created] == [
        ("rights_request", rid, "dpo_request")]
    page = client.get(f"/dpo/droits/demandes/{rid}").get_data(as_text=True)
    assert "Retrouvée" in page
    assert "Lef" not in page  # the register shows no identity


def test_a_request_about_nobody_known_is_still_recorded(app: Flask, clock: FixedClock) -> None:
    client = dpo_client(app, clock)
    rid = new_request(client, "erasure", last_name="Inconnu", birth_date=date(1970, 1, 1))
    row = request_row(app, rid)
    assert row.person_public_id is None
    assert len(row.subject_index) == 64
    page = client.get(f"/dpo/droits/demandes/{rid}").get_data(as_text=True)
    assert "Aucune personne enregistrée ne correspond" in page
    assert "Approuver et effacer" not in page


def test_the_delay_is_extended_once_by_two_months_with_a_reason(app: Flask,
                                                                 clock: FixedClock) -> None:
    client = dpo_client(app, clock)
    rid = new_request(client, "access")
    path = f"/dpo/droits/demandes/{rid}/suivi"
    refused = post(client, path, {"status": "extended", "extension_reason": ""},
                   follow_redirects=True)
    assert "choisissez le motif" in flashed(refused)
    assert request_row(app, rid).due_on == date(2026, 12, 23)
    post(client, path, {"status": "extended", "extension_reason": "complexity"})
    row = request_row(app, rid)
    assert (row.status, row.due_on, row.extension_reason) == (
        "extended", date(2027, 2, 23), "complexity")
    post(client, path, {"status": "in_progress"})
    again = post(client, path, {"status": "extended", "extension_reason": "complexity"},
                 follow_redirects=True)
    assert "Le délai a déjà été prolongé" in flashed(again)


def test_the_answer_is_sealed_for_the_dpo_institution_only(app: Flask,
                                                           clock: FixedClock) -> None:
    client = dpo_client(app, clock)
    rid = new_request(client, "rectification")
    refused = post(client, f"/dpo/droits/demandes/{rid}/suivi", {"status": "answered"},
                   follow_redirects=True)
    assert "Saisissez la réponse" in flashed(refused)
    post(client, f"/dpo/droits/demandes/{rid}/suivi", {"status": "answered",
                                                        "answer": ANSWER})
    svc = services_of(app)
    with svc.db.unit_of_work() as s:
        row = s.scalar(select(RightsRequest).where(RightsRequest.public_id == rid))
        assert row is not None and row.status == "answered"
        assert row.answered_on == date(2026, 11, 23)
        document = s.get(Document, row.answer_document_id)
        assert document is not None
        readers = [w.reader for w in s.scalars(select(KeyWrap).where(
            KeyWrap.document_id == document.id))]
        owner = s.scalar(select(Institution).join(Unit).where(
            Unit.name == "Direction de la cohésion sociale"))
        assert owner is not None
        assert readers == [owner.key_owner]
        assert ANSWER.encode() not in svc.blobs.get(document.blob)
    viewed = len(events(app, "rights.request_viewed"))
    page = client.get(f"/dpo/droits/demandes/{rid}").get_data(as_text=True)
    assert ANSWER.replace("'", "&#39;") in page
    after = events(app, "rights.request_viewed")
    assert len(after) == viewed + 1  # one event per page that opens the answer
    assert (after[-1].object_id, after[-1].outcome) == (rid, "success")


def test_overdue_and_soon_due_requests_head_the_page(app: Flask, clock: FixedClock) -> None:
    client = dpo_client(app, clock)
    today = date(2026, 11, 23)
    overdue = new_request(client, "access", received_on=today - timedelta(days=40))
    soon = new_request(client, "objection", received_on=today - timedelta(days=26))
    later = new_request(client, "erasure", received_on=today - timedelta(days=2))
    answered = new_request(client, "access", received_on=today - timedelta(days=45))
    post(client, f"/dpo/droits/demandes/{answered}/suivi", {"status": "refused",
                                                             "answer": "Demande infondée."})
    page = client.get("/dpo/droits/").get_data(as_text=True)
    top = page[page.index("Échéances"):page.index("Registre des demandes")]
    assert "1 demande en retard" in top and overdue in top
    assert "1 demande à traiter dans les 7 jours" in top and soon in top
    assert later not in top and answered not in top


def test_only_the_dpo_reaches_the_registers(app: Flask, clock: FixedClock) -> None:
    for username in ("ts.montauban", "cft.montauban", "rmds.montauban", "admin",
                     "cm.francetravail"):
        client = app.test_client()
        login(client, username, clock)
        for path in ("/dpo/droits/", "/dpo/droits/registre", "/dpo/droits/violations",
                     "/dpo/droits/demandes/nouvelle"):
            assert client.get(path).status_code == 403, (username, path)
    anonymous = app.test_client().get("/dpo/droits/")
    assert anonymous.status_code == 302 and "/connexion" in anonymous.location


def test_a_request_of_another_institution_is_not_found(app: Flask, clock: FixedClock) -> None:
    client = dpo_client(app, clock)
    rid = new_request(client, "access")
    svc = services_of(app)
    with svc.db.unit_of_work() as s:
        other = s.scalar(select(Institution.id).where(Institution.name == "CIAS Lodévois et "
                                                                          "Larzac"))
        row = s.scalar(select(RightsRequest).where(RightsRequest.public_id == rid))
        assert row is not None and other is not None
        row.institution_id = other
    assert client.get(f"/dpo/droits/demandes/{rid}").status_code == 404
    assert client.get(f"/dpo/droits/demandes/{'0' * 32}").status_code == 404


def test_names_never_reach_audit_rows_or_urls(app: Flask, clock: FixedClock) -> None:
    prepare(app, sign=False)
    client = dpo_client(app, clock)
    rid = new_request(client, "access")
    assert "Lef" not in rid
    for event in events(app):
        assert "Lef" not in repr([getattr(event, c.key) for c in event.__table__.columns])
    with services_of(app).db.unit_of_work() as s:
        assert s.scalar(select(Person.id)) is not None
    assert IDENTITY.last_name not in repr(request_row(app, rid).__dict__)
