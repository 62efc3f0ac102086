"""The fiches de liaison: a new fiche for a person, the draft's form and attachments, the signed
fiche and its transitions, the unit's inbox and outgoing fiches, downloads.

Each view runs one unit of work and calls the use cases of ``exchange.fiches``, which check the
transition, seal, sign and write the audit event. Every view finds its fiche through
``routing.fiche_for``, which compares the row with its signed manifest. The views map what
they raise: an object the user may not see is a 404 (``NotVisible``, recorded as a refusal by
``exchange.web.errors``); a refusal (``DomainError``) is rolled back, recorded as
``fiche.refused`` and shown in French; a tampered fiche (``FicheTampered``, already recorded by
the use case) is committed and answered 409 with the TAMPERED message, never shown; a row that
disagrees with its manifest (``FicheTampered`` from the lookup) is recorded by ``tampered``.

Lists carry no personal data: the person's name appears only on the fiche's page, from the
decrypted content, whose opening is audited (``fiche.opened`` / ``fiche.viewed``).

A sent fiche is corrected by rectification (``exchange.fiches.rectification``): a new signed
version, the replaced ones still readable by both parties under ``/versions/<n>``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select
from werkzeug.wrappers import Response as BaseResponse

from exchange.accounts.models import User
from exchange.acting import Context
from exchange.domain import fiches as rules
from exchange.domain.errors import DomainError, ValidationFailed
from exchange.domain.fiches import Transition
from exchange.domain.fields import parse_choice
from exchange.domain.vocabulary import (
    ConsentMethod,
    FicheKind,
    FicheState,
    SocialBarrier,
)
from exchange.fiches import (
    decisions,
    drafts,
    reading,
    rectification,
    routing,
    sending,
    signing,
)
from exchange.fiches.common import (
    TAMPERED,
    FicheError,
    FicheTampered,
    attachment_documents,
    requires_countersign,
)
from exchange.fiches.forms import (
    FORMAT,
    PUBLIC_ID,
    FieldView,
    content_fields,
    flash_errors,
    posted_content,
    public_id,
    reference,
    refuse,
)
from exchange.fiches.models import Accompaniment, Fiche, FicheVersion
from exchange.persons.models import Person
from exchange.platform import uploads
from exchange.platform.blobs import BlobError
from exchange.platform.current import services
from exchange.policy import (
    WRITER_ROLES,
    accompaniment_query,
    fiche_query,
    is_recipient,
    is_sender,
    visible_person,
)
from exchange.web.helpers import acting
from keys.errors import KeysError

bp = Blueprint("fiches", __name__, url_prefix="/fiches")

SEE_OTHER = 303
# What uploads.safe_name gives; a stored name that does not look like one is not sent back.
# The blob store is full, read-only or unreachable: the use case was rolled back.
STORE_UNAVAILABLE = ("Le stockage des documents est indisponible pour le moment (espace plein "
                     "ou en lecture seule) : rien n'a été enregistré. Réessayez plus tard ; si "
                     "le problème persiste, prévenez l'administrateur de la plateforme.")
SAFE_NAME = re.compile(r"[A-Za-z0-9._-]{1,100}")
ROLES = ("social_worker", "advisor", "unit_manager")


# -- shared pieces ------------------------------------------------------------------------------


def _fiche(ctx: Context, pid: str) -> Fiche:
    """Every view's way to a fiche (`routing.fiche_for`): NotVisible is the audited 404
    (`exchange.web.errors`); FicheTampered, a row that is not what its manifest signs, is
    answered by `tampered` below."""
    return routing.fiche_for(ctx, public_id(pid))


def _person(ctx: Context, pid: str) -> Person:
    return visible_person(ctx.session, ctx.agent, public_id(pid))


def _to_fiche(pid: str, anchor: str | None = None) -> BaseResponse:
    return redirect(url_for(".show", pid=pid, _anchor=anchor), SEE_OTHER)


def _to_draft(pid: str, anchor: str | None = None) -> BaseResponse:
    return redirect(url_for(".edit", pid=pid, _anchor=anchor), SEE_OTHER)


def person_url(pid: str) -> str:
    """The person's page, where the persons blueprint shows (and audits) the identity."""
    return url_for("persons.show", pid=pid)


