"""Sign-in: password, mandatory second factor, enrolment, recovery codes, throttling."""

from __future__ import annotations

import re
from datetime import timedelta

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from exchange.demo import DEMO_PASSWORD
from exchange.domain.clock import FixedClock
from exchange.models.accounts import RecoveryCode, User, UserRole
from exchange.models.audit import AuditEvent
from exchange.security import totp
from tests.conftest import login, post_form, totp_code


def _password_step(client: FlaskClient, username: str, password: str = DEMO_PASSWORD):  # type: ignore[no-untyped-def]
    return post_form(client, "/connexion/", {"username": username, "password": password})


def _actions(app: Flask) -> list[str]:
    with app.extensions["liaison"].db.unit_of_work() as s:
        return list(s.scalars(select(AuditEvent.action).order_by(AuditEvent.seq)))


def test_demo_account_signs_in_with_password_and_code(client: FlaskClient, clock: FixedClock,
                                                      app: Flask) -> None:
    login(client, "cft.montauban", clock)
    home = client.get("/")
    assert home.status_code == 200
    assert "Espace conseiller" in home.get_data(as_text=True)
    assert _actions(app)[-1] == "login.success"


def test_password_alone_does_not_sign_in(client: FlaskClient) -> None:
    assert _password_step(client, "ts.montauban").location == "/connexion/second-facteur"
    assert client.get("/").location == "/connexion/"


def test_second_factor_code_is_refused_the_second_time(client: FlaskClient, clock: FixedClock,
                                                       app: Flask) -> None:
    clock.advance(timedelta(seconds=totp.STEP))
    code = totp_code("ts.montauban", clock)
    _password_step(client, "ts.montauban")
    assert post_form(client, "/connexion/second-facteur", {"code": code}).status_code == 302
    post_form(client, "/connexion/deconnexion", {}, form_page="/")
    _password_step(client, "ts.montauban")
    replay = post_form(client, "/connexion/second-facteur", {"code": code})
    assert replay.status_code == 401
    assert "déjà utilisé" in replay.get_data(as_text=True)
    assert client.get("/").location == "/connexion/"
    assert _actions(app)[-1] == "login.second_factor_failure"


def test_unknown_account_and_wrong_password_get_the_same_answer(client: FlaskClient) -> None:
    unknown = _password_step(client, "nobody.here", "whatever-password-123")
    wrong = _password_step(client, "ts.montauban", "not-the-right-password")
    assert unknown.status_code == wrong.status_code == 401

    def message(response) -> str:  # type: ignore[no-untyped-def]
        return re.sub(r'value="[^"]*"', "", response.get_data(as_text=True))

    assert message(unknown) == message(wrong).replace("ts.montauban", "nobody.here")
    assert "Identifiant ou mot de passe incorrect." in message(wrong)


def test_account_is_throttled_after_five_failures_even_with_the_right_password(
        client: FlaskClient, app: Flask) -> None:
    for _ in range(5):
        assert _password_step(client, "ts.montauban", "wrong-password-xyz").status_code == 401
    blocked = _password_step(client, "ts.montauban")
    assert blocked.status_code == 429
    assert "Trop de tentatives" in blocked.get_data(as_text=True)
    assert _actions(app)[-1] == "login.throttled"


def test_throttle_lifts_after_the_window(client: FlaskClient, clock: FixedClock) -> None:
    for _ in range(5):
        _password_step(client, "ts.montauban", "wrong-password-xyz")
    clock.advance(timedelta(minutes=16))
    assert _password_step(client, "ts.montauban").status_code == 302


def test_address_is_throttled_across_accounts(client: FlaskClient) -> None:
    for index in range(20):
        _password_step(client, f"guess.{index}", "wrong-password-xyz")
    assert _password_step(client, "cft.montauban").status_code == 429


def test_unknown_accounts_are_throttled_like_real_ones(client: FlaskClient) -> None:
    for _ in range(5):
        _password_step(client, "nobody.here", "wrong-password-xyz")
    assert _password_step(client, "nobody.here", "wrong-password-xyz").status_code == 429


