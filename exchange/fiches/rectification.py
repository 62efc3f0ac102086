"""Rectification of a sent fiche (RGPD art. 16): a new signed version replaces the current one.

A signed fiche does not change in place: its content and PDF are sealed, the sender institution
signed its manifest, the recipient may hold a signed receipt for it. Rectifying writes a new
version through the signing steps — content built by `signing.build_content`, PDF rendered and
PAdES-signed by `rendering`, manifest by `signing.manifest_for` — sealed for both parties, and
keeps the replaced version: its documents stay among the fiche's (their sealed header names
their version) and its signed manifest moves to a `FicheVersion` row with who rectified, when
and why (a motive from `MOTIVES`). The new manifest names the previous one by digest, so the
versions form a chain that nobody can reorder or swap.

Every version opened is checked as a fiche is: the sender institution's signature of the
manifest, the digests of the content and of the PDF, and the PDF's PAdES signatures. A version
that fails is never shown (`FicheTampered`, recorded as ``fiche.tampered``).

The replaced versions go with the fiche: retention and erasure delete every document of the
fiche by its id, and the rows follow by ``ON DELETE CASCADE``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import select

from exchange.accounts.models import User
from exchange.acting import Context
from exchange.domain import fiches as rules
from exchange.domain.clock import paris_date
from exchange.domain.errors import ValidationFailed
from exchange.domain.vocabulary import FicheKind, FicheState
from exchange.fiches import routing, signing
from exchange.fiches.common import (
    CONTENT,
    PDF,
    TAMPERED,
    FicheError,
    FicheTampered,
    canonical_json,
    documents_of,
    one_document,
    owner_of_unit,
    parties,
    sha256_hex,
)
from exchange.fiches.models import Fiche, FicheRectificationMark, FicheVersion
from exchange.fiches.pdf import render_fiche_pdf
from exchange.fiches.rendering import fiche_document, sign_pdf
from exchange.fiches.verification import pdf_is_valid
from exchange.notify import outbox as notify
from exchange.platform.models import Document
from exchange.platform.pdf.french import long_date
from exchange.policy import WRITER_ROLES, is_recipient, is_sender
from keys.envelope import Header
from keys.errors import KeysError
from keys.manifest import sign_manifest

# From sending until the fiche is deleted, whatever the recipient decided; a draft is simply
# edited, and a fiche signed but not sent is cancelled and written again.
RECTIFIABLE = frozenset({FicheState.SENT, FicheState.READ, FicheState.ACKNOWLEDGED,
                         FicheState.ACCEPTED, FicheState.DECLINED, FicheState.RECALLED})
# Who writes fiches signs their rectification; the DPO never sees the content, and the unit
# manager countersigns but does not author.
AUTHORS = frozenset(WRITER_ROLES)
MOTIVES = {
    "person_request": "Demande de la personne (article 16 du RGPD)",
    "clerical_error": "Erreur matérielle",
    "inaccurate": "Information inexacte ou incomplète constatée par le professionnel",
}
MOTIVE_FIELD = "rectification_motive"
NOT_SENT = {
    FicheState.DRAFT: "Cette fiche est encore un brouillon : modifiez-la directement, sans "
                      "rectification.",
    FicheState.SIGNED: "Cette fiche est signée mais n'a pas été envoyée : annulez-la et "
                       "rédigez une nouvelle fiche si elle doit être corrigée.",
    FicheState.COUNTERSIGNED: "Cette fiche est signée mais n'a pas été envoyée : annulez-la "
                              "et rédigez une nouvelle fiche si elle doit être corrigée.",
    FicheState.CANCELLED: "Cette fiche a été annulée avant son envoi : elle ne peut pas être "
                          "rectifiée.",
}


def no_fault(step: str) -> None:
    """Tests replace this to crash between two steps of a rectification."""


def check_may_rectify(ctx: Context, fiche: Fiche) -> None:
    """The user's unit sent the fiche, the user authors fiches, the state allows it."""
    if not is_sender(ctx.agent, fiche):
        raise FicheError("Seule la structure expéditrice peut rectifier cette fiche.")
    if not ctx.agent.roles & AUTHORS:
        raise FicheError("La rectification est signée par un professionnel de la structure "
                         "expéditrice (travailleur social ou conseiller).")
    state = FicheState(fiche.state)
    if state not in RECTIFIABLE:
        raise FicheError(NOT_SENT.get(state, "Cette fiche ne peut pas être rectifiée."))


