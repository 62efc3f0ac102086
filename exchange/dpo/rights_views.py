"""The DPO's registers: data-subject requests and what they lead to (access export,
rectification, restriction, erasure), the register of processing activities (art. 30) and the
breach register (art. 33). Reserved to the dpo role by the guard (blueprint_roles()["rights"]).

Names and birth dates travel only in POST bodies; URLs carry public ids of requests and
breaches. The use cases (`exchange.dpo.rights`) write the audit events; a refusal is shown as a
flashed message after its event is committed.

A DPO sees their own institution's register and persons only (`exchange.dpo.rights`, through
`exchange.policy`). An id of another institution's request, breach or fiche answers 404, as an
id that does not exist, and the refusal is audited (``access.refused``): `rights.NotFound` is
a `policy.NotVisible`, left to leave the view for the app's handler (`exchange.web.errors`),
after the use case's unit of work has rolled back. A request about a
person only partners hold is passed on to them and says so; one about a person shared with
partners may be passed on to them with one button.

Reminders: requests overdue or due within seven days head the register's page. No e-mail is
sent: the DPO's page is where the work is done, and an e-mail would have to say something about
a person to be useful.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from typing import Any, TypeVar

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from sqlalchemy import select
from werkzeug.wrappers import Response as BaseResponse
from wtforms import (
    BooleanField,
    DateField,
    DateTimeLocalField,
    HiddenField,
    IntegerField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from exchange.acting import NO_PURPOSE, Context
from exchange.domain.clock import PARIS
from exchange.domain.dates import french_date
from exchange.domain.identity import validate_identity
from exchange.domain.vocabulary import Axis, FicheKind, InstitutionKind
from exchange.dpo import export as rights_export
from exchange.dpo import rights
from exchange.org.models import Convention, Institution
from exchange.persons.forms import IdentityForm
from exchange.persons.identities import IdentityUnreadable
from exchange.platform.current import services
from exchange.web.forms import BLANK_CHOICE, INVALID_DATE, AdminForm, MultiCheckboxField
from exchange.web.helpers import acting

bp = Blueprint("rights", __name__, url_prefix="/dpo/droits")

T = TypeVar("T")
_FORMAT = "%Y-%m-%dT%H:%M"


def _strip(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


def _choices(names: dict[str, str], blank: bool = True) -> list[SelectChoice]:
    found = [SelectChoice(k, v) for k, v in names.items()]
    return [BLANK_CHOICE, *found] if blank else found


# -- forms -------------------------------------------------------------------------------------


class SubjectFields(AdminForm):
    last_name = StringField("Nom d'usage ou nom de naissance", filters=[_strip], validators=[
        DataRequired("Saisissez le nom de la personne."),
        Length(max=100, message="100 caractères au plus.")])
    birth_date = DateField("Date de naissance", validators=[
        InputRequired("Saisissez la date de naissance.")], invalid_value_message=INVALID_DATE)
    ft_identifier = StringField("Identifiant France Travail", filters=[_strip], validators=[
        Optional(), Length(max=11, message="11 caractères au plus.")])


class NewRequestForm(SubjectFields):
    kind = SelectField("Droit exercé", choices=_choices(rights.KINDS), validators=[
        DataRequired("Choisissez le droit exercé.")])
    channel = SelectField("Canal de réception", choices=_choices(rights.CHANNELS), validators=[
        DataRequired("Choisissez le canal.")])
    received_on = DateField("Reçue le", validators=[InputRequired("Saisissez la date de "
                                                                  "réception.")],
                            invalid_value_message=INVALID_DATE)


class UpdateForm(AdminForm):
    status = SelectField("Statut", choices=_choices(rights.STATUSES, blank=False),
                         validate_choice=False)
    extension_reason = SelectField("Motif de prolongation (si le délai est prolongé)",
                                   choices=_choices(rights.EXTENSION_REASONS),
                                   validate_choice=False)
    answer = TextAreaField("Réponse apportée à la personne", validators=[
        Length(max=rights.ANSWER_MAX, message=f"{rights.ANSWER_MAX} caractères au plus.")])


class RestrictionForm(AdminForm):
    restricted = HiddenField()
    reason = SelectField("Motif", validate_choice=False)


class ErasureForm(AdminForm):
    confirm = BooleanField("Je confirme l'effacement définitif de toutes les données que mon "
                           "institution détient sur cette personne (liens, consentements, "
                           "accès aux fiches et pièces jointes, accompagnements).", validators=[
                               DataRequired("Cochez la case pour confirmer l'effacement.")])


class ExportForm(AdminForm):
    """A button (a download, a request to a unit): the form carries only the CSRF token."""


class TransmitForm(AdminForm):
    institution = HiddenField()


class BreachForm(AdminForm):
    detected_at = DateTimeLocalField("Constatée le (heure de Paris)", format=_FORMAT,
                                     validators=[InputRequired("Saisissez la date et l'heure "
                                                               "du constat.")],
                                     invalid_value_message=INVALID_DATE)
    data_categories = MultiCheckboxField("Catégories de données concernées",
                                         choices=_choices(rights.DATA_CATEGORIES, blank=False))
    person_categories = MultiCheckboxField(
        "Catégories de personnes concernées",
        choices=_choices(rights.PERSON_CATEGORIES, blank=False))
    persons_count = IntegerField("Nombre approximatif de personnes concernées", validators=[
        InputRequired("Indiquez un nombre, même approximatif."), NumberRange(min=0)])
    records_count = IntegerField("Nombre approximatif d'enregistrements concernés", validators=[
        InputRequired("Indiquez un nombre, même approximatif."), NumberRange(min=0)])
    nature = TextAreaField("Nature de la violation", validators=[
        DataRequired("Décrivez la nature de la violation.")])
    consequences = TextAreaField("Conséquences probables")
    measures = TextAreaField("Mesures prises ou envisagées")
    cnil_notified_at = DateTimeLocalField("Notifiée à la CNIL le", format=_FORMAT,
                                          validators=[Optional()],
                                          invalid_value_message=INVALID_DATE)
    persons_informed_at = DateTimeLocalField("Personnes informées le", format=_FORMAT,
                                             validators=[Optional()],
                                             invalid_value_message=INVALID_DATE)


# -- plumbing ----------------------------------------------------------------------------------


@contextmanager
def _context() -> Iterator[Context]:
    with acting(purpose=rights.PURPOSE) as ctx:
        yield ctx


def _on_request(rid: str, action: Callable[[Context, Any], T]) -> tuple[bool, T | None]:
    """Run `action` on request `rid` in one unit of work: (True, its result), or, when the use
    case refuses (already recorded by it), the reason flashed and (False, None)."""
    with _context() as ctx:
        req = rights.request_for(ctx, rid)
        try:
            return True, action(ctx, req)
        except rights.RightsError as error:
            flash(str(error), "error")
            return False, None


def _flash_form_errors(form: AdminForm) -> None:
    flash(" ".join(e for errs in form.errors.values() for e in errs), "error")


def _to_utc(value: datetime | None) -> datetime | None:
    return None if value is None else value.replace(tzinfo=PARIS).astimezone(UTC)


def _local(value: datetime | None) -> datetime | None:
    return None if value is None else value.astimezone(PARIS).replace(tzinfo=None)


def _attachment(data: bytes, mimetype: str, name: str) -> Response:
    return Response(data, mimetype=mimetype,
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


def _back(rid: str) -> BaseResponse:
    return redirect(url_for("rights.request_page", rid=rid))


def when(at: datetime | None) -> str:
    return at.astimezone(PARIS).strftime("%d/%m/%Y à %H:%M") if at else "—"


def day(value: date | None) -> str:
    return french_date(value) if value else "—"


@bp.context_processor
def _helpers() -> dict[str, Any]:
    return {"when": when, "day": day, "R": rights,
            "fiche_kind_label": lambda value: FicheKind(value).label}


# -- the register of requests ----------------------------------------------------------------


@bp.route("/")
def index() -> str:
    with _context() as ctx:
        found = rights.reminders(ctx)
        rows = rights.requests(ctx)
        return render_template("rights/index.html", reminders=found, requests=rows,
                               relays=rights.relays(ctx, rows), today=ctx.today)


@bp.route("/demandes/nouvelle", methods=["GET", "POST"])
def new_request() -> str | BaseResponse:
    form = NewRequestForm()
    if request.method == "GET":
        form.received_on.data = services().clock.today()
    if not form.validate_on_submit():
        return render_template("rights/new_request.html", form=form)
    with _context() as ctx:
        try:
            created = rights.create_request(
                ctx, kind=form.kind.data or "", channel=form.channel.data or "",
                received_on=form.received_on.data, last_name=form.last_name.data or "",
                birth_date=form.birth_date.data, ft_identifier=form.ft_identifier.data or None)
        except rights.RightsError as error:
            form.last_name.errors = [str(error)]
            return render_template("rights/new_request.html", form=form)
        rid, found = created.public_id, created.person_public_id is not None
        sent_to = [r.institution_id for r in rights.relayed_to(ctx, created)]
        names = [i.name for i in rights.institution_names(ctx, sent_to).values()]
    flash("Demande enregistrée. " + _found_message(found, names),
          "success" if found or names else "info")
    return _back(rid)


def _found_message(found: bool, partners: list[str]) -> str:
    if found:
        return "La personne a été retrouvée."
    if partners:
        return (f"La personne n'est pas connue de votre institution mais de : "
                f"{', '.join(partners)}. La demande a été transmise à son délégué à la "
                "protection des données ; informez-en la personne.")
    return ("Aucune personne enregistrée ne correspond : la demande est suivie sans dossier "
            "rattaché.")


@bp.route("/demandes/<rid>")
def request_page(rid: str) -> str | tuple[str, int]:
    with _context() as ctx:
        req = rights.request_for(ctx, rid)
        try:
            answer = rights.read_answer(ctx, req)
        except rights.RightsError as error:
            answer = str(error)
        person = rights.person_of(ctx, req)
        history = rights.restriction_history(ctx, person.public_id) if person else []
        update = UpdateForm(data={"status": req.status})
        relays = rights.relays(ctx, [req])
        return render_template(
            "rights/request.html", req=req, answer=answer, person=person, history=history,
            update=update, attach=SubjectFields(), restriction=RestrictionForm(),
            erasure=ErasureForm(), export=ExportForm(), allowed=rights.ALLOWED[req.kind],
            fiches=rights.fiches_of_request(ctx, req), today=ctx.today,
            sent_to=relays.sent_to.get(req.id, []),
            received_from=relays.received_from.get(req.id),
            partners=rights.partners_of(ctx, req), transmit=TransmitForm(),
            restricted_by=rights.restricted_by(ctx, person) if person else None)


@bp.route("/demandes/<rid>/suivi", methods=["POST"])
def update_request(rid: str) -> BaseResponse:
    form = UpdateForm()
    if not form.validate_on_submit():
        _flash_form_errors(form)
    elif _on_request(rid, lambda ctx, req: rights.update_request(
            ctx, req, status=form.status.data or "",
            extension_reason=form.extension_reason.data or None,
            answer=form.answer.data or ""))[0]:
        flash("Demande mise à jour.", "success")
    return _back(rid)


@bp.route("/demandes/<rid>/personne", methods=["POST"])
def attach(rid: str) -> BaseResponse:
    form = SubjectFields()
    if not form.validate_on_submit():
        _flash_form_errors(form)
        return _back(rid)
    done, person = _on_request(rid, lambda ctx, req: rights.attach_person(
        ctx, req, last_name=form.last_name.data or "", birth_date=form.birth_date.data,
        ft_identifier=form.ft_identifier.data or None))
    if done:
        flash("La personne a été retrouvée et rattachée." if person else
              "Aucune personne de votre institution ne correspond (si une institution "
              "partenaire la connaît, la demande lui est transmise : voir ci-dessous).",
              "success" if person else "info")
    return _back(rid)


@bp.route("/demandes/<rid>/transmission", methods=["POST"])
def transmit(rid: str) -> BaseResponse:
    """Pass a request about a shared person on to a partner that holds the person too: each
    institution acts on its own share."""
    form = TransmitForm()
    if not form.validate_on_submit():
        abort(400)
    done, partner = _on_request(rid, lambda ctx, req: rights.transmit(
        ctx, req, form.institution.data or ""))
    if done and partner is not None:
        flash(f"La demande est transmise au délégué à la protection des données de "
              f"{partner.name} : elle figure dans son registre.", "success")
    return _back(rid)


@bp.route("/demandes/<rid>/acces.<fmt>", methods=["POST"])
def access_export(rid: str, fmt: str) -> Response | BaseResponse:
    if fmt not in ("pdf", "json"):
        abort(404)
    if not ExportForm().validate_on_submit():
        abort(400)
    done, data = _on_request(rid, rights.access_export)
    if not done or data is None:
        return _back(rid)
    stamp = services().clock.now().astimezone(PARIS).strftime("%Y%m%d")
    name = f"acces-rgpd-{rid[:8]}-{stamp}.{fmt}"
    if fmt == "json":
        return _attachment(rights_export.to_json(data), "application/json", name)
    return _attachment(rights_export.to_pdf(data), "application/pdf", name)


@bp.route("/demandes/<rid>/rectification", methods=["GET", "POST"])
def rectify(rid: str) -> str | BaseResponse:
    with _context() as ctx:
        req = rights.request_for(ctx, rid)
        try:
            if request.method == "GET":
                identity = rights.identity_for_rectification(ctx, req)
                return render_template("rights/rectify.html", req=req,
                                       form=IdentityForm(data=identity.form_values()))
            form = IdentityForm()
            if not form.validate_on_submit():
                return render_template("rights/rectify.html", req=req, form=form)
            identity, errors = validate_identity(form.identity_values(), today=ctx.today)
            if identity is None:
                for field_name, message in errors.items():
                    form[field_name].errors = [*form[field_name].errors, message]
                return render_template("rights/rectify.html", req=req, form=form)
            rights.rectify(ctx, req, identity)
        except (rights.RightsError, IdentityUnreadable) as error:
            flash(str(error), "error")
            return _back(rid)
    flash("L'identité est rectifiée (nouvelle version chiffrée). Informez la personne et, le "
          "cas échéant, les destinataires des données (article 19 du RGPD).", "success")
    return _back(rid)


@bp.route("/demandes/<rid>/fiches/<pid>/rectification", methods=["POST"])
def fiche_rectification(rid: str, pid: str) -> BaseResponse:
    """Ask the unit that sent a fiche to rectify it: the DPO names the fiche, never its
    content, which only the parties to the exchange read and rewrite."""
    if not ExportForm().validate_on_submit():
        abort(400)
    if not _on_request(rid, lambda ctx, req: rights.request_fiche_rectification(
            ctx, req, pid))[0]:
        return _back(rid)
    flash("La rectification est demandée : la structure expéditrice la voit sur la fiche. Le "
          "numéro et la date de la nouvelle version s'afficheront ici une fois la fiche "
          "rectifiée.", "success")
    return _back(rid)


@bp.route("/demandes/<rid>/limitation", methods=["POST"])
def restriction(rid: str) -> BaseResponse:
    form = RestrictionForm()
    if not form.validate_on_submit():
        abort(400)
    restricted = form.restricted.data == "1"
    if not _on_request(rid, lambda ctx, req: rights.set_restriction(
            ctx, req, restricted=restricted, reason=form.reason.data or ""))[0]:
        return _back(rid)
    flash("Le traitement est limité : aucun envoi n'est plus possible pour cette personne."
          if restricted else "La limitation est levée.", "success")
    return _back(rid)


@bp.route("/demandes/<rid>/effacement", methods=["POST"])
def erase(rid: str) -> BaseResponse:
    form = ErasureForm()
    if not form.validate_on_submit():
        flash("Cochez la case pour confirmer l'effacement.", "error")
        return _back(rid)
    done, gone = _on_request(rid, rights.approve_erasure)
    if not done or gone is None:
        return _back(rid)
    from retention.sweep import checkpoint

    checkpoint(services().db)  # the deleted pages leave the WAL too
    flash(f"Effacement effectué : {len(gone)} enregistrement(s) supprimé(s). Les statistiques "
          "anonymes sont conservées. Répondez à la personne pour clore la demande.", "success")
    return _back(rid)


# -- register of processing activities (art. 30) ---------------------------------------------

CATEGORIES_OF_DATA = [
    "Identité : nom d'usage, nom de naissance, prénoms, date de naissance",
    "Coordonnées : adresse postale, téléphone, courriel",
    "Identifiant France Travail ; qualité de bénéficiaire du RSA",
    "Diagnostic partagé : freins sociaux (santé, logement, mobilité, famille et garde "
    "d'enfants, finances, administratif et juridique, langue et numérique), freins "
    "professionnels, motif, attentes",
    "Données de santé, le cas échéant (freins de santé) : données sensibles (art. 9)",
    "Consentement : version de la notice, mode de recueil, date, retrait",
    "Suivi de l'accompagnement : dates d'entrée, de bilan et de sortie, motif de sortie",
    "Professionnels : identité, structure, rôle, journal des connexions et des accès",
]
CATEGORIES_OF_PERSONS = [
    "Personnes accompagnées : demandeurs d'emploi en accompagnement global ou social, "
    "bénéficiaires du RSA",
    "Professionnels : travailleurs sociaux, conseillers France Travail, responsables de "
    "structure, chargés de mission, DPO, administrateurs",
]
SECURITY_MEASURES = [
    "Chiffrement de toutes les données personnelles au repos (AES-256-GCM, clés de document "
    "enveloppées par HPKE hybride ML-KEM-768 + X25519 par institution destinataire)",
    "Recherche des personnes par index aveugle (HMAC) : aucun nom en clair en base",
    "Signature des fiches (Ed25519, PAdES) et accusés de réception signés",
    "Authentification forte : mot de passe (argon2id) et second facteur TOTP obligatoire",
    "Cloisonnement par structure et par rôle, refus par défaut",
    "Journal d'audit chaîné et signé, vérifiable, conservé selon la durée configurée",
    "Effacement cryptographique et physique au terme de la durée de conservation",
    "En-têtes de sécurité (CSP stricte, HSTS), jeton CSRF sur chaque formulaire",
]


@bp.route("/registre")
def register() -> str:
    with _context() as ctx:
        institutions = list(ctx.session.scalars(select(Institution).order_by(Institution.name)))
        conventions = list(ctx.session.scalars(select(Convention).order_by(
            Convention.start_date, Convention.id)))
        for convention in conventions:
            _ = (convention.effective_end_date, convention.institution_a.name,
                 convention.institution_b.name)
        ctx.record("register.viewed", "register", "art30", purpose=NO_PURPOSE)
        return render_template(
            "rights/register.html", institutions=institutions, conventions=conventions,
            controller=ctx.institution, today=ctx.today, kinds=InstitutionKind,
            purposes=rights_export.PURPOSES, axes=Axis, legal_basis=rights_export.LEGAL_BASIS,
            data=CATEGORIES_OF_DATA, persons=CATEGORIES_OF_PERSONS,
            measures=SECURITY_MEASURES,
            audit_days=services().settings.audit_retention_days)


# -- breach register (art. 33) ---------------------------------------------------------------


def _facts(form: BreachForm) -> rights.BreachFacts:
    detected = _to_utc(form.detected_at.data)
    assert detected is not None
    return rights.BreachFacts(
        detected_at=detected, data_categories=list(form.data_categories.data or []),
        person_categories=list(form.person_categories.data or []),
        persons_count=int(form.persons_count.data or 0),
        records_count=int(form.records_count.data or 0), nature=form.nature.data or "",
        consequences=form.consequences.data or "", measures=form.measures.data or "",
        cnil_notified_at=_to_utc(form.cnil_notified_at.data),
        persons_informed_at=_to_utc(form.persons_informed_at.data))


@bp.route("/violations")
def breaches() -> str:
    with _context() as ctx:
        rows = [(b, rights.deadline(b, ctx.now)) for b in rights.breaches(ctx)]
        return render_template("rights/breaches.html", rows=rows)


@bp.route("/violations/nouvelle", methods=["GET", "POST"])
def new_breach() -> str | BaseResponse:
    form = BreachForm()
    if not form.validate_on_submit():
        return render_template("rights/breach_form.html", form=form, breach=None)
    with _context() as ctx:
        try:
            breach = rights.record_breach(ctx, _facts(form))
        except rights.RightsError as error:
            form.nature.errors = [str(error)]
            return render_template("rights/breach_form.html", form=form, breach=None)
        bid = breach.public_id
    flash("Violation enregistrée. La notification à la CNIL est due dans les 72 heures suivant "
          "le constat.", "success")
    return redirect(url_for("rights.breach_page", bid=bid))


@bp.route("/violations/<bid>", methods=["GET", "POST"])
def breach_page(bid: str) -> str | BaseResponse:
    with _context() as ctx:
        breach = rights.breach_for(ctx, bid)
        if request.method == "POST":
            form = BreachForm()
            if form.validate_on_submit():
                try:
                    rights.update_breach(ctx, breach, _facts(form))
                except rights.RightsError as error:
                    form.nature.errors = [str(error)]
                else:
                    flash("Violation mise à jour.", "success")
                    return redirect(url_for("rights.breach_page", bid=bid))
        else:
            try:
                texts = rights.read_breach(ctx, breach)
            except rights.RightsError as error:
                flash(str(error), "error")
                texts = {"nature": "", "consequences": "", "measures": ""}
            form = BreachForm(data={
                "detected_at": _local(breach.detected_at),
                "data_categories": rights.codes(breach.data_categories),
                "person_categories": rights.codes(breach.person_categories),
                "persons_count": breach.persons_count, "records_count": breach.records_count,
                "cnil_notified_at": _local(breach.cnil_notified_at),
                "persons_informed_at": _local(breach.persons_informed_at), **texts})
        return render_template("rights/breach_form.html", form=form, breach=breach,
                               deadline=rights.deadline(breach, ctx.now))
