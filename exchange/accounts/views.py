"""Sign-in with a password and a mandatory TOTP second factor; enrolment; password change.

A failed sign-in gives the same answer whether the account exists or not. The session gets a
new token after the password and again after the second factor. Password and code guesses, at
sign-in and on the password-change form, are slowed down by `exchange.accounts.throttle`.
"""

from __future__ import annotations

import math
from datetime import timedelta

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_user, logout_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length

from exchange.accounts import totp
from exchange.accounts.models import RecoveryCode, User
from exchange.accounts.passwords import policy_problem
from exchange.accounts.sessions import revoke_user_sessions
from exchange.acting import Agent, actor_for, agent_from_row, user_row
from exchange.audit import trail as audit
from exchange.platform.current import services
from exchange.web.helpers import client_address, reading, record, unit_of_work
from exchange.web.sessions import ServerSession

bp = Blueprint("auth", __name__, url_prefix="/connexion")

GENERIC_FAILURE = "Identifiant ou mot de passe incorrect."
THROTTLED = "Trop de tentatives. Réessayez dans {delay}."
PENDING_FOR = timedelta(minutes=5)
TOTP_BOX = "totp-secret"


class LoginForm(FlaskForm):
    username = StringField("Identifiant", validators=[DataRequired("Saisissez votre identifiant."),
                                                      Length(max=80)])
    password = PasswordField("Mot de passe",
                             validators=[DataRequired("Saisissez votre mot de passe."),
                                         Length(max=256)])


class CodeForm(FlaskForm):
    code = StringField("Code à 6 chiffres ou code de secours",
                       validators=[DataRequired("Saisissez le code."), Length(max=20)])


class ChangePasswordForm(FlaskForm):
    current = PasswordField("Mot de passe actuel",
                            validators=[DataRequired("Saisissez votre mot de passe actuel.")])
    new = PasswordField("Nouveau mot de passe (12 caractères au moins)",
                        validators=[DataRequired("Saisissez un nouveau mot de passe."),
                                    Length(max=256)])
    confirm = PasswordField("Confirmez le nouveau mot de passe",
                            validators=[EqualTo("new", "Les deux mots de passe diffèrent.")])


def _server_session() -> ServerSession:
    current = session._get_current_object()  # type: ignore[attr-defined]
    assert isinstance(current, ServerSession)
    return current


def _address() -> str:
    return client_address() or "unknown"


def _throttled(template: str, form: FlaskForm, wait: timedelta) -> tuple[str, int, dict[str, str]]:
    """The form again, 429, saying how long to wait; the same for every account, known or not."""
    seconds = max(1, math.ceil(wait.total_seconds()))
    if seconds < 60:
        delay = f"{seconds} seconde{'s' if seconds > 1 else ''}"
    else:
        minutes = math.ceil(seconds / 60)
        delay = f"{minutes} minute{'s' if minutes > 1 else ''}"
    flash(THROTTLED.format(delay=delay), "error")
    return render_template(template, form=form), 429, {"Retry-After": str(seconds)}


def _pending_user(s: Session) -> User | None:
    """The account whose password was just checked, if that happened in the last minutes."""
    uid, since = session.get("pending_uid"), session.get("pending_at")
    if not isinstance(uid, int) or not isinstance(since, (int, float)):
        return None
    if services().clock.now().timestamp() - since > PENDING_FOR.total_seconds():
        return None
    user = user_row(s, uid)
    return user if user is not None and user.active else None


@bp.route("/", methods=["GET", "POST"])
def login() -> str | Response | tuple[str, int, dict[str, str]]:
    if current_user.is_authenticated:
        return redirect(url_for("home.index"))
    form = LoginForm()
    if form.validate_on_submit():
        svc = services()
        now = svc.clock.now()
        username = form.username.data.strip()
        address = _address()
        with unit_of_work() as s:
            user = _account(s, username)
            wait = svc.throttle.wait(s, username, address, now)
            if wait:
                record(s, "login.throttled", outcome="refused", object_type="user",
                       object_id=user.public_id if user else None)
                return _throttled("auth/login.html", form, wait)
            stored = user.password_hash if user else None
        # argon2 runs outside any unit of work: in the embedded mode a unit of work holds
        # SQLite's write lock (BEGIN IMMEDIATE), and concurrent sign-ins queued every request
        # of every worker behind their hashes until the busy timeout (bench/bench_load.py).
        ok = svc.passwords.verify(stored, form.password.data)
        rehashed = None
        if ok and stored is not None and svc.passwords.needs_rehash(stored):
            rehashed = svc.passwords.hash(form.password.data)
        with unit_of_work() as s:
            user = _account(s, username)
            # The hash checked must still be the account's (not changed in between).
            if not ok or user is None or not user.active or user.password_hash != stored:
                svc.throttle.fail(s, username, address, now)
                record(s, "login.failure", outcome="failure", object_type="user",
                       object_id=user.public_id if user else None)
                flash(GENERIC_FAILURE, "error")
                return render_template("auth/login.html", form=form), 401
            if rehashed is not None:
                user.password_hash = rehashed
            enrolled = user.totp_enrolled_at is not None
            user_id = user.id
        server = _server_session()
        server.clear()
        server.rotate()
        session["pending_uid"] = user_id
        session["pending_at"] = now.timestamp()
        return redirect(url_for("auth.second_factor" if enrolled else "auth.enrol"))
    return render_template("auth/login.html", form=form)


