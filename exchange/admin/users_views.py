"""Administration of staff accounts: creation, roles and unit, disabling, password and
second-factor resets. Whatever takes a credential away also revokes the account's sessions in
the same transaction, so the next request of that person lands on the sign-in page.

An administrator holds no role that opens personal data, and cannot give themself one: their
own roles are not theirs to change, nor, once they hold such a role, their own unit. Every grant
of a role that opens personal data (to a new account, to an account, or carried into another
institution by a change of unit) is one `user.role_granted.<role>` event about the account,
which the DPO of the account's institution sees (`exchange.dpo.grants_views`)."""

from __future__ import annotations

from flask import flash, redirect, render_template, url_for
from flask_login import current_user
from sqlalchemy import delete, select
from sqlalchemy.orm import Session, selectinload
from werkzeug.wrappers import Response
from wtforms.fields.choices import SelectChoice

from exchange.accounts.models import RecoveryCode, User, UserRole
from exchange.accounts.passwords import policy_problem
from exchange.accounts.sessions import revoke_user_sessions
from exchange.admin.page_views import one, page, prefilled, save_changes
from exchange.org.models import Institution, Unit
from exchange.platform.current import services
from exchange.policy import PERSONAL_DATA_ROLES, ROLE_GRANTED
from exchange.web.forms import (
    BLANK_CHOICE,
    ConfirmForm,
    PasswordResetForm,
    UserCreateForm,
    UserEditForm,
    refuse,
)
from exchange.web.helpers import reading, record, unit_of_work

OWN_ACCOUNT = ("Vous ne pouvez pas faire cette opération sur votre propre compte : demandez-la à "
               "un autre administrateur.")
OWN_ROLES = ("Vous ne pouvez pas modifier vos propres rôles : demandez-le à un autre "
             "administrateur.")
OWN_UNIT = ("Vous ne pouvez pas changer votre propre structure tant que vous avez un rôle qui "
            "donne accès à des données personnelles : demandez-le à un autre administrateur.")


def _with_unit() -> tuple[object, ...]:
    return (selectinload(User.role_rows),
            selectinload(User.unit).selectinload(Unit.institution))


def users() -> str:
    with reading() as s:
        rows = s.scalars(select(User).options(*_with_unit()).order_by(User.username)).all()
        return render_template("admin/users.html", users=rows)


def user(pid: str) -> str:
    with reading() as s:
        row = one(s, User, pid)
        return render_template("admin/user.html", user=row, confirm=ConfirmForm(),
                               own=row.id == current_user.id)


def _units(s: Session, form: UserEditForm) -> dict[str, Unit]:
    """Offer every unit by public id, grouped under its institution."""
    rows = s.scalars(select(Unit).join(Institution, Unit.institution_id == Institution.id)
                     .options(selectinload(Unit.institution))
                     .order_by(Institution.name, Unit.name)).all()
    form.unit.choices = [BLANK_CHOICE, *(SelectChoice(u.public_id, u.name,
                                                      optgroup=u.institution.name)
                                         for u in rows)]
    return {u.public_id: u for u in rows}


def _set_roles(row: User, roles: set[str]) -> bool:
    """Remove and add role rows one by one: replacing the list would insert before deleting."""
    changed = False
    for existing in list(row.role_rows):
        if existing.role not in roles:
            row.role_rows.remove(existing)
            changed = True
    for role in sorted(roles - row.roles):
        row.role_rows.append(UserRole(role=role))
        changed = True
    return changed


def _granted(row: User | None, roles: set[str], unit: Unit) -> list[str]:
    """The roles opening personal data that `roles` gives the account in `unit`'s institution
    and that it did not hold there: new ones, or all of them when it changes institution."""
    sensitive = roles & PERSONAL_DATA_ROLES
    if row is not None and row.unit.institution_id == unit.institution_id:
        sensitive -= row.roles
    return sorted(sensitive)


def _record_grants(s: Session, row: User, roles: list[str]) -> None:
    for role in roles:
        record(s, ROLE_GRANTED + role, object_type="user", object_id=row.public_id)


def user_new() -> Response | tuple[str, int]:
    svc = services()
    with unit_of_work() as s:
        form = UserCreateForm()
        units = _units(s, form)
        if form.validate_on_submit():
            username = form.username.data
            if s.scalar(select(User.id).where(User.username == username)) is not None:
                refuse(form.username, "Cet identifiant est déjà utilisé.")
            problem = policy_problem(form.password.data, username=username)
            if problem:
                refuse(form.password, problem)
            if not form.errors:
                row = User(username=username, display_name=form.display_name.data,
                           email=form.email.data, unit_id=units[form.unit.data].id,
                           password_hash=svc.passwords.hash(form.password.data),
                           must_change_password=True, active=True, totp_last_step=0,
                           created_at=svc.clock.now())
                roles = set(form.roles.data)
                _set_roles(row, roles)
                s.add(row)
                s.flush()
                record(s, "user.created", object_type="user", object_id=row.public_id)
                _record_grants(s, row, _granted(None, roles, units[form.unit.data]))
                flash("Compte créé. Communiquez le mot de passe initial à la personne par un "
                      "autre canal : elle le changera et activera son second facteur à sa "
                      "première connexion.", "success")
                return redirect(url_for("admin.user", pid=row.public_id))
        return page("admin/user_form.html", form, user=None)


