"""Rectification of a sent fiche (RGPD art. 16), through the Flask test client with CSRF and
every guard on: the sending social worker rectifies, a new version is signed, sealed for both
parties and announced; the advisor opens version 2 under the banner, lists both versions, opens
and downloads version 1; every version is checked (manifest, digests, PAdES) and a tampered one
is refused. Then the refusals: other units, the recipient, the manager, the states, the form."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import func, select

from exchange.domain.clock import FixedClock
from exchange.domain.errors import ValidationFailed
from exchange.fiches import decisions, reading, rectification, sending
from exchange.fiches.common import TAMPERED, FicheError, FicheTampered
from exchange.fiches.models import Fiche, FicheVersion
from exchange.notify.models import Notification
from exchange.persons.models import Person
from exchange.platform.models import Document
from exchange.policy import visible_fiche
from tests.fiches.pdf.support import pdftotext, words
from tests.fiches.support import (
    FIELDS,
    acting_as,
    audit_events,
    fiche_state,
    flashed,
    post,
    prepare,
    sent,
    services_of,
    signed_in,
    snapshot,
    user_id,
    validated_signatures,
)

NEW_EXPECTATIONS = "Trouver un emploi à temps plein à Montauban ou à Castelsarrasin."
RECTIFIED = {**FIELDS, "expectations": NEW_EXPECTATIONS}


def _form(motive: str) -> dict[str, object]:
    """The rectification form as posted: the fiche's fields and the motive's code."""
    return {**RECTIFIED, "rectification_motive": motive}


def _html(response: object) -> str:
    return response.get_data(as_text=True).replace("&#39;", "'")  # type: ignore[attr-defined]


def _fiche_row(app: Flask, pid: str) -> Fiche:
    with services_of(app).db.unit_of_work() as s:
        fiche = s.scalar(select(Fiche).where(Fiche.public_id == pid))
        assert fiche is not None
        return fiche


def _versions(app: Flask, pid: str) -> list[FicheVersion]:
    with services_of(app).db.unit_of_work() as s:
        return list(s.scalars(select(FicheVersion).join(Fiche, FicheVersion.fiche_id == Fiche.id)
                              .where(Fiche.public_id == pid).order_by(FicheVersion.version)))




def _rectify(app: Flask, pid: str, fields: dict[str, object] | None = None,
             motive: str = "person_request", username: str = "ts.montauban") -> None:
    with acting_as(app, username) as ctx:
        rectification.rectify(ctx, visible_fiche(ctx.session, ctx.agent, pid),
                              dict(fields or RECTIFIED), motive)


def _flip_a_byte(app: Flask, pid: str, role: str, version: int) -> None:
    from keys.envelope import Header

    svc = services_of(app)
    with svc.db.unit_of_work() as s:
        blobs = [d.blob for d in s.scalars(
            select(Document).join(Fiche, Document.fiche_id == Fiche.id)
            .where(Fiche.public_id == pid, Document.role == role))
            if Header.from_bytes(d.header).version == version]
    assert len(blobs) == 1
    path = svc.settings.blob_dir / blobs[0][:2] / blobs[0]
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


# -- the whole path ---------------------------------------------------------------------------


def test_the_sender_rectifies_and_the_recipient_reads_version_2_and_version_1(
        app: Flask, clock: FixedClock, tmp_path: Path) -> None:
    prepared = prepare(app)
    fiche = prepared.fiche
    worker = signed_in(app, "ts.montauban", clock)
    sent_now = post(worker, f"/fiches/{fiche}/envoyer", follow_redirects=True)
    assert "La fiche est envoyée" in flashed(sent_now)
    advisor = signed_in(app, "cft.montauban", clock)
    first = _html(advisor.get(f"/fiches/{fiche}"))
    assert FIELDS["expectations"] in first and "Fiche rectifiée" not in first
    assert fiche_state(app, fiche) == "read"
    before_notifications = _count(app, Notification)

    # -- the social worker opens the form, prefilled with the version in force --------------
    page = worker.get(f"/fiches/{fiche}")
    assert "Rectifier la fiche" in _html(page)
    form = worker.get(f"/fiches/{fiche}/rectifier")
    assert form.status_code == 200
    html = _html(form)
    assert FIELDS["expectations"] in html and FIELDS["motive"] in html
    assert 'name="rectification_motive"' in html
    assert "Demande de la personne (article 16 du RGPD)" in html and "Erreur matérielle" in html
    done = post(worker, f"/fiches/{fiche}/rectifier", _form("person_request"),
                form_page=f"/fiches/{fiche}/rectifier")
    assert done.status_code == 303 and done.location == f"/fiches/{fiche}", _html(done)[:3000]

    row = _fiche_row(app, fiche)
    assert row.version == 2 and row.state == "read"  # the recipient's progress is kept
    [replaced] = _versions(app, fiche)
    assert (replaced.version, replaced.motive) == (1, "person_request")
    assert replaced.rectified_by_id == user_id(app, "ts.montauban")
    assert replaced.rectified_at == clock.now()
    with services_of(app).db.unit_of_work() as s:
        roles = sorted(s.scalars(select(Document.role).where(Document.fiche_id == row.id)))
    assert roles == ["attachment", "content", "content", "pdf", "pdf"]

    # -- the recipient unit is told, with a fixed sentence and a link ----------------------
    with services_of(app).db.unit_of_work() as s:
        told = list(s.scalars(select(Notification).where(Notification.kind == "fiche_rectified")))
    assert _count(app, Notification) == before_notifications + len(told) and told
    assert {n.link for n in told} == {f"/fiches/{fiche}"}
    assert "cft.montauban@demo.liaison.invalid" in {n.recipient for n in told}

    # -- the advisor opens version 2: banner, new content, both versions listed ------------
    opened = advisor.get(f"/fiches/{fiche}")
    assert opened.status_code == 200
    html = _html(opened)
    assert re.search(r"Fiche rectifiée le 2\d/11/2026 à \d\d:\d\d \(version 2\)", html), html
    assert NEW_EXPECTATIONS in html and FIELDS["expectations"] not in html
    assert FIELDS["motive"] in html  # the orientation's motive, not the rectification's
    assert "(version 2)" in html and "Remplacée" in html and "En vigueur" in html
    assert f"/fiches/{fiche}/versions/1" in html and "Rectifier la fiche" not in html

    current_pdf = advisor.get(f"/fiches/{fiche}/pdf")
    assert current_pdf.status_code == 200
    assert validated_signatures(app, current_pdf.data) == 1  # the rectifier's signature
    text = words(pdftotext(current_pdf.data, tmp_path))
    assert "Version 2 — rectifie la version 1 du 23 novembre 2026" in text
    assert words(NEW_EXPECTATIONS) in text
    if shutil.which("pdfsig"):
        path = tmp_path / "v2.pdf"
        path.write_bytes(current_pdf.data)
        checked = subprocess.run(["pdfsig", str(path)], capture_output=True, text=True,
                                 timeout=60, check=False)
        assert "Signature Validation: Signature is Valid." in checked.stdout, checked.stdout

    # -- version 1 still opens, marked as replaced; its PDF still validates ----------------
    old = advisor.get(f"/fiches/{fiche}/versions/1")
    assert old.status_code == 200
    html = _html(old)
    assert "Remplacée" in html and "version 1" in html
    assert FIELDS["expectations"] in html and NEW_EXPECTATIONS not in html
    assert "Dominique Responsable-MDS" in html  # version 1's countersignature, verified
    old_pdf = advisor.get(f"/fiches/{fiche}/versions/1/pdf")
    assert old_pdf.status_code == 200 and old_pdf.mimetype == "application/pdf"
    assert old_pdf.headers["Content-Disposition"] == (
        f'attachment; filename="fiche-{fiche[:8].upper()}-version-1.pdf"')
    assert validated_signatures(app, old_pdf.data) == 2  # the worker's and the manager's
    assert "rectifie" not in words(pdftotext(old_pdf.data, tmp_path))
    assert worker.get(f"/fiches/{fiche}/versions/1").status_code == 200
    assert worker.get(f"/fiches/{fiche}/versions/2").status_code == 303  # the fiche's page
    assert worker.get(f"/fiches/{fiche}/versions/3").status_code == 404

    # -- the audit trail: who did what, by id ----------------------------------------------
    rectified = audit_events(app, "fiche.rectified", fiche)
    assert len(rectified) == 1 and rectified[0].outcome == "success"
    viewed = audit_events(app, "fiche.version_viewed", fiche)
    assert len(viewed) == 2 and {e.purpose for e in viewed} == {"party"}
    assert len(audit_events(app, "fiche.version_downloaded", fiche)) == 1
    assert not audit_events(app, "fiche.tampered", fiche)


def _count(app: Flask, model: object) -> int:
    with services_of(app).db.unit_of_work() as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)  # type: ignore[arg-type]


def test_a_second_rectification_chains_the_versions(app: Flask, clock: FixedClock) -> None:
    fiche = sent(app).fiche
    _rectify(app, fiche)
    _rectify(app, fiche, {**RECTIFIED, "motive": FIELDS["motive"] + " Précision."},
             motive="clerical_error")
    assert _fiche_row(app, fiche).version == 3
    assert [(v.version, v.motive) for v in _versions(app, fiche)] == [
        (1, "person_request"), (2, "clerical_error")]
    advisor = signed_in(app, "cft.montauban", clock)
    assert advisor.get(f"/fiches/{fiche}").status_code == 200
    for number in (1, 2):
        assert advisor.get(f"/fiches/{fiche}/versions/{number}").status_code == 200
    # Version 1's manifest in place of version 2's: the chain (and the version number) tells.
    with services_of(app).db.unit_of_work() as s:
        rows = list(s.scalars(select(FicheVersion).order_by(FicheVersion.version)))
        rows[1].manifest = rows[0].manifest
    assert advisor.get(f"/fiches/{fiche}/versions/2").status_code == 409
    assert advisor.get(f"/fiches/{fiche}/versions/1").status_code == 409
    assert len(audit_events(app, "fiche.tampered", fiche)) == 2


# -- which states allow it --------------------------------------------------------------------


def _declined(app: Flask) -> str:
    fiche = sent(app).fiche
    with acting_as(app, "cft.montauban") as ctx:
        row = visible_fiche(ctx.session, ctx.agent, fiche)
        reading.open_fiche(ctx, row, "party")
        decisions.acknowledge(ctx, row)
        decisions.decline(ctx, row, "caseload_full", "")
    return fiche


def _accepted(app: Flask) -> str:
    from tests.fiches.support import accepted

    return accepted(app)[0].fiche


def _recalled(app: Flask) -> str:
    fiche = sent(app).fiche
    with acting_as(app, "ts.montauban") as ctx:
        sending.recall(ctx, visible_fiche(ctx.session, ctx.agent, fiche), "content_error", "")
    return fiche


@pytest.mark.parametrize("make", [_accepted, _declined, _recalled],
                         ids=["accepted", "declined", "recalled"])
def test_after_the_decision_or_a_recall_the_fiche_is_still_rectified(
        app: Flask, make: Callable[[Flask], str]) -> None:
    fiche = make(app)
    state = fiche_state(app, fiche)
    _rectify(app, fiche)
    assert _fiche_row(app, fiche).version == 2 and fiche_state(app, fiche) == state
    told = _count_kind(app, "fiche_rectified")
    # A recalled fiche is no longer the recipient's to read: nobody is told.
    assert told == (0 if state == "recalled" else 1)


def _count_kind(app: Flask, kind: str) -> int:
    with services_of(app).db.unit_of_work() as s:
        return int(s.scalar(select(func.count()).select_from(Notification)
                            .where(Notification.kind == kind)) or 0)


@pytest.mark.parametrize(("countersign", "sign", "message"), [
    (False, False, "brouillon : modifiez-la directement"),
    (False, True, "signée mais n'a pas été envoyée"),
])
def test_before_sending_there_is_nothing_to_rectify(
        app: Flask, clock: FixedClock, countersign: bool, sign: bool, message: str) -> None:
    fiche = prepare(app, sign=sign, countersign=countersign).fiche
    worker = signed_in(app, "ts.montauban", clock)
    answer = post(worker, f"/fiches/{fiche}/rectifier", _form("inaccurate"),
                  follow_redirects=True)
    assert message in flashed(answer).replace("&#39;", "'")
    assert _fiche_row(app, fiche).version == 1 and not _versions(app, fiche)
    refused = audit_events(app, "fiche.refused", fiche)
    assert [e.outcome for e in refused] == ["refused"]
    assert not audit_events(app, "fiche.rectified", fiche)
    form = worker.get(f"/fiches/{fiche}/rectifier")
    assert form.status_code == 303 and form.location == f"/fiches/{fiche}"


def test_a_cancelled_fiche_is_not_rectified(app: Flask) -> None:
    fiche = prepare(app, countersign=False).fiche
    with acting_as(app, "ts.montauban") as ctx:
        sending.cancel(ctx, visible_fiche(ctx.session, ctx.agent, fiche), "duplicate", "")
    with pytest.raises(FicheError, match="annulée avant son envoi"):
        _rectify(app, fiche)


def test_a_restricted_person_s_fiche_is_still_rectified(app: Flask) -> None:
    """Restriction (art. 18) stops sending, not the correction it is waiting for."""
    prepared = sent(app)
    with services_of(app).db.unit_of_work() as s:
        person = s.scalar(select(Person).where(Person.public_id == prepared.person))
        assert person is not None
        person.restricted = True
    _rectify(app, prepared.fiche)
    assert _fiche_row(app, prepared.fiche).version == 2


# -- who may rectify --------------------------------------------------------------------------


def test_only_a_professional_of_the_sending_unit_rectifies(app: Flask, clock: FixedClock) -> None:
    fiche = sent(app).fiche
    before = snapshot(app, fiche)
    for username, status in (("cft.clermont", 404), ("ts.lodeve", 404),
                             ("cft.montauban", 403), ("rmds.montauban", 403)):
        browser = signed_in(app, username, clock)
        assert browser.get(f"/fiches/{fiche}/rectifier").status_code == status, username
        answer = post(browser, f"/fiches/{fiche}/rectifier",
                      _form("person_request"))
        assert answer.status_code == status, username
        if status == 404:
            for path in (f"/fiches/{fiche}/versions/1", f"/fiches/{fiche}/versions/1/pdf"):
                assert browser.get(path).status_code == 404, (username, path)
    assert snapshot(app, fiche) == before
    assert not audit_events(app, "fiche.rectified")
    # The recipient's unit is refused by the use case too, not only by the page.
    with pytest.raises(FicheError, match="Seule la structure expéditrice"):
        _rectify(app, fiche, username="cft.montauban")


def test_the_recipient_reads_old_versions_only_once_it_opened_the_fiche(
        app: Flask, clock: FixedClock) -> None:
    fiche = sent(app).fiche
    _rectify(app, fiche)
    advisor = signed_in(app, "cft.montauban", clock)
    early = advisor.get(f"/fiches/{fiche}/versions/1")
    assert early.status_code == 200 and "Ouvrez d'abord la version en vigueur" in _html(early)
    assert fiche_state(app, fiche) == "sent"
    assert not audit_events(app, "fiche.version_viewed", fiche)
    assert advisor.get(f"/fiches/{fiche}").status_code == 200
    assert advisor.get(f"/fiches/{fiche}/versions/1").status_code == 200


# -- the form ---------------------------------------------------------------------------------


def test_the_motive_comes_from_the_list_and_the_fields_are_checked(
        app: Flask, clock: FixedClock) -> None:
    fiche = sent(app).fiche
    worker = signed_in(app, "ts.montauban", clock)
    for motive in ("", "La personne a appelé pour signaler son déménagement"):
        answer = post(worker, f"/fiches/{fiche}/rectifier",
                      {**RECTIFIED, "rectification_motive": motive, "professional_barriers": ""})
        assert answer.status_code == 422
        html = _html(answer)
        assert "La fiche n'a pas été rectifiée" in html
        assert re.search(
            r'id="champ-rectification_motive-error">Choisissez le motif', html)
        assert re.search(r'id="champ-professional_barriers-error">', html)
        assert 'value="inaccurate"' in html and NEW_EXPECTATIONS in html  # as typed
    assert _fiche_row(app, fiche).version == 1
    assert [e.outcome for e in audit_events(app, "fiche.refused", fiche)] == ["refused"] * 2


def test_nothing_changed_is_not_a_rectification(app: Flask) -> None:
    fiche = sent(app).fiche
    with pytest.raises(FicheError, match="Aucun champ n'a été modifié"):
        _rectify(app, fiche, dict(FIELDS))
    with pytest.raises(ValidationFailed):
        _rectify(app, fiche, motive="autre chose")
    assert _fiche_row(app, fiche).version == 1


def test_a_rectified_identity_is_carried_by_the_new_version(app: Flask, clock: FixedClock) -> None:
    """The DPO corrected the person's name: the fiche's next version carries it, even with
    the same fields."""
    from dataclasses import replace as copy

    from exchange.persons import identities as persons
    from tests.fiches.support import IDENTITY

    prepared = sent(app)
    with acting_as(app, "ts.montauban") as ctx:
        person = ctx.session.scalar(select(Person).where(Person.public_id == prepared.person))
        assert person is not None
        persons.rectify_identity(ctx, person,
                                 copy(IDENTITY, last_name="Lefebvre"))
    _rectify(app, prepared.fiche, dict(FIELDS), motive="clerical_error")
    advisor = signed_in(app, "cft.montauban", clock)
    assert "LEFEBVRE" in _html(advisor.get(f"/fiches/{prepared.fiche}"))
    assert "LEFÈVRE" in _html(advisor.get(f"/fiches/{prepared.fiche}/versions/1"))


# -- tampering --------------------------------------------------------------------------------


def test_a_tampered_old_version_is_refused_like_a_tampered_fiche(
        app: Flask, clock: FixedClock) -> None:
    fiche = sent(app).fiche
    _rectify(app, fiche)
    advisor = signed_in(app, "cft.montauban", clock)
    assert advisor.get(f"/fiches/{fiche}").status_code == 200
    _flip_a_byte(app, fiche, "content", version=1)
    answer = advisor.get(f"/fiches/{fiche}/versions/1")
    assert answer.status_code == 409
    html = _html(answer)
    assert TAMPERED in html and FIELDS["expectations"] not in html
    assert advisor.get(f"/fiches/{fiche}/versions/1/pdf").status_code == 409
    events = audit_events(app, "fiche.tampered", fiche)
    assert [e.outcome for e in events] == ["failure", "failure"]
    assert not audit_events(app, "fiche.version_viewed", fiche)
    assert not audit_events(app, "fiche.version_downloaded", fiche)
    assert advisor.get(f"/fiches/{fiche}").status_code == 200  # version 2 is intact


def test_a_tampered_pdf_of_version_2_stops_its_opening(app: Flask, clock: FixedClock) -> None:
    fiche = sent(app).fiche
    advisor = signed_in(app, "cft.montauban", clock)
    assert advisor.get(f"/fiches/{fiche}").status_code == 200
    _rectify(app, fiche)
    _flip_a_byte(app, fiche, "pdf", version=2)
    answer = advisor.get(f"/fiches/{fiche}")
    assert answer.status_code == 409 and TAMPERED in _html(answer)
    assert NEW_EXPECTATIONS not in _html(answer)
    assert len(audit_events(app, "fiche.tampered", fiche)) == 1
    assert len(audit_events(app, "fiche.opened", fiche)) == 1  # the first opening only


def test_a_tampered_version_is_not_carried_forward(app: Flask, clock: FixedClock) -> None:
    fiche = sent(app).fiche
    _flip_a_byte(app, fiche, "pdf", version=1)
    before = snapshot(app, fiche)
    worker = signed_in(app, "ts.montauban", clock)
    answer = post(worker, f"/fiches/{fiche}/rectifier", _form("inaccurate"))
    assert answer.status_code == 409 and TAMPERED in _html(answer)
    after = snapshot(app, fiche)
    assert after["documents"] == before["documents"] and after["fiche"] == before["fiche"]
    assert len(audit_events(app, "fiche.tampered", fiche)) == 1
    with pytest.raises(FicheTampered):
        _rectify(app, fiche)


# -- all or nothing ---------------------------------------------------------------------------


class Crash(Exception):
    pass


def test_a_crash_at_any_step_leaves_the_fiche_as_it_was(app: Flask) -> None:
    fiche = sent(app).fiche
    before = snapshot(app, fiche)
    seen: list[str] = []
    with pytest.raises(Crash), acting_as(app, "ts.montauban") as ctx:
        rectification.rectify(ctx, visible_fiche(ctx.session, ctx.agent, fiche),
                              dict(RECTIFIED), "person_request", fault=seen.append)
        raise Crash("end")
    assert seen == ["rendered and signed", "sealed content", "sealed pdf", "audited"]
    for step in seen:
        def fault(name: str, at: str = step) -> None:
            if name == at:
                raise Crash(name)

        with pytest.raises(Crash), acting_as(app, "ts.montauban") as ctx:
            rectification.rectify(ctx, visible_fiche(ctx.session, ctx.agent, fiche),
                                  dict(RECTIFIED), "person_request", fault=fault)
        assert snapshot(app, fiche) == before, step
        assert not _versions(app, fiche)


# -- storage ----------------------------------------------------------------------------------


def test_the_migration_creates_the_tables_the_models_describe(app: Flask) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from exchange.platform.db import Base

    tables = {"fiche_versions", "fiche_rectification_marks"}

    def ours(obj, name, type_, reflected, compare_to):  # type: ignore[no-untyped-def]
        table = obj if type_ == "table" else getattr(obj, "table", None)
        return table is not None and table.name in tables

    with services_of(app).db.engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"include_object": ours, "compare_type": True})
        assert compare_metadata(context, Base.metadata) == []
