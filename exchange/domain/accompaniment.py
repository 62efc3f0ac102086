"""The accompaniment that an accepted orientation starts: its dates, renewal, exit, caseload.

Figures from the conventions: entry at most 21 days after the proposal (001 art. 2.2); an
initial period of 12 months, renewable once for 6 months (003 art. 2.1 and 2.2); a mid-term
review at 6 months (001 art. 2.2, axe 3); an advisor's active caseload of 70 people per full
time post (001 art. 2.3, 003 art. 3), 70 to 100 in the Ille-et-Vilaine convention (004), and at
least 100 new entries a year (001 art. 2.3).

Months are calendar months, clamped to the end of the month (31 August + 6 months is 28 or 29
February). A person counts in the active caseload from the entry day included to the exit day
excluded.
"""

from dataclasses import dataclass
from datetime import date, timedelta

from exchange.domain.dates import add_months, french_date
from exchange.domain.errors import TransitionRefused, ValidationFailed
from exchange.domain.fields import REQUIRED, day_error, parse_choice, reason_errors
from exchange.domain.vocabulary import ExitReason

INITIAL_MONTHS = 12
RENEWAL_MONTHS = 6
MAX_RENEWALS = 1
MIDTERM_MONTHS = 6
ENTRY_TARGET_DAYS = 21
CASELOAD_TARGET = 70
CASELOAD_RANGE = (70, 100)
ANNUAL_ENTRIES_TARGET = 100


def planned_end(entry: date, *, renewed: bool = False) -> date:
    """Entry + 12 months, + 6 more once renewed."""
    return add_months(entry, INITIAL_MONTHS + (RENEWAL_MONTHS if renewed else 0))


def renew(*, entry: date | None, renewed: bool, exit_date: date | None, today: date) -> date:
    """The new planned end after the one renewal; raises TransitionRefused (code
    ``renewal_refused``) if not entered yet, already renewed, closed, or past its end."""
    if entry is None:
        raise TransitionRefused(
            "L'accompagnement n'a pas encore commencé : il ne peut pas être renouvelé.",
            code="renewal_refused",
        )
    if renewed:
        raise TransitionRefused(
            "L'accompagnement a déjà été renouvelé une fois : ce renouvellement de 6 mois "
            "n'est pas renouvelable.",
            code="renewal_refused",
        )
    if exit_date is not None:
        raise TransitionRefused(
            "L'accompagnement est clos : il ne peut pas être renouvelé.",
            code="renewal_refused",
        )
    end = planned_end(entry)
    if today > end:
        raise TransitionRefused(
            f"L'accompagnement a pris fin le {french_date(end)} : il ne peut plus être "
            "renouvelé. Le renouvellement se décide avant cette date.",
            code="renewal_refused",
        )
    return planned_end(entry, renewed=True)


def midterm_due(entry: date) -> date:
    """The day the mid-term review is due: entry + 6 months."""
    return add_months(entry, MIDTERM_MONTHS)


def entry_deadline(proposal: date) -> date:
    """The last day on which the entry meets the 21-day target."""
    return proposal + timedelta(days=ENTRY_TARGET_DAYS)


def entry_overdue(proposal: date, entry: date | None, today: date) -> bool:
    """The alert: no entry yet and the 21 days after the proposal have passed."""
    return entry is None and today > entry_deadline(proposal)


def days_to_entry(proposal: date, entry: date) -> int:
    """Days from proposal to entry (the "délai d'entrée" indicator)."""
    if entry < proposal:
        raise ValueError("entry precedes proposal")
    return (entry - proposal).days


def entered_within_target(proposal: date, entry: date) -> bool:
    return days_to_entry(proposal, entry) <= ENTRY_TARGET_DAYS


def record_entry(*, proposal: date, entry: date | None, today: date) -> date:
    """The entry date, checked: not before the proposal, not in the future.
    Raises ValidationFailed on field ``entry_date``."""
    if entry is None:
        raise ValidationFailed({"entry_date": REQUIRED})
    message = day_error(entry, today=today, not_before=proposal)
    if message is not None:
        raise ValidationFailed({"entry_date": message})
    return entry


@dataclass(frozen=True)
class Closure:
    exit_date: date
    reason: ExitReason
    text: str


def close(
    *,
    proposal: date,
    entry: date | None,
    exit_date: date | None,
    reason: ExitReason | str | None,
    text: str,
    today: date,
) -> Closure:
    """The exit, checked: a date not in the future and not before the entry (or the proposal
    if the person never entered), a reason from ``ExitReason`` (``other`` needs text).
    Raises ValidationFailed on fields ``exit_date``, ``exit_reason``, ``exit_text``."""
    errors = reason_errors(
        ExitReason, reason, text, reason_field="exit_reason", text_field="exit_text"
    )
    if exit_date is None:
        errors["exit_date"] = REQUIRED
    else:
        message = day_error(
            exit_date, today=today, not_before=entry if entry is not None else proposal
        )
        if message is not None:
            errors["exit_date"] = message
    chosen = parse_choice(ExitReason, reason)
    if errors or exit_date is None or chosen is None:
        raise ValidationFailed(errors)
    return Closure(exit_date=exit_date, reason=chosen, text=text.strip())


def is_active(entry: date | None, exit_date: date | None, today: date) -> bool:
    """In the active caseload on ``today``: entered, and not exited (the exit day excluded)."""
    if entry is None or entry > today:
        return False
    return exit_date is None or exit_date > today
