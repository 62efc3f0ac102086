"""The fast walk of the chain on SQLite (`exchange.audit.walk`) hashes exactly what the rule
(`audit.chain_hash`) hashes, vouches only for what the reference walk accepts, and, split
across worker processes, names the same first bad event as the reference walk from the start.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import apsw
import pytest
from flask import Flask
from sqlalchemy import text
from sqlalchemy.orm import Session

from exchange.audit import trail as audit
from exchange.audit import walk as audit_walk
from exchange.audit.models import AuditEvent, AuditHead
from exchange.domain.clock import FixedClock
from tests.audit.support import activity, chain_key, head, services_of, tamper

pytestmark = pytest.mark.sqlite_file  # the fast walk is SQLite's; PostgreSQL walks by reference

AT = "2026-11-23 09:00:00.000000"  # as SQLite keeps it
PLAIN = {"at": AT, "actor_user_id": "u1", "actor_unit_id": "unit1", "actor_role": "dpo",
         "action": "audit.searched", "object_type": "person", "object_id": "p1",
         "outcome": "success", "address": "127.0.0.1", "purpose": "party"}


def dbapi(session: Session) -> sqlite3.Connection:
    connection = session.connection().connection.dbapi_connection
    assert isinstance(connection, sqlite3.Connection)
    return connection


def reference(session: Session, start: tuple[int, str] = (1, audit.GENESIS),
              marks: tuple[int, ...] = ()) -> audit.Verification:
    """The walk `verify` did before the fast walk: every event, one process, `verify_rows`."""
    row = session.get(AuditHead, 1, populate_existing=True)
    assert row is not None
    return audit.verify_rows(audit.raw_rows(session, start[0], row.seq), start,
                             key=key_of(session), keyed_from=row.keyed_from,
                             end=(row.seq, row.hash), marks=marks)


def key_of(session: Session) -> bytes:
    from exchange.audit import anchor as audit_anchor

    return audit_anchor.chain_key(session)


def append(app: Flask, stored: dict[str, Any], hashed: dict[str, Any]) -> int:
    """Append an event holding `stored` (raw values, bound as they are: str as TEXT, bytes as
    BLOB) whose hash is the rule's over `hashed` instead, then an ordinary event after it.
    Returns the first one's seq."""
    seq, prev = head(app)
    statements: list[str | tuple[str, dict[str, Any]]] = []
    for number, (values, hashing) in enumerate(((stored, hashed), ({}, {})), start=seq + 1):
        row = {**PLAIN, **values}
        over = {**row, **hashing}
        digest = audit.chain_hash(prev, number, *(over[name] for name in audit.HASHED_COLUMNS[1:]),
                                  key=chain_key(app))
        statements.append((
            "INSERT INTO audit_events (seq, at, actor_user_id, actor_unit_id, actor_role, "
            "action, object_type, object_id, outcome, address, purpose, prev_hash, hash) "
            "VALUES (:seq, :at, :actor_user_id, :actor_unit_id, :actor_role, :action, "
            ":object_type, :object_id, :outcome, :address, :purpose, :prev, :hash)",
            {**row, "seq": number, "prev": prev, "hash": digest}))
        prev = digest
    statements.append(("UPDATE audit_head SET seq = :seq, hash = :hash WHERE id = 1",
                       {"seq": seq + 2, "hash": prev}))
    tamper(app, *statements)
    return seq + 1


NULLS = dict.fromkeys(("actor_user_id", "actor_unit_id", "actor_role", "object_type",
                       "object_id", "address", "purpose"))

# (stored, hashed over, does the rule accept it, does the fast walk vouch for it itself)
CASES: dict[str, tuple[dict[str, Any], dict[str, Any], bool, bool]] = {
    "every absent value": (NULLS, {}, True, True),
    "empty strings": (dict.fromkeys(NULLS, ""), {}, True, True),
    "non-ASCII": ({"object_id": "fiche-é", "address": "日本", "purpose": "😀"}, {}, True, True),
    "spaces after the time": ({"actor_role": " a b ", "object_id": "x y"}, {}, True, True),
    "a NUL byte inside": ({"object_id": "ab\x00cd"}, {}, True, True),
    "the separator inside": ({"object_id": "ab\x1fcd"}, {}, True, True),
    "NUL is how absent is hashed": ({"purpose": "\x00"}, {"purpose": None}, True, True),
    "empty is not absent": ({"purpose": ""}, {"purpose": None}, False, False),
    "absent is not empty": ({"purpose": None}, {"purpose": ""}, False, False),
    "bytes hidden after a NUL": ({"object_id": "ab\x00cd"}, {"object_id": "ab"}, False, False),
    # The rule's own reading of a time stops at a NUL byte (datetime.fromisoformat does)
    "bytes after a NUL in the time": ({"at": AT + "\x00x"}, {"at": AT}, True, False),
    "time as ISO 8601 with T": ({"at": "2026-11-23T09:00:00.000000"}, {}, True, False),
    "time with another separator": ({"at": "2026-11-23X09:00:00.000000"}, {}, True, False),
    "time with spaces elsewhere": ({"at": "2026-11-23 09:00:00 000000"}, {}, True, True),
    "time in another zone": ({"at": "2026-11-23 10:00:00.000000+01:00"}, {}, True, False),
    "time that is no time": ({"at": "2026-11-23 9h"}, {"at": AT}, False, False),
    "time as a BLOB": ({"at": AT.encode()}, {"at": AT}, False, False),
    "id as a BLOB": ({"object_id": b"p1"}, {"object_id": "p1"}, False, False),
}


