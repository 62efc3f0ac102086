"""Drafts: start a fiche towards a partner unit, save and resume its form, attach files.

A draft and its attachments are sealed for the sender's institution only; the recipient's
institution gets its own wraps at sending.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from exchange.acting import Context
from exchange.domain import fiches as rules
from exchange.domain.vocabulary import Axis, FicheKind, FicheState, InstitutionKind
from exchange.fiches.common import (
    ATTACHMENT,
    DRAFT,
    FicheError,
    attachment_documents,
    one_document,
    owner_of_unit,
    sha256_hex,
)
from exchange.fiches.models import Accompaniment, Fiche
from exchange.org.models import Convention, Institution, Unit
from exchange.persons.models import Person
from exchange.platform.models import Document
from exchange.policy import share_person
from retention.policy import epoch_of

MAX_ATTACHMENTS = 10


@dataclass(frozen=True)
class Destination:
    """A unit the user may send to, and the convention that allows it."""

    unit: Unit
    convention: Convention
    kinds: frozenset[FicheKind]


def conventions_between(session: Session, a: int, b: int) -> list[Convention]:
    return list(session.scalars(select(Convention).where(or_(
        (Convention.institution_a_id == a) & (Convention.institution_b_id == b),
        (Convention.institution_a_id == b) & (Convention.institution_b_id == a),
    ))))


def destinations(ctx: Context) -> list[Destination]:
    """Partner units under a convention in force, with the kinds the user may send there."""
    mine = ctx.agent.institution
    today = ctx.svc.clock.today()
    found: list[Destination] = []
    for convention in ctx.session.scalars(select(Convention).where(or_(
            Convention.institution_a_id == mine.id, Convention.institution_b_id == mine.id))):
        if not convention.in_force(today):
            continue
        partner_id = (convention.institution_b_id if convention.institution_a_id == mine.id
                      else convention.institution_a_id)
        partner = ctx.session.get(Institution, partner_id)
        assert partner is not None
        kinds = rules.allowed_kinds_for(
            InstitutionKind(mine.kind), InstitutionKind(partner.kind), ctx.agent.roles,
            enabled_axes=[Axis(a) for a in convention.axes()])
        if not kinds:
            continue
        for unit in partner.units:
            if unit.kind != "other":
                found.append(Destination(unit, convention, kinds))
    return found


def find_destination(ctx: Context, unit_public_id: str, kind: FicheKind) -> Destination:
    for destination in destinations(ctx):
        if destination.unit.public_id == unit_public_id and kind in destination.kinds:
            return destination
    raise FicheError("Ce destinataire ne peut pas recevoir ce type de fiche de votre part : "
                     "aucune convention en vigueur ne le prévoit.")


def start_draft(ctx: Context, person: Person, kind: FicheKind, recipient_unit_id: str,
                accompaniment: Accompaniment | None = None) -> Fiche:
    destination = find_destination(ctx, recipient_unit_id, kind)
    axis = kind.orientation_axis
    if axis is None:
        if accompaniment is None or accompaniment.person_id != person.id:
            raise FicheError("Un bilan ou un retour se rattache à un accompagnement en cours "
                             "de cette personne : choisissez-le.")
        axis = Axis(accompaniment.axis)
    fiche = Fiche(
        kind=kind.value, axis=int(axis), state=FicheState.DRAFT.value, version=1,
        convention_id=destination.convention.id, person_id=person.id,
        accompaniment_id=accompaniment.id if accompaniment else None,
        sender_unit_id=ctx.agent.unit_id, sender_user_id=ctx.agent.id,
        recipient_unit_id=destination.unit.id, created_at=ctx.now, updated_at=ctx.now,
    )
    ctx.session.add(fiche)
    ctx.session.flush()
    share_person(ctx.session, person, ctx.agent.unit_id, ctx.now)
    _store_draft(ctx, fiche, {"fields": {}, "attachments": []})
    ctx.record("fiche.created", "fiche", fiche.public_id)
    return fiche


def _require_draft(fiche: Fiche) -> None:
    if fiche.state != FicheState.DRAFT.value:
        raise FicheError("Cette fiche n'est plus un brouillon : elle ne peut plus être modifiée.")


def _sender_owner(ctx: Context, fiche: Fiche) -> str:
    return owner_of_unit(ctx.session, fiche.sender_unit_id)


def working_epoch(ctx: Context) -> str:
    """Drafts live under the epoch of the month they would expire in if abandoned."""
    from exchange.domain.dates import add_months

    return epoch_of(add_months(ctx.svc.clock.today(), 12))


def _store_draft(ctx: Context, fiche: Fiche, draft: dict[str, Any]) -> None:
    previous = one_document(ctx.session, fiche, DRAFT)
    if previous is not None:
        ctx.documents.destroy(previous)
    owner = _sender_owner(ctx, fiche)
    ctx.documents.seal(
        json.dumps(draft, ensure_ascii=False).encode("utf-8"), role=DRAFT, kind="fiche-draft",
        sender=owner, readers=[owner], epoch=working_epoch(ctx), at=ctx.now, fiche_id=fiche.id)
    fiche.updated_at = ctx.now


def read_draft(ctx: Context, fiche: Fiche) -> dict[str, Any]:
    return open_draft(ctx, fiche, one_document(ctx.session, fiche, DRAFT))


def open_draft(ctx: Context, fiche: Fiche, document: Document | None) -> dict[str, Any]:
    """The draft kept in `document` (the fiche's DRAFT document, None when nothing was saved)."""
    if document is None:
        return {"fields": {}, "attachments": []}
    value = json.loads(ctx.documents.open(document, _sender_owner(ctx, fiche)))
    assert isinstance(value, dict)
    return value


def save_draft(ctx: Context, fiche: Fiche, fields: dict[str, str | list[str]]) -> None:
    """Keep what was typed, errors included: a draft is validated only when it is signed."""
    _require_draft(fiche)
    draft = read_draft(ctx, fiche)
    draft["fields"] = {name: value for name, value in fields.items()
                       if name in {f.name for f in rules.FORM_FIELDS[FicheKind(fiche.kind)]}}
    _store_draft(ctx, fiche, draft)
    ctx.record("fiche.draft_saved", "fiche", fiche.public_id)


def add_attachment(ctx: Context, fiche: Fiche, name: str, content_type: str,
                   data: bytes) -> Document:
    """`name`, `content_type` and `data` come from the upload check (exchange.platform.uploads)."""
    _require_draft(fiche)
    draft = read_draft(ctx, fiche)
    if len(draft["attachments"]) >= MAX_ATTACHMENTS:
        raise FicheError(f"Une fiche compte au plus {MAX_ATTACHMENTS} pièces jointes.")
    owner = _sender_owner(ctx, fiche)
    document = ctx.documents.seal(data, role=ATTACHMENT, kind="fiche-attachment", sender=owner,
                                  readers=[owner], epoch=working_epoch(ctx), at=ctx.now,
                                  fiche_id=fiche.id)
    draft["attachments"].append({"name": name, "type": content_type, "size": len(data),
                                 "sha256": sha256_hex(data)})
    _store_draft(ctx, fiche, draft)
    ctx.session.flush()
    # The fiche is the object: the draft's copy of the attachment is re-sealed at signing.
    ctx.record("attachment.added", "fiche", fiche.public_id)
    return document


def remove_attachment(ctx: Context, fiche: Fiche, document_public_id: str) -> None:
    _require_draft(fiche)
    documents = attachment_documents(ctx, fiche)
    index = next((i for i, d in enumerate(documents) if d.public_id == document_public_id), None)
    if index is None:
        raise FicheError("Cette pièce jointe n'existe pas.")
    draft = read_draft(ctx, fiche)
    del draft["attachments"][index]
    ctx.documents.destroy(documents[index])
    _store_draft(ctx, fiche, draft)
    ctx.record("attachment.removed", "fiche", fiche.public_id)
