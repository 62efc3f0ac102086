import pytest

from exchange.domain.errors import (
    ConsentRequired,
    ConsentWithdrawn,
    DomainError,
    RestrictionActive,
    TransitionRefused,
    ValidationFailed,
)


@pytest.mark.parametrize(
    ("cls", "code"),
    [
        (TransitionRefused, "transition_refused"),
        (ConsentRequired, "consent_required"),
        (ConsentWithdrawn, "consent_withdrawn"),
        (RestrictionActive, "restriction_active"),
    ],
)
def test_errors_have_a_stable_code_and_a_french_default_message(
    cls: type[DomainError], code: str
) -> None:
    error = cls()
    assert isinstance(error, DomainError)
    assert error.code == code
    assert error.message and error.message.endswith(".")
    assert str(error) == error.message


def test_message_and_code_can_be_specific() -> None:
    error = TransitionRefused("Impossible.", code="kind_not_allowed")
    assert (error.message, error.code) == ("Impossible.", "kind_not_allowed")


def test_validation_failed_carries_field_messages() -> None:
    given = {"motive": "Ce champ est obligatoire."}
    error = ValidationFailed(given)
    given["other"] = "x"
    assert error.errors == {"motive": "Ce champ est obligatoire."}
    assert error.code == "validation_failed"
    assert "corrigez" in error.message


def test_restriction_message_names_the_article() -> None:
    assert "article 18" in RestrictionActive().message
