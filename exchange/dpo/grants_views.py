"""The DPO's list of the roles opening personal data granted to accounts of their institution.

An administrator manages accounts but holds no role that opens personal data, and cannot give
themself one (`exchange.admin.users_views`); what they can do is give one to an account, maybe an
account they made for that purpose. Each such grant is a `user.role_granted.<role>` event of the
audit chain about the account; this page lists those of the accounts that belong to the DPO's
institution now (an account moved to another institution is listed there, where the move
recorded its roles as granted again).

The page is a blueprint of its own under the DPO's space, reserved to the dpo role by the guard.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flask import Blueprint, render_template
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import aliased

from exchange.accounts.models import User
from exchange.audit.models import AuditEvent
from exchange.domain.vocabulary import Role
from exchange.dpo.views import when
from exchange.org.models import Unit
from exchange.policy import PERSONAL_DATA_ROLES, ROLE_GRANTED
from exchange.web.helpers import reading

bp = Blueprint("dpo_grants", __name__, url_prefix="/dpo/attributions-de-roles")

SHOWN = 200
GRANTS = sorted(ROLE_GRANTED + role for role in PERSONAL_DATA_ROLES)


@dataclass(frozen=True)
class Grant:
    at: datetime
    username: str
    display_name: str
    unit: str
    role: str
    by: str


@bp.route("")
def role_grants() -> str:
    grantor = aliased(User)
    with reading() as s:
        rows = s.execute(
            select(AuditEvent.at, AuditEvent.action, User.username, User.display_name,
                   Unit.name, grantor.username)
            .join(User, User.public_id == AuditEvent.object_id)
            .join(Unit, Unit.id == User.unit_id)
            .outerjoin(grantor, grantor.public_id == AuditEvent.actor_user_id)
            .where(AuditEvent.action.in_(GRANTS), AuditEvent.object_type == "user",
                   Unit.institution_id == current_user.institution.id)
            .order_by(AuditEvent.at.desc(), AuditEvent.seq.desc())
            .limit(SHOWN)
        ).all()
    grants = [Grant(at=at, username=username, display_name=name, unit=unit,
                    role=Role(action.removeprefix(ROLE_GRANTED)).label, by=by or "—")
              for at, action, username, name, unit, by in rows]
    return render_template("dpo/role_grants.html", grants=grants, shown=SHOWN, when=when)
