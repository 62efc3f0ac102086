"""Signing freezes a draft: validated content, a PAdES-signed PDF, and a signed manifest.

The manifest names the fiche and its version, kind, axis and convention, the person, the
author, the signer, the sender and recipient units and institutions, the SHA-256 of the
content, of the PDF and of each attachment, the consent and the time; the sender institution's
Ed25519 key signs it (`keys.manifest`), and every opening compares it with the row
(`routing`). The unit manager's countersignature adds a second PAdES signature to the same PDF.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import select

from exchange.accounts.models import User
from exchange.acting import Context
from exchange.domain import fiches as rules
from exchange.domain.vocabulary import FicheKind, FicheState
from exchange.fiches import drafts, routing
from exchange.fiches.common import (
    ATTACHMENT,
    CONTENT,
    DRAFT,
    PDF,
    FicheError,
    attachment_documents,
    canonical_json,
    fiche_horizon,
    institution_of,
    one_document,
    owner_of_unit,
    parties,
    requires_countersign,
    sha256_hex,
    unit_of,
)
from exchange.fiches.models import Fiche
from exchange.fiches.rendering import countersign_pdf, render_pdf, sign_pdf
from exchange.persons import consents
from exchange.persons.models import Consent
from keys.manifest import sign_manifest
from retention.policy import epoch_of

FORMAT = "liaison-fiche/1"


def current_consent(ctx: Context, fiche: Fiche) -> Consent | None:
    """The latest consent of the person for this axis and the recipient's institution."""
    recipient = institution_of(ctx.session, fiche.recipient_unit_id)
    return ctx.session.scalar(
        select(Consent).where(Consent.person_id == fiche.person_id, Consent.axis == fiche.axis,
                              Consent.recipient_institution_id == recipient.id)
        .order_by(Consent.withdrawn_at.is_not(None), Consent.collected_on.desc(),
                  Consent.id.desc()).limit(1))


def _party(ctx: Context, unit_id: int) -> dict[str, str]:
    unit = unit_of(ctx.session, unit_id)
    return {"institution": unit.institution.name, "institution_id": unit.institution.public_id,
            "unit": unit.name, "unit_id": unit.public_id}


def build_content(ctx: Context, fiche: Fiche, fields: dict[str, Any],
                  attachments: list[dict[str, Any]], consent: Consent | None) -> dict[str, Any]:
    person = fiche.person
    identity = ctx.svc.personal(ctx.session).decrypt(person.sealed_key, person.public_id,
                                                     person.identity)
    collector = ctx.session.get(User, consent.collected_by_user_id) if consent else None
    return {
        "format": FORMAT,
        "fiche": fiche.public_id,
        "version": fiche.version,
        "kind": fiche.kind,
        "axis": fiche.axis,
        "convention": {"id": fiche.convention.public_id, "title": fiche.convention.title},
        "sender": {**_party(ctx, fiche.sender_unit_id), "user": ctx.agent.display_name,
                   "user_id": ctx.agent.public_id},
        "recipient": _party(ctx, fiche.recipient_unit_id),
        "person": identity,
        "fields": fields,
        "consent": None if consent is None else {
            "id": consent.public_id, "notice_version": consent.notice_version,
            "method": consent.method, "collected_on": consent.collected_on.isoformat(),
            "collected_by": collector.display_name if collector else "",
        },
        "attachments": attachments,
        "signed_at": ctx.now.isoformat(),
    }


def manifest_for(ctx: Context, fiche: Fiche, content: bytes, pdf: bytes,
                 attachments: list[dict[str, Any]], consent: Consent | None) -> dict[str, Any]:
    recipient = institution_of(ctx.session, fiche.recipient_unit_id)
    return {
        "format": routing.MANIFEST_FORMAT,
        "document": fiche.public_id,
        "version": fiche.version,
        "kind": fiche.kind,
        "axis": fiche.axis,
        "convention": fiche.convention.public_id,
        "person": fiche.person.public_id,
        "author": fiche.sender_user.public_id,
        "sender_user": ctx.agent.public_id,
        "sender_unit": fiche.sender_unit.public_id,
        "sender_institution": institution_of(ctx.session, fiche.sender_unit_id).public_id,
        "recipient_unit": fiche.recipient_unit.public_id,
        "recipient_institution": recipient.public_id,
        "content_sha256": sha256_hex(content),
        "pdf_sha256": sha256_hex(pdf),
        "attachments_sha256": [a["sha256"] for a in attachments],
        "consent": consent.public_id if consent else None,
        "time": ctx.now.isoformat(),
    }


def no_fault(step: str) -> None:
    """Tests replace this to crash between two steps of a signature."""


