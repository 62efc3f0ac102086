"""URL converters registered once for the whole URL map, before any blueprint adds its rules.

``<int:...>`` is bounded: every integer a URL of the portal carries (a checkpoint id, a fiche
version, an axis, a year) names a value of a SQLAlchemy ``Integer`` column, a 32-bit INTEGER on
PostgreSQL. A larger number can name nothing, and passed on it would reach the database as a
bound parameter that SQLite refuses beyond 2**63 (OverflowError, a 500) and PostgreSQL compares
as a numeric. It is refused where the URL is matched, so the answer is the plain 404.
"""

from __future__ import annotations

from flask import Flask
from werkzeug.routing import IntegerConverter, Map

MAX_URL_INTEGER = 2**31 - 1  # the largest value of a PostgreSQL INTEGER column


class BoundedInteger(IntegerConverter):
    """Werkzeug's ``int`` with at most 10 digits and ``max`` never above MAX_URL_INTEGER."""

    regex = r"\d{1,10}"  # a longer run of digits is not even matched (nor converted)

    def __init__(self, map: Map, fixed_digits: int = 0, min: int | None = None,
                 max: int | None = None, signed: bool = False) -> None:
        # The names are Werkzeug's: a rule may pass them, as in <int(max=12):month>.
        if max is None or max > MAX_URL_INTEGER:
            max = MAX_URL_INTEGER
        if signed and (min is None or min < -MAX_URL_INTEGER - 1):
            min = -MAX_URL_INTEGER - 1
        super().__init__(map, fixed_digits=fixed_digits, min=min, max=max, signed=signed)


def init_app(app: Flask) -> None:
    """Before the blueprints are registered: a rule keeps the converter class it was built
    with."""
    app.url_map.converters["int"] = BoundedInteger
