"""The accompaniment an accepted orientation starts: entry, renewal, mid-term review, exit.

Dates and reasons are rows; an exit's free text is sealed. Each change is audited, and is made
by the pair only (`is_pair`).
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import func, select

from exchange.acting import Context
from exchange.domain import accompaniment as rules
from exchange.domain.vocabulary import ExitReason
from exchange.fiches.common import FicheError, owner_of_unit
from exchange.fiches.models import Accompaniment
from exchange.indicators.facts import record_fact
from exchange.policy import WRITER_ROLES, accompaniment_query

EXIT_NOTE = "exit_note"
PAIR_ONLY = ("Seul le binôme de l'accompagnement, son conseiller et son travailleur social, "
             "enregistre l'entrée, le renouvellement, le bilan à mi-parcours et la sortie.")


def is_pair(ctx: Context, accompaniment: Accompaniment) -> bool:
    """The user is the pair's advisor or social worker, acting as a professional. Both units
    read the accompaniment; what happens to the person (entry, renewal, review, exit) is
    recorded by the two people the conventions name, not by their colleagues or their unit
    manager (who holds no writer role)."""
    return (ctx.agent.id in (accompaniment.advisor_user_id, accompaniment.social_user_id)
            and bool(ctx.agent.roles & set(WRITER_ROLES)))


def _require_pair(ctx: Context, accompaniment: Accompaniment) -> None:
    if not is_pair(ctx, accompaniment):
        raise FicheError(PAIR_ONLY)


def _record(ctx: Context, action: str, accompaniment: Accompaniment) -> None:
    ctx.record(action, object_type="accompaniment", object_id=accompaniment.public_id)


def record_entry(ctx: Context, accompaniment: Accompaniment, entry: date | None) -> None:
    _require_pair(ctx, accompaniment)
    if accompaniment.entry_date is not None:
        raise FicheError("La date d'entrée est déjà enregistrée.")
    day = rules.record_entry(proposal=accompaniment.proposal_date, entry=entry,
                             today=ctx.svc.clock.today())
    accompaniment.entry_date = day
    accompaniment.planned_end = rules.planned_end(day)
    accompaniment.midterm_due = rules.midterm_due(day)
    _record(ctx, "accompaniment.entry_recorded", accompaniment)
    record_fact(ctx, "entry", accompaniment=accompaniment)


def renew(ctx: Context, accompaniment: Accompaniment) -> None:
    _require_pair(ctx, accompaniment)
    accompaniment.planned_end = rules.renew(
        entry=accompaniment.entry_date, renewed=accompaniment.renewed,
        exit_date=accompaniment.exit_date, today=ctx.svc.clock.today())
    accompaniment.renewed = True
    _record(ctx, "accompaniment.renewed", accompaniment)
    record_fact(ctx, "renewal", accompaniment=accompaniment)


def midterm_done(ctx: Context, accompaniment: Accompaniment, day: date) -> None:
    _require_pair(ctx, accompaniment)
    if accompaniment.entry_date is None:
        raise FicheError("Enregistrez d'abord la date d'entrée en accompagnement.")
    if day < accompaniment.entry_date or day > ctx.svc.clock.today():
        raise FicheError("La date du bilan à mi-parcours doit suivre l'entrée et ne pas être "
                         "dans le futur.")
    accompaniment.midterm_done_on = day
    _record(ctx, "accompaniment.midterm_done", accompaniment)
    record_fact(ctx, "midterm_done", accompaniment=accompaniment)


def close(ctx: Context, accompaniment: Accompaniment, exit_date: date | None, reason: str,
          text: str) -> None:
    _require_pair(ctx, accompaniment)
    if accompaniment.exit_date is not None:
        raise FicheError("Cet accompagnement est déjà clos.")
    closure = rules.close(proposal=accompaniment.proposal_date, entry=accompaniment.entry_date,
                          exit_date=exit_date, reason=reason, text=text,
                          today=ctx.svc.clock.today())
    accompaniment.exit_date = closure.exit_date
    accompaniment.exit_reason = ExitReason(closure.reason).value
    if closure.text:
        owners = sorted({owner_of_unit(ctx.session, accompaniment.advisor_unit_id),
                         owner_of_unit(ctx.session, accompaniment.social_unit_id)})
        ctx.documents.seal(closure.text.encode("utf-8"), role=EXIT_NOTE, kind="exit-note",
                           sender=ctx.owner, readers=owners,
                           epoch=_epoch(accompaniment), at=ctx.now,
                           accompaniment_id=accompaniment.id)
    _record(ctx, "accompaniment.closed", accompaniment)
    record_fact(ctx, "exit", accompaniment=accompaniment)


def _epoch(accompaniment: Accompaniment) -> str:
    from retention.policy import epoch_of

    assert accompaniment.horizon is not None
    return epoch_of(accompaniment.horizon)


def caseload(ctx: Context) -> list[Accompaniment]:
    """The unit's accompaniments, open ones first."""
    return list(ctx.session.scalars(accompaniment_query(ctx.agent).order_by(
        Accompaniment.exit_date.is_not(None), Accompaniment.proposal_date.desc())))


def active_count(ctx: Context, advisor_id: int) -> int:
    """An advisor's active caseload: entered, not exited, as of today."""
    today = ctx.svc.clock.today()
    return int(ctx.session.scalar(select(func.count()).select_from(Accompaniment).where(
        Accompaniment.advisor_user_id == advisor_id, Accompaniment.entry_date <= today,
        (Accompaniment.exit_date.is_(None)) | (Accompaniment.exit_date > today))) or 0)


def midterm_reviews_due(ctx: Context, within_days: int = 30) -> list[Accompaniment]:
    today = ctx.svc.clock.today()
    return [a for a in caseload(ctx) if a.exit_date is None and a.midterm_due is not None
            and a.midterm_done_on is None and (a.midterm_due - today).days <= within_days]
