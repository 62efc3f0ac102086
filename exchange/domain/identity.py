"""A person's identity as the forms give it, and the rules it must meet before it is stored.

The identity is only ever stored encrypted (``exchange.persons``); this module checks and
normalises what a professional typed, and turns an identity into the string-to-string mapping
that ``keys.personal.PersonalFields`` encrypts, and back.

Free text is stripped, NFC-normalised, and its inner runs of white space collapsed, so that the
same name typed twice gives the same stored value. Control and invisible formatting characters
(bidirectional overrides, zero-width spaces) are refused everywhere: they have no place in a
name, and they could make a name look like another on screen or in a PDF.
"""

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

from exchange.domain.fields import REQUIRED, day_error, parse_iso_date

LAST_NAME_MAX = 100
FIRST_NAMES_MAX = 150
ADDRESS_MAX = 300
EMAIL_MAX = 254
FT_MIN, FT_MAX = 7, 11

FIELD_NAMES = (
    "last_name", "birth_name", "first_names", "birth_date", "ft_identifier",
    "address", "phone", "email", "rsa_beneficiary",
)

_TRUE = frozenset({"y", "yes", "on", "1", "true", "oui"})
_FALSE = frozenset({"", "n", "no", "off", "0", "false", "non"})
# Letters (any script) and their combining marks, spaces, hyphens and dashes (category Pd),
# apostrophes and the dot of an abbreviated first name; nothing else appears in a name on a
# French civil-status record.
_NAME_PUNCTUATION = frozenset(" -'\u2019.")
_FT = re.compile(rf"[A-Z0-9]{{{FT_MIN},{FT_MAX}}}")
# 0 followed by nine digits, the first of them 1-9; written with or without separators.
_NATIONAL_PHONE = re.compile(r"0[1-9][0-9]{8}")
# Metropolitan France and the overseas departments and communities with a 0X national form.
_COUNTRY_CODES = ("33", "262", "269", "508", "590", "594", "596")
_PHONE_SEPARATORS = re.compile(r"[ .\-/]")
_EMAIL = re.compile(r"[^@\s<>\"(),;:\[\]\\]+@[^@\s<>\"(),;:\[\]\\]+\.[^@\s<>\"(),;:\[\]\\.]{2,}")

NAME_CHARACTERS = (
    "Seuls les lettres, les espaces, les tirets, les apostrophes et les points sont acceptés."
)
FORBIDDEN_CHARACTERS = "Ce texte contient des caractères non autorisés."


@dataclass(frozen=True, kw_only=True)
class Identity:
    """Who a person is, as the professional recorded it. Optional fields are None when absent."""

    last_name: str
    first_names: str
    birth_date: date
    birth_name: str | None = None
    ft_identifier: str | None = None
    address: str | None = None
    phone: str | None = None
    email: str | None = None
    rsa_beneficiary: bool = False

    @property
    def birth_date_iso(self) -> str:
        return self.birth_date.isoformat()

    @property
    def display_name(self) -> str:
        """« NOM Prénoms », as French administrative documents write it."""
        return f"{self.last_name.upper()} {self.first_names}"

    def to_fields(self) -> dict[str, str]:
        """The string-to-string mapping that is encrypted; absent fields are left out."""
        fields = {
            "last_name": self.last_name,
            "first_names": self.first_names,
            "birth_date": self.birth_date_iso,
            "rsa_beneficiary": "1" if self.rsa_beneficiary else "0",
        }
        for name in ("birth_name", "ft_identifier", "address", "phone", "email"):
            value = getattr(self, name)
            if value is not None:
                fields[name] = value
        return fields

    @classmethod
    def from_fields(cls, fields: Mapping[str, str]) -> "Identity":
        """The identity :meth:`to_fields` gave; ValueError when the mapping is not one."""
        birth_date = parse_iso_date(fields.get("birth_date"))
        if birth_date is None or not fields.get("last_name") or not fields.get("first_names"):
            raise ValueError("not an identity mapping")
        flag = fields.get("rsa_beneficiary", "0")
        if flag not in ("0", "1"):
            raise ValueError("not an identity mapping")
        return cls(
            last_name=fields["last_name"],
            first_names=fields["first_names"],
            birth_date=birth_date,
            birth_name=fields.get("birth_name"),
            ft_identifier=fields.get("ft_identifier"),
            address=fields.get("address"),
            phone=fields.get("phone"),
            email=fields.get("email"),
            rsa_beneficiary=flag == "1",
        )

    def form_values(self) -> dict[str, str | bool]:
        """The values a form shows to edit this identity."""
        return {
            "last_name": self.last_name,
            "birth_name": self.birth_name or "",
            "first_names": self.first_names,
            "birth_date": self.birth_date_iso,
            "ft_identifier": self.ft_identifier or "",
            "address": self.address or "",
            "phone": self.phone or "",
            "email": self.email or "",
            "rsa_beneficiary": self.rsa_beneficiary,
        }


