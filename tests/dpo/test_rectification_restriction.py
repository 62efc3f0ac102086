"""Rectification through the persons' use case, and restriction (art. 18): set and lifted with
a reason, shown on the person's pages, and any sending refused while it is set."""

from __future__ import annotations

from flask import Flask
from sqlalchemy import select

from exchange.domain.clock import FixedClock
from exchange.domain.errors import RestrictionActive
from exchange.dpo.models import RestrictionChange
from exchange.persons import identities as persons
from exchange.persons.models import Person
from tests.dpo.support import dpo_client, events, flashed, new_request, post
from tests.fiches.support import IDENTITY, fiche_state, prepare, services_of, signed_in
from tests.fiches.support import post as fiche_post


def _person(app: Flask, pid: str) -> Person:
    with services_of(app).db.unit_of_work() as s:
        person = s.scalar(select(Person).where(Person.public_id == pid))
        assert person is not None
        return person


def test_rectification_goes_through_the_persons_use_case(app: Flask, clock: FixedClock) -> None:
    prepared = prepare(app, sign=False)
    client = dpo_client(app, clock)
    rid = new_request(client, "rectification")
    before = _person(app, prepared.person)
    form = client.get(f"/dpo/droits/demandes/{rid}/rectification")
    assert form.status_code == 200 and 'value="Lefèvre"' in form.get_data(as_text=True)
    viewed = events(app, "person.viewed", object_id=prepared.person)
    assert [(e.purpose, e.actor_role) for e in viewed] == [("dpo_request", "dpo")]
    values = {**IDENTITY.form_values(), "last_name": "Lefèvre-Durand",
              "address": "3 rue des Lilas, 82000 Montauban"}
    values["rsa_beneficiary"] = "y"
    response = post(client, f"/dpo/droits/demandes/{rid}/rectification", values,
                    follow_redirects=True)
    assert "L&#39;identité est rectifiée" in flashed(response)
    after = _person(app, prepared.person)
    assert after.identity_version == before.identity_version + 1
    assert after.identity != before.identity
    updated = events(app, "person.updated", object_id=prepared.person)
    assert [(e.purpose, e.actor_role) for e in updated] == [("dpo_request", "dpo")]
    svc = services_of(app)
    with svc.db.unit_of_work() as s:
        keystore = svc.keystore(s)
        assert after.index_name_birth == persons.name_index(keystore, "Lefèvre-Durand",
                                                            IDENTITY.birth_date)
        identity = persons.open_identity(svc.personal(s), after)
        assert identity.address == "3 rue des Lilas, 82000 Montauban"


def test_an_access_request_does_not_allow_rectification(app: Flask, clock: FixedClock) -> None:
    prepare(app, sign=False)
    client = dpo_client(app, clock)
    rid = new_request(client, "access")
    response = client.get(f"/dpo/droits/demandes/{rid}/rectification", follow_redirects=True)
    assert "ne permet pas cette opération" in flashed(response)
    # The refusal is recorded; the identity was not opened.
    assert [(e.object_id, e.outcome) for e in events(app, "person.viewed")] == [
        (rid, "refused")]


def test_restriction_needs_a_reason_and_blocks_sending(app: Flask, clock: FixedClock) -> None:
    prepared = prepare(app)  # signed and countersigned, ready to send
    client = dpo_client(app, clock)
    rid = new_request(client, "restriction")
    path = f"/dpo/droits/demandes/{rid}/limitation"
    refused = post(client, path, {"restricted": "1", "reason": ""}, follow_redirects=True)
    assert "obligatoire" in flashed(refused)
    assert not _person(app, prepared.person).restricted
    post(client, path, {"restricted": "1", "reason": "accuracy_contested"})
    assert _person(app, prepared.person).restricted
    assert [e.object_id for e in events(app, "rights.restriction_set", outcome="success")] == [
        prepared.person]

    # The social worker sees the banner and cannot send.
    worker = signed_in(app, "ts.montauban", clock)
    page = worker.get(f"/personnes/{prepared.person}").get_data(as_text=True)
    assert "Restreint" in page
    response = fiche_post(worker, f"/fiches/{prepared.fiche}/envoyer", follow_redirects=True)
    assert RestrictionActive.default_message.replace("'", "&#39;") in flashed(response)
    assert fiche_state(app, prepared.fiche) == "countersigned"

    post(client, path, {"restricted": "0", "reason": "accuracy_verified"})
    assert not _person(app, prepared.person).restricted
    with services_of(app).db.unit_of_work() as s:
        history = [(c.restricted, c.reason_code) for c in s.scalars(
            select(RestrictionChange).order_by(RestrictionChange.id))]
    assert history == [(True, "accuracy_contested"), (False, "accuracy_verified")]
    assert len(events(app, "rights.restriction_lifted")) == 1
    fiche_post(worker, f"/fiches/{prepared.fiche}/envoyer")
    assert fiche_state(app, prepared.fiche) == "sent"
