"""The database itself refuses to change or remove audit events and checkpoints; the only
DELETE it accepts is the purge's, within the allowance a purge checkpoint backs."""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from exchange.domain.clock import FixedClock
from tests.audit.support import activity, cli, head, services_of


@pytest.fixture
def busy(app: Flask, clock: FixedClock) -> Flask:
    activity(app, clock)
    assert cli(app, "audit", "checkpoint")[0] == 0
    return app


def refused(app: Flask, sql: str, match: str) -> None:
    with pytest.raises(DBAPIError, match=match):
        with services_of(app).db.engine.begin() as connection:
            connection.execute(text(sql))


@pytest.mark.parametrize("sql", [
    "UPDATE audit_events SET action = 'logout'",
    "UPDATE audit_events SET object_id = 'forged' WHERE seq = 3",
    "DELETE FROM audit_events",
    "DELETE FROM audit_events WHERE seq = 1",
    "DELETE FROM audit_events WHERE seq = (SELECT max(seq) FROM audit_events)",
])
def test_events_cannot_be_updated_or_deleted(busy: Flask, sql: str) -> None:
    before = head(busy)
    refused(busy, sql, "append-only")
    assert head(busy) == before


@pytest.mark.parametrize("sql", [
    "UPDATE audit_checkpoints SET seq = 1",
    "DELETE FROM audit_checkpoints",
])
def test_checkpoints_cannot_be_updated_or_deleted(busy: Flask, sql: str) -> None:
    refused(busy, sql, "append-only")


def test_the_allowance_cannot_be_opened_without_a_purge_checkpoint(busy: Flask) -> None:
    refused(busy, "UPDATE audit_prune_allowance SET upto = 5", "purge checkpoint")
    refused(busy, "DELETE FROM audit_prune_allowance", "single row|purge checkpoint")
    refused(busy, "INSERT INTO audit_prune_allowance (id, upto) VALUES (2, 100)",
            "single row|purge checkpoint")
    refused(busy, "DELETE FROM audit_events WHERE seq <= 5", "append-only")


def test_the_allowance_lets_through_only_what_it_covers(busy: Flask, clock: FixedClock) -> None:
    """What the purge does, by hand: only events up to the allowance can go."""
    from datetime import timedelta

    from exchange.audit.checkpoints import write_checkpoint
    from exchange.audit.models import AuditEvent

    svc = services_of(busy)
    with svc.db.unit_of_work() as s:
        cut_hash = s.get(AuditEvent, 4).hash
        write_checkpoint(svc, s, "prune", 4, cut_hash)
        s.execute(text("UPDATE audit_prune_allowance SET upto = 4"))
        with pytest.raises(DBAPIError, match="append-only"), s.begin_nested():
            s.execute(text("DELETE FROM audit_events WHERE seq <= 5"))
        assert s.execute(text("DELETE FROM audit_events WHERE seq <= 4")).rowcount == 4
        s.execute(text("UPDATE audit_prune_allowance SET upto = 0"))
    clock.advance(timedelta(seconds=1))
    refused(busy, "DELETE FROM audit_events WHERE seq = 5", "append-only")
    code, output = cli(busy, "audit", "verify")
    assert code == 0 and "depuis la purge au n° 4" in output, output