@dataclass(frozen=True, kw_only=True)
class PersonSearch:
    """What a search looks for: (a last or birth name and a birth date) or a France Travail
    identifier."""

    name: str | None = None
    birth_date: date | None = None
    ft_identifier: str | None = None

    @property
    def mode(self) -> str:
        return "ft" if self.ft_identifier is not None else "name"


def _text(value: object) -> str | None:
    """The value as stripped NFC text; None when it is not text at all."""
    if value is None:
        return ""
    if not isinstance(value, str):
        return None
    return unicodedata.normalize("NFC", value).strip()


def _has_forbidden(text: str, *, allow_line_breaks: bool = False) -> bool:
    for c in text:
        if allow_line_breaks and c in "\n\r\t":
            continue
        if unicodedata.category(c) in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"):
            return True
    return False


def _collapse(text: str) -> str:
    return " ".join(text.split())


def name_error(value: object, *, required: bool, max_length: int) -> tuple[str | None, str | None]:
    """(normalised name or None, French message or None)."""
    text = _text(value)
    if text is None:
        return None, "Valeur invalide : un texte est attendu."
    if _has_forbidden(text):
        return None, FORBIDDEN_CHARACTERS
    text = _collapse(text)
    if not text:
        return None, REQUIRED if required else None
    if len(text) > max_length:
        return None, f"{max_length} caractères au plus (ce texte en compte {len(text)})."
    if not all(c.isalpha() or unicodedata.combining(c) or c in _NAME_PUNCTUATION
               or unicodedata.category(c) == "Pd" for c in text):
        return None, NAME_CHARACTERS
    if not any(c.isalpha() for c in text):
        return None, "Saisissez au moins une lettre."
    return text, None


def birth_date_error(value: object, *, today: date) -> tuple[date | None, str | None]:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None, REQUIRED
    day = parse_iso_date(value)
    if day is None:
        return None, "Saisissez une date valide au format AAAA-MM-JJ (par exemple 1985-04-12)."
    message = day_error(day, today=today)
    if message is not None:
        return None, message
    return day, None


def normalise_ft_identifier(value: object) -> tuple[str | None, str | None]:
    """France Travail identifier: 7 to 11 letters or digits, separators dropped, upper case."""
    text = _text(value)
    if text is None:
        return None, "Valeur invalide : un texte est attendu."
    if _has_forbidden(text):
        return None, FORBIDDEN_CHARACTERS
    compact = "".join(text.split()).replace("-", "").upper()
    if not compact:
        return None, None
    if not _FT.fullmatch(compact):
        return None, (
            f"L'identifiant France Travail compte de {FT_MIN} à {FT_MAX} lettres ou chiffres "
            "(par exemple 1234567A)."
        )
    return compact, None


def normalise_phone(value: object) -> tuple[str | None, str | None]:
    """A French number, national (06 12 34 56 78) or international (+33 6 12 34 56 78; the
    overseas codes too), stored in its national form written by pairs."""
    text = _text(value)
    if text is None:
        return None, "Valeur invalide : un texte est attendu."
    if _has_forbidden(text):
        return None, FORBIDDEN_CHARACTERS
    compact = _PHONE_SEPARATORS.sub("", text).replace("(0)", "")
    if not compact:
        return None, None
    for prefix in ("+", "00"):
        if compact.startswith(prefix):
            rest = compact[len(prefix):]
            code = next((c for c in _COUNTRY_CODES if rest.startswith(c)), None)
            if code is not None:
                compact = "0" + rest[len(code):]
            break
    if not _NATIONAL_PHONE.fullmatch(compact):
        return None, (
            "Saisissez un numéro de téléphone français à 10 chiffres, par exemple "
            "06 12 34 56 78 ou +33 6 12 34 56 78."
        )
    return " ".join(compact[i:i + 2] for i in range(0, 10, 2)), None


