"""The accompaniments of the user's unit: the caseload with its alerts, the advisor's active
count against the target, and a page per accompaniment to record its entry, renew it once,
note the mid-term review and close it.

One unit of work per view; the use cases (``exchange.fiches.accompaniments``) check the rules
and write the audit event. Pages show dates, states and fixed-list reasons only: the person is
named on the persons pages, never here.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from werkzeug.wrappers import Response as BaseResponse

from exchange.acting import Context
from exchange.domain import accompaniment as rules
from exchange.domain.errors import DomainError, ValidationFailed
from exchange.domain.fields import date_error, parse_iso_date
from exchange.fiches import accompaniments
from exchange.fiches.forms import FORMAT, public_id, refuse
from exchange.fiches.models import Accompaniment, Fiche
from exchange.fiches.views import person_url
from exchange.platform.current import services
from exchange.policy import WRITER_ROLES, visible_accompaniment
from exchange.web.helpers import acting

bp = Blueprint("accompaniments", __name__, url_prefix="/accompagnements")

MIDTERM_NOTICE_DAYS = 30


def alerts(a: Accompaniment, today: date) -> list[str]:
    found = []
    if a.exit_date is None and rules.entry_overdue(a.proposal_date, a.entry_date, today):
        found.append(f"Entrée non réalisée dans les {rules.ENTRY_TARGET_DAYS} jours")
    if (a.exit_date is None and a.midterm_due is not None and a.midterm_done_on is None
            and (a.midterm_due - today).days <= MIDTERM_NOTICE_DAYS):
        found.append("Bilan à mi-parcours à faire")
    return found


def status(a: Accompaniment) -> str:
    if a.exit_date is not None:
        return "Clos"
    if a.entry_date is None:
        return "En attente d'entrée"
    return "En cours" + (" (renouvelé)" if a.renewed else "")


@bp.route("/")
def index() -> str:
    with acting(read_only=True) as ctx:
        today = ctx.svc.clock.today()
        rows = accompaniments.caseload(ctx)
        advisor = ctx.agent.has_role("advisor")
        return render_template(
            "accompaniments/index.html",
            lines=[(a, status(a), alerts(a, today)) for a in rows],
            active=accompaniments.active_count(ctx, ctx.agent.id) if advisor else None,
            target=rules.CASELOAD_TARGET,
            due=accompaniments.midterm_reviews_due(ctx, MIDTERM_NOTICE_DAYS),
            deadline=rules.entry_deadline, **FORMAT)


def _accompaniment(ctx: Context, pid: str) -> Accompaniment:
    """NotVisible leaves the view: the audited 404 of `exchange.web.errors`."""
    return visible_accompaniment(ctx.session, ctx.agent, public_id(pid))


def _page(ctx: Context, a: Accompaniment, errors: dict[str, str] | None = None,
          values: dict[str, str] | None = None, code: int = 200) -> tuple[str, int]:
    today = ctx.svc.clock.today()
    orientation = ctx.session.get(Fiche, a.orientation_id)
    return render_template(
        "accompaniments/show.html", a=a, status=status(a), alerts=alerts(a, today),
        orientation=orientation, errors=errors or {}, values=values or {},
        today=today.isoformat(), entry_deadline=rules.entry_deadline(a.proposal_date),
        pair=accompaniments.is_pair(ctx, a), pair_only=accompaniments.PAIR_ONLY,
        can_renew=a.entry_date is not None and not a.renewed and a.exit_date is None,
        person_url=person_url(a.person.public_id), **FORMAT), code


@bp.route("/<pid>")
def show(pid: str) -> tuple[str, int]:
    with acting(read_only=True) as ctx:
        return _page(ctx, _accompaniment(ctx, pid))


def _change(pid: str, call: Callable[[Context, Accompaniment], object], done: str,
            values: dict[str, str] | None = None,
            errors: dict[str, str] | None = None) -> tuple[str, int] | BaseResponse:
    """Run one use case on the accompaniment; a form error shows the page again with the
    message next to the field, another refusal is flashed; both are rolled back and recorded.
    A user without a writer role (a unit manager) is refused whatever the id, as for a new
    fiche (403, recorded as ``access.refused``); a colleague outside the pair is refused by the
    use case."""
    if not current_user.has_role(*WRITER_ROLES):
        abort(403)
    with acting() as ctx:
        a = _accompaniment(ctx, pid)
        try:
            if errors:
                raise ValidationFailed(errors)
            call(ctx, a)
        except ValidationFailed as exc:
            refuse(ctx, None, action="accompaniment.refused", object_type="accompaniment",
                   object_id=pid)
            return _page(ctx, _accompaniment(ctx, pid), exc.errors, values, 422)
        except DomainError as exc:
            refuse(ctx, exc.message, action="accompaniment.refused",
                   object_type="accompaniment", object_id=pid)
            return redirect(url_for(".show", pid=pid), 303)
    flash(done, "success")
    return redirect(url_for(".show", pid=pid), 303)


def _day(name: str, today: date) -> tuple[date | None, dict[str, str]]:
    """A posted date, or the French message for the field when it is missing or malformed."""
    raw = request.form.get(name, "")
    day = parse_iso_date(raw)
    if day is None:
        return None, {name: date_error(raw, required=True, today=today) or ""}
    return day, {}


def _today() -> date:
    return services().clock.today()


@bp.route("/<pid>/entree", methods=["POST"])
def entry(pid: str) -> tuple[str, int] | BaseResponse:
    day, errors = _day("entry_date", _today())
    return _change(pid, lambda ctx, a: accompaniments.record_entry(ctx, a, day),
                   "La date d'entrée en accompagnement est enregistrée.",
                   dict(request.form), errors)


@bp.route("/<pid>/renouveler", methods=["POST"])
def renew(pid: str) -> tuple[str, int] | BaseResponse:
    return _change(pid, accompaniments.renew,
                   "L'accompagnement est renouvelé pour 6 mois.")


@bp.route("/<pid>/mi-parcours", methods=["POST"])
def midterm(pid: str) -> tuple[str, int] | BaseResponse:
    day, errors = _day("midterm_date", _today())

    def done(ctx: Context, a: Accompaniment) -> None:
        assert day is not None
        accompaniments.midterm_done(ctx, a, day)

    return _change(pid, done, "Le bilan à mi-parcours est enregistré.",
                   dict(request.form), errors)


@bp.route("/<pid>/cloture", methods=["POST"])
def close(pid: str) -> tuple[str, int] | BaseResponse:
    raw = request.form.get("exit_date", "")
    exit_day = parse_iso_date(raw)
    errors: dict[str, Any] = {}
    if raw.strip() and exit_day is None:
        errors["exit_date"] = date_error(raw, required=True, today=_today())
    reason, text = request.form.get("exit_reason", ""), request.form.get("exit_text", "")
    return _change(pid, lambda ctx, a: accompaniments.close(ctx, a, exit_day, reason, text),
                   "L'accompagnement est clos.", dict(request.form), errors)
