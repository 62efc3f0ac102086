"""Conservation: the advance notice of deletions, a referent's "no longer needed" mark, and
for the DPO the signed deletion reports and the legal holds.

Referents (social workers, advisors) and unit managers see their unit's items; the DPO sees
every item. The lists carry metadata only (`retention.notice`). Ids travel in form bodies.
"""

from __future__ import annotations

from flask import Blueprint, Response, abort, flash, redirect, render_template, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response as WerkzeugResponse
from wtforms import HiddenField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice

from exchange.models.fiches import Accompaniment, Fiche
from exchange.policy import NotVisible, accompaniment_query, fiche_query
from exchange.web.helpers import (
    client_address,
    current_actor,
    reading,
    record,
    services,
    unit_of_work,
)
from retention import holds, notice, reports
from retention.horizons import Sealing
from retention.models import LegalHold

bp = Blueprint("retention", __name__, url_prefix="/conservation")

MARKERS = ("social_worker", "advisor")


class MarkForm(FlaskForm):
    kind = HiddenField()
    item = HiddenField()


class HoldForm(FlaskForm):
    kind = SelectField("Objet", choices=[SelectChoice("person", "Une personne"),
                                         SelectChoice("fiche", "Une fiche")],
                       validate_choice=False)
    target = StringField("Identifiant public (32 caractères, tel qu'il figure au journal "
                         "d'audit)")
    reason = SelectField("Motif", choices=[SelectChoice("", "— Choisissez —"),
                                           *(SelectChoice(code, label)
                                             for code, label in holds.REASONS.items())],
                         validate_choice=False)
    note = TextAreaField("Note (chiffrée ; obligatoire pour « Autre motif ») — n'y inscrivez "
                         "pas l'identité de la personne")


class LiftForm(FlaskForm):
    hold = HiddenField()


def _dpo_only() -> None:
    if not current_user.has_role("dpo"):
        abort(403)


def _sealing(session: Session) -> Sealing:
    svc = services()
    return Sealing(svc.documents(session), svc.personal(session), svc.clock.today())


@bp.route("/")
def index() -> str:
    svc = services()
    days = svc.settings.retention_notice_days
    dpo = current_user.has_role("dpo")
    with reading() as s:
        items = notice.upcoming(s, svc.clock.today(), days=days,
                                unit_id=None if dpo else current_user.unit_id)
    return render_template("retention/index.html", items=items, days=days, dpo=dpo,
                           may_mark=current_user.has_role(*MARKERS), form=MarkForm())


@bp.route("/plus-necessaire", methods=["POST"])
def mark() -> WerkzeugResponse:
    if not current_user.has_role(*MARKERS):
        abort(403)
    form = MarkForm()
    if not form.validate_on_submit():
        abort(400)
    svc = services()
    with unit_of_work() as s:
        try:
            target = _visible(s, form.kind.data or "", form.item.data or "")
        except NotVisible:
            abort(404)
        holds.mark_no_longer_needed(
            s, target, day=svc.clock.today(), by_user_id=current_user.id,
            actor=current_actor(), at=svc.clock.now(), sealing=_sealing(s),
            address=client_address())
    flash("C'est noté : ces données seront supprimées à l'issue du délai de grâce de la "
          "convention.", "success")
    return redirect(url_for("retention.index"))


def _visible(s: Session, kind: str, public_id: str) -> Fiche | Accompaniment:
    """The item if the user's unit is one of its referents (policy queries); NotVisible."""
    found: Fiche | Accompaniment | None = None
    if kind == "fiche":
        found = s.scalar(fiche_query(current_user).where(Fiche.public_id == public_id))
    elif kind == "accompaniment":
        found = s.scalar(accompaniment_query(current_user).where(
            Accompaniment.public_id == public_id))
    if found is None:
        raise NotVisible(public_id)
    return found


@bp.route("/rapports")
def report_list() -> str:
    _dpo_only()
    with reading() as s:
        rows = reports.reports(s)
    return render_template("retention/reports.html", reports=rows)


@bp.route("/rapports/<pid>")
def report_download(pid: str) -> Response:
    _dpo_only()
    with unit_of_work() as s:
        report = reports.report_by_public_id(s, pid)
        if report is None:
            abort(404)
        record(s, "report.downloaded", object_type="deletion_report",
               object_id=report.public_id, purpose="dpo_request")
        body, name = report.signed, reports.download_name(report)
    return Response(body, mimetype="application/json", headers={
        "Content-Disposition": f'attachment; filename="{name}"'})


@bp.route("/conservations-legales", methods=["GET", "POST"])
def hold_list() -> str | WerkzeugResponse:
    _dpo_only()
    form = HoldForm()
    svc = services()
    if form.validate_on_submit():
        with unit_of_work() as s:
            try:
                holds.place_hold(
                    s, kind=form.kind.data or "", public_id=(form.target.data or "").strip(),
                    reason_code=form.reason.data or "", note=form.note.data or "",
                    by_user_id=current_user.id, actor=current_actor(), at=svc.clock.now(),
                    box=svc.secret_box(holds.NOTE_PURPOSE), sealing=_sealing(s),
                    address=client_address())
            except holds.HoldError as exc:
                s.rollback()
                flash(str(exc), "error")
            else:
                flash("Conservation légale posée : rien de ces données ne sera supprimé "
                      "avant sa levée.", "success")
                return redirect(url_for("retention.hold_list"))
    return _holds_page(form)


def _holds_page(form: HoldForm) -> str:
    svc = services()
    box = svc.secret_box(holds.NOTE_PURPOSE)
    with reading() as s:
        rows: list[tuple[LegalHold, str]] = [(h, holds.read_note(box, h))
                                             for h in holds.holds(s)]
    return render_template("retention/holds.html", form=form, holds=rows,
                           lift_form=LiftForm(), reasons=holds.REASONS)


@bp.route("/conservations-legales/lever", methods=["POST"])
def hold_lift() -> WerkzeugResponse:
    _dpo_only()
    form = LiftForm()
    if not form.validate_on_submit():
        abort(400)
    svc = services()
    with unit_of_work() as s:
        try:
            holds.lift_hold(s, form.hold.data or "", by_user_id=current_user.id,
                            actor=current_actor(), at=svc.clock.now(), sealing=_sealing(s),
                            address=client_address())
        except holds.HoldError as exc:
            flash(str(exc), "error")
            return redirect(url_for("retention.hold_list"))
    flash("Conservation levée : les données suivront de nouveau les règles de conservation.",
          "success")
    return redirect(url_for("retention.hold_list"))
