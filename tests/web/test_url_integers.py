"""Integers in URLs are bounded once, for the whole URL map: a number no row can carry (beyond a
32-bit INTEGER column) is a page that does not exist (404), never a database error (500) —
SQLite refuses to bind a Python int beyond 2**63, PostgreSQL an int4 comparison with a numeric
can still be planned badly. Each rule with an ``<int:...>`` argument is visited with real objects
for its other arguments, by a user its guard lets in, so the number reaches the view."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask
from sqlalchemy import select

from exchange.domain.clock import FixedClock
from exchange.org.models import Convention, Institution
from exchange.web.converters import MAX_URL_INTEGER, BoundedInteger
from tests.fiches.support import sent, services_of, signed_in

HUGE = [str(2**31), str(2**63 - 1), str(2**63), str(2**64), str(10**30), "9" * 5000]


def _convention(app: Flask) -> str:
    with services_of(app).db.unit_of_work() as s:
        found = s.scalar(select(Convention.public_id).order_by(Convention.id).limit(1))
    assert found is not None
    return found


def _france_travail(app: Flask) -> str:
    with services_of(app).db.unit_of_work() as s:
        found = s.scalar(select(Institution.public_id).where(
            Institution.name == "France Travail Occitanie"))
    assert found is not None
    return found


# endpoint -> (who may reach it, the URL for an integer n with real objects around it)
Visit = tuple[str, Callable[[Flask, dict[str, str], object], str]]
VISITS: dict[str, Visit] = {
    "fiches.version": ("ts.montauban", lambda app, o, n: f"/fiches/{o['fiche']}/versions/{n}"),
    "fiches.version_pdf": ("ts.montauban",
                           lambda app, o, n: f"/fiches/{o['fiche']}/versions/{n}/pdf"),
    "persons.notice": ("ts.montauban", lambda app, o, n:
                       f"/personnes/{o['person']}/notice/1/{o['institution']}/{n}"),
    "dpo.download_checkpoint": ("dpo.departement",
                                lambda app, o, n: f"/dpo/points-de-controle/{n}.txt"),
    "coordinator.annual": ("cm.francetravail", lambda app, o, n:
                           f"/pilotage/conventions/{o['convention']}/bilan-annuel-{n}.pdf"),
}


def _int_rules(app: Flask) -> dict[str, list[str]]:
    return {rule.endpoint: [name for name, conv in rule._converters.items()
                            if isinstance(conv, BoundedInteger)]
            for rule in app.url_map.iter_rules()
            if any("int" in str(type(c)).lower() for c in rule._converters.values())}


def test_every_integer_argument_of_the_url_map_is_bounded(app: Flask) -> None:
    rules = _int_rules(app)
    assert set(rules) == set(VISITS), "a new <int:...> route needs its visit here"
    assert all(rules.values()), rules  # every integer converter is the bounded one
    assert MAX_URL_INTEGER == 2**31 - 1


@pytest.mark.parametrize("endpoint", sorted(VISITS))
def test_huge_integers_in_urls_are_404_not_500(app: Flask, clock: FixedClock,
                                               endpoint: str) -> None:
    prepared = sent(app)
    objects = {"fiche": prepared.fiche, "person": prepared.person,
               "institution": _france_travail(app), "convention": _convention(app)}
    username, url = VISITS[endpoint]
    user = signed_in(app, username, clock)
    for n in HUGE:
        answer = user.get(url(app, objects, n))
        assert answer.status_code == 404, (endpoint, n[:20], answer.status_code)
        assert "Page introuvable" in answer.get_data(as_text=True)
    # The largest number a row can carry reaches the view, which answers without a crash.
    assert user.get(url(app, objects, MAX_URL_INTEGER)).status_code in (303, 404)
