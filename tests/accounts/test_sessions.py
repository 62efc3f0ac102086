"""Server-side sessions: new id at sign-in, revoked at logout and password change, idle timeout
and absolute lifetime, cookie flags."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from exchange.accounts.models import WebSession
from exchange.demo.seed import DEMO_PASSWORD
from exchange.domain.clock import FixedClock
from tests.conftest import login, post_form

COOKIE = "liaison_session"


def _cookie(client: FlaskClient) -> str:
    cookie = client.get_cookie(COOKIE)
    assert cookie is not None
    return cookie.value


def _replay(app: Flask, token: str) -> FlaskClient:
    """Another browser presenting a copied cookie."""
    thief = app.test_client()
    thief.set_cookie(COOKIE, token)
    return thief


def test_session_gets_a_new_id_at_sign_in(client: FlaskClient, clock: FixedClock,
                                          app: Flask) -> None:
    client.get("/connexion/")
    before = _cookie(client)
    login(client, "ts.montauban", clock)
    after = _cookie(client)
    assert after != before
    assert _replay(app, before).get("/").location == "/connexion/"


def test_session_does_not_survive_logout(client: FlaskClient, clock: FixedClock,
                                         app: Flask) -> None:
    login(client, "ts.montauban", clock)
    token = _cookie(client)
    assert _replay(app, token).get("/").status_code == 200
    post_form(client, "/connexion/deconnexion", {}, form_page="/")
    assert client.get("/").location == "/connexion/"
    assert _replay(app, token).get("/").location == "/connexion/"


def test_password_change_ends_every_session_of_the_account(clock: FixedClock, app: Flask) -> None:
    office, phone = app.test_client(), app.test_client()
    login(office, "ts.montauban", clock)
    login(phone, "ts.montauban", clock)
    assert phone.get("/").status_code == 200
    changed = post_form(office, "/connexion/mot-de-passe", {
        "current": DEMO_PASSWORD, "new": "une toute nouvelle phrase",
        "confirm": "une toute nouvelle phrase"})
    assert changed.location == "/connexion/"
    assert phone.get("/").location == "/connexion/"
    assert office.get("/").location == "/connexion/"


def test_idle_session_expires_after_thirty_minutes(client: FlaskClient, clock: FixedClock) -> None:
    login(client, "ts.montauban", clock)
    clock.advance(timedelta(minutes=29))
    assert client.get("/").status_code == 200
    clock.advance(timedelta(minutes=30, seconds=1))
    assert client.get("/").location == "/connexion/"


def test_active_session_ends_after_twelve_hours(client: FlaskClient, clock: FixedClock) -> None:
    login(client, "ts.montauban", clock)
    for _ in range(12 * 3 - 1):
        clock.advance(timedelta(minutes=20))
        assert client.get("/").status_code == 200
    clock.advance(timedelta(minutes=25))
    assert client.get("/").location == "/connexion/"


@pytest.mark.sqlite_file
def test_session_token_is_stored_only_as_a_digest(client: FlaskClient, clock: FixedClock,
                                                  app: Flask) -> None:
    login(client, "ts.montauban", clock)
    token = _cookie(client)
    with app.extensions["liaison"].db.unit_of_work() as s:
        hashes = s.scalars(select(WebSession.token_hash)).all()
    assert token not in hashes
    raw = (app.extensions["liaison"].settings.instance_path / "liaison.db").read_bytes()
    assert token.encode() not in raw


def test_cookie_is_http_only_and_same_site_strict(client: FlaskClient) -> None:
    response = client.get("/connexion/")
    header = response.headers["Set-Cookie"]
    assert "HttpOnly" in header
    assert "SameSite=Strict" in header


def test_post_without_csrf_token_is_refused(client: FlaskClient, clock: FixedClock) -> None:
    login(client, "ts.montauban", clock)
    refused = client.post("/connexion/deconnexion")
    assert refused.status_code == 400
    assert "Le formulaire a expiré" in refused.get_data(as_text=True)
    assert client.get("/").status_code == 200  # still signed in: the logout did not happen
    assert client.post("/connexion/", data={"username": "ts.montauban",
                                            "password": DEMO_PASSWORD}).status_code == 400


def test_post_with_a_token_from_another_session_is_refused(clock: FixedClock, app: Flask) -> None:
    victim, attacker = app.test_client(), app.test_client()
    login(victim, "ts.montauban", clock)
    login(attacker, "cft.montauban", clock)
    page = attacker.get("/").get_data(as_text=True)
    token = page.split('name="csrf_token" value="')[1].split('"')[0]
    assert victim.post("/connexion/deconnexion", data={"csrf_token": token}).status_code == 400
