"""What the recipient decides: acknowledge (a signed receipt), accept (the accompaniment
starts), decline (a reason from the list and a sealed free text)."""

from __future__ import annotations

from exchange.accounts.models import User
from exchange.acting import Context
from exchange.domain import fiches as rules
from exchange.domain.clock import paris_date
from exchange.domain.vocabulary import DeclineReason, FicheKind, FicheState
from exchange.fiches.common import NOTE, FicheError, institution_of, one_document, owner_of_unit
from exchange.fiches.models import Accompaniment, Fiche, Receipt
from exchange.fiches.verification import verified_manifest
from exchange.indicators.facts import record_fact
from exchange.notify import outbox as notify
from exchange.policy import is_recipient, share_person
from keys.manifest import sign_manifest


def seal_note(ctx: Context, fiche: Fiche, text: str, readers: list[str] | None = None) -> None:
    """A decision's free text, sealed like the fiche (never in a row or an audit event)."""
    text = text.strip()
    if not text:
        return
    sender = owner_of_unit(ctx.session, fiche.sender_unit_id)
    readers = readers or [sender, owner_of_unit(ctx.session, fiche.recipient_unit_id)]
    ctx.documents.seal(text.encode("utf-8"), role=NOTE, kind="fiche-note",
                       sender=ctx.owner, readers=readers,
                       epoch=_epoch(ctx, fiche), at=ctx.now, fiche_id=fiche.id)


def _epoch(ctx: Context, fiche: Fiche) -> str:
    content = one_document(ctx.session, fiche, "content")
    if content is not None:
        return content.epoch
    from exchange.fiches.drafts import working_epoch

    return working_epoch(ctx)


def _require_recipient(ctx: Context, fiche: Fiche) -> None:
    if not is_recipient(ctx.agent, fiche):
        raise FicheError("Seule la structure destinataire peut répondre à cette fiche.")


def _notify_sender(ctx: Context, fiche: Fiche, kind: str) -> None:
    sender = ctx.session.get(User, fiche.sender_user_id)
    recipients = [sender.email] if sender is not None and sender.active and sender.email else []
    notify.enqueue(ctx.session, kind, recipients, f"/fiches/{fiche.public_id}", ctx.now)


def acknowledge(ctx: Context, fiche: Fiche) -> Receipt:
    """read -> acknowledged; the recipient institution signs a receipt for this version."""
    _require_recipient(ctx, fiche)
    fiche.state = rules.acknowledge(FicheState(fiche.state)).value
    sent = verified_manifest(ctx, fiche)
    owner = owner_of_unit(ctx.session, fiche.recipient_unit_id)
    signed = sign_manifest(ctx.svc.keystore(ctx.session), owner, {
        "receipt_for": fiche.public_id,
        "version": fiche.version,
        "content_sha256": sent["content_sha256"],
        "pdf_sha256": sent["pdf_sha256"],
        "recipient_institution": institution_of(ctx.session, fiche.recipient_unit_id).public_id,
        "recipient_unit": fiche.recipient_unit.public_id,
        "recipient_user": ctx.agent.public_id,
        "time": ctx.now.isoformat(),
    })
    receipt = Receipt(fiche_id=fiche.id, signed=signed.to_bytes(), signed_by_id=ctx.agent.id,
                      created_at=ctx.now, horizon=fiche.horizon)
    ctx.session.add(receipt)
    fiche.acknowledged_at = fiche.updated_at = ctx.now
    ctx.session.flush()
    ctx.record("fiche.acknowledged", "fiche", fiche.public_id)
    _notify_sender(ctx, fiche, "fiche_acknowledged")
    return receipt


def accept(ctx: Context, fiche: Fiche) -> Accompaniment:
    """acknowledged -> accepted; the orientation starts an accompaniment for the pair."""
    _require_recipient(ctx, fiche)
    kind = FicheKind(fiche.kind)
    fiche.state = rules.accept(FicheState(fiche.state), kind=kind).value
    sender = ctx.session.get(User, fiche.sender_user_id)
    assert sender is not None and fiche.sent_at is not None
    advisor, social = (ctx.agent, sender) if ctx.agent.has_role("advisor") else (sender, ctx.agent)
    accompaniment = Accompaniment(
        axis=fiche.axis, person_id=fiche.person_id, convention_id=fiche.convention_id,
        orientation_id=fiche.id, advisor_user_id=advisor.id, advisor_unit_id=advisor.unit_id,
        social_user_id=social.id, social_unit_id=social.unit_id,
        proposal_date=paris_date(fiche.sent_at), created_at=ctx.now, horizon=fiche.horizon,
    )
    ctx.session.add(accompaniment)
    fiche.decided_at, fiche.decided_by_id, fiche.updated_at = ctx.now, ctx.agent.id, ctx.now
    ctx.session.flush()
    fiche.accompaniment_id = accompaniment.id
    share_person(ctx.session, fiche.person, ctx.agent.unit_id, ctx.now)
    ctx.record("fiche.accepted", "fiche", fiche.public_id)
    ctx.record("accompaniment.created", object_type="accompaniment",
               object_id=accompaniment.public_id)
    record_fact(ctx, "orientation_accepted", fiche=fiche, accompaniment=accompaniment)
    _notify_sender(ctx, fiche, "fiche_accepted")
    return accompaniment


def close_with_reason(ctx: Context, fiche: Fiche, state: FicheState, reason: str, text: str,
                      *, action: str, readers: list[str] | None = None) -> None:
    """What a decline, a recall and a cancel share once the domain allowed it: the new state and
    its reason code, who and when, the free text sealed, one audit event."""
    fiche.state, fiche.reason = state.value, reason
    fiche.decided_at, fiche.decided_by_id, fiche.updated_at = ctx.now, ctx.agent.id, ctx.now
    seal_note(ctx, fiche, text, readers)
    ctx.record(action, "fiche", fiche.public_id)


def decline(ctx: Context, fiche: Fiche, reason: str, text: str) -> None:
    _require_recipient(ctx, fiche)
    state = rules.decline(FicheState(fiche.state), kind=FicheKind(fiche.kind), reason=reason,
                          text=text)
    close_with_reason(ctx, fiche, state, DeclineReason(reason).value, text,
                      action="fiche.declined")
    record_fact(ctx, "orientation_declined", fiche=fiche)
    _notify_sender(ctx, fiche, "fiche_declined")


