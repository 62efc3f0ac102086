"""The fiche de liaison: who may send which kind, its form, and its lifecycle.

Lifecycle (DESIGN.md)::

    draft -sign-> signed [-countersign, if the convention asks-> countersigned] -send-> sent
    sent -open-> read -acknowledge-> acknowledged -accept|decline-> accepted | declined
    sent -recall (only before read)-> recalled
    draft | signed | countersigned -cancel-> cancelled

Each transition is one function that takes the current state (and what the rule needs) and
returns the next state, or raises :class:`TransitionRefused` naming the current state. The
source states of each transition are in ``ALLOWED_SOURCES``. These functions decide; the
caller records who and when, writes the audit event and commits, in one transaction.
Bilans and returns end at ``acknowledged``; only orientations are accepted or declined.

Who may send what (``allowed_kinds_for``), after 001 art. 2.2 and 003 art. 2.1-2.2:

- a social worker of a Département or a CCAS/CIAS, to France Travail: axe 2 orientations,
  mid-term and final bilans, returns to the advisor;
- an advisor of France Travail, to a Département or a CCAS/CIAS: axe 2 orientations (either side
  may orient towards accompagnement global) and axe 3 orientations.

Form fields (``FORM_FIELDS``; names are the keys of the ``data`` mapping, dates are
``AAAA-MM-JJ``, ``barriers`` is a list of ``SocialBarrier`` values, texts at most
``TEXT_MAX_LENGTH`` characters):

- orientations: ``diagnostic_date`` (date of the shared diagnostic, required),
  ``barriers`` (at least one), ``professional_barriers`` (required for axe 2, where social and
  professional barriers are worked on together; optional for axe 3), ``motive`` (required),
  ``expectations`` (the person's expectations, optional);
- mid-term bilan: ``review_date`` (required), ``barriers`` (those that remain, optional),
  ``summary`` (required), ``actions`` (optional), ``next_steps`` (required);
- final bilan: ``review_date``, ``barriers`` (optional), ``summary``, ``actions`` (optional),
  ``exit_proposal`` (an ``ExitReason`` value, required: 001 art. 6-2 has the fiche carry the
  exit reasons), ``exit_proposal_text`` (required when the proposal is ``other``);
- return to the advisor (003 art. 2.2, after the social worker's evaluation):
  ``review_date``, ``barriers`` (optional), ``summary`` (the evaluation, required),
  ``next_steps`` (the accompaniment proposed and when the job search can resume, required).

Unknown keys in ``data`` (a CSRF token, a button name) are ignored by ``validate_content`` and
dropped by ``clean_content``.
"""

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from types import MappingProxyType
from typing import Literal

from exchange.domain.consent import ConsentFacts, Id, check_consent_for_send
from exchange.domain.errors import RestrictionActive, TransitionRefused, ValidationFailed
from exchange.domain.fields import (
    REQUIRED,
    choice_error,
    date_error,
    labels_of,
    parse_choice,
    reason_errors,
    text_error,
)
from exchange.domain.vocabulary import (
    Axis,
    CancelReason,
    DeclineReason,
    ExitReason,
    FicheKind,
    FicheState,
    InstitutionKind,
    RecallReason,
    Role,
    SocialBarrier,
)


class Transition(StrEnum):
    SIGN = "sign"
    COUNTERSIGN = "countersign"
    SEND = "send"
    OPEN = "open"
    ACKNOWLEDGE = "acknowledge"
    ACCEPT = "accept"
    DECLINE = "decline"
    RECALL = "recall"
    CANCEL = "cancel"


