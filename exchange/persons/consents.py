"""A person's consent to an exchange: record it, list it, withdraw it, print its notice, and
give the sending code the facts it checks (`consent_facts`).

A consent covers one axis and one recipient institution: an institution that is the other
party of a convention in force with the user's institution that opens that axis. It is
collected on a signed paper form, whose scan (checked by `exchange.platform.uploads`) is sealed as a
document readable by the collecting institution only, or in front of the professional, who
attests it. Neither the scan's file name nor anything else typed about the person is stored in
clear: the download is named after the consent's public id.

Each use case records one audit event through the context's recorder (see `exchange.persons`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time

from sqlalchemy import or_, select
from sqlalchemy.orm import object_session, selectinload

from exchange.accounts.models import User
from exchange.domain.clock import PARIS
from exchange.domain.consent import NOTICES, ConsentFacts, Notice, validate_consent_record
from exchange.domain.consent import withdraw as withdraw_rule
from exchange.domain.dates import french_date
from exchange.domain.errors import ConsentWithdrawn, ValidationFailed
from exchange.domain.fields import REQUIRED, parse_choice, parse_iso_date
from exchange.domain.identity import Identity
from exchange.domain.vocabulary import Axis, ConsentMethod
from exchange.org.models import Convention, Institution
from exchange.persons.identities import Context, read_identity, unreadable
from exchange.persons.models import Consent, Person
from exchange.platform.models import Document
from exchange.platform.uploads import ACCEPTED_TYPES, EXTENSIONS, CheckedUpload, detect_type
from exchange.policy import NotVisible
from keys.errors import EnvelopeTampered, KeyNotFound

FORM_ROLE = "consent_form"
FORM_TYPES = ACCEPTED_TYPES  # a signed form is scanned to PDF or photographed
DOWNLOAD_STEM = "formulaire-consentement"


@dataclass(frozen=True)
class Partner:
    """An institution the user's institution may exchange with, and the axes its conventions
    in force open (with each axis's retention period in months)."""

    institution: Institution
    retention_months: dict[Axis, int]

    @property
    def axes(self) -> list[Axis]:
        return sorted(self.retention_months)


@dataclass(frozen=True)
class ConsentLine:
    """A consent as the person page lists it."""

    consent: Consent
    recipient: Institution
    collected_by: str
    has_paper_form: bool
    form_readable: bool

    @property
    def axis(self) -> Axis:
        return Axis(self.consent.axis)

    @property
    def method(self) -> ConsentMethod:
        return ConsentMethod(self.consent.method)

    @property
    def withdrawn(self) -> bool:
        return self.consent.withdrawn_at is not None


@dataclass(frozen=True)
class PaperForm:
    """The decrypted scan of a signed consent form, ready to download."""

    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class PrintedNotice:
    notice: Notice
    text: str
    identity: Identity
    controller: Institution
    recipient: Institution
    axis: Axis


# -- partners and notices ----------------------------------------------------------------------


def _conventions_of(ctx: Context) -> list[Convention]:
    institution_id = ctx.agent.institution.id
    return list(ctx.session.scalars(
        select(Convention)
        .where(or_(Convention.institution_a_id == institution_id,
                   Convention.institution_b_id == institution_id))
        .options(selectinload(Convention.amendments), selectinload(Convention.institution_a),
                 selectinload(Convention.institution_b))
        .order_by(Convention.start_date)))


def _other(convention: Convention, institution_id: int) -> Institution:
    if convention.institution_a_id == institution_id:
        return convention.institution_b
    return convention.institution_a


def _months(convention: Convention, axis: Axis) -> int:
    if axis is Axis.AXE2:
        return convention.retention_axis2_months
    return convention.retention_axis3_months


def partners(ctx: Context) -> list[Partner]:
    """The other parties of the conventions in force today with the user's institution."""
    today = ctx.svc.clock.today()
    found: dict[int, tuple[Institution, dict[Axis, int]]] = {}
    for convention in _conventions_of(ctx):
        if not convention.in_force(today):
            continue
        other = _other(convention, ctx.agent.institution.id)
        _, axes = found.setdefault(other.id, (other, {}))
        for value in convention.axes():
            axis = Axis(value)
            axes[axis] = max(axes.get(axis, 0), _months(convention, axis))
    return sorted((Partner(inst, axes) for inst, axes in found.values()),
                  key=lambda p: p.institution.name)


def _notice_retention(ctx: Context, recipient_id: int, axis: Axis) -> int | None:
    """The retention period the notice states: that of the convention in force with the
    recipient for ``axis``, else of the latest one that opened it, else the default."""
    today = ctx.svc.clock.today()
    candidates = [c for c in _conventions_of(ctx)
                  if recipient_id in c.parties() and axis in c.axes()]
    in_force = [c for c in candidates if c.in_force(today)]
    chosen = in_force or candidates
    if not chosen:
        return None
    return max(_months(c, axis) for c in chosen)


def _dpo_contact(institution: Institution) -> str:
    parts = [institution.dpo_name, institution.dpo_email, " ".join(institution.dpo_address.split())]
    text = ", ".join(p.strip() for p in parts if p and p.strip())
    return text or f"le délégué à la protection des données de {institution.name}"


def print_notice(ctx: Context, person: Person, version: str, recipient_public_id: str,
                 axis_value: int) -> PrintedNotice:
    """The information notice ``version`` for ``person``, ``axis`` and the recipient: a
    current partner for that axis, or the recipient of one of the person's consents for it
    (``consent.notice_viewed``). NotVisible for anything else."""
    notice = NOTICES.get(version)
    if notice is None or axis_value not in (a.value for a in Axis):
        raise NotVisible(version)
    axis = Axis(axis_value)
    recipient = ctx.session.scalar(
        select(Institution).where(Institution.public_id == recipient_public_id))
    if recipient is None:
        raise NotVisible(recipient_public_id)
    is_partner = any(p.institution.id == recipient.id and axis in p.retention_months
                     for p in partners(ctx))
    consented = ctx.session.scalar(select(Consent.id).where(
        Consent.person_id == person.id, Consent.axis == axis.value,
        Consent.recipient_institution_id == recipient.id))
    if not is_partner and consented is None:
        raise NotVisible(recipient_public_id)
    controller = ctx.session.get(Institution, ctx.agent.institution.id)
    assert controller is not None
    identity = read_identity(ctx, person, "consent.notice_viewed")
    text = notice.render(
        controller=controller.name, controller_dpo=_dpo_contact(controller),
        recipient=recipient.name, recipient_dpo=_dpo_contact(recipient), axis=axis,
        retention_months=_notice_retention(ctx, recipient.id, axis))
    return PrintedNotice(notice, text, identity, controller, recipient, axis)


# -- recording ---------------------------------------------------------------------------------


def collected_instant(day: date) -> datetime:
    """A consent collected on ``day`` counts from the start of that day in Paris."""
    return datetime.combine(day, time(0), tzinfo=PARIS)


def consent_errors(
    ctx: Context,
    *,
    axis: object,
    recipient: object,
    notice_version: object,
    method: object,
    attestation: bool,
    collected_on: object,
    has_paper_form: bool,
) -> dict[str, str]:
    """Field -> French message for a consent about to be recorded; empty when valid. Field
    names are the form's: ``axis``, ``recipient``, ``notice_version``, ``method``,
    ``attestation``, ``paper_form``, ``collected_on``."""
    day = parse_iso_date(collected_on) if isinstance(collected_on, str) else None
    errors = validate_consent_record(
        axis=axis, method=method, notice_version=notice_version,
        collected_at=collected_instant(day) if day else None,
        attestation=attestation, has_paper_form=has_paper_form, now=ctx.svc.clock.now())
    if "collected_at" in errors:
        errors["collected_on"] = errors.pop("collected_at")
        if isinstance(collected_on, str) and collected_on.strip() and day is None:
            errors["collected_on"] = "Saisissez une date valide au format AAAA-MM-JJ."
    notice = NOTICES.get(notice_version) if isinstance(notice_version, str) else None
    if day is not None and notice is not None and day < notice.effective_from:
        errors["collected_on"] = (
            f"La version {notice.version} de la notice n'est en vigueur que depuis le "
            f"{french_date(notice.effective_from)} : vérifiez la date de recueil ou la "
            "version remise.")
    partner = next((p for p in partners(ctx) if p.institution.public_id == recipient), None)
    if not recipient:
        errors["recipient"] = REQUIRED
    elif partner is None:
        errors["recipient"] = ("Choisissez un établissement lié à votre institution par une "
                               "convention en vigueur.")
    elif "axis" not in errors and Axis(int(str(axis))) not in partner.retention_months:
        errors["recipient"] = (f"La convention avec {partner.institution.name} n'ouvre pas "
                               f"l'{Axis(int(str(axis))).label.lower()}.")
    return errors


def record_consent(
    ctx: Context,
    person: Person,
    *,
    axis: object,
    recipient: object,
    notice_version: object,
    method: object,
    attestation: bool,
    collected_on: object,
    paper_form: CheckedUpload | None,
) -> Consent:
    """Record the consent (``consent.recorded``) and seal the scanned form when the method is
    the paper form; ValidationFailed (field -> message) before anything is written."""
    chosen = parse_choice(ConsentMethod, method)
    scan = paper_form if chosen is ConsentMethod.PAPER_FORM_UPLOADED else None
    errors = consent_errors(ctx, axis=axis, recipient=recipient, notice_version=notice_version,
                            method=method, attestation=attestation, collected_on=collected_on,
                            has_paper_form=scan is not None)
    if errors:
        raise ValidationFailed(errors)
    day = parse_iso_date(collected_on)
    institution = ctx.session.scalar(select(Institution).where(Institution.public_id == recipient))
    assert day is not None and institution is not None and chosen is not None
    now = ctx.svc.clock.now()
    consent = Consent(
        person_id=person.id, axis=int(str(axis)), recipient_institution_id=institution.id,
        notice_version=str(notice_version), method=chosen.value,
        attestation=bool(attestation) and chosen is ConsentMethod.IN_PERSON_ATTESTATION,
        collected_by_user_id=ctx.agent.id, collected_on=day, created_at=now,
        horizon=person.horizon)
    ctx.session.add(consent)
    ctx.session.flush()
    if scan is not None:
        owner = _reader(ctx)
        document = ctx.svc.documents(ctx.session).seal(
            scan.data, role=FORM_ROLE, kind=FORM_ROLE, sender=owner, readers=[owner],
            epoch=person.epoch, at=now, consent_id=consent.id)
        document.horizon = person.horizon
    ctx.record("consent.recorded", "consent", consent.public_id)
    return consent


def _reader(ctx: Context) -> str:
    return ctx.agent.institution.key_owner


# -- reading -----------------------------------------------------------------------------------


def _forms_of(ctx: Context, consent_ids: list[int]) -> dict[int, Document]:
    if not consent_ids:
        return {}
    rows = ctx.session.scalars(select(Document).where(
        Document.consent_id.in_(consent_ids), Document.role == FORM_ROLE)
        .options(selectinload(Document.wraps))).all()
    return {row.consent_id: row for row in rows if row.consent_id is not None}


def _readable(ctx: Context, document: Document) -> bool:
    owner = _reader(ctx)
    return any(w.reader == owner for w in document.wraps)


def consents_of(ctx: Context, person: Person) -> list[ConsentLine]:
    """The person's consents, latest first (part of the page that reads the person: not
    audited on its own)."""
    consents = ctx.session.scalars(select(Consent).where(Consent.person_id == person.id)
                                   .order_by(Consent.created_at.desc(), Consent.id.desc())).all()
    if not consents:
        return []
    institutions = {i.id: i for i in ctx.session.scalars(select(Institution).where(
        Institution.id.in_({c.recipient_institution_id for c in consents})))}
    users = {user_id: name for user_id, name in ctx.session.execute(
        select(User.id, User.display_name).where(
            User.id.in_({c.collected_by_user_id for c in consents})))}
    forms = _forms_of(ctx, [c.id for c in consents])
    return [ConsentLine(
        consent=c, recipient=institutions[c.recipient_institution_id],
        collected_by=users.get(c.collected_by_user_id, ""),
        has_paper_form=c.id in forms,
        form_readable=c.id in forms and _readable(ctx, forms[c.id]),
    ) for c in consents]


def consent_for(ctx: Context, person: Person, public_id: str) -> Consent:
    """One consent of a visible person; NotVisible when it belongs to someone else."""
    consent = ctx.session.scalar(select(Consent).where(
        Consent.public_id == public_id, Consent.person_id == person.id))
    if consent is None:
        raise NotVisible(public_id, "consent")
    return consent


def view_consent(ctx: Context, person: Person, public_id: str) -> ConsentLine:
    """One consent, as the withdrawal page shows it (``consent.viewed``)."""
    consent = consent_for(ctx, person, public_id)
    line = next(line for line in consents_of(ctx, person) if line.consent.id == consent.id)
    ctx.record("consent.viewed", "consent", consent.public_id)
    return line


def download_form(ctx: Context, person: Person, public_id: str) -> PaperForm:
    """The decrypted scan (``consent.form_downloaded``); NotVisible when there is none or the
    user's institution is not its reader; IdentityUnreadable when it does not open."""
    consent = consent_for(ctx, person, public_id)
    document = _forms_of(ctx, [consent.id]).get(consent.id)
    if document is None or not _readable(ctx, document):
        raise NotVisible(public_id, "document")
    try:
        data = ctx.svc.documents(ctx.session).open(document, _reader(ctx))
    except (EnvelopeTampered, KeyNotFound) as exc:
        raise unreadable(ctx, "consent.form_downloaded", "consent", consent.public_id,
                             exc) from None
    content_type = detect_type(data) or "application/octet-stream"
    extension = EXTENSIONS.get(content_type, ".bin")
    ctx.record("consent.form_downloaded", "consent", consent.public_id)
    return PaperForm(f"{DOWNLOAD_STEM}-{consent.public_id[:12]}{extension}", content_type, data)


def withdraw_consent(ctx: Context, person: Person, public_id: str) -> Consent:
    """Mark the consent withdrawn now, by the user (``consent.withdrawn``). A consent already
    withdrawn raises ConsentWithdrawn, after recording the refusal."""
    consent = consent_for(ctx, person, public_id)
    now = ctx.svc.clock.now()
    try:
        withdraw_rule(consent_facts(consent), at=now)
    except ConsentWithdrawn:
        ctx.record("consent.withdrawn", "consent", consent.public_id, outcome="refused")
        raise
    consent.withdrawn_at = now
    consent.withdrawn_by_user_id = ctx.agent.id
    ctx.record("consent.withdrawn", "consent", consent.public_id)
    return consent


def consent_facts(consent: Consent) -> ConsentFacts:
    """What the sending rules check (`exchange.domain.consent.check_consent_for_send`). Ids
    are the database ids: compare with ``fiche.person_id`` and the recipient unit's
    ``institution_id``. The consent counts from the start of its collection day in Paris."""
    session = object_session(consent)
    has_form = False
    if session is not None:
        has_form = session.scalar(select(Document.id).where(
            Document.consent_id == consent.id, Document.role == FORM_ROLE)) is not None
    return ConsentFacts(
        consent_id=consent.id,
        person_id=consent.person_id,
        axis=Axis(consent.axis),
        recipient_institution=consent.recipient_institution_id,
        notice_version=consent.notice_version,
        method=ConsentMethod(consent.method),
        collected_by=consent.collected_by_user_id,
        collected_at=collected_instant(consent.collected_on),
        withdrawn_at=consent.withdrawn_at,
        attestation=consent.attestation,
        has_paper_form=has_form,
    )

