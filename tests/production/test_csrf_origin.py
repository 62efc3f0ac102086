"""CSRF in production, behind HTTPS: the token and the origin of the request.

Every state-changing request needs the form's token and must come from the portal itself: an
`Origin` equal to LIAISON_BASE_URL's origin, or, without a usable Origin, `Sec-Fetch-Site:
same-origin` (exchange/web/origin.py). A request with neither is refused in production. The
Referer is not required: before this check, the HTTPS Referer check of Flask-WTF refused every
form of a production portal, since its own Referrer-Policy made browsers send none.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from werkzeug.test import TestResponse

from exchange.accounts import totp
from exchange.app import create_app
from exchange.audit.models import AuditEvent
from exchange.demo.seed import DEMO_PASSWORD
from exchange.domain.clock import FixedClock
from exchange.web.origin import origin_of, refusal
from tests.conftest import csrf_token, login, make_settings, totp_code

BASE = "https://liaison.departement.example"
ATTACKER = "https://attaquant.example"
REFUSED_TEXT = "ne provient pas de ce site"


class BrowserClient(FlaskClient):
    """Speaks HTTPS to BASE and sends what a browser sends on the portal's own forms: its
    Origin, and no Referer. Tests change `origin` and `fetch_site` to play another sender."""

    origin: str | None = BASE
    fetch_site: str | None = None

    def open(self, *args: Any, **kwargs: Any) -> TestResponse:
        kwargs.setdefault("base_url", BASE)
        headers = dict(kwargs.pop("headers", None) or {})
        if self.origin is not None:
            headers.setdefault("Origin", self.origin)
        if self.fetch_site is not None:
            headers.setdefault("Sec-Fetch-Site", self.fetch_site)
        return super().open(*args, headers=headers, **kwargs)


@pytest.fixture
def production(instance: Path, clock: FixedClock) -> Iterator[Flask]:
    app = create_app(make_settings(instance, mode="production", base_url=BASE), clock=clock)
    app.test_client_class = BrowserClient
    yield app
    app.extensions["liaison"].db.dispose()


@pytest.fixture
def browser(production: Flask) -> BrowserClient:
    client = production.test_client()
    assert isinstance(client, BrowserClient)
    return client


def _refusals(app: Flask) -> int:
    with app.extensions["liaison"].db.unit_of_work() as s:
        return s.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.action == "csrf.refused", AuditEvent.outcome == "refused")) or 0


def _post_sign_in(client: FlaskClient) -> TestResponse:
    """The password step with a valid token and the right password."""
    token = csrf_token(client, "/connexion/")
    return client.post("/connexion/", data={"username": "ts.montauban",
                                            "password": DEMO_PASSWORD, "csrf_token": token})


def _assert_refused(response: TestResponse) -> None:
    assert response.status_code == 400, response.status_code
    assert REFUSED_TEXT in response.get_data(as_text=True)


# -- what the portal's own pages send is accepted ----------------------------------------------


def test_same_origin_post_without_referer_is_accepted_in_production(
        browser: BrowserClient, clock: FixedClock) -> None:
    clock.advance(timedelta(seconds=totp.STEP))
    password = _post_sign_in(browser)
    assert password.status_code == 302, password.get_data(as_text=True)[:300]
    assert password.location.endswith("/connexion/second-facteur")
    token = csrf_token(browser, "/connexion/second-facteur")
    code = browser.post("/connexion/second-facteur",
                        data={"code": totp_code("ts.montauban", clock), "csrf_token": token})
    assert code.status_code == 302 and code.location.endswith("/"), code.status_code
    assert "Se déconnecter" in browser.get("/").get_data(as_text=True)


def test_fetch_metadata_same_origin_with_a_null_origin_is_accepted_in_production(
        browser: BrowserClient) -> None:
    """What Chromium sends from a page whose referrer policy is no-referrer."""
    browser.origin, browser.fetch_site = "null", "same-origin"
    response = _post_sign_in(browser)
    assert response.status_code == 302, response.get_data(as_text=True)[:300]


# -- the attacks --------------------------------------------------------------------------------


def test_cross_origin_post_with_a_valid_token_is_refused_in_production(
        production: Flask, browser: BrowserClient, clock: FixedClock) -> None:
    """A page of another site submits the signed-in user's logout form, token included (as a
    token leaked through a screenshot or a proxy log would allow): refused, session kept."""
    login(browser, "ts.montauban", clock)
    token = csrf_token(browser, "/")
    before = _refusals(production)
    browser.origin, browser.fetch_site = ATTACKER, "cross-site"
    _assert_refused(browser.post("/connexion/deconnexion", data={"csrf_token": token}))
    assert _refusals(production) == before + 1
    browser.origin, browser.fetch_site = BASE, None
    assert "Se déconnecter" in browser.get("/").get_data(as_text=True)  # still signed in


def test_cross_origin_sign_in_with_a_valid_token_is_refused_in_production(
        production: Flask, browser: BrowserClient) -> None:
    """Login CSRF: another site signs the victim's browser into the attacker's account."""
    token = csrf_token(browser, "/connexion/")
    browser.origin = ATTACKER
    _assert_refused(browser.post("/connexion/", data={
        "username": "ts.montauban", "password": DEMO_PASSWORD, "csrf_token": token}))
    assert _refusals(production) == 1


def test_post_without_origin_or_fetch_metadata_is_refused_in_production(
        production: Flask, browser: BrowserClient) -> None:
    browser.origin = None
    _assert_refused(_post_sign_in(browser))
    assert _refusals(production) == 1


@pytest.mark.parametrize("fetch_site", ["cross-site", "same-site", "none"])
def test_null_origin_post_from_another_context_is_refused_in_production(
        browser: BrowserClient, fetch_site: str) -> None:
    """A sandboxed frame or a data: URL on another site sends `Origin: null`."""
    browser.origin, browser.fetch_site = "null", fetch_site
    _assert_refused(_post_sign_in(browser))


def test_origin_on_another_port_or_scheme_is_refused_in_production(
        browser: BrowserClient) -> None:
    for other in ("https://liaison.departement.example:8443", "http://liaison.departement.example",
                  "https://evil.liaison.departement.example"):
        browser.origin = other
        _assert_refused(_post_sign_in(browser))


def test_demo_refuses_a_post_from_another_site(client: FlaskClient) -> None:
    token = csrf_token(client, "/connexion/")
    response = client.post("/connexion/", data={"username": "ts.montauban",
                                                "password": DEMO_PASSWORD, "csrf_token": token},
                           headers={"Origin": ATTACKER, "Sec-Fetch-Site": "cross-site"})
    _assert_refused(response)


# -- the rule itself ----------------------------------------------------------------------------


def test_origin_of_serialises_like_a_browser() -> None:
    assert origin_of("https://Liaison.Example.fr:443/connexion/") == "https://liaison.example.fr"
    assert origin_of("http://127.0.0.1:5000") == "http://127.0.0.1:5000"
    assert origin_of("https://[::1]:8443/") == "https://[::1]:8443"
    for bad in ("null", "", "javascript:alert(1)", "https://", "https://x:99999"):
        assert origin_of(bad) is None, bad


def test_refusal_table() -> None:
    allowed = frozenset({"https://liaison.example.fr"})
    accepted = [("https://liaison.example.fr", None), ("https://liaison.example.fr", "cross-site"),
                (None, "same-origin"), ("null", "same-origin")]
    for origin, site in accepted:
        assert refusal(origin, site, allowed, require=True) is None, (origin, site)
    refused = [("https://autre.example.fr", "same-origin"), ("null", None), (None, None),
               (None, "same-site"), ("https://liaison.example.fr.evil.example", None)]
    for origin, site in refused:
        assert refusal(origin, site, allowed, require=True), (origin, site)
    assert refusal(None, None, allowed, require=False) is None  # demo: the token alone
