"""Structured logs: JSON lines on stdout with a request id per request, and nothing a person
typed: a whole sign-in and fiche flow, with canary values in every field, logs none of them."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from flask import Flask

from exchange.app import create_app
from exchange.demo.seed import DEMO_PASSWORD
from exchange.domain.clock import FixedClock
from exchange.domain.identity import Identity
from exchange.platform import logs
from tests.conftest import login, make_settings, post_form, totp_code
from tests.fiches.support import prepare, signed_in

CANARY_NAME = "Zorglubienne"
CANARY_FIRST = "Canarine"
WRONG_PASSWORD = "CanaryPassw0rd-Qx7!"


@pytest.fixture
def json_app(instance: Path, clock: FixedClock) -> Iterator[Flask]:
    app = create_app(make_settings(instance, log_format="json"), clock=clock)
    yield app
    app.extensions["liaison"].db.dispose()
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, logs.StdoutHandler)]:
        root.removeHandler(handler)


def _lines(out: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def test_each_request_logs_one_json_line_with_its_request_id(
        json_app: Flask, capsys: pytest.CaptureFixture[str]) -> None:
    client = json_app.test_client()
    capsys.readouterr()
    given = client.get("/connexion/?nom=Zorglubienne", headers={"X-Request-Id": "abcdef0123456789"})
    fresh = client.get("/sante", headers={"X-Request-Id": "bad id; with spaces"})
    assert given.headers["X-Request-Id"] == "abcdef0123456789"
    assert fresh.headers["X-Request-Id"] != "bad id; with spaces"
    assert len(fresh.headers["X-Request-Id"]) == 32
    out = capsys.readouterr().out
    assert CANARY_NAME not in out
    requests = [line for line in _lines(out) if line["logger"] == "liaison.request"]
    assert [(r["request_id"], r["endpoint"], r["rule"], r["status"], r["method"])
            for r in requests] == [
        ("abcdef0123456789", "auth.login", "/connexion/", 200, "GET"),
        (fresh.headers["X-Request-Id"], "health.liveness", "/sante", 200, "GET")]
    assert all(isinstance(r["duration_ms"], float) and "time" in r for r in requests)


def test_an_exception_is_logged_by_type_and_frames_without_its_message(
        json_app: Flask, clock: FixedClock, capsys: pytest.CaptureFixture[str]) -> None:
    def boom() -> str:
        raise RuntimeError(f"value {CANARY_NAME} leaked by an error message")

    json_app.add_url_rule("/essai-erreur", "home.crash_for_test", boom)
    client = signed_in(json_app, "ts.montauban", clock)
    capsys.readouterr()
    assert client.get("/essai-erreur").status_code == 500
    out = capsys.readouterr().out
    assert CANARY_NAME not in out
    errors = [line for line in _lines(out) if line["level"] == "ERROR"]
    assert errors and errors[0]["endpoint"] == "home.crash_for_test"
    assert errors[0]["request_id"]


def test_the_formatter_keeps_an_exception_type_and_frames_not_its_message() -> None:
    try:
        raise ValueError(f"INSERT ... parameters ('{CANARY_NAME}',)")
    except ValueError:
        record = logging.LogRecord("liaison.test", logging.ERROR, __file__, 1, "failed %s",
                                   ("x",), exc_info=sys.exc_info())
    line = json.loads(logs.JsonFormatter().format(record))
    assert line["message"] == "failed x" and line["exception"] == "ValueError"
    assert any("test_the_formatter" in frame for frame in line["stack"])
    assert CANARY_NAME not in json.dumps(line)


def test_sign_in_and_fiche_pages_log_no_password_code_or_name(
        json_app: Flask, clock: FixedClock, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    stranger = json_app.test_client()
    post_form(stranger, "/connexion/", {"username": "ts.montauban", "password": WRONG_PASSWORD})
    worker = json_app.test_client()
    login(worker, "ts.montauban", clock)
    code = totp_code("ts.montauban", clock)
    created = post_form(worker, "/personnes/nouvelle", {
        "last_name": CANARY_NAME, "first_names": CANARY_FIRST, "birth_date": "1979-02-28",
        "ft_identifier": "7654321Z", "rsa_beneficiary": "y"})
    assert created.status_code == 302
    prepared = prepare(json_app, identity=Identity(
        last_name=CANARY_NAME, first_names=CANARY_FIRST, birth_date=date(1979, 2, 28),
        ft_identifier="7654321Z", rsa_beneficiary=True))
    page = worker.get(f"/fiches/{prepared.fiche}")
    assert page.status_code == 200 and CANARY_NAME.upper() in page.get_data(as_text=True).upper()
    assert worker.get(f"/fiches/{prepared.fiche}/pdf").status_code in (200, 404)
    advisor = signed_in(json_app, "cft.montauban", clock)
    advisor.get("/fiches/recues")
    out = capsys.readouterr().out + capsys.readouterr().err
    lines = _lines(out)
    assert len([line for line in lines if line["logger"] == "liaison.request"]) >= 8
    for canary in (DEMO_PASSWORD, WRONG_PASSWORD, code, CANARY_NAME, CANARY_FIRST,
                   "7654321Z", "1979-02-28", "28/02/1979"):
        assert canary.casefold() not in out.casefold(), canary
