"""The purge of events past the log retention: a signed checkpoint at the cut, what remains
still verifies, checkpoints exported before it keep their meaning."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from exchange.audit.checkpoints import purge_base
from exchange.audit.models import AuditEvent, AuditPruneAllowance
from exchange.audit.prune import prune, purge_cut
from exchange.domain.clock import FixedClock
from tests.audit.support import activity, cli, head, seqs, services_of, tamper

RETENTION = timedelta(days=365)


@pytest.fixture
def aged(app: Flask, clock: FixedClock, tmp_path: Path) -> tuple[int, Path, Path]:
    """Old activity with a checkpoint exported in its middle, then, a year later, recent
    activity with another exported checkpoint. Gives (last old event, old file, new file)."""
    activity(app, clock)
    old_file = tmp_path / "old.txt"
    assert cli(app, "audit", "checkpoint", "--out", str(old_file))[0] == 0
    activity(app, clock)
    last_old = head(app)[0]
    clock.advance(RETENTION + timedelta(days=2))
    activity(app, clock)
    new_file = tmp_path / "new.txt"
    assert cli(app, "audit", "checkpoint", "--out", str(new_file))[0] == 0
    return last_old, old_file, new_file


def test_purge_deletes_the_old_prefix_and_leaves_a_verifiable_chain(
        app: Flask, aged: tuple[int, Path, Path]) -> None:
    last_old, _, _ = aged
    code, output = cli(app, "audit", "prune")
    assert code == 0 and f"{last_old} événement(s) purgé(s)" in output, output
    remaining = seqs(app)
    assert remaining[0] == last_old + 1
    svc = services_of(app)
    with svc.db.unit_of_work() as s:
        base = purge_base(s)
        assert base is not None and (base.seq, base.kind) == (last_old, "prune")
        assert s.get(AuditPruneAllowance, 1).upto == 0
        pruned = s.scalars(select(AuditEvent).where(AuditEvent.action == "audit.pruned")).one()
        assert (pruned.object_id, pruned.outcome) == (str(last_old), "success")
    code, output = cli(app, "audit", "verify")
    assert code == 0, output
    assert f"depuis la purge au n° {last_old}" in output
    assert "1 antérieur(s) à la purge" in output


def test_checkpoints_exported_before_the_purge_keep_their_meaning(
        app: Flask, aged: tuple[int, Path, Path]) -> None:
    _, old_file, new_file = aged
    assert cli(app, "audit", "prune")[0] == 0
    code, output = cli(app, "audit", "verify", "--checkpoint", str(old_file))
    assert code == 0, output
    assert "antérieur à la purge" in output
    code, output = cli(app, "audit", "verify", "--checkpoint", str(new_file))
    assert code == 0 and "concordant" in output, output


def test_an_ad_hoc_delete_still_fails_after_a_purge(app: Flask,
                                                    aged: tuple[int, Path, Path]) -> None:
    last_old, _, _ = aged
    assert cli(app, "audit", "prune")[0] == 0
    for sql in ("DELETE FROM audit_events WHERE seq = :first",
                "DELETE FROM audit_events", "UPDATE audit_events SET purpose = NULL"):
        with pytest.raises(DBAPIError, match="append-only"):
            with services_of(app).db.engine.begin() as connection:
                connection.execute(text(sql), {"first": last_old + 1})


def test_deleting_the_first_event_after_the_cut_is_named(app: Flask,
                                                         aged: tuple[int, Path, Path]) -> None:
    last_old, _, new_file = aged
    assert cli(app, "audit", "prune")[0] == 0
    tamper(app, ("DELETE FROM audit_events WHERE seq = :seq", {"seq": last_old + 1}))
    for args in (("audit", "verify"), ("audit", "verify", "--checkpoint", str(new_file))):
        code, output = cli(app, *args)
        assert code == 2 and f"l'événement n° {last_old + 1} " in output, output


def test_a_second_purge_finds_nothing(app: Flask, aged: tuple[int, Path, Path]) -> None:
    assert cli(app, "audit", "prune")[0] == 0
    before = seqs(app)
    code, output = cli(app, "audit", "prune")
    assert code == 0 and "Aucun événement" in output
    assert seqs(app) == before


def test_dry_run_deletes_nothing(app: Flask, aged: tuple[int, Path, Path]) -> None:
    last_old, _, _ = aged
    before = seqs(app)
    code, output = cli(app, "audit", "prune", "--dry-run")
    assert code == 0 and f"{last_old} événement(s) à purger" in output, output
    assert seqs(app) == before


def test_a_tampered_past_is_not_laundered_by_the_purge(app: Flask,
                                                       aged: tuple[int, Path, Path]) -> None:
    tamper(app, "UPDATE audit_events SET object_id = 'forged' WHERE seq = 3")
    before = seqs(app)
    code, output = cli(app, "audit", "prune")
    assert code == 2 and "Purge refusée" in output and "n° 3" in output, output
    assert seqs(app)[:len(before)] == before
    with services_of(app).db.unit_of_work() as s:
        refused = s.scalars(select(AuditEvent).where(AuditEvent.action == "audit.pruned")).one()
        assert refused.outcome == "failure"


def test_the_cut_stops_at_the_first_recent_event(app: Flask, clock: FixedClock) -> None:
    """Times are not always in sequence order (clocks of several instances): the purge cuts
    a prefix and never deletes past an event still within the retention period."""
    activity(app, clock)
    svc = services_of(app)
    with svc.db.unit_of_work() as s:
        rows = s.execute(select(AuditEvent.seq, AuditEvent.at).order_by(AuditEvent.seq)).all()
    middle = rows[len(rows) // 2]
    base, cut = 0, None
    with svc.db.unit_of_work() as s:
        base, cut = purge_cut(s, middle.at + timedelta(microseconds=1))
    assert (base, cut) == (0, max(seq for seq, at in rows if at <= middle.at))
    with svc.db.unit_of_work() as s:
        assert purge_cut(s, rows[0].at) == (0, None)
        assert purge_cut(s, rows[-1].at + timedelta(days=1), limit=5) == (0, 5)


def test_a_purge_runs_in_batches(app: Flask, aged: tuple[int, Path, Path]) -> None:
    last_old, _, _ = aged
    svc = services_of(app)
    with svc.db.unit_of_work() as s:
        report = prune(svc, s, limit=5)
    assert (report.base, report.cut, report.deleted) == (0, 5, 5)
    code, output = cli(app, "audit", "prune")
    assert code == 0 and f"du n° 6 au n° {last_old}" in output, output
    code, output = cli(app, "audit", "verify")
    assert code == 0 and f"depuis la purge au n° {last_old}" in output, output
