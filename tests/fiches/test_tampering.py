"""A flipped byte in a stored ciphertext is detected: the fiche is never shown, the user gets
the French message, and the event is in the audit trail (committed despite the error)."""

from __future__ import annotations

from flask import Flask
from sqlalchemy import select

from exchange.domain.clock import FixedClock
from exchange.fiches import sending
from exchange.fiches.common import TAMPERED
from exchange.fiches.models import Fiche
from exchange.platform.models import Document
from exchange.policy import visible_fiche
from tests.fiches.support import (
    acting_as,
    audit_events,
    fiche_state,
    prepare,
    services_of,
    signed_in,
    user_id,
)


def _sent(app: Flask) -> str:
    prepared = prepare(app)
    with acting_as(app, "ts.montauban") as ctx:
        sending.send(ctx, visible_fiche(ctx.session, ctx.agent, prepared.fiche))
    return prepared.fiche


def _flip_a_byte(app: Flask, fiche: str, role: str) -> None:
    svc = services_of(app)
    with svc.db.unit_of_work() as s:
        blob = s.scalar(select(Document.blob).join(Fiche, Document.fiche_id == Fiche.id)
                        .where(Fiche.public_id == fiche, Document.role == role))
        assert blob is not None
    path = svc.settings.blob_dir / blob[:2] / blob
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def test_a_flipped_byte_in_the_content_is_reported_never_shown(
        app: Flask, clock: FixedClock) -> None:
    fiche = _sent(app)
    _flip_a_byte(app, fiche, "content")
    advisor = signed_in(app, "cft.montauban", clock)
    answer = advisor.get(f"/fiches/{fiche}")
    assert answer.status_code == 409
    html = answer.get_data(as_text=True).replace("&#39;", "'")
    assert TAMPERED in html
    assert "Lefèvre" not in html and "logement et mobilité" not in html
    assert fiche_state(app, fiche) == "sent"  # not read: nothing was shown
    events = audit_events(app, "fiche.tampered", fiche)
    assert len(events) == 1
    assert events[0].outcome == "failure"
    with services_of(app).db.unit_of_work() as s:
        from exchange.accounts.models import User

        advisor_pid = s.scalar(select(User.public_id).where(
            User.id == user_id(app, "cft.montauban")))
    assert events[0].actor_user_id == advisor_pid
    assert not audit_events(app, "fiche.opened", fiche)


def test_a_flipped_byte_in_the_pdf_blocks_its_download(app: Flask, clock: FixedClock) -> None:
    fiche = _sent(app)
    advisor = signed_in(app, "cft.montauban", clock)
    assert advisor.get(f"/fiches/{fiche}").status_code == 200
    _flip_a_byte(app, fiche, "pdf")
    answer = advisor.get(f"/fiches/{fiche}/pdf")
    assert answer.status_code == 409 and answer.mimetype == "text/html"
    assert TAMPERED in answer.get_data(as_text=True).replace("&#39;", "'")
    assert len(audit_events(app, "fiche.tampered", fiche)) == 1
    assert not audit_events(app, "fiche.pdf_downloaded", fiche)
