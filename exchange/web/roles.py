"""The role spaces. Each blueprint is reserved to its role by the guard (BLUEPRINT_ROLES)."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import or_, select
from sqlalchemy.orm import selectinload
from werkzeug.wrappers import Response

from exchange import audit
from exchange.models.org import Convention
from exchange.web.helpers import record, services, unit_of_work

SPACES = {
    "social": ("/travailleur-social", "Espace travailleur social"),
    "advisor": ("/conseiller", "Espace conseiller France Travail"),
    "manager": ("/responsable", "Espace responsable de structure"),
    "coordinator": ("/pilotage", "Espace chargé de mission"),
}


def _unit_conventions() -> list[Convention]:
    """The conventions of the user's institution, in force today, with their partners."""
    today = services().clock.today()
    institution_id = current_user.institution.id
    with unit_of_work() as s:
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
        return render_template("roles/space.html", title=title, conventions=_unit_conventions())

    return bp


class VerifyForm(FlaskForm):
    pass


dpo = Blueprint("dpo", __name__, url_prefix="/dpo")


@dpo.route("/")
def dpo_index() -> str:
    return render_template("dpo/index.html", form=VerifyForm(), result=None)


@dpo.route("/verifier-journal", methods=["POST"])
def verify_chain() -> str | Response:
    form = VerifyForm()
    if not form.validate_on_submit():
        return redirect(url_for("dpo.dpo_index"))
    with unit_of_work() as s:
        result = audit.verify(s)
        record(s, "audit.verified", outcome="success" if result.ok else "failure",
               object_type="audit_chain", object_id=str(result.events))
    flash(result.describe(), "info" if result.ok else "error")
    return render_template("dpo/index.html", form=form, result=result)


def blueprints() -> list[Blueprint]:
    return [_space(name, prefix, title) for name, (prefix, title) in SPACES.items()] + [dpo]
