"""The role spaces. Each blueprint is reserved to its role by the guard (blueprint_roles()).
The DPO's and the coordinator's spaces belong to their features."""

from __future__ import annotations

from flask import Blueprint, render_template
from flask_login import current_user
from sqlalchemy import or_, select
from sqlalchemy.orm import selectinload

from exchange.fiches.reading import unit_summary
from exchange.org.models import Convention
from exchange.platform.current import services
from exchange.web.helpers import acting, reading

SPACES = {
    "social": ("/travailleur-social", "Espace travailleur social"),
    "advisor": ("/conseiller", "Espace conseiller France Travail"),
    "manager": ("/responsable", "Espace responsable de structure"),
}


def _unit_conventions() -> list[Convention]:
    """The conventions of the user's institution, in force today, with their partners."""
    today = services().clock.today()
    institution_id = current_user.institution.id
    with reading() as s:
        rows = s.scalars(
            select(Convention)
            .where(or_(Convention.institution_a_id == institution_id,
                       Convention.institution_b_id == institution_id))
            .options(selectinload(Convention.amendments),
                     selectinload(Convention.institution_a),
                     selectinload(Convention.institution_b))
            .order_by(Convention.start_date)
        ).all()
        return [c for c in rows if c.in_force(today)]


def _space(name: str, prefix: str, title: str) -> Blueprint:
    bp = Blueprint(name, __name__, url_prefix=prefix)

    @bp.route("/")
    def index() -> str:
        with acting(read_only=True) as ctx:
            summary = unit_summary(ctx)
        return render_template("roles/space.html", title=title, conventions=_unit_conventions(),
                               summary=summary)

    return bp


social = _space("social", *SPACES["social"])
advisor = _space("advisor", *SPACES["advisor"])
manager = _space("manager", *SPACES["manager"])
