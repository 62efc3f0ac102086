"""The blob store's periodic job."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from exchange.platform.services import Services

log = logging.getLogger("liaison.scheduler")


def purge_orphan_blobs(svc: Services) -> None:
    from exchange.platform.blobs import purge_orphans

    with svc.db.unit_of_work() as session:
        # Wall-clock time: the store dates blobs by their files, not by the app's clock.
        purged = purge_orphans(session, svc.blobs, datetime.now(UTC))
    if purged:
        log.info("blobs: %d orphan blob(s) removed", len(purged))
