"""Consent through the web: paper form or attestation, uploads refused by content, withdrawal,
the printable notice, the download of the signed form, and the facts the sending code checks."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from exchange.domain.consent import check_consent_for_send
from exchange.domain.errors import ConsentWithdrawn
from exchange.domain.vocabulary import Axis, ConsentMethod
from exchange.org.models import Institution
from exchange.persons.consents import consent_facts
from exchange.persons.models import Consent, Person
from exchange.platform.models import Document
from exchange.platform.uploads import check_upload
from tests.conftest import csrf_token, login

from .conftest import (
    audit_seq,
    create_person,
    events_since,
    make_jpeg,
    make_pdf,
    make_png,
    make_zip,
    only_event,
)

PAPER = ConsentMethod.PAPER_FORM_UPLOADED.value
IN_PERSON = ConsentMethod.IN_PERSON_ATTESTATION.value


def _institution(app: Flask, name: str) -> Institution:
    with app.extensions["liaison"].db.unit_of_work() as s:
        institution = s.scalar(select(Institution).where(Institution.name == name))
        assert institution is not None
        return institution


def _count(app: Flask, model: type) -> int:
    with app.extensions["liaison"].db.unit_of_work() as s:
        return int(s.scalar(select(func.count()).select_from(model)))


def _blobs(app: Flask) -> list[Path]:
    root = Path(app.extensions["liaison"].settings.blob_dir)
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


@pytest.fixture
def social(client: FlaskClient, clock: Any) -> FlaskClient:
    login(client, "ts.montauban", clock)
    return client


@pytest.fixture
def pid(social: FlaskClient) -> str:
    return create_person(social)


@pytest.fixture
def france_travail(app: Flask) -> str:
    return _institution(app, "France Travail Occitanie").public_id


def _post_consent(client: FlaskClient, pid: str, recipient: str, *,
                  file: tuple[bytes, str] | None = None, follow_redirects: bool = False,
                  **fields: Any):  # type: ignore[no-untyped-def]
    data: dict[str, Any] = {"axis": "2", "recipient": recipient, "notice_version": "1",
                            "method": PAPER, "collected_on": "2026-11-20",
                            "csrf_token": csrf_token(client, "/personnes/")}
    data.update(fields)
    if file is not None:
        data["paper_form"] = (io.BytesIO(file[0]), file[1])
    return client.post(f"/personnes/{pid}/consentements/nouveau", data=data,
                       content_type="multipart/form-data", follow_redirects=follow_redirects)


def test_consent_with_a_signed_paper_form(social: FlaskClient, app: Flask, pid: str,
                                          france_travail: str) -> None:
    pdf = make_pdf()
    seq = audit_seq(app)
    response = _post_consent(social, pid, france_travail, file=(pdf, "Consentement Dupont.pdf"))
    assert response.status_code == 302 and response.location == f"/personnes/{pid}"
    event = only_event(app, seq)
    assert event.action == "consent.recorded"
    with app.extensions["liaison"].db.unit_of_work() as s:
        consent = s.scalars(select(Consent)).one()
        assert event.object_id == consent.public_id
        assert (consent.axis, consent.method, consent.notice_version) == (2, PAPER, "1")
        assert str(consent.collected_on) == "2026-11-20" and consent.withdrawn_at is None
        assert consent.attestation is False
        document = s.scalars(select(Document)).one()
        assert (document.role, document.consent_id) == ("consent_form", consent.id)
        departement = s.scalar(select(Institution).where(
            Institution.name == "Département de Tarn-et-Garonne"))
        assert departement is not None
        assert [w.reader for w in document.wraps] == [departement.key_owner]
        person = s.scalars(select(Person)).one()
        assert (document.epoch, document.horizon) == (person.epoch, person.horizon)
        facts = consent_facts(consent)
    assert facts.has_paper_form and facts.method is ConsentMethod.PAPER_FORM_UPLOADED
    for blob in _blobs(app):
        assert pdf[:200] not in blob.read_bytes() and b"Formulaire" not in blob.read_bytes()
    page = social.get(f"/personnes/{pid}").get_data(as_text=True)
    assert "Valide" in page and "France Travail Occitanie" in page
    assert "Télécharger le formulaire signé" in page


def test_paper_form_download_is_an_attachment_and_one_audit_event(
        social: FlaskClient, app: Flask, pid: str, france_travail: str) -> None:
    pdf = make_pdf()
    _post_consent(social, pid, france_travail, file=(pdf, "Consentement Dupont.pdf"))
    page = social.get(f"/personnes/{pid}").get_data(as_text=True)
    (link,) = re.findall(r'href="(/personnes/[0-9a-f]+/consentements/[0-9a-f]+/formulaire)"',
                         page)
    seq = audit_seq(app)
    download = social.get(link)
    # What is stored and served is the copy the upload check rebuilt.
    rebuilt = check_upload("f.pdf", pdf, max_bytes=len(pdf)).data
    assert download.status_code == 200 and download.data == rebuilt
    assert download.mimetype == "application/pdf"
    disposition = download.headers["Content-Disposition"]
    assert re.fullmatch(r'attachment; filename="formulaire-consentement-[0-9a-f]{12}\.pdf"',
                        disposition)
    assert "Dupont" not in disposition
    assert download.headers["X-Content-Type-Options"] == "nosniff"
    assert download.headers["Cache-Control"] == "no-store"
    event = only_event(app, seq)
    assert (event.action, event.object_type) == ("consent.form_downloaded", "consent")


def test_png_named_pdf_is_kept_and_served_as_png(social: FlaskClient, app: Flask, pid: str,
                                                 france_travail: str) -> None:
    png = make_png()
    assert _post_consent(social, pid, france_travail,
                         file=(png, "formulaire.pdf")).status_code == 302
    page = social.get(f"/personnes/{pid}").get_data(as_text=True)
    (link,) = re.findall(r'href="(/personnes/[^"]+/formulaire)"', page)
    download = social.get(link)
    rebuilt = check_upload("f.png", png, max_bytes=len(png)).data
    assert download.mimetype == "image/png" and download.data == rebuilt
    assert download.headers["Content-Disposition"].endswith('.png"')


def test_jpeg_scan_is_accepted(social: FlaskClient, app: Flask, pid: str,
                               france_travail: str) -> None:
    assert _post_consent(social, pid, france_travail,
                         file=(make_jpeg(), "photo.jpg")).status_code == 302
    assert _count(app, Document) == 1


def test_consent_in_person_needs_the_attestation(social: FlaskClient, app: Flask, pid: str,
                                                 france_travail: str) -> None:
    refused = _post_consent(social, pid, france_travail, method=IN_PERSON)
    assert refused.status_code == 400
    assert re.search(r'id="attestation-error">Cochez l&#39;attestation',
                     refused.get_data(as_text=True))
    assert _count(app, Consent) == 0
    seq = audit_seq(app)
    accepted = _post_consent(social, pid, france_travail, method=IN_PERSON, attestation="y",
                             file=(make_pdf(), "ignored.pdf"))
    assert accepted.status_code == 302
    assert [e.action for e in events_since(app, seq)] == ["consent.recorded"]
    with app.extensions["liaison"].db.unit_of_work() as s:
        consent = s.scalars(select(Consent)).one()
        assert consent.method == IN_PERSON and consent.attestation is True
        facts = consent_facts(consent)
    assert _count(app, Document) == 0  # an in-person consent keeps no scan
    assert not facts.has_paper_form and facts.attestation


def test_paper_method_needs_the_file(social: FlaskClient, app: Flask, pid: str,
                                     france_travail: str) -> None:
    refused = _post_consent(social, pid, france_travail)
    assert refused.status_code == 400
    assert 'id="paper_form-error">Joignez le formulaire de consentement signé' in \
        refused.get_data(as_text=True)
    assert _count(app, Consent) == 0


@pytest.mark.parametrize(("content", "name", "message"), [
    (b"Je consens a l'echange.\n", "formulaire.pdf", "ni un PDF, ni une image JPEG ou PNG"),
    (b"", "formulaire.pdf", "Le fichier est vide"),
    (b"%PDF-1.4\n" + b"0" * (10 * 1024 * 1024), "formulaire.pdf",
     "dépasse la taille maximale autorisée (10 Mo)"),
    (make_pdf() + make_zip(), "formulaire.pdf", "aussi une archive"),
    (make_png()[:40], "formulaire.png", "L'image PNG est endommagée"),
    (make_pdf(), "../../formulaire.pdf", "ni « / », ni « \\ », ni « .. »"),
], ids=["text-named-pdf", "empty", "oversize", "pdf-zip-polyglot", "damaged-png",
        "path-in-name"])
def test_refused_upload_saves_nothing_and_is_audited(social: FlaskClient, app: Flask,
                                                     pid: str, france_travail: str,
                                                     content: bytes, name: str,
                                                     message: str) -> None:
    seq = audit_seq(app)
    # Werkzeug's test client closes a large (spooled) request body with the response only
    # when it follows redirects; there is none to follow here.
    with _post_consent(social, pid, france_travail, file=(content, name),
                       follow_redirects=True) as response:
        page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert re.search(r'id="paper_form-error">[^<]*' + re.escape(
        message.replace("'", "&#39;")), page), page[-3000:]
    assert _count(app, Consent) == 0 and _count(app, Document) == 0 and _blobs(app) == []
    event = only_event(app, seq)
    assert (event.action, event.outcome, event.object_id) == ("upload.refused", "refused", pid)


def test_recipient_must_be_a_partner_opening_the_axis(social: FlaskClient, app: Flask,
                                                      pid: str) -> None:
    cias = _institution(app, "CIAS Lodévois et Larzac").public_id
    refused = _post_consent(social, pid, cias, method=IN_PERSON, attestation="y")
    assert refused.status_code == 400
    assert 'id="recipient-error">Choisissez un établissement lié à votre institution' in \
        refused.get_data(as_text=True)
    form = social.get(f"/personnes/{pid}/consentements/nouveau").get_data(as_text=True)
    assert "France Travail Occitanie" in form and "CIAS" not in form
    assert _count(app, Consent) == 0


def test_other_field_errors(social: FlaskClient, app: Flask, pid: str,
                            france_travail: str) -> None:
    refused = _post_consent(social, pid, france_travail, method=IN_PERSON, attestation="y",
                            axis="4", notice_version="9", collected_on="2026-11-24")
    page = refused.get_data(as_text=True)
    assert refused.status_code == 400
    assert 'id="axis-error">Choisissez l&#39;accompagnement' in page
    assert 'id="notice_version-error">Version de la notice d&#39;information inconnue.' in page
    assert 'id="collected_on-error">La date de recueil ne peut pas être dans le futur.' in page
    early = _post_consent(social, pid, france_travail, method=IN_PERSON, attestation="y",
                          collected_on="2024-12-31")
    assert "n&#39;est en vigueur que depuis le 01/01/2025" in early.get_data(as_text=True)
    assert _count(app, Consent) == 0


def _recorded(social: FlaskClient, app: Flask, pid: str, recipient: str) -> str:
    assert _post_consent(social, pid, recipient, method=IN_PERSON,
                         attestation="y").status_code == 302
    with app.extensions["liaison"].db.unit_of_work() as s:
        return s.scalars(select(Consent.public_id).order_by(Consent.id.desc())).first() or ""


def test_withdrawal_confirms_then_stops_sending(social: FlaskClient, app: Flask, pid: str,
                                               france_travail: str, clock: Any) -> None:
    cid = _recorded(social, app, pid, france_travail)
    path = f"/personnes/{pid}/consentements/{cid}/retrait"
    token = csrf_token(social, "/personnes/")
    seq = audit_seq(app)
    confirm = social.get(path)
    assert confirm.status_code == 200
    assert "Confirmer le retrait du consentement" in confirm.get_data(as_text=True)
    assert only_event(app, seq).action == "consent.viewed"

    seq = audit_seq(app)
    done = social.post(path, data={"csrf_token": token})
    assert done.status_code == 302
    event = only_event(app, seq)
    assert (event.action, event.object_id, event.outcome) == ("consent.withdrawn", cid, "success")
    with app.extensions["liaison"].db.unit_of_work() as s:
        consent = s.scalar(select(Consent).where(Consent.public_id == cid))
        assert consent is not None
        assert consent.withdrawn_at == clock.now() and consent.withdrawn_by_user_id
        facts = consent_facts(consent)
        recipient = consent.recipient_institution_id
        person_id = consent.person_id
    assert facts.is_withdrawn
    with pytest.raises(ConsentWithdrawn):
        check_consent_for_send(facts, person_id=person_id, axis=Axis.AXE2,
                               recipient_institution=recipient, at=clock.now())
    assert "Retiré le 23/11/2026" in social.get(f"/personnes/{pid}").get_data(as_text=True)

    seq = audit_seq(app)
    again = social.post(path, data={"csrf_token": token}, follow_redirects=True)
    assert "a déjà été retiré le 23/11/2026" in again.get_data(as_text=True)
    assert [(e.action, e.outcome) for e in events_since(app, seq)][0] == (
        "consent.withdrawn", "refused")


def test_consent_facts_cover_sending(social: FlaskClient, app: Flask, pid: str,
                                     france_travail: str) -> None:
    _recorded(social, app, pid, france_travail)
    with app.extensions["liaison"].db.unit_of_work() as s:
        consent = s.scalars(select(Consent)).one()
        facts = consent_facts(consent)
        checked = check_consent_for_send(
            facts, person_id=consent.person_id, axis=Axis.AXE2,
            recipient_institution=consent.recipient_institution_id,
            at=datetime(2026, 11, 23, 10, tzinfo=UTC))
    assert checked is facts
    assert facts.collected_at == datetime(2026, 11, 19, 23, tzinfo=UTC)  # 20/11 in Paris


def test_notice_is_printable_and_one_audit_event(social: FlaskClient, app: Flask, pid: str,
                                                 france_travail: str) -> None:
    page = social.get(f"/personnes/{pid}").get_data(as_text=True)
    path = f"/personnes/{pid}/notice/1/{france_travail}/2"
    assert f'href="{path}"' in page
    seq = audit_seq(app)
    notice = social.get(path)
    text = notice.get_data(as_text=True)
    assert notice.status_code == 200
    assert "Information sur l&#39;échange de vos données personnelles entre Département de " \
           "Tarn-et-Garonne et France Travail Occitanie" in text
    assert "Notice d&#39;information, version 1." in text
    assert "au plus tard 10 ans après la fin de la convention" in text
    assert "dpd@francetravail.fr" in text and "dpo@ledepartement82.fr" in text
    assert "Remise à DUPONT-MARTIN Élodie" in text
    assert '<link rel="stylesheet" href="/personnes/notice.css">' in text
    event = only_event(app, seq)
    assert (event.action, event.object_id) == ("consent.notice_viewed", pid)
    css = social.get("/personnes/notice.css")
    assert css.mimetype == "text/css" and "@media print" in css.get_data(as_text=True)
    assert "@page" in css.get_data(as_text=True)


def test_notice_of_unknown_version_or_recipient_is_404(social: FlaskClient, app: Flask,
                                                       pid: str, france_travail: str) -> None:
    cias = _institution(app, "CIAS Lodévois et Larzac").public_id
    seq = audit_seq(app)
    for path in (f"/personnes/{pid}/notice/9/{france_travail}/2",
                 f"/personnes/{pid}/notice/1/{cias}/2",
                 f"/personnes/{pid}/notice/1/{france_travail}/4",
                 f"/personnes/{pid}/notice/1/{'0' * 32}/2"):
        assert social.get(path).status_code == 404, path
    assert events_since(app, seq) == []


def test_consent_routes_are_404_for_another_unit(social: FlaskClient, app: Flask, pid: str,
                                                 france_travail: str, clock: Any) -> None:
    _post_consent(social, pid, france_travail, file=(make_pdf(), "f.pdf"))
    with app.extensions["liaison"].db.unit_of_work() as s:
        cid = s.scalars(select(Consent.public_id)).one()
    other = app.test_client()
    login(other, "ts.lodeve", clock)
    token = csrf_token(other, "/personnes/")
    for path in (f"/personnes/{pid}/consentements/{cid}/formulaire",
                 f"/personnes/{pid}/consentements/{cid}/retrait",
                 f"/personnes/{pid}/notice/1/{france_travail}/2"):
        assert other.get(path).status_code == 404, path
    assert other.post(f"/personnes/{pid}/consentements/{cid}/retrait",
                      data={"csrf_token": token}).status_code == 404
    assert _post_consent(other, pid, france_travail, method=IN_PERSON,
                         attestation="y").status_code == 404
    with app.extensions["liaison"].db.unit_of_work() as s:
        assert s.scalars(select(Consent.withdrawn_at)).one() is None


def test_tampered_paper_form_is_never_served(social: FlaskClient, app: Flask, pid: str,
                                             france_travail: str) -> None:
    _post_consent(social, pid, france_travail, file=(make_pdf(), "f.pdf"))
    (blob,) = _blobs(app)
    data = bytearray(blob.read_bytes())
    data[-20] ^= 0x01
    blob.write_bytes(bytes(data))
    page = social.get(f"/personnes/{pid}").get_data(as_text=True)
    (link,) = re.findall(r'href="(/personnes/[^"]+/formulaire)"', page)
    seq = audit_seq(app)
    response = social.get(link)
    assert response.status_code == 409
    assert "Content-Disposition" not in response.headers
    assert "elles ont été altérées" in response.get_data(as_text=True)
    event = only_event(app, seq)
    assert (event.action, event.outcome) == ("consent.form_downloaded", "failure")
