from enum import Enum

import pytest

from exchange.domain.vocabulary import (
    DEFAULT_RETENTION_MONTHS,
    Axis,
    CancelReason,
    ConsentMethod,
    DeclineReason,
    ExitReason,
    FicheKind,
    FicheState,
    InstitutionKind,
    Labelled,
    RecallReason,
    Role,
    SocialBarrier,
    UnitKind,
    choices,
    orientation_kind,
)

ALL_ENUMS: list[type[Enum]] = [
    FicheKind,
    Axis,
    FicheState,
    SocialBarrier,
    DeclineReason,
    RecallReason,
    CancelReason,
    ExitReason,
    ConsentMethod,
    Role,
    InstitutionKind,
    UnitKind,
]


@pytest.mark.parametrize("enum_cls", ALL_ENUMS)
def test_every_member_has_a_distinct_label(enum_cls: type[Enum]) -> None:
    labels = []
    for member in enum_cls:
        assert isinstance(member, Labelled)
        assert member.label.strip()
        labels.append(member.label)
    assert len(set(labels)) == len(labels)


def test_fiche_kind_labels() -> None:
    assert {str(k): k.label for k in FicheKind} == {
        "orientation_axe2": "Orientation vers l'accompagnement global (axe 2)",
        "orientation_axe3": "Orientation vers l'accompagnement social exclusif (axe 3)",
        "bilan_mid": "Bilan à mi-parcours",
        "bilan_final": "Bilan final",
        "return_advisor": "Retour au conseiller",
    }


def test_social_barrier_labels() -> None:
    assert choices(SocialBarrier) == [
        ("health", "Santé"),
        ("housing", "Logement"),
        ("mobility", "Mobilité"),
        ("family_childcare", "Famille et garde d'enfants"),
        ("finances", "Finances / budget"),
        ("admin_legal", "Démarches administratives et juridiques"),
        ("language_digital", "Langue et numérique"),
    ]


def test_role_labels() -> None:
    assert {str(r): r.label for r in Role} == {
        "social_worker": "Travailleur social",
        "advisor": "Conseiller France Travail",
        "unit_manager": "Responsable de structure",
        "coordinator": "Chargé de mission",
        "dpo": "Délégué à la protection des données",
        "admin": "Administrateur",
    }


def test_state_values() -> None:
    assert [str(s) for s in FicheState] == [
        "draft",
        "signed",
        "countersigned",
        "sent",
        "read",
        "acknowledged",
        "accepted",
        "declined",
        "recalled",
        "cancelled",
    ]


def test_values_of_other_lists() -> None:
    assert [int(a) for a in Axis] == [2, 3]
    assert [str(a) for a in Axis] == ["2", "3"]
    assert {str(k) for k in InstitutionKind} == {
        "departement",
        "france_travail",
        "ccas_cias",
        "other",
    }
    assert {str(k) for k in UnitKind} == {"mds", "agence", "cias", "other"}
    assert {str(m) for m in ConsentMethod} == {"paper_form_uploaded", "in_person_attestation"}


@pytest.mark.parametrize("enum_cls", [DeclineReason, RecallReason, CancelReason, ExitReason])
def test_reason_lists_end_with_other(enum_cls: type[Enum]) -> None:
    members = list(enum_cls)
    assert str(members[-1]) == "other"
    assert 3 <= len(members) <= 10


def test_positive_exits_are_employment_and_qualifying_training() -> None:
    positive = {str(r) for r in ExitReason if r.is_positive}
    assert positive == {
        "cdi",
        "cdd_6_months_or_more",
        "cdd_under_6_months",
        "business_creation",
        "qualifying_training",
    }
    assert [str(r) for r in ExitReason] == [
        "cdi",
        "cdd_6_months_or_more",
        "cdd_under_6_months",
        "business_creation",
        "qualifying_training",
        "other_accompaniment",
        "social_difficulties_solved",
        "loss_of_contact",
        "moving",
        "other",
    ]


def test_labels_do_not_leak_between_lists_with_equal_values() -> None:
    # Two StrEnum members with value "other" compare equal; each keeps its own label.
    assert DeclineReason.OTHER.value == RecallReason.OTHER.value
    assert UnitKind.OTHER.label == "Autre site"
    assert InstitutionKind.OTHER.label == "Autre partenaire"


def test_orientation_axis() -> None:
    assert FicheKind.ORIENTATION_AXE2.orientation_axis is Axis.AXE2
    assert FicheKind.ORIENTATION_AXE3.orientation_axis is Axis.AXE3
    for kind in (FicheKind.BILAN_MID, FicheKind.BILAN_FINAL, FicheKind.RETURN_ADVISOR):
        assert kind.orientation_axis is None
        assert not kind.is_orientation
    for axis in Axis:
        assert orientation_kind(axis).orientation_axis is axis


def test_social_services() -> None:
    assert {k for k in InstitutionKind if k.is_social_service} == {
        InstitutionKind.DEPARTEMENT,
        InstitutionKind.CCAS_CIAS,
    }


def test_default_retention_periods_are_those_of_the_conventions() -> None:
    assert dict(DEFAULT_RETENTION_MONTHS) == {Axis.AXE2: 120, Axis.AXE3: 2}
    assert DEFAULT_RETENTION_MONTHS[Axis(2)] == 120
