"""What the retention tests share: fiches built through the real use cases, a sweep as of a
given day, and looks into what is left (rows, blobs, epoch keys)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any

from flask import Flask
from sqlalchemy import func, select

from exchange.accounts.models import User
from exchange.audit import trail as audit
from exchange.domain.clock import PARIS
from exchange.domain.vocabulary import ExitReason, FicheKind
from exchange.fiches import accompaniments, decisions, drafts, reading, sending, signing
from exchange.fiches.models import Accompaniment, Fiche, Receipt
from exchange.org.models import Convention, ConventionAmendment, Institution, Unit
from exchange.persons import consents
from exchange.persons import identities as persons
from exchange.persons.models import Consent, Person
from exchange.platform.blobs import new_name
from exchange.platform.models import Document, KeyWrap
from exchange.policy import visible_fiche
from retention.horizons import Sealing
from retention.models import DoomedBlob
from retention.sweep import SweepResult, run_sweep
from tests.fiches.support import (
    FIELDS,
    IDENTITY,
    accepted,
    acting_as,
    sent,
    services_of,
    small_pdf,
)

TARN = "Convention cadre — approche globale de l'accompagnement, Tarn-et-Garonne"
TARN_END = date(2027, 12, 31)
MDS = "MDS de Montauban"
DEPARTEMENT = "Département de Tarn-et-Garonne"


def noon(day: date) -> datetime:
    return datetime.combine(day, time(12, 0), PARIS).astimezone(UTC)


def sweep(app: Flask, day: date, **kwargs: Any) -> SweepResult:
    return run_sweep(services_of(app), noon(day), **kwargs)


@dataclass(frozen=True)
class Built:
    person: str
    fiche: str


def axe2_sent(app: Flask) -> Built:
    """An axe 2 orientation from ts.montauban to France Travail, sent (tests.fiches)."""
    prepared = sent(app)
    return Built(prepared.person, prepared.fiche)


def axe3_sent(app: Flask, identity: Any = IDENTITY) -> Built:
    """An axe 3 orientation from the advisor cft.montauban to the MDS de Montauban: person,
    consent, draft with an attachment, signed and sent — each through the use cases."""
    with acting_as(app, "cft.montauban") as ctx:
        pctx = ctx
        person = persons.create_person(pctx, identity)
        consents.record_consent(
            pctx, person, axis="3",
            recipient=ctx.session.scalar(select(Institution.public_id).where(
                Institution.name == DEPARTEMENT)),
            notice_version="1", method="in_person_attestation", attestation=True,
            collected_on=ctx.svc.clock.today().isoformat(), paper_form=None)
        unit = ctx.session.scalar(select(Unit.public_id).where(Unit.name == MDS))
        assert unit is not None
        fiche = drafts.start_draft(ctx, person, FicheKind.ORIENTATION_AXE3, unit)
        drafts.save_draft(ctx, fiche, dict(FIELDS))
        drafts.add_attachment(ctx, fiche, "attestation.pdf", "application/pdf",
                              small_pdf("Attestation axe 3"))
        signing.sign(ctx, fiche)
        built = Built(person.public_id, fiche.public_id)
    with acting_as(app, "cft.montauban") as ctx:
        sending.send(ctx, visible_fiche(ctx.session, ctx.agent, built.fiche))
    return built


def declined(app: Flask) -> Built:
    built = axe2_sent(app)
    with acting_as(app, "cft.montauban") as ctx:
        fiche = visible_fiche(ctx.session, ctx.agent, built.fiche)
        reading.open_fiche(ctx, fiche, "party")
        decisions.acknowledge(ctx, fiche)
        decisions.decline(ctx, fiche, "caseload_full", "Plus de place ce trimestre.")
    return built


def closed_accompaniment(app: Flask) -> tuple[Built, str, date]:
    """An accepted axe 2 orientation whose accompaniment was entered and closed (a CDI) today:
    the orientation, the accompaniment's public id, and the exit day."""
    prepared, accompaniment_pid = accepted(app)
    exit_day = services_of(app).clock.today()
    with acting_as(app, "cft.montauban") as ctx:
        row = ctx.session.scalar(select(Accompaniment).where(
            Accompaniment.public_id == accompaniment_pid))
        assert row is not None
        accompaniments.record_entry(ctx, row, exit_day)
        accompaniments.close(ctx, row, exit_day, ExitReason.CDI.value, "Embauche en CDI.")
    return Built(prepared.person, prepared.fiche), accompaniment_pid, exit_day


def amend(app: Flask, new_end: date) -> None:
    """An avenant, as the admin screen records it (row + audit event)."""
    svc = services_of(app)
    with svc.db.unit_of_work() as s:
        convention = s.scalar(select(Convention).where(Convention.title == TARN))
        assert convention is not None
        s.add(ConventionAmendment(convention_id=convention.id, signed_on=svc.clock.today(),
                                  new_end_date=new_end, note="", created_at=svc.clock.now()))
        s.flush()
        audit.record(s, "convention.amended", at=svc.clock.now(), object_type="convention",
                     object_id=convention.public_id)


