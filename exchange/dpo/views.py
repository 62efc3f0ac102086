"""The DPO's space: the chain status panel (verification, checkpoints) and the search of the
audit log, with its CSV export. Reserved to the dpo role by the guard (blueprint_roles()).

Every search and every export is itself an audit event. The search form is posted, so that a
name typed by the DPO never reaches a URL, a log line or the browser's history; pages after
the first re-post the same form with the last sequence number shown.

The DPO searches their own institution's events only: the criteria carry the institution
(`exchange.policy.dpo_audit_scope`), the units offered are its units, a person or an account
is looked for among its own. The status panel is the platform's chain as a whole (one chain,
counts and signed heads only, no event).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from flask_login import current_user
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response as BaseResponse
from wtforms import DateField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Length, Optional

from exchange.audit import checkpoints as audit_checkpoints
from exchange.audit import search as audit_search
from exchange.audit.models import AuditCheckpoint, AuditHead
from exchange.audit.search import Criteria, PersonMatch
from exchange.domain.clock import PARIS
from exchange.org.models import Institution, Unit
from exchange.platform.current import services
from exchange.platform.features import actions as audit_actions
from exchange.policy import dpo_institution
from exchange.web.forms import INVALID_DATE, AdminForm, ConfirmForm, _strip
from exchange.web.helpers import client_address, current_actor, record, unit_of_work

bp = Blueprint("dpo", __name__, url_prefix="/dpo")

ANY = SelectChoice("", "— Toutes —")


class SearchForm(AdminForm):
    last_name = StringField("Nom de famille ou nom de naissance", filters=[_strip],
                            validators=[Optional(),
                                        Length(max=100, message="100 caractères au plus.")])
    birth_date = DateField("Date de naissance", validators=[Optional()],
                           invalid_value_message=INVALID_DATE)
    username = StringField("Identifiant de connexion", filters=[_strip],
                           validators=[Optional(),
                                       Length(max=80, message="80 caractères au plus.")])
    unit = SelectField("Structure de l'auteur", choices=[ANY])
    action = SelectField("Action", choices=[ANY])
    date_from = DateField("Du", validators=[Optional()], invalid_value_message=INVALID_DATE)
    date_to = DateField("Au (inclus)", validators=[Optional()],
                        invalid_value_message=INVALID_DATE)

    def validate(self, extra_validators: Any = None) -> bool:
        ok = super().validate(extra_validators)
        # Cross-field rules: each field's own Optional() stops its validators when it is empty.
        if ok and bool(self.last_name.data) != bool(self.birth_date.data):
            missing = self.birth_date if self.last_name.data else self.last_name
            missing.errors = ["Pour chercher une personne, saisissez son nom et sa date de "
                              "naissance."]
            ok = False
        if ok and self.date_to.data and self.date_from.data and (
                self.date_to.data < self.date_from.data):
            self.date_to.errors = ["La date de fin précède la date de début."]
            ok = False
        return ok


def _institution() -> int:
    """The DPO's institution, the scope of every search (the guard admits DPOs only)."""
    found = dpo_institution(current_user)
    if found is None:
        abort(403)
    return found


def _search_form(session: Session) -> SearchForm:
    form = SearchForm()
    units = session.execute(
        select(Unit.public_id, Unit.name, Institution.name)
        .join(Institution, Unit.institution_id == Institution.id)
        .where(Institution.id == _institution())
        .order_by(Institution.name, Unit.name)).all()
    form.unit.choices = [ANY, *(SelectChoice(pid, f"{name} ({institution})")
                                for pid, name, institution in units)]
    form.action.choices = [ANY, *sorted((SelectChoice(a, audit_search.action_label(a))
                                         for a in audit_actions()), key=lambda c: c.label)]
    return form


# -- the status panel --------------------------------------------------------------------------


@bp.route("/")
def dpo_index() -> str:
    with unit_of_work() as s:
        head = s.get(AuditHead, 1)
        status = {
            "events": head.seq if head else 0,
            "last": audit_checkpoints.latest(s),
            "count": s.scalar(select(func.count()).select_from(AuditCheckpoint)) or 0,
            "purge": audit_checkpoints.purge_base(s),
            "verification": audit_checkpoints.last_outcome(s),
            "recent": audit_checkpoints.stored_checkpoints(s, 10),
            "retention_days": services().settings.audit_retention_days,
        }
    return render_template("dpo/index.html", form=ConfirmForm(), status=status,
                           kinds=audit_checkpoints.KIND_LABELS)


@bp.route("/verifier-journal", methods=["POST"])
def verify_chain() -> BaseResponse:
    if ConfirmForm().validate_on_submit():
        with unit_of_work() as s:
            report = audit_checkpoints.verify_and_record(
                services(), s, actor=current_actor(), address=client_address())
        flash(report.describe(), "success" if report.ok else "error")
    return redirect(url_for("dpo.dpo_index"))