@pytest.mark.parametrize("case", CASES)
def test_fast_walk_hashes_what_the_rule_hashes(app: Flask, clock: FixedClock,
                                               case: str) -> None:
    stored, hashed, accepted, vouched = CASES[case]
    activity(app, clock)
    seq = append(app, stored, hashed)
    with services_of(app).db.unit_of_work() as s:
        before = s.get(AuditEvent, seq - 1)
        assert before is not None
        fast = audit_walk.walk(dbapi(s), seq, seq + 1, before.hash, key_of(s), 1)
        expected = reference(s)
        assert expected.ok is accepted
        if not accepted:
            assert (expected.first_bad_seq, expected.reason) == (
                seq, "contenu de l'événement modifié")
        assert (fast.upto == seq + 2) is vouched
        assert audit.verify(s, workers=1) == expected
    # The workers' driver reads the same row the same way.
    database = services_of(app).db.engine.url.database
    assert database is not None
    worker = apsw.Connection(database, flags=apsw.SQLITE_OPEN_READONLY)
    try:
        assert audit_walk.walk(worker, seq, seq + 1, before.hash, chain_key(app), 1) == fast
    finally:
        worker.close()


def test_batches_stop_at_the_first_that_does_not_pass(app: Flask, clock: FixedClock) -> None:
    activity(app, clock, rounds=4)
    last = head(app)[0]
    assert last > 30
    tamper(app, "UPDATE audit_events SET object_id = 'forged' WHERE seq = 23")
    with services_of(app).db.unit_of_work() as s:
        walked = audit_walk.walk(dbapi(s), 1, last, audit.GENESIS, key_of(s), 1,
                                 marks={4, 12, 21, 27}, size=5)
        assert (walked.upto, walked.entry) == (21, audit.GENESIS)
        assert sorted(walked.seen) == [4, 12]
        assert walked.prev == s.get(AuditEvent, 20).hash  # type: ignore[union-attr]
        result = audit.verify(s, marks={4, 12, 21, 27}, workers=1)
        assert (result.first_bad_seq, result.events) == (23, 22)
        assert sorted(result.seen) == [4, 12, 21]
        assert result == reference(s)


def test_stretches_cover_the_range_once() -> None:
    assert audit_walk.stretches(1, 10, 3) == [(1, 3), (4, 6), (7, 10)]
    assert audit_walk.stretches(5, 6, 4) == [(5, 5), (6, 6)]
    assert audit_walk.stretches(7, 6, 2) == []


def test_stitching_stops_where_stretches_do_not_meet() -> None:
    a, b, c = "a" * 64, "b" * 64, "c" * 64
    whole = [audit_walk.Stretch(1, 4, a, b, {2: "x"}), audit_walk.Stretch(4, 9, b, c, {5: "y"})]
    assert audit_walk.stitch((1, a), whole) == audit_walk.Stretch(1, 9, a, c, {2: "x", 5: "y"})
    relinked = [whole[0], audit_walk.Stretch(4, 9, c, c)]
    assert audit_walk.stitch((1, a), relinked) == audit_walk.Stretch(1, 4, a, b, {2: "x"})
    cut_short = [audit_walk.Stretch(1, 3, a, b), whole[1]]
    assert audit_walk.stitch((1, a), cut_short).upto == 3
    assert audit_walk.stitch((1, b), whole).upto == 1


def _sql(*statements: str) -> Callable[[Flask, int], None]:
    """Tampering with event `seq` (and its neighbours) as :seq, :before, :forged."""
    def run(app: Flask, seq: int) -> None:
        tamper(app, *((sql, {"seq": seq, "before": seq - 1, "forged": "f" * 64})
                      for sql in statements))
    return run


def _relink(app: Flask, seq: int) -> None:
    """Chain event `seq` and every later one (and the head) afresh from a false previous
    hash: each stretch from there is consistent in itself, only the link into `seq` is not."""
    prev = "f" * 64
    statements: list[str | tuple[str, dict[str, Any]]] = []
    with services_of(app).db.unit_of_work() as s:
        last = s.get(AuditHead, 1)
        assert last is not None
        events = [row for batch in audit.raw_rows(s, seq, last.seq) for row in batch]
    key = chain_key(app)
    for row in events:
        digest = audit.chain_hash(prev, *row[:11], key=key)
        statements.append(("UPDATE audit_events SET prev_hash = :prev, hash = :hash "
                           "WHERE seq = :seq", {"prev": prev, "hash": digest, "seq": row[0]}))
        prev = digest
    statements.append(("UPDATE audit_head SET hash = :hash WHERE id = 1", {"hash": prev}))
    tamper(app, *statements)


