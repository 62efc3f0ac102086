"""The register of processing activities (art. 30), generated from the configuration, and the
breach register (art. 33) with its 72-hour deadline and sealed free texts."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select

from exchange.domain.clock import PARIS, FixedClock
from exchange.dpo.models import Breach
from exchange.platform.models import Document
from retention.sweep import checkpoint
from tests.conftest import START
from tests.dpo.support import dpo_client, events, new_request, post
from tests.fiches.support import services_of

NATURE = "Envoi par erreur d'un courriel contenant un export à une adresse externe."
MEASURES = "Demande de suppression au destinataire, rappel des consignes aux agents."


def _local(at: datetime) -> str:
    return at.astimezone(PARIS).strftime("%Y-%m-%dT%H:%M")


def _breach_form(detected: datetime, **extra: str) -> dict[str, object]:
    return {"detected_at": _local(detected), "data_categories": ["identity", "social"],
            "person_categories": ["job_seekers"], "persons_count": "12",
            "records_count": "30", "nature": NATURE, "consequences": "Atteinte à la vie privée",
            "measures": MEASURES, **extra}


def test_the_register_of_processing_comes_from_the_configuration(app: Flask,
                                                                  clock: FixedClock) -> None:
    client = dpo_client(app, clock)
    page = client.get("/dpo/droits/registre").get_data(as_text=True)
    assert "Registre des activités de traitement" in page
    for text in ("Département de Tarn-et-Garonne", "France Travail Occitanie",
                 "CIAS Lodévois et Larzac", "dpo@lodevoisetlarzac.fr",
                 "Convention cadre — approche globale de l&#39;accompagnement, Tarn-et-Garonne",
                 "120 mois", "2 mois", "Accompagnement global (axe 2)",
                 "Données de santé", "Mesures de sécurité", "du 01/01/2024 au 31/12/2026"):
        assert text in page, text
    assert [e.object_id for e in events(app, "register.viewed")] == ["art30"]


def test_a_breach_is_recorded_with_its_deadline(app: Flask, clock: FixedClock) -> None:
    client = dpo_client(app, clock)
    detected = START - timedelta(hours=10)
    response = post(client, "/dpo/droits/violations/nouvelle", _breach_form(detected))
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    bid = response.location.rsplit("/", 1)[1]
    listing = client.get("/dpo/droits/violations").get_data(as_text=True)
    assert "Reste 61 h" in listing  # 72 h - 10 h, less the minutes the sign-in took
    page = client.get(f"/dpo/droits/violations/{bid}").get_data(as_text=True)
    assert NATURE.replace("'", "&#39;") in page and MEASURES in page
    assert [e.action for e in events(app, object_id=bid)] == ["breach.recorded",
                                                              "breach.viewed"]

    clock.advance(timedelta(hours=70))
    client = dpo_client(app, clock)  # the session has expired meanwhile
    listing = client.get("/dpo/droits/violations").get_data(as_text=True)
    assert "Délai dépassé de 8 h" in listing
    notified = START + timedelta(hours=65)  # 75 h after the constat
    post(client, f"/dpo/droits/violations/{bid}", _breach_form(
        detected, cnil_notified_at=_local(notified), persons_count="15"))
    with services_of(app).db.unit_of_work() as s:
        breach = s.scalar(select(Breach).where(Breach.public_id == bid))
        assert breach is not None
        assert breach.cnil_notified_at == notified.replace(second=0, microsecond=0)
        assert breach.persons_count == 15
        assert s.scalar(select(Document.id).where(Document.role == "breach_texts").where(
            Document.id != breach.document_id)) is None  # the old texts were destroyed
    listing = client.get("/dpo/droits/violations").get_data(as_text=True)
    assert "Notifiée hors délai" in listing
    assert "breach.updated" in [e.action for e in events(app, object_id=bid)]


def test_a_breach_in_the_future_or_without_category_is_refused(app: Flask,
                                                               clock: FixedClock) -> None:
    client = dpo_client(app, clock)
    future = post(client, "/dpo/droits/violations/nouvelle",
                  _breach_form(START + timedelta(days=1)))
    assert future.status_code == 200
    assert "ne peut pas être dans le futur" in future.get_data(as_text=True)
    form = _breach_form(START - timedelta(hours=1))
    form["data_categories"] = []
    missing = post(client, "/dpo/droits/violations/nouvelle", form)
    assert "Cochez au moins une catégorie de données" in missing.get_data(as_text=True)
    with services_of(app).db.unit_of_work() as s:
        assert s.scalar(select(Breach.id)) is None


@pytest.mark.sqlite_file
def test_free_texts_are_never_in_clear_on_disk(app: Flask, clock: FixedClock,
                                               instance: Path) -> None:
    client = dpo_client(app, clock)
    post(client, "/dpo/droits/violations/nouvelle", _breach_form(START - timedelta(hours=1)))
    answer = "Réponse confidentielle : votre dossier RSA a été transmis au Département."
    rid = new_request(client, "access", last_name="Quelconque")
    post(client, f"/dpo/droits/demandes/{rid}/suivi", {"status": "answered",
                                                        "answer": answer})
    checkpoint(services_of(app).db)
    files = [p for p in instance.rglob("*") if p.is_file() and "keys" not in p.parts]
    everything = b"".join(p.read_bytes() for p in files)
    for text in (NATURE, MEASURES, answer, "Quelconque"):
        assert text.encode("utf-8") not in everything, text
