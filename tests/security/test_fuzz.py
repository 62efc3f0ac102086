"""Hypothesis-driven fuzzing of the main forms and query parameters: SQL, HTML and script,
control characters, very long values, invalid dates and ids. For every answer: no server error,
no trace, no markup of ours rendered unescaped; when a form is refused, nothing was saved (the
rows it would write are counted before and after); when it is accepted, the page that shows
what was typed shows it escaped.

Each test builds its data once and lets Hypothesis post to the same portal (a bounded number of
examples, no example database on disk)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from exchange.accounts.models import User
from exchange.audit.models import AuditEvent
from exchange.domain.clock import FixedClock
from exchange.domain.vocabulary import DeclineReason, ExitReason
from exchange.fiches import reading
from exchange.fiches.models import Accompaniment, Fiche
from exchange.org.models import Institution
from exchange.persons.models import Consent, Person
from exchange.policy import visible_fiche
from tests.conftest import csrf_token
from tests.fiches.support import accepted, acting_as, prepare, sent, services_of, signed_in

pytestmark = pytest.mark.slow  # the inner loop is `pytest -m "not slow"`

FUZZ = settings(max_examples=25, deadline=None, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])

SCRIPT = "<script>alert(1)</script>"
HOSTILE = [
    SCRIPT, '"><img src=x onerror=alert(1)>', "'; DROP TABLE persons; --", "' OR '1'='1",
    "1; SELECT * FROM users", "{{ 7*7 }}", "${7*7}", "../../../../etc/passwd", "%00", "\x00",
    "\u202e\u0007\x1b[31m", "é" * 5000, "A" * 100_000, "", " ", "0" * 32, "f" * 32,
    "2026-02-30", "9999-99-99", "-1", "1e309", "NaN", "\r\nSet-Cookie: x=1",
]
text = st.one_of(st.sampled_from(HOSTILE), st.text(max_size=300),
                 st.text(alphabet=st.characters(codec="utf-8"), max_size=50),
                 st.builds(lambda a, b: a + SCRIPT + b, st.text(max_size=20),
                           st.text(max_size=20)))
day = st.one_of(st.sampled_from(["2026-11-20", "2026-02-30", "20/11/2026", "1899-01-01",
                                 "3026-11-20", "2026-11-20T00:00", ""]), text)
# Markup the portal never writes itself: if it appears, something typed came back raw.
RAW = ("<script>alert", "<img src=x onerror")


def count(app: Flask, *models: Any) -> tuple[int, ...]:
    with services_of(app).db.unit_of_work() as s:
        return tuple(s.scalar(select(func.count()).select_from(m)) or 0 for m in models)


def check(answer: Any, what: str) -> str:
    """No server error, no trace, nothing raw; the page as text."""
    html = answer.get_data(as_text=True)
    assert answer.status_code < 500, (what, answer.status_code, html[:1500])
    assert "Traceback" not in html, what
    for raw in RAW:
        assert raw not in html, (what, raw)
    return html


def post(client: FlaskClient, path: str, data: dict[str, Any], token: str) -> Any:
    return client.post(path, data={**data, "csrf_token": token})


def shows_escaped(client: FlaskClient, path: str, typed: str) -> None:
    """If what was typed contains the script marker and the page shows it, it is escaped."""
    page = check(client.get(path), path)
    if SCRIPT in typed:
        assert SCRIPT not in page


def _refused_saves_nothing(app: Flask, models: tuple[Any, ...], answer: Any,
                           before: tuple[int, ...], ok: Callable[[Any], bool]) -> None:
    if not ok(answer):
        assert count(app, *models) == before, answer.status_code


# -- sign-in -----------------------------------------------------------------------------------

def test_sign_in(app: Flask) -> None:
    client = app.test_client()
    token = csrf_token(client, "/connexion/")

    @FUZZ
    @given(username=text, password=text, code=text)
    def run(username: str, password: str, code: str) -> None:
        before = count(app, User)
        check(post(client, "/connexion/", {"username": username, "password": password},
                   token), "login")
        check(post(client, "/connexion/second-facteur", {"code": code}, token), "totp")
        check(client.get("/connexion/", query_string={"next": username}), "next")
        assert count(app, User) == before

    run()


# -- persons -----------------------------------------------------------------------------------

def test_person_search_and_create(app: Flask, clock: FixedClock) -> None:
    worker = signed_in(app, "ts.montauban", clock)
    token = csrf_token(worker, "/personnes/")

    @FUZZ
    @given(last=text, first=text, birth=day, ft=text, address=text, phone=text, email=text)
    def run(last: str, first: str, birth: str, ft: str, address: str, phone: str,
            email: str) -> None:
        check(post(worker, "/personnes/", {"name": last, "birth_date": birth,
                                           "ft_identifier": ft}, token), "search")
        check(worker.get("/personnes/", query_string={"name": last, "q": first}), "search?")
        before = count(app, Person, AuditEvent)
        answer = post(worker, "/personnes/nouvelle", {
            "last_name": last, "first_names": first, "birth_date": birth, "ft_identifier": ft,
            "address": address, "phone": phone, "email": email, "create_anyway": "1"}, token)
        check(answer, "create")
        if answer.status_code == 302:
            shows_escaped(worker, answer.location, last + first + address)
        else:
            assert count(app, Person) == before[:1]

    run()


def test_consent(app: Flask, clock: FixedClock) -> None:
    person = prepare(app, consent=False, sign=False).person
    worker = signed_in(app, "ts.montauban", clock)
    path = f"/personnes/{person}/consentements/nouveau"
    token = csrf_token(worker, path)
    with services_of(app).db.unit_of_work() as s:
        recipient = s.scalar(select(Institution.public_id).where(
            Institution.name == "France Travail Occitanie"))

    @FUZZ
    @given(axis=st.one_of(st.just("2"), text), recipient=st.one_of(st.just(recipient), text),
           version=st.one_of(st.just("1"), text),
           method=st.one_of(st.just("in_person_attestation"), text), collected=day)
    def run(axis: str, recipient: str, version: str, method: str, collected: str) -> None:
        before = count(app, Consent)
        answer = post(worker, path, {"axis": axis, "recipient": recipient,
                                     "notice_version": version, "method": method,
                                     "attestation": "y", "collected_on": collected}, token)
        check(answer, "consent")
        _refused_saves_nothing(app, (Consent,), answer, before, lambda a: a.status_code == 302)

    run()


# -- fiches ------------------------------------------------------------------------------------

def test_fiche_draft_save(app: Flask, clock: FixedClock) -> None:
    fiche = prepare(app, sign=False).fiche
    worker = signed_in(app, "ts.montauban", clock)
    draft = f"/fiches/{fiche}/brouillon"
    token = csrf_token(worker, draft)

    @FUZZ
    @given(diagnostic=day, barriers=st.lists(st.one_of(st.just("housing"), text), max_size=3),
           professional=text, motive=text, expectations=text)
    def run(diagnostic: str, barriers: list[str], professional: str, motive: str,
            expectations: str) -> None:
        with services_of(app).db.unit_of_work() as s:
            updated = s.scalar(select(Fiche.updated_at).where(Fiche.public_id == fiche))
        answer = post(worker, draft, {
            "action": "save", "diagnostic_date": diagnostic, "barriers": barriers,
            "professional_barriers": professional, "motive": motive,
            "expectations": expectations}, token)
        check(answer, "save")
        with services_of(app).db.unit_of_work() as s:
            after = s.scalar(select(Fiche.updated_at).where(Fiche.public_id == fiche))
        if answer.status_code == 303:
            shows_escaped(worker, draft, professional + motive + expectations)
        else:
            assert after == updated, answer.status_code

    run()


def test_decline_reason(app: Flask, clock: FixedClock) -> None:
    fiche = sent(app).fiche
    with acting_as(app, "cft.montauban") as ctx:
        found = visible_fiche(ctx.session, ctx.agent, fiche)
        reading.open_fiche(ctx, found, "party")
        from exchange.fiches import decisions

        decisions.acknowledge(ctx, found)
    advisor = signed_in(app, "cft.montauban", clock)
    token = csrf_token(advisor, f"/fiches/{fiche}")

    @FUZZ
    @given(reason=st.one_of(st.sampled_from([r.value for r in DeclineReason]), text),
           free=text)
    def run(reason: str, free: str) -> None:
        with services_of(app).db.unit_of_work() as s:
            state = s.scalar(select(Fiche.state).where(Fiche.public_id == fiche))
        answer = post(advisor, f"/fiches/{fiche}/refuser", {"reason": reason, "text": free},
                      token)
        check(answer, "decline")
        with services_of(app).db.unit_of_work() as s:
            now = s.scalar(select(Fiche.state).where(Fiche.public_id == fiche))
        assert now in (state, "declined")
        shows_escaped(advisor, f"/fiches/{fiche}", free if now != state else "")

    run()


def test_accompaniment_entry_and_close(app: Flask, clock: FixedClock) -> None:
    _, pid = accepted(app)
    advisor = signed_in(app, "cft.montauban", clock)
    token = csrf_token(advisor, f"/accompagnements/{pid}")
    columns = (Accompaniment.entry_date, Accompaniment.exit_date, Accompaniment.exit_reason)

    def row() -> tuple[Any, ...]:
        with services_of(app).db.unit_of_work() as s:
            return tuple(s.execute(select(*columns).where(
                Accompaniment.public_id == pid)).one())

    @FUZZ
    @given(entry=day, exit=day,
           reason=st.one_of(st.sampled_from([r.value for r in ExitReason]), text), free=text)
    def run(entry: str, exit: str, reason: str, free: str) -> None:
        before = row()
        answer = post(advisor, f"/accompagnements/{pid}/entree", {"entry_date": entry}, token)
        check(answer, "entry")
        if answer.status_code != 303:
            assert row() == before
        before = row()
        answer = post(advisor, f"/accompagnements/{pid}/cloture",
                      {"exit_date": exit, "exit_reason": reason, "exit_text": free}, token)
        check(answer, "close")
        if answer.status_code != 303:
            assert row() == before
        shows_escaped(advisor, f"/accompagnements/{pid}", free)

    run()


# -- administration and DPO --------------------------------------------------------------------

def test_admin_institution_and_user_forms(app: Flask, clock: FixedClock) -> None:
    admin = signed_in(app, "admin", clock)
    token = csrf_token(admin, "/admin/")

    @FUZZ
    @given(name=text, siret=text, dpo=text, email=text, address=text, kind=text,
           username=text, password=text)
    def run(name: str, siret: str, dpo: str, email: str, address: str, kind: str,
            username: str, password: str) -> None:
        before = count(app, Institution, User)
        answer = post(admin, "/admin/institutions/nouvelle", {
            "kind": kind, "name": name, "siret": siret, "dpo_name": dpo, "dpo_email": email,
            "dpo_address": address}, token)
        check(answer, "institution")
        if answer.status_code == 302:
            shows_escaped(admin, answer.location, name + dpo + address)
        else:
            assert count(app, Institution) == before[:1]
        answer = post(admin, "/admin/comptes/nouveau", {
            "username": username, "display_name": name, "email": email, "unit": siret,
            "roles": [kind], "password": password, "confirm": password}, token)
        check(answer, "user")
        if answer.status_code != 302:
            assert count(app, User) == before[1:]
        check(admin.get("/admin/comptes/", query_string={"q": name, "page": kind}), "users?")

    run()


def test_dpo_search(app: Flask, clock: FixedClock) -> None:
    dpo = signed_in(app, "dpo.departement", clock)
    token = csrf_token(dpo, "/dpo/journal")

    @FUZZ
    @given(last=text, birth=day, username=text, unit=text, action=text, start=day, end=day,
           page=text)
    def run(last: str, birth: str, username: str, unit: str, action: str, start: str,
            end: str, page: str) -> None:
        fields = {"last_name": last, "birth_date": birth, "username": username, "unit": unit,
                  "action": action, "date_from": start, "date_to": end}
        check(post(dpo, "/dpo/journal", fields, token), "search")
        check(dpo.get("/dpo/journal", query_string={**fields, "page": page}), "search?")
        check(post(dpo, "/dpo/journal/export", fields, token), "export")

    run()
