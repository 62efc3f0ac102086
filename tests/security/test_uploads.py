"""Hostile uploads on the two routes that take files: a fiche attachment and the scanned consent
form. Each is refused with a French message saying why, and nothing is stored (no document row,
no blob); what an accepted file is stored as is the copy the check rebuilt, not the bytes sent.
The checker itself is tested in tests/persons/test_uploads.py; this is about the routes.
Downloads always come as attachments with a plain ASCII name."""

from __future__ import annotations

import io
import re
import struct
import zlib

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from werkzeug.test import EnvironBuilder, TestResponse

from exchange.domain.clock import FixedClock
from exchange.fiches import signing
from exchange.persons.models import Consent
from exchange.platform.models import Document
from exchange.policy import visible_fiche
from tests.conftest import csrf_token
from tests.fiches.support import (
    FRANCE_TRAVAIL,
    acting_as,
    flashed,
    prepare,
    services_of,
    small_pdf,
)
from tests.persons.conftest import make_jpeg, make_png, make_zip
from tests.persons.pdf_files import one_page, pdf_file
from tests.security.support import signed_in

MiB = 1024 * 1024
PDF = small_pdf("Pièce justificative")
HTML = b"<html><script>alert(1)</script></html>"
JS_IN_OBJECT_STREAM = pdf_file(one_page(b"/OpenAction << /S /JavaScript /JS (app.alert\\(1\\)) >>"),
                               packed={1, 2, 3})
LINK = pdf_file(one_page(b"", b"/Annots [<< /Subtype /Link /Rect [0 0 9 9] "
                              b"/A << /S /URI /URI (https://collecte.example/) >> >>]"))


