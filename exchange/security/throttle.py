"""Login throttling, per account and per address, counted from recent failures in the database.

Both keys are SHA-256 digests: whatever was typed in the login field never reaches a table.
Shared through the database, the counters hold across several app instances.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from exchange.models.accounts import LoginFailure


def account_key(username: str) -> str:
    return hashlib.sha256(b"account:" + username.strip().casefold().encode("utf-8")).hexdigest()


def address_key(address: str) -> str:
    return hashlib.sha256(b"address:" + address.encode("utf-8")).hexdigest()


class Throttle:
    def __init__(self, *, per_account: int, per_address: int, window: timedelta) -> None:
        self.per_account = per_account
        self.per_address = per_address
        self.window = window

    def blocked(self, session: Session, username: str, address: str, now: datetime) -> bool:
        since = now - self.window
        account = session.scalar(
            select(func.count()).where(LoginFailure.account_key == account_key(username),
                                       LoginFailure.at > since)
        ) or 0
        if account >= self.per_account:
            return True
        by_address = session.scalar(
            select(func.count()).where(LoginFailure.address_key == address_key(address),
                                       LoginFailure.at > since)
        ) or 0
        return by_address >= self.per_address

    def fail(self, session: Session, username: str, address: str, now: datetime) -> None:
        session.add(LoginFailure(account_key=account_key(username),
                                 address_key=address_key(address), at=now))

    def succeed(self, session: Session, username: str, now: datetime) -> None:
        """A full login clears the account's failures (not the address's)."""
        session.execute(delete(LoginFailure).where(
            LoginFailure.account_key == account_key(username)))

    def purge(self, session: Session, now: datetime) -> None:
        session.execute(delete(LoginFailure).where(LoginFailure.at <= now - self.window))
