"""What the fiche use cases share: the acting user and time, documents by role, errors."""

from __future__ import annotations

import hashlib
import json
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from exchange.acting import Context
from exchange.domain.errors import DomainError
from exchange.domain.vocabulary import Axis
from exchange.fiches.models import Fiche
from exchange.org.models import Institution, Unit
from exchange.platform.models import Document
from retention.policy import RetentionRule, horizon

# The roles of a fiche's sealed documents.
DRAFT = "draft"
CONTENT = "content"
PDF = "pdf"
ATTACHMENT = "attachment"
NOTE = "note"

class FicheError(DomainError):
    """A refusal to show the user, in plain French."""


class FicheTampered(FicheError):
    """A sealed part or a signature of the fiche does not check out."""


TAMPERED = ("Cette fiche ne peut pas être affichée : son contenu ou sa signature a été altéré. "
            "L'incident est enregistré ; prévenez l'expéditeur et votre DPO.")


def unit_of(session: Session, unit_id: int) -> Unit:
    """The unit, with its institution once asked for, kept for the session: the identity map
    holds its objects weakly, and a use case asks for the same two units again and again."""
    known: dict[int, Unit] = session.info.setdefault("liaison.units", {})
    unit = known.get(unit_id)
    if unit is None:
        unit = session.get(Unit, unit_id)
        assert unit is not None
        known[unit_id] = unit
    return unit


def institution_of(session: Session, unit_id: int) -> Institution:
    return unit_of(session, unit_id).institution


def owner_of_unit(session: Session, unit_id: int) -> str:
    return institution_of(session, unit_id).key_owner


def documents_of(session: Session, fiche: Fiche, role: str) -> list[Document]:
    """The fiche's documents in `role`, with their wraps (opening one needs them)."""
    return list(session.scalars(select(Document).options(joinedload(Document.wraps)).where(
        Document.fiche_id == fiche.id, Document.role == role).order_by(Document.id)).unique())


def one_document(session: Session, fiche: Fiche, role: str) -> Document | None:
    found = documents_of(session, fiche, role)
    return found[-1] if found else None


def fiche_horizon(fiche: Fiche) -> date | None:
    """The latest date the fiche may be kept: end of its convention + the axis period."""
    convention = fiche.convention
    rule = RetentionRule(grace_days=convention.grace_days, axis_period_months={
        Axis.AXE2: convention.retention_axis2_months,
        Axis.AXE3: convention.retention_axis3_months})
    return horizon(convention.effective_end_date, Axis(fiche.axis), rule)


def parties(session: Session, fiche: Fiche) -> tuple[str, list[str]]:
    """The sender institution's key owner, and the readers of what is exchanged: both parties."""
    sender = owner_of_unit(session, fiche.sender_unit_id)
    return sender, [sender, owner_of_unit(session, fiche.recipient_unit_id)]


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, sort_keys=True,
                      separators=(",", ":")).encode("utf-8")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def attachment_documents(ctx: Context, fiche: Fiche) -> list[Document]:
    """In the order of the fiche's attachment list."""
    return documents_of(ctx.session, fiche, ATTACHMENT)


def requires_countersign(fiche: Fiche) -> bool:
    """The convention's countersigning applies to what the social service sends."""
    return bool(fiche.convention.countersign_required
                and fiche.sender_unit.institution.kind in ("departement", "ccas_cias"))
