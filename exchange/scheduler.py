"""Periodic jobs, in every app instance: each job takes its own database session, and jobs that
must not overlap across instances protect themselves (claims, database locks).

Jobs: deliver queued notifications (every minute); purge ended sessions and old login failures
(every hour).
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler

from exchange.services import Services

log = logging.getLogger("liaison.scheduler")


def deliver_notifications(svc: Services) -> None:
    from exchange.notify import Mailer, deliver_pending

    mailer = Mailer.from_settings(svc.settings)
    if not mailer.enabled:
        return
    report = deliver_pending(svc.db, mailer, svc.clock.now())
    if report.attempted:
        log.info("notifications: %s", report.describe())


def purge_sessions(svc: Services) -> None:
    from exchange.security.sessions import purge_ended

    now = svc.clock.now()
    with svc.db.unit_of_work() as session:
        idle = timedelta(minutes=svc.settings.session_idle_minutes)
        removed = purge_ended(session, now, idle=idle)
        svc.throttle.purge(session, now)
    if removed:
        log.info("sessions: %d ended sessions removed", removed)


def start(svc: Services) -> BackgroundScheduler:
    scheduler = BackgroundScheduler(timezone="UTC", job_defaults={
        "coalesce": True, "max_instances": 1, "misfire_grace_time": 300})
    jobs: list[tuple[Any, dict[str, Any], str]] = [
        (deliver_notifications, {"seconds": 60}, "deliver-notifications"),
        (purge_sessions, {"hours": 1}, "purge-sessions"),
    ]
    for function, interval, name in jobs:
        scheduler.add_job(_guarded(function, svc, name), "interval", id=name, **interval)
    scheduler.start()
    return scheduler


def _guarded(function: Any, svc: Services, name: str) -> Any:
    def run() -> None:
        try:
            function(svc)
        except Exception as exc:  # a failed run is retried at the next tick
            log.error("job %s failed: %s", name, type(exc).__name__)

    return run
