"""Accounts' periodic job: ended sessions and old login failures."""

from __future__ import annotations

import logging
from datetime import timedelta

from exchange.platform.services import Services

log = logging.getLogger("liaison.scheduler")


def purge_sessions(svc: Services) -> None:
    from exchange.accounts.sessions import purge_ended

    now = svc.clock.now()
    with svc.db.unit_of_work() as session:
        idle = timedelta(minutes=svc.settings.session_idle_minutes)
        removed = purge_ended(session, now, idle=idle)
        svc.throttle.purge(session, now)
    if removed:
        log.info("sessions: %d ended sessions removed", removed)
