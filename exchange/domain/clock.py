"""Time as a dependency: instants are aware UTC datetimes, calendar days are those of Paris.

Every rule that depends on "now" or "today" receives the value from a :class:`Clock`, so that
tests move a :class:`FixedClock` instead of sleeping or patching.
"""

from datetime import UTC, date, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

PARIS = ZoneInfo("Europe/Paris")


def require_aware(at: datetime, name: str = "at") -> datetime:
    """Return ``at`` converted to UTC; a naive datetime is a programming error."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime")
    return at.astimezone(UTC)


def paris_date(at: datetime) -> date:
    """The calendar day in Paris of an aware instant (what a French user calls "that day")."""
    return require_aware(at).astimezone(PARIS).date()


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, timezone-aware, in UTC."""
        ...

    def today(self) -> date:
        """The current calendar day in Europe/Paris."""
        ...


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def today(self) -> date:
        return paris_date(self.now())


class FixedClock:
    """A clock that only moves when told to (tests, ``--now`` of CLI commands)."""

    def __init__(self, at: datetime) -> None:
        self._at = require_aware(at)

    def now(self) -> datetime:
        return self._at

    def today(self) -> date:
        return paris_date(self._at)

    def advance(self, delta: timedelta) -> None:
        self._at = self._at + delta

    def set(self, at: datetime) -> None:
        self._at = require_aware(at)
