"""The access export (RGPD art. 15): for one person, every fiche the DPO's institution
exchanged and every access its staff made to their data, and nothing about anybody else nor
about a partner's processing; one audit event per export; attachments only."""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import date
from pathlib import Path

from flask import Flask
from sqlalchemy import select

from exchange.audit.models import AuditEvent
from exchange.audit.search import person_records
from exchange.domain.clock import FixedClock
from exchange.domain.identity import Identity
from exchange.fiches.models import Fiche
from exchange.org.models import Institution, Unit
from exchange.persons.models import Consent, Person
from tests.dpo.support import dpo_client, events, flashed, new_request, post
from tests.fiches.support import IDENTITY, accepted, prepare, services_of

OTHER = Identity(last_name="Martin", first_names="Paul", birth_date=date(1979, 6, 2),
                 ft_identifier="7654321B")


def _export(client, rid: str, fmt: str):  # type: ignore[no-untyped-def]
    response = post(client, f"/dpo/droits/demandes/{rid}/acces.{fmt}")
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    assert response.headers["Content-Disposition"].startswith("attachment; ")
    assert "Lef" not in response.headers["Content-Disposition"]
    assert response.headers["Cache-Control"] == "no-store"
    return response


def test_the_export_lists_every_fiche_and_access_and_nothing_else(app: Flask,
                                                                   clock: FixedClock) -> None:
    mine, accompaniment = accepted(app)
    other = prepare(app, identity=OTHER)
    client = dpo_client(app, clock)
    rid = new_request(client, "access")
    data = json.loads(_export(client, rid, "json").get_data())

    svc = services_of(app)
    with svc.db.unit_of_work() as s:
        person = s.scalar(select(Person).where(Person.public_id == mine.person))
        assert person is not None
        fiches = set(s.scalars(select(Fiche.public_id).where(Fiche.person_id == person.id)))
        consents = set(s.scalars(select(Consent.public_id).where(
            Consent.person_id == person.id)))
        departement = s.scalar(select(Institution.id).where(
            Institution.name == "Département de Tarn-et-Garonne"))
        assert departement is not None
        objects = set(person_records(s, svc.keystore(s), IDENTITY.last_name,
                                     IDENTITY.birth_date, institution_id=departement).objects)
        ours = set(s.scalars(select(Unit.public_id).where(Unit.institution_id == departement)))
        expected = list(s.scalars(select(AuditEvent.seq).where(
            AuditEvent.object_id.in_(objects | {rid}), AuditEvent.actor_unit_id.in_(ours))
            .order_by(AuditEvent.seq)))
        partners = list(s.scalars(select(AuditEvent.seq).where(
            AuditEvent.object_id.in_(objects), AuditEvent.actor_unit_id.not_in(ours))))
        others = set(person_records(s, svc.keystore(s), OTHER.last_name,
                                    OTHER.birth_date, institution_id=departement).objects)

    assert data["personne"]["reference"] == mine.person
    assert data["personne"]["identite"]["Nom d'usage"] == IDENTITY.last_name
    assert {f["reference"] for f in data["fiches"]} == fiches == {mine.fiche}
    assert data["fiches"][0]["etat"] == "Acceptée"
    assert data["fiches"][0]["destinataire"] == {
        "structure": "Agence France Travail Montauban Albasud",
        "institution": "France Travail Occitanie"}
    assert [a["reference"] for a in data["accompagnements"]] == [accompaniment]
    assert {c["reference"] for c in data["consentements"]} == consents
    assert data["finalites"] and data["conservation"]["identite_conservee_jusqu_au"]
    # Every access the Département's staff made in this test, in order, the export itself
    # included; France Travail's (it opened and accepted the fiche) are France Travail's to
    # give: the person is told it is a recipient.
    assert [a["n"] for a in data["acces_aux_donnees"]] == expected
    assert len(expected) >= 10 and partners
    assert not set(partners) & {a["n"] for a in data["acces_aux_donnees"]}
    assert {a["institution"] for a in data["acces_aux_donnees"]} == {
        "Département de Tarn-et-Garonne"}
    assert "France Travail Occitanie" in data["destinataires"]
    assert data["acces_aux_donnees"][-1]["action"] == "Export du droit d'accès"
    # Nothing about the other person.
    text = json.dumps(data, ensure_ascii=False)
    assert OTHER.last_name not in text and OTHER.ft_identifier not in text
    for public_id in others | {other.person, other.fiche}:
        assert public_id not in text
    assert "username" not in text and "ts.montauban" not in text


def test_one_audit_event_per_export_and_a_real_pdf(app: Flask, clock: FixedClock,
                                                   tmp_path: Path) -> None:
    prepared = prepare(app)
    client = dpo_client(app, clock)
    rid = new_request(client, "access")
    pdf = _export(client, rid, "pdf")
    assert pdf.mimetype == "application/pdf" and pdf.data.startswith(b"%PDF-")
    exports = events(app, "rights.access_export")
    assert [(e.object_type, e.object_id, e.purpose, e.actor_role) for e in exports] == [
        ("person", prepared.person, "dpo_request", "dpo")]
    _export(client, rid, "json")
    assert len(events(app, "rights.access_export")) == 2
    if shutil.which("pdftotext"):
        (tmp_path / "a.pdf").write_bytes(pdf.data)
        text = subprocess.run(["pdftotext", str(tmp_path / "a.pdf"), "-"], check=True,
                              capture_output=True, text=True).stdout
        assert "Lefèvre" in text and "droit d'accès" in text.lower()
        assert "MDS de Montauban" in text


def test_no_export_without_a_person_or_for_another_kind(app: Flask, clock: FixedClock) -> None:
    prepare(app, sign=False)
    client = dpo_client(app, clock)
    nobody = new_request(client, "access", last_name="Personne")
    refused = post(client, f"/dpo/droits/demandes/{nobody}/acces.pdf", follow_redirects=True)
    assert "Aucune personne enregistrée" in flashed(refused)
    erasure = new_request(client, "erasure")
    refused = post(client, f"/dpo/droits/demandes/{erasure}/acces.json",
                   follow_redirects=True)
    assert "ne permet pas cette opération" in flashed(refused)
    assert [e.outcome for e in events(app, "rights.access_export")] == ["refused", "refused"]
    assert client.get(f"/dpo/droits/demandes/{erasure}/acces.json").status_code == 405
