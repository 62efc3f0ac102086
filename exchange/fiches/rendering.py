"""From a fiche's signed content to its PDF, and the PDF's signatures (`exchange.fiches.pdf`)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from exchange.domain import fiches as rules
from exchange.domain.clock import paris_date
from exchange.domain.vocabulary import (
    ConsentMethod,
    ExitReason,
    FicheKind,
    SocialBarrier,
)
from exchange.fiches.pdf import (
    AttachmentLine,
    ConsentStatement,
    FicheDocument,
    PersonBlock,
    SectionValue,
    render_fiche_pdf,
)
from exchange.fiches.pdf_signing import countersign_fiche_pdf, sign_fiche_pdf
from exchange.platform.pdf.french import long_date
from keys.store import KeyStore


def _day(value: str) -> str:
    try:
        return long_date(date.fromisoformat(value))
    except ValueError:
        return value


def _value(field: rules.FormField, value: Any) -> SectionValue:
    if field.type == "barriers":
        return [SocialBarrier(v).label for v in value or []]
    if field.type == "exit_reason":
        return ExitReason(value).label if value else ""
    if field.type == "date":
        return _day(value) if value else ""
    return str(value or "")


def fiche_document(content: dict[str, Any], countersigned_by: str | None = None) -> FicheDocument:
    kind = FicheKind(content["kind"])
    fields = content["fields"]
    person = content["person"]
    consent = content.get("consent") or {}
    signed_on = long_date(paris_date(datetime.fromisoformat(content["signed_at"])))
    return FicheDocument(
        reference=content["fiche"][:8].upper(),
        kind_label=kind.label,
        convention_title=content["convention"]["title"],
        sender_institution=content["sender"]["institution"],
        sender_unit=content["sender"]["unit"],
        sender_user=content["sender"]["user"],
        recipient_institution=content["recipient"]["institution"],
        recipient_unit=content["recipient"]["unit"],
        created_on=signed_on,
        signed_on=signed_on,
        person=PersonBlock(
            last_name=person.get("last_name", ""),
            first_names=person.get("first_names", ""),
            birth_date=_day(person.get("birth_date", "")),
            birth_name=person.get("birth_name", ""),
            france_travail_id=person.get("ft_identifier", ""),
            address=person.get("address", ""),
            phone=person.get("phone", ""),
            email=person.get("email", ""),
            rsa_beneficiary=_yes_no(person.get("rsa_beneficiary")),
        ),
        consent=ConsentStatement(
            notice_version=consent.get("notice_version", ""),
            method=ConsentMethod(consent["method"]).label if consent.get("method") else "",
            collected_by=consent.get("collected_by", ""),
            collected_on=_day(consent.get("collected_on", "")),
            purpose=kind.label,
        ),
        sections=[(f.label, _value(f, fields.get(f.name))) for f in rules.FORM_FIELDS[kind]],
        attachments=[AttachmentLine(a["name"], a["size"]) for a in content["attachments"]],
        countersigned_by=countersigned_by,
        version=content["version"],
    )


def _yes_no(value: object) -> bool | None:
    if value in (True, "true", "1", "oui", "yes"):
        return True
    if value in (False, "false", "0", "non", "no"):
        return False
    return None


def render_pdf(content: dict[str, Any]) -> bytes:
    return render_fiche_pdf(fiche_document(content))


def sign_pdf(keystore: KeyStore, owner: str, pdf: bytes, *, signer: str,
             institution: str) -> bytes:
    return sign_fiche_pdf(keystore, owner, pdf, signer_name=signer,
                          reason=f"Fiche de liaison signée pour {institution}",
                          location="Liaison")


def countersign_pdf(keystore: KeyStore, owner: str, pdf: bytes, *, signer: str,
                    institution: str) -> bytes:
    return countersign_fiche_pdf(keystore, owner, pdf, signer_name=signer,
                                 reason=f"Sous couvert du responsable de structure, {institution}",
                                 location="Liaison")