def attempt(ctx: Context, pid: str, call: Callable[[], object]) -> bool:
    """Run one use case; True when it went through. A refusal is rolled back, recorded and
    flashed; a tampered fiche (recorded by the use case, or found here when a sealed part
    does not open) is recorded and committed."""
    try:
        call()
    except FicheTampered as exc:
        flash(exc.message, "error")
        return False
    except ValidationFailed as exc:
        refuse(ctx, None, action="fiche.refused", object_type="fiche", object_id=pid)
        flash_errors(exc)
        return False
    except DomainError as exc:
        refuse(ctx, exc.message, action="fiche.refused", object_type="fiche", object_id=pid)
        return False
    except KeysError:
        ctx.session.rollback()
        ctx.record("fiche.tampered", "fiche", pid, outcome="failure")
        flash(TAMPERED, "error")
        return False
    except BlobError:
        refuse(ctx, STORE_UNAVAILABLE, action="fiche.refused", object_type="fiche",
               object_id=pid)
        return False
    return True


def _unavailable(fiche: Fiche, message: str, status: int) -> tuple[str, int]:
    return render_template("fiches/unavailable.html", fiche=fiche, message=message,
                           tampered=status == 409, **FORMAT), status


@bp.errorhandler(FicheTampered)
def tampered(_: FicheTampered) -> tuple[str, int]:
    """A tampered fiche that left its view unrecorded — found when the fiche was looked up
    (`routing.check_row`), so the view's transaction, reading or unit of work, ended with the
    error: ``fiche.tampered`` is recorded here, in a unit of work of its own, and the page
    shows the fiche's row, never its content."""
    pid = str((request.view_args or {}).get("pid", ""))
    with acting() as ctx:
        ctx.record("fiche.tampered", "fiche", pid if PUBLIC_ID.match(pid) else None,
                   outcome="failure")
        fiche = ctx.session.scalar(fiche_query(ctx.agent).where(Fiche.public_id == pid))
        if fiche is None:  # the row changed again since: no header to show
            return render_template("error.html", code=409, title="Fiche altérée",
                                   text=TAMPERED), 409
        return _unavailable(fiche, TAMPERED, 409)


def _actions(ctx: Context, fiche: Fiche) -> set[str]:
    """The buttons the page offers: what the state allows, for this user's side and role."""
    available = rules.available_transitions(
        FicheState(fiche.state), kind=FicheKind(fiche.kind),
        requires_countersign=requires_countersign(fiche))
    names: set[str] = set()
    if is_sender(ctx.agent, fiche):
        if Transition.COUNTERSIGN in available and ctx.agent.has_role("unit_manager"):
            names.add(Transition.COUNTERSIGN.value)
        names |= {t.value for t in (Transition.SEND, Transition.RECALL, Transition.CANCEL)
                  if t in available}
    if is_recipient(ctx.agent, fiche):
        names |= {t.value for t in (Transition.ACKNOWLEDGE, Transition.ACCEPT,
                                    Transition.DECLINE) if t in available}
    return names


# -- lists --------------------------------------------------------------------------------------


@bp.route("/recues")
def received() -> str:
    with acting(read_only=True) as ctx:
        return render_template("fiches/received.html", fiches=reading.received(ctx), **FORMAT)


@bp.route("/envoyees")
def outgoing() -> str:
    with acting(read_only=True) as ctx:
        rows = reading.outgoing(ctx)
        awaiting = {f.id for f in rows if f.state == FicheState.SIGNED.value
                    and requires_countersign(f)}
        return render_template("fiches/outgoing.html", fiches=rows, awaiting=awaiting, **FORMAT)


# -- a new fiche --------------------------------------------------------------------------------


