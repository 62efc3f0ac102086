"""What the fiche tests share: acting as a demo user through the use cases, a small real PDF,
a person with consent, a signed (and countersigned) fiche, and a snapshot of everything a send
writes (rows, key wraps, blob files) to compare before and after."""

from __future__ import annotations

import hashlib
import io
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from reportlab.lib.pagesizes import A4
from reportlab.pdfgen import canvas
from sqlalchemy import func, select

from exchange.accounts.models import User
from exchange.acting import Context
from exchange.acting import acting_as as acting_by_id
from exchange.audit.models import AuditEvent
from exchange.domain.clock import FixedClock
from exchange.domain.identity import Identity
from exchange.domain.vocabulary import FicheKind
from exchange.fiches import drafts, signing
from exchange.fiches.models import Fiche
from exchange.notify.models import Notification
from exchange.org.models import Institution, Unit
from exchange.persons import consents
from exchange.persons import identities as persons
from exchange.persons.models import Consent, PersonUnit
from exchange.platform.models import Document, KeyWrap
from exchange.platform.services import Services
from exchange.policy import visible_fiche
from tests.conftest import csrf_token, login

ALBASUD = "Agence France Travail Montauban Albasud"
FRANCE_TRAVAIL = "France Travail Occitanie"
FIELDS = {
    "diagnostic_date": "2026-11-20",
    "barriers": ["housing", "mobility"],
    "professional_barriers": "Pas d'expérience professionnelle depuis 2019.",
    "motive": "Accompagnement global : logement et mobilité à lever avant la reprise d'emploi.",
    "expectations": "Trouver un emploi à temps partiel près de Montauban.",
}
IDENTITY = Identity(last_name="Lefèvre", first_names="Élodie Marie",
                    birth_date=date(1988, 3, 14),
                    ft_identifier="1234567A", rsa_beneficiary=True)


def services_of(app: Flask) -> Services:
    value = app.extensions["liaison"]
    assert isinstance(value, Services)
    return value


def small_pdf(text: str = "Attestation d'hébergement") -> bytes:
    """A real one-page PDF, as a scanner or a word processor would give."""
    buffer = io.BytesIO()
    page = canvas.Canvas(buffer, pagesize=A4, invariant=1)
    page.drawString(72, 760, text)
    page.showPage()
    page.save()
    return buffer.getvalue()


def user_id(app: Flask, username: str) -> int:
    with services_of(app).db.unit_of_work() as s:
        found = s.scalar(select(User.id).where(User.username == username))
        assert found is not None
        return found


def public_id_of(app: Flask, model: Any, **where: Any) -> str:
    with services_of(app).db.unit_of_work() as s:
        found = s.scalar(select(model.public_id).filter_by(**where))
        assert found is not None, (model, where)
        return str(found)


@contextmanager
def acting_as(app: Flask, username: str, *, read_only: bool = False) -> Iterator[Context]:
    """The use cases' context for a demo user, in one unit of work (committed on success), or
    with `read_only` in a reading."""
    svc = services_of(app)
    key = user_id(app, username)
    with acting_by_id(svc, key, address="127.0.0.1", read_only=read_only) as ctx:
        yield ctx



@dataclass(frozen=True)
class Prepared:
    person: str
    consent: str | None
    fiche: str


def prepare(app: Flask, *, consent: bool = True, sign: bool = True,
            countersign: bool = True, identity: Identity = IDENTITY) -> Prepared:
    """A person (created by ts.montauban), their axe 2 consent for France Travail, an axe 2
    orientation to the Albasud agency with one PDF attachment, signed, and countersigned by
    rmds.montauban — each step through the use cases, each in its own unit of work."""
    with acting_as(app, "ts.montauban") as ctx:
        pctx = ctx
        person = persons.create_person(pctx, identity)
        consent_pid = None
        if consent:
            consent_pid = consents.record_consent(
                pctx, person, axis="2",
                recipient=ctx.session.scalar(select(Institution.public_id).where(
                    Institution.name == FRANCE_TRAVAIL)),
                notice_version="1", method="in_person_attestation", attestation=True,
                collected_on=ctx.svc.clock.today().isoformat(), paper_form=None).public_id
        unit = ctx.session.scalar(select(Unit.public_id).where(Unit.name == ALBASUD))
        assert unit is not None
        fiche = drafts.start_draft(ctx, person, FicheKind.ORIENTATION_AXE2, unit)
        drafts.save_draft(ctx, fiche, dict(FIELDS))
        drafts.add_attachment(ctx, fiche, "attestation.pdf", "application/pdf", small_pdf())
        if sign:
            signing.sign(ctx, fiche)
        prepared = Prepared(person.public_id, consent_pid, fiche.public_id)
    if sign and countersign:
        with acting_as(app, "rmds.montauban") as ctx:
            signing.countersign(ctx, visible_fiche(ctx.session, ctx.agent, prepared.fiche))
    return prepared


