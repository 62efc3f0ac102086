"""The database: declarative base, engine with the embedded-mode pragmas, and the two kinds of
transaction: the unit of work, which writes, and the reading, which cannot.

SQLite runs in WAL mode with `secure_delete` (freed pages are zeroed). It has one write lock for
the whole file: every unit of work starts with `BEGIN IMMEDIATE` and holds that lock until it
ends, so that two writers queue on the busy timeout instead of failing when a reader tries to
upgrade its lock. A reading starts with a deferred `BEGIN`: it reads one snapshot of the file
(WAL readers never wait for the writer nor block it) and `query_only` makes any write in it
fail. Work that only reads, and the heavy part of work that writes (decrypting, checking
signatures, rendering), therefore runs in a reading, and a unit of work holds the lock only for
what it writes.

SQLite's busy handler waits for the lock by sleeping, longer and longer (up to 100 ms between
tries), so an old waiter often loses to a newcomer. The threads of one process therefore take
turns on a lock of their own before they ask for SQLite's: a unit of work that ends wakes the
next one of its process at once, and only one thread per process sleeps in the busy handler.

On PostgreSQL a unit of work is a READ COMMITTED transaction and a reading a REPEATABLE READ,
READ ONLY one: one snapshot as well, and a write in it fails.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import MetaData, create_engine, event, make_url
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

# The execution option that marks the connections of a reading (Database.reading).
READING = "liaison_reading"
# How long a writer waits for SQLite's write lock (the busy timeout), and for its turn.
BUSY_TIMEOUT_SECONDS = 30

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def _reading(connection: Any) -> bool:
    return bool(connection.get_execution_options().get(READING))


def is_reading(session: Session) -> bool:
    """Whether `session` comes from `Database.reading` (read-only, nothing to lock)."""
    return bool(session.info.get(READING))


def make_engine(url: str, **kwargs: Any) -> Engine:
    if not is_sqlite(url):
        engine = create_engine(url, pool_pre_ping=True, **kwargs)

        @event.listens_for(engine, "begin")
        def _begin_server(connection: Any) -> None:
            if _reading(connection):  # the first statement of the transaction
                connection.exec_driver_sql(
                    "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")

        return engine
    database = make_url(url).database
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_SECONDS}, **kwargs)

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # SQLAlchemy emits BEGIN itself, below
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA secure_delete=ON")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_SECONDS * 1000}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        # query_only belongs to the connection, not the transaction: every begin sets it.
        if _reading(connection):
            connection.exec_driver_sql("PRAGMA query_only=ON")
            connection.exec_driver_sql("BEGIN")
        else:
            connection.exec_driver_sql("PRAGMA query_only=OFF")
            connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


class Database:
    """The engine and its session factory, bound once by the app factory or a job."""

    def __init__(self, url: str, **kwargs: Any) -> None:
        self.url = url
        self.engine = make_engine(url, **kwargs)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        self.readers = sessionmaker(self.engine.execution_options(**{READING: True}),
                                    expire_on_commit=False, info={READING: True})
        # Reentrant: a unit of work opened inside another of the same thread waits for SQLite's
        # busy timeout, as it always did, not for itself.
        self._writer_turn = threading.RLock() if is_sqlite(url) else None

    @contextmanager
    def unit_of_work(self) -> Iterator[Session]:
        """Commit when the block ends normally; roll back when it raises. On SQLite it holds
        the database's one write lock from its first statement to its end."""
        with self._turn():
            session = self.sessions()
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise
            finally:
                session.close()

    @contextmanager
    def _turn(self) -> Iterator[None]:
        turn = self._writer_turn
        if turn is None:
            yield
            return
        if not turn.acquire(timeout=BUSY_TIMEOUT_SECONDS):
            raise OperationalError("BEGIN IMMEDIATE", None,
                                   sqlite3.OperationalError("database is locked"))
        try:
            yield
        finally:
            turn.release()

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """A read-only transaction on one snapshot, always rolled back: a write in it fails
        (SQLite: "attempt to write a readonly database"; PostgreSQL: read-only transaction).
        The objects it loaded stay readable after the block, detached (closing the session
        ends the transaction without expiring them)."""
        session = self.readers()
        try:
            yield session
        finally:
            session.close()

    def dispose(self) -> None:
        self.engine.dispose()
