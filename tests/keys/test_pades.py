"""PAdES signatures checked by pyHanko's own validator against the platform CA."""

from __future__ import annotations

from datetime import UTC, datetime
from io import BytesIO
from pathlib import Path

import pytest
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature
from reportlab.pdfgen import canvas

from keys.errors import SignatureInvalid
from keys.master import MasterKey
from keys.pades import pdf_signer, sign_pdf, validation_context, verify_pdf
from keys.store import KeyStore

from .support import INSTITUTIONS, MovableClock, make_keystore


@pytest.fixture
def live_keystore(master: MasterKey, tmp_path: Path) -> KeyStore:
    # pyHanko validates at the real current time, so certificates must be
    # valid now: use a clock that starts now.
    return make_keystore(master, tmp_path / "epochs", MovableClock(datetime.now(UTC)))


@pytest.fixture(scope="module")
def pdf() -> bytes:
    buffer = BytesIO()
    page = canvas.Canvas(buffer)
    page.drawString(72, 760, "Fiche de liaison - orientation vers l'accompagnement global")
    page.showPage()
    page.save()
    return buffer.getvalue()


def _validate(keystore: KeyStore, data: bytes):  # type: ignore[no-untyped-def]
    reader = PdfFileReader(BytesIO(data))
    (signature,) = reader.embedded_signatures
    return validate_pdf_signature(signature, signer_validation_context=validation_context(keystore))


def test_signed_pdf_validates_against_the_platform_ca(live_keystore: KeyStore, pdf: bytes) -> None:
    signed = sign_pdf(
        live_keystore, "inst-a", pdf, reason="Envoi de la fiche", location="Montauban"
    )
    assert signed.startswith(pdf)  # an incremental update
    status = _validate(live_keystore, signed)
    assert status.intact and status.valid and status.trusted
    assert status.bottom_line
    assert status.coverage.name == "ENTIRE_FILE"
    assert INSTITUTIONS["inst-a"] in status.signing_cert.subject.human_friendly
    reader = PdfFileReader(BytesIO(signed))
    sig = reader.embedded_signatures[0]
    assert sig.field_name == "Signature1"
    assert sig.sig_object["/SubFilter"] == "/ETSI.CAdES.detached"
    assert sig.sig_object["/Reason"] == "Envoi de la fiche"


def test_byte_flip_inside_the_signed_range_is_detected(live_keystore: KeyStore, pdf: bytes) -> None:
    signed = sign_pdf(live_keystore, "inst-a", pdf, reason="Envoi", location="Montauban")
    sig = PdfFileReader(BytesIO(signed)).embedded_signatures[0]
    start, first_length, second_start, second_length = (
        int(x) for x in sig.sig_object["/ByteRange"]
    )
    position = signed.index(b"ReportLab Generated PDF document")
    assert start <= position < start + first_length  # inside the signed range
    damaged = bytearray(signed)
    damaged[position] ^= 0x01
    status = _validate(live_keystore, bytes(damaged))
    assert not status.intact
    assert not status.bottom_line
    with pytest.raises(SignatureInvalid):
        verify_pdf(live_keystore, bytes(damaged))


def test_signature_is_not_trusted_by_another_platform(
    live_keystore: KeyStore, pdf: bytes, tmp_path: Path
) -> None:
    signed = sign_pdf(live_keystore, "inst-b", pdf, reason="Envoi", location="Toulouse")
    other = make_keystore(
        MasterKey.create(tmp_path / "m2.key"), tmp_path / "e2", MovableClock(datetime.now(UTC))
    )
    status = _validate(other, signed)
    assert status.intact and not status.trusted
    with pytest.raises(SignatureInvalid, match="trusted=False"):
        verify_pdf(other, signed)


def test_signer_holds_the_current_certificate_and_the_ca(live_keystore: KeyStore) -> None:
    live_keystore.rotate("inst-c")
    signer = pdf_signer(live_keystore, "inst-c")
    current = live_keystore.records.current("inst-c", "pdf-signing")
    assert signer.signing_cert.dump() == current.certificate
    ca_der = live_keystore.records.current("platform", "ca").certificate
    assert any(cert.dump() == ca_der for cert in signer.cert_registry)


def test_signer_name_is_in_the_signed_dictionary(live_keystore: KeyStore, pdf: bytes) -> None:
    signed = sign_pdf(
        live_keystore,
        "inst-a",
        pdf,
        reason="Envoi",
        location="Montauban",
        signer_name="Élodie Lefèvre",
    )
    sig = PdfFileReader(BytesIO(signed)).embedded_signatures[0]
    assert sig.sig_object["/Name"] == "Élodie Lefèvre"
    assert _validate(live_keystore, signed).bottom_line


def test_verify_pdf_reports_the_signer(live_keystore: KeyStore, pdf: bytes) -> None:
    signed = sign_pdf(live_keystore, "inst-c", pdf, reason="Bilan", location="Lodève")
    (report,) = verify_pdf(live_keystore, signed)
    assert report.intact and report.valid and report.trusted and report.bottom_line
    assert INSTITUTIONS["inst-c"] in report.signer


def test_unsigned_or_broken_pdf_is_refused(live_keystore: KeyStore, pdf: bytes) -> None:
    with pytest.raises(SignatureInvalid, match="no signature"):
        verify_pdf(live_keystore, pdf)
    with pytest.raises(SignatureInvalid):
        verify_pdf(live_keystore, b"%PDF-1.7\nnot really")
