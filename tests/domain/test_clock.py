from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from exchange.domain.clock import Clock, FixedClock, SystemClock, paris_date


def test_fixed_clock_now_is_utc_and_today_is_paris_winter() -> None:
    clock: Clock = FixedClock(datetime(2024, 1, 15, 22, 59, tzinfo=UTC))
    assert clock.now() == datetime(2024, 1, 15, 22, 59, tzinfo=UTC)
    assert clock.now().utcoffset() == timedelta(0)
    assert clock.today() == date(2024, 1, 15)  # 23:59 in Paris (UTC+1)


def test_today_turns_at_paris_midnight_not_utc_midnight() -> None:
    assert FixedClock(datetime(2024, 1, 15, 23, 0, tzinfo=UTC)).today() == date(2024, 1, 16)
    # Summer time (UTC+2): 22:30 UTC is already 00:30 the next day in Paris.
    assert FixedClock(datetime(2024, 3, 31, 22, 30, tzinfo=UTC)).today() == date(2024, 4, 1)
    assert FixedClock(datetime(2024, 7, 1, 21, 59, tzinfo=UTC)).today() == date(2024, 7, 1)


def test_fixed_clock_converts_other_offsets_to_utc() -> None:
    plus_two = timezone(timedelta(hours=2))
    clock = FixedClock(datetime(2024, 7, 1, 1, 0, tzinfo=plus_two))
    assert clock.now() == datetime(2024, 6, 30, 23, 0, tzinfo=UTC)
    assert clock.now().tzinfo is UTC
    assert clock.today() == date(2024, 7, 1)


def test_fixed_clock_advance_and_set() -> None:
    clock = FixedClock(datetime(2024, 12, 31, 12, 0, tzinfo=UTC))
    clock.advance(timedelta(days=1))
    assert clock.today() == date(2025, 1, 1)
    clock.advance(timedelta(days=-2))
    assert clock.today() == date(2024, 12, 30)
    clock.set(datetime(2030, 6, 1, 8, 0, tzinfo=UTC))
    assert clock.now() == datetime(2030, 6, 1, 8, 0, tzinfo=UTC)


def test_fixed_clock_refuses_naive_datetimes() -> None:
    with pytest.raises(ValueError):
        FixedClock(datetime(2024, 1, 1, 12, 0))
    clock = FixedClock(datetime(2024, 1, 1, 12, 0, tzinfo=UTC))
    with pytest.raises(ValueError):
        clock.set(datetime(2024, 1, 1, 12, 0))
    with pytest.raises(ValueError):
        paris_date(datetime(2024, 1, 1, 12, 0))


def test_system_clock() -> None:
    clock: Clock = SystemClock()
    before = datetime.now(UTC)
    now = clock.now()
    today = clock.today()
    after = datetime.now(UTC)
    assert now.utcoffset() == timedelta(0)
    assert before <= now <= after
    assert today in {paris_date(before), paris_date(after)}
