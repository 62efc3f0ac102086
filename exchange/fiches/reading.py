"""Reading a fiche: lists for a unit, opening with every check, downloads.

Opening decrypts the content with the reader's institution key and checks it against the
sender's signed manifest; the recipient's first opening also checks the PDF's PAdES signature.
A fiche that fails any check is never shown: the caller gets `FicheTampered` and the event is
recorded (outcome "failure") in the caller's transaction, which the caller commits.

The checks (`check_fiche`) write nothing, so they can run in a reading, which on SQLite does not
hold the database's write lock; `open_fiche` then records the opening in a short unit of work,
and runs the checks again there only if the fiche changed in between.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from exchange.acting import Context
from exchange.domain import accompaniment as accompaniment_rules
from exchange.domain import fiches as rules
from exchange.domain.vocabulary import FicheKind, FicheState
from exchange.fiches.common import (
    CONTENT,
    NOTE,
    PDF,
    TAMPERED,
    FicheError,
    FicheTampered,
    attachment_documents,
    one_document,
    owner_of_unit,
    requires_countersign,
    sha256_hex,
)
from exchange.fiches.models import Accompaniment, Fiche, Receipt
from exchange.fiches.verification import (
    pdf_is_valid,
    receipts_of,
    verified_manifest,
    verified_receipt,
)
from exchange.persons.models import Person
from exchange.platform.models import Document
from exchange.policy import accompaniment_query, fiche_query, is_recipient, is_sender
from keys.errors import KeysError

PURPOSES = {"party": "Partie à l'échange", "accompaniment": "Suivi de l'accompagnement",
            "dpo_request": "Demande d'exercice de droits", "support": "Assistance technique"}


@dataclass
class OpenedFiche:
    fiche: Fiche
    content: dict[str, Any]
    manifest: dict[str, Any]
    attachments: list[tuple[Document, dict[str, Any]]]
    receipts: list[dict[str, Any]] = field(default_factory=list)
    note: str = ""
    seen: tuple[Any, ...] = ()  # the fiche as the checks found it (_seen)


def received(ctx: Context) -> list[Fiche]:
    """The unit's inbox: what was sent to it, newest first."""
    return list(ctx.session.scalars(
        fiche_query(ctx.agent).where(Fiche.recipient_unit_id == ctx.agent.unit_id)
        .options(selectinload(Fiche.sender_unit)).order_by(Fiche.sent_at.desc())))


def outgoing(ctx: Context) -> list[Fiche]:
    """What the unit drafted or sent, newest first."""
    return list(ctx.session.scalars(
        fiche_query(ctx.agent).where(Fiche.sender_unit_id == ctx.agent.unit_id)
        .options(selectinload(Fiche.recipient_unit)).order_by(Fiche.updated_at.desc())))


def reader_owner(ctx: Context) -> str:
    return ctx.owner


def _tampered(ctx: Context, fiche: Fiche) -> FicheTampered:
    ctx.record("fiche.tampered", "fiche", fiche.public_id, outcome="failure")
    return FicheTampered(TAMPERED, code="fiche_tampered")


def _seen(ctx: Context, fiche: Fiche) -> tuple[Any, ...]:
    """What the checks depend on besides the sealed bytes: the fiche's state, version, manifest
    and last change, and which documents and receipts it has."""
    return (fiche.state, fiche.version, fiche.manifest, fiche.updated_at,
            tuple(ctx.session.scalars(select(Document.id).where(Document.fiche_id == fiche.id)
                                      .order_by(Document.id))),
            tuple(ctx.session.scalars(select(Receipt.id).where(Receipt.fiche_id == fiche.id)
                                      .order_by(Receipt.id))))


