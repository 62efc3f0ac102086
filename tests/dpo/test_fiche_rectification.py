"""A rectification request reaches the person's fiches: the DPO lists them (metadata only),
marks "rectification demandée" on one its institution sent, the sending unit sees the notice on
the fiche and rectifies it, and the request shows the new version's number and date."""

from __future__ import annotations

import re

from flask import Flask
from sqlalchemy import select

from exchange.domain.clock import FixedClock
from exchange.fiches import rectification
from exchange.fiches.models import Fiche, FicheRectificationMark
from exchange.policy import visible_fiche
from tests.dpo.support import FT_DPO, FT_UNIT, add_dpo, dpo_client, events, new_request, post
from tests.fiches.support import FIELDS, IDENTITY, acting_as, sent, services_of, signed_in
from tests.fiches.support import post as post_as
from tests.retention.support import axe3_sent

NOTICE = "a demandé le"


def _mark_path(rid: str, fiche: str) -> str:
    return f"/dpo/droits/demandes/{rid}/fiches/{fiche}/rectification"


def _html(response: object) -> str:
    return response.get_data(as_text=True).replace("&#39;", "'")  # type: ignore[attr-defined]


def test_the_dpo_asks_the_sending_unit_and_sees_the_new_version(
        app: Flask, clock: FixedClock) -> None:
    fiche = sent(app).fiche
    dpo = dpo_client(app, clock)
    rid = new_request(dpo, "rectification")
    page = _html(dpo.get(f"/dpo/droits/demandes/{rid}"))
    assert fiche[:8].upper() in page and "Demander la rectification" in page
    assert "Orientation" in page and "MDS de Montauban" in page
    # Metadata only: no content and no name of the person on the DPO's page.
    for text in (FIELDS["expectations"], FIELDS["motive"], IDENTITY.last_name.upper(),
                 IDENTITY.first_names):
        assert text not in page

    worker = signed_in(app, "ts.montauban", clock)
    assert NOTICE not in _html(worker.get(f"/fiches/{fiche}"))
    marked = post(dpo, _mark_path(rid, fiche))
    assert marked.status_code == 302
    page = _html(dpo.get(f"/dpo/droits/demandes/{rid}"))
    assert re.search(r"Demandée le \d\d/11/2026 à \d\d:\d\d, en attente", page)
    assert "Demander la rectification" not in page
    [event] = events(app, "rights.fiche_rectification_requested")
    assert (event.object_type, event.object_id, event.outcome, event.purpose) == (
        "fiche", fiche, "success", "dpo_request")

    # The sending unit sees the notice; the recipient does not.
    shown = _html(worker.get(f"/fiches/{fiche}"))
    assert "délégué à la protection des données de votre institution " + NOTICE in shown
    advisor = signed_in(app, "cft.montauban", clock)
    assert NOTICE not in _html(advisor.get(f"/fiches/{fiche}"))

    done = post_as(worker, f"/fiches/{fiche}/rectifier",
                   {**FIELDS, "expectations": "Un emploi de cariste.",
                    "rectification_motive": "person_request"})
    assert done.status_code == 303, _html(done)[:2000]
    assert NOTICE not in _html(worker.get(f"/fiches/{fiche}"))
    page = _html(dpo.get(f"/dpo/droits/demandes/{rid}"))
    assert re.search(r"Rectifiée : version 2 du \d\d/11/2026 à \d\d:\d\d", page)
    assert "Un emploi de cariste." not in page
    with services_of(app).db.unit_of_work() as s:
        mark = s.scalar(select(FicheRectificationMark))
        assert mark is not None and mark.done_version == 2 and mark.done_at is not None


