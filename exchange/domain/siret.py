"""SIRET numbers (French establishment identifiers) and their check rule.

A SIRET is 14 digits: the 9-digit SIREN of the legal entity, then the 5-digit NIC of the
establishment. Both the SIREN and the whole SIRET carry a Luhn key. La Poste is the one
exception INSEE documents: its establishments (SIREN 356000000) have SIRETs whose digits add up
to a multiple of 5 instead, and only its head office, 356 000 000 00048, keeps the Luhn key.
"""

from __future__ import annotations

LA_POSTE_SIREN = "356000000"
LA_POSTE_HEAD_OFFICE = "35600000000048"
LENGTH = 14

# What people type between groups of digits: spaces (also non-breaking ones), dots, dashes.
_SEPARATORS = str.maketrans("", "", " \u00a0\u202f\t.-")


def normalise(value: str) -> str:
    """The SIRET as typed, without the separators people put between groups of digits."""
    return value.translate(_SEPARATORS)


def luhn_valid(digits: str) -> bool:
    """True when the Luhn checksum of a string of ASCII digits is right."""
    if not digits or not (digits.isascii() and digits.isdigit()):
        return False
    total = 0
    for position, char in enumerate(reversed(digits)):
        digit = int(char)
        if position % 2:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0


def is_valid(siret: str) -> bool:
    """True for a well-formed SIRET (already normalised) whose check rule holds."""
    if len(siret) != LENGTH or not (siret.isascii() and siret.isdigit()):
        return False
    if siret.startswith(LA_POSTE_SIREN) and siret != LA_POSTE_HEAD_OFFICE:
        return sum(int(char) for char in siret) % 5 == 0
    return luhn_valid(siret[:9]) and luhn_valid(siret)


def problem(value: str) -> str | None:
    """The French reason a typed SIRET is refused, or None when it is valid."""
    siret = normalise(value)
    if not siret:
        return "Saisissez le numéro SIRET (14 chiffres)."
    if len(siret) != LENGTH or not (siret.isascii() and siret.isdigit()):
        return "Le numéro SIRET compte exactement 14 chiffres."
    if not is_valid(siret):
        return (
            "Ce numéro SIRET n'est pas valide : sa clé de contrôle ne correspond pas, "
            "un chiffre est sans doute erroné."
        )
    return None
