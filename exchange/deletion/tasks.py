"""The retention sweep's periodic tick."""

from __future__ import annotations

import logging

from exchange.platform.services import Services

log = logging.getLogger("liaison.scheduler")


def retention_sweep(svc: Services) -> None:
    from retention.schedule import scheduled_sweep

    result = scheduled_sweep(svc, svc.clock.now(), svc.settings.retention_hour)
    if result is not None:
        log.info("retention: %s", result.describe().splitlines()[0])
