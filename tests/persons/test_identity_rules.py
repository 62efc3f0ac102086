"""The identity rules of exchange.domain.identity, without Flask or a database."""

from __future__ import annotations

from datetime import date

import pytest

from exchange.domain.identity import Identity, validate_identity, validate_search

TODAY = date(2026, 11, 23)
VALID = {"last_name": "Dupont-Martin", "first_names": "Élodie", "birth_date": "1985-04-12"}


def _errors(**changes: object) -> dict[str, str]:
    identity, errors = validate_identity({**VALID, **changes}, today=TODAY)
    assert (identity is None) == bool(errors)
    return errors


def test_complete_identity_is_normalised() -> None:
    identity, errors = validate_identity({
        "last_name": "  Dupont-Martin ", "birth_name": "Lefèvre  d'Arc",
        "first_names": "Élodie  Marie", "birth_date": "1985-04-12",
        "ft_identifier": " 1234 567a ", "address": " 3 rue  Basse \r\n\r\n82000 Montauban ",
        "phone": "+33 6 12 34 56 78", "email": "Elodie.D@Exemple.FR", "rsa_beneficiary": "y",
    }, today=TODAY)
    assert errors == {}
    assert identity == Identity(
        last_name="Dupont-Martin", birth_name="Lefèvre d'Arc", first_names="Élodie Marie",
        birth_date=date(1985, 4, 12), ft_identifier="1234567A",
        address="3 rue Basse\n82000 Montauban", phone="06 12 34 56 78",
        email="Elodie.D@exemple.fr", rsa_beneficiary=True)
    assert identity.display_name == "DUPONT-MARTIN Élodie Marie"


def test_decomposed_accents_are_stored_composed() -> None:
    identity, _ = validate_identity({**VALID, "first_names": "E\u0301lodie"}, today=TODAY)
    assert identity is not None and identity.first_names == "\u00c9lodie"


def test_only_names_and_birth_date_are_required() -> None:
    identity, errors = validate_identity(VALID, today=TODAY)
    assert errors == {} and identity is not None
    assert identity.birth_name is None and identity.ft_identifier is None
    assert identity.rsa_beneficiary is False
    assert set(_errors(last_name="", first_names=" ", birth_date="")) == {
        "last_name", "first_names", "birth_date"}
    assert _errors(last_name="")["last_name"] == "Ce champ est obligatoire."


@pytest.mark.parametrize(("value", "message"), [
    ("2026-11-24", "futur"),
    ("1899-12-31", "01/01/1900"),
    ("12/04/1985", "AAAA-MM-JJ"),
    ("1985-02-30", "AAAA-MM-JJ"),
])
def test_birth_date_must_be_an_iso_day_between_1900_and_today(value: str, message: str) -> None:
    assert message in _errors(birth_date=value)["birth_date"]


def test_birth_date_today_is_accepted() -> None:
    assert _errors(birth_date=TODAY.isoformat()) == {}


@pytest.mark.parametrize("value", ["123456", "123456789012", "1234-56#7", "１２３４５６７"])
def test_france_travail_identifier_has_7_to_11_letters_or_digits(value: str) -> None:
    assert "7 à 11" in _errors(ft_identifier=value)["ft_identifier"]


@pytest.mark.parametrize(("typed", "stored"), [
    ("0612345678", "06 12 34 56 78"), ("06.12.34.56.78", "06 12 34 56 78"),
    ("0033 5 63 00 00 00", "05 63 00 00 00"), ("+262 692 12 34 56", "06 92 12 34 56"),
    ("+33 (0)6 12 34 56 78", "06 12 34 56 78"),
])
def test_french_phone_numbers_are_stored_by_pairs(typed: str, stored: str) -> None:
    identity, errors = validate_identity({**VALID, "phone": typed}, today=TODAY)
    assert errors == {} and identity is not None and identity.phone == stored


@pytest.mark.parametrize("value", ["612345678", "0012345678", "+44 20 7946 0000", "06 12 34 56",
                                   "téléphone"])
def test_other_phone_numbers_are_refused(value: str) -> None:
    assert "10 chiffres" in _errors(phone=value)["phone"]


@pytest.mark.parametrize("value", ["elodie", "elodie@", "@exemple.fr", "a b@exemple.fr",
                                   "elodie@exemple", "<x>@exemple.fr"])
def test_invalid_email_is_refused(value: str) -> None:
    assert "adresse électronique valide" in _errors(email=value)["email"]


@pytest.mark.parametrize("field", ["last_name", "birth_name", "first_names"])
@pytest.mark.parametrize("value", ["Dupont\x00", "Dupont\u202eliam", "Dup\u200bont",
                                   "Dupont\nMartin"])
def test_control_and_invisible_characters_are_refused_in_names(field: str, value: str) -> None:
    assert _errors(**{field: value})[field] == "Ce texte contient des caractères non autorisés."


@pytest.mark.parametrize("value", ["Dupont2", "<script>", "Dupont;", "---"])
def test_names_hold_letters_and_name_punctuation_only(value: str) -> None:
    assert "last_name" in _errors(last_name=value)


def test_address_keeps_line_breaks_but_not_other_controls() -> None:
    assert "address" in _errors(address="3 rue Basse\x07")
    assert _errors(address="3 rue Basse\n82000 Montauban") == {}


@pytest.mark.parametrize(("field", "limit"), [("last_name", 100), ("first_names", 150),
                                              ("address", 300), ("email", 254)])
def test_maximum_lengths(field: str, limit: int) -> None:
    value = "a" * (limit + 1) if field != "email" else "a" * 250 + "@exemple.fr"
    assert f"{limit} caractères au plus" in _errors(**{field: value})[field]


def test_fields_round_trip_through_the_encrypted_mapping() -> None:
    identity, _ = validate_identity({**VALID, "birth_name": "Lefèvre", "rsa_beneficiary": True,
                                     "email": "e@exemple.fr"}, today=TODAY)
    assert identity is not None
    fields = identity.to_fields()
    assert fields["rsa_beneficiary"] == "1" and "phone" not in fields
    assert Identity.from_fields(fields) == identity


@pytest.mark.parametrize("fields", [{}, {"last_name": "X", "first_names": "Y"},
                                    {**VALID, "rsa_beneficiary": "peut-être"}])
def test_a_mapping_that_is_no_identity_is_rejected(fields: dict[str, str]) -> None:
    with pytest.raises(ValueError):
        Identity.from_fields(fields)


def test_search_needs_a_name_and_a_birth_date_or_an_identifier() -> None:
    assert "name" in validate_search({}, today=TODAY)[1]
    assert "birth_date" in validate_search({"name": "Dupont"}, today=TODAY)[1]
    assert "name" in validate_search({"birth_date": "1985-04-12"}, today=TODAY)[1]
    query, errors = validate_search({"name": " dupont martin ", "birth_date": "1985-04-12"},
                                    today=TODAY)
    assert errors == {} and query is not None and query.mode == "name"
    query, errors = validate_search({"name": "ignored", "ft_identifier": "1234567a"},
                                    today=TODAY)
    assert errors == {} and query is not None
    assert (query.mode, query.ft_identifier) == ("ft", "1234567A")
    assert "ft_identifier" in validate_search({"ft_identifier": "12"}, today=TODAY)[1]