def open_fiche(ctx: Context, fiche: Fiche, purpose: str = "party",
               checked: OpenedFiche | None = None) -> OpenedFiche:
    """Decrypt and check a signed fiche for its sender or its recipient, and record the opening.
    ``checked`` is what `check_fiche` found in an earlier transaction: kept if the fiche is
    still as it was then, else the checks run again in this one."""
    if checked is None or checked.seen != _seen(ctx, fiche):
        try:
            checked = check_fiche(ctx, fiche)
        except FicheTampered:
            raise _tampered(ctx, fiche) from None
    if is_recipient(ctx.agent, fiche):
        fiche.state = rules.open_(FicheState(fiche.state)).value
        if fiche.read_at is None:
            fiche.read_at, fiche.read_by_id = ctx.now, ctx.agent.id
        ctx.record("fiche.opened", "fiche", fiche.public_id, purpose=purpose)
    else:
        ctx.record("fiche.viewed", "fiche", fiche.public_id, purpose=purpose)
    return replace(checked, fiche=fiche)


def check_fiche(ctx: Context, fiche: Fiche) -> OpenedFiche:
    """Everything opening reads and checks, writing nothing. FicheError when the fiche cannot
    be opened; FicheTampered, not recorded, when a check fails."""
    seen = _seen(ctx, fiche)
    if fiche.state in (FicheState.DRAFT.value, FicheState.CANCELLED.value) and \
            one_document(ctx.session, fiche, CONTENT) is None:
        raise FicheError("Cette fiche est un brouillon : ouvrez-la depuis vos brouillons.")
    recipient = is_recipient(ctx.agent, fiche)
    if recipient and fiche.state == FicheState.RECALLED.value:
        raise FicheError("L'expéditeur a rappelé cette fiche avant sa lecture : elle n'est "
                         "plus consultable.")
    owner = reader_owner(ctx)
    try:
        manifest = verified_manifest(ctx, fiche)
        document = one_document(ctx.session, fiche, CONTENT)
        if document is None:
            raise FicheTampered(TAMPERED)
        raw = ctx.documents.open(document, owner)
        if sha256_hex(raw) != manifest["content_sha256"]:
            raise FicheTampered(TAMPERED)
        content = json.loads(raw)
        if recipient and fiche.state == FicheState.SENT.value:
            pdf = _checked_pdf(ctx, fiche, manifest, owner)
            sender = owner_of_unit(ctx.session, fiche.sender_unit_id)
            if not pdf_is_valid(ctx.svc.keystore(ctx.session), pdf, sender):
                raise FicheTampered(TAMPERED)
        receipts = [verified_receipt(ctx, fiche, receipt) for receipt in receipts_of(ctx, fiche)]
    except (KeysError, FicheTampered, ValueError):
        raise FicheTampered(TAMPERED, code="fiche_tampered") from None
    documents = attachment_documents(ctx, fiche)
    return OpenedFiche(fiche, content, manifest,
                       list(zip(documents, content.get("attachments", []), strict=False)),
                       receipts, _note(ctx, fiche), seen)


def _note(ctx: Context, fiche: Fiche) -> str:
    try:
        return read_note(ctx, fiche)
    except KeysError:
        return ""


def _checked_pdf(ctx: Context, fiche: Fiche, manifest: dict[str, Any], owner: str) -> bytes:
    document = one_document(ctx.session, fiche, PDF)
    if document is None:
        raise FicheTampered(TAMPERED)
    pdf = ctx.documents.open(document, owner)
    if sha256_hex(pdf) != manifest["pdf_sha256"]:
        raise FicheTampered(TAMPERED)
    return pdf


def _require_party(ctx: Context, fiche: Fiche) -> None:
    if not (is_sender(ctx.agent, fiche) or is_recipient(ctx.agent, fiche)):
        raise FicheError("Vous n'êtes pas partie à cet échange.")
    if fiche.manifest is None:
        raise FicheError("Le PDF n'existe qu'une fois la fiche signée.")
    if is_recipient(ctx.agent, fiche) and fiche.state in (FicheState.SENT.value,
                                                         FicheState.RECALLED.value):
        raise FicheError("Ouvrez la fiche avant d'en télécharger le PDF.")


def signed_pdf(ctx: Context, fiche: Fiche) -> bytes:
    """The PAdES-signed PDF, checked against the manifest."""
    _require_party(ctx, fiche)
    try:
        pdf = _checked_pdf(ctx, fiche, verified_manifest(ctx, fiche), reader_owner(ctx))
    except (KeysError, FicheTampered):
        raise _tampered(ctx, fiche) from None
    ctx.record("fiche.pdf_downloaded", "fiche", fiche.public_id)
    return pdf


