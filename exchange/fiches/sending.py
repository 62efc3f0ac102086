"""Sending: all or nothing. Recall before reading; cancel before sending.

Signing already sealed the content, the signed PDF and every attachment for the sender's and
the recipient's institutions, under the retention epoch of the fiche's horizon. Sending checks
the state, the countersignature, the person's restriction and consent and the convention,
releases the fiche to the recipient unit (which now sees the person), writes the audit event
and queues the e-mail notification — all in the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Callable

from exchange.accounts.models import User
from exchange.acting import Context
from exchange.domain import fiches as rules
from exchange.domain.vocabulary import (
    Axis,
    CancelReason,
    FicheKind,
    FicheState,
    InstitutionKind,
    RecallReason,
)
from exchange.fiches.common import FicheError, institution_of, requires_countersign
from exchange.fiches.decisions import close_with_reason
from exchange.fiches.models import Fiche
from exchange.indicators.facts import record_fact
from exchange.notify import outbox as notify
from exchange.persons import consents
from exchange.policy import share_person


def no_fault(step: str) -> None:
    """Tests replace this to crash between two steps of a send."""


def send(ctx: Context, fiche: Fiche, *, fault: Callable[[str], None] = no_fault) -> None:
    if fiche.sender_unit_id != ctx.agent.unit_id:
        raise FicheError("Seule la structure expéditrice peut envoyer cette fiche.")
    kind = FicheKind(fiche.kind)
    sender = institution_of(ctx.session, fiche.sender_unit_id)
    recipient = institution_of(ctx.session, fiche.recipient_unit_id)
    consent = fiche.consent
    fiche.state = rules.send(
        FicheState(fiche.state), requires_countersign=requires_countersign(fiche),
        consent=consents.consent_facts(consent) if consent is not None else None,
        restricted=fiche.person.restricted,
        person_id=fiche.person_id, axis=Axis(fiche.axis), recipient_institution=recipient.id,
        at=ctx.now).value
    rules.check_may_send(kind, sender_institution_kind=InstitutionKind(sender.kind),
                         recipient_institution_kind=InstitutionKind(recipient.kind),
                         roles=_sender_roles(ctx, fiche),
                         enabled_axes=[Axis(a) for a in fiche.convention.axes()])
    if not fiche.convention.in_force(ctx.svc.clock.today()):
        raise FicheError("La convention n'est plus en vigueur : l'envoi n'est pas possible.")
    fault("checked")
    fiche.sent_at = fiche.updated_at = ctx.now
    fault("released")
    share_person(ctx.session, fiche.person, fiche.recipient_unit_id, ctx.now)
    ctx.record("fiche.sent", "fiche", fiche.public_id)
    record_fact(ctx, "orientation_sent", fiche=fiche)
    fault("audited")
    _notify_recipient(ctx, fiche, "fiche_received")
    fault("notified")
    ctx.session.flush()


def _notify_recipient(ctx: Context, fiche: Fiche, kind: str) -> None:
    notify.enqueue_for_unit(ctx.session, kind, fiche.recipient_unit_id,
                            f"/fiches/{fiche.public_id}", ctx.now)


def _sender_roles(ctx: Context, fiche: Fiche) -> frozenset[str]:
    """The signer's roles decide what may be sent; a manager sends what the worker signed."""
    signer = ctx.session.get(User, fiche.signed_by_id) if fiche.signed_by_id else None
    return signer.roles if signer is not None else ctx.agent.roles


def recall(ctx: Context, fiche: Fiche, reason: str, text: str) -> None:
    if fiche.sender_unit_id != ctx.agent.unit_id:
        raise FicheError("Seule la structure expéditrice peut rappeler cette fiche.")
    state = rules.recall(FicheState(fiche.state), reason=reason, text=text)
    close_with_reason(ctx, fiche, state, RecallReason(reason).value, text,
                      action="fiche.recalled")
    record_fact(ctx, "orientation_recalled", fiche=fiche)
    _notify_recipient(ctx, fiche, "fiche_recalled")


def cancel(ctx: Context, fiche: Fiche, reason: str, text: str) -> None:
    if fiche.sender_unit_id != ctx.agent.unit_id:
        raise FicheError("Seule la structure expéditrice peut annuler cette fiche.")
    state = rules.cancel(FicheState(fiche.state), reason=reason, text=text)
    close_with_reason(ctx, fiche, state, CancelReason(reason).value, text,
                      action="fiche.cancelled", readers=[ctx.owner])
