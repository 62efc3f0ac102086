"""Statistics facts: written at each state change, read back as small aggregates.

`record_fact` is called by each use case of `exchange.fiches` right after its audit event, in
the same transaction: the fact exists exactly when the change it records was committed. It
derives every column from the fiche or the accompaniment and keeps only what
docs/indicators.md (§ facts) lists: no person, no fiche id, no free text.

`aggregates` fills `exchange.domain.indicators.Aggregates` with four GROUP BY queries, so that
the indicators of an institution over a million facts move a few thousand grouped rows into
Python, not a million facts; `exchange.domain.indicators.compute` does the arithmetic.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING

from sqlalchemy import ColumnElement, case, false, func, or_, select
from sqlalchemy.orm import Session

from exchange.accounts.models import User
from exchange.domain import accompaniment as rules
from exchange.domain.clock import paris_date
from exchange.domain.indicators import (
    ORIENTATION_EVENTS,
    Aggregates,
    CaseloadBand,
    Event,
    Indicators,
    Period,
    Scope,
    Tally,
    compute,
    midterm_on_time,
    month_of,
    within_entry_target,
)
from exchange.domain.vocabulary import DeclineReason, ExitReason, FicheKind
from exchange.fiches.models import Accompaniment, Fiche
from exchange.indicators.models import StatFact
from exchange.org.models import Convention, Institution, Unit
from exchange.persons.models import Person
from keys.personal import blind_index

if TYPE_CHECKING:
    from exchange.acting import Context

ADVISOR_PREFIX = "stat-advisor"
ACCOMPANIMENT_PREFIX = "stat-accompaniment"
_YES = frozenset({"1", "true", "oui", "yes"})
_NO = frozenset({"0", "false", "non", "no"})


# -- writing -------------------------------------------------------------------------------


def record_fact(ctx: Context, event: Event | str, *, fiche: Fiche | None = None,
                accompaniment: Accompaniment | None = None) -> StatFact | None:
    """Add the fact of ``event`` about ``fiche`` (orientation events) or ``accompaniment``
    (the others; ``orientation_accepted`` takes both), in the caller's transaction.

    Bilans and returns are not orientations: they write no fact (None). A second mid-term
    review of the same accompaniment corrects the first one's date and writes no fact either.
    """
    event = Event(event)
    orientation = fiche
    if orientation is None and accompaniment is not None:
        orientation = ctx.session.get(Fiche, accompaniment.orientation_id)
    if orientation is None:
        raise ValueError("a fact is about a fiche or an accompaniment")
    if not FicheKind(orientation.kind).is_orientation:
        return None
    today = paris_date(ctx.now)
    sent_on = paris_date(orientation.sent_at) if orientation.sent_at else today
    values: dict[str, object] = {
        "event": event.value,
        "axis": orientation.axis,
        "convention_id": orientation.convention_id,
        "proposal_month": month_of(sent_on),
        "month": month_of(today),
        "rsa_beneficiary": rsa_beneficiary(ctx, orientation.person_id),
    }
    values.update(_parties(ctx.session, orientation))
    if accompaniment is not None:
        values.update(_accompaniment_facts(ctx, event, accompaniment))
        if values.get("month") is None:
            return None
    if event is Event.ORIENTATION_SENT:
        values["month"] = month_of(sent_on)
    elif event is Event.ORIENTATION_DECLINED:
        values["decline_reason"] = DeclineReason(orientation.reason).value
    fact = StatFact(**values, created_at=_month_start(ctx.now))
    ctx.session.add(fact)
    return fact


def _parties(session: Session, orientation: Fiche) -> dict[str, object]:
    sender = session.get(Unit, orientation.sender_unit_id)
    receiver = session.get(Unit, orientation.recipient_unit_id)
    assert sender is not None and receiver is not None
    return {"sender_unit_id": sender.id, "sender_institution_id": sender.institution_id,
            "receiving_unit_id": receiver.id, "receiving_institution_id": receiver.institution_id}


def _accompaniment_facts(ctx: Context, event: Event,
                         accompaniment: Accompaniment) -> dict[str, object]:
    keystore = ctx.svc.keystore(ctx.session)
    advisor = ctx.session.get(User, accompaniment.advisor_user_id)
    assert advisor is not None
    ref = blind_index(keystore, ACCOMPANIMENT_PREFIX, accompaniment.public_id)
    values: dict[str, object] = {
        "advisor_ref": blind_index(keystore, ADVISOR_PREFIX, advisor.public_id),
        "accompaniment_ref": ref,
        "proposal_month": month_of(accompaniment.proposal_date),
    }
    entry = accompaniment.entry_date
    if event is not Event.ORIENTATION_ACCEPTED:
        values["entry_month"] = month_of(entry) if entry else None
    if event is Event.ENTRY:
        assert entry is not None
        days = rules.days_to_entry(accompaniment.proposal_date, entry)
        values.update(month=month_of(entry), delay_days=days,
                      within_21_days=within_entry_target(days))
    elif event is Event.MIDTERM_DONE:
        done, due = accompaniment.midterm_done_on, accompaniment.midterm_due
        assert done is not None and due is not None
        already = ctx.session.scalar(select(StatFact.id).where(
            StatFact.accompaniment_ref == ref, StatFact.event == Event.MIDTERM_DONE.value))
        values.update(month=None if already else month_of(done),
                      midterm_on_time=midterm_on_time(due, done))
    elif event is Event.EXIT:
        assert accompaniment.exit_date is not None and accompaniment.exit_reason is not None
        reason = ExitReason(accompaniment.exit_reason)
        values.update(month=month_of(accompaniment.exit_date), exit_reason=reason.value,
                      positive_exit=reason.is_positive)
    return values


def rsa_beneficiary(ctx: Context, person_id: int) -> bool | None:
    """Read from the person's encrypted identity; only the boolean leaves this function."""
    person = ctx.session.get(Person, person_id)
    assert person is not None
    identity = ctx.svc.personal(ctx.session).decrypt(person.sealed_key, person.public_id,
                                                     person.identity)
    flag = (identity.get("rsa_beneficiary") or "").strip().casefold()
    return True if flag in _YES else False if flag in _NO else None