def test_second_factor_failures_count_towards_throttling(client: FlaskClient) -> None:
    _password_step(client, "ts.montauban")
    for _ in range(5):
        assert post_form(client, "/connexion/second-facteur",
                         {"code": "000000"}).status_code == 401
    assert post_form(client, "/connexion/second-facteur", {"code": "000000"}).status_code == 429


def _new_user(app: Flask, username: str) -> None:
    svc = app.extensions["liaison"]
    with svc.db.unit_of_work() as s:
        unit_id = s.scalar(select(User.unit_id).where(User.username == "ts.montauban"))
        user = User(username=username, display_name="Nouvelle Collègue", unit_id=unit_id,
                    password_hash=svc.passwords.hash("Initial-Password-2026"),
                    must_change_password=True, created_at=svc.clock.now())
        s.add(user)
        s.flush()
        s.add(UserRole(user_id=user.id, role="social_worker"))


def test_first_login_enrols_second_factor_then_forces_password_change(
        client: FlaskClient, clock: FixedClock, app: Flask) -> None:
    _new_user(app, "nouvelle.collegue")
    assert _password_step(client, "nouvelle.collegue",
                          "Initial-Password-2026").location == "/connexion/enrolement"
    page = client.get("/connexion/enrolement").get_data(as_text=True)
    assert "<svg" in page and "QR code" in page
    secret = re.search(r'<code class="secret">([A-Z2-7]+)</code>', page)
    assert secret
    wrong = post_form(client, "/connexion/enrolement", {"code": "123456"})
    assert wrong.status_code == 400
    done = post_form(client, "/connexion/enrolement",
                     {"code": totp.code_at(secret.group(1), clock.now())})
    codes = re.findall(r"<code>([a-z0-9]{4}-[a-z0-9]{4}-[a-z0-9]{4})</code>",
                       done.get_data(as_text=True))
    assert len(codes) == totp.RECOVERY_CODES
    assert client.get("/").location == "/connexion/mot-de-passe"
    changed = post_form(client, "/connexion/mot-de-passe", {
        "current": "Initial-Password-2026", "new": "une phrase de passe assez longue",
        "confirm": "une phrase de passe assez longue"})
    assert changed.location == "/connexion/"
    # A recovery code signs in once, and only once.
    for attempt, expected in ((1, 302), (2, 401)):
        _password_step(client, "nouvelle.collegue", "une phrase de passe assez longue")
        answer = post_form(client, "/connexion/second-facteur", {"code": codes[0]})
        assert answer.status_code == expected, attempt
        if expected == 302:
            post_form(client, "/connexion/deconnexion", {}, form_page="/")
    with app.extensions["liaison"].db.unit_of_work() as s:
        used = s.scalars(select(RecoveryCode).where(RecoveryCode.used_at.is_not(None))).all()
        assert len(used) == 1
        stored = s.scalar(select(User.totp_secret).where(User.username == "nouvelle.collegue"))
        assert stored is not None and secret.group(1).encode() not in stored


def test_common_and_short_passwords_are_refused(client: FlaskClient, clock: FixedClock) -> None:
    login(client, "ts.montauban", clock)
    for weak, reason in (("short-pass", "au moins 12"),
                         ("azertyuiop123", "mots de passe courants"),
                         ("ts.montauban-is-me", "identifiant")):
        answer = post_form(client, "/connexion/mot-de-passe",
                           {"current": DEMO_PASSWORD, "new": weak, "confirm": weak})
        assert answer.status_code == 400
        assert reason in answer.get_data(as_text=True)


def test_disabled_account_cannot_sign_in(client: FlaskClient, app: Flask) -> None:
    with app.extensions["liaison"].db.unit_of_work() as s:
        user = s.scalar(select(User).where(User.username == "ts.montauban"))
        assert user is not None
        user.active = False
    answer = _password_step(client, "ts.montauban")
    assert answer.status_code == 401
    assert "Identifiant ou mot de passe incorrect." in answer.get_data(as_text=True)