def _account(s: Session, username: str) -> User | None:
    # No account name holds a control character, and PostgreSQL refuses a NUL in a query.
    if not username.isprintable():
        return None
    return s.scalar(select(User).where(User.username == username))


def _complete_login(s: Session, user: User) -> Agent:
    svc = services()
    now = svc.clock.now()
    user.last_login_at = now
    svc.throttle.succeed(s, user.username, _address())
    audit.record(s, "login.success", at=now, actor=actor_for(user), object_type="user",
                 object_id=user.public_id, address=client_address())
    return agent_from_row(user)


def _finish(signed_in: Agent) -> Response:
    server = _server_session()
    next_path = session.get("next")
    server.clear()
    server.rotate()
    login_user(signed_in)
    if signed_in.must_change_password:
        return redirect(url_for("auth.change_password"))
    if isinstance(next_path, str) and next_path.startswith("/") and not next_path.startswith("//"):
        return redirect(next_path)
    return redirect(url_for("home.index"))


@bp.route("/second-facteur", methods=["GET", "POST"])
def second_factor() -> str | Response | tuple[str, int, dict[str, str]]:
    form = CodeForm()
    svc = services()
    # Showing the form writes nothing: a reading.
    with (reading() if request.method == "GET" else unit_of_work()) as s:
        user = _pending_user(s)
        if user is None or user.totp_secret is None:
            flash("Votre connexion a expiré : saisissez à nouveau vos identifiants.", "error")
            return redirect(url_for("auth.login"))
        if not form.validate_on_submit():
            return render_template("auth/second_factor.html", form=form)
        now = svc.clock.now()
        address = _address()
        wait = svc.throttle.wait(s, user.username, address, now)
        if wait:
            record(s, "login.throttled", outcome="refused", actor=actor_for(user),
                   object_type="user", object_id=user.public_id)
            return _throttled("auth/second_factor.html", form, wait)
        code = form.code.data.strip()
        secret = svc.secret_box(TOTP_BOX).open(user.totp_secret, user.public_id.encode()).decode()
        step = totp.matching_step(secret, code, now, user.totp_last_step)
        if step is not None:
            user.totp_last_step = step
            signed_in = _complete_login(s, user)
        elif _use_recovery_code(s, user, code):
            record(s, "login.recovery_code_used", actor=actor_for(user), object_type="user",
                   object_id=user.public_id)
            signed_in = _complete_login(s, user)
        else:
            svc.throttle.fail(s, user.username, address, now)
            record(s, "login.second_factor_failure", outcome="failure", actor=actor_for(user),
                   object_type="user", object_id=user.public_id)
            flash("Code incorrect ou déjà utilisé.", "error")
            return render_template("auth/second_factor.html", form=form), 401
    return _finish(signed_in)


def _use_recovery_code(s: Session, user: User, code: str) -> bool:
    if len(code.replace("-", "").replace(" ", "")) != 12:
        return False
    row = s.scalar(select(RecoveryCode).where(
        RecoveryCode.user_id == user.id, RecoveryCode.code_hash == totp.recovery_hash(code),
        RecoveryCode.used_at.is_(None)))
    if row is None:
        return False
    row.used_at = services().clock.now()
    return True


