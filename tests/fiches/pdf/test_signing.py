"""PAdES signature and countersignature of the fiche PDF, checked by two independent
validators: pyHanko (through exchange.fiches.pdf.validate_fiche_pdf, trusting only the platform CA)
and poppler's pdfsig (NSS, with a throwaway database that trusts only the platform CA)."""

from __future__ import annotations

from io import BytesIO
from pathlib import Path

import pytest
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

from exchange.fiches.pdf_signing import (
    FichePdfError,
    countersign_fiche_pdf,
    sign_fiche_pdf,
    validate_fiche_pdf,
)
from keys.store import KeyStore
from tests.fiches.pdf.conftest import build_keystore
from tests.fiches.pdf.support import (
    POPPLER_STALE_ERROR,
    TRUSTED,
    nss_chain_is_good,
    pdfsig,
    signer_certificates,
)
from tests.keys.support import flip

VALID = "Signature is Valid."


def _sign(keystore: KeyStore, pdf: bytes, signer_name: str = "Élodie Lefèvre") -> bytes:
    return sign_fiche_pdf(keystore, "inst-a", pdf, signer_name=signer_name,
                          reason="Envoi de la fiche de liaison", location="Montauban")


def _countersign(keystore: KeyStore, pdf: bytes) -> bytes:
    return countersign_fiche_pdf(
        keystore, "inst-a", pdf, signer_name="Karine Dubœuf",
        reason="Sous couvert du responsable de structure", location="Montauban",
    )


def _inside_first_revision(pdf: bytes) -> int:
    """The offset of a byte that the first signature covers and whose change keeps the file
    readable: a letter of the document's /Creator entry."""
    index = pdf.index(b"/Creator (Liaison)") + len(b"/Creator (")
    assert index < pdf.index(b"/ByteRange")
    return index


def _assert_pdfsig_trusts(pdf: bytes, tmp_path: Path, nss: Path, count: int) -> None:
    code, signatures = pdfsig(pdf, tmp_path, nss)
    assert code == 0
    assert len(signatures) == count
    assert [s.signature for s in signatures] == [VALID] * count
    assert signatures[-1].total_document_signed
    for sig, cert_der in zip(signatures, signer_certificates(pdf), strict=True):
        if sig.certificate != TRUSTED:
            # The poppler of Debian 12 misreports a verified chain (see support.py); NSS's own
            # PKIX check of the same certificate against the same database decides instead.
            assert sig.certificate == POPPLER_STALE_ERROR
            assert nss_chain_is_good(cert_der, tmp_path, nss)


# -- one signature ------------------------------------------------------------------------------


def test_signed_pdf_is_valid_for_pyhanko_against_the_platform_ca(
    pdf_keystore: KeyStore, signed_pdf: bytes
) -> None:
    summary = validate_fiche_pdf(pdf_keystore, signed_pdf, expected_owner="inst-a")
    assert summary.valid, summary.problems
    (sig,) = summary.signatures
    assert sig.field_name == "Signature1"
    assert (sig.intact, sig.valid, sig.trusted, sig.bottom_line) == (True, True, True, True)
    assert sig.coverage == "ENTIRE_FILE"
    assert sig.signer_organisation == "Département de Tarn-et-Garonne"
    assert sig.reason == "Envoi de la fiche de liaison"
    assert sig.signer_name == "Élodie Lefèvre"
    assert sig.signing_time is not None


def test_signed_pdf_is_valid_for_pdfsig_with_the_platform_ca_trusted(
    signed_pdf: bytes, tmp_path: Path, trusting_nss: Path
) -> None:
    _assert_pdfsig_trusts(signed_pdf, tmp_path, trusting_nss, count=1)


def test_pdfsig_does_not_trust_the_signer_without_the_platform_ca(
    signed_pdf: bytes, tmp_path: Path, empty_nss: Path
) -> None:
    code, (sig,) = pdfsig(signed_pdf, tmp_path, empty_nss)
    assert sig.signature == VALID  # the bytes are intact...
    assert sig.certificate == "Certificate issuer isn't Trusted."  # ...the issuer unknown
    assert not nss_chain_is_good(signer_certificates(signed_pdf)[0], tmp_path, empty_nss)


def test_signature_by_another_institution_is_reported(
    pdf_keystore: KeyStore, signed_pdf: bytes
) -> None:
    summary = validate_fiche_pdf(pdf_keystore, signed_pdf, expected_owner="inst-b")
    assert not summary.valid
    assert summary.problems == ("Signature1: not signed with a key of the expected institution",)


def test_flipped_byte_inside_a_compressed_stream_is_rejected(
    pdf_keystore: KeyStore, signed_pdf: bytes, tmp_path: Path, trusting_nss: Path
) -> None:
    tampered = flip(signed_pdf, signed_pdf.index(b"\nstream\n") + 20)
    assert not validate_fiche_pdf(pdf_keystore, tampered).valid
    _, signatures = pdfsig(tampered, tmp_path, trusting_nss)
    assert all(sig.signature != VALID for sig in signatures)


def test_a_signature_made_before_a_key_rotation_still_validates(
    sample_pdf: bytes, tmp_path: Path
) -> None:
    keystore = build_keystore(tmp_path / "rotating")
    pdf = _sign(keystore, sample_pdf)
    keystore.rotate("inst-a")
    assert validate_fiche_pdf(keystore, pdf, expected_owner="inst-a").valid
    assert not validate_fiche_pdf(keystore, pdf, expected_owner="inst-b").valid


