"""Administration of accounts: creation leads to a forced enrolment and password change;
disabling and resets take effect on the person's open sessions at once."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from exchange.accounts import totp
from exchange.accounts.models import RecoveryCode, User, UserRole
from exchange.demo.seed import DEMO_PASSWORD
from exchange.domain.clock import FixedClock
from exchange.org.models import Unit
from tests.admin.support import count, db, events_since, field_error, head, public_id
from tests.conftest import login, post_form

INITIAL = "Mot de passe initial 2026"


@pytest.fixture
def admin(client: FlaskClient, clock: FixedClock) -> FlaskClient:
    login(client, "admin", clock)
    return client


@pytest.fixture
def colleague(app: Flask, clock: FixedClock) -> FlaskClient:
    """A social worker signed in on another browser."""
    other = app.test_client()
    login(other, "ts.montauban", clock)
    assert other.get("/travailleur-social/").status_code == 200
    return other


def _user(app: Flask, username: str) -> User:
    with db(app) as s:
        row = s.scalar(select(User).where(User.username == username))
        assert row is not None
        row.role_rows, row.unit  # noqa: B018 - loaded before the session closes
        return row


def _new_user_form(app: Flask, **changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "username": "lea.martin", "display_name": "Léa Martin",
        "email": "lea.martin@ledepartement82.fr",
        "unit": public_id(app, Unit, name="MDS de Castelsarrasin"),
        "roles": ["social_worker", "unit_manager"], "password": INITIAL, "confirm": INITIAL,
    }
    data.update(changes)
    return {name: value for name, value in data.items() if value is not None}


def _password_step(client: FlaskClient, username: str, password: str) -> Any:
    return post_form(client, "/connexion/", {"username": username, "password": password})


def _signed_out(client: FlaskClient) -> bool:
    return client.get("/").location == "/connexion/"


# -- creation ------------------------------------------------------------------------------


def test_created_user_must_enrol_a_second_factor_and_change_password(
        admin: FlaskClient, app: Flask, clock: FixedClock) -> None:
    before = head(app)
    answer = post_form(admin, "/admin/comptes/nouveau", _new_user_form(app))
    assert answer.status_code == 302
    row = _user(app, "lea.martin")
    assert answer.location == f"/admin/comptes/{row.public_id}"
    assert events_since(app, before) == [
        ("user.created", row.public_id), ("user.role_granted.social_worker", row.public_id),
        ("user.role_granted.unit_manager", row.public_id)]
    assert row.roles == {"social_worker", "unit_manager"}
    assert row.must_change_password and row.active and row.totp_enrolled_at is None
    assert row.password_hash.startswith("$argon2id$") and INITIAL not in row.password_hash
    assert row.unit.name == "MDS de Castelsarrasin"
    listing = admin.get("/admin/comptes/").get_data(as_text=True)
    assert "Second facteur à activer" in listing and "Mot de passe à changer" in listing

    person = app.test_client()
    assert _password_step(person, "lea.martin", INITIAL).location == "/connexion/enrolement"
    assert _signed_out(person)  # not signed in before the second factor
    page = person.get("/connexion/enrolement").get_data(as_text=True)
    secret = re.search(r'<code class="secret">([A-Z2-7]+)</code>', page)
    assert secret
    post_form(person, "/connexion/enrolement", {"code": totp.code_at(secret.group(1),
                                                                     clock.now())})
    assert person.get("/").location == "/connexion/mot-de-passe"
    assert person.get("/travailleur-social/").location == "/connexion/mot-de-passe"
    changed = post_form(person, "/connexion/mot-de-passe", {
        "current": INITIAL, "new": "une phrase de passe bien à moi", "confirm":
        "une phrase de passe bien à moi"})
    assert changed.location == "/connexion/"
    clock.advance(timedelta(seconds=totp.STEP))
    _password_step(person, "lea.martin", "une phrase de passe bien à moi")
    post_form(person, "/connexion/second-facteur",
              {"code": totp.code_at(secret.group(1), clock.now())})
    assert person.get("/travailleur-social/").status_code == 200


@pytest.mark.parametrize(("changes", "field", "message"), [
    ({"username": "Léa Martin"}, "username", "lettres minuscules sans accent"),
    ({"username": "lm"}, "username", "De 3 à 80 caractères"),
    ({"username": "ts.montauban"}, "username", "Cet identifiant est déjà utilisé."),
    ({"password": "azertyuiop123", "confirm": "azertyuiop123"}, "password",
     "mots de passe courants"),
    ({"password": "court", "confirm": "court"}, "password", "au moins 12 caractères"),
    ({"password": "lea.martin-2026-bis", "confirm": "lea.martin-2026-bis"}, "password",
     "ne doit pas contenir l'identifiant"),
    ({"confirm": "autre chose encore"}, "confirm", "Les deux mots de passe diffèrent."),
    ({"roles": None}, "roles", "Choisissez au moins un rôle."),
    ({"roles": ["superuser"]}, "roles", "pas un choix valide"),
    ({"unit": "0" * 32}, "unit", "pas un choix valide"),
    ({"email": "lea.martin"}, "email", "adresse électronique valide"),
    ({"display_name": ""}, "display_name", "Saisissez le nom affiché."),
])
def test_invalid_account_is_refused_and_nothing_is_saved(
        admin: FlaskClient, app: Flask, changes: dict[str, Any], field: str,
        message: str) -> None:
    before, users = head(app), count(app, User)
    answer = post_form(admin, "/admin/comptes/nouveau", _new_user_form(app, **changes))
    assert answer.status_code == 400
    assert message in field_error(answer, field)
    html = answer.get_data(as_text=True)
    assert INITIAL not in html  # a password is never sent back
    assert count(app, User) == users and events_since(app, before) == []


# -- editing -------------------------------------------------------------------------------


def test_editing_ignores_fields_the_form_does_not_offer(admin: FlaskClient, app: Flask) -> None:
    target = _user(app, "ts.montauban")
    path = f"/admin/comptes/{target.public_id}/modifier"
    assert 'value="Camille Travailleuse-Sociale"' in admin.get(path).get_data(as_text=True)
    before = head(app)
    answer = post_form(admin, path, {
        "display_name": "Camille Dupré", "email": "camille.dupre@ledepartement82.fr",
        "unit": public_id(app, Unit, name="MDS de Moissac"),
        "roles": ["social_worker", "coordinator"],
        # none of these is offered by the form
        "active": "", "password_hash": "x", "must_change_password": "y", "username": "root",
        "totp_secret": "", "public_id": "f" * 32})
    assert answer.location == f"/admin/comptes/{target.public_id}"
    assert events_since(app, before) == [("user.updated", target.public_id)]
    row = _user(app, "ts.montauban")
    assert (row.display_name, row.email, row.unit.name, row.roles) == (
        "Camille Dupré", "camille.dupre@ledepartement82.fr", "MDS de Moissac",
        {"social_worker", "coordinator"})
    assert row.active and not row.must_change_password
    assert (row.password_hash, row.totp_secret, row.public_id) == (
        target.password_hash, target.totp_secret, target.public_id)


def test_roles_change_takes_effect_on_the_next_request(admin: FlaskClient, app: Flask,
                                                       colleague: FlaskClient) -> None:
    target = _user(app, "ts.montauban")
    post_form(admin, f"/admin/comptes/{target.public_id}/modifier", {
        "display_name": target.display_name, "email": target.email,
        "unit": public_id(app, Unit, name="MDS de Montauban"), "roles": ["coordinator"]})
    assert colleague.get("/travailleur-social/").status_code == 403
    assert colleague.get("/pilotage/").status_code == 200


def test_an_administrator_cannot_remove_their_own_admin_role(admin: FlaskClient,
                                                            app: Flask) -> None:
    me = _user(app, "admin")
    before = head(app)
    answer = post_form(admin, f"/admin/comptes/{me.public_id}/modifier", {
        "display_name": me.display_name, "email": me.email,
        "unit": public_id(app, Unit, name="Direction de la cohésion sociale"),
        "roles": ["dpo"]})
    assert answer.status_code == 400
    assert "vos propres rôles" in field_error(answer, "roles")
    assert _user(app, "admin").roles == {"admin"}
    assert events_since(app, before) == [("user.own_roles_refused", me.public_id)]


def _own_edit(admin: FlaskClient, app: Flask, **changes: Any) -> Any:
    me = _user(app, "admin")
    data = {"display_name": me.display_name, "email": me.email,
            "unit": me.unit.public_id, "roles": sorted(me.roles), **changes}
    return post_form(admin, f"/admin/comptes/{me.public_id}/modifier", data)


def test_admin_cannot_grant_themself_a_role(admin: FlaskClient, app: Flask) -> None:
    me = _user(app, "admin")
    page = admin.get(f"/admin/comptes/{me.public_id}/modifier").get_data(as_text=True)
    assert "ne peuvent être modifiés que par un autre administrateur" in page
    for roles in (["admin", "social_worker"], ["admin", "dpo"], ["admin", "coordinator"]):
        before = head(app)
        answer = _own_edit(admin, app, roles=roles, display_name="Administrateur renommé")
        assert answer.status_code == 400
        assert field_error(answer, "roles") == ("Vous ne pouvez pas modifier vos propres rôles "
                                                ": demandez-le à un autre administrateur.")
        assert events_since(app, before) == [("user.own_roles_refused", me.public_id)]
        assert (_user(app, "admin").roles, _user(app, "admin").display_name) == (
            {"admin"}, me.display_name)  # nothing of the form is saved
    assert admin.get("/travailleur-social/").status_code == 403
    assert admin.get("/dpo/").status_code == 403
    # What stays theirs to change: their name and address.
    assert _own_edit(admin, app, display_name="Administratrice").status_code == 302
    assert _user(app, "admin").display_name == "Administratrice"


def test_admin_holding_a_personal_data_role_cannot_move_themself_to_another_unit(
        admin: FlaskClient, app: Flask) -> None:
    """A social worker sees their unit's persons: choosing one's own unit is choosing whose."""
    with db(app) as s:
        me = s.scalar(select(User).where(User.username == "admin"))
        assert me is not None
        me.role_rows.append(UserRole(role="social_worker"))  # given by another administrator
    before = head(app)
    answer = _own_edit(admin, app, unit=public_id(app, Unit, name="MDS de Montauban"))
    assert answer.status_code == 400
    assert "votre propre structure" in field_error(answer, "unit")
    assert _user(app, "admin").unit.name == "Direction de la cohésion sociale"
    assert events_since(app, before) == [("user.own_roles_refused", _user(app, "admin").public_id)]


def test_role_grant_is_shown_to_the_dpo(admin: FlaskClient, app: Flask,
                                        clock: FixedClock) -> None:
    before = head(app)
    post_form(admin, "/admin/comptes/nouveau", _new_user_form(app))  # social worker + manager
    lea = _user(app, "lea.martin")
    # A role that opens no personal data is no grant; one already held in the institution
    # neither.
    worker = _user(app, "ts.montauban")
    post_form(admin, f"/admin/comptes/{worker.public_id}/modifier", {
        "display_name": worker.display_name, "email": worker.email,
        "unit": worker.unit.public_id, "roles": ["social_worker", "coordinator"]})
    # Moved into the Département, the CIAS's social worker now opens the Département's data.
    lodeve = _user(app, "ts.lodeve")
    post_form(admin, f"/admin/comptes/{lodeve.public_id}/modifier", {
        "display_name": lodeve.display_name, "email": lodeve.email,
        "unit": public_id(app, Unit, name="MDS de Moissac"), "roles": ["social_worker"]})
    # France Travail's coordinator made an advisor: France Travail's DPO's business.
    coordinator = _user(app, "cm.francetravail")
    post_form(admin, f"/admin/comptes/{coordinator.public_id}/modifier", {
        "display_name": coordinator.display_name, "email": coordinator.email,
        "unit": coordinator.unit.public_id, "roles": ["coordinator", "advisor"]})
    grants = [(action, object_id) for action, object_id in events_since(app, before)
              if action.startswith("user.role_granted.")]
    assert grants == [("user.role_granted.social_worker", lea.public_id),
                      ("user.role_granted.unit_manager", lea.public_id),
                      ("user.role_granted.social_worker", lodeve.public_id),
                      ("user.role_granted.advisor", coordinator.public_id)]

    dpo = app.test_client()
    login(dpo, "dpo.departement", clock)
    assert "Attributions de rôles" in dpo.get("/dpo/").get_data(as_text=True)
    page = dpo.get("/dpo/attributions-de-roles")
    assert page.status_code == 200
    rows = re.findall(r"<tr>\s*<td>[^<]*</td>\s*<td>[^<]*<code>([^<]+)</code></td>\s*"
                      r"<td>([^<]*)</td>\s*<td>([^<]*)</td>\s*<td><code>([^<]+)</code>",
                      page.get_data(as_text=True))
    assert sorted(rows) == sorted([
        ("lea.martin", "MDS de Castelsarrasin", "Travailleur social", "admin"),
        ("lea.martin", "MDS de Castelsarrasin", "Responsable de structure", "admin"),
        ("ts.lodeve", "MDS de Moissac", "Travailleur social", "admin")])
    assert "cm.francetravail" not in page.get_data(as_text=True)


# -- disabling and resets ------------------------------------------------------------------


def test_disabling_a_user_kills_their_open_session(admin: FlaskClient, app: Flask,
                                                   colleague: FlaskClient,
                                                   clock: FixedClock) -> None:
    target = _user(app, "ts.montauban")
    before = head(app)
    answer = post_form(admin, f"/admin/comptes/{target.public_id}/desactiver", {},
                       form_page=f"/admin/comptes/{target.public_id}")
    assert answer.location == f"/admin/comptes/{target.public_id}"
    assert events_since(app, before) == [("user.disabled", target.public_id)]
    assert not _user(app, "ts.montauban").active

    next_request = colleague.get("/travailleur-social/")
    assert next_request.status_code == 302 and next_request.location == "/connexion/"
    clock.advance(timedelta(seconds=totp.STEP))
    assert _password_step(colleague, "ts.montauban", DEMO_PASSWORD).status_code == 401
    assert "Désactivé" in admin.get("/admin/comptes/").get_data(as_text=True)

    before = head(app)
    post_form(admin, f"/admin/comptes/{target.public_id}/reactiver", {},
              form_page=f"/admin/comptes/{target.public_id}")
    assert events_since(app, before) == [("user.enabled", target.public_id)]
    login(colleague, "ts.montauban", clock)
    assert colleague.get("/travailleur-social/").status_code == 200


def test_an_administrator_cannot_disable_themself(admin: FlaskClient, app: Flask) -> None:
    me = _user(app, "admin")
    page = admin.get(f"/admin/comptes/{me.public_id}").get_data(as_text=True)
    assert "Désactiver le compte" not in page
    before = head(app)
    answer = post_form(admin, f"/admin/comptes/{me.public_id}/desactiver", {},
                       form_page="/admin/comptes/nouveau")
    assert answer.status_code == 302
    assert "propre compte" in admin.get(answer.location).get_data(as_text=True)
    assert _user(app, "admin").active and events_since(app, before) == []
    assert admin.get("/admin/").status_code == 200


def test_reset_second_factor_kills_sessions_and_recovery_codes(
        admin: FlaskClient, app: Flask, colleague: FlaskClient, clock: FixedClock) -> None:
    target = _user(app, "ts.montauban")
    with db(app) as s:
        s.add(RecoveryCode(user_id=target.id, code_hash=totp.recovery_hash("abcd-efgh-ijkl")))
    before = head(app)
    answer = post_form(admin, f"/admin/comptes/{target.public_id}/second-facteur", {},
                       form_page=f"/admin/comptes/{target.public_id}")
    assert answer.location == f"/admin/comptes/{target.public_id}"
    assert events_since(app, before) == [("user.second_factor_reset", target.public_id)]
    row = _user(app, "ts.montauban")
    assert (row.totp_secret, row.totp_enrolled_at, row.totp_last_step) == (None, None, 0)
    with db(app) as s:
        assert s.scalar(select(func.count()).select_from(RecoveryCode)
                        .where(RecoveryCode.user_id == target.id)) == 0

    assert _signed_out(colleague)
    clock.advance(timedelta(seconds=totp.STEP))
    assert (_password_step(colleague, "ts.montauban", DEMO_PASSWORD).location
            == "/connexion/enrolement")


def test_reset_password_kills_sessions_and_forces_a_change(
        admin: FlaskClient, app: Flask, colleague: FlaskClient, clock: FixedClock) -> None:
    target = _user(app, "ts.montauban")
    path = f"/admin/comptes/{target.public_id}/mot-de-passe"
    weak = post_form(admin, path, {"password": "motdepasse", "confirm": "motdepasse"})
    assert weak.status_code == 400 and "au moins 12" in field_error(weak, "password")
    same = post_form(admin, path, {"password": DEMO_PASSWORD, "confirm": DEMO_PASSWORD})
    assert "différer de l'actuel" in field_error(same, "password")
    assert not _signed_out(colleague)

    before = head(app)
    answer = post_form(admin, path, {"password": INITIAL, "confirm": INITIAL})
    assert answer.location == f"/admin/comptes/{target.public_id}"
    assert events_since(app, before) == [("user.password_reset", target.public_id)]
    assert _user(app, "ts.montauban").must_change_password
    assert _signed_out(colleague)
    clock.advance(timedelta(seconds=totp.STEP))
    assert _password_step(colleague, "ts.montauban", DEMO_PASSWORD).status_code == 401
    login(colleague, "ts.montauban", clock, password=INITIAL)
    assert colleague.get("/").location == "/connexion/mot-de-passe"


def test_own_password_is_changed_on_the_personal_page(admin: FlaskClient, app: Flask) -> None:
    me = _user(app, "admin")
    answer = admin.get(f"/admin/comptes/{me.public_id}/mot-de-passe")
    assert answer.location == "/connexion/mot-de-passe"


def test_buttons_are_post_only(admin: FlaskClient, app: Flask) -> None:
    target = _user(app, "ts.montauban")
    for action in ("desactiver", "reactiver", "second-facteur"):
        assert admin.get(f"/admin/comptes/{target.public_id}/{action}").status_code == 405
    assert _user(app, "ts.montauban").active


def test_a_button_without_csrf_token_is_refused(admin: FlaskClient, app: Flask) -> None:
    target = _user(app, "ts.montauban")
    before = head(app)
    answer = admin.post(f"/admin/comptes/{target.public_id}/desactiver")
    assert answer.status_code == 400
    assert _user(app, "ts.montauban").active
    assert events_since(app, before) == [("csrf.refused", "admin.user_disable")]