def _month_start(at: datetime) -> datetime:
    utc = at.astimezone(UTC)
    return datetime(utc.year, utc.month, 1, tzinfo=UTC)


# -- reading -------------------------------------------------------------------------------


def institution_conventions(session: Session, institution_id: int) -> list[Convention]:
    return list(session.scalars(select(Convention).where(or_(
        Convention.institution_a_id == institution_id,
        Convention.institution_b_id == institution_id)).order_by(Convention.start_date,
                                                                Convention.id)))


def _scope_clause(session: Session, scope: Scope) -> ColumnElement[bool]:
    if scope.convention is not None:
        return StatFact.convention_id == scope.convention
    if scope.institution is not None:
        # The parties of a convention are exactly the sending and receiving institutions of
        # its facts, so "the institution is a party" reads one indexed column.
        ids = [c.id for c in institution_conventions(session, scope.institution)]
        return StatFact.convention_id.in_(ids) if ids else false()
    return or_(StatFact.sender_unit_id == scope.unit, StatFact.receiving_unit_id == scope.unit)


def aggregates(session: Session, scope: Scope, period: Period, today: date,
               axis: int | None = None) -> Aggregates:
    """The same `Aggregates` as `exchange.domain.indicators.aggregate`, from four GROUP BY
    queries (docs/indicators.md says what each indicator counts).

    Each query filters on ``event`` first and groups by a prefix of the index it reads
    (`exchange.indicators.models`), so that SQLite streams the groups instead of sorting every
    row; the finer groups it returns (per convention, month, axis) are summed here."""
    where = [_scope_clause(session, scope)]
    if axis is not None:
        where.append(StatFact.axis == axis)
    in_period = StatFact.month.between(period.first, period.last)
    as_of = period.caseload_month(today)
    rows = session.connection().execute  # Core rows: no ORM bookkeeping for the groups
    head = (StatFact.event, StatFact.convention_id, StatFact.month, StatFact.axis)
    tally = Tally(period, as_of)

    parties = (StatFact.sender_institution_id, StatFact.sender_unit_id,
               StatFact.receiving_institution_id, StatFact.receiving_unit_id)
    query = select(StatFact.event, *parties, func.count()).where(
        StatFact.event.in_([e.value for e in ORIENTATION_EVENTS]), *where, in_period,
    ).group_by(*head, *parties)
    for event, s_i, s_u, r_i, r_u, n in rows(query):
        tally.orientation(event, (s_i, s_u, r_i, r_u), n)

    counted = (StatFact.decline_reason, StatFact.exit_reason, StatFact.positive_exit,
               StatFact.midterm_on_time, StatFact.delay_days, StatFact.within_21_days,
               StatFact.rsa_beneficiary)
    query = select(StatFact.event, StatFact.month, *counted, func.count()).where(
        StatFact.event.in_([Event.ORIENTATION_DECLINED.value, Event.ENTRY.value,
                            Event.RENEWAL.value, Event.MIDTERM_DONE.value, Event.EXIT.value]),
        *where, in_period,
    ).group_by(*head, *counted)
    for event, month, decline, reason, positive, on_time, days, within, rsa, n in rows(query):
        tally.event(event, month=month, decline_reason=decline, exit_reason=reason,
                    positive_exit=positive, midterm_on_time=on_time, delay_days=days,
                    within_21_days=within, rsa_beneficiary=rsa, n=n)

    # § caseload: entries up to the caseload month, minus the exits of people who had entered;
    # entries of the period per advisor come with them.
    query = select(StatFact.advisor_ref,
                   func.sum(case((StatFact.month <= as_of, 1), else_=0)),
                   func.sum(case((StatFact.month >= period.first, 1), else_=0))).where(
        StatFact.event == Event.ENTRY.value, *where, StatFact.month <= period.last,
        StatFact.advisor_ref.is_not(None),
    ).group_by(StatFact.convention_id, StatFact.advisor_ref)
    for ref, load, entered in rows(query):
        tally.advisor(ref, int(load or 0), int(entered or 0))
    query = select(StatFact.advisor_ref, func.count()).where(
        StatFact.event == Event.EXIT.value, *where, StatFact.month <= as_of,
        StatFact.entry_month.is_not(None), StatFact.advisor_ref.is_not(None),
    ).group_by(StatFact.convention_id, StatFact.advisor_ref)
    for ref, n in rows(query):
        tally.advisor(ref, -n)
    return tally.result()


