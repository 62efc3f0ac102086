"""Calendar arithmetic shared by the accompaniment and retention rules."""

import calendar
from datetime import date


def add_months(start: date, months: int) -> date:
    """``start`` moved by ``months`` calendar months, the day clamped to the month's end.

    31 January + 1 month is 28 (or 29) February; 29 February 2024 + 12 months is 28 February
    2025. Negative ``months`` go back in time with the same clamping.
    """
    index = start.year * 12 + (start.month - 1) + months
    year, month_index = divmod(index, 12)
    month = month_index + 1
    day = min(start.day, calendar.monthrange(year, month)[1])
    return date(year, month, day)


def french_date(day: date) -> str:
    """``JJ/MM/AAAA``, as dates are written in the French interface."""
    return f"{day.day:02d}/{day.month:02d}/{day.year:04d}"