@bp.route("/nouvelle/<pid>", methods=["GET", "POST"])
def new(pid: str) -> str | tuple[str, int] | BaseResponse:
    if not current_user.has_role(*WRITER_ROLES):
        abort(403)
    with acting() as ctx:
        person = _person(ctx, pid)
        destinations = drafts.destinations(ctx)
        kinds = [k for k in FicheKind if any(k in d.kinds for d in destinations)]
        followed = list(ctx.session.scalars(accompaniment_query(ctx.agent).where(
            Accompaniment.person_id == person.id, Accompaniment.exit_date.is_(None))
            .order_by(Accompaniment.proposal_date.desc())))
        chosen = {"kind": "", "unit": "", "accompaniment": ""}
        errors: dict[str, str] = {}
        status = 200
        if request.method == "POST":
            chosen = {name: request.form.get(name, "").strip() for name in chosen}
            kind = parse_choice(FicheKind, chosen["kind"])
            if kind is None or kind not in kinds:
                errors["kind"] = "Choisissez le type de fiche dans la liste."
            if not PUBLIC_ID.match(chosen["unit"]):
                errors["unit"] = "Choisissez la structure destinataire dans la liste."
            accompaniment = next((a for a in followed
                                  if a.public_id == chosen["accompaniment"]), None)
            if kind is not None and kind.orientation_axis is None and accompaniment is None:
                errors["accompaniment"] = ("Un bilan ou un retour se rattache à un "
                                           "accompagnement en cours : choisissez-le.")
            if not errors:
                assert kind is not None
                try:
                    fiche = drafts.start_draft(
                        ctx, person, kind, chosen["unit"],
                        accompaniment if kind.orientation_axis is None else None)
                except DomainError as exc:
                    refuse(ctx, exc.message, action="fiche.refused", object_type="person",
                           object_id=person.public_id)
                    return new_page(ctx, pid, chosen, errors, 409)
                flash("Le brouillon est créé : complétez la fiche, enregistrez-la, puis "
                      "signez-la.", "success")
                return _to_draft(fiche.public_id)
            status = 422
        return new_page(ctx, pid, chosen, errors, status,
                        person=person, destinations=destinations, kinds=kinds,
                        followed=followed)


def new_page(ctx: Context, pid: str, chosen: dict[str, str], errors: dict[str, str],
             status: int, **loaded: Any) -> tuple[str, int]:
    if not loaded:  # after a rollback: load again what the page shows
        person = _person(ctx, pid)
        destinations = drafts.destinations(ctx)
        loaded = {
            "person": person, "destinations": destinations,
            "kinds": [k for k in FicheKind if any(k in d.kinds for d in destinations)],
            "followed": list(ctx.session.scalars(accompaniment_query(ctx.agent).where(
                Accompaniment.person_id == person.id, Accompaniment.exit_date.is_(None)))),
        }
    return render_template("fiches/new.html", chosen=chosen, errors=errors,
                           person_url=person_url(pid), **loaded, **FORMAT), status


# -- the draft ----------------------------------------------------------------------------------


def _edit_page(ctx: Context, fiche: Fiche, values: dict[str, Any], errors: dict[str, str],
               status: int = 200) -> tuple[str, int]:
    kind = FicheKind(fiche.kind)
    draft = drafts.read_draft(ctx, fiche)
    documents = attachment_documents(ctx, fiche)
    consent = signing.current_consent(ctx, fiche)
    return render_template(
        "fiches/edit.html", fiche=fiche, kind=kind,
        fields=content_fields(kind, values, errors),
        attachments=list(zip(documents, draft.get("attachments", []), strict=False)),
        consent=consent, consent_method=ConsentMethod(consent.method).label if consent else "",
        countersign=requires_countersign(fiche),
        max_attachments=drafts.MAX_ATTACHMENTS,
        max_size=uploads.size_fr(services().settings.max_attachment_bytes),
        person_url=person_url(fiche.person.public_id), **FORMAT), status


def _draft_of_sender(ctx: Context, pid: str) -> Fiche:
    fiche = _fiche(ctx, pid)
    if not is_sender(ctx.agent, fiche):
        abort(403)
    return fiche


@bp.route("/<pid>/brouillon", methods=["GET"])
def edit(pid: str) -> tuple[str, int] | BaseResponse:
    with acting() as ctx:
        fiche = _fiche(ctx, pid)
        if fiche.state != FicheState.DRAFT.value or not is_sender(ctx.agent, fiche):
            return _to_fiche(pid)
        try:
            values = drafts.read_draft(ctx, fiche)["fields"]
        except KeysError:
            ctx.record("fiche.tampered", "fiche", fiche.public_id, outcome="failure")
            return _unavailable(fiche, TAMPERED, 409)
        # Reading a draft shows what was typed about the person: audited like any reading.
        ctx.record("fiche.viewed", "fiche", fiche.public_id, purpose="party")
        return _edit_page(ctx, fiche, values, {})


