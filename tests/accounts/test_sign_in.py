"""Sign-in: password, mandatory second factor, enrolment, recovery codes, throttling."""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta
from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from exchange.accounts import totp
from exchange.accounts.models import LoginFailure, RecoveryCode, User, UserRole
from exchange.accounts.throttle import Throttle
from exchange.app import create_app
from exchange.audit.models import AuditEvent
from exchange.demo.seed import DEMO_PASSWORD
from exchange.domain.clock import FixedClock
from tests.conftest import login, make_settings, post_form, totp_code


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


# -- throttling -----------------------------------------------------------------------------
# The test client comes from 127.0.0.1; `_from` gives a browser another address.

STRANGER = "203.0.113.66"
OWNER = "198.51.100.20"
WRONG = "wrong-password-xyz"


def _from(app: Flask, address: str) -> FlaskClient:
    browser = app.test_client()
    browser.environ_base["REMOTE_ADDR"] = address
    return browser


def _retry_after(answer) -> int:  # type: ignore[no-untyped-def]
    assert answer.status_code == 429, answer.status_code
    assert "Trop de tentatives" in answer.get_data(as_text=True)
    return int(answer.headers["Retry-After"])


def test_stranger_cannot_lock_out_the_owner(app: Flask, clock: FixedClock) -> None:
    stranger = _from(app, STRANGER)
    # Hammering: the first failures count, the rest are refused without counting.
    answers = [_password_step(stranger, "ts.montauban", WRONG).status_code for _ in range(30)]
    assert answers == [401] * 3 + [429] * 27
    # Then as fast as the throttle lets a patient stranger go.
    for _ in range(6):
        clock.advance(timedelta(seconds=_retry_after(
            _password_step(stranger, "ts.montauban", WRONG))))
        assert _password_step(stranger, "ts.montauban", WRONG).status_code == 401

    owner = _from(app, OWNER)
    login(owner, "ts.montauban", clock)  # right password and code, from another address
    assert owner.get("/travailleur-social/").status_code == 200
    # The owner's sign-in gave the stranger no fresh attempts.
    _retry_after(_password_step(stranger, "ts.montauban", DEMO_PASSWORD))
    assert _actions(app)[-1] == "login.throttled"


def test_repeated_failures_from_one_address_get_growing_delays(
        client: FlaskClient, clock: FixedClock) -> None:
    for _ in range(3):
        assert _password_step(client, "ts.montauban", WRONG).status_code == 401
    delays = []
    for _ in range(6):
        delays.append(_retry_after(_password_step(client, "ts.montauban", WRONG)))
        clock.advance(timedelta(seconds=delays[-1] - 1))
        # Even the right password waits: the throttle is checked before the password.
        _retry_after(_password_step(client, "ts.montauban", DEMO_PASSWORD))
        clock.advance(timedelta(seconds=1))
        assert _password_step(client, "ts.montauban", WRONG).status_code == 401
    assert delays == [60, 120, 240, 480, 900, 900]  # doubling, up to 15 minutes
    blocked = _password_step(client, "ts.montauban", WRONG)
    assert "Réessayez dans 15 minutes." in blocked.get_data(as_text=True)
    clock.advance(timedelta(minutes=15))
    assert _password_step(client, "ts.montauban").status_code == 302


def test_a_full_sign_in_clears_the_failures_of_its_own_address(
        client: FlaskClient, clock: FixedClock) -> None:
    for _ in range(3):
        _password_step(client, "ts.montauban", WRONG)
    clock.advance(timedelta(minutes=1))
    login(client, "ts.montauban", clock)
    post_form(client, "/connexion/deconnexion", {}, form_page="/")
    for _ in range(3):
        assert _password_step(client, "ts.montauban", WRONG).status_code == 401


def test_address_is_throttled_across_accounts(app: Flask, client: FlaskClient,
                                              clock: FixedClock) -> None:
    for index in range(20):
        assert _password_step(client, f"guess.{index}", WRONG).status_code == 401
    assert _retry_after(_password_step(client, "cft.montauban")) == 60
    # Credential stuffing from one address does not touch the accounts' owners elsewhere.
    login(_from(app, OWNER), "cft.montauban", clock)


def test_rotating_addresses_within_one_ipv6_network_does_not_escape_the_throttle(
        app: Flask) -> None:
    for host in ("1", "2", "3"):
        answer = _password_step(_from(app, f"2001:db8:1:2::{host}"), "ts.montauban", WRONG)
        assert answer.status_code == 401
    _retry_after(_password_step(_from(app, "2001:db8:1:2:ffff::9"), "ts.montauban", WRONG))
    assert _password_step(_from(app, "2001:db8:1:3::1"), "ts.montauban",
                          WRONG).status_code == 401