ALLOWED_SOURCES: Mapping[Transition, frozenset[FicheState]] = MappingProxyType(
    {
        Transition.SIGN: frozenset({FicheState.DRAFT}),
        Transition.COUNTERSIGN: frozenset({FicheState.SIGNED}),
        # From signed only where the convention asks no countersignature (see send()).
        Transition.SEND: frozenset({FicheState.SIGNED, FicheState.COUNTERSIGNED}),
        # Opening again what was already opened keeps its state (the open is still audited).
        Transition.OPEN: frozenset(
            {
                FicheState.SENT,
                FicheState.READ,
                FicheState.ACKNOWLEDGED,
                FicheState.ACCEPTED,
                FicheState.DECLINED,
            }
        ),
        Transition.ACKNOWLEDGE: frozenset({FicheState.READ}),
        Transition.ACCEPT: frozenset({FicheState.ACKNOWLEDGED}),
        Transition.DECLINE: frozenset({FicheState.ACKNOWLEDGED}),
        Transition.RECALL: frozenset({FicheState.SENT}),
        Transition.CANCEL: frozenset(
            {FicheState.DRAFT, FicheState.SIGNED, FicheState.COUNTERSIGNED}
        ),
    }
)

_ACTION = {
    Transition.SIGN: "de signer",
    Transition.COUNTERSIGN: "de contresigner",
    Transition.SEND: "d'envoyer",
    Transition.OPEN: "d'ouvrir",
    Transition.ACKNOWLEDGE: "d'accuser réception de",
    Transition.ACCEPT: "d'accepter",
    Transition.DECLINE: "de refuser",
    Transition.RECALL: "de retirer",
    Transition.CANCEL: "d'annuler",
}

_HINT = {
    Transition.SIGN: "Seul un brouillon peut être signé.",
    Transition.COUNTERSIGN: "Seule une fiche signée et pas encore envoyée peut être contresignée.",
    Transition.SEND: "Seule une fiche signée, et contresignée si la convention le prévoit, "
    "peut être envoyée.",
    Transition.OPEN: "Seule une fiche reçue peut être ouverte.",
    Transition.ACKNOWLEDGE: "On accuse réception d'une fiche ouverte, une seule fois.",
    Transition.ACCEPT: "Une orientation est acceptée ou refusée une fois sa réception "
    "accusée, et une seule fois.",
    Transition.DECLINE: "Une orientation est acceptée ou refusée une fois sa réception "
    "accusée, et une seule fois.",
    Transition.RECALL: "Une fiche ne peut être retirée qu'après son envoi et avant que le "
    "destinataire ne l'ouvre.",
    Transition.CANCEL: "Seule une fiche qui n'a pas encore été envoyée peut être annulée.",
}


def _require(
    transition: Transition, state: FicheState, kind: FicheKind | None = None
) -> FicheState:
    """``state`` as a FicheState (a stored string is accepted) if ``transition`` allows it."""
    state = FicheState(state)
    if state not in ALLOWED_SOURCES[transition]:
        what = "cette fiche" if kind is None else f"cette fiche « {FicheKind(kind).label} »"
        raise TransitionRefused(
            f"Impossible {_ACTION[transition]} {what} : elle est à l'état "
            f"« {state.label} ». {_HINT[transition]}"
        )
    return state


def _require_orientation(transition: Transition, kind: FicheKind) -> None:
    kind = FicheKind(kind)
    if not kind.is_orientation:
        raise TransitionRefused(
            f"Impossible {_ACTION[transition]} une fiche « {kind.label} » : seules les "
            "orientations sont acceptées ou refusées ; les bilans et les retours s'arrêtent "
            "à l'accusé de réception.",
            code="not_an_orientation",
        )


def sign(state: FicheState, *, kind: FicheKind) -> FicheState:
    """draft -> signed. Validate the content (``clean_content``) before signing."""
    _require(Transition.SIGN, state, kind)
    return FicheState.SIGNED


def countersign(state: FicheState, *, convention_requires: bool) -> FicheState:
    """signed -> countersigned, by the unit manager, where the convention asks for it."""
    _require(Transition.COUNTERSIGN, state)
    if not convention_requires:
        raise TransitionRefused(
            "La convention ne prévoit pas de contreseing du responsable : la fiche signée "
            "peut être envoyée directement.",
            code="countersign_not_required",
        )
    return FicheState.COUNTERSIGNED