@bp.route("/<pid>/brouillon", methods=["POST"])
def save(pid: str) -> tuple[str, int] | BaseResponse:
    signing_now = request.form.get("action") == "sign"
    with acting() as ctx:
        fiche = _draft_of_sender(ctx, pid)
        kind = FicheKind(fiche.kind)
        values = posted_content(kind, request.form)
        try:
            drafts.save_draft(ctx, fiche, values)
            if signing_now:
                signing.sign(ctx, fiche)
        except FicheTampered as exc:
            return _unavailable(fiche, exc.message, 409)
        except ValidationFailed as exc:
            # Nothing is kept, not even the save: the page shows what was typed, to correct.
            refuse(ctx, None, action="fiche.refused", object_type="fiche", object_id=pid)
            return _edit_page(ctx, _fiche(ctx, pid), values, exc.errors, 422)
        except DomainError as exc:
            refuse(ctx, exc.message, action="fiche.refused", object_type="fiche",
                   object_id=pid)
            return _edit_page(ctx, _fiche(ctx, pid), values, {}, 409)
        except KeysError:
            ctx.session.rollback()
            ctx.record("fiche.tampered", "fiche", pid, outcome="failure")
            return _unavailable(_fiche(ctx, pid), TAMPERED, 409)
        except BlobError:  # rolled back by refuse(), blobs written so far removed with it
            refuse(ctx, STORE_UNAVAILABLE, action="fiche.refused", object_type="fiche",
                   object_id=pid)
            return _edit_page(ctx, _fiche(ctx, pid), values, {}, 503)
    if signing_now:
        flash("La fiche est signée. Elle ne peut plus être modifiée.", "success")
        return _to_fiche(pid)
    flash("Le brouillon est enregistré.", "success")
    return _to_draft(pid)


@bp.route("/<pid>/pieces-jointes", methods=["POST"])
def attach(pid: str) -> BaseResponse:
    with acting() as ctx:
        fiche = _draft_of_sender(ctx, pid)
        upload = request.files.get("fichier")
        if upload is None or not upload.filename:
            flash("Choisissez le fichier à joindre (PDF, JPEG ou PNG).", "error")
            return _to_draft(pid, "pieces-jointes")
        try:
            checked = uploads.check_file(
                upload, max_bytes=services().settings.max_attachment_bytes)
        except uploads.UploadRefused as exc:
            refuse(ctx, exc.message, action="upload.refused", object_type="fiche", object_id=pid)
            return _to_draft(pid, "pieces-jointes")
        if attempt(ctx, pid, lambda: drafts.add_attachment(
                ctx, fiche, checked.safe_name, checked.content_type, checked.data)):
            flash("La pièce jointe est ajoutée.", "success")
    return _to_draft(pid, "pieces-jointes")


@bp.route("/<pid>/pieces-jointes/<doc>/retirer", methods=["POST"])
def detach(pid: str, doc: str) -> BaseResponse:
    with acting() as ctx:
        fiche = _draft_of_sender(ctx, pid)
        if attempt(ctx, pid, lambda: drafts.remove_attachment(ctx, fiche, public_id(doc))):
            flash("La pièce jointe est retirée.", "success")
    return _to_draft(pid, "pieces-jointes")


# -- the signed fiche ---------------------------------------------------------------------------


def _sections(kind: FicheKind, fields: dict[str, Any]) -> list[tuple[str, str, Any]]:
    """(label, type, value to show) for each field of the form, in the form's order."""
    shown = []
    for f in rules.FORM_FIELDS[kind]:
        value = fields.get(f.name)
        if f.type == "barriers":
            value = [FORMAT["barrier_label"](v) for v in value or []
                     if parse_choice(SocialBarrier, v) is not None]
        elif f.type == "exit_reason":
            value = FORMAT["exit_label"](value) if value else ""
        elif f.type == "date":
            value = FORMAT["day_iso"](value) if value else ""
        shown.append((f.label, f.type, value or ""))
    return shown


def _receipts(ctx: Context, fiche: Fiche, receipts: list[dict[str, Any]]) -> list[dict[str, str]]:
    shown = []
    for receipt in receipts:
        user = ctx.session.scalar(select(User).where(
            User.public_id == receipt.get("recipient_user")))
        shown.append({
            "institution": fiche.recipient_unit.institution.name,
            "unit": fiche.recipient_unit.name,
            "user": user.display_name if user else "—",
            "when": FORMAT["when_iso"](receipt.get("time")),
            "version": str(receipt.get("version", "")),
        })
    return shown


