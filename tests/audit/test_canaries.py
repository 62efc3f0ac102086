"""Canary strings — a password, second-factor codes, a person's name — never reach the audit
rows, the database file (and its WAL) or the application's log, through a sign-in, failed
sign-ins, a person's creation and the DPO's search for that person."""

from __future__ import annotations

import logging
import unicodedata
from datetime import date, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from exchange.accounts import totp
from exchange.audit import trail as audit
from exchange.audit.models import AuditEvent
from exchange.demo.seed import DEMO_PASSWORD
from exchange.domain.clock import FixedClock
from exchange.domain.identity import Identity
from tests.audit.support import dpo_client, services_of
from tests.conftest import csrf_token, post_form, totp_code
from tests.fiches.support import prepare

WRONG_PASSWORD = "Canari-MotDePasse-9f3K2q"
WRONG_CODE = "918273"
LAST_NAME = "Zébulonovitch"
FIRST_NAMES = "Anatolie Canarie"
BIRTH_DATE = date(1983, 7, 29)


def _sign_in(client: FlaskClient, clock: FixedClock, username: str, password: str,
             code: str | None) -> str | None:
    """Password, then second factor; returns the code typed."""
    clock.advance(timedelta(seconds=totp.STEP))
    answer = post_form(client, "/connexion/", {"username": username, "password": password})
    if answer.status_code != 302:
        return None
    typed = code or totp_code(username, clock)
    client.post("/connexion/second-facteur",
                data={"code": typed, "csrf_token": csrf_token(client, "/connexion/second-facteur")})
    return typed


def _walk(app: Flask, clock: FixedClock) -> list[str]:
    """Everything the canaries go through; returns the second-factor codes typed."""
    codes = []
    _sign_in(app.test_client(), clock, "ts.montauban", WRONG_PASSWORD, None)  # wrong password
    _sign_in(app.test_client(), clock, "nobody.here", WRONG_PASSWORD, None)  # unknown account
    typed = _sign_in(app.test_client(), clock, "ts.montauban", DEMO_PASSWORD, WRONG_CODE)
    assert typed == WRONG_CODE
    good = app.test_client()
    typed = _sign_in(good, clock, "ts.montauban", DEMO_PASSWORD, None)
    assert typed is not None and good.get("/").status_code == 200
    codes += [WRONG_CODE, typed]
    prepare(app, identity=Identity(last_name=LAST_NAME, first_names=FIRST_NAMES,
                                   birth_date=BIRTH_DATE))
    dpo = dpo_client(app, clock)
    answer = dpo.post("/dpo/journal", data={
        "last_name": LAST_NAME, "birth_date": BIRTH_DATE.isoformat(), "username": "",
        "unit": "", "action": "", "date_from": "", "date_to": "",
        "csrf_token": csrf_token(dpo, "/dpo/journal")})
    assert "1 personne correspond" in answer.get_data(as_text=True)
    return codes


def _variants(text: str) -> set[str]:
    plain = "".join(c for c in unicodedata.normalize("NFKD", text)
                    if not unicodedata.combining(c))
    return {text, text.upper(), text.casefold(), plain, plain.casefold(), plain.upper()}


def canaries(codes: list[str]) -> set[str]:
    found = {WRONG_PASSWORD, DEMO_PASSWORD, *codes}
    for name in (LAST_NAME, *FIRST_NAMES.split()):
        found |= _variants(name)
    return found


def test_canaries_never_reach_audit_rows_or_the_log(app: Flask, clock: FixedClock,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    codes = _walk(app, clock)
    with services_of(app).db.unit_of_work() as s:
        rows = s.scalars(select(AuditEvent)).all()
        text = "\n".join("\x1f".join(str(v) for v in (*audit.event_fields(e), e.prev_hash,
                                                       e.hash)) for e in rows)
    actions = {e.action for e in rows}
    assert {"login.failure", "login.second_factor_failure", "login.success",
            "person.created", "audit.searched"} <= actions
    logged = "\n".join(record.getMessage() for record in caplog.records)
    for canary in canaries(codes):
        assert canary not in text, canary
        assert canary not in logged, canary


@pytest.mark.sqlite_file
def test_canaries_never_reach_the_database_file(app: Flask, clock: FixedClock) -> None:
    codes = _walk(app, clock)
    instance = services_of(app).settings.instance_path
    raw = b"".join(path.read_bytes() for path in sorted(instance.glob("liaison.db*")))
    assert len(raw) > 100_000
    for canary in canaries(codes):
        for encoded in {canary.encode("utf-8"), canary.encode("utf-16-le")}:
            assert encoded not in raw, canary