@bp.route("/enrolement", methods=["GET", "POST"])
def enrol() -> str | Response:
    form = CodeForm()
    svc = services()
    box = svc.secret_box(TOTP_BOX)
    with (reading() if request.method == "GET" else unit_of_work()) as s:
        user = _pending_user(s)
        if user is None:
            flash("Votre connexion a expiré : saisissez à nouveau vos identifiants.", "error")
            return redirect(url_for("auth.login"))
        if user.totp_enrolled_at is not None:
            return redirect(url_for("auth.second_factor"))
        aad = b"enrol:" + user.public_id.encode()
        sealed = session.get("enrol_secret")
        if not isinstance(sealed, str):
            secret = totp.new_secret()
            session["enrol_secret"] = box.seal(secret.encode(), aad).hex()
        else:
            secret = box.open(bytes.fromhex(sealed), aad).decode()
        uri = totp.provisioning_uri(secret, user.username)
        if not form.validate_on_submit():
            return render_template("auth/enrol.html", form=form, qr=totp.qr_svg(uri),
                                   secret=secret)
        now = svc.clock.now()
        step = totp.matching_step(secret, form.code.data, now, 0)
        if step is None:
            record(s, "login.second_factor_failure", outcome="failure", actor=actor_for(user),
                   object_type="user", object_id=user.public_id)
            flash("Code incorrect : vérifiez l'heure de votre téléphone et réessayez.", "error")
            return render_template("auth/enrol.html", form=form, qr=totp.qr_svg(uri),
                                   secret=secret), 400
        user.totp_secret = box.seal(secret.encode(), user.public_id.encode())
        user.totp_last_step = step
        user.totp_enrolled_at = now
        codes = totp.new_recovery_codes()
        for row in user_recovery_codes(s, user):
            s.delete(row)
        s.add_all(RecoveryCode(user_id=user.id, code_hash=totp.recovery_hash(c)) for c in codes)
        record(s, "totp.enrolled", actor=actor_for(user), object_type="user",
               object_id=user.public_id)
        signed_in = _complete_login(s, user)
    session.pop("enrol_secret", None)
    response = _finish(signed_in)
    # The codes are shown once, on the page that follows enrolment, and kept nowhere else.
    return render_template("auth/recovery_codes.html", codes=codes,
                           next_url=response.location), 200


def user_recovery_codes(s: Session, user: User) -> list[RecoveryCode]:
    return list(s.scalars(select(RecoveryCode).where(RecoveryCode.user_id == user.id)))


@bp.route("/deconnexion", methods=["POST"])
def logout() -> Response:
    with unit_of_work() as s:
        record(s, "logout", object_type="user", object_id=current_user.public_id)
    logout_user()
    server = _server_session()
    server.clear()
    server.rotate()
    flash("Vous êtes déconnecté.", "info")
    return redirect(url_for("auth.login"))


@bp.route("/mot-de-passe", methods=["GET", "POST"])
def change_password() -> str | Response | tuple[str, int] | tuple[str, int, dict[str, str]]:
    form = ChangePasswordForm()
    if not form.validate_on_submit():
        return render_template("auth/change_password.html", form=form)
    svc = services()
    address = _address()
    with unit_of_work() as s:
        user = user_row(s, current_user.id)
        assert user is not None
        now = svc.clock.now()
        # A stolen session must not become a way to guess the password (and then change it):
        # the form shares the sign-in's counters.
        wait = svc.throttle.wait(s, user.username, address, now)
        if wait:
            record(s, "password.change_throttled", outcome="refused", object_type="user",
                   object_id=user.public_id)
            return _throttled("auth/change_password.html", form, wait)
        if not svc.passwords.verify(user.password_hash, form.current.data):
            svc.throttle.fail(s, user.username, address, now)
            record(s, "password.change_failure", outcome="failure", object_type="user",
                   object_id=user.public_id)
            form.current.errors = ["Mot de passe actuel incorrect."]
            return render_template("auth/change_password.html", form=form), 400
        problem = policy_problem(form.new.data, username=user.username)
        if problem is None and svc.passwords.verify(user.password_hash, form.new.data):
            problem = "Le nouveau mot de passe doit différer de l'actuel."
        if problem:
            form.new.errors = [problem]
            return render_template("auth/change_password.html", form=form), 400
        user.password_hash = svc.passwords.hash(form.new.data)
        user.must_change_password = False
        user.password_changed_at = now
        revoke_user_sessions(s, user.id, now)
        svc.throttle.succeed(s, user.username, address)
        record(s, "password.changed", object_type="user", object_id=user.public_id)
    logout_user()
    server = _server_session()
    server.clear()
    server.rotate()
    flash("Mot de passe modifié. Toutes vos sessions ont été fermées : reconnectez-vous.", "info")
    return redirect(url_for("auth.login"))
