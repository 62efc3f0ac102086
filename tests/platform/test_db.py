"""The two kinds of transaction (`exchange.platform.db`): a unit of work writes and, on
SQLite, holds the one write lock from its start; a reading cannot write, reads one snapshot,
and neither waits for a writer nor makes one wait. Run on SQLite by default and on PostgreSQL
with TEST_DATABASE_URL.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from flask import Flask
from sqlalchemy import delete, select, update
from sqlalchemy.exc import DBAPIError, OperationalError

from exchange.platform.db import Database
from exchange.platform.keyrecord_models import PlatformValue
from tests import databases

NAME = "transactions-test"


@pytest.fixture
def db(app: Flask) -> Iterator[Database]:
    database = app.extensions["liaison"].db
    assert isinstance(database, Database)
    with database.unit_of_work() as s:
        s.add(PlatformValue(name=NAME, value=b"before"))
    yield database


def _value(db: Database) -> bytes:
    with db.reading() as s:
        value = s.scalar(select(PlatformValue.value).where(PlatformValue.name == NAME))
        assert value is not None
        return value


def _set(db: Database, value: bytes) -> None:
    with db.unit_of_work() as s:
        s.execute(update(PlatformValue).where(PlatformValue.name == NAME).values(value=value))


def test_a_write_in_a_reading_fails_and_nothing_is_kept(db: Database) -> None:
    with pytest.raises(DBAPIError), db.reading() as s:
        s.execute(update(PlatformValue).where(PlatformValue.name == NAME).values(value=b"x"))
    with pytest.raises(DBAPIError), db.reading() as s:
        s.add(PlatformValue(name="another", value=b"y"))
        s.flush()
    with db.reading() as s:
        assert s.scalar(select(PlatformValue.value).where(PlatformValue.name == NAME)) \
            == b"before"
        assert s.get(PlatformValue, "another") is None


def test_a_reading_changes_nothing_even_unflushed(db: Database) -> None:
    with db.reading() as s:
        row = s.get(PlatformValue, NAME)
        assert row is not None
        row.value = b"changed in memory"
    assert _value(db) == b"before"


def test_objects_a_reading_loaded_stay_readable_after_it(db: Database) -> None:
    with db.reading() as s:
        row = s.get(PlatformValue, NAME)
    assert row is not None and row.value == b"before"


def test_a_unit_of_work_after_a_reading_on_the_same_connection_writes(db: Database) -> None:
    # The pool hands the reading's connection to the next transaction: it must be a writer
    # again (on SQLite, query_only is a property of the connection).
    for round_ in range(5):
        assert _value(db) in (b"before", str(round_ - 1).encode())
        _set(db, str(round_).encode())
    assert _value(db) == b"4"


def test_a_reading_sees_one_snapshot(db: Database) -> None:
    with db.reading() as s:
        first = s.scalar(select(PlatformValue.value).where(PlatformValue.name == NAME))
        _set(db, b"committed meanwhile")
        again = s.scalar(select(PlatformValue.value).where(PlatformValue.name == NAME))
    assert first == again == b"before"
    assert _value(db) == b"committed meanwhile"


def _in_thread(work: threading.Thread, seconds: float) -> bool:
    work.start()
    work.join(seconds)
    return not work.is_alive()


def test_a_long_reading_does_not_block_a_writer(db: Database) -> None:
    done: list[bool] = []

    def writer() -> None:
        _set(db, b"written during the reading")
        done.append(True)

    with db.reading() as s:
        assert s.get(PlatformValue, NAME) is not None
        finished = _in_thread(threading.Thread(target=writer), 10)
    assert finished and done
    assert _value(db) == b"written during the reading"


def test_a_writer_does_not_block_a_reading(db: Database) -> None:
    seen: list[bytes] = []

    def reader() -> None:
        seen.append(_value(db))

    with db.unit_of_work() as s:
        s.execute(update(PlatformValue).where(PlatformValue.name == NAME)
                  .values(value=b"not yet committed"))
        finished = _in_thread(threading.Thread(target=reader), 10)
    assert finished and seen == [b"before"]


@pytest.mark.skipif(databases.on_postgres(), reason="SQLite's lock: PostgreSQL locks rows")
def test_a_unit_of_work_holds_the_write_lock_from_its_first_statement(db: Database) -> None:
    """BEGIN IMMEDIATE: a writer that has only read so far already makes another writer wait,
    so that it never has to upgrade its lock (which fails at once when the other committed)."""
    started, release = threading.Event(), threading.Event()

    def first_writer() -> None:
        with db.unit_of_work() as s:
            s.get(PlatformValue, NAME)
            started.set()
            release.wait(10)

    holder = threading.Thread(target=first_writer)
    holder.start()
    assert started.wait(10)
    waited: list[float] = []

    def second_writer() -> None:
        begun = time.monotonic()
        with db.unit_of_work() as s:
            s.execute(delete(PlatformValue).where(PlatformValue.name == "nothing"))
        waited.append(time.monotonic() - begun)

    second = threading.Thread(target=second_writer)
    second.start()
    second.join(0.5)
    blocked = second.is_alive()
    release.set()
    holder.join(10)
    second.join(10)
    assert blocked and len(waited) == 1 and waited[0] >= 0.5


@pytest.mark.skipif(databases.on_postgres(), reason="the writers' turn is SQLite's")
def test_the_threads_of_a_process_take_turns_before_asking_sqlite(db: Database) -> None:
    """A unit of work starts only when the one before it in this process has ended, so that
    at most one thread per process sleeps in SQLite's busy handler."""
    events: list[str] = []
    release = threading.Event()

    def first() -> None:
        with db.unit_of_work() as s:
            s.execute(update(PlatformValue).where(PlatformValue.name == NAME).values(value=b"1"))
            events.append("first holds the lock")
            release.wait(10)
        events.append("first ended")

    def second() -> None:
        with db.unit_of_work() as s:
            events.append("second started")
            s.execute(update(PlatformValue).where(PlatformValue.name == NAME).values(value=b"2"))

    holder = threading.Thread(target=first)
    holder.start()
    while not events:
        time.sleep(0.01)
    waiter = threading.Thread(target=second)
    waiter.start()
    waiter.join(0.5)
    assert waiter.is_alive() and events == ["first holds the lock"]
    release.set()
    holder.join(10)
    waiter.join(10)
    assert events == ["first holds the lock", "first ended", "second started"]
    assert _value(db) == b"2"


@pytest.mark.skipif(databases.on_postgres(), reason="the writers' turn is SQLite's")
def test_a_writer_that_never_gets_its_turn_fails_like_a_busy_database(
        db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    from exchange.platform import db as db_module

    monkeypatch.setattr(db_module, "BUSY_TIMEOUT_SECONDS", 0.2)
    release, started = threading.Event(), threading.Event()

    def holder() -> None:
        with db.unit_of_work():
            started.set()
            release.wait(10)

    thread = threading.Thread(target=holder)
    thread.start()
    assert started.wait(10)
    try:
        with pytest.raises(OperationalError, match="database is locked"), db.unit_of_work():
            pass
    finally:
        release.set()
        thread.join(10)
    _set(db, b"after")  # the turn was given back
    assert _value(db) == b"after"
