"""Two app instances on one database share sessions and sign-in throttling: what one instance
knows, the other knows, because both live in the database (PostgreSQL in production; the run
of `make test-postgres` exercises exactly that)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask

from exchange.app import create_app
from exchange.domain.clock import FixedClock
from tests.conftest import login, make_settings, post_form

COOKIE = "liaison_session"


@pytest.fixture
def second_app(instance: Path, clock: FixedClock) -> Iterator[Flask]:
    app = create_app(make_settings(instance), clock=clock)
    yield app
    app.extensions["liaison"].db.dispose()


def test_a_session_opened_on_one_instance_is_valid_on_the_other(
        app: Flask, second_app: Flask, clock: FixedClock) -> None:
    first = app.test_client()
    login(first, "cft.montauban", clock)
    token = first.get_cookie(COOKIE)
    assert token is not None
    other = second_app.test_client()
    other.set_cookie(COOKIE, token.value)
    assert other.get("/").status_code == 200
    post_form(other, "/connexion/deconnexion", {}, form_page="/")
    # ...and a logout on the second ends it on the first.
    assert first.get("/").location == "/connexion/"


def test_a_login_throttled_on_one_instance_is_throttled_on_the_other(
        app: Flask, second_app: Flask) -> None:
    first = app.test_client()
    for _ in range(3):
        answer = post_form(first, "/connexion/", {"username": "ts.montauban",
                                                  "password": "not-the-password-at-all"})
        assert answer.status_code == 401
    other = second_app.test_client()
    answer = post_form(other, "/connexion/", {"username": "ts.montauban",
                                              "password": "not-the-password-at-all"})
    assert answer.status_code == 429
