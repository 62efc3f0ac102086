"""PAdES signatures of a fiche's PDF: the sender institution's signature, the unit manager's
optional countersignature, and their validation against the platform CA.

The signing itself is :func:`keys.pades.sign_pdf` (the private key never leaves ``keys/``):
the first signature goes in the field ``Signature1``, the countersignature in ``Signature2``
as a second incremental update, so the first signature still covers exactly the bytes it
signed and the second covers the whole file.

The certificate names the institution; the person signing for it goes in the signature
dictionary's ``/Name`` entry (ISO 32000-1 § 12.8.1), which the signature covers.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from io import BytesIO
from typing import Any

from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.diff_analysis import ModificationLevel
from pyhanko.sign.validation import SignatureCoverageLevel, validate_pdf_signature

from keys import pades
from keys.records import PDF_SIGNING
from keys.store import KeyStore

SIGNATURE_FIELD = "Signature1"
COUNTERSIGNATURE_FIELD = "Signature2"
# What may follow a signature in a later revision of a fiche: nothing, or a countersignature
# (a signature field being filled is "form filling" for pyHanko's difference analysis).
_ALLOWED_LATER_CHANGES = (
    ModificationLevel.NONE,
    ModificationLevel.LTA_UPDATES,
    ModificationLevel.FORM_FILLING,
)


class FichePdfError(ValueError):
    """The PDF given to sign or countersign is not in the expected state."""


@dataclass(frozen=True)
class SignatureReport:
    """One signature of the PDF as pyHanko judged it.

    ``signer_fingerprint`` is the first 16 hex digits of the SHA-256 of the signer's public
    key (SubjectPublicKeyInfo), the fingerprint :meth:`keys.store.KeyStore.status` lists.
    ``coverage`` is ``ENTIRE_FILE`` for a last signature that nothing follows,
    ``ENTIRE_REVISION`` for one that a later revision follows; ``modification_level`` says
    what that later revision did (``FORM_FILLING`` for a countersignature)."""

    field_name: str
    signer_organisation: str
    signer_fingerprint: str
    reason: str
    signer_name: str
    signing_time: datetime | None
    intact: bool
    valid: bool
    trusted: bool
    coverage: str
    modification_level: str
    bottom_line: bool


@dataclass(frozen=True)
class ValidationSummary:
    """Every signature of the PDF and what is wrong, if anything. ``valid`` is true only if
    there is at least one signature, every one is intact, valid and trusted against the
    platform CA, only signatures were added after each, the last one covers the entire file,
    and (when asked) every one was made with a key of the expected institution."""

    signatures: tuple[SignatureReport, ...]
    problems: tuple[str, ...]

    @property
    def valid(self) -> bool:
        return bool(self.signatures) and not self.problems


def _signer(signer_name: str) -> str:
    signer_name = signer_name.strip()
    if not signer_name:
        raise ValueError("the name of the person signing is required")
    return signer_name


def _field_names(pdf: bytes) -> list[str]:
    reader = PdfFileReader(BytesIO(pdf), strict=False)
    return [str(sig.field_name) for sig in reader.embedded_signatures]


def sign_fiche_pdf(
    keystore: KeyStore,
    owner: str,
    pdf: bytes,
    *,
    signer_name: str,
    reason: str,
    location: str,
) -> bytes:
    """``pdf`` (unsigned, as :func:`exchange.fiches.pdf.render_fiche_pdf` made it) signed in PAdES
    B-B by institution ``owner``, on behalf of ``signer_name``, in field ``Signature1``."""
    if _field_names(pdf):
        raise FichePdfError("the PDF is already signed")
    return pades.sign_pdf(
        keystore, owner, pdf,
        reason=reason.strip(), location=location, field_name=SIGNATURE_FIELD,
        signer_name=_signer(signer_name),
    )


def countersign_fiche_pdf(
    keystore: KeyStore,
    owner: str,
    pdf: bytes,
    *,
    signer_name: str,
    reason: str,
    location: str,
) -> bytes:
    """``pdf`` (signed once by :func:`sign_fiche_pdf`) with a second PAdES signature of
    institution ``owner`` on behalf of the unit manager ``signer_name``, in field
    ``Signature2``, appended as an incremental update that leaves the first one intact."""
    if _field_names(pdf) != [SIGNATURE_FIELD]:
        raise FichePdfError("only a PDF signed once, in Signature1, can be countersigned")
    return pades.sign_pdf(
        keystore, owner, pdf,
        reason=reason.strip(), location=location, field_name=COUNTERSIGNATURE_FIELD,
        signer_name=_signer(signer_name),
    )


def _organisation(cert: Any) -> str:
    try:
        return str(cert.subject.native.get("organization_name", ""))
    except Exception:  # an odd subject must not stop the report
        return ""


def _report(sig: Any, context: Any) -> SignatureReport:
    status = validate_pdf_signature(sig, signer_validation_context=context)
    cert = status.signing_cert
    level = status.modification_level
    reason = sig.sig_object.get("/Reason")
    name = sig.sig_object.get("/Name")
    return SignatureReport(
        field_name=str(sig.field_name),
        signer_organisation=_organisation(cert) if cert is not None else "",
        signer_fingerprint=(
            hashlib.sha256(cert.public_key.dump()).hexdigest()[:16] if cert is not None else ""
        ),
        reason=str(reason) if reason is not None else "",
        signer_name=str(name) if name is not None else "",
        signing_time=sig.self_reported_timestamp,
        intact=bool(status.intact),
        valid=bool(status.valid),
        trusted=bool(status.trusted),
        coverage=status.coverage.name if status.coverage is not None else "",
        modification_level=level.name if level is not None else "",
        bottom_line=bool(status.bottom_line),
    )


def _problems(report: SignatureReport, last: bool, fingerprints: set[str] | None) -> list[str]:
    name = report.field_name
    problems = []
    if not report.intact:
        problems.append(f"{name}: the signed bytes were modified")
    elif not report.valid:
        problems.append(f"{name}: the signature value does not verify")
    elif not report.trusted:
        problems.append(f"{name}: the signer's certificate is not trusted by the platform CA")
    elif not report.bottom_line:
        problems.append(f"{name}: pyHanko's overall judgement is negative")
    if last and report.coverage != SignatureCoverageLevel.ENTIRE_FILE.name:
        problems.append(f"{name}: unsigned data follows the last signature")
    if not last and report.modification_level not in {m.name for m in _ALLOWED_LATER_CHANGES}:
        problems.append(
            f"{name}: a later revision changes more than signatures "
            f"({report.modification_level or 'unknown'})"
        )
    if fingerprints is not None and report.signer_fingerprint not in fingerprints:
        problems.append(f"{name}: not signed with a key of the expected institution")
    return problems


def validate_fiche_pdf(
    keystore: KeyStore, pdf: bytes, *, expected_owner: str | None = None
) -> ValidationSummary:
    """Validate every signature of ``pdf`` against the platform CA (offline, through
    :func:`keys.pades.validation_context`). Never raises for a bad or damaged file: what is
    wrong is in ``problems``. With ``expected_owner`` (an institution id), every signature must
    also have been made with one of that institution's PDF-signing keys, current or older: the
    platform CA certifies every institution, so trust alone does not say which one signed."""
    context = pades.validation_context(keystore)
    fingerprints = None
    if expected_owner is not None:
        fingerprints = {
            row["fingerprint"]
            for row in keystore.status()
            if row["owner"] == expected_owner and row["purpose"] == PDF_SIGNING
        }
    try:
        reader = PdfFileReader(BytesIO(pdf), strict=False)
        embedded = list(reader.embedded_signatures)
    except Exception as exc:  # pyHanko raises many types for a damaged file
        return ValidationSummary((), (f"the PDF cannot be read: {type(exc).__name__}",))
    if not embedded:
        return ValidationSummary((), ("the PDF carries no signature",))
    reports: list[SignatureReport] = []
    problems: list[str] = []
    for index, sig in enumerate(embedded):
        try:
            report = _report(sig, context)
        except Exception as exc:  # same: a damaged signature, many exceptions
            problems.append(f"{sig.field_name}: cannot be validated ({type(exc).__name__})")
            continue
        reports.append(report)
        problems += _problems(report, index == len(embedded) - 1, fingerprints)
    return ValidationSummary(tuple(reports), tuple(problems))