def sealing(app: Flask, session: Any, today: date) -> Sealing:
    svc = services_of(app)
    return Sealing(svc.documents(session), svc.personal(session), today)


def counts(app: Flask) -> dict[str, int]:
    with services_of(app).db.unit_of_work() as s:
        return {name: int(s.scalar(select(func.count()).select_from(model)) or 0)
                for name, model in (("persons", Person), ("consents", Consent),
                                    ("fiches", Fiche), ("documents", Document),
                                    ("key_wraps", KeyWrap), ("receipts", Receipt),
                                    ("accompaniments", Accompaniment),
                                    ("doomed", DoomedBlob))}


def exists(app: Flask, model: Any, public_id: str) -> bool:
    with services_of(app).db.unit_of_work() as s:
        return s.scalar(select(model.id).where(model.public_id == public_id)) is not None


def horizon_of(app: Flask, model: Any, public_id: str) -> date | None:
    with services_of(app).db.unit_of_work() as s:
        value = s.scalar(select(model.horizon).where(model.public_id == public_id))
        return value if isinstance(value, date) else None


def blob_files(app: Flask) -> set[str]:
    root = services_of(app).settings.blob_dir
    return {p.name for p in root.rglob("*") if p.is_file()}


def fiche_blobs(app: Flask, fiche_pid: str) -> dict[str, bytes]:
    """The fiche's blob names and ciphertexts."""
    svc = services_of(app)
    with svc.db.unit_of_work() as s:
        names = list(s.scalars(select(Document.blob).join(Fiche, Document.fiche_id == Fiche.id)
                               .where(Fiche.public_id == fiche_pid)))
    return {name: svc.blobs.get(name) for name in names}


def cancelled_fiches(app: Flask, count: int, horizon: date) -> list[str]:
    """``count`` persons, each with one cancelled axe 3 fiche due after ``horizon``, its
    content document, two key wraps and a blob file, written straight into the tables (the
    sweep never opens what it deletes): the public ids of the fiches, oldest first."""
    svc = services_of(app)
    now = svc.clock.now()
    epoch = f"{horizon.year:04d}-{horizon.month:02d}"
    fiches = []
    with svc.db.unit_of_work() as s:
        convention = s.scalar(select(Convention.id).where(Convention.title == TARN))
        unit = s.scalar(select(Unit.id).where(Unit.name == MDS))
        user = s.scalar(select(User.id).order_by(User.id))
        assert convention is not None and unit is not None and user is not None
        for _ in range(count):
            person = Person(sealed_key=secrets.token_bytes(96), identity=secrets.token_bytes(64),
                            index_name_birth=secrets.token_hex(32), epoch=epoch,
                            horizon=horizon, restricted=False, created_by_unit_id=unit,
                            created_at=now, updated_at=now)
            s.add(person)
            s.flush()
            fiche = Fiche(kind=FicheKind.ORIENTATION_AXE3.value, axis=3, state="cancelled",
                          convention_id=convention, person_id=person.id,
                          sender_unit_id=unit, sender_user_id=user, recipient_unit_id=unit,
                          created_at=now, updated_at=now, decided_at=now, horizon=horizon)
            s.add(fiche)
            s.flush()
            name = new_name()
            svc.blobs.put(name, secrets.token_bytes(256))
            document = Document(role="content", fiche_id=fiche.id, header=b"{}",
                                nonce=b"0" * 12, epoch_wrap=b"w" * 60, epoch=epoch, blob=name,
                                size=256, created_at=now, horizon=horizon)
            s.add(document)
            s.flush()
            s.add_all([KeyWrap(document_id=document.id, reader=reader, key_id="test",
                               key_version=1, enc=secrets.token_bytes(64))
                       for reader in ("a", "b")])
            fiches.append(fiche.public_id)
    return fiches


def left_of(app: Flask, fiche_pid: str) -> tuple[int, int, int]:
    """The documents, key wraps and doomed blob rows of a fiche still in the database."""
    with services_of(app).db.unit_of_work() as s:
        documents = list(s.scalars(select(Document.id).join(Fiche, Document.fiche_id == Fiche.id)
                                   .where(Fiche.public_id == fiche_pid)))
        names = list(s.scalars(select(Document.blob).where(Document.id.in_(documents))))
        wraps = s.scalar(select(func.count()).select_from(KeyWrap)
                         .where(KeyWrap.document_id.in_(documents)))
        doomed = s.scalar(select(func.count()).select_from(DoomedBlob)
                          .where(DoomedBlob.name.in_(names)))
        return len(documents), int(wraps or 0), int(doomed or 0)
