"""Periodic jobs, in every app instance: the jobs every feature declares (`Feature.jobs`).
Each job takes its own database session, and jobs that must not overlap across instances
protect themselves (claims, database locks); `flask jobs run NAME` runs one by hand.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler

from exchange.platform import features
from exchange.platform.services import Services

log = logging.getLogger("liaison.scheduler")


def start(svc: Services) -> BackgroundScheduler:
    scheduler = BackgroundScheduler(timezone="UTC", job_defaults={
        "coalesce": True, "max_instances": 1, "misfire_grace_time": 300})
    for job in features.jobs():
        start_at = {"next_run_time": datetime.now(UTC)} if job.start_at_once else {}
        scheduler.add_job(_guarded(features.job_function(job), svc, job.name), "interval",
                          id=job.name, seconds=job.interval(svc.settings), **start_at)
    scheduler.start()
    return scheduler


def _guarded(function: Any, svc: Services, name: str) -> Any:
    def run() -> None:
        try:
            function(svc)
        except Exception as exc:  # a failed run is retried at the next tick
            log.error("job %s failed: %s", name, type(exc).__name__)

    return run
