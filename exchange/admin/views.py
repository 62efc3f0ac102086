"""Administration: institutions, units, conventions and their amendments, user accounts.

The guard reserves this blueprint to the "admin" role. Every change goes through a FlaskForm
(CSRF), is written in one unit of work with exactly one audit event naming the object by its
public id, and is followed by a redirect. The views live in admin_org, admin_conventions and
admin_users; the table below is the one place that gives them their URLs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, render_template
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from exchange.accounts.models import User
from exchange.admin import conventions_views as admin_conventions
from exchange.admin import org_views as admin_org
from exchange.admin import users_views as admin_users
from exchange.domain.vocabulary import InstitutionKind, Role, UnitKind
from exchange.org.models import Convention, Institution, Unit
from exchange.platform.current import services
from exchange.web.helpers import reading

bp = Blueprint("admin", __name__, url_prefix="/admin")


def _label(enum: Any) -> Callable[[str], str]:
    def label(value: str) -> str:
        try:
            return str(enum(value).label)
        except ValueError:  # a value this release does not know: show it as stored
            return value

    return label


@bp.context_processor
def labels() -> dict[str, Any]:
    return {"kind_label": _label(InstitutionKind), "unit_kind_label": _label(UnitKind),
            "role_label": _label(Role)}


def index() -> str:
    today = services().clock.today()
    with reading() as s:
        def count(*where: Any, model: Any = User) -> int:
            return s.scalar(select(func.count()).select_from(model).where(*where)) or 0

        conventions = s.scalars(select(Convention)
                                .options(selectinload(Convention.amendments))).all()
        counts = {
            "institutions": count(model=Institution),
            "units": count(model=Unit),
            "conventions": len(conventions),
            "conventions_in_force": sum(1 for c in conventions if c.in_force(today)),
            "users": count(),
            "users_active": count(User.active.is_(True)),
            "users_disabled": count(User.active.is_(False)),
            "users_not_enrolled": count(User.active.is_(True), User.totp_enrolled_at.is_(None)),
        }
    return render_template("admin/index.html", counts=counts)


GET, FORM, POST = ["GET"], ["GET", "POST"], ["POST"]
ROUTES: list[tuple[str, str, Callable[..., Any], list[str]]] = [
    ("/", "index", index, GET),
    ("/institutions/", "institutions", admin_org.institutions, GET),
    ("/institutions/nouvelle", "institution_new", admin_org.institution_new, FORM),
    ("/institutions/<pid>", "institution", admin_org.institution, GET),
    ("/institutions/<pid>/modifier", "institution_edit", admin_org.institution_edit, FORM),
    ("/institutions/<pid>/structures/nouvelle", "unit_new", admin_org.unit_new, FORM),
    ("/structures/<pid>/modifier", "unit_edit", admin_org.unit_edit, FORM),
    ("/conventions/", "conventions", admin_conventions.conventions, GET),
    ("/conventions/nouvelle", "convention_new", admin_conventions.convention_new, FORM),
    ("/conventions/<pid>", "convention", admin_conventions.convention, GET),
    ("/conventions/<pid>/modifier", "convention_edit", admin_conventions.convention_edit, FORM),
    ("/conventions/<pid>/avenants/nouveau", "convention_amend",
     admin_conventions.convention_amend, FORM),
    ("/comptes/", "users", admin_users.users, GET),
    ("/comptes/nouveau", "user_new", admin_users.user_new, FORM),
    ("/comptes/<pid>", "user", admin_users.user, GET),
    ("/comptes/<pid>/modifier", "user_edit", admin_users.user_edit, FORM),
    ("/comptes/<pid>/desactiver", "user_disable", admin_users.user_disable, POST),
    ("/comptes/<pid>/reactiver", "user_enable", admin_users.user_enable, POST),
    ("/comptes/<pid>/mot-de-passe", "user_reset_password", admin_users.user_reset_password,
     FORM),
    ("/comptes/<pid>/second-facteur", "user_reset_second_factor",
     admin_users.user_reset_second_factor, POST),
]

for _rule, _endpoint, _view, _methods in ROUTES:
    bp.add_url_rule(_rule, _endpoint, _view, methods=_methods)