def _png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims `width` x `height` pixels."""
    png = bytearray(make_png())
    png[16:24] = struct.pack(">II", width, height)  # in IHDR, then its CRC
    png[29:33] = struct.pack(">I", zlib.crc32(bytes(png[12:29])))
    return bytes(png)


BOMB = _png_claiming(20_000, 20_000)

# (what, file name, content, words of the French message)
HOSTILE = [
    ("html named .pdf", "justificatif.pdf", HTML, "ni un PDF"),
    ("zip named .png", "photo.png", make_zip(), "ni un PDF"),
    ("exe named .jpg", "scan.jpg", b"MZ\x90\x00" + b"\x00" * 200, "ni un PDF"),
    ("pdf + zip polyglot", "scan.pdf", PDF + make_zip(), "archive"),
    ("png + trailing html", "scan.png", make_png() + HTML, "code de page web"),
    ("jpeg + trailing zip", "scan.jpg", make_jpeg() + make_zip(), "archive"),
    ("pdf javascript in an object stream", "scan.pdf", JS_IN_OBJECT_STREAM, "du JavaScript"),
    ("pdf link to a web site", "scan.pdf", LINK, "un lien vers un site web"),
    ("image decompression bomb", "scan.png", BOMB, "trop grande"),
    ("zero bytes", "vide.pdf", b"", "vide"),
    ("oversize", "gros.pdf", PDF + b"%" * (10 * MiB), "taille maximale"),
    ("path traversal", "../../etc/passwd.pdf", PDF, "ni « / »"),
    ("windows traversal", "..\\..\\boot.pdf", PDF, "ni « / »"),
    ("control character", "scan\x00.pdf", PDF, "caractères de contrôle"),
    ("bidi override", "scan\u202egpj.pdf", PDF, "caractères de contrôle"),
    ("tab", "scan\tX-Injected: 1.pdf", PDF, "caractères de contrôle"),
    ("very long name", "a" * 300 + ".pdf", PDF, "trop long"),
]
IDS = [case[0] for case in HOSTILE]


def upload(client: FlaskClient, path: str, data: dict[str, object], **kwargs: object,
           ) -> TestResponse:
    """A multipart POST whose encoded body is closed afterwards (the test client spools big
    bodies to a temporary file and leaves it open)."""
    builder = EnvironBuilder(path=path, method="POST", data=data,
                             content_type="multipart/form-data")
    try:
        environ = builder.get_environ()
        try:
            return client.open(environ, **kwargs)  # type: ignore[arg-type]
        finally:
            environ["wsgi.input"].close()
    finally:
        builder.close()


def _documents(app: Flask) -> int:
    with services_of(app).db.unit_of_work() as s:
        return s.scalar(select(func.count()).select_from(Document)) or 0


def _blobs(app: Flask) -> set[str]:
    return set(services_of(app).blobs.names())


def _consents(app: Flask) -> int:
    with services_of(app).db.unit_of_work() as s:
        return s.scalar(select(func.count()).select_from(Consent)) or 0


@pytest.fixture
def draft(app: Flask) -> str:
    return prepare(app, sign=False).fiche


@pytest.fixture
def worker(app: Flask, clock: FixedClock) -> FlaskClient:
    return signed_in(app, "ts.montauban", clock)


@pytest.mark.parametrize(("what", "name", "content", "words"), HOSTILE, ids=IDS)
def test_hostile_attachment_is_refused(app: Flask, worker: FlaskClient, draft: str, what: str,
                                       name: str, content: bytes, words: str) -> None:
    page = f"/fiches/{draft}/brouillon"
    documents, blobs = _documents(app), _blobs(app)
    answer = upload(worker, f"/fiches/{draft}/pieces-jointes", {
        "fichier": (io.BytesIO(content), name), "csrf_token": csrf_token(worker, page)},
        follow_redirects=True)
    assert answer.status_code == 200
    message = flashed(answer)
    assert words in message, (what, message)
    assert (_documents(app), _blobs(app)) == (documents, blobs), what


@pytest.mark.parametrize(("what", "name", "content", "words"), HOSTILE, ids=IDS)
def test_hostile_consent_form_is_refused(app: Flask, worker: FlaskClient, what: str, name: str,
                                        content: bytes, words: str) -> None:
    person = prepare(app, sign=False).person
    path = f"/personnes/{person}/consentements/nouveau"
    with services_of(app).db.unit_of_work() as s:
        from exchange.org.models import Institution

        recipient = s.scalar(select(Institution.public_id).where(
            Institution.name == FRANCE_TRAVAIL))
    documents, blobs, consents = _documents(app), _blobs(app), _consents(app)
    answer = upload(worker, path, {
        "axis": "2", "recipient": recipient, "notice_version": "1",
        "method": "paper_form_uploaded", "collected_on": "2026-11-20",
        "paper_form": (io.BytesIO(content), name), "csrf_token": csrf_token(worker, path)})
    assert answer.status_code in (200, 400, 422), what
    html = answer.get_data(as_text=True)
    assert words in html, (what, html[-3000:])
    assert (_documents(app), _blobs(app), _consents(app)) == (documents, blobs, consents), what


def _photo_with_gps() -> bytes:
    from PIL import Image

    exif = Image.Exif()
    exif.get_ifd(0x8825).update({1: "N", 2: (43.0, 36.0, 17.0), 3: "E", 4: (1.0, 26.0, 40.0)})
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 30, 30)).save(buffer, "JPEG", exif=exif)
    return buffer.getvalue()


def test_attachment_is_stored_as_the_rebuilt_image_without_its_gps_position(
        app: Flask, worker: FlaskClient, draft: str) -> None:
    photo = _photo_with_gps() + b"trailing data"
    page = f"/fiches/{draft}/brouillon"
    added = upload(worker, f"/fiches/{draft}/pieces-jointes", {
        "fichier": (io.BytesIO(photo), "photo.jpg"), "csrf_token": csrf_token(worker, page)},
        follow_redirects=True)
    assert "La pièce jointe est ajoutée." in flashed(added)
    with acting_as(app, "ts.montauban") as ctx:  # attachments are downloadable once signed
        signing.sign(ctx, visible_fiche(ctx.session, ctx.agent, draft))
    (doc,) = {d for d in re.findall(rf'/fiches/{draft}/pieces-jointes/([0-9a-f]{{32}})"',
                                    worker.get(f"/fiches/{draft}").get_data(as_text=True))
              if worker.get(f"/fiches/{draft}/pieces-jointes/{d}").mimetype == "image/jpeg"}
    stored = worker.get(f"/fiches/{draft}/pieces-jointes/{doc}").data
    assert stored.startswith(b"\xff\xd8") and stored.endswith(b"\xff\xd9")
    assert b"Exif" not in stored and b"trailing data" not in stored


def test_consent_form_is_stored_as_the_rebuilt_pdf(app: Flask, worker: FlaskClient) -> None:
    person = prepare(app, sign=False).person
    path = f"/personnes/{person}/consentements/nouveau"
    with services_of(app).db.unit_of_work() as s:
        from exchange.org.models import Institution

        recipient = s.scalar(select(Institution.public_id).where(
            Institution.name == FRANCE_TRAVAIL))
    scan = pdf_file(one_page(b"", b"", b"<< /Note (objet-orphelin) >>"),
                    after_eof=b"%donnees-cachees\n")
    answer = upload(worker, path, {
        "axis": "2", "recipient": recipient, "notice_version": "1",
        "method": "paper_form_uploaded", "collected_on": "2026-11-20",
        "paper_form": (io.BytesIO(scan), "formulaire.pdf"), "csrf_token": csrf_token(worker, path)})
    assert answer.status_code == 302, answer.get_data(as_text=True)[-2000:]
    links = re.findall(r'href="(/personnes/[0-9a-f]+/consentements/[0-9a-f]+/formulaire)"',
                       worker.get(f"/personnes/{person}").get_data(as_text=True))
    stored = worker.get(links[-1]).data
    assert stored.startswith(b"%PDF-") and stored != scan
    assert b"objet-orphelin" not in stored and b"donnees-cachees" not in stored


def test_a_body_over_the_request_limit_gets_the_french_413_page(
        app: Flask, worker: FlaskClient, draft: str) -> None:
    limit = app.config["MAX_CONTENT_LENGTH"]
    answer = upload(worker, f"/fiches/{draft}/pieces-jointes", {
        "fichier": (io.BytesIO(b"%PDF-1.7\n" + b"0" * limit), "enorme.pdf"),
        "csrf_token": csrf_token(worker, f"/fiches/{draft}/brouillon")})
    assert answer.status_code == 413
    assert "Fichier trop volumineux" in answer.get_data(as_text=True)


SAFE = re.compile(r'attachment; filename="[A-Za-z0-9._-]{1,100}"\Z')


@pytest.mark.parametrize("name", [
    "Attestation d'hébergement (copie).pdf", "ﬁche_ü.exe.pdf", "<img src=x onerror=alert(1)>.pdf",
    'a";b=.pdf', "x.PDF", "%2e%2e%2fetc.pdf"])
def test_downloads_are_attachments_with_a_safe_ascii_name(app: Flask, worker: FlaskClient,
                                                          draft: str, name: str) -> None:
    page = f"/fiches/{draft}/brouillon"
    added = upload(worker, f"/fiches/{draft}/pieces-jointes", {
        "fichier": (io.BytesIO(PDF), name), "csrf_token": csrf_token(worker, page)},
        follow_redirects=True)
    assert "La pièce jointe est ajoutée." in flashed(added)
    with acting_as(app, "ts.montauban") as ctx:  # attachments are downloadable once signed
        signing.sign(ctx, visible_fiche(ctx.session, ctx.agent, draft))
    links = set(re.findall(rf'/fiches/{draft}/pieces-jointes/([0-9a-f]{{32}})"',
                           worker.get(f"/fiches/{draft}").get_data(as_text=True)))
    assert len(links) == 2
    for doc in links:
        download = worker.get(f"/fiches/{draft}/pieces-jointes/{doc}")
        assert download.status_code == 200
        disposition = download.headers["Content-Disposition"]
        assert SAFE.match(disposition), disposition
        assert download.headers["X-Content-Type-Options"] == "nosniff"
        assert download.headers["Cache-Control"] == "no-store"
        assert download.data.startswith(b"%PDF-")


def test_the_signed_fiche_pdf_is_an_attachment(app: Flask, clock: FixedClock) -> None:
    fiche = prepare(app).fiche
    owner = signed_in(app, "ts.montauban", clock)
    download = owner.get(f"/fiches/{fiche}/pdf")
    assert download.status_code == 200
    assert SAFE.match(download.headers["Content-Disposition"])
    assert download.mimetype == "application/pdf"
