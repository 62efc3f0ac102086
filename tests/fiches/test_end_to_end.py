"""The portal's main path, through the Flask test client with CSRF and every guard on: a social
worker creates a person, records consent, writes an axe 2 orientation with an attachment and
signs it; the MDS manager countersigns; the social worker sends; the advisor of the agency opens
it, downloads the signed PDF and the attachment, acknowledges and accepts; the accompaniment
starts and its entry is recorded; the social worker sees the signed receipt. Then users of
other units get 403 or 404 on every URL of that path, GET and POST."""

from __future__ import annotations

import io
import re
import shutil
import subprocess
from datetime import date
from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from exchange.audit.models import AuditEvent
from exchange.domain.clock import FixedClock
from exchange.fiches.models import Accompaniment, Fiche
from exchange.org.models import Institution, Unit
from exchange.platform.models import Document
from exchange.platform.uploads import check_upload
from tests.conftest import post_form
from tests.fiches.support import (
    ALBASUD,
    FIELDS,
    FRANCE_TRAVAIL,
    fiche_state,
    flashed,
    post,
    public_id_of,
    services_of,
    signed_in,
    small_pdf,
    validated_signatures,
)

OUTSIDERS = ("ts.lodeve", "cft.clermont")
PDF_ID = re.compile(r"/fiches/([0-9a-f]{32})/pieces-jointes/([0-9a-f]{32})")


def _pid_from(location: str, prefix: str) -> str:
    match = re.fullmatch(rf"{prefix}([0-9a-f]{{32}})(?:/[a-z-]+)?", location)
    assert match, location
    return match.group(1)


def _check_pdf_signatures(app: Flask, pdf: bytes, tmp_path: Path) -> None:
    assert validated_signatures(app, pdf) == 2  # the social worker's and the manager's
    if shutil.which("pdfsig"):
        path = tmp_path / "fiche.pdf"
        path.write_bytes(pdf)
        done = subprocess.run(["pdfsig", str(path)], capture_output=True, text=True,
                              timeout=60, check=False)
        assert done.returncode == 0, done.stderr
        assert done.stdout.count("Signature Validation: Signature is Valid.") == 2, done.stdout