def test_signature_from_another_platform_is_not_trusted(
    pdf_keystore: KeyStore, sample_pdf: bytes, tmp_path: Path
) -> None:
    stranger = build_keystore(tmp_path / "other-platform")
    pdf = _sign(stranger, sample_pdf)
    assert validate_fiche_pdf(stranger, pdf).valid
    summary = validate_fiche_pdf(pdf_keystore, pdf)
    assert not summary.valid
    assert summary.signatures[0].intact and not summary.signatures[0].trusted
    assert "Signature1: the signer's certificate is not trusted by the platform CA" in (
        summary.problems
    )


def test_changes_appended_after_the_signature_are_reported(
    pdf_keystore: KeyStore, signed_pdf: bytes
) -> None:
    writer = IncrementalPdfFileWriter(BytesIO(signed_pdf), strict=False)
    writer.set_info(generic.DictionaryObject(
        {generic.NameObject("/Title"): generic.TextStringObject("Autre fiche")}
    ))
    out = BytesIO()
    writer.write(out)
    summary = validate_fiche_pdf(pdf_keystore, out.getvalue())
    assert not summary.valid
    assert "Signature1: unsigned data follows the last signature" in summary.problems


def test_unsigned_and_unreadable_pdfs_are_reported_not_raised(
    pdf_keystore: KeyStore, sample_pdf: bytes
) -> None:
    assert validate_fiche_pdf(pdf_keystore, sample_pdf).problems == (
        "the PDF carries no signature",
    )
    summary = validate_fiche_pdf(pdf_keystore, b"%PDF-1.4\nnot a pdf")
    assert not summary.valid and summary.problems[0].startswith("the PDF cannot be read")


def test_signing_twice_or_without_a_signer_name_is_refused(
    pdf_keystore: KeyStore, sample_pdf: bytes, signed_pdf: bytes
) -> None:
    with pytest.raises(FichePdfError, match="already signed"):
        _sign(pdf_keystore, signed_pdf)
    with pytest.raises(ValueError, match="name of the person"):
        _sign(pdf_keystore, sample_pdf, signer_name=" ")


# -- countersignature ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def countersigned_pdf(pdf_keystore: KeyStore, signed_pdf: bytes) -> bytes:
    return _countersign(pdf_keystore, signed_pdf)


def test_countersignature_is_an_incremental_update(
    signed_pdf: bytes, countersigned_pdf: bytes
) -> None:
    assert countersigned_pdf.startswith(signed_pdf)


def test_countersigned_pdf_has_two_valid_signatures_for_pyhanko(
    pdf_keystore: KeyStore, countersigned_pdf: bytes
) -> None:
    summary = validate_fiche_pdf(pdf_keystore, countersigned_pdf, expected_owner="inst-a")
    assert summary.valid, summary.problems
    first, second = summary.signatures
    assert (first.field_name, second.field_name) == ("Signature1", "Signature2")
    assert all(s.intact and s.valid and s.trusted and s.bottom_line for s in summary.signatures)
    assert (first.coverage, first.modification_level) == ("ENTIRE_REVISION", "FORM_FILLING")
    assert second.coverage == "ENTIRE_FILE"
    assert second.signer_name == "Karine Dubœuf"


def test_countersigned_pdf_has_two_valid_signatures_for_pdfsig(
    countersigned_pdf: bytes, tmp_path: Path, trusting_nss: Path
) -> None:
    _assert_pdfsig_trusts(countersigned_pdf, tmp_path, trusting_nss, count=2)
    _, (first, second) = pdfsig(countersigned_pdf, tmp_path, trusting_nss)
    assert (first.field_name, second.field_name) == ("Signature1", "Signature2")
    assert not first.total_document_signed and second.total_document_signed


@pytest.mark.parametrize(("fixture", "count"), [("signed_pdf", 1), ("countersigned_pdf", 2)])
def test_flipped_byte_in_the_first_revision_is_rejected_by_both_validators(
    fixture: str, count: int, request: pytest.FixtureRequest,
    pdf_keystore: KeyStore, tmp_path: Path, trusting_nss: Path,
) -> None:
    pdf = request.getfixturevalue(fixture)
    tampered = flip(pdf, _inside_first_revision(pdf))
    summary = validate_fiche_pdf(pdf_keystore, tampered)
    assert not summary.valid
    assert [s.intact for s in summary.signatures] == [False] * count
    assert "Signature1: the signed bytes were modified" in summary.problems
    _, signatures = pdfsig(tampered, tmp_path, trusting_nss)
    assert [s.signature for s in signatures] == ["Digest Mismatch."] * count


def test_flipped_byte_in_the_countersignature_revision_invalidates_it(
    pdf_keystore: KeyStore, signed_pdf: bytes, countersigned_pdf: bytes
) -> None:
    index = countersigned_pdf.index(b"/Reason", len(signed_pdf)) + 2
    summary = validate_fiche_pdf(pdf_keystore, flip(countersigned_pdf, index))
    assert not summary.valid
    assert "Signature2: the signed bytes were modified" in summary.problems


def test_countersigning_needs_exactly_the_first_signature(
    pdf_keystore: KeyStore, sample_pdf: bytes, countersigned_pdf: bytes
) -> None:
    with pytest.raises(FichePdfError, match="signed once"):
        _countersign(pdf_keystore, sample_pdf)
    with pytest.raises(FichePdfError, match="signed once"):
        _countersign(pdf_keystore, countersigned_pdf)