def may_rectify(ctx: Context, fiche: Fiche) -> bool:
    try:
        check_may_rectify(ctx, fiche)
    except FicheError:
        return False
    return True


# -- checking a version -------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckedVersion:
    number: int
    manifest: dict[str, Any]
    content: dict[str, Any]
    pdf: bytes


def _document(ctx: Context, fiche: Fiche, role: str, number: int) -> Document:
    """The latest document of ``role`` whose sealed header names version ``number`` (the
    manifest's digests decide whether it is the right one)."""
    found = [d for d in documents_of(ctx.session, fiche, role)
             if Header.from_bytes(d.header).version == number]
    if not found:
        raise FicheTampered(TAMPERED)
    return found[-1]


def _verified(ctx: Context, fiche: Fiche, signed: bytes, number: int) -> dict[str, Any]:
    """The manifest of version ``number``, signed by the sender institution and naming what
    the row says (`routing`)."""
    return routing.verified(ctx, fiche, signed, number)


def check_version(ctx: Context, fiche: Fiche, number: int, signed: bytes) -> CheckedVersion:
    """Version ``number`` of the fiche, decrypted for the user's institution, with every check:
    the manifest ``signed`` by the sender institution for this fiche and version, the digests of
    content and PDF, the PDF's PAdES signatures. Otherwise ``FicheTampered``, recorded."""
    reader = ctx.owner
    sender = owner_of_unit(ctx.session, fiche.sender_unit_id)
    try:
        manifest = _verified(ctx, fiche, signed, number)
        raw = ctx.documents.open(_document(ctx, fiche, CONTENT, number), reader)
        pdf = ctx.documents.open(_document(ctx, fiche, PDF, number), reader)
        if sha256_hex(raw) != manifest["content_sha256"] or \
                sha256_hex(pdf) != manifest["pdf_sha256"]:
            raise FicheTampered(TAMPERED)
        content = json.loads(raw)
        if not isinstance(content, dict) or content.get("version") != number:
            raise FicheTampered(TAMPERED)
        if not pdf_is_valid(ctx.svc.keystore(ctx.session), pdf, sender):
            raise FicheTampered(TAMPERED)
    except (KeysError, FicheTampered, ValueError, KeyError, TypeError):
        ctx.record("fiche.tampered", "fiche", fiche.public_id, outcome="failure")
        raise FicheTampered(TAMPERED, code="fiche_tampered") from None
    return CheckedVersion(number, manifest, content, pdf)


def check_current(ctx: Context, fiche: Fiche) -> None:
    """Before a rectified fiche is shown: both signatures of its current version (the first
    version's PAdES signature is checked when the recipient first opens it)."""
    if fiche.version > 1 and fiche.manifest is not None:
        check_version(ctx, fiche, fiche.version, fiche.manifest)


def versions(ctx: Context, fiche: Fiche) -> list[FicheVersion]:
    """The replaced versions, oldest first."""
    return list(ctx.session.scalars(select(FicheVersion).where(FicheVersion.fiche_id == fiche.id)
                                    .order_by(FicheVersion.version)))


def _check_chain(ctx: Context, fiche: Fiche, row: FicheVersion) -> None:
    """The version after ``row`` names it: same number, same manifest digest."""
    later = ctx.session.scalar(select(FicheVersion.manifest).where(
        FicheVersion.fiche_id == fiche.id, FicheVersion.version == row.version + 1))
    following = later if later is not None else fiche.manifest
    try:
        if following is None:
            raise FicheTampered(TAMPERED)
        link = _verified(ctx, fiche, following, row.version + 1).get("rectifies") or {}
        if link.get("version") != row.version or \
                link.get("manifest_sha256") != sha256_hex(row.manifest):
            raise FicheTampered(TAMPERED)
    except (KeysError, FicheTampered):
        ctx.record("fiche.tampered", "fiche", fiche.public_id, outcome="failure")
        raise FicheTampered(TAMPERED, code="fiche_tampered") from None


