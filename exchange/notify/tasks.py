"""The notification outbox's periodic job."""

from __future__ import annotations

import logging

from exchange.platform.services import Services

log = logging.getLogger("liaison.scheduler")


def deliver_notifications(svc: Services) -> None:
    from exchange.notify.outbox import Mailer, deliver_pending

    mailer = Mailer.from_settings(svc.settings)
    if not mailer.enabled:
        return
    report = deliver_pending(svc.db, mailer, svc.clock.now())
    if report.attempted:
        log.info("notifications: %s", report.describe())