def send(
    state: FicheState,
    *,
    requires_countersign: bool,
    consent: ConsentFacts | None,
    restricted: bool,
    person_id: Id,
    axis: Axis,
    recipient_institution: Id,
    at: datetime,
) -> FicheState:
    """signed (or countersigned) -> sent.

    ``axis`` is the orientation's axis, or the accompaniment's for a bilan or a return;
    ``restricted`` is true while the person's processing is restricted (RGPD art. 18).
    Checks, in order: state, countersignature, restriction, consent.
    """
    state = _require(Transition.SEND, state)
    if requires_countersign and state is FicheState.SIGNED:
        raise TransitionRefused(
            "La convention prévoit la signature du responsable de structure : faites "
            "contresigner la fiche avant de l'envoyer.",
            code="countersign_required",
        )
    if restricted:
        raise RestrictionActive()
    check_consent_for_send(
        consent,
        person_id=person_id,
        axis=axis,
        recipient_institution=recipient_institution,
        at=at,
    )
    return FicheState.SENT


def open_(state: FicheState) -> FicheState:
    """sent -> read by the recipient; a fiche already opened keeps its state."""
    state = _require(Transition.OPEN, state)
    return FicheState.READ if state is FicheState.SENT else state


def acknowledge(state: FicheState) -> FicheState:
    """read -> acknowledged (the recipient institution returns a signed receipt)."""
    _require(Transition.ACKNOWLEDGE, state)
    return FicheState.ACKNOWLEDGED


def accept(state: FicheState, *, kind: FicheKind) -> FicheState:
    """acknowledged -> accepted, orientations only; the caller starts the accompaniment."""
    _require_orientation(Transition.ACCEPT, kind)
    _require(Transition.ACCEPT, state, kind)
    return FicheState.ACCEPTED


def decline(
    state: FicheState, *, kind: FicheKind, reason: DeclineReason | str | None, text: str
) -> FicheState:
    """acknowledged -> declined, orientations only, with a reason (``other`` needs text).

    Raises ValidationFailed with fields ``reason`` / ``text``. Store ``DeclineReason(reason)``
    and ``text.strip()``.
    """
    _require_orientation(Transition.DECLINE, kind)
    _require(Transition.DECLINE, state, kind)
    _require_reason(DeclineReason, reason, text)
    return FicheState.DECLINED


def recall(state: FicheState, *, reason: RecallReason | str | None, text: str) -> FicheState:
    """sent -> recalled by the sender, only before the recipient opens it."""
    _require(Transition.RECALL, state)
    _require_reason(RecallReason, reason, text)
    return FicheState.RECALLED


def cancel(state: FicheState, *, reason: CancelReason | str | None, text: str = "") -> FicheState:
    """draft, signed or countersigned -> cancelled (never sent), with a reason."""
    _require(Transition.CANCEL, state)
    _require_reason(CancelReason, reason, text)
    return FicheState.CANCELLED


def _require_reason(
    enum_cls: type[DeclineReason] | type[RecallReason] | type[CancelReason],
    reason: object,
    text: str,
) -> None:
    errors = reason_errors(enum_cls, reason, text)
    if errors:
        raise ValidationFailed(errors)


def is_final(state: FicheState, kind: FicheKind) -> bool:
    """No further transition: accepted, declined, recalled, cancelled; acknowledged for
    bilans and returns."""
    state, kind = FicheState(state), FicheKind(kind)
    if state in (
        FicheState.ACCEPTED,
        FicheState.DECLINED,
        FicheState.RECALLED,
        FicheState.CANCELLED,
    ):
        return True
    return state is FicheState.ACKNOWLEDGED and not kind.is_orientation


def available_transitions(
    state: FicheState, *, kind: FicheKind, requires_countersign: bool
) -> frozenset[Transition]:
    """The transitions the fiche's state allows (for the buttons to show; the caller still
    checks the user's role and unit, and ``send`` still checks consent and restriction).
    ``open`` is left out once the fiche has been read, since re-opening changes nothing."""
    state, kind = FicheState(state), FicheKind(kind)
    allowed = {t for t, sources in ALLOWED_SOURCES.items() if state in sources}
    if not kind.is_orientation:
        allowed -= {Transition.ACCEPT, Transition.DECLINE}
    if requires_countersign and state is FicheState.SIGNED:
        allowed.discard(Transition.SEND)
    if not requires_countersign:
        allowed.discard(Transition.COUNTERSIGN)
    if state is not FicheState.SENT:
        allowed.discard(Transition.OPEN)
    return frozenset(allowed)


