"""One sweep at a time across processes and app instances sharing a database.

- SQLite (embedded mode): the row of ``retention_state`` is claimed with
  ``UPDATE ... WHERE lock_holder IS NULL OR lock_expires_at < :now`` in its own short
  transaction (``BEGIN IMMEDIATE`` serialises the claimants); the claim expires, so a process
  killed while holding it delays the next sweep by at most the time to live, and the holder
  renews it as it goes.
- PostgreSQL: a session-level ``pg_try_advisory_lock`` on a connection kept open for the whole
  sweep; the server releases it if the process dies.

The expiry is measured on the wall clock, never on the sweep's (possibly moved) clock.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol

from sqlalchemy import Connection, text, update

from exchange.platform.db import Database
from retention.models import RetentionState

ADVISORY_KEY = int.from_bytes(hashlib.sha256(b"liaison/retention/sweep").digest()[:8], "big",
                              signed=True)
DEFAULT_TTL = timedelta(minutes=15)


def wall_clock() -> datetime:
    return datetime.now(UTC)


class SweepLock(Protocol):
    holder: str

    def acquire(self) -> bool: ...

    def renew(self) -> None: ...

    def release(self) -> None: ...


class RowLock:
    """The ``retention_state`` row as a lock with an expiry."""

    def __init__(self, db: Database, *, ttl: timedelta = DEFAULT_TTL,
                 now: Callable[[], datetime] = wall_clock, holder: str | None = None) -> None:
        self.db = db
        self.ttl = ttl
        self.now = now
        self.holder = holder or secrets.token_hex(8)

    def acquire(self) -> bool:
        at = self.now()
        with self.db.unit_of_work() as session:
            claimed = session.execute(
                update(RetentionState)
                .where(RetentionState.id == 1,
                       (RetentionState.lock_holder.is_(None))
                       | (RetentionState.lock_expires_at < at)
                       | (RetentionState.lock_holder == self.holder))
                .values(lock_holder=self.holder, lock_expires_at=at + self.ttl)
                .execution_options(synchronize_session=False))
            return bool(claimed.rowcount == 1)  # type: ignore[attr-defined]

    def renew(self) -> None:
        with self.db.unit_of_work() as session:
            session.execute(update(RetentionState)
                            .where(RetentionState.id == 1,
                                   RetentionState.lock_holder == self.holder)
                            .values(lock_expires_at=self.now() + self.ttl)
                            .execution_options(synchronize_session=False))

    def release(self) -> None:
        with self.db.unit_of_work() as session:
            session.execute(update(RetentionState)
                            .where(RetentionState.id == 1,
                                   RetentionState.lock_holder == self.holder)
                            .values(lock_holder=None, lock_expires_at=None)
                            .execution_options(synchronize_session=False))


class AdvisoryLock:
    """PostgreSQL: a session advisory lock held by one dedicated connection."""

    def __init__(self, db: Database, holder: str | None = None) -> None:
        self.db = db
        self.holder = holder or secrets.token_hex(8)
        self._connection: Connection | None = None

    def acquire(self) -> bool:
        connection = self.db.engine.connect()
        got = bool(connection.execute(text("SELECT pg_try_advisory_lock(:key)"),
                                      {"key": ADVISORY_KEY}).scalar())
        connection.commit()
        if not got:
            connection.close()
            return False
        self._connection = connection
        return True

    def renew(self) -> None:
        """Nothing to renew: the lock lives as long as its connection."""

    def release(self) -> None:
        if self._connection is None:
            return
        try:
            self._connection.execute(text("SELECT pg_advisory_unlock(:key)"),
                                     {"key": ADVISORY_KEY})
            self._connection.commit()
        finally:
            self._connection.close()
            self._connection = None


def lock_for(db: Database, *, ttl: timedelta = DEFAULT_TTL,
             now: Callable[[], datetime] = wall_clock) -> SweepLock:
    if db.engine.dialect.name == "postgresql":
        return AdvisoryLock(db)
    return RowLock(db, ttl=ttl, now=now)
