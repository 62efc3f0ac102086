"""The fixed lists of the domain, with the French labels the interface shows.

Values (``str(member)``) are what the database and the forms store; they never change once
released. Labels (``member.label``) are what people read. ``choices(Enum)`` gives
``[(value, label), ...]`` for a select field.
"""

from collections.abc import Iterable, Mapping
from enum import Enum, IntEnum, StrEnum
from types import MappingProxyType
from typing import Any


class Labelled:
    """Mixin giving enum members a French ``label``."""

    @property
    def label(self) -> str:
        return _LABELS[type(self)][self]


_LABELS: dict[type, Mapping[Any, str]] = {}


def _register(enum_cls: type[Enum], labels: Mapping[Any, str]) -> None:
    # Keyed per class: members of two StrEnums with the same value ("other") compare equal.
    if set(labels) != set(enum_cls) or len(labels) != len(enum_cls):
        raise RuntimeError(f"labels of {enum_cls.__name__} do not match its members")
    _LABELS[enum_cls] = dict(labels)


def choices(members: Iterable[Labelled]) -> list[tuple[str, str]]:
    """``[(value, label), ...]`` in declaration order, for a select or a set of checkboxes."""
    return [(str(member), member.label) for member in members]


class FicheKind(Labelled, StrEnum):
    ORIENTATION_AXE2 = "orientation_axe2"
    ORIENTATION_AXE3 = "orientation_axe3"
    BILAN_MID = "bilan_mid"
    BILAN_FINAL = "bilan_final"
    RETURN_ADVISOR = "return_advisor"

    @property
    def is_orientation(self) -> bool:
        return self in (FicheKind.ORIENTATION_AXE2, FicheKind.ORIENTATION_AXE3)

    @property
    def orientation_axis(self) -> "Axis | None":
        """The axis an orientation leads to; None for bilans and returns (they follow an
        accompaniment whose axis is known)."""
        return _ORIENTATION_AXIS.get(self)


_register(
    FicheKind,
    {
        FicheKind.ORIENTATION_AXE2: "Orientation vers l'accompagnement global (axe 2)",
        FicheKind.ORIENTATION_AXE3: "Orientation vers l'accompagnement social exclusif (axe 3)",
        FicheKind.BILAN_MID: "Bilan à mi-parcours",
        FicheKind.BILAN_FINAL: "Bilan final",
        FicheKind.RETURN_ADVISOR: "Retour au conseiller",
    },
)


class Axis(Labelled, IntEnum):
    AXE2 = 2
    AXE3 = 3


_register(
    Axis,
    {
        Axis.AXE2: "Axe 2 – accompagnement global",
        Axis.AXE3: "Axe 3 – accompagnement social exclusif",
    },
)

_ORIENTATION_AXIS: dict[FicheKind, Axis] = {
    FicheKind.ORIENTATION_AXE2: Axis.AXE2,
    FicheKind.ORIENTATION_AXE3: Axis.AXE3,
}


# The "au plus tard" periods after the end of the convention (001 art. 6-2); a convention may
# set others (the CIAS one, 003 art. 5-2, sets 2 months for both axes).
DEFAULT_RETENTION_MONTHS: Mapping[Axis, int] = MappingProxyType({Axis.AXE2: 120, Axis.AXE3: 2})


def orientation_kind(axis: Axis) -> FicheKind:
    """The orientation kind that leads to ``axis``."""
    return FicheKind.ORIENTATION_AXE2 if axis is Axis.AXE2 else FicheKind.ORIENTATION_AXE3


class FicheState(Labelled, StrEnum):
    DRAFT = "draft"
    SIGNED = "signed"
    COUNTERSIGNED = "countersigned"
    SENT = "sent"
    READ = "read"
    ACKNOWLEDGED = "acknowledged"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    RECALLED = "recalled"
    CANCELLED = "cancelled"


_register(
    FicheState,
    {
        FicheState.DRAFT: "Brouillon",
        FicheState.SIGNED: "Signée",
        FicheState.COUNTERSIGNED: "Contresignée par le responsable",
        FicheState.SENT: "Envoyée",
        FicheState.READ: "Lue",
        FicheState.ACKNOWLEDGED: "Réception accusée",
        FicheState.ACCEPTED: "Acceptée",
        FicheState.DECLINED: "Refusée",
        FicheState.RECALLED: "Retirée par l'expéditeur",
        FicheState.CANCELLED: "Annulée",
    },
)