def fiche_state(app: Flask, pid: str) -> str:
    with services_of(app).db.unit_of_work() as s:
        state = s.scalar(select(Fiche.state).where(Fiche.public_id == pid))
        assert state is not None
        return state


def snapshot(app: Flask, pid: str) -> dict[str, Any]:
    """Everything sending a fiche writes or deletes, as comparable values."""
    svc = services_of(app)
    root = svc.settings.blob_dir
    with svc.db.unit_of_work() as s:
        fiche = s.scalar(select(Fiche).where(Fiche.public_id == pid))
        assert fiche is not None
        return {
            "fiche": (fiche.state, fiche.sent_at, fiche.horizon, fiche.manifest,
                      fiche.updated_at),
            "documents": sorted(
                (d.public_id, d.role, d.fiche_id, d.blob, d.epoch, d.header, d.nonce,
                 d.epoch_wrap, d.size) for d in s.scalars(select(Document))),
            "key_wraps": sorted(
                (w.id, w.document_id, w.reader, w.key_id, w.key_version, w.enc)
                for w in s.scalars(select(KeyWrap))),
            "person_units": sorted((p.person_id, p.unit_id) for p in s.scalars(
                select(PersonUnit))),
            "notifications": s.scalar(select(func.count()).select_from(Notification)),
            "blobs": sorted(
                (str(path.relative_to(root)), hashlib.sha256(path.read_bytes()).hexdigest())
                for path in root.rglob("*") if path.is_file()),
        }


def audit_events(app: Flask, action: str, object_id: str | None = None) -> list[AuditEvent]:
    with services_of(app).db.unit_of_work() as s:
        query = select(AuditEvent).where(AuditEvent.action == action)
        if object_id is not None:
            query = query.where(AuditEvent.object_id == object_id)
        return list(s.scalars(query.order_by(AuditEvent.seq)))


def consent_pid(app: Flask, person_pid: str) -> str:
    with services_of(app).db.unit_of_work() as s:
        from exchange.persons.models import Person

        found = s.scalar(select(Consent.public_id).join(Person, Consent.person_id == Person.id)
                         .where(Person.public_id == person_pid))
        assert found is not None
        return found


def signed_in(app: Flask, username: str, clock: FixedClock) -> FlaskClient:
    """A fresh browser signed in as ``username``."""
    client = app.test_client()
    login(client, username, clock)
    return client


def post(client: FlaskClient, path: str, data: dict[str, Any] | None = None, *,
         form_page: str = "/fiches/recues", **kwargs: Any):  # type: ignore[no-untyped-def]
    """POST with the CSRF token of the user's session (every page carries one)."""
    token = csrf_token(client, form_page)
    return client.post(path, data={**(data or {}), "csrf_token": token}, **kwargs)


def flashed(response: Any) -> str:
    """The text of the flashed messages on a page."""
    html = response.get_data(as_text=True)
    return " ".join(re.findall(r'<p class="msg msg-[a-z]+">(.*?)</p>', html, re.DOTALL))


def sent(app: Flask) -> Prepared:
    """A prepared fiche, sent by ts.montauban."""
    from exchange.fiches import sending

    prepared = prepare(app)
    with acting_as(app, "ts.montauban") as ctx:
        sending.send(ctx, visible_fiche(ctx.session, ctx.agent, prepared.fiche))
    return prepared


def accepted(app: Flask) -> tuple[Prepared, str]:
    """A sent fiche opened, acknowledged and accepted by cft.montauban; and the public id of
    the accompaniment it started."""
    from exchange.fiches import decisions, reading

    prepared = sent(app)
    with acting_as(app, "cft.montauban") as ctx:
        fiche = visible_fiche(ctx.session, ctx.agent, prepared.fiche)
        reading.open_fiche(ctx, fiche, "party")
        decisions.acknowledge(ctx, fiche)
        accompaniment = decisions.accept(ctx, fiche).public_id
    return prepared, accompaniment


def validated_signatures(app: Flask, pdf: bytes) -> int:
    """How many PAdES signatures the PDF carries, all checked with pyHanko against the platform
    CA and the sender institution's (Tarn-et-Garonne) certificate."""
    from exchange.fiches.pdf_signing import validate_fiche_pdf

    svc = services_of(app)
    with svc.db.reading() as s:
        sender = s.scalar(select(Institution).where(
            Institution.name == "Département de Tarn-et-Garonne"))
        assert sender is not None
        summary = validate_fiche_pdf(svc.keystore(s), pdf, expected_owner=sender.key_owner)
    assert summary.valid, summary.problems
    return len(summary.signatures)
