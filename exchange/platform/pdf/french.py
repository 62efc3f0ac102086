"""French wording helpers for the fiche PDF: long dates and file sizes as people write them."""

from __future__ import annotations

from datetime import date

MONTHS = (
    "janvier", "février", "mars", "avril", "mai", "juin",
    "juillet", "août", "septembre", "octobre", "novembre", "décembre",
)


def long_date(day: date) -> str:
    """``23 novembre 2026``; the first of the month is ``1er décembre 2026``."""
    number = "1er" if day.day == 1 else str(day.day)
    return f"{number} {MONTHS[day.month - 1]} {day.year}"


def file_size(size: int) -> str:
    """``812 octets``, ``245 Ko``, ``1,2 Mo``: decimal comma, binary multiples as the French
    interface counts them (1 Ko = 1 024 octets)."""
    if size < 0:
        raise ValueError("a file size is never negative")
    if size < 1024:
        return f"{size} octet" + ("s" if size > 1 else "")
    for unit, scale in (("Ko", 1024), ("Mo", 1024**2), ("Go", 1024**3)):
        value = size / scale
        if value < 1024 or unit == "Go":
            text = f"{value:.0f}" if value >= 100 else f"{value:.1f}".replace(".", ",")
            return f"{text.removesuffix(',0')}\u00a0{unit}"
    raise AssertionError("unreachable")
