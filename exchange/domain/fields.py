"""Checks of single form values, shared by the fiche, consent and accompaniment rules.

Each check returns the French message to show next to the field, or None when the value is
acceptable. Free text is judged after stripping surrounding white space; store it stripped.
"""

import re
from collections.abc import Sequence
from datetime import date
from enum import StrEnum
from typing import TypeVar

from exchange.domain.dates import french_date
from exchange.domain.vocabulary import Labelled

TEXT_MAX_LENGTH = 4000
EARLIEST_DATE = date(1900, 1, 1)

REQUIRED = "Ce champ est obligatoire."
NOT_A_TEXT = "Valeur invalide : un texte est attendu."
OTHER_NEEDS_TEXT = "Précisez le motif lorsque vous choisissez « Autre motif »."

_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
# Control characters other than tab and line breaks have no place in a fiche or its PDF.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

E = TypeVar("E", bound=StrEnum)


def text_error(value: object, *, required: bool, max_length: int = TEXT_MAX_LENGTH) -> str | None:
    if value is None:
        value = ""
    if not isinstance(value, str):
        return NOT_A_TEXT
    text = value.strip()
    if not text:
        return REQUIRED if required else None
    if len(text) > max_length:
        return f"Ce texte ne peut pas dépasser {max_length} caractères (il en compte {len(text)})."
    if _CONTROL.search(text):
        return "Ce texte contient des caractères non autorisés."
    return None


def parse_iso_date(value: object) -> date | None:
    """A ``AAAA-MM-JJ`` string as a date, or None (other ISO spellings are refused)."""
    if not isinstance(value, str):
        return None
    text = value.strip()
    if not _ISO_DATE.fullmatch(text):
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def date_error(value: object, *, required: bool, today: date) -> str | None:
    """A past or present day written ``AAAA-MM-JJ``, not before 1 January 1900."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return REQUIRED if required else None
    day = parse_iso_date(value)
    if day is None:
        return "Saisissez une date valide au format AAAA-MM-JJ."
    return day_error(day, today=today)


def day_error(day: date, *, today: date, not_before: date | None = None) -> str | None:
    """``day`` must lie between ``not_before`` (default 1 January 1900) and ``today``."""
    if day > today:
        return "La date ne peut pas être dans le futur."
    if day < EARLIEST_DATE:
        return "La date ne peut pas être antérieure au 01/01/1900."
    if not_before is not None and day < not_before:
        return f"La date ne peut pas être antérieure au {french_date(not_before)}."
    return None


def parse_choice(enum_cls: type[E], value: object) -> E | None:
    """The member of ``enum_cls`` whose value is ``value`` (a member passes through)."""
    if isinstance(value, enum_cls):
        return value
    if not isinstance(value, str):
        return None
    try:
        return enum_cls(value.strip())
    except ValueError:
        return None


def choice_error(enum_cls: type[StrEnum], value: object, *, required: bool) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return "Choisissez une valeur dans la liste." if required else None
    if parse_choice(enum_cls, value) is None:
        return "Valeur inconnue : choisissez une valeur dans la liste."
    return None


def reason_errors(
    enum_cls: type[E],
    reason: object,
    text: object,
    *,
    reason_field: str = "reason",
    text_field: str = "text",
) -> dict[str, str]:
    """A reason from ``enum_cls`` (required) plus free text, required for ``other``."""
    errors: dict[str, str] = {}
    reason_message = choice_error(enum_cls, reason, required=True)
    if reason_message is not None:
        errors[reason_field] = reason_message
    chosen = parse_choice(enum_cls, reason)
    needs_text = chosen is not None and str(chosen) == "other"
    text_message = text_error(text, required=needs_text)
    if text_message is not None:
        errors[text_field] = OTHER_NEEDS_TEXT if text_message == REQUIRED else text_message
    return errors


def labels_of(members: Sequence[Labelled]) -> str:
    """« A », « B » et « C »: a French enumeration of labels for messages."""
    quoted = [f"« {member.label} »" for member in members]
    if len(quoted) <= 1:
        return "".join(quoted)
    return ", ".join(quoted[:-1]) + " et " + quoted[-1]
