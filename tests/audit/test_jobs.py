"""The scheduler's audit jobs, run as the scheduler runs them, with a clock the test moves."""

from __future__ import annotations

from datetime import timedelta

from flask import Flask
from sqlalchemy import func, select

from exchange.audit import tasks as audit_tasks
from exchange.audit.models import AuditCheckpoint
from exchange.domain.clock import FixedClock
from exchange.platform import scheduler
from tests.audit.support import activity, cli, head, seqs, services_of


def checkpoints(app: Flask) -> list[tuple[int, str]]:
    with services_of(app).db.unit_of_work() as s:
        return [(seq, kind) for seq, kind in s.execute(
            select(AuditCheckpoint.seq, AuditCheckpoint.kind).order_by(AuditCheckpoint.id))]


def test_hourly_checkpoint_only_when_the_chain_grew(app: Flask, clock: FixedClock) -> None:
    svc = services_of(app)
    audit_tasks.checkpoint_audit(svc)
    first = checkpoints(app)
    assert first == [(head(app)[0], "periodic")]
    clock.advance(timedelta(minutes=20))
    audit_tasks.checkpoint_audit(svc)
    assert checkpoints(app) == first  # idle: its own event is covered, nothing new
    activity(app, clock)
    clock.advance(timedelta(hours=1))
    audit_tasks.checkpoint_audit(svc)
    assert checkpoints(app) == [*first, (head(app)[0], "periodic")]
    with svc.db.unit_of_work() as s:
        row = s.scalars(select(AuditCheckpoint).order_by(AuditCheckpoint.id.desc())).first()
        assert row is not None and row.created_at == clock.now()
    assert cli(app, "audit", "verify")[0] == 0


def test_an_idle_chain_is_signed_again_without_growing(app: Flask, clock: FixedClock) -> None:
    """Half an interval after the newest checkpoint, the scheduler signs the unchanged head
    again, without an event: verification never finds the newest checkpoint too old."""
    svc = services_of(app)
    audit_tasks.checkpoint_audit(svc)
    seq = head(app)[0]
    for _ in range(5):
        clock.advance(timedelta(minutes=30))
        audit_tasks.checkpoint_audit(svc)
    assert head(app)[0] == seq
    assert checkpoints(app) == [(seq, "periodic")] * 6
    clock.advance(timedelta(hours=2, minutes=59))
    code, output = cli(app, "audit", "verify")
    assert code == 0 and "6 point(s) de contrôle concordant(s)" in output, output


def test_daily_purge_job_deletes_what_the_retention_passed(app: Flask,
                                                           clock: FixedClock) -> None:
    svc = services_of(app)
    activity(app, clock)
    audit_tasks.checkpoint_audit(svc)
    old = head(app)[0]
    clock.advance(timedelta(days=200))
    activity(app, clock)
    audit_tasks.prune_audit(svc)
    assert seqs(app)[0] == 1  # nothing is a year old yet
    clock.advance(timedelta(days=170))
    audit_tasks.prune_audit(svc)
    assert seqs(app)[0] == old + 1
    assert checkpoints(app)[-1] == (old, "prune")
    code, output = cli(app, "audit", "verify")
    # the periodic checkpoint sits exactly at the cut: it still matches the purge's
    assert code == 0 and "2 point(s) de contrôle concordant(s)" in output, output


def test_audit_jobs_are_scheduled(app: Flask) -> None:
    started = scheduler.start(services_of(app))
    try:
        jobs = {job.id: job.trigger.interval for job in started.get_jobs()}
    finally:
        started.shutdown(wait=True)  # the jobs that run at start finish first
    assert jobs["checkpoint-audit"] == timedelta(hours=1)
    assert jobs["prune-audit"] == timedelta(days=1)


def test_job_checkpoints_are_counted_once(app: Flask) -> None:
    svc = services_of(app)
    audit_tasks.checkpoint_audit(svc)
    audit_tasks.checkpoint_audit(svc)
    with svc.db.unit_of_work() as s:
        assert s.scalar(select(func.count()).select_from(AuditCheckpoint)) == 1
