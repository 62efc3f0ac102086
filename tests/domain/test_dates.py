import calendar
from datetime import date, timedelta

import pytest

from exchange.domain.dates import add_months, french_date


@pytest.mark.parametrize(
    ("start", "months", "expected"),
    [
        (date(2023, 1, 31), 1, date(2023, 2, 28)),
        (date(2024, 1, 31), 1, date(2024, 2, 29)),
        (date(2024, 1, 30), 1, date(2024, 2, 29)),
        (date(2024, 3, 31), 1, date(2024, 4, 30)),
        (date(2024, 2, 29), 12, date(2025, 2, 28)),
        (date(2024, 2, 29), 48, date(2028, 2, 29)),
        (date(2024, 2, 29), 120, date(2034, 2, 28)),
        (date(2023, 8, 31), 6, date(2024, 2, 29)),
        (date(2024, 8, 31), 6, date(2025, 2, 28)),
        (date(2024, 12, 31), 2, date(2025, 2, 28)),
        (date(2023, 12, 31), 2, date(2024, 2, 29)),
        (date(2024, 11, 15), 2, date(2025, 1, 15)),
        (date(2024, 12, 1), 1, date(2025, 1, 1)),
        (date(2024, 5, 17), 0, date(2024, 5, 17)),
        (date(2024, 3, 31), -1, date(2024, 2, 29)),
        (date(2024, 1, 15), -1, date(2023, 12, 15)),
        (date(2025, 2, 28), -12, date(2024, 2, 28)),
    ],
)
def test_add_months_clamps_to_month_end(start: date, months: int, expected: date) -> None:
    assert add_months(start, months) == expected


def test_add_months_every_day_of_three_years() -> None:
    day = date(2023, 1, 1)
    while day <= date(2025, 12, 31):
        for months in range(-25, 131, 7):
            result = add_months(day, months)
            moved = (result.year * 12 + result.month) - (day.year * 12 + day.month)
            assert moved == months
            last = calendar.monthrange(result.year, result.month)[1]
            assert result.day == min(day.day, last)
        day += timedelta(days=1)


def test_add_months_out_of_range_raises() -> None:
    with pytest.raises(ValueError):
        add_months(date(9999, 12, 1), 1)


def test_french_date() -> None:
    assert french_date(date(2025, 3, 1)) == "01/03/2025"
