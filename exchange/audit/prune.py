"""Purge of the audit events older than the log retention (`settings.audit_retention_days`,
365 by default after the CNIL's guidance on access logs), leaving a signed checkpoint at the
cut so that what remains still verifies.

The purge deletes a prefix of the chain: the events after the previous cut, in sequence
order, up to the last one before the first event still within the retention period. In one
transaction, holding the head lock, it:

1. verifies the events it is about to delete and the checkpoints they carry (a purge must not
   launder a rewritten past under a fresh signature); if they do not verify it deletes
   nothing and records an "audit.pruned" failure the DPO sees;
2. records its "audit.pruned" event, then signs a "prune" checkpoint of (cut, hash of the
   event at the cut);
3. opens the database's purge allowance up to the cut (the triggers refuse any DELETE beyond
   it, and refuse an allowance beyond the last purge checkpoint), deletes, closes it again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from exchange.audit import trail as audit
from exchange.audit.checkpoints import (
    lock_head,
    purge_base,
    verify_chain_and_checkpoints,
    write_checkpoint,
)
from exchange.audit.models import AuditEvent, AuditPruneAllowance
from exchange.platform.services import Services

log = logging.getLogger("liaison.audit")

BATCH = 50_000
"""At most this many events per purge transaction; the job repeats until nothing is left."""


@dataclass(frozen=True)
class PruneReport:
    base: int
    cut: int | None = None
    deleted: int = 0
    ok: bool = True
    reason: str = ""

    @property
    def pending(self) -> int:
        return 0 if self.cut is None else self.cut - self.base

    def describe(self) -> str:
        if not self.ok:
            return f"Purge refusée : {self.reason}"
        if self.cut is None:
            return "Aucun événement n'a dépassé la durée de conservation du journal."
        if not self.deleted:
            return (f"{self.pending} événement(s) à purger, du n° {self.base + 1} au "
                    f"n° {self.cut} (simulation : rien n'a été supprimé).")
        return (f"{self.deleted} événement(s) purgé(s), du n° {self.base + 1} au n° {self.cut} ; "
                "point de contrôle de purge signé.")


def horizon(svc: Services) -> datetime:
    return svc.clock.now() - timedelta(days=svc.settings.audit_retention_days)


def purge_cut(session: Session, before: datetime, limit: int = BATCH) -> tuple[int, int | None]:
    """(base, cut): the events base+1..cut are all older than `before`, and cut is as far as
    that holds (at most `limit` events); cut is None when there is nothing to purge. Walks
    from the previous cut in sequence order, so it reads only what it will delete."""
    base_row = purge_base(session)
    base = 0 if base_row is None else base_row.seq
    cut = base
    while cut - base < limit:
        rows = session.execute(
            select(AuditEvent.seq, AuditEvent.at).where(AuditEvent.seq > cut)
            .order_by(AuditEvent.seq).limit(min(1000, limit - (cut - base)))
        ).all()
        for seq, at in rows:
            if at >= before or seq != cut + 1:
                return base, (cut if cut > base else None)
            cut = seq
        if not rows:
            break
    return base, (cut if cut > base else None)


def prune(svc: Services, session: Session, *, dry_run: bool = False,
          limit: int = BATCH) -> PruneReport:
    """Purge one batch (module docstring), in the caller's transaction."""
    lock_head(session)
    base, cut = purge_cut(session, horizon(svc), limit)
    if cut is None or dry_run:
        return PruneReport(base, cut)
    now = svc.clock.now()
    check = verify_chain_and_checkpoints(session, svc.keystore(session), stop=cut)
    if not check.ok:
        audit.record(session, "audit.pruned", at=now, outcome="failure",
                     object_type="audit_chain", object_id=str(cut))
        log.error("audit purge refused: the events to purge do not verify (first at %s)",
                  check.first_bad_seq)
        return PruneReport(base, cut, ok=False, reason=check.describe())
    cut_hash = session.scalar(select(AuditEvent.hash).where(AuditEvent.seq == cut))
    assert cut_hash is not None  # verified above
    audit.record(session, "audit.pruned", at=now, object_type="audit_chain",
                 object_id=str(cut))
    write_checkpoint(svc, session, "prune", cut, cut_hash)
    _allow(session, cut)
    deleted = session.execute(
        delete(AuditEvent).where(AuditEvent.seq > base, AuditEvent.seq <= cut)
        .execution_options(synchronize_session=False)
    ).rowcount
    _allow(session, 0)
    session.flush()
    log.info("audit purge: events %d to %d deleted", base + 1, cut)
    return PruneReport(base, cut, deleted)


def _allow(session: Session, upto: int) -> None:
    opened = session.execute(
        update(AuditPruneAllowance).where(AuditPruneAllowance.id == 1).values(upto=upto)
    ).rowcount
    if opened != 1:
        raise RuntimeError("the audit purge allowance row is missing: run the migrations")


def prune_all(svc: Services) -> list[PruneReport]:
    """The scheduled job's work: purge batch after batch, each in its own transaction, until
    nothing is left or a batch is refused."""
    reports = []
    while True:
        with svc.db.unit_of_work() as session:
            report = prune(svc, session)
        reports.append(report)
        if report.cut is None or not report.ok or not report.deleted:
            return reports
