"""Conservation: the advance notice of deletions, a referent's "no longer needed" mark, and
for the DPO the signed deletion reports and the legal holds.

Referents (social workers, advisors) and unit managers see their unit's items; the DPO sees
the items, and places, sees and lifts the legal holds, of their own institution
(`exchange.policy`: its share of fiches and accompaniments, its persons, the holds its staff
placed). The signed deletion reports are the platform sweep's, opaque ids only. The lists
carry metadata only (`retention.notice`). Ids travel in form bodies.
"""

from __future__ import annotations

from flask import Blueprint, Response, abort, flash, redirect, render_template, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response as WerkzeugResponse
from wtforms import HiddenField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice

from exchange.fiches.models import Accompaniment, Fiche
from exchange.persons.models import Person
from exchange.platform.current import services
from exchange.policy import (
    NotVisible,
    accompaniment_query,
    dpo_fiche_query,
    dpo_institution,
    dpo_person_query,
    fiche_query,
    institution_users,
    share_accompaniments,
)
from exchange.web.helpers import client_address, current_actor, reading, record, unit_of_work
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
        if dpo:
            items = _institution_items(s, items)
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
        target = _visible(s, form.kind.data or "", form.item.data or "")  # NotVisible: 404
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
        raise NotVisible(public_id, kind if kind in ("fiche", "accompaniment") else None)
    return found


def _institution_items(s: Session, items: list[notice.Upcoming]) -> list[notice.Upcoming]:
    """The DPO's institution's share of the items (a partner's are the partner's DPO's)."""
    institution = dpo_institution(current_user)
    assert institution is not None  # _dpo_only's role, checked by the caller
    ids = [i.public_id for i in items]
    ours = set(s.scalars(dpo_fiche_query(current_user).with_only_columns(Fiche.public_id)
                         .where(Fiche.public_id.in_(ids))))
    ours |= set(s.scalars(select(Accompaniment.public_id).where(
        Accompaniment.public_id.in_(ids), share_accompaniments(institution))))
    return [i for i in items if i.public_id in ours]


_NOT_HELD = ("Aucune donnée conservée ne porte cet identifiant (déjà supprimée, ou "
             "identifiant erroné).")


def _may_hold(s: Session, kind: str, public_id: str) -> bool:
    """A DPO holds their own institution's persons and fiches only."""
    if kind == "person":
        query = dpo_person_query(current_user).where(Person.public_id == public_id)
    elif kind == "fiche":
        query = dpo_fiche_query(current_user).where(Fiche.public_id == public_id)
    else:
        return True  # the use case refuses an unknown kind with its own message
    return s.scalar(query) is not None


def _own_hold(s: Session, public_id: str) -> bool:
    return s.scalar(select(LegalHold.id).where(
        LegalHold.public_id == public_id,
        LegalHold.placed_by_id.in_(institution_users(current_user.institution.id)))) is not None


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
                if not _may_hold(s, form.kind.data or "", (form.target.data or "").strip()):
                    raise holds.HoldError(_NOT_HELD)
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
        mine = set(s.scalars(institution_users(current_user.institution.id)))
        rows: list[tuple[LegalHold, str]] = [(h, holds.read_note(box, h))
                                             for h in holds.holds(s) if h.placed_by_id in mine]
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
            if not _own_hold(s, form.hold.data or ""):
                raise holds.HoldError("Cette conservation n'existe pas ou a déjà été levée.")
            holds.lift_hold(s, form.hold.data or "", by_user_id=current_user.id,
                            actor=current_actor(), at=svc.clock.now(), sealing=_sealing(s),
                            address=client_address())
        except holds.HoldError as exc:
            flash(str(exc), "error")
            return redirect(url_for("retention.hold_list"))
    flash("Conservation levée : les données suivront de nouveau les règles de conservation.",
          "success")
    return redirect(url_for("retention.hold_list"))