def test_a_fiche_received_from_another_institution_is_not_the_dpo_s_to_mark(
        app: Flask, clock: FixedClock) -> None:
    """The Département's DPO sees an orientation France Travail sent to the MDS, and is told
    to pass the request on to France Travail's DPO."""
    fiche = axe3_sent(app).fiche
    dpo = dpo_client(app, clock)
    rid = new_request(dpo, "rectification")
    page = _html(dpo.get(f"/dpo/droits/demandes/{rid}"))
    assert fiche[:8].upper() in page and "Envoyée par une autre institution" in page
    answer = post(dpo, _mark_path(rid, fiche), follow_redirects=True)
    assert "transmettez la demande à son délégué" in _html(answer)
    [event] = events(app, "rights.fiche_rectification_requested")
    assert event.outcome == "refused"
    with services_of(app).db.unit_of_work() as s:
        assert s.scalar(select(FicheRectificationMark.id)) is None


def test_a_fiche_is_marked_once_and_only_under_a_rectification_request(
        app: Flask, clock: FixedClock) -> None:
    fiche = sent(app).fiche
    dpo = dpo_client(app, clock)
    access = new_request(dpo, "access")
    assert "Demander la rectification" not in _html(dpo.get(f"/dpo/droits/demandes/{access}"))
    refused = post(dpo, _mark_path(access, fiche), follow_redirects=True)
    assert "Ce type de demande ne permet pas cette opération." in _html(refused)

    rid = new_request(dpo, "rectification")
    assert post(dpo, _mark_path(rid, fiche)).status_code == 302
    again = post(dpo, _mark_path(rid, fiche), follow_redirects=True)
    assert "déjà demandée" in _html(again)
    assert [e.outcome for e in events(app, "rights.fiche_rectification_requested")] == [
        "refused", "success", "refused"]
    # A fiche that is not the person's, or no fiche at all: nothing to find.
    other = new_request(dpo, "rectification", last_name="Personne")
    assert post(dpo, _mark_path(other, fiche)).status_code == 302  # no person: refused
    assert post(dpo, _mark_path(rid, "f" * 32)).status_code == 404
    with services_of(app).db.unit_of_work() as s:
        assert len(list(s.scalars(select(FicheRectificationMark)))) == 1


def test_marks_go_with_the_fiche_when_the_person_is_erased(app: Flask, clock: FixedClock) -> None:
    prepared = sent(app)
    with acting_as(app, "ts.montauban") as ctx:
        rectification.rectify(ctx, visible_fiche(ctx.session, ctx.agent, prepared.fiche),
                              {**FIELDS, "expectations": "Un emploi de cariste."},
                              "person_request")
    dpo = dpo_client(app, clock)
    rid = new_request(dpo, "rectification")
    assert post(dpo, _mark_path(rid, prepared.fiche)).status_code == 302
    erasure = new_request(dpo, "erasure")
    erased = post(dpo, f"/dpo/droits/demandes/{erasure}/effacement", {"confirm": "y"})
    assert erased.status_code == 302
    from exchange.fiches.models import FicheVersion
    from exchange.platform.models import Document

    # The Département erased its share: France Travail's copy of the fiche stays, until its
    # own DPO erases its share too.
    assert prepared.fiche[:8].upper() not in _html(dpo.get(f"/dpo/droits/demandes/{rid}"))
    with services_of(app).db.unit_of_work() as s:
        assert s.scalar(select(Fiche.id)) is not None
    add_dpo(app, FT_DPO, FT_UNIT)
    theirs = dpo_client(app, clock, FT_DPO)
    post(theirs, f"/dpo/droits/demandes/{new_request(theirs, 'erasure')}/effacement",
         {"confirm": "y"})
    with services_of(app).db.unit_of_work() as s:
        assert s.scalar(select(Fiche.id)) is None
        assert s.scalar(select(FicheVersion.id)) is None
        assert s.scalar(select(FicheRectificationMark.id)) is None
        assert s.scalar(select(Document.id).where(Document.fiche_id.is_not(None))) is None
    assert prepared.fiche[:8].upper() not in _html(dpo.get(f"/dpo/droits/demandes/{rid}"))