def test_orientation_from_social_worker_to_accepted_accompaniment(
        app: Flask, clock: FixedClock, tmp_path: Path) -> None:
    worker = signed_in(app, "ts.montauban", clock)
    # (method, url, data) of every request of the path, replayed by other units at the end.
    path: list[tuple[str, str, dict[str, object] | None]] = []

    # -- the person and their consent (persons blueprint) ----------------------------------
    created = post_form(worker, "/personnes/nouvelle", {
        "last_name": "Lefèvre", "first_names": "Élodie Marie", "birth_date": "1988-03-14",
        "ft_identifier": "1234567A", "rsa_beneficiary": "y"})
    assert created.status_code == 302, flashed(created)
    person = _pid_from(created.location, "/personnes/")
    france_travail = public_id_of(app, Institution, name=FRANCE_TRAVAIL)
    consent_page = f"/personnes/{person}/consentements/nouveau"
    consent_data: dict[str, object] = {
        "axis": "2", "recipient": france_travail, "notice_version": "1",
        "method": "in_person_attestation", "attestation": "y",
        "collected_on": clock.today().isoformat()}
    recorded = post_form(worker, consent_page, consent_data)
    assert recorded.status_code == 302, recorded.get_data(as_text=True)[:2000]
    path += [("GET", f"/personnes/{person}", None), ("GET", consent_page, None),
             ("POST", consent_page, consent_data)]

    # -- a new axe 2 orientation to the Albasud agency --------------------------------------
    new_page = f"/fiches/nouvelle/{person}"
    form = worker.get(new_page)
    assert form.status_code == 200
    albasud = public_id_of(app, Unit, name=ALBASUD)
    assert albasud in form.get_data(as_text=True)
    choice: dict[str, object] = {"kind": "orientation_axe2", "unit": albasud,
                                 "accompaniment": ""}
    started = post_form(worker, new_page, choice)
    assert started.status_code == 303
    fiche = _pid_from(started.location, "/fiches/")
    draft_page = f"/fiches/{fiche}/brouillon"
    assert started.location == draft_page
    path += [("GET", new_page, None), ("POST", new_page, choice), ("GET", draft_page, None)]

    # -- the form, an attachment, a refused signature, then the signature -------------------
    page = worker.get(draft_page).get_data(as_text=True)
    assert 'type="date"' in page and 'maxlength="4000"' in page
    assert "<legend>Freins sociaux" in page and 'name="barriers" value="housing"' in page
    scan = small_pdf()
    attached = post_form(worker, f"/fiches/{fiche}/pieces-jointes",
                         {"fichier": (io.BytesIO(scan), "attestation-hebergement.pdf")},
                         form_page=draft_page, content_type="multipart/form-data")
    assert attached.status_code == 303
    page = worker.get(draft_page).get_data(as_text=True)
    assert "attestation-hebergement.pdf" in page
    draft_attachment = re.search(rf"/fiches/{fiche}/pieces-jointes/([0-9a-f]{{32}})/retirer",
                                 page)
    assert draft_attachment
    path += [("POST", f"/fiches/{fiche}/pieces-jointes", {"fichier": "upload"}),
             ("POST", f"/fiches/{fiche}/pieces-jointes/{draft_attachment.group(1)}/retirer",
              {})]

    incomplete = post_form(worker, draft_page, {**FIELDS, "motive": "", "action": "sign"})
    assert incomplete.status_code == 422
    html = incomplete.get_data(as_text=True)
    assert "La fiche n&#39;a pas été signée" in html or "La fiche n'a pas été signée" in html
    assert re.search(r'id="champ-motive-error">Ce champ est obligatoire\.', html)
    assert fiche_state(app, fiche) == "draft"

    signed = post_form(worker, draft_page, {**FIELDS, "action": "sign"})
    assert signed.status_code == 303 and signed.location == f"/fiches/{fiche}"
    assert fiche_state(app, fiche) == "signed"
    path += [("POST", draft_page, {**FIELDS, "action": "save"})]

    # Under the Tarn-et-Garonne convention the manager countersigns before anything is sent.
    early = post(worker, f"/fiches/{fiche}/envoyer", form_page=f"/fiches/{fiche}",
                 follow_redirects=True)
    assert "faites contresigner la fiche" in flashed(early)
    assert fiche_state(app, fiche) == "signed"

    manager = signed_in(app, "rmds.montauban", clock)
    manager_view = manager.get(f"/fiches/{fiche}").get_data(as_text=True)
    assert "Contresigner" in manager_view
    countersigned = post(manager, f"/fiches/{fiche}/contresigner")
    assert countersigned.status_code == 303
    assert fiche_state(app, fiche) == "countersigned"

    sent = post(worker, f"/fiches/{fiche}/envoyer", follow_redirects=True)
    assert "La fiche est envoyée" in flashed(sent)
    assert fiche_state(app, fiche) == "sent"
    path += [("GET", f"/fiches/{fiche}", None)] + [
        ("POST", f"/fiches/{fiche}/{action}", {"reason": "other", "text": "Essai"})
        for action in ("contresigner", "envoyer", "rappeler", "annuler",
                       "accuser-reception", "accepter", "refuser")]

    # -- the advisor of the agency: inbox, opening, downloads, decisions --------------------
    advisor = signed_in(app, "cft.montauban", clock)
    inbox = advisor.get("/fiches/recues").get_data(as_text=True)
    assert fiche[:8].upper() in inbox and "MDS de Montauban" in inbox
    assert "Lefèvre" not in inbox and "LEFÈVRE" not in inbox  # no names in lists

    opened = advisor.get(f"/fiches/{fiche}")
    assert opened.status_code == 200
    html = opened.get_data(as_text=True)
    assert "LEFÈVRE" in html and "Élodie Marie" in html and "14/03/1988" in html
    assert "Logement" in html and "Mobilité" in html and "20/11/2026" in html
    assert "Accompagnement global : logement et mobilité" in html
    assert "Dominique Responsable-MDS" in html  # the countersignature, verified
    assert opened.headers["Cache-Control"] == "no-store"
    assert fiche_state(app, fiche) == "read"

    pdf = advisor.get(f"/fiches/{fiche}/pdf")
    assert pdf.status_code == 200
    assert pdf.mimetype == "application/pdf"
    assert pdf.headers["Content-Disposition"] == (
        f'attachment; filename="fiche-{fiche[:8].upper()}.pdf"')
    assert pdf.headers["X-Content-Type-Options"] == "nosniff"
    _check_pdf_signatures(app, pdf.data, tmp_path)

    link = PDF_ID.search(html)
    assert link and link.group(1) == fiche
    download = advisor.get(link.group(0))
    rebuilt = check_upload("a.pdf", scan, max_bytes=len(scan)).data  # what the upload stored
    assert download.status_code == 200 and download.data == rebuilt
    assert download.mimetype == "application/pdf"
    assert "attachment;" in download.headers["Content-Disposition"]
    path += [("GET", f"/fiches/{fiche}/pdf", None), ("GET", link.group(0), None)]

    acknowledged = post(advisor, f"/fiches/{fiche}/accuser-reception", follow_redirects=True)
    assert "Réception accusée" in flashed(acknowledged)
    accepted = post(advisor, f"/fiches/{fiche}/accepter", follow_redirects=True)
    assert "L&#39;orientation est acceptée" in flashed(accepted) or \
        "L'orientation est acceptée" in flashed(accepted)
    assert fiche_state(app, fiche) == "accepted"

    # -- the accompaniment, its proposal date, its entry -----------------------------------
    svc = services_of(app)
    with svc.db.unit_of_work() as s:
        row = s.scalar(select(Accompaniment).join(Fiche, Accompaniment.orientation_id == Fiche.id)
                       .where(Fiche.public_id == fiche))
        assert row is not None
        accompaniment = row.public_id
        assert row.axis == 2 and row.proposal_date == date(2026, 11, 23)
        assert row.entry_date is None and row.advisor.username == "cft.montauban"
        assert row.social_worker.username == "ts.montauban"
    caseload = advisor.get("/accompagnements/").get_data(as_text=True)
    assert accompaniment[:8].upper() in caseload and "23/11/2026" in caseload
    assert "pour un objectif de 70" in caseload
    entry_url = f"/accompagnements/{accompaniment}/entree"
    entered = post(advisor, entry_url, {"entry_date": "2026-11-23"}, follow_redirects=True)
    assert "La date d&#39;entrée" in flashed(entered) or "La date d'entrée" in flashed(entered)
    with svc.db.unit_of_work() as s:
        row = s.scalar(select(Accompaniment).where(Accompaniment.public_id == accompaniment))
        assert row is not None
        assert row.entry_date == date(2026, 11, 23) and row.planned_end == date(2027, 11, 23)
        assert row.midterm_due == date(2027, 5, 23)
    assert "<strong>1</strong> personne accompagnée" in advisor.get(
        "/accompagnements/").get_data(as_text=True)
    path += [("GET", f"/accompagnements/{accompaniment}", None),
             ("POST", entry_url, {"entry_date": "2026-11-23"}),
             ("POST", f"/accompagnements/{accompaniment}/renouveler", {}),
             ("POST", f"/accompagnements/{accompaniment}/mi-parcours",
              {"midterm_date": "2026-11-23"}),
             ("POST", f"/accompagnements/{accompaniment}/cloture",
              {"exit_date": "2026-11-23", "exit_reason": "cdi", "exit_text": ""})]

    # -- the social worker sees the signed receipt ------------------------------------------
    receipt = worker.get(f"/fiches/{fiche}").get_data(as_text=True)
    assert re.search(r"Accusé de réception signé par France Travail Occitanie "
                     r"\(Alex Conseiller-Global, Agence France Travail Montauban Albasud\) "
                     r"le 23/11/2026 à \d\d:\d\d — signature vérifiée", receipt)

    # -- every URL of the path, for users of other units ------------------------------------
    _outsiders_are_refused(app, clock, path, fiche, accompaniment)


