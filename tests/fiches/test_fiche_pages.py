"""The fiche screens around the main path: drafts saved and resumed, attachments removed,
cancel, recall before reading, decline with its reason, the new-fiche form, the home summary."""

from __future__ import annotations

import re

from flask import Flask

from exchange.domain.clock import FixedClock
from exchange.persons.models import Person
from tests.fiches.support import (
    audit_events,
    fiche_state,
    flashed,
    post,
    prepare,
    sent,
    signed_in,
    snapshot,
)


def _text(response) -> str:  # type: ignore[no-untyped-def]
    return response.get_data(as_text=True).replace("&#39;", "'")


def test_a_draft_is_saved_with_its_errors_and_resumed(app: Flask, clock: FixedClock) -> None:
    prepared = prepare(app, sign=False)
    worker = signed_in(app, "ts.montauban", clock)
    draft = f"/fiches/{prepared.fiche}/brouillon"
    saved = post(worker, draft, {"action": "save", "diagnostic_date": "2026-11-21",
                                 "barriers": ["health"], "motive": "Motif en cours"},
                 form_page=draft, follow_redirects=True)
    assert "Le brouillon est enregistré." in flashed(saved)
    page = _text(worker.get(draft))
    assert 'value="2026-11-21"' in page and "Motif en cours</textarea>" in page
    assert re.search(r'value="health" checked', page)
    assert not re.search(r'value="housing" checked', page)
    assert fiche_state(app, prepared.fiche) == "draft"
    # Each reading of the draft is audited, since it shows what was typed about the person.
    assert len(audit_events(app, "fiche.viewed", prepared.fiche)) >= 2


def test_an_attachment_is_removed_from_a_draft(app: Flask, clock: FixedClock) -> None:
    prepared = prepare(app, sign=False)
    worker = signed_in(app, "ts.montauban", clock)
    draft = f"/fiches/{prepared.fiche}/brouillon"
    page = _text(worker.get(draft))
    remove = re.search(r'action="(/fiches/[0-9a-f]{32}/pieces-jointes/[0-9a-f]{32}/retirer)"',
                       page)
    assert remove and "attestation.pdf" in page
    answer = post(worker, remove.group(1), form_page=draft, follow_redirects=True)
    assert "La pièce jointe est retirée." in flashed(answer)
    assert "attestation.pdf" not in _text(worker.get(draft))


def test_a_draft_is_cancelled_with_a_reason(app: Flask, clock: FixedClock) -> None:
    prepared = prepare(app, sign=False)
    worker = signed_in(app, "ts.montauban", clock)
    cancel = f"/fiches/{prepared.fiche}/annuler"
    refused = post(worker, cancel, {"reason": "", "text": ""}, follow_redirects=True)
    assert "Motif : Choisissez une valeur dans la liste." in flashed(refused)
    assert fiche_state(app, prepared.fiche) == "draft"
    done = post(worker, cancel, {"reason": "duplicate", "text": ""}, follow_redirects=True)
    assert "La fiche est annulée." in flashed(done)
    assert fiche_state(app, prepared.fiche) == "cancelled"
    assert "Annulée" in _text(done)


def test_recall_before_reading_then_the_recipient_cannot_read(
        app: Flask, clock: FixedClock) -> None:
    prepared = sent(app)
    worker = signed_in(app, "ts.montauban", clock)
    page = _text(worker.get(f"/fiches/{prepared.fiche}"))
    assert "Retirer la fiche" in page
    recalled = post(worker, f"/fiches/{prepared.fiche}/rappeler",
                    {"reason": "wrong_recipient", "text": "Mauvaise agence."},
                    follow_redirects=True)
    assert "La fiche est retirée" in flashed(recalled)
    assert "Erreur de destinataire" in _text(recalled) and "Mauvaise agence." in _text(recalled)
    advisor = signed_in(app, "cft.montauban", clock)
    answer = advisor.get(f"/fiches/{prepared.fiche}")
    assert answer.status_code == 200
    assert "a rappelé cette fiche avant sa lecture" in _text(answer)
    assert "Lefèvre" not in _text(answer)
    assert fiche_state(app, prepared.fiche) == "recalled"


