"""The persons' forms: they carry the CSRF token and render the fields; the rules and their
French messages are the domain's (`exchange.domain.identity`, `exchange.persons.consents`), so
no WTForms validator here."""

from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import (
    BooleanField,
    EmailField,
    HiddenField,
    RadioField,
    SelectField,
    StringField,
    TelField,
    TextAreaField,
)
from wtforms.widgets import DateInput

from exchange.domain.consent import CURRENT_NOTICE_VERSION
from exchange.domain.identity import FIELD_NAMES
from exchange.domain.vocabulary import Axis, ConsentMethod
from exchange.web.forms import options


class SearchForm(FlaskForm):
    name = StringField("Nom d'usage ou nom de naissance")
    birth_date = StringField("Date de naissance", widget=DateInput())
    ft_identifier = StringField("Identifiant France Travail")


class IdentityForm(FlaskForm):
    last_name = StringField("Nom d'usage (obligatoire)")
    birth_name = StringField("Nom de naissance, s'il est différent")
    first_names = StringField("Prénom(s) (obligatoire)")
    birth_date = StringField("Date de naissance (obligatoire)", widget=DateInput())
    ft_identifier = StringField("Identifiant France Travail")
    address = TextAreaField("Adresse postale")
    phone = TelField("Téléphone")
    email = EmailField("Adresse électronique")
    rsa_beneficiary = BooleanField("Bénéficiaire du RSA")
    create_anyway = HiddenField()

    def identity_values(self) -> dict[str, object]:
        return {name: self[name].data for name in FIELD_NAMES}


class ConsentForm(FlaskForm):
    axis = SelectField("Accompagnement auquel la personne consent", validate_choice=False,
                       choices=options(Axis))
    recipient = SelectField("Établissement destinataire", validate_choice=False)
    notice_version = SelectField("Version de la notice d'information remise",
                                 validate_choice=False, default=CURRENT_NOTICE_VERSION)
    method = RadioField("Mode de recueil du consentement", validate_choice=False,
                        choices=options(ConsentMethod)[1:])
    attestation = BooleanField(
        "J'atteste avoir recueilli moi-même le consentement éclairé de la personne, après lui "
        "avoir remis la notice d'information.")
    paper_form = FileField("Formulaire de consentement signé, numérisé")
    collected_on = StringField("Date de recueil", widget=DateInput())


class ConfirmForm(FlaskForm):
    """A button that changes something: the form carries only the CSRF token."""


