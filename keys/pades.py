"""PAdES signatures of the fiches' PDFs, with the institutions' ECDSA P-256
keys certified by the platform CA (pyHanko does the PDF and CMS work).

Signatures are PAdES baseline B-B (``/SubFilter /ETSI.CAdES.detached``,
SHA-256, signing certificate and CA certificate embedded).  There is no
time-stamping authority in this deployment, so no B-T.
"""

from __future__ import annotations

from dataclasses import dataclass
from io import BytesIO
from typing import Any

from cryptography.hazmat.primitives import serialization
from pyhanko.keys import load_certs_from_pemder_data, load_private_key_from_pemder_data
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import signers
from pyhanko.sign.fields import SigSeedSubFilter
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.registry import SimpleCertificateStore

from . import certificates
from .errors import SignatureInvalid
from .store import KeyStore

SIGNATURE_RESERVED_BYTES = 8192  # a P-256 CMS signature with its two certificates fits in 3 KiB


def _asn1_certificate(der: bytes) -> Any:
    (cert,) = load_certs_from_pemder_data(der)
    return cert


def pdf_signer(keystore: KeyStore, owner: str) -> signers.SimpleSigner:
    """A pyHanko signer holding ``owner``'s current pdf-signing key and
    certificate, with the CA certificate as the rest of the chain.  This
    object holds a private key: use it for one signature and drop it."""
    key, cert, ca_cert = keystore._pdf_signing(owner)
    der_key = key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    registry = SimpleCertificateStore()  # type: ignore[no-untyped-call]  # untyped __init__
    registry.register(_asn1_certificate(ca_cert.public_bytes(serialization.Encoding.DER)))
    return signers.SimpleSigner(
        signing_cert=_asn1_certificate(cert.public_bytes(serialization.Encoding.DER)),
        signing_key=load_private_key_from_pemder_data(der_key, passphrase=None),
        cert_registry=registry,
    )


def sign_pdf(
    keystore: KeyStore,
    owner: str,
    pdf_bytes: bytes,
    *,
    reason: str,
    location: str,
    field_name: str = "Signature1",
    signer_name: str | None = None,
) -> bytes:
    """``pdf_bytes`` with a PAdES B-B signature of ``owner`` appended as an
    incremental update in a new invisible field ``field_name``.  The
    certificate names the institution; ``signer_name`` (the person signing
    for it) goes in the signature dictionary's ``/Name`` (ISO 32000-1,
    12.8.1), which the signature covers."""
    writer = IncrementalPdfFileWriter(BytesIO(pdf_bytes), strict=False)
    meta = signers.PdfSignatureMetadata(
        field_name=field_name,
        reason=reason,
        location=location,
        name=signer_name,
        md_algorithm="sha256",
        subfilter=SigSeedSubFilter.PADES,
    )
    # Reserving room for the signature up front spares pyHanko a trial signature to size it.
    out = signers.sign_pdf(writer, meta, signer=pdf_signer(keystore, owner),
                           bytes_reserved=SIGNATURE_RESERVED_BYTES)
    signed: bytes = out.getvalue()
    return signed


def validation_context(keystore: KeyStore) -> ValidationContext:
    """A pyHanko validation context trusting only the platform CA, offline
    (no fetching; revocation soft-fail since the CA publishes no CRL), judging certificate
    validity at the wall clock, as any outside validator of the PDF (pdfsig, a PDF reader)
    does. Certificates are issued at the wall clock too (`certificates.wall_clock`)."""
    ca = _asn1_certificate(keystore.ca_certificate().public_bytes(serialization.Encoding.DER))
    return ValidationContext(
        trust_roots=[ca], allow_fetching=False, revocation_mode="soft-fail",
        moment=certificates.wall_clock(),
    )


@dataclass(frozen=True)
class PdfSignatureReport:
    field_name: str
    signer: str
    intact: bool
    valid: bool
    trusted: bool
    coverage: str
    bottom_line: bool


def verify_pdf(keystore: KeyStore, pdf_bytes: bytes) -> list[PdfSignatureReport]:
    """Validate every signature of ``pdf_bytes`` against the platform CA.
    Raises ``SignatureInvalid`` if there is none, or if one is not intact,
    not valid, not trusted or followed by a disallowed modification, or if
    the file cannot be parsed."""
    context = validation_context(keystore)
    reports = []
    try:
        reader = PdfFileReader(BytesIO(pdf_bytes), strict=False)
        embedded = list(reader.embedded_signatures)
        if not embedded:
            raise SignatureInvalid("the PDF carries no signature")
        for sig in embedded:
            status = validate_pdf_signature(sig, signer_validation_context=context)
            signing_cert = status.signing_cert
            reports.append(
                PdfSignatureReport(
                    field_name=str(sig.field_name),
                    signer=str(signing_cert.subject.human_friendly) if signing_cert else "",
                    intact=bool(status.intact),
                    valid=bool(status.valid),
                    trusted=bool(status.trusted),
                    coverage=str(status.coverage.name) if status.coverage else "",
                    bottom_line=bool(status.bottom_line),
                )
            )
    except SignatureInvalid:
        raise
    except Exception as exc:  # pyHanko raises many types for a damaged file
        raise SignatureInvalid(f"the PDF signature cannot be validated: {exc}") from None
    for report in reports:
        if not (report.intact and report.valid and report.trusted and report.bottom_line):
            raise SignatureInvalid(
                f"PDF signature {report.field_name!r} is not valid "
                f"(intact={report.intact}, valid={report.valid}, trusted={report.trusted})"
            )
    return reports