def test_recall_after_reading_is_refused(app: Flask, clock: FixedClock) -> None:
    prepared = sent(app)
    advisor = signed_in(app, "cft.montauban", clock)
    assert advisor.get(f"/fiches/{prepared.fiche}").status_code == 200
    worker = signed_in(app, "ts.montauban", clock)
    assert "Retirer la fiche" not in _text(worker.get(f"/fiches/{prepared.fiche}"))
    before = snapshot(app, prepared.fiche)
    answer = post(worker, f"/fiches/{prepared.fiche}/rappeler",
                  {"reason": "wrong_recipient", "text": ""}, follow_redirects=True)
    assert "Impossible de retirer cette fiche" in flashed(answer).replace("&#39;", "'")
    assert snapshot(app, prepared.fiche) == before


def test_the_advisor_declines_with_a_reason_that_the_sender_reads(
        app: Flask, clock: FixedClock) -> None:
    prepared = sent(app)
    advisor = signed_in(app, "cft.montauban", clock)
    page = _text(advisor.get(f"/fiches/{prepared.fiche}"))
    assert "Accuser réception" in page and "Refuser l'orientation" not in page
    post(advisor, f"/fiches/{prepared.fiche}/accuser-reception")
    page = _text(advisor.get(f"/fiches/{prepared.fiche}"))
    assert "Accepter l'orientation" in page and "Refuser l'orientation" in page
    for option in ("caseload_full", "outside_territory", "other"):
        assert f'value="{option}"' in page
    refused = post(advisor, f"/fiches/{prepared.fiche}/refuser", {"reason": "other", "text": ""},
                   follow_redirects=True)
    assert "Précisez le motif" in flashed(refused)
    assert fiche_state(app, prepared.fiche) == "acknowledged"
    declined = post(advisor, f"/fiches/{prepared.fiche}/refuser",
                    {"reason": "caseload_full", "text": "Reprise possible en janvier."},
                    follow_redirects=True)
    assert "L'orientation est refusée" in flashed(declined).replace("&#39;", "'")
    worker = signed_in(app, "ts.montauban", clock)
    page = _text(worker.get(f"/fiches/{prepared.fiche}"))
    assert "File active complète" in page and "Reprise possible en janvier." in page
    assert "Refusée" in page


def test_the_new_fiche_form_says_what_is_missing(app: Flask, clock: FixedClock) -> None:
    prepared = prepare(app, sign=False)
    worker = signed_in(app, "ts.montauban", clock)
    page = f"/fiches/nouvelle/{prepared.person}"
    form = _text(worker.get(page))
    assert "Orientation vers l'accompagnement global (axe 2)" in form
    answer = post(worker, page, {"kind": "", "unit": ""}, form_page=page)
    assert answer.status_code == 422
    html = _text(answer)
    assert "Choisissez le type de fiche dans la liste." in html
    assert "Choisissez la structure destinataire dans la liste." in html
    bilan = post(worker, page, {"kind": "bilan_mid", "unit": "0" * 32}, form_page=page)
    assert bilan.status_code == 422
    assert "Un bilan ou un retour se rattache à un accompagnement en cours" in _text(bilan)
    # An advisor sees the same person only once the unit has a fiche for them.
    advisor = signed_in(app, "cft.montauban", clock)
    assert advisor.get(page).status_code == 404


def test_the_role_home_page_summarises_the_unit(app: Flask, clock: FixedClock) -> None:
    prepare(app, sign=False)
    prepare(app, countersign=False)
    worker = signed_in(app, "ts.montauban", clock)
    page = _text(worker.get("/travailleur-social/"))
    assert "1 brouillon, 1 à contresigner, 0 prête à envoyer." in page
    assert "Conventions en vigueur de votre institution" in page
    manager = signed_in(app, "rmds.montauban", clock)
    assert "1 à contresigner" in _text(manager.get("/responsable/"))


def test_the_person_page_partial_lists_the_units_fiches(app: Flask, clock: FixedClock) -> None:
    """``fiches/_person_fiches.html`` is what the person's page includes: the link to a new
    fiche and the fiches the unit sees (`person_records`, given by the view)."""
    from flask import render_template_string
    from flask_login import login_user
    from sqlalchemy import select

    from exchange.fiches.reading import person_records
    from tests.fiches.support import acting_as

    prepared = prepare(app, sign=False)
    with app.test_request_context("/"), acting_as(app, "ts.montauban") as ctx:
        login_user(ctx.agent)
        person = ctx.session.scalar(select(Person).where(Person.public_id == prepared.person))
        html = render_template_string('{% include "fiches/_person_fiches.html" %}',
                                      person=person, found=person_records(ctx, person))
    assert f"/fiches/nouvelle/{prepared.person}" in html
    assert f"/fiches/{prepared.fiche}" in html and "Brouillon" in html