def test_many_addresses_against_one_account_only_slow_it_down_briefly(
        instance: Path, clock: FixedClock) -> None:
    app = create_app(make_settings(instance, login_max_failures_account=10), clock=clock)
    try:
        for index in range(10):
            answer = _password_step(_from(app, f"203.0.113.{index + 1}"), "ts.montauban", WRONG)
            assert answer.status_code == 401
        owner = _from(app, OWNER)
        assert _retry_after(_password_step(owner, "ts.montauban")) == 10
        clock.advance(timedelta(seconds=10))
        login(owner, "ts.montauban", clock)
    finally:
        app.extensions["liaison"].db.dispose()


def test_unknown_accounts_are_throttled_like_real_ones(client: FlaskClient) -> None:
    for _ in range(3):
        _password_step(client, "nobody.here", WRONG)
        _password_step(client, "ts.montauban", WRONG)
    unknown = _password_step(client, "nobody.here", WRONG)
    known = _password_step(client, "ts.montauban", WRONG)
    assert _retry_after(unknown) == _retry_after(known) == 60

    def message(response) -> str:  # type: ignore[no-untyped-def]
        return re.sub(r'value="[^"]*"', "", response.get_data(as_text=True))

    assert message(unknown) == message(known).replace("ts.montauban", "nobody.here")


def test_second_factor_failures_count_towards_throttling(client: FlaskClient) -> None:
    _password_step(client, "ts.montauban")
    for _ in range(3):
        assert post_form(client, "/connexion/second-facteur",
                         {"code": "000000"}).status_code == 401
    _retry_after(post_form(client, "/connexion/second-facteur", {"code": "000000"}))


def test_change_password_form_is_throttled(app: Flask, client: FlaskClient,
                                           clock: FixedClock) -> None:
    """A stolen session must not be a way to guess the password and then change it."""
    login(client, "ts.montauban", clock)
    new = "une phrase de passe assez longue"
    for _ in range(3):
        answer = post_form(client, "/connexion/mot-de-passe",
                           {"current": WRONG, "new": new, "confirm": new})
        assert answer.status_code == 400
        assert "Mot de passe actuel incorrect." in answer.get_data(as_text=True)
    assert _actions(app)[-1] == "password.change_failure"
    right = {"current": DEMO_PASSWORD, "new": new, "confirm": new}
    assert _retry_after(post_form(client, "/connexion/mot-de-passe", right)) == 60
    assert _actions(app)[-1] == "password.change_throttled"
    with app.extensions["liaison"].db.unit_of_work() as s:
        hashed = s.scalar(select(User.password_hash).where(User.username == "ts.montauban"))
    assert app.extensions["liaison"].passwords.verify(hashed, DEMO_PASSWORD)
    # The same counters as the sign-in: the failures also slow down sign-in from here.
    _retry_after(_password_step(app.test_client(), "ts.montauban"))
    clock.advance(timedelta(minutes=1))
    assert post_form(client, "/connexion/mot-de-passe", right).location == "/connexion/"


def test_login_failure_keys_are_not_reversible_without_the_server_secret(
        app: Flask, client: FlaskClient, instance: Path) -> None:
    names = ["ts.montauban", "nobody.here"]
    for name in names:
        _password_step(client, name, WRONG)
    with app.extensions["liaison"].db.unit_of_work() as s:
        stored = s.execute(select(LoginFailure.account_key, LoginFailure.address_key)).all()
    accounts = {row.account_key for row in stored}
    addresses = {row.address_key for row in stored}
    assert len(accounts) == 2 and len(addresses) == 1

    def digests(value: str, label: str) -> set[str]:
        return {hashlib.sha256(data.encode()).hexdigest()
                for data in (value, f"{label}:{value}", value.casefold())}

    # What a word list of user names (or of addresses) finds with plain digests: nothing.
    guesses = set().union(*(digests(name, "account") for name in names),
                          *(digests(address, "address")
                            for address in ("127.0.0.1", "::1", "localhost")))
    assert not (accounts | addresses) & guesses
    # The server, holding the secret, still counts; another secret gives other keys.
    settings = app.extensions["liaison"].settings
    ours = Throttle.from_settings(settings)
    assert {ours.account_key(name) for name in names} == accounts
    theirs = Throttle.from_settings(settings.with_(
        secret_key="another-secret-key-0123456789abcdefghijkl"))
    assert not {theirs.account_key(name) for name in names} & accounts


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
