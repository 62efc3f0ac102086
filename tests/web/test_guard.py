"""Deny by default, security headers on every response, French error pages with no trace."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from exchange.audit.models import AuditEvent
from exchange.domain.clock import FixedClock
from exchange.web.guard import public_endpoints
from tests.conftest import login

SKIP_METHODS = {"HEAD", "OPTIONS"}


def _url(rule) -> str:  # type: ignore[no-untyped-def]
    """A concrete URL for a rule, with placeholder ids where it takes arguments (a number
    where it takes one: a longer run of digits matches no rule)."""
    return re.sub(r"<(?:([a-z]+):)?([a-z_]+)>",
                  lambda m: "1" if m.group(1) == "int" else "0" * 32, rule.rule)


def test_every_rule_not_on_the_public_list_refuses_an_anonymous_user(app: Flask) -> None:
    client = app.test_client()
    checked = 0
    for rule in app.url_map.iter_rules():
        if rule.endpoint in public_endpoints():
            continue
        for method in sorted(rule.methods - SKIP_METHODS):
            response = client.open(_url(rule), method=method)
            checked += 1
            if method == "GET":
                assert response.status_code == 302, rule
                assert response.location == "/connexion/", rule
            else:  # no session, no CSRF token: refused before any view runs
                assert response.status_code in (302, 400), (rule, method)
                assert response.status_code != 302 or response.location == "/connexion/"
    assert checked > 10


def test_public_list_holds_only_sign_in_steps() -> None:
    # Besides sign-in, only the two probes of exchange/web/health.py (booleans, no data).
    assert {endpoint.split(".")[0] for endpoint in public_endpoints()} == {
        "static", "auth", "health"}
    assert {e for e in public_endpoints() if e.startswith("health.")} == {
        "health.liveness", "health.readiness_view"}


def test_role_space_refuses_other_roles_and_audits_the_refusal(client: FlaskClient,
                                                               clock: FixedClock,
                                                               app: Flask) -> None:
    login(client, "ts.montauban", clock)
    for path in ("/admin/", "/conseiller/", "/dpo/", "/pilotage/", "/responsable/"):
        refused = client.get(path)
        assert refused.status_code == 403, path
        assert "Accès refusé" in refused.get_data(as_text=True)
    with app.extensions["liaison"].db.unit_of_work() as s:
        refusals = s.scalars(select(AuditEvent).where(AuditEvent.action == "access.refused")).all()
    assert len(refusals) == 5
    assert all(event.outcome == "refused" and event.actor_user_id for event in refusals)


def _assert_security_headers(response, *, authenticated: bool) -> None:  # type: ignore[no-untyped-def]
    csp = response.headers.get("Content-Security-Policy", "")
    assert "frame-ancestors 'none'" in csp
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert response.headers.get("X-Content-Type-Options") == "nosniff"
    assert response.headers.get("Referrer-Policy") == "same-origin"
    if authenticated:
        assert response.headers.get("Cache-Control") == "no-store"


@pytest.fixture
def crashing_app(app: Flask) -> Flask:
    def boom() -> str:
        raise RuntimeError("secret detail that must not reach the page")

    app.add_url_rule("/essai-erreur", "home.crash_for_test", boom)
    return app


def test_headers_on_pages_and_error_pages(crashing_app: Flask, clock: FixedClock) -> None:
    client = crashing_app.test_client()
    _assert_security_headers(client.get("/connexion/"), authenticated=False)
    _assert_security_headers(client.get("/nulle-part"), authenticated=False)
    login(client, "ts.montauban", clock)
    for path, status in (("/", 200), ("/admin/", 403), ("/nulle-part", 404),
                         ("/essai-erreur", 500)):
        response = client.get(path)
        assert response.status_code == status
        _assert_security_headers(response, authenticated=True)
    crashed = client.get("/essai-erreur").get_data(as_text=True)
    assert "Erreur du service" in crashed
    assert "secret detail" not in crashed and "Traceback" not in crashed
    assert "Strict-Transport-Security" not in client.get("/").headers  # demo runs over http


def test_static_assets_are_served_by_the_app(client: FlaskClient) -> None:
    with client.get("/static/liaison.css") as css:
        assert css.status_code == 200
        assert css.headers["X-Content-Type-Options"] == "nosniff"
    page = client.get("/connexion/").get_data(as_text=True)
    assert "http://" not in page.replace("http://127.0.0.1", "") and "https://" not in page