@bp.route("/<pid>")
def show(pid: str) -> tuple[str, int] | BaseResponse:
    # Decrypting and checking (the PDF's signature too, on the recipient's first opening) run
    # in a reading; the unit of work records the opening, checking again only if the fiche
    # changed in between; the page is rendered in a second reading. On SQLite the write lock
    # is held only while the opening is recorded.
    with acting(read_only=True) as ctx:
        fiche = _fiche(ctx, pid)
        if fiche.state == FicheState.DRAFT.value and is_sender(ctx.agent, fiche):
            return _to_draft(pid)
        try:
            checked = reading.check_fiche(ctx, fiche)
        except FicheTampered:
            checked = None  # checked again, and recorded, below
        except FicheError as exc:
            return _unavailable(fiche, exc.message, 200)
    with acting() as ctx:
        fiche = _fiche(ctx, pid)
        try:
            # A rectified version has both its signatures checked before anything is opened.
            rectification.check_current(ctx, fiche)
            opened = reading.open_fiche(ctx, fiche, "party", checked)
        except FicheTampered as exc:  # recorded by the use case: committed with this block
            return _unavailable(fiche, exc.message, 409)
        except FicheError as exc:
            return _unavailable(fiche, exc.message, 200)
    with acting(read_only=True) as ctx:
        fiche = _fiche(ctx, pid)
        countersigner = _countersigner(ctx, opened.manifest)
        accompaniment = (ctx.session.get(Accompaniment, fiche.accompaniment_id)
                         if fiche.accompaniment_id else None)
        consent = fiche.consent
        return render_template(
            "fiches/show.html", fiche=fiche, content=opened.content, manifest=opened.manifest,
            sections=_sections(FicheKind(fiche.kind), opened.content.get("fields", {})),
            attachments=opened.attachments, receipts=_receipts(ctx, fiche, opened.receipts),
            note=opened.note, actions=_actions(ctx, fiche), sender=is_sender(ctx.agent, fiche),
            recipient=is_recipient(ctx.agent, fiche), countersigner=countersigner,
            requires_countersign=requires_countersign(fiche),
            accompaniment=accompaniment,
            consent_withdrawn=consent.withdrawn_at if consent is not None else None,
            consent_method=_consent_method(opened.content),
            history=rectification.history(ctx, fiche),
            person_url=person_url(fiche.person.public_id), **FORMAT), 200


def _countersigner(ctx: Context, manifest: dict[str, Any]) -> str | None:
    """The unit manager named by a verified manifest, if the version was countersigned."""
    if not manifest.get("countersigned_by"):
        return None
    return ctx.session.scalar(select(User.display_name).where(
        User.public_id == manifest["countersigned_by"]))


def _consent_method(content: dict[str, Any]) -> str:
    method = (content.get("consent") or {}).get("method")
    try:
        return ConsentMethod(method).label if method else ""
    except ValueError:
        return str(method)


def _download(data: bytes, content_type: str, filename: str) -> Response:
    response = Response(data, mimetype=content_type)
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@bp.route("/<pid>/pdf")
def pdf(pid: str) -> Response | tuple[str, int] | BaseResponse:
    with acting() as ctx:
        fiche = _fiche(ctx, pid)
        try:
            data = reading.signed_pdf(ctx, fiche)
        except FicheTampered as exc:
            return _unavailable(fiche, exc.message, 409)
        except DomainError as exc:
            refuse(ctx, exc.message, action="fiche.refused", object_type="fiche", object_id=pid)
            return _to_fiche(pid)
    return _download(data, uploads.PDF, f"fiche-{reference(pid)}.pdf")


@bp.route("/<pid>/pieces-jointes/<doc>")
def attachment(pid: str, doc: str) -> Response | tuple[str, int] | BaseResponse:
    with acting() as ctx:
        fiche = _fiche(ctx, pid)
        try:
            entry, data = reading.attachment(ctx, fiche, public_id(doc))
        except FicheTampered as exc:
            return _unavailable(fiche, exc.message, 409)
        except DomainError as exc:
            refuse(ctx, exc.message, action="fiche.refused", object_type="fiche", object_id=pid)
            return _to_fiche(pid)
    content_type = entry.get("type") if entry.get("type") in uploads.ACCEPTED_TYPES else None
    name = str(entry.get("name") or "")
    if content_type is None:
        content_type, name = "application/octet-stream", "piece-jointe"
    elif not SAFE_NAME.fullmatch(name) or ".." in name:
        name = f"piece-jointe{uploads.EXTENSIONS[content_type]}"
    return _download(data, content_type, name)


