"""The audit trail's periodic jobs: checkpoints and the purge past the log retention."""

from __future__ import annotations

import logging

from exchange.platform.services import Services

log = logging.getLogger("liaison.scheduler")


def checkpoint_audit(svc: Services) -> None:
    from exchange.audit.checkpoints import checkpoint_if_due

    with svc.db.unit_of_work() as session:
        row = checkpoint_if_due(svc, session)
        seq = None if row is None else row.seq
    if seq is not None:
        log.info("audit: checkpoint signed at event %d", seq)


def prune_audit(svc: Services) -> None:
    from exchange.audit.prune import prune_all

    for report in prune_all(svc):
        if report.deleted or not report.ok:
            log.info("audit purge: %d events deleted up to %s (%s)", report.deleted,
                     report.cut, "ok" if report.ok else "refused")
