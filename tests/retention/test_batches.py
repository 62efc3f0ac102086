"""The sweep deletes in batches: one transaction per batch, a savepoint per item when the
batch's writes fail, set-based queries whose number does not grow with the batch, the audit
events of a batch appended together into the same chain."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import delete, event, func, select

from exchange.audit import trail as audit
from exchange.audit.models import AuditEvent, AuditHead
from exchange.fiches.models import Accompaniment, Fiche
from exchange.indicators.models import StatFact
from retention.deletion import DueItem, batches
from tests.fiches.support import services_of
from tests.retention.support import (
    axe3_sent,
    blob_files,
    cancelled_fiches,
    closed_accompaniment,
    exists,
    left_of,
    sweep,
)

START = date(2026, 11, 23)
AT = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


class Killed(BaseException):
    """The process dies here: nothing after this line runs, no cleanup either."""


def _names(app: Flask, fiches: list[str]) -> dict[str, set[str]]:
    from exchange.platform.models import Document

    with services_of(app).db.unit_of_work() as s:
        return {pid: set(s.scalars(select(Document.blob).join(
            Fiche, Document.fiche_id == Fiche.id).where(Fiche.public_id == pid)))
            for pid in fiches}


def _deleted_events(app: Flask) -> set[str]:
    with services_of(app).db.unit_of_work() as s:
        return {str(i) for i in s.scalars(select(AuditEvent.object_id).where(
            AuditEvent.action == "retention.deleted"))}


def test_items_go_in_batches_of_one_kind_in_the_order_found() -> None:
    day = date(2027, 1, 1)
    items = ([DueItem("fiche", i, f"f{i}", day) for i in range(5)]
             + [DueItem("consent", 9, "c9", day)]
             + [DueItem("person", i, f"p{i}", day) for i in range(3)])
    got = [[(i.kind, i.row_id) for i in batch] for batch in batches(items, size=2)]
    assert got == [[("fiche", 0), ("fiche", 1)], [("fiche", 2), ("fiche", 3)], [("fiche", 4)],
                   [("consent", 9)], [("person", 0), ("person", 1)], [("person", 2)]]


def test_a_batch_of_forty_takes_no_more_statements_than_a_batch_of_five(app: Flask) -> None:
    sweep(app, START)  # the horizons of the demo data caught up once
    db = services_of(app).db
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, sql: str, *_args: Any) -> None:
        statements.append(sql)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        runs = []
        for size, day in ((5, date(2026, 12, 1)), (40, date(2026, 12, 5))):
            fiches = cancelled_fiches(app, size, day)
            statements.clear()
            result = sweep(app, day + timedelta(days=1))
            runs.append(len(statements))
            assert not result.errors, result.errors
            assert not any(exists(app, Fiche, pid) for pid in fiches)
            assert {i["kind"] for i in result.deleted} == {"fiche", "person"}
            assert len(result.deleted) == 2 * size and result.blobs == size
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    # Item by item, each of the 35 more fiches would have taken a dozen statements.
    assert runs[1] <= runs[0] + 3, runs


def test_a_write_error_on_one_item_rolls_back_that_item_alone(app: Flask) -> None:
    fiches = cancelled_fiches(app, 3, date(2026, 12, 1))
    names = _names(app, fiches)
    calls: list[str] = []

    def fail(at: str) -> None:
        if at == "fiche:rows_deleted":
            calls.append(at)
            # The batch's writes fail, then, one at a time, those of the second fiche: its
            # wraps and documents were already deleted when it failed.
            if len(calls) in (1, 3):
                raise RuntimeError("constraint failed")

    result = sweep(app, date(2026, 12, 2), fault=fail)

    assert len(calls) == 4
    assert result.errors == [{"kind": "fiche", "id": fiches[1], "error": "RuntimeError"}]
    assert exists(app, Fiche, fiches[1])
    assert left_of(app, fiches[1]) == (1, 2, 0)  # documents, wraps, doomed rows
    assert names[fiches[1]] <= blob_files(app)
    assert not exists(app, Fiche, fiches[0]) and not exists(app, Fiche, fiches[2])
    assert not (names[fiches[0]] | names[fiches[2]]) & blob_files(app)
    events = _deleted_events(app)
    assert {fiches[0], fiches[2]} <= events and fiches[1] not in events
    with services_of(app).db.unit_of_work() as s:
        assert audit.verify(s).ok

    # Its person was recomputed meanwhile: the cancellation's grace ends on 23 December.
    again = sweep(app, date(2026, 12, 24))
    assert not again.errors and not exists(app, Fiche, fiches[1])
    assert not names[fiches[1]] & blob_files(app)


def test_a_kill_in_the_middle_of_a_batch_leaves_every_item_whole(app: Flask) -> None:
    if services_of(app).db.engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL frees a dead process's advisory lock with its connection; "
                    "this in-process simulation of a death cannot close that connection")
    fiches = cancelled_fiches(app, 3, date(2026, 12, 1))
    names = _names(app, fiches)

    def die(at: str) -> None:
        if at == "fiche:audited":  # every row of the batch deleted, nothing committed
            raise Killed(at)

    with pytest.raises(Killed):
        sweep(app, date(2026, 12, 2), fault=die)
    for pid in fiches:
        assert exists(app, Fiche, pid) and left_of(app, pid) == (1, 2, 0)
        assert names[pid] <= blob_files(app)
    assert not {pid for pid in fiches} & _deleted_events(app)

    later = datetime.now(UTC) + timedelta(hours=1)  # the dead run's lock has expired
    result = sweep(app, date(2026, 12, 2), clock=lambda: later)
    assert not result.errors and not any(exists(app, Fiche, pid) for pid in fiches)
    assert not set().union(*names.values()) & blob_files(app)


def test_a_sent_orientation_without_its_statistics_facts_is_kept(app: Flask) -> None:
    built = axe3_sent(app)
    with services_of(app).db.unit_of_work() as s:
        assert s.execute(delete(StatFact)).rowcount  # type: ignore[attr-defined]

    result = sweep(app, date(2028, 3, 1))

    assert {"kind": "fiche", "id": built.fiche, "why": "statistics_missing"} in result.skipped
    assert exists(app, Fiche, built.fiche)


def test_an_accompaniment_without_its_statistics_facts_is_kept(app: Flask) -> None:
    prepared, accompaniment_pid, exit_day = closed_accompaniment(app)
    with services_of(app).db.unit_of_work() as s:
        assert s.execute(delete(StatFact).where(  # type: ignore[attr-defined]
            StatFact.accompaniment_ref.is_not(None))).rowcount

    sweep(app, exit_day)  # horizons caught up with the exit
    result = sweep(app, exit_day + timedelta(days=31))

    assert {"kind": "accompaniment", "id": accompaniment_pid,
            "why": "statistics_missing"} in result.skipped
    assert exists(app, Accompaniment, accompaniment_pid)
    assert exists(app, Fiche, prepared.fiche)


def test_events_appended_together_chain_as_if_one_by_one(app: Flask) -> None:
    db = services_of(app).db
    with db.unit_of_work() as s:
        head = s.get(AuditHead, 1)
        assert head is not None
        first = head.seq + 1
        audit.record(s, "retention.report", at=AT, object_type="report", object_id="r" * 32)
        count = audit.record_many(s, [
            audit.Entry("retention.deleted", AT, object_type="fiche", object_id=f"{i:032x}")
            for i in range(3)] + [audit.Entry("retention.skipped_hold", AT, object_type="person",
                                              object_id="p" * 32, purpose="legal_hold")])
        audit.record(s, "retention.report", at=AT, object_type="report", object_id="s" * 32)
    assert count == 4
    with db.unit_of_work() as s:
        assert audit.verify(s).ok
        rows = s.execute(select(AuditEvent.seq, AuditEvent.action, AuditEvent.prev_hash,
                                AuditEvent.hash).where(AuditEvent.seq >= first)
                         .order_by(AuditEvent.seq)).all()
    assert [r.seq for r in rows] == list(range(first, first + 6))
    assert [r.action for r in rows] == ["retention.report", *["retention.deleted"] * 3,
                                        "retention.skipped_hold", "retention.report"]
    assert all(b.prev_hash == a.hash for a, b in zip(rows, rows[1:], strict=False))


def test_a_batch_of_events_with_one_bad_entry_writes_none(app: Flask) -> None:
    db = services_of(app).db
    with db.unit_of_work() as s:
        before = s.scalar(select(func.count()).select_from(AuditEvent))
        with pytest.raises(ValueError):
            audit.record_many(s, [
                audit.Entry("retention.deleted", AT, object_type="fiche", object_id="a" * 32),
                audit.Entry("retention.deleted", AT, object_type="fiche",
                            object_id="Jean Dupont né le 2 mai")])
        assert s.scalar(select(func.count()).select_from(AuditEvent)) == before