def version_row(ctx: Context, fiche: Fiche, number: int) -> FicheVersion | None:
    return ctx.session.scalar(select(FicheVersion).where(
        FicheVersion.fiche_id == fiche.id, FicheVersion.version == number))


def _require_reader(ctx: Context, fiche: Fiche) -> None:
    if is_recipient(ctx.agent, fiche):
        if fiche.state == FicheState.RECALLED.value:
            raise FicheError("L'expéditeur a rappelé cette fiche avant sa lecture : elle n'est "
                             "plus consultable.")
        if fiche.state == FicheState.SENT.value:
            raise FicheError("Ouvrez d'abord la version en vigueur de la fiche ; ses versions "
                             "précédentes sont consultables ensuite.")
    elif not is_sender(ctx.agent, fiche):
        raise FicheError("Vous n'êtes pas partie à cet échange.")


def open_version(ctx: Context, fiche: Fiche, row: FicheVersion) -> CheckedVersion:
    """A replaced version, checked like the fiche and chained to the next
    (``fiche.version_viewed``)."""
    _require_reader(ctx, fiche)
    _check_chain(ctx, fiche, row)
    checked = check_version(ctx, fiche, row.version, row.manifest)
    ctx.record("fiche.version_viewed", "fiche", fiche.public_id, purpose="party")
    return checked


def version_pdf(ctx: Context, fiche: Fiche, row: FicheVersion) -> bytes:
    """The PAdES-signed PDF of a replaced version, checked (``fiche.version_downloaded``)."""
    _require_reader(ctx, fiche)
    _check_chain(ctx, fiche, row)
    checked = check_version(ctx, fiche, row.version, row.manifest)
    ctx.record("fiche.version_downloaded", "fiche", fiche.public_id)
    return checked.pdf


# -- what the fiche's page shows ----------------------------------------------------------------


@dataclass(frozen=True)
class VersionLine:
    number: int
    signed_at: datetime | None
    signed_by: str
    replaced_at: datetime | None  # None for the version in force
    motive: str  # why it was replaced


@dataclass(frozen=True)
class History:
    lines: list[VersionLine]  # newest first
    rectified_at: datetime | None  # when the version in force replaced the previous one
    requested_at: datetime | None  # the DPO asked the sending unit to rectify (open mark)
    may_rectify: bool


def _name(ctx: Context, user_id: int | None) -> str:
    user = ctx.session.get(User, user_id) if user_id is not None else None
    return user.display_name if user is not None else "—"


def history(ctx: Context, fiche: Fiche) -> History:
    """Metadata only: who signed each version and when, what replaced it and why."""
    rows = versions(ctx, fiche)
    signed: list[tuple[datetime | None, int | None]] = [(fiche.signed_at, fiche.signed_by_id)]
    signed += [(r.rectified_at, r.rectified_by_id) for r in rows]
    lines = [VersionLine(r.version, signed[i][0], _name(ctx, signed[i][1]), r.rectified_at,
                         MOTIVES.get(r.motive, r.motive)) for i, r in enumerate(rows)]
    lines.append(VersionLine(fiche.version, signed[-1][0], _name(ctx, signed[-1][1]), None, ""))
    mark = None
    if is_sender(ctx.agent, fiche):
        mark = ctx.session.scalar(select(FicheRectificationMark.marked_at).where(
            FicheRectificationMark.fiche_id == fiche.id, FicheRectificationMark.done_at.is_(None))
            .order_by(FicheRectificationMark.id).limit(1))
    return History(list(reversed(lines)), rows[-1].rectified_at if rows else None, mark,
                   may_rectify(ctx, fiche))


# -- rectifying -----------------------------------------------------------------------------------


def render_version_pdf(content: dict[str, Any]) -> bytes:
    """The fiche's PDF (`rendering.fiche_document`), with the line naming the version it
    rectifies."""
    document = fiche_document(content)
    rectifies = content.get("rectifies")
    if rectifies:
        signed_on = paris_date(datetime.fromisoformat(rectifies["signed_at"]))
        document = replace(document, rectifies_signed_on=long_date(signed_on))
    return render_fiche_pdf(document)