def band_for(session: Session, scope: Scope) -> CaseloadBand:
    """§ caseload: a convention's own band; for an institution or a unit, the band its
    conventions share, or the platform's when they differ."""
    if scope.convention is not None:
        convention = session.get(Convention, scope.convention)
        return CaseloadBand.for_target(convention.caseload_target if convention else None)
    institution = scope.institution
    if institution is None:
        unit = session.get(Unit, scope.unit)
        institution = unit.institution_id if unit is not None else None
    targets = {c.caseload_target for c in institution_conventions(session, institution or 0)}
    return CaseloadBand.for_target(targets.pop() if len(targets) == 1 else None)


def indicators(session: Session, scope: Scope, period: Period, today: date,
               axis: int | None = None) -> Indicators:
    return compute(aggregates(session, scope, period, today, axis), band_for(session, scope),
                   axis)


@dataclass(frozen=True)
class Names:
    """Institution and unit names, for the screens and exports (never a person's)."""

    institutions: dict[int, str]
    units: dict[int, str]

    @classmethod
    def load(cls, session: Session) -> Names:
        return cls({key: name for key, name in session.execute(
                       select(Institution.id, Institution.name))},
                   {key: name for key, name in session.execute(select(Unit.id, Unit.name))})

    def institution(self, key: int) -> str:
        return self.institutions.get(key, "Institution inconnue")

    def unit(self, key: int) -> str:
        return self.units.get(key, "Structure inconnue")