def _outsiders_are_refused(app: Flask, clock: FixedClock,
                           path: list[tuple[str, str, dict[str, object] | None]],
                           fiche: str, accompaniment: str) -> None:
    svc = services_of(app)

    def state() -> tuple[object, ...]:
        with svc.db.unit_of_work() as s:
            row = s.scalar(select(Fiche).where(Fiche.public_id == fiche))
            acc = s.scalar(select(Accompaniment).where(Accompaniment.public_id == accompaniment))
            assert row is not None and acc is not None
            documents = s.scalar(select(func.count()).select_from(Document))
            return (row.state, row.updated_at, acc.entry_date, acc.renewed, acc.exit_date,
                    acc.midterm_done_on, documents)

    before = state()
    for username in OUTSIDERS:
        outsider: FlaskClient = signed_in(app, username, clock)
        with svc.db.unit_of_work() as s:
            seq = s.scalar(select(func.max(AuditEvent.seq)))
        for method, url, data in path:
            if method == "GET":
                answer = outsider.get(url)
            elif data == {"fichier": "upload"}:
                answer = post(outsider, url, {"fichier": (io.BytesIO(small_pdf()), "x.pdf")},
                              content_type="multipart/form-data")
            else:
                answer = post(outsider, url, data)
            assert answer.status_code in (403, 404), (username, method, url, answer.status_code)
            assert "Lefèvre" not in answer.get_data(as_text=True)
        for listing in ("/fiches/recues", "/fiches/envoyees", "/accompagnements/"):
            html = outsider.get(listing).get_data(as_text=True)
            assert fiche[:8].upper() not in html and accompaniment[:8].upper() not in html
        with svc.db.unit_of_work() as s:
            actions = set(s.scalars(select(AuditEvent.action).where(AuditEvent.seq > seq)))
        # Nothing but refusals (and the page loads that give the CSRF token) was recorded:
        # each 404 is one, up to the hourly bound (exchange.web.errors).
        assert "access.refused" in actions
        assert actions <= {"access.refused", "access.refusals_capped"}, actions
    assert state() == before


def test_person_consent_and_fiche_urls_need_the_fiche_roles(
        app: Flask, clock: FixedClock) -> None:
    """The coordinator and the DPO have no fiche role: the blueprints refuse them (403)."""
    for username in ("cm.francetravail", "dpo.departement"):
        other = signed_in(app, username, clock)
        for url in ("/fiches/recues", "/fiches/envoyees", "/accompagnements/",
                    f"/fiches/{'0' * 32}", f"/fiches/nouvelle/{'0' * 32}"):
            assert other.get(url).status_code == 403, (username, url)