class SocialBarrier(Labelled, StrEnum):
    HEALTH = "health"
    HOUSING = "housing"
    MOBILITY = "mobility"
    FAMILY_CHILDCARE = "family_childcare"
    FINANCES = "finances"
    ADMIN_LEGAL = "admin_legal"
    LANGUAGE_DIGITAL = "language_digital"


_register(
    SocialBarrier,
    {
        SocialBarrier.HEALTH: "Santé",
        SocialBarrier.HOUSING: "Logement",
        SocialBarrier.MOBILITY: "Mobilité",
        SocialBarrier.FAMILY_CHILDCARE: "Famille et garde d'enfants",
        SocialBarrier.FINANCES: "Finances / budget",
        SocialBarrier.ADMIN_LEGAL: "Démarches administratives et juridiques",
        SocialBarrier.LANGUAGE_DIGITAL: "Langue et numérique",
    },
)


class DeclineReason(Labelled, StrEnum):
    """Why the recipient declines an orientation."""

    NOT_ELIGIBLE = "not_eligible"
    PERSON_DECLINED = "person_declined"
    ALREADY_ACCOMPANIED = "already_accompanied"
    OTHER_ACCOMPANIMENT_SUITED = "other_accompaniment_suited"
    CASELOAD_FULL = "caseload_full"
    OUTSIDE_TERRITORY = "outside_territory"
    INCOMPLETE_DIAGNOSTIC = "incomplete_diagnostic"
    OTHER = "other"


_register(
    DeclineReason,
    {
        DeclineReason.NOT_ELIGIBLE: "La situation ne relève pas de cet accompagnement",
        DeclineReason.PERSON_DECLINED: "La personne ne souhaite pas s'engager dans "
        "l'accompagnement",
        DeclineReason.ALREADY_ACCOMPANIED: "La personne bénéficie déjà d'un accompagnement",
        DeclineReason.OTHER_ACCOMPANIMENT_SUITED: "Un autre accompagnement est plus adapté",
        DeclineReason.CASELOAD_FULL: "File active complète : pas de place disponible",
        DeclineReason.OUTSIDE_TERRITORY: "La personne ne réside pas sur le territoire de "
        "la convention",
        DeclineReason.INCOMPLETE_DIAGNOSTIC: "Fiche incomplète : diagnostic à approfondir",
        DeclineReason.OTHER: "Autre motif",
    },
)


class RecallReason(Labelled, StrEnum):
    """Why the sender recalls a fiche before it is read."""

    WRONG_RECIPIENT = "wrong_recipient"
    CONTENT_ERROR = "content_error"
    CONSENT_WITHDRAWN = "consent_withdrawn"
    SITUATION_CHANGED = "situation_changed"
    OTHER = "other"


_register(
    RecallReason,
    {
        RecallReason.WRONG_RECIPIENT: "Erreur de destinataire",
        RecallReason.CONTENT_ERROR: "Erreur ou oubli dans le contenu de la fiche",
        RecallReason.CONSENT_WITHDRAWN: "La personne a retiré son consentement",
        RecallReason.SITUATION_CHANGED: "La situation de la personne a changé",
        RecallReason.OTHER: "Autre motif",
    },
)


class CancelReason(Labelled, StrEnum):
    """Why a fiche is abandoned before it is sent."""

    CREATED_IN_ERROR = "created_in_error"
    DUPLICATE = "duplicate"
    PERSON_DECLINED = "person_declined"
    CONSENT_WITHDRAWN = "consent_withdrawn"
    SITUATION_CHANGED = "situation_changed"
    OTHER = "other"


_register(
    CancelReason,
    {
        CancelReason.CREATED_IN_ERROR: "Fiche créée par erreur",
        CancelReason.DUPLICATE: "Doublon d'une autre fiche",
        CancelReason.PERSON_DECLINED: "La personne ne souhaite plus être orientée",
        CancelReason.CONSENT_WITHDRAWN: "La personne a retiré son consentement",
        CancelReason.SITUATION_CHANGED: "La situation de la personne a changé",
        CancelReason.OTHER: "Autre motif",
    },
)