# -- transitions --------------------------------------------------------------------------------


def _transition(pid: str, call: Callable[[Context, Fiche], object], done: str) -> BaseResponse:
    with acting() as ctx:
        fiche = _fiche(ctx, pid)
        if attempt(ctx, pid, lambda: call(ctx, fiche)):
            flash(done, "success")
    return _to_fiche(pid)


def _reason() -> tuple[str, str]:
    return request.form.get("reason", ""), request.form.get("text", "")


@bp.route("/<pid>/contresigner", methods=["POST"])
def countersign(pid: str) -> BaseResponse:
    return _transition(pid, signing.countersign,
                       "La fiche est contresignée : elle peut être envoyée.")


@bp.route("/<pid>/envoyer", methods=["POST"])
def send(pid: str) -> BaseResponse:
    return _transition(pid, lambda ctx, fiche: sending.send(ctx, fiche),
                       "La fiche est envoyée à la structure destinataire.")


@bp.route("/<pid>/rappeler", methods=["POST"])
def recall(pid: str) -> BaseResponse:
    reason, text = _reason()
    return _transition(pid, lambda ctx, fiche: sending.recall(ctx, fiche, reason, text),
                       "La fiche est retirée : le destinataire ne peut plus la consulter.")


@bp.route("/<pid>/annuler", methods=["POST"])
def cancel(pid: str) -> BaseResponse:
    reason, text = _reason()
    return _transition(pid, lambda ctx, fiche: sending.cancel(ctx, fiche, reason, text),
                       "La fiche est annulée.")


@bp.route("/<pid>/accuser-reception", methods=["POST"])
def acknowledge(pid: str) -> BaseResponse:
    return _transition(pid, decisions.acknowledge,
                       "Réception accusée : l'expéditeur reçoit un accusé signé.")


@bp.route("/<pid>/accepter", methods=["POST"])
def accept(pid: str) -> BaseResponse:
    return _transition(pid, decisions.accept,
                       "L'orientation est acceptée : l'accompagnement est créé.")


@bp.route("/<pid>/refuser", methods=["POST"])
def decline(pid: str) -> BaseResponse:
    reason, text = _reason()
    return _transition(pid, lambda ctx, fiche: decisions.decline(ctx, fiche, reason, text),
                       "L'orientation est refusée ; l'expéditeur en est informé.")


# -- rectification (RGPD art. 16): a new signed version; the replaced ones stay readable --------


def _author_of_sender(ctx: Context, pid: str) -> Fiche:
    """The fiche, for a professional of its sending unit: the role first (refused whatever the
    id), then the fiche (404 for other units), then the side (the recipient is refused)."""
    if not ctx.agent.roles & rectification.AUTHORS:
        abort(403)
    fiche = _fiche(ctx, pid)
    if not is_sender(ctx.agent, fiche):
        abort(403)
    return fiche


def _rectify_page(ctx: Context, fiche: Fiche, values: dict[str, Any], motive: str,
                  errors: dict[str, str], status: int = 200) -> tuple[str, int]:
    kind = FicheKind(fiche.kind)
    motive_field = FieldView(rectification.MOTIVE_FIELD, "Motif de la rectification", "motive",
                             True, motive, errors.get(rectification.MOTIVE_FIELD),
                             list(rectification.MOTIVES.items()))
    return render_template(
        "fiches/rectify.html", fiche=fiche, kind=kind,
        fields=content_fields(kind, values, errors), motive_field=motive_field,
        person_url=person_url(fiche.person.public_id), **FORMAT), status


@bp.route("/<pid>/rectifier", methods=["GET"])
def rectify_form(pid: str) -> tuple[str, int] | BaseResponse:
    """The form, prefilled with the version in force (opened and audited as a reading)."""
    with acting() as ctx:
        fiche = _author_of_sender(ctx, pid)
        try:
            rectification.check_may_rectify(ctx, fiche)
        except FicheError as exc:
            refuse(ctx, exc.message, action="fiche.refused", object_type="fiche", object_id=pid)
            return _to_fiche(pid)
        try:
            opened = reading.open_fiche(ctx, fiche, "party")
        except FicheTampered as exc:
            return _unavailable(fiche, exc.message, 409)
        except FicheError as exc:
            return _unavailable(fiche, exc.message, 200)
        return _rectify_page(ctx, fiche, opened.content.get("fields", {}), "", {})


