"""What the security tests share: a module-scoped portal on a copied instance, populated through
the use cases with real objects of ts.montauban's unit, and signed-in browsers per actor."""

from __future__ import annotations

import io
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from exchange.app import create_app
from exchange.audit.checkpoints import make_checkpoint
from exchange.domain.clock import FixedClock
from exchange.org.models import Convention, Institution, Unit
from exchange.persons.models import Consent
from retention.models import DeletionReport
from tests import databases
from tests.conftest import START, csrf_token, login, make_settings
from tests.fiches.support import accepted, services_of, small_pdf
from tests.retention.support import sweep

# Actor classes and the demo account that plays each.
ACTORS: dict[str, str | None] = {
    "anonymous": None,
    "owner": "ts.montauban",            # social worker of the unit that owns the objects
    "manager": "rmds.montauban",        # unit manager of the same unit
    "recipient": "cft.montauban",       # advisor of the agency the fiche was sent to
    "other_unit": "cft.clermont",       # advisor, same institution as the recipient, other unit
    "other_institution": "ts.lodeve",   # social worker of another institution
    "dpo": "dpo.departement",
    "coordinator": "cm.francetravail",
    "admin": "admin",
}


@dataclass(frozen=True)
class Objects:
    person: str
    consent: str
    fiche: str
    attachment: str
    accompaniment: str
    institution: str
    unit: str
    user: str
    convention: str
    recipient: str
    rights_request: str
    checkpoint: int
    report: str


def copy_instance(template: Path, target: Path) -> Iterator[Path]:
    shutil.copytree(template, target)
    if not databases.on_postgres():
        yield target
        return
    name = databases.clone_template(target)
    yield target
    databases.drop(name)


def module_app(instance: Path, clock: FixedClock) -> Flask:
    return create_app(make_settings(instance), clock=clock)


def signed_in(app: Flask, username: str, clock: FixedClock) -> FlaskClient:
    client = app.test_client()
    login(client, username, clock)
    return client


def add_user(app: Flask, username: str, unit_name: str, role: str) -> str:
    """A demo-like account (demo password, TOTP secret from `demo_totp_secret`), as the demo
    seed writes them; its public id."""
    from exchange.accounts.models import User, UserRole
    from exchange.demo.seed import DEMO_PASSWORD, TOTP_BOX, demo_totp_secret

    svc = services_of(app)
    now = svc.clock.now()
    with svc.db.unit_of_work() as s:
        unit = s.scalar(select(Unit.id).where(Unit.name == unit_name))
        assert unit is not None
        user = User(username=username, display_name=username, unit_id=unit,
                    email=f"{username}@demo.liaison.invalid",
                    password_hash=svc.passwords.hash(DEMO_PASSWORD), must_change_password=False,
                    created_at=now, totp_enrolled_at=now, totp_last_step=0)
        s.add(user)
        s.flush()
        user.totp_secret = svc.secret_box(TOTP_BOX).seal(demo_totp_secret(username).encode(),
                                                         user.public_id.encode())
        s.add(UserRole(user_id=user.id, role=role))
        return user.public_id


def _france_travail(app: Flask) -> str:
    with services_of(app).db.unit_of_work() as s:
        found = s.scalar(select(Institution.public_id).where(
            Institution.name == "France Travail Occitanie"))
    assert found is not None
    return found


def build_objects(app: Flask, clock: FixedClock) -> Objects:
    """A fiche sent by ts.montauban, accepted by cft.montauban (so person, consent, sealed
    attachment, receipts and an accompaniment exist); a rights request; a checkpoint."""
    prepared, accompaniment = accepted(app)
    # The administrator's account screens act on a spare account of the unit, so that disabling
    # it or resetting its second factor leaves the demo accounts signed in.
    user = add_user(app, "ts2.montauban", "MDS de Montauban", "social_worker")
    svc = services_of(app)
    owner = signed_in(app, "ts.montauban", clock)
    page = owner.get(f"/fiches/{prepared.fiche}").get_data(as_text=True)
    doc = re.search(rf"/fiches/{prepared.fiche}/pieces-jointes/([0-9a-f]+)", page)
    assert doc, "no attachment link on the fiche page"
    # A second consent collected on a scanned paper form, so the form download has a target.
    recorded = owner.post(f"/personnes/{prepared.person}/consentements/nouveau", data={
        "axis": "2", "recipient": _france_travail(app), "notice_version": "1",
        "method": "paper_form_uploaded", "collected_on": clock.today().isoformat(),
        "paper_form": (io.BytesIO(small_pdf("Formulaire signé")), "formulaire.pdf"),
        "csrf_token": csrf_token(owner, "/personnes/")}, content_type="multipart/form-data")
    assert recorded.status_code == 302, recorded.get_data(as_text=True)[:2000]
    dpo = signed_in(app, "dpo.departement", clock)
    from tests.dpo.support import new_request

    rid = new_request(dpo, "access", last_name="Personne")
    with svc.db.unit_of_work() as s:
        checkpoint = make_checkpoint(svc, s, "manual").id
        unit = s.scalar(select(Unit).where(Unit.name == "MDS de Montauban"))
        assert unit is not None
        institution = s.get(Institution, unit.institution_id)
        assert institution is not None
        convention = s.scalar(select(Convention.public_id).where(
            Convention.institution_a_id == institution.id))
        recipient = s.scalar(select(Institution.public_id).where(
            Institution.name == "France Travail Occitanie"))
        assert convention and recipient
        objects = Objects(
            person=prepared.person, consent=prepared.consent or "", fiche=prepared.fiche,
            attachment=doc.group(1), accompaniment=accompaniment,
            institution=institution.public_id, unit=unit.public_id, user=user,
            convention=convention, recipient=recipient, rights_request=rid,
            checkpoint=checkpoint, report="")
    sweep(app, clock.today())  # writes a signed deletion report, even with nothing to delete
    with svc.db.unit_of_work() as s:
        report = s.scalar(select(DeletionReport.public_id))
        paper = s.scalar(select(Consent.public_id).where(
            Consent.method == "paper_form_uploaded"))
    assert report and paper is not None
    objects = replace(objects, report=report, consent=paper)
    clock.advance(timedelta(minutes=1))
    return objects


__all__ = ["ACTORS", "START", "Objects", "build_objects", "copy_instance", "module_app",
           "signed_in"]