# Who may send what -----------------------------------------------------------------------

_SOCIAL_WORKER_KINDS = frozenset(
    {
        FicheKind.ORIENTATION_AXE2,
        FicheKind.BILAN_MID,
        FicheKind.BILAN_FINAL,
        FicheKind.RETURN_ADVISOR,
    }
)
_ADVISOR_KINDS = frozenset({FicheKind.ORIENTATION_AXE2, FicheKind.ORIENTATION_AXE3})
_ALL_AXES = frozenset(Axis)


def allowed_kinds_for(
    sender_institution_kind: InstitutionKind,
    recipient_institution_kind: InstitutionKind,
    roles: Collection[Role],
    *,
    enabled_axes: Collection[Axis] = _ALL_AXES,
) -> frozenset[FicheKind]:
    """The kinds of fiche a user with ``roles`` may send from their institution to the
    recipient's; ``enabled_axes`` are the axes the convention enables (orientations towards
    another axis are left out)."""
    sender_institution_kind = InstitutionKind(sender_institution_kind)
    recipient_institution_kind = InstitutionKind(recipient_institution_kind)
    kinds: set[FicheKind] = set()
    if (
        Role.SOCIAL_WORKER in roles
        and sender_institution_kind.is_social_service
        and recipient_institution_kind is InstitutionKind.FRANCE_TRAVAIL
    ):
        kinds |= _SOCIAL_WORKER_KINDS
    if (
        Role.ADVISOR in roles
        and sender_institution_kind is InstitutionKind.FRANCE_TRAVAIL
        and recipient_institution_kind.is_social_service
    ):
        kinds |= _ADVISOR_KINDS
    return frozenset(
        kind
        for kind in kinds
        if kind.orientation_axis is None or kind.orientation_axis in enabled_axes
    )


def check_may_send(
    kind: FicheKind,
    *,
    sender_institution_kind: InstitutionKind,
    recipient_institution_kind: InstitutionKind,
    roles: Collection[Role],
    enabled_axes: Collection[Axis] = _ALL_AXES,
) -> None:
    """Raise TransitionRefused (code ``kind_not_allowed``) unless ``kind`` is allowed; call it
    when a draft is created and again before sending."""
    allowed = allowed_kinds_for(
        sender_institution_kind, recipient_institution_kind, roles, enabled_axes=enabled_axes
    )
    if kind in allowed:
        return
    if not allowed:
        message = (
            "Vous ne pouvez adresser aucune fiche de liaison à ce destinataire : les échanges "
            "se font entre un travailleur social (Département, CCAS/CIAS) et un conseiller "
            "France Travail, dans le cadre d'une convention."
        )
    else:
        possible = [k for k in FicheKind if k in allowed]
        message = (
            f"Vous ne pouvez pas adresser une fiche « {kind.label} » à ce destinataire. "
            f"Fiches possibles : {labels_of(possible)}."
        )
    raise TransitionRefused(message, code="kind_not_allowed")


# The form ----------------------------------------------------------------------------------

FieldType = Literal["date", "text", "barriers", "exit_reason"]


@dataclass(frozen=True)
class FormField:
    name: str
    label: str
    type: FieldType
    required: bool


def _f(name: str, label: str, type_: FieldType, required: bool) -> FormField:
    return FormField(name, label, type_, required)


def _orientation(professional_barriers_required: bool) -> tuple[FormField, ...]:
    return (
        _f("diagnostic_date", "Date du diagnostic partagé", "date", True),
        _f("barriers", "Freins sociaux", "barriers", True),
        _f(
            "professional_barriers",
            "Freins professionnels",
            "text",
            professional_barriers_required,
        ),
        _f("motive", "Motif de l'orientation", "text", True),
        _f("expectations", "Attentes de la personne", "text", False),
    )


