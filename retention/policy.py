"""Retention rules: when each piece of personal data must be gone.

The conventions bind each party to destroy personal data "dès qu'elles ne sont plus
nécessaires ... et au plus tard" a period after the end of the convention: 10 years for
accompagnement global (axe 2), 2 months for accompagnement social exclusif (axe 3), per 001
art. 6-2; the CIAS convention (003 art. 5-2) sets 2 months for both.

A record's **horizon** is the last day it may exist: the earlier of (end of convention + the
axis period) and (the day it stopped being needed + the convention's grace period). The sweep
deletes it the day after: an item whose horizon is D + 2 months still exists on that day and is
gone the next. In SQL: an item is due when ``horizon < :today``; ``horizon IS NULL`` means a
legal hold (never due until lifted, when the horizon is computed again).

Pure functions of dates, no I/O; the sweep and the persistence layer store and query the result.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Literal, overload

from exchange.domain.dates import add_months
from exchange.domain.vocabulary import DEFAULT_RETENTION_MONTHS, Axis, FicheState

NOTICE_DAYS = 30


def _default_periods() -> dict[Axis, int]:
    return dict(DEFAULT_RETENTION_MONTHS)


@dataclass(frozen=True, kw_only=True)
class RetentionRule:
    """A convention's retention rule: months kept after its end per axis, and the grace in
    days kept after data stopped being needed."""

    grace_days: int
    axis_period_months: Mapping[Axis, int] = field(default_factory=_default_periods)

    def __post_init__(self) -> None:
        if self.grace_days < 0:
            raise ValueError("grace_days must not be negative")
        missing = set(Axis) - set(self.axis_period_months)
        if missing:
            raise ValueError(f"no retention period for axis {sorted(missing)}")
        if any(months < 0 for months in self.axis_period_months.values()):
            raise ValueError("retention periods must not be negative")

    def period_months(self, axis: Axis) -> int:
        return self.axis_period_months[axis]


@overload
def horizon(
    convention_end: date,
    axis: Axis,
    rule: RetentionRule,
    no_longer_needed: date | None = None,
    *,
    held: Literal[False] = False,
) -> date: ...


@overload
def horizon(
    convention_end: date,
    axis: Axis,
    rule: RetentionRule,
    no_longer_needed: date | None = None,
    *,
    held: bool,
) -> date | None: ...


def horizon(
    convention_end: date,
    axis: Axis,
    rule: RetentionRule,
    no_longer_needed: date | None = None,
    *,
    held: bool = False,
) -> date | None:
    """The last day the record may exist; None while it is under a legal hold."""
    if held:
        return None
    latest = add_months(convention_end, rule.period_months(axis))
    if no_longer_needed is None:
        return latest
    return min(latest, no_longer_needed + timedelta(days=rule.grace_days))


_DECIDED_STATES = frozenset({FicheState.DECLINED, FicheState.CANCELLED, FicheState.RECALLED})


def fiche_no_longer_needed(
    state: FicheState, decided_at: date | None, accompaniment_closed_at: date | None
) -> date | None:
    """The day a fiche (with its versions, attachments and receipts) stopped being needed.

    - declined, cancelled, recalled: the decision day (``decided_at``, required);
    - anything else (an accepted orientation, a bilan, a return): the exit day of the
      accompaniment it belongs to once closed (``accompaniment_closed_at``), otherwise None
      (still needed: in progress, awaiting a decision, or an accompaniment under way).

    A referent who marks an item as no longer needed earlier passes that day instead.
    """
    if FicheState(state) in _DECIDED_STATES:
        if decided_at is None:
            raise ValueError(f"a {state} fiche needs its decision date")
        return decided_at
    return accompaniment_closed_at


def person_horizon(record_horizons: Iterable[date | None]) -> date | None:
    """A person's identity lives as long as the longest-lived record referring to it: the
    latest horizon, None if any of them is held. A person with no record left is given no
    horizon here: the caller deletes the identity with its last record."""
    horizons = list(record_horizons)
    if not horizons:
        raise ValueError("a person's horizon needs at least one record horizon")
    if any(h is None for h in horizons):
        return None
    return max(h for h in horizons if h is not None)


def epoch_of(horizon_day: date) -> str:
    """The retention epoch (``YYYY-MM``) whose key seals data with this horizon."""
    return f"{horizon_day.year:04d}-{horizon_day.month:02d}"


def due(horizon_day: date | None, today: date) -> bool:
    """Deleted the day after the horizon: due iff ``horizon < today``; never while held."""
    return horizon_day is not None and horizon_day < today


def notice_window(horizon_day: date | None, today: date, days: int = NOTICE_DAYS) -> bool:
    """Shown to the referent pair and the DPO ahead of deletion: from ``days`` days before the
    horizon up to the horizon itself, i.e. ``today <= horizon <= today + days`` in SQL."""
    if horizon_day is None:
        return False
    return horizon_day - timedelta(days=days) <= today <= horizon_day
