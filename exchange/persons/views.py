"""Persons and their consent: search, create, read, rectify; record, withdraw and print.

Ids in URLs are public ids; names and birth dates travel only in POST bodies (the search is a
POST). Each view calls the use cases of `exchange.persons` (identities, consents), which write
the one audit event of each read or write; a person or consent the user's unit may not see is a
404. Social workers and advisors record and change; a unit manager reads.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy.orm import Session
from wtforms.fields.choices import SelectChoice

from exchange.acting import Context
from exchange.domain.consent import CURRENT_NOTICE_VERSION, NOTICES
from exchange.domain.dates import french_date
from exchange.domain.errors import ConsentWithdrawn, ValidationFailed
from exchange.domain.identity import validate_identity, validate_search
from exchange.domain.vocabulary import ConsentMethod
from exchange.fiches.reading import person_records
from exchange.persons import consents
from exchange.persons import identities as persons
from exchange.persons.forms import ConfirmForm, ConsentForm, IdentityForm, SearchForm
from exchange.platform.current import services
from exchange.platform.uploads import UploadRefused, accepted_fr, check_file, size_fr
from exchange.policy import WRITER_ROLES, NotVisible
from exchange.web.forms import BLANK_CHOICE
from exchange.web.helpers import context_in, unit_of_work

bp = Blueprint("persons", __name__, url_prefix="/personnes")

UNREADABLE_STATUS = 409

F = TypeVar("F", bound=Callable[..., Any])


def _refuse(form: FlaskForm, errors: dict[str, str]) -> None:
    for name, message in errors.items():
        field = form[name] if name in form else None
        if field is not None:
            field.errors = [*field.errors, message]


# -- plumbing ----------------------------------------------------------------------------------


def _context(session: Session) -> Context:
    return context_in(session)


def _writers_only() -> None:
    if not current_user.has_role(*WRITER_ROLES):
        abort(403)


def _not_visible_is_404(view: F) -> F:
    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return view(*args, **kwargs)
        except NotVisible:
            raise  # answered 404 and recorded as a refusal by exchange.web.errors

    return wrapper  # type: ignore[return-value]


def _unreadable(error: persons.IdentityUnreadable) -> tuple[str, int]:
    """The French message for a ciphertext that did not open. Returned from inside the unit
    of work, so that its failure event is committed."""
    return render_template("persons/unreadable.html", message=error.message), UNREADABLE_STATUS


def _page(template: str, form: FlaskForm, **context: Any) -> tuple[str, int]:
    return render_template(template, form=form, **context), 400 if form.errors else 200


# -- search and creation -----------------------------------------------------------------------


@bp.route("/", methods=["GET", "POST"])
def search() -> tuple[str, int]:
    form = SearchForm()
    may_write = current_user.has_role(*WRITER_ROLES)
    if not form.validate_on_submit():
        return _page("persons/search.html", form, results=None, may_write=may_write)
    query, errors = validate_search(
        {"name": form.name.data, "birth_date": form.birth_date.data,
         "ft_identifier": form.ft_identifier.data}, today=services().clock.today())
    if query is None:
        _refuse(form, errors)
        return _page("persons/search.html", form, results=None, may_write=may_write)
    with unit_of_work() as s:
        results = persons.search_persons(_context(s), query)
        if any(found.identity is None for found in results):
            flash(persons.TAMPERED_MESSAGE, "error")
        return _page("persons/search.html", form, results=results, may_write=may_write)


@bp.route("/nouvelle", methods=["GET", "POST"])
def create() -> Response | tuple[str, int]:
    _writers_only()
    form = IdentityForm()
    if not form.validate_on_submit():
        return _page("persons/identity_form.html", form, person=None)
    identity, errors = validate_identity(form.identity_values(), today=services().clock.today())
    if identity is None:
        _refuse(form, errors)
        return _page("persons/identity_form.html", form, person=None)
    with unit_of_work() as s:
        ctx = _context(s)
        if form.create_anyway.data != "1":
            duplicates = persons.find_duplicates(ctx, identity)
            if duplicates:
                return render_template("persons/duplicates.html", duplicates=duplicates,
                                       values=identity.form_values(),
                                       confirm=ConfirmForm()), 200
        person = persons.create_person(ctx, identity)
    flash("La personne est enregistrée.", "success")
    return redirect(url_for("persons.show", pid=person.public_id))


# -- one person --------------------------------------------------------------------------------


@bp.route("/<pid>")
@_not_visible_is_404
def show(pid: str) -> tuple[str, int]:
    with unit_of_work() as s:
        ctx = _context(s)
        try:
            person, identity = persons.view_person(ctx, pid)
        except persons.IdentityUnreadable as error:
            return _unreadable(error)
        return render_template(
            "persons/show.html", person=person, identity=identity,
            consents=consents.consents_of(ctx, person), partners=consents.partners(ctx),
            notice_version=CURRENT_NOTICE_VERSION,
            may_write=current_user.has_role(*WRITER_ROLES),
            may_rectify=persons.may_rectify(ctx, person),
            found=person_records(ctx, person)), 200


@bp.route("/<pid>/identite", methods=["GET", "POST"])
@_not_visible_is_404
def rectify(pid: str) -> Response | tuple[str, int]:
    _writers_only()
    with unit_of_work() as s:
        ctx = _context(s)
        person = persons.person_for(ctx, pid)
        if not persons.may_rectify(ctx, person):
            abort(403)
        if request.method == "GET":
            try:
                identity = persons.read_identity(ctx, person)
            except persons.IdentityUnreadable as error:
                return _unreadable(error)
            form = IdentityForm(data=identity.form_values())
            return _page("persons/identity_form.html", form, person=person)
        form = IdentityForm()
        if not form.validate_on_submit():
            return _page("persons/identity_form.html", form, person=person)
        identity, errors = validate_identity(form.identity_values(),
                                             today=services().clock.today())
        if identity is None:
            _refuse(form, errors)
            return _page("persons/identity_form.html", form, person=person)
        try:
            persons.rectify_identity(ctx, person, identity)
        except persons.IdentityUnreadable as error:
            return _unreadable(error)
    flash("L'identité de la personne est rectifiée.", "success")
    return redirect(url_for("persons.show", pid=pid))


# -- consent -----------------------------------------------------------------------------------


def _consent_choices(ctx: Context, form: ConsentForm) -> None:
    form.recipient.choices = [BLANK_CHOICE, *(
        SelectChoice(p.institution.public_id,
                     f"{p.institution.name} ({', '.join(f'axe {a.value}' for a in p.axes)})")
        for p in consents.partners(ctx))]
    form.notice_version.choices = [
        SelectChoice(n.version,
                     f"Version {n.version}, en vigueur depuis le {french_date(n.effective_from)}")
        for n in NOTICES.values()]


@bp.route("/<pid>/consentements/nouveau", methods=["GET", "POST"])
@_not_visible_is_404
def consent_new(pid: str) -> Response | tuple[str, int]:
    _writers_only()
    settings = services().settings
    limits = {"max_size": size_fr(settings.max_attachment_bytes),
              "accepted": accepted_fr(consents.FORM_TYPES)}
    with unit_of_work() as s:
        ctx = _context(s)
        person = persons.person_for(ctx, pid)
        form = ConsentForm()
        _consent_choices(ctx, form)
        if request.method == "GET":
            form.collected_on.data = services().clock.today().isoformat()
        if not form.validate_on_submit():
            return _page("persons/consent_form.html", form, person=person, **limits)
        upload, upload_error = None, None
        paper = form.method.data == ConsentMethod.PAPER_FORM_UPLOADED.value
        storage = form.paper_form.data
        if paper and storage is not None and storage.filename:
            try:
                upload = check_file(storage, max_bytes=settings.max_attachment_bytes,
                                    allowed=consents.FORM_TYPES)
            except UploadRefused as refused:
                upload_error = refused.message
                ctx.record("upload.refused", "person", person.public_id, outcome="refused")
        values = {"axis": form.axis.data, "recipient": form.recipient.data,
                  "notice_version": form.notice_version.data, "method": form.method.data,
                  "attestation": bool(form.attestation.data),
                  "collected_on": form.collected_on.data}
        try:
            if upload_error is not None:
                errors = consents.consent_errors(ctx, **values, has_paper_form=True)
                raise ValidationFailed({**errors, "paper_form": upload_error})
            consents.record_consent(ctx, person, **values, paper_form=upload)
        except ValidationFailed as failed:
            _refuse(form, failed.errors)
            # Returned inside the unit of work: an upload.refused event is kept, nothing else.
            return _page("persons/consent_form.html", form, person=person, **limits)
    flash("Le consentement est enregistré.", "success")
    return redirect(url_for("persons.show", pid=pid))


@bp.route("/<pid>/consentements/<cid>/retrait", methods=["GET", "POST"])
@_not_visible_is_404
def consent_withdraw(pid: str, cid: str) -> Response | tuple[str, int]:
    _writers_only()
    form = ConfirmForm()
    with unit_of_work() as s:
        ctx = _context(s)
        person = persons.person_for(ctx, pid)
        if not form.validate_on_submit():
            line = consents.view_consent(ctx, person, cid)
            return render_template("persons/withdraw.html", person=person, line=line,
                                   form=form), 200
        try:
            consents.withdraw_consent(ctx, person, cid)
        except ConsentWithdrawn as refused:
            flash(refused.message, "error")
            return redirect(url_for("persons.show", pid=pid))
    flash("Le retrait du consentement est enregistré : aucune nouvelle fiche ne sera envoyée "
          "sur ce consentement.", "success")
    return redirect(url_for("persons.show", pid=pid))


@bp.route("/<pid>/consentements/<cid>/formulaire")
@_not_visible_is_404
def consent_form(pid: str, cid: str) -> Response | tuple[str, int]:
    with unit_of_work() as s:
        ctx = _context(s)
        person = persons.person_for(ctx, pid)
        try:
            paper = consents.download_form(ctx, person, cid)
        except persons.IdentityUnreadable as error:
            return _unreadable(error)
    response = Response(paper.data, mimetype=paper.content_type)
    response.headers["Content-Disposition"] = f'attachment; filename="{paper.filename}"'
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@bp.route("/<pid>/notice/<version>/<recipient>/<int:axis>")
@_not_visible_is_404
def notice(pid: str, version: str, recipient: str, axis: int) -> tuple[str, int]:
    with unit_of_work() as s:
        ctx = _context(s)
        person = persons.person_for(ctx, pid)
        try:
            printed = consents.print_notice(ctx, person, version, recipient, axis)
        except persons.IdentityUnreadable as error:
            return _unreadable(error)
        return render_template("persons/notice.html", person=person, printed=printed,
                               today=services().clock.today()), 200


@bp.route("/notice.css")
def notice_css() -> Response:
    """The notice's print layout. Served here rather than from static/ so that this feature
    stays in its own files; the page's CSP allows same-origin stylesheets."""
    return Response(render_template("persons/notice_print.css"), mimetype="text/css")