class ExitReason(Labelled, StrEnum):
    """Why an accompaniment ends (the list of DESIGN.md and of the steering indicators)."""

    CDI = "cdi"
    CDD_6_MONTHS_OR_MORE = "cdd_6_months_or_more"
    CDD_UNDER_6_MONTHS = "cdd_under_6_months"
    BUSINESS_CREATION = "business_creation"
    QUALIFYING_TRAINING = "qualifying_training"
    OTHER_ACCOMPANIMENT = "other_accompaniment"
    SOCIAL_DIFFICULTIES_SOLVED = "social_difficulties_solved"
    LOSS_OF_CONTACT = "loss_of_contact"
    MOVING = "moving"
    OTHER = "other"

    @property
    def is_positive(self) -> bool:
        """A "sortie positive": employment or qualifying training (001, délibération)."""
        return self in _POSITIVE_EXITS


_POSITIVE_EXITS = frozenset(
    {
        ExitReason.CDI,
        ExitReason.CDD_6_MONTHS_OR_MORE,
        ExitReason.CDD_UNDER_6_MONTHS,
        ExitReason.BUSINESS_CREATION,
        ExitReason.QUALIFYING_TRAINING,
    }
)

_register(
    ExitReason,
    {
        ExitReason.CDI: "Emploi en CDI",
        ExitReason.CDD_6_MONTHS_OR_MORE: "Emploi en CDD de 6 mois ou plus",
        ExitReason.CDD_UNDER_6_MONTHS: "Emploi en CDD de moins de 6 mois",
        ExitReason.BUSINESS_CREATION: "Création ou reprise d'entreprise",
        ExitReason.QUALIFYING_TRAINING: "Entrée en formation qualifiante",
        ExitReason.OTHER_ACCOMPANIMENT: "Poursuite dans un autre accompagnement",
        ExitReason.SOCIAL_DIFFICULTIES_SOLVED: "Difficultés sociales résolues ou "
        "significativement réduites",
        ExitReason.LOSS_OF_CONTACT: "Perte de contact",
        ExitReason.MOVING: "Déménagement",
        ExitReason.OTHER: "Autre motif",
    },
)


class ConsentMethod(Labelled, StrEnum):
    PAPER_FORM_UPLOADED = "paper_form_uploaded"
    IN_PERSON_ATTESTATION = "in_person_attestation"


_register(
    ConsentMethod,
    {
        ConsentMethod.PAPER_FORM_UPLOADED: "Formulaire papier signé par la personne, numérisé",
        ConsentMethod.IN_PERSON_ATTESTATION: "Accord donné en présence du professionnel, "
        "qui l'atteste",
    },
)


class Role(Labelled, StrEnum):
    SOCIAL_WORKER = "social_worker"
    ADVISOR = "advisor"
    UNIT_MANAGER = "unit_manager"
    COORDINATOR = "coordinator"
    DPO = "dpo"
    ADMIN = "admin"


_register(
    Role,
    {
        Role.SOCIAL_WORKER: "Travailleur social",
        Role.ADVISOR: "Conseiller France Travail",
        Role.UNIT_MANAGER: "Responsable de structure",
        Role.COORDINATOR: "Chargé de mission",
        Role.DPO: "Délégué à la protection des données",
        Role.ADMIN: "Administrateur",
    },
)


class InstitutionKind(Labelled, StrEnum):
    DEPARTEMENT = "departement"
    FRANCE_TRAVAIL = "france_travail"
    CCAS_CIAS = "ccas_cias"
    OTHER = "other"

    @property
    def is_social_service(self) -> bool:
        """A Département or a CCAS/CIAS: the social side of the pair."""
        return self in (InstitutionKind.DEPARTEMENT, InstitutionKind.CCAS_CIAS)


_register(
    InstitutionKind,
    {
        InstitutionKind.DEPARTEMENT: "Département",
        InstitutionKind.FRANCE_TRAVAIL: "France Travail",
        InstitutionKind.CCAS_CIAS: "CCAS / CIAS",
        InstitutionKind.OTHER: "Autre partenaire",
    },
)


class UnitKind(Labelled, StrEnum):
    MDS = "mds"
    AGENCE = "agence"
    CIAS = "cias"
    OTHER = "other"


_register(
    UnitKind,
    {
        UnitKind.MDS: "Maison des solidarités",
        UnitKind.AGENCE: "Agence France Travail",
        UnitKind.CIAS: "Centre (inter)communal d'action sociale",
        UnitKind.OTHER: "Autre site",
    },
)
