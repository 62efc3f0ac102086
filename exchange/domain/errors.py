"""Domain errors: a plain French message for the user and a stable code for logs and audit.

The web layer shows ``message`` as is (it never names a person) and maps the class to an HTTP
status; the audit event of a refusal records ``code``. Codes raised by this package:

- ``transition_refused``: the fiche is not in a state that allows the action;
- ``countersign_required`` / ``countersign_not_required``: the convention's countersignature rule;
- ``not_an_orientation``: only orientations are accepted or declined;
- ``kind_not_allowed``: this sender may not send this kind of fiche to this recipient;
- ``renewal_refused``: an accompaniment is renewed at most once, before it ends;
- ``consent_required``, ``consent_withdrawn``, ``validation_failed``, ``restriction_active``.
"""

from collections.abc import Mapping
from typing import ClassVar


class DomainError(Exception):
    """A rule of the domain refused the operation."""

    default_code: ClassVar[str] = "domain_error"
    default_message: ClassVar[str] = "L'opération n'est pas possible."

    def __init__(self, message: str | None = None, *, code: str | None = None) -> None:
        self.message: str = message or self.default_message
        self.code: str = code or self.default_code
        super().__init__(self.message)


class TransitionRefused(DomainError):
    """The action is not allowed from the current state (or for this kind of fiche)."""

    default_code = "transition_refused"
    default_message = "Cette action n'est pas possible dans l'état actuel de la fiche."


class ConsentRequired(DomainError):
    """No valid consent covers this exchange."""

    default_code = "consent_required"
    default_message = (
        "Le consentement de la personne à cet échange n'est pas enregistré : "
        "la fiche ne peut pas être envoyée."
    )


class ConsentWithdrawn(DomainError):
    """The person withdrew the consent: no further exchange."""

    default_code = "consent_withdrawn"
    default_message = "La personne a retiré son consentement : aucun nouvel échange n'est possible."


class ValidationFailed(DomainError):
    """Input is invalid; ``errors`` maps each field name to its French message."""

    default_code = "validation_failed"
    default_message = "Le formulaire contient des erreurs : corrigez les champs signalés."

    def __init__(
        self,
        errors: Mapping[str, str],
        message: str | None = None,
        *,
        code: str | None = None,
    ) -> None:
        self.errors: dict[str, str] = dict(errors)
        super().__init__(message, code=code)


class RestrictionActive(DomainError):
    """The processing of the person's data is restricted (RGPD art. 18): nothing is sent."""

    default_code = "restriction_active"
    default_message = (
        "Le traitement des données de cette personne est limité (article 18 du RGPD) : "
        "aucun envoi n'est possible tant que la limitation est en place."
    )