@bp.route("/<pid>/rectifier", methods=["POST"])
def rectify(pid: str) -> tuple[str, int] | BaseResponse:
    with acting() as ctx:
        fiche = _author_of_sender(ctx, pid)
        values: dict[str, Any] = posted_content(FicheKind(fiche.kind), request.form)
        motive = request.form.get(rectification.MOTIVE_FIELD, "")
        try:
            rectification.rectify(ctx, fiche, values, motive)
        except FicheTampered as exc:  # recorded by the use case, before anything was written
            return _unavailable(fiche, exc.message, 409)
        except ValidationFailed as exc:
            refuse(ctx, None, action="fiche.refused", object_type="fiche", object_id=pid)
            return _rectify_page(ctx, _fiche(ctx, pid), values, motive, exc.errors, 422)
        except DomainError as exc:
            refuse(ctx, exc.message, action="fiche.refused", object_type="fiche",
                   object_id=pid)
            return _to_fiche(pid)
        except KeysError:
            ctx.session.rollback()
            ctx.record("fiche.tampered", "fiche", pid, outcome="failure")
            return _unavailable(_fiche(ctx, pid), TAMPERED, 409)
        except BlobError:
            refuse(ctx, STORE_UNAVAILABLE, action="fiche.refused", object_type="fiche",
                   object_id=pid)
            return _rectify_page(ctx, _fiche(ctx, pid), values, motive, {}, 503)
        version, recipient = fiche.version, fiche.recipient_unit.name
    flash(f"La fiche est rectifiée : la version {version} est signée et remplace la "
          f"précédente. {recipient} en est prévenue.", "success")
    return _to_fiche(pid)


def _replaced(ctx: Context, fiche: Fiche, version: int) -> FicheVersion:
    row = rectification.version_row(ctx, fiche, version)
    if row is None:
        abort(404)
    return row


@bp.route("/<pid>/versions/<int:version>")
def version(pid: str, version: int) -> tuple[str, int] | BaseResponse:
    """A version a rectification replaced, checked like the fiche; the version in force is
    the fiche's own page."""
    with acting() as ctx:
        fiche = _fiche(ctx, pid)
        if version == fiche.version:
            return _to_fiche(pid)
        row = _replaced(ctx, fiche, version)
        try:
            checked = rectification.open_version(ctx, fiche, row)
        except FicheTampered as exc:
            return _unavailable(fiche, exc.message, 409)
        except FicheError as exc:
            return _unavailable(fiche, exc.message, 200)
        content, manifest = checked.content, checked.manifest
        documents = attachment_documents(ctx, fiche)
        return render_template(
            "fiches/version.html", fiche=fiche, row=row, content=content, manifest=manifest,
            motive=rectification.MOTIVES.get(row.motive, row.motive),
            sections=_sections(FicheKind(fiche.kind), content.get("fields", {})),
            attachments=list(zip(documents, content.get("attachments", []), strict=False)),
            recipient=is_recipient(ctx.agent, fiche),
            countersigner=_countersigner(ctx, manifest),
            consent_method=_consent_method(content), **FORMAT), 200


@bp.route("/<pid>/versions/<int:version>/pdf")
def version_pdf(pid: str, version: int) -> Response | tuple[str, int] | BaseResponse:
    with acting() as ctx:
        fiche = _fiche(ctx, pid)
        if version == fiche.version:
            return redirect(url_for(".pdf", pid=pid), SEE_OTHER)
        row = _replaced(ctx, fiche, version)
        try:
            data = rectification.version_pdf(ctx, fiche, row)
        except FicheTampered as exc:
            return _unavailable(fiche, exc.message, 409)
        except DomainError as exc:
            refuse(ctx, exc.message, action="fiche.refused", object_type="fiche", object_id=pid)
            return _to_fiche(pid)
    return _download(data, uploads.PDF, f"fiche-{reference(pid)}-version-{version}.pdf")


# -- the role home pages' summary ---------------------------------------------------------------


@bp.app_context_processor
def for_templates() -> dict[str, Any]:
    return {"fiche_format": FORMAT}