def attachment(ctx: Context, fiche: Fiche, document_public_id: str) -> tuple[dict[str, Any], bytes]:
    """An attachment's listing entry (name, type) and bytes, checked against the manifest."""
    _require_party(ctx, fiche)
    documents = attachment_documents(ctx, fiche)
    index = next((i for i, d in enumerate(documents) if d.public_id == document_public_id), None)
    if index is None:
        raise FicheError("Cette pièce jointe n'existe pas.")
    try:
        manifest = verified_manifest(ctx, fiche)
        data = ctx.documents.open(documents[index], reader_owner(ctx))
        expected = manifest["attachments_sha256"][index]
        if sha256_hex(data) != expected:
            raise FicheTampered(TAMPERED)
        content_doc = one_document(ctx.session, fiche, CONTENT)
        assert content_doc is not None
        entry = json.loads(ctx.documents.open(content_doc, reader_owner(ctx)))["attachments"][index]
    except (KeysError, FicheTampered, IndexError, AssertionError):
        raise _tampered(ctx, fiche) from None
    ctx.record("attachment.downloaded", "document", document_public_id)
    return entry, data


def fiches_of_person(ctx: Context, person_id: int) -> list[Fiche]:
    return list(ctx.session.scalars(fiche_query(ctx.agent).where(Fiche.person_id == person_id)
                                    .order_by(Fiche.created_at.desc())))



def unit_summary(ctx: Context) -> dict[str, int]:
    """Counts for the agent's unit (no personal data): what waits in the inbox, the drafts, what
    waits for a countersignature or for sending, the caseload and its alerts."""
    today = ctx.today
    unit = ctx.agent.unit_id
    s = ctx.session

    def count(*where: Any) -> int:
        rows = fiche_query(ctx.agent).where(*where).subquery()
        return int(s.scalar(select(func.count()).select_from(rows)) or 0)

    signed = list(s.scalars(fiche_query(ctx.agent).where(
        Fiche.sender_unit_id == unit, Fiche.state == FicheState.SIGNED.value)))
    caseload = list(s.scalars(accompaniment_query(ctx.agent).where(
        Accompaniment.exit_date.is_(None))))
    return {
        "new": count(Fiche.recipient_unit_id == unit, Fiche.state == "sent"),
        "to_acknowledge": count(Fiche.recipient_unit_id == unit, Fiche.state == "read"),
        "to_decide": count(Fiche.recipient_unit_id == unit, Fiche.state == "acknowledged",
                           Fiche.kind.in_([k.value for k in FicheKind if k.is_orientation])),
        "drafts": count(Fiche.sender_unit_id == unit, Fiche.state == "draft"),
        "to_countersign": sum(1 for f in signed if requires_countersign(f)),
        "to_send": count(Fiche.sender_unit_id == unit, Fiche.state == "countersigned")
        + sum(1 for f in signed if not requires_countersign(f)),
        "caseload": len(caseload),
        "entry_overdue": sum(1 for a in caseload if accompaniment_rules.entry_overdue(
            a.proposal_date, a.entry_date, today)),
        "midterm_due": sum(1 for a in caseload if a.midterm_due is not None
                           and a.midterm_done_on is None
                           and (a.midterm_due - today).days <= 30),
    }


def person_records(ctx: Context, person: Person) -> dict[str, Any]:
    """The fiches and accompaniments of a person that the agent's unit sees, for the person's
    page (metadata only)."""
    return {
        "fiches": list(ctx.session.scalars(fiche_query(ctx.agent).where(
            Fiche.person_id == person.id).order_by(Fiche.created_at.desc()))),
        "accompaniments": list(ctx.session.scalars(accompaniment_query(ctx.agent).where(
            Accompaniment.person_id == person.id).order_by(Accompaniment.proposal_date.desc()))),
    }


def read_note(ctx: Context, fiche: Fiche) -> str:
    document = one_document(ctx.session, fiche, NOTE)
    if document is None:
        return ""
    return ctx.documents.open(document, ctx.owner).decode()