@bp.route("/points-de-controle", methods=["POST"])
def take_checkpoint() -> BaseResponse:
    if ConfirmForm().validate_on_submit():
        with unit_of_work() as s:
            row = audit_checkpoints.make_checkpoint(services(), s, "manual",
                                                    actor=current_actor(),
                                                    address=client_address())
            seq = row.seq
        flash(f"Point de contrôle signé : {seq} événements couverts. Téléchargez-le et "
              "conservez-le hors du serveur.", "success")
    return redirect(url_for("dpo.dpo_index"))


@bp.route("/points-de-controle/<int:checkpoint_id>.txt")
def download_checkpoint(checkpoint_id: int) -> Response:
    with unit_of_work() as s:
        row = s.get(AuditCheckpoint, checkpoint_id)
        if row is None:
            abort(404)
        text = audit_checkpoints.export_text(row)
        name = audit_checkpoints.export_filename(row)
        record(s, "audit.exported", object_type="audit_checkpoint", object_id=str(row.id))
    return Response(text, mimetype="text/plain; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


# -- the search ----------------------------------------------------------------------------------


def _criteria(s: Session, form: SearchForm) -> tuple[Criteria, PersonMatch | None, str | None]:
    """The form resolved to opaque ids; the third value says why nothing can match."""
    match = None
    objects = None
    problem = None
    institution = _institution()
    if form.last_name.data and form.birth_date.data:
        match = audit_search.person_records(s, services().keystore(s), form.last_name.data,
                                            form.birth_date.data, institution_id=institution)
        objects = match.objects
        if not match.persons:
            problem = ("Aucune personne de votre institution ne porte ce nom avec cette date "
                       "de naissance.")
    user_id = None
    if form.username.data:
        user_id = audit_search.user_public_id(s, form.username.data,
                                              institution_id=institution)
        if user_id is None:
            problem = problem or ("Aucun compte de votre institution ne porte cet identifiant "
                                  "de connexion.")
            objects = ()
    since, until = audit_search.paris_day_bounds(form.date_from.data, form.date_to.data)
    criteria = Criteria(institution_id=institution, objects=objects, user_id=user_id,
                        unit_id=form.unit.data or None, action=form.action.data or None,
                        since=since, until=until)
    return criteria, match, problem


def _record_search(s: Session, action: str, criteria: Criteria,
                   match: PersonMatch | None) -> None:
    """One event per search or export; its object is the person searched when there is one
    (so that the search shows in that person's access history), else the user or unit."""
    if match is not None and len(match.persons) == 1:
        kind, object_id = "person", match.persons[0]
    elif match is not None:
        kind, object_id = "audit_search", f"persons:{len(match.persons)}"
    elif criteria.user_id is not None:
        kind, object_id = "user", criteria.user_id
    elif criteria.unit_id is not None:
        kind, object_id = "unit", criteria.unit_id
    else:
        kind, object_id = "audit_search", None
    record(s, action, object_type=kind, object_id=object_id)


def _before() -> int | None:
    value = request.form.get("before", "")
    return int(value) if value.isdigit() and len(value) < 12 else None


def _submitted(s: Session) -> tuple[SearchForm, tuple[Criteria, PersonMatch | None,
                                                        str | None] | None]:
    """The search form, and what it asks for once valid (None: show the form again)."""
    form = _search_form(s)
    return form, (_criteria(s, form) if form.validate_on_submit() else None)


@bp.route("/journal", methods=["GET", "POST"])
def search() -> str:
    page = None
    with unit_of_work() as s:
        form, asked = _submitted(s)
        if asked is not None:
            criteria, match, problem = asked
            page = audit_search.page(s, criteria, _before())
            _record_search(s, "audit.searched", criteria, match)
    if asked is None:
        return render_template("dpo/journal.html", form=form, searched=False)
    return render_template("dpo/journal.html", form=form, page=page, match=match,
                           problem=problem, searched=True, before=_before())


@bp.route("/journal/export", methods=["POST"])
def export_csv() -> Response | str:
    with unit_of_work() as s:
        form, asked = _submitted(s)
        if asked is not None:
            criteria, match, _ = asked
            _record_search(s, "audit.exported", criteria, match)
    if asked is None:
        return render_template("dpo/journal.html", form=form, searched=False)
    stamp = services().clock.now().strftime("%Y%m%d-%H%M%S")
    chunks = audit_search.csv_chunks(audit_search.export_batches(services().db, criteria))
    return Response(stream_with_context(chunks), mimetype="text/csv",
                    headers={"Content-Disposition":
                             f'attachment; filename="journal-audit-{stamp}.csv"'})


def when(at: datetime) -> str:
    """An instant as the DPO reads it: the date and time in Paris."""
    return at.astimezone(PARIS).strftime("%d/%m/%Y à %H:%M:%S")


@bp.context_processor
def _helpers() -> dict[str, Any]:
    return {"when": when}
