"""The scheduler's retention job: every app instance ticks every few minutes; a tick runs the
sweep when it is due — once a day from ``LIAISON_RETENTION_HOUR`` (Paris time), or at once
when the last finished sweep is more than a day old (a missed night, a fresh start). The
sweep's own lock keeps it to one instance at a time."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from exchange.domain.clock import PARIS, paris_date
from retention.models import RetentionRun
from retention.sweep import SweepResult, SweepServices, run_sweep

DAY = timedelta(days=1)


def last_finished(session: Session) -> datetime | None:
    value = session.scalar(select(func.max(RetentionRun.started_at))
                           .where(RetentionRun.finished_at.is_not(None)))
    return value if isinstance(value, datetime) else None


def sweep_due(last: datetime | None, now: datetime, hour: int) -> bool:
    if last is None or now - last >= DAY:
        return True
    return now.astimezone(PARIS).hour >= hour and paris_date(last) < paris_date(now)


def scheduled_sweep(svc: SweepServices, now: datetime, hour: int) -> SweepResult | None:
    with svc.db.unit_of_work() as session:
        if not sweep_due(last_finished(session), now, hour):
            return None
    return run_sweep(svc, now)