FORM_FIELDS: Mapping[FicheKind, tuple[FormField, ...]] = MappingProxyType(
    {
        FicheKind.ORIENTATION_AXE2: _orientation(professional_barriers_required=True),
        FicheKind.ORIENTATION_AXE3: _orientation(professional_barriers_required=False),
        FicheKind.BILAN_MID: (
            _f("review_date", "Date du bilan", "date", True),
            _f("barriers", "Freins sociaux restant à lever", "barriers", False),
            _f("summary", "Synthèse du parcours", "text", True),
            _f("actions", "Actions engagées", "text", False),
            _f("next_steps", "Suite du parcours", "text", True),
        ),
        FicheKind.BILAN_FINAL: (
            _f("review_date", "Date du bilan", "date", True),
            _f("barriers", "Freins sociaux restant à lever", "barriers", False),
            _f("summary", "Synthèse du parcours", "text", True),
            _f("actions", "Actions engagées", "text", False),
            _f("exit_proposal", "Motif de sortie proposé", "exit_reason", True),
            # Required only when exit_proposal is "other" (checked in validate_content).
            _f("exit_proposal_text", "Précisions sur le motif de sortie", "text", False),
        ),
        FicheKind.RETURN_ADVISOR: (
            _f("review_date", "Date de l'évaluation", "date", True),
            _f("barriers", "Freins sociaux restant à lever", "barriers", False),
            _f("summary", "Évaluation de la situation", "text", True),
            _f("next_steps", "Accompagnement proposé et suites", "text", True),
        ),
    }
)

FormData = Mapping[str, str | list[str]]


def _as_list(value: object) -> list[str] | None:
    if value is None:
        return []
    if isinstance(value, str):
        return [value] if value.strip() else []
    if isinstance(value, list | tuple) and all(isinstance(item, str) for item in value):
        return [item for item in value if item.strip()]
    return None


def _field_error(field: FormField, value: object, today: date) -> str | None:
    if field.type == "date":
        return date_error(value, required=field.required, today=today)
    if field.type == "text":
        return text_error(value, required=field.required)
    if field.type == "exit_reason":
        return choice_error(ExitReason, value, required=field.required)
    items = _as_list(value)
    if items is None:
        return "Valeur invalide : une liste de freins est attendue."
    if not items:
        return "Cochez au moins un frein social." if field.required else None
    if any(parse_choice(SocialBarrier, item) is None for item in items):
        return "Frein inconnu : choisissez dans la liste proposée."
    return None


def validate_content(kind: FicheKind, data: FormData, today: date) -> dict[str, str]:
    """Field name -> French message for the fiche's form; empty when the form is valid.

    A draft may be saved with errors; ``clean_content`` (before signing) refuses them.
    """
    kind = FicheKind(kind)
    errors: dict[str, str] = {}
    for field in FORM_FIELDS[kind]:
        message = _field_error(field, data.get(field.name), today)
        if message is not None:
            errors[field.name] = message
    if kind is FicheKind.BILAN_FINAL and "exit_proposal" not in errors:
        proposal = parse_choice(ExitReason, data.get("exit_proposal"))
        if proposal is ExitReason.OTHER and "exit_proposal_text" not in errors:
            if text_error(data.get("exit_proposal_text"), required=True) == REQUIRED:
                errors["exit_proposal_text"] = (
                    "Précisez le motif de sortie lorsque vous choisissez « Autre motif »."
                )
    return errors


def clean_content(kind: FicheKind, data: FormData, today: date) -> dict[str, str | list[str]]:
    """The form's known fields, normalised for storage (texts stripped, barriers deduplicated
    in list order, empty optional fields as ``""`` / ``[]``); raises ValidationFailed."""
    errors = validate_content(kind, data, today)
    if errors:
        raise ValidationFailed(errors)
    cleaned: dict[str, str | list[str]] = {}
    for field in FORM_FIELDS[kind]:
        value = data.get(field.name)
        if field.type == "barriers":
            chosen = {parse_choice(SocialBarrier, item) for item in _as_list(value) or []}
            cleaned[field.name] = [str(b) for b in SocialBarrier if b in chosen]
        else:
            cleaned[field.name] = value.strip() if isinstance(value, str) else ""
    return cleaned
