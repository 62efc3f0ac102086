from datetime import date
from typing import cast

import pytest

from exchange.domain.errors import ValidationFailed
from exchange.domain.fiches import FORM_FIELDS, FormData, clean_content, validate_content
from exchange.domain.vocabulary import FicheKind

TODAY = date(2025, 3, 10)
K = FicheKind

AXE2: dict[str, str | list[str]] = {
    "diagnostic_date": "2025-03-03",
    "barriers": ["housing", "mobility"],
    "professional_barriers": "Pas d'expérience récente, permis B suspendu.",
    "motive": "Cumul de freins sociaux et professionnels.",
    "expectations": "Retrouver un emploi stable.",
}
BILAN_MID: dict[str, str | list[str]] = {
    "review_date": "2025-03-01",
    "barriers": ["finances"],
    "summary": "Logement trouvé.",
    "actions": "Dossier FSL.",
    "next_steps": "Recherche d'emploi ciblée.",
}
BILAN_FINAL: dict[str, str | list[str]] = {
    "review_date": "2025-03-01",
    "summary": "Parcours achevé.",
    "exit_proposal": "cdi",
}
RETURN: dict[str, str | list[str]] = {
    "review_date": "2025-03-01",
    "summary": "Situation stabilisée.",
    "next_steps": "Reprise de l'accompagnement professionnel.",
}


def with_(base: FormData, **changes: str | list[str]) -> dict[str, str | list[str]]:
    return {**base, **changes}


def without(base: FormData, *names: str) -> dict[str, str | list[str]]:
    return {k: v for k, v in base.items() if k not in names}


@pytest.mark.parametrize(
    ("kind", "data"),
    [
        (K.ORIENTATION_AXE2, AXE2),
        (K.ORIENTATION_AXE3, without(AXE2, "professional_barriers", "expectations")),
        (K.BILAN_MID, BILAN_MID),
        (K.BILAN_FINAL, BILAN_FINAL),
        (K.RETURN_ADVISOR, RETURN),
    ],
)
def test_valid_forms(kind: FicheKind, data: FormData) -> None:
    assert validate_content(kind, data, TODAY) == {}


def test_empty_axe2_orientation_lists_every_required_field() -> None:
    assert validate_content(K.ORIENTATION_AXE2, {}, TODAY) == {
        "diagnostic_date": "Ce champ est obligatoire.",
        "barriers": "Cochez au moins un frein social.",
        "professional_barriers": "Ce champ est obligatoire.",
        "motive": "Ce champ est obligatoire.",
    }


def test_professional_barriers_are_optional_for_axe3() -> None:
    assert set(validate_content(K.ORIENTATION_AXE3, {}, TODAY)) == {
        "diagnostic_date",
        "barriers",
        "motive",
    }


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("2025-13-01", "Saisissez une date valide au format AAAA-MM-JJ."),
        ("2025-02-29", "Saisissez une date valide au format AAAA-MM-JJ."),
        ("03/03/2025", "Saisissez une date valide au format AAAA-MM-JJ."),
        ("20250303", "Saisissez une date valide au format AAAA-MM-JJ."),
        ("2025-03-03T10:00", "Saisissez une date valide au format AAAA-MM-JJ."),
        ("hier", "Saisissez une date valide au format AAAA-MM-JJ."),
        ("2025-03-11", "La date ne peut pas être dans le futur."),
        ("1899-12-31", "La date ne peut pas être antérieure au 01/01/1900."),
        ("   ", "Ce champ est obligatoire."),
        (["2025-03-03"], "Saisissez une date valide au format AAAA-MM-JJ."),
    ],
)
def test_diagnostic_date_errors(value: str | list[str], message: str) -> None:
    errors = validate_content(K.ORIENTATION_AXE2, with_(AXE2, diagnostic_date=value), TODAY)
    assert errors == {"diagnostic_date": message}


@pytest.mark.parametrize("value", ["2025-03-10", "1900-01-01", " 2024-02-29 "])
def test_diagnostic_date_accepted(value: str) -> None:
    assert validate_content(K.ORIENTATION_AXE2, with_(AXE2, diagnostic_date=value), TODAY) == {}


def test_barriers() -> None:
    def check(value: str | list[str]) -> dict[str, str]:
        return validate_content(K.ORIENTATION_AXE2, with_(AXE2, barriers=value), TODAY)

    assert check([]) == {"barriers": "Cochez au moins un frein social."}
    assert check(["", " "]) == {"barriers": "Cochez au moins un frein social."}
    assert check(["housing", "drugs"]) == {
        "barriers": "Frein inconnu : choisissez dans la liste proposée."
    }
    assert check("health") == {}
    assert check(["health", "health", "language_digital"]) == {}
    not_a_list = cast(list[str], [1, 2])
    assert check(not_a_list) == {"barriers": "Valeur invalide : une liste de freins est attendue."}