def normalise_email(value: object) -> tuple[str | None, str | None]:
    text = _text(value)
    if text is None:
        return None, "Valeur invalide : un texte est attendu."
    if _has_forbidden(text):
        return None, FORBIDDEN_CHARACTERS
    if not text:
        return None, None
    if len(text) > EMAIL_MAX:
        return None, f"{EMAIL_MAX} caractères au plus."
    if not _EMAIL.fullmatch(text):
        return None, (
            "Saisissez une adresse électronique valide, par exemple prenom.nom@exemple.fr."
        )
    local, _, domain = text.rpartition("@")
    return f"{local}@{domain.lower()}", None


def normalise_address(value: object) -> tuple[str | None, str | None]:
    """A postal address on one or more lines; each line's white space collapsed."""
    text = _text(value)
    if text is None:
        return None, "Valeur invalide : un texte est attendu."
    if _has_forbidden(text, allow_line_breaks=True):
        return None, FORBIDDEN_CHARACTERS
    lines = [_collapse(line) for line in text.replace("\r\n", "\n").split("\n")]
    text = "\n".join(line for line in lines if line)
    if not text:
        return None, None
    if len(text) > ADDRESS_MAX:
        return None, f"{ADDRESS_MAX} caractères au plus (cette adresse en compte {len(text)})."
    return text, None


def parse_flag(value: object) -> bool | None:
    """A checkbox or yes/no value; None when it is neither."""
    if isinstance(value, bool):
        return value
    if value is None:
        return False
    if not isinstance(value, str):
        return None
    text = value.strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    return None


def validate_identity(
    form: Mapping[str, object], *, today: date
) -> tuple[Identity | None, dict[str, str]]:
    """(the identity, {}) when ``form`` is acceptable, else (None, field -> French message).

    ``form`` maps the names of :data:`FIELD_NAMES` to what was typed; ``today`` (a Paris
    calendar day) bounds the birth date.
    """
    errors: dict[str, str] = {}
    values: dict[str, object] = {}

    def take(field: str, result: tuple[object, str | None]) -> None:
        value, message = result
        if message is not None:
            errors[field] = message
        values[field] = value

    take("last_name", name_error(form.get("last_name"), required=True, max_length=LAST_NAME_MAX))
    take("birth_name", name_error(form.get("birth_name"), required=False,
                                  max_length=LAST_NAME_MAX))
    take("first_names", name_error(form.get("first_names"), required=True,
                                   max_length=FIRST_NAMES_MAX))
    take("birth_date", birth_date_error(form.get("birth_date"), today=today))
    take("ft_identifier", normalise_ft_identifier(form.get("ft_identifier")))
    take("address", normalise_address(form.get("address")))
    take("phone", normalise_phone(form.get("phone")))
    take("email", normalise_email(form.get("email")))
    rsa = parse_flag(form.get("rsa_beneficiary"))
    if rsa is None:
        errors["rsa_beneficiary"] = "Valeur invalide : cochez la case ou laissez-la vide."
    if errors:
        return None, errors
    birth_date = values["birth_date"]
    assert isinstance(birth_date, date)
    return Identity(
        last_name=str(values["last_name"]),
        first_names=str(values["first_names"]),
        birth_date=birth_date,
        birth_name=_optional(values["birth_name"]),
        ft_identifier=_optional(values["ft_identifier"]),
        address=_optional(values["address"]),
        phone=_optional(values["phone"]),
        email=_optional(values["email"]),
        rsa_beneficiary=bool(rsa),
    ), {}


def _optional(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def validate_search(
    form: Mapping[str, object], *, today: date
) -> tuple[PersonSearch | None, dict[str, str]]:
    """A search by (``name`` and ``birth_date``) or by ``ft_identifier``; the identifier wins
    when both are given. Field -> French message when neither is complete."""
    ft, ft_message = normalise_ft_identifier(form.get("ft_identifier"))
    if ft_message is not None:
        return None, {"ft_identifier": ft_message}
    if ft is not None:
        return PersonSearch(ft_identifier=ft), {}
    name_given = isinstance(form.get("name"), str) and bool(str(form.get("name")).strip())
    date_given = isinstance(form.get("birth_date"), str) and bool(
        str(form.get("birth_date")).strip())
    if not name_given and not date_given:
        message = ("Saisissez un nom et une date de naissance, ou un identifiant France "
                   "Travail.")
        return None, {"name": message}
    errors: dict[str, str] = {}
    name, name_message = name_error(form.get("name"), required=True, max_length=LAST_NAME_MAX)
    if name_message is not None:
        errors["name"] = name_message
    birth_date, date_message = birth_date_error(form.get("birth_date"), today=today)
    if date_message is not None:
        errors["birth_date"] = date_message
    if errors or name is None or birth_date is None:
        return None, errors
    return PersonSearch(name=name, birth_date=birth_date), {}