def sign(ctx: Context, fiche: Fiche, *, fault: Callable[[str], None] = no_fault) -> None:
    """draft -> signed, by the sender; raises ValidationFailed with the form's errors."""
    kind = FicheKind(fiche.kind)
    signed_state = rules.sign(FicheState(fiche.state), kind=kind).value
    draft_document = one_document(ctx.session, fiche, DRAFT)
    draft = drafts.open_draft(ctx, fiche, draft_document)
    fields = rules.clean_content(kind, draft["fields"], ctx.svc.clock.today())
    consent = current_consent(ctx, fiche)
    facts = consents.consent_facts(consent) if consent is not None else None
    if facts is None or facts.is_withdrawn:
        raise FicheError("La personne n'a pas donné (ou a retiré) son consentement pour cet "
                         "échange : enregistrez son consentement avant de signer.")
    content = build_content(ctx, fiche, fields, draft["attachments"], consent)
    content_bytes = canonical_json(content)
    # What is signed is sealed once, for both parties, under the epoch of the fiche's horizon;
    # the recipient's users see it only once it is sent (exchange.policy). Blobs are written in
    # the background: the content's is on disk by the time the PDF is signed.
    due = fiche_horizon(fiche)
    assert due is not None
    sender, readers = parties(ctx.session, fiche)
    epoch = epoch_of(due)

    def seal(role: str, data: bytes) -> None:
        ctx.documents.seal(data, role=role, kind=f"fiche-{role}", sender=sender, readers=readers,
                           epoch=epoch, at=ctx.now, version=fiche.version, fiche_id=fiche.id,
                           background=True)
        fault(f"sealed {role}")

    seal(CONTENT, content_bytes)
    owner = owner_of_unit(ctx.session, fiche.sender_unit_id)
    keystore = ctx.svc.keystore(ctx.session)
    pdf = sign_pdf(keystore, owner, render_pdf(content), signer=ctx.agent.display_name,
                   institution=fiche.sender_unit.institution.name)
    fault("rendered and signed")
    seal(PDF, pdf)
    signed = sign_manifest(keystore, owner,
                           manifest_for(ctx, fiche, content_bytes, pdf, draft["attachments"],
                                        consent))
    for document in attachment_documents(ctx, fiche):
        seal(ATTACHMENT, ctx.documents.open(document, sender))
        ctx.documents.destroy(document, background=True)
    if draft_document is not None:  # the signed parts replace it: shredded after the commit
        ctx.documents.destroy(draft_document, background=True)
    fault("draft destroyed")
    # The fiche's row changes once, here, rather than at each query the steps above make.
    fiche.state, fiche.horizon = signed_state, due
    fiche.consent = consent
    fiche.manifest = signed.to_bytes()
    fiche.signed_at, fiche.signed_by_id, fiche.updated_at = ctx.now, ctx.agent.id, ctx.now
    ctx.record("fiche.signed", "fiche", fiche.public_id)
    fault("audited")
    ctx.session.flush()
    ctx.documents.settle()


def countersign(ctx: Context, fiche: Fiche) -> None:
    """signed -> countersigned, by the sender unit's manager ("sous couvert du responsable")."""
    if not (ctx.agent.has_role("unit_manager") and ctx.agent.unit_id == fiche.sender_unit_id):
        raise FicheError("Seul le responsable de la structure expéditrice peut contresigner.")
    fiche.state = rules.countersign(FicheState(fiche.state),
                                    convention_requires=requires_countersign(fiche)).value
    owner = owner_of_unit(ctx.session, fiche.sender_unit_id)
    document = one_document(ctx.session, fiche, PDF)
    assert document is not None
    keystore = ctx.svc.keystore(ctx.session)
    pdf = countersign_pdf(keystore, owner, ctx.documents.open(document, owner),
                          signer=ctx.agent.display_name,
                          institution=fiche.sender_unit.institution.name)
    _, readers = parties(ctx.session, fiche)
    ctx.documents.seal(pdf, role=PDF, kind="fiche-pdf", sender=owner, readers=readers,
                       epoch=document.epoch, at=ctx.now, version=fiche.version,
                       fiche_id=fiche.id)
    ctx.documents.destroy(document)
    manifest = routing.verified(ctx, fiche, fiche.manifest or b"", fiche.version)
    manifest["pdf_sha256"] = sha256_hex(pdf)
    manifest["countersigned_by"] = ctx.agent.public_id
    manifest["countersigned_at"] = ctx.now.isoformat()
    signed = sign_manifest(keystore, owner, manifest)
    fiche.manifest = signed.to_bytes()
    fiche.countersigned_at, fiche.countersigned_by_id = ctx.now, ctx.agent.id
    fiche.updated_at = ctx.now
    ctx.record("fiche.countersigned", "fiche", fiche.public_id)
