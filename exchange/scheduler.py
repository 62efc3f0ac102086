"""Periodic jobs, in every app instance: each job takes its own database session, and jobs that
must not overlap across instances protect themselves (claims, database locks).

Jobs: deliver queued notifications (every minute); purge ended sessions and old login failures
(every hour); run the retention sweep when due (`retention.schedule`); sign a checkpoint of the
audit chain (every `audit_checkpoint_hours`, the first one at start: verification fails when
the newest is too old, `exchange.audit_checkpoints`); purge the audit events past the log
retention (every day); remove blobs no document refers to, left by a process killed mid-write
(every hour).
The audit jobs lock the chain's head, so across instances the second finds nothing to do.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
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


def retention_sweep(svc: Services) -> None:
    from retention.schedule import scheduled_sweep

    result = scheduled_sweep(svc, svc.clock.now(), svc.settings.retention_hour)
    if result is not None:
        log.info("retention: %s", result.describe().splitlines()[0])


def checkpoint_audit(svc: Services) -> None:
    from exchange.audit_checkpoints import checkpoint_if_due

    with svc.db.unit_of_work() as session:
        row = checkpoint_if_due(svc, session)
        seq = None if row is None else row.seq
    if seq is not None:
        log.info("audit: checkpoint signed at event %d", seq)


def prune_audit(svc: Services) -> None:
    from exchange.audit_prune import prune_all

    for report in prune_all(svc):
        if report.deleted or not report.ok:
            log.info("audit purge: %d events deleted up to %s (%s)", report.deleted,
                     report.cut, "ok" if report.ok else "refused")


def purge_orphan_blobs(svc: Services) -> None:
    from exchange.blobs import purge_orphans

    with svc.db.unit_of_work() as session:
        # Wall-clock time: the store dates blobs by their files, not by the app's clock.
        purged = purge_orphans(session, svc.blobs, datetime.now(UTC))
    if purged:
        log.info("blobs: %d orphan blob(s) removed", len(purged))


def start(svc: Services) -> BackgroundScheduler:
    scheduler = BackgroundScheduler(timezone="UTC", job_defaults={
        "coalesce": True, "max_instances": 1, "misfire_grace_time": 300})
    jobs: list[tuple[Any, dict[str, Any], str]] = [
        (deliver_notifications, {"seconds": 60}, "deliver-notifications"),
        (purge_sessions, {"hours": 1}, "purge-sessions"),
        (checkpoint_audit, {"hours": svc.settings.audit_checkpoint_hours,
                            "next_run_time": datetime.now(UTC)}, "checkpoint-audit"),
        (prune_audit, {"hours": 24}, "prune-audit"),
        (purge_orphan_blobs, {"hours": 1}, "purge-orphan-blobs"),
        # Ticks every 10 minutes, the first one right after start; runs the sweep when due.
        (retention_sweep, {"minutes": 10, "next_run_time": datetime.now(UTC)}, "retention-sweep"),
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
