"""Sending is refused, with the French reason and nothing changed, when there is no consent,
after the person withdrew it, from a wrong state, or before the countersignature the
convention asks; an upload that is not a PDF, JPEG or PNG is refused by its content."""

from __future__ import annotations

import io

import pytest
from flask import Flask
from sqlalchemy import select

from exchange.domain.clock import FixedClock
from exchange.domain.errors import DomainError
from exchange.fiches import sending
from exchange.fiches.models import Fiche
from exchange.policy import visible_fiche
from tests.fiches.support import (
    acting_as,
    audit_events,
    fiche_state,
    flashed,
    post,
    prepare,
    services_of,
    signed_in,
    snapshot,
)


def _send_is_refused(app: Flask, clock: FixedClock, fiche: str, message: str) -> None:
    worker = signed_in(app, "ts.montauban", clock)
    before = snapshot(app, fiche)
    refusals = len(audit_events(app, "fiche.refused", fiche))
    answer = post(worker, f"/fiches/{fiche}/envoyer", follow_redirects=True)
    assert answer.status_code == 200
    assert message in flashed(answer).replace("&#39;", "'"), flashed(answer)
    assert snapshot(app, fiche) == before
    assert len(audit_events(app, "fiche.refused", fiche)) == refusals + 1
    assert not audit_events(app, "fiche.sent", fiche)


def test_signing_without_consent_is_refused_and_nothing_is_signed(
        app: Flask, clock: FixedClock) -> None:
    prepared = prepare(app, consent=False, sign=False)
    worker = signed_in(app, "ts.montauban", clock)
    draft = f"/fiches/{prepared.fiche}/brouillon"
    page = worker.get(draft).get_data(as_text=True)
    assert "Aucun consentement enregistré pour cet échange" in page
    before = snapshot(app, prepared.fiche)
    from tests.fiches.support import FIELDS

    answer = post(worker, draft, {**FIELDS, "action": "sign"}, form_page=draft)
    assert answer.status_code == 409
    assert ("La personne n'a pas donné (ou a retiré) son consentement"
            in answer.get_data(as_text=True).replace("&#39;", "'"))
    assert snapshot(app, prepared.fiche) == before
    assert fiche_state(app, prepared.fiche) == "draft"


def test_sending_without_a_consent_on_record_is_refused(app: Flask, clock: FixedClock) -> None:
    prepared = prepare(app)
    # The row no longer names the consent the fiche was signed under (no code path does that:
    # retention and erasure keep a consent a fiche refers to).
    with services_of(app).db.unit_of_work() as s:
        fiche = s.scalar(select(Fiche).where(Fiche.public_id == prepared.fiche))
        assert fiche is not None
        fiche.consent_id = None
    before = snapshot(app, prepared.fiche)
    with acting_as(app, "ts.montauban") as ctx:  # the use case refuses it on its own
        with pytest.raises(DomainError,
                           match="Le consentement de la personne à cet échange n'est pas"):
            sending.send(ctx, visible_fiche(ctx.session, ctx.agent, prepared.fiche))
        ctx.session.rollback()
    # Through the portal, the row no longer matches the signed manifest: it is not sent.
    worker = signed_in(app, "ts.montauban", clock)
    answer = post(worker, f"/fiches/{prepared.fiche}/envoyer")
    assert answer.status_code == 409
    assert snapshot(app, prepared.fiche) == before
    assert len(audit_events(app, "fiche.tampered", prepared.fiche)) == 1
    assert not audit_events(app, "fiche.sent", prepared.fiche)


def test_sending_after_withdrawal_is_refused_and_shown(app: Flask, clock: FixedClock) -> None:
    prepared = prepare(app)
    worker = signed_in(app, "ts.montauban", clock)
    withdraw = f"/personnes/{prepared.person}/consentements/{prepared.consent}/retrait"
    assert post(worker, withdraw, form_page=withdraw).status_code == 302
    _send_is_refused(app, clock, prepared.fiche,
                     "La personne a retiré son consentement le 23/11/2026 : aucun nouvel "
                     "envoi n'est possible.")
    page = worker.get(f"/fiches/{prepared.fiche}").get_data(as_text=True)
    assert "La personne a retiré son consentement le" in page.replace("&#39;", "'")


def test_sending_a_draft_is_refused(app: Flask, clock: FixedClock) -> None:
    prepared = prepare(app, sign=False)
    _send_is_refused(app, clock, prepared.fiche,
                     "Impossible d'envoyer cette fiche : elle est à l'état « Brouillon ».")


def test_sending_before_the_countersignature_is_refused(app: Flask, clock: FixedClock) -> None:
    prepared = prepare(app, countersign=False)
    _send_is_refused(app, clock, prepared.fiche,
                     "faites contresigner la fiche avant de l'envoyer")
    # ...and only the manager of the sending unit is offered, and allowed, to countersign.
    worker = signed_in(app, "ts.montauban", clock)
    assert "Contresigner" not in worker.get(f"/fiches/{prepared.fiche}").get_data(as_text=True)
    answer = post(worker, f"/fiches/{prepared.fiche}/contresigner", follow_redirects=True)
    assert "Seul le responsable de la structure expéditrice" in flashed(answer)
    assert fiche_state(app, prepared.fiche) == "signed"


def test_an_upload_that_is_not_a_pdf_jpeg_or_png_is_refused(
        app: Flask, clock: FixedClock) -> None:
    prepared = prepare(app, sign=False)
    worker = signed_in(app, "ts.montauban", clock)
    draft = f"/fiches/{prepared.fiche}/brouillon"
    before = snapshot(app, prepared.fiche)
    answer = post(worker, f"/fiches/{prepared.fiche}/pieces-jointes",
                  {"fichier": (io.BytesIO(b"MZ\x90\x00 not a document at all"), "bilan.pdf")},
                  form_page=draft, content_type="multipart/form-data", follow_redirects=True)
    assert "ni un PDF, ni une image JPEG ou PNG" in flashed(answer)
    assert snapshot(app, prepared.fiche) == before
    assert audit_events(app, "upload.refused", prepared.fiche)