def rectify(ctx: Context, fiche: Fiche, fields: Mapping[str, Any], motive: str, *,
            fault: Callable[[str], None] = no_fault) -> FicheVersion:
    """Replace the version in force by a new one, signed by the user for the sender
    institution; returns the row of the replaced version. Raises ValidationFailed with the
    form's errors, FicheError when the fiche may not be rectified, FicheTampered when the
    version in force does not check out (a tampered version is never carried forward)."""
    check_may_rectify(ctx, fiche)
    kind = FicheKind(fiche.kind)
    today = ctx.svc.clock.today()
    errors = rules.validate_content(kind, fields, today)
    if motive not in MOTIVES:  # the fiche's own form has a "motive" (of the orientation)
        errors[MOTIVE_FIELD] = "Choisissez le motif de la rectification dans la liste."
    if errors:
        raise ValidationFailed(errors)
    cleaned = rules.clean_content(kind, fields, today)
    assert fiche.manifest is not None
    previous = check_version(ctx, fiche, fiche.version, fiche.manifest)
    # Neither a restriction of processing (art. 18) nor a withdrawn consent nor the end of the
    # convention stops a rectification: restriction is there precisely while the accuracy of
    # the data is checked and corrected, and a rectification sends nobody anything new — it
    # replaces, for the same two parties, what they already hold (art. 16 and 19).
    replaced = FicheVersion(fiche_id=fiche.id, version=fiche.version, manifest=fiche.manifest,
                            rectified_at=ctx.now, rectified_by_id=ctx.agent.id, motive=motive)
    fiche.version += 1
    consent = fiche.consent
    attachments = previous.content.get("attachments", [])
    content = signing.build_content(ctx, fiche, cleaned, attachments, consent)
    if content["fields"] == previous.content.get("fields") and \
            content["person"] == previous.content.get("person"):
        fiche.version = previous.number
        raise FicheError("Aucun champ n'a été modifié : la fiche n'est pas rectifiée.")
    content["rectifies"] = {"version": previous.number,
                            "signed_at": previous.content["signed_at"], "motive": motive}
    content_bytes = canonical_json(content)
    owner = owner_of_unit(ctx.session, fiche.sender_unit_id)
    keystore = ctx.svc.keystore(ctx.session)
    pdf = sign_pdf(keystore, owner, render_version_pdf(content), signer=ctx.agent.display_name,
                   institution=fiche.sender_unit.institution.name)
    fault("rendered and signed")
    manifest = signing.manifest_for(ctx, fiche, content_bytes, pdf, attachments, consent)
    manifest["rectifies"] = {"version": previous.number,
                             "manifest_sha256": sha256_hex(replaced.manifest), "motive": motive}
    signed = sign_manifest(keystore, owner, manifest)
    current = one_document(ctx.session, fiche, CONTENT)
    assert current is not None
    sender, readers = parties(ctx.session, fiche)
    for role, data in ((CONTENT, content_bytes), (PDF, pdf)):
        ctx.documents.seal(data, role=role, kind=f"fiche-{role}", sender=sender,
                           readers=readers, epoch=current.epoch, at=ctx.now,
                           version=fiche.version, fiche_id=fiche.id)
        fault(f"sealed {role}")
    ctx.session.add(replaced)
    fiche.manifest = signed.to_bytes()
    fiche.updated_at = ctx.now
    for mark in ctx.session.scalars(select(FicheRectificationMark).where(
            FicheRectificationMark.fiche_id == fiche.id,
            FicheRectificationMark.done_at.is_(None))):
        mark.done_version, mark.done_at = fiche.version, ctx.now
    ctx.record("fiche.rectified", "fiche", fiche.public_id)
    fault("audited")
    if fiche.state != FicheState.RECALLED.value:  # a recalled fiche is no longer the recipient's
        notify.enqueue_for_unit(ctx.session, "fiche_rectified", fiche.recipient_unit_id,
                                f"/fiches/{fiche.public_id}", ctx.now)
    ctx.session.flush()
    return replaced