TAMPERING: dict[str, Callable[[Flask, int], None]] = {
    "nothing": _sql(),
    "first of a stretch edited": _sql(
        "UPDATE audit_events SET object_id = 'forged' WHERE seq = :seq"),
    "last of a stretch edited": _sql(
        "UPDATE audit_events SET object_id = 'forged' WHERE seq = :before"),
    "first of a stretch deleted": _sql("DELETE FROM audit_events WHERE seq = :seq"),
    "last of a stretch deleted": _sql("DELETE FROM audit_events WHERE seq = :before"),
    "link across stretches edited": _sql(
        "UPDATE audit_events SET prev_hash = :forged WHERE seq = :seq"),
    "chain rehashed from a false link": _relink,
    "events swapped across stretches": _sql(
        "UPDATE audit_events SET seq = -1 WHERE seq = :before",
        "UPDATE audit_events SET seq = :before WHERE seq = :seq",
        "UPDATE audit_events SET seq = :seq WHERE seq = -1"),
    "log truncated at a stretch": _sql("DELETE FROM audit_events WHERE seq >= :seq"),
    "head modified": _sql("UPDATE audit_head SET hash = :forged WHERE id = 1"),
}


@pytest.mark.parametrize("how", TAMPERING)
def test_workers_name_the_event_the_reference_walk_names(app: Flask, clock: FixedClock,
                                                         how: str) -> None:
    activity(app, clock, rounds=2)
    last = head(app)[0]
    boundary = audit_walk.stretches(1, last, 3)[1][0]
    TAMPERING[how](app, boundary)
    marks = tuple(range(1, last + 1, 3))
    with services_of(app).db.unit_of_work() as s:
        expected = reference(s, marks=marks)
        assert expected.ok is (how == "nothing")
        if how != "nothing":
            assert expected.first_bad_seq in (boundary - 1, boundary, last + 1), expected
        for workers in (1, 3):
            found = audit.verify(s, marks=marks, workers=workers)
            assert found == expected
            assert found.seen == expected.seen


def test_workers_after_a_purge_start_from_its_checkpoint(app: Flask, clock: FixedClock) -> None:
    activity(app, clock, rounds=2)
    last = head(app)[0]
    with services_of(app).db.unit_of_work() as s:
        cut = s.get(AuditEvent, 10)
        assert cut is not None
        start = (11, cut.hash)
        assert audit.verify(s, start, workers=3) == reference(s, start)
        assert audit.verify(s, start, workers=3).events == last - 10
        assert not audit.verify(s, (11, "0" * 64), workers=3).ok


def test_events_the_transaction_has_not_committed_are_walked_too(app: Flask,
                                                                 clock: FixedClock) -> None:
    """Workers read the committed log; what only this transaction holds is walked in it."""
    activity(app, clock, rounds=2)
    committed = head(app)[0]
    with services_of(app).db.unit_of_work() as s:
        for _ in range(3):
            audit.record(s, "audit.searched", at=clock.now())
        found = audit.verify(s, workers=2)
        assert found.ok and found.events == committed + 3
        s.get(AuditHead, 1).hash = "d" * 64  # type: ignore[union-attr]
        s.flush()
        found = audit.verify(s, workers=2)
        assert (found.ok, found.first_bad_seq) == (False, committed + 4)


def test_events_the_transaction_has_deleted_are_missed(app: Flask, clock: FixedClock) -> None:
    """The committed log the workers read still holds the event; this transaction does not."""
    activity(app, clock, rounds=2)
    with services_of(app).db.unit_of_work() as s:
        s.execute(text("DROP TRIGGER audit_events_no_delete"))
        s.execute(text("DELETE FROM audit_events WHERE seq = 7"))
        found = audit.verify(s, workers=2)
        assert (found.ok, found.first_bad_seq) == (False, 7)
        assert found == reference(s)


def test_a_failed_worker_vouches_for_nothing(tmp_path: Path,
                                             caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="liaison.audit"):
        walked = audit_walk.walk_parallel(str(tmp_path / "absent.db"), (1, audit.GENESIS), 50,
                                          bytes(32), 1, (), 2)
    assert (walked.upto, walked.prev) == (1, audit.GENESIS)
    assert "verification worker failed" in caplog.text


def test_workers_vouch_for_an_intact_log_themselves(app: Flask, clock: FixedClock,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    """The worker processes (apsw) verify the whole range: the reference walk has nothing
    left to do, and the hashes they saw are the stored ones."""
    activity(app, clock, rounds=2)
    last, digest = head(app)
    database = services_of(app).db.engine.url.database
    assert database is not None
    marks = (2, last // 2, last)
    with caplog.at_level(logging.WARNING, logger="liaison.audit"):
        walked = audit_walk.walk_parallel(database, (1, audit.GENESIS), last, chain_key(app),
                                          1, marks, 3)
    assert "verification worker failed" not in caplog.text
    assert (walked.upto, walked.prev) == (last + 1, digest)
    with services_of(app).db.unit_of_work() as s:
        assert walked.seen == reference(s, marks=marks).seen
