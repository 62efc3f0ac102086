"""Password and second-factor guessing slowed down, counted from recent failures in the database.

Three counters, so that a stranger can slow an account down but never lock its owner out:

- the pair (account, address): after `free` failures, each further attempt waits a delay that
  doubles with every failure (1, 2, 4, 8 minutes... up to `max_delay`). This is what stops one
  attacker guessing one account, and it does not touch the owner signing in from elsewhere.
- the address, over every account: the same growing delay once it has failed `per_address`
  times within `window` (one machine trying many accounts: credential stuffing).
- the account, over every address: only a short fixed delay after its last failure once it has
  failed `per_account` times within `window` (many machines guessing one account). A short
  delay caps the guessing rate without locking the owner out.

An attempt refused by the throttle is not a failure: it does not lengthen the delay.

The keys are HMAC-SHA256 of what was typed in the login field and of the address, under a key
derived from the server's secret: a copy of the table without that secret does not say which
accounts or addresses failed (a plain digest of a user name is reversed with a word list).
IPv6 addresses count per /64 network, which one subscriber holds whole. Shared through the
database, the counters hold across several app instances, which share the secret.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import ColumnElement, and_, delete, func, select
from sqlalchemy.orm import Session

from exchange.accounts.models import LoginFailure
from exchange.platform.settings import Settings

_KEY_INFO = b"liaison/v1/login-throttle"
_MAX_DOUBLINGS = 16  # 2**16 minutes is far beyond any cap: the exponent stays small


def throttle_key(secret: str) -> bytes:
    """The HMAC key of the counters, derived (HKDF-SHA256) from the server's secret key."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                info=_KEY_INFO).derive(secret.encode("utf-8"))


def address_group(address: str) -> str:
    """What one client holds: an IPv4 address, or the /64 network of an IPv6 address."""
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        return str(ipaddress.IPv6Network((parsed, 64), strict=False))
    return str(parsed)


@dataclass(frozen=True)
class Limits:
    free: int = 3
    base_delay: timedelta = timedelta(minutes=1)
    max_delay: timedelta = timedelta(minutes=15)
    memory: timedelta = timedelta(hours=24)  # how long a failure of the pair counts
    per_address: int = 20
    per_account: int = 100
    account_delay: timedelta = timedelta(seconds=10)
    window: timedelta = timedelta(hours=1)  # how long a failure counts for address and account

    def growing(self, failures: int, free: int) -> timedelta:
        """The wait after the last of `failures`, when `free` of them cost nothing."""
        if failures < free:
            return timedelta(0)
        return min(self.base_delay * 2 ** min(failures - free, _MAX_DOUBLINGS), self.max_delay)


class Throttle:
    def __init__(self, key: bytes, limits: Limits | None = None) -> None:
        self._key = key
        self.limits = limits or Limits()

    @classmethod
    def from_settings(cls, settings: Settings) -> Throttle:
        return cls(throttle_key(settings.secret_key), Limits(
            free=settings.login_free_failures,
            max_delay=timedelta(minutes=settings.login_max_delay_minutes),
            memory=timedelta(hours=settings.login_memory_hours),
            per_address=settings.login_max_failures_address,
            per_account=settings.login_max_failures_account,
            account_delay=timedelta(seconds=settings.login_account_delay_seconds),
            window=timedelta(minutes=settings.login_window_minutes),
        ))

    def __repr__(self) -> str:
        return f"Throttle({self.limits!r})"

    def _mac(self, label: bytes, value: str) -> str:
        return hmac.new(self._key, label + value.encode("utf-8"), hashlib.sha256).hexdigest()

    def account_key(self, username: str) -> str:
        return self._mac(b"account:", username.strip().casefold())

    def address_key(self, address: str) -> str:
        return self._mac(b"address:", address_group(address))

    def wait(self, session: Session, username: str, address: str, now: datetime) -> timedelta:
        """How long this attempt must wait; zero when it may go ahead."""
        limits = self.limits
        account, by_address = self.account_key(username), self.address_key(address)
        waits = [timedelta(0)]
        count, last = self._failures(session, and_(LoginFailure.account_key == account,
                                                    LoginFailure.address_key == by_address),
                                     now - limits.memory)
        if last is not None:
            waits.append(last + limits.growing(count, limits.free) - now)
        count, last = self._failures(session, LoginFailure.address_key == by_address,
                                     now - limits.window)
        if last is not None:
            waits.append(last + limits.growing(count, limits.per_address) - now)
        count, last = self._failures(session, LoginFailure.account_key == account,
                                     now - limits.window)
        if last is not None and count >= limits.per_account:
            waits.append(last + limits.account_delay - now)
        return max(waits)

    @staticmethod
    def _failures(session: Session, where: ColumnElement[bool],
                  since: datetime) -> tuple[int, datetime | None]:
        count, last = session.execute(
            select(func.count(), func.max(LoginFailure.at))
            .where(where, LoginFailure.at > since)).one()
        return int(count or 0), last

    def fail(self, session: Session, username: str, address: str, now: datetime) -> None:
        session.add(LoginFailure(account_key=self.account_key(username),
                                 address_key=self.address_key(address), at=now))

    def succeed(self, session: Session, username: str, address: str) -> None:
        """A full sign-in clears the failures of the account *from this address* only: the
        owner signing in does not give a stranger elsewhere a fresh set of free attempts."""
        session.execute(delete(LoginFailure).where(
            LoginFailure.account_key == self.account_key(username),
            LoginFailure.address_key == self.address_key(address)))

    def purge(self, session: Session, now: datetime) -> None:
        kept = max(self.limits.memory, self.limits.window)
        session.execute(delete(LoginFailure).where(LoginFailure.at <= now - kept))