def test_text_fields() -> None:
    def check(value: str | list[str]) -> dict[str, str]:
        return validate_content(K.ORIENTATION_AXE2, with_(AXE2, motive=value), TODAY)

    assert check("x" * 4000) == {}
    assert check("  " + "x" * 4000 + "\n") == {}
    assert check("x" * 4001) == {
        "motive": "Ce texte ne peut pas dépasser 4000 caractères (il en compte 4001)."
    }
    assert check(" \n\t ") == {"motive": "Ce champ est obligatoire."}
    assert check("ligne 1\nligne 2\tfin") == {}
    assert check("avant\x00après") == {"motive": "Ce texte contient des caractères non autorisés."}
    assert check(["un", "deux"]) == {"motive": "Valeur invalide : un texte est attendu."}


def test_optional_text_is_still_limited() -> None:
    errors = validate_content(K.ORIENTATION_AXE2, with_(AXE2, expectations="y" * 4001), TODAY)
    assert set(errors) == {"expectations"}


def test_unknown_fields_are_ignored() -> None:
    data = with_(AXE2, csrf_token="abc", submit="Enregistrer")
    assert validate_content(K.ORIENTATION_AXE2, data, TODAY) == {}


def test_bilan_mid_required_fields() -> None:
    assert validate_content(K.BILAN_MID, {}, TODAY) == {
        "review_date": "Ce champ est obligatoire.",
        "summary": "Ce champ est obligatoire.",
        "next_steps": "Ce champ est obligatoire.",
    }


def test_bilan_final_needs_an_exit_proposal() -> None:
    errors = validate_content(K.BILAN_FINAL, without(BILAN_FINAL, "exit_proposal"), TODAY)
    assert errors == {"exit_proposal": "Choisissez une valeur dans la liste."}
    errors = validate_content(K.BILAN_FINAL, with_(BILAN_FINAL, exit_proposal="retraite"), TODAY)
    assert errors == {"exit_proposal": "Valeur inconnue : choisissez une valeur dans la liste."}


def test_bilan_final_other_exit_needs_details() -> None:
    data = with_(BILAN_FINAL, exit_proposal="other")
    assert validate_content(K.BILAN_FINAL, data, TODAY) == {
        "exit_proposal_text": (
            "Précisez le motif de sortie lorsque vous choisissez « Autre motif »."
        )
    }
    data["exit_proposal_text"] = "Entrée en ESAT."
    assert validate_content(K.BILAN_FINAL, data, TODAY) == {}
    data["exit_proposal_text"] = "z" * 4001
    assert set(validate_content(K.BILAN_FINAL, data, TODAY)) == {"exit_proposal_text"}


def test_return_required_fields() -> None:
    assert set(validate_content(K.RETURN_ADVISOR, {}, TODAY)) == {
        "review_date",
        "summary",
        "next_steps",
    }


def test_review_date_cannot_be_in_the_future() -> None:
    errors = validate_content(K.RETURN_ADVISOR, with_(RETURN, review_date="2026-01-01"), TODAY)
    assert errors == {"review_date": "La date ne peut pas être dans le futur."}


def test_clean_content_normalises() -> None:
    data = with_(
        AXE2,
        barriers=["mobility", "housing", "mobility"],
        motive="  Motif.  \n",
        csrf_token="abc",
    )
    del data["expectations"]
    assert clean_content(K.ORIENTATION_AXE2, data, TODAY) == {
        "diagnostic_date": "2025-03-03",
        "barriers": ["housing", "mobility"],
        "professional_barriers": "Pas d'expérience récente, permis B suspendu.",
        "motive": "Motif.",
        "expectations": "",
    }


def test_clean_content_refuses_invalid_forms() -> None:
    with pytest.raises(ValidationFailed) as failed:
        clean_content(K.BILAN_MID, without(BILAN_MID, "summary"), TODAY)
    assert failed.value.errors == {"summary": "Ce champ est obligatoire."}


def test_form_fields_are_declared_for_every_kind() -> None:
    assert set(FORM_FIELDS) == set(FicheKind)
    for kind, fields in FORM_FIELDS.items():
        names = [f.name for f in fields]
        assert len(names) == len(set(names)), kind
        assert all(f.label for f in fields)