def user_edit(pid: str) -> Response | tuple[str, int]:
    with unit_of_work() as s:
        row = one(s, User, pid)
        form = prefilled(UserEditForm, {
            "display_name": row.display_name, "email": row.email,
            "unit": row.unit.public_id, "roles": sorted(row.roles)})
        units = _units(s, form)
        own = row.id == current_user.id
        if form.validate_on_submit():
            roles, unit = set(form.roles.data), units[form.unit.data]
            if own and roles != row.roles:
                refuse(form.roles, OWN_ROLES)
            elif own and unit.id != row.unit_id and row.roles & PERSONAL_DATA_ROLES:
                refuse(form.unit, OWN_UNIT)
            else:
                granted = _granted(row, roles, unit)
                save_changes(s, row, {
                    "display_name": form.display_name.data, "email": form.email.data,
                    "unit_id": unit.id}, "user.updated", "Compte modifié.",
                    changed=_set_roles(row, roles))
                _record_grants(s, row, granted)
                return redirect(url_for("admin.user", pid=row.public_id))
            record(s, "user.own_roles_refused", outcome="refused", object_type="user",
                   object_id=row.public_id)
        return page("admin/user_form.html", form, user=row, own=own)


def _confirmed_other(s: Session, pid: str) -> User | Response:
    """The account a button acts on; a redirect back when the form or the target is refused."""
    row = one(s, User, pid)
    if not ConfirmForm().validate_on_submit():
        flash("Le formulaire a expiré : recommencez.", "error")
        return redirect(url_for("admin.user", pid=row.public_id))
    if row.id == current_user.id:
        flash(OWN_ACCOUNT, "error")
        return redirect(url_for("admin.user", pid=row.public_id))
    return row


def user_disable(pid: str) -> Response:
    return _set_active(pid, False)


def user_enable(pid: str) -> Response:
    return _set_active(pid, True)


def _set_active(pid: str, active: bool) -> Response:
    with unit_of_work() as s:
        row = _confirmed_other(s, pid)
        if isinstance(row, Response):
            return row
        if row.active == active:
            flash("Ce compte est déjà " + ("actif." if active else "désactivé."), "info")
        elif active:
            row.active = True
            record(s, "user.enabled", object_type="user", object_id=row.public_id)
            flash("Compte réactivé.", "success")
        else:
            row.active = False
            revoke_user_sessions(s, row.id, services().clock.now())
            record(s, "user.disabled", object_type="user", object_id=row.public_id)
            flash("Compte désactivé : ses sessions ouvertes ont été fermées.", "success")
        return redirect(url_for("admin.user", pid=row.public_id))


def user_reset_second_factor(pid: str) -> Response:
    with unit_of_work() as s:
        row = _confirmed_other(s, pid)
        if isinstance(row, Response):
            return row
        row.totp_secret = None
        row.totp_enrolled_at = None
        row.totp_last_step = 0
        s.execute(delete(RecoveryCode).where(RecoveryCode.user_id == row.id))
        revoke_user_sessions(s, row.id, services().clock.now())
        record(s, "user.second_factor_reset", object_type="user", object_id=row.public_id)
        flash("Second facteur réinitialisé : la personne en activera un nouveau à sa prochaine "
              "connexion. Ses sessions ouvertes et ses codes de secours ont été supprimés.",
              "success")
        return redirect(url_for("admin.user", pid=row.public_id))


def user_reset_password(pid: str) -> Response | tuple[str, int]:
    svc = services()
    with unit_of_work() as s:
        row = one(s, User, pid)
        if row.id == current_user.id:
            flash("Pour votre propre compte, changez votre mot de passe vous-même.", "info")
            return redirect(url_for("auth.change_password"))
        form = PasswordResetForm()
        if form.validate_on_submit():
            problem = policy_problem(form.password.data, username=row.username)
            if problem is None and svc.passwords.verify(row.password_hash, form.password.data):
                problem = "Le nouveau mot de passe doit différer de l'actuel."
            if problem:
                refuse(form.password, problem)
            else:
                row.password_hash = svc.passwords.hash(form.password.data)
                row.must_change_password = True
                revoke_user_sessions(s, row.id, svc.clock.now())
                record(s, "user.password_reset", object_type="user", object_id=row.public_id)
                flash("Mot de passe réinitialisé : la personne devra le changer à sa prochaine "
                      "connexion. Ses sessions ouvertes ont été fermées.", "success")
                return redirect(url_for("admin.user", pid=row.public_id))
        return page("admin/user_password.html", form, user=row)
