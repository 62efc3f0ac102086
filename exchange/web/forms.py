"""The administration forms. Each declares only what an administrator may set: anything else a
request carries (``active``, ``password_hash``...) is never read.

Messages are French: ours are written out, WTForms' own come from its French catalogue.
"""

from __future__ import annotations

import re
from typing import Any

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    EmailField,
    IntegerField,
    PasswordField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.meta import DefaultMeta
from wtforms.validators import (
    DataRequired,
    EqualTo,
    InputRequired,
    Length,
    NumberRange,
    Optional,
    Regexp,
)
from wtforms.validators import ValidationError as FieldError
from wtforms.widgets import CheckboxInput, ListWidget

from exchange.domain import siret
from exchange.domain.vocabulary import InstitutionKind, Role, UnitKind, choices
from exchange.org.models import DEFAULT_AXIS2_MONTHS, DEFAULT_AXIS3_MONTHS

USERNAME = re.compile(r"^[a-z0-9._-]{3,80}\Z")
# Deliberately simple: one @, no spaces, a dotted domain. Delivery is what proves an address.
_EMAIL = r"^[^@\s<>\"]+@[^@\s<>\"]+\.[^@\s<>\"]+\Z"
INVALID_DATE = "Saisissez une date valide (jour/mois/année)."
BLANK_CHOICE = SelectChoice("", "— Choisissez —")


def options(members: Any) -> list[SelectChoice]:
    """A blank first option, then the members of a vocabulary enum with their French labels."""
    return [BLANK_CHOICE, *(SelectChoice(value, label) for value, label in choices(members))]


def _strip(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


def _email(label: str, missing: str | None) -> EmailField:
    """An e-mail field; ``missing`` is the message when it is required, None when optional."""
    first: Any = DataRequired(missing) if missing else Optional()
    return EmailField(label, filters=[_strip], validators=[
        first,
        Length(max=200, message="200 caractères au plus."),
        Regexp(_EMAIL, message="Saisissez une adresse électronique valide, "
                               "par exemple prenom.nom@exemple.fr.")])


class AdminForm(FlaskForm):
    class Meta:
        locales = ("fr_FR", "fr")

        def get_translations(self, form: Any) -> Any:
            # Flask-WTF's own translations need Flask-Babel; WTForms ships a French catalogue.
            return DefaultMeta.get_translations(self, form)


class ConfirmForm(AdminForm):
    """A button that changes something: the form carries only the CSRF token."""


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


def at_least_one(message: str) -> Any:
    def check(form: Any, field: Any) -> None:
        if not field.data:
            raise FieldError(message)

    return check


# -- institutions and units ---------------------------------------------------------------------


class InstitutionForm(AdminForm):
    kind = SelectField("Type d'institution", choices=options(InstitutionKind),
                       validators=[DataRequired("Choisissez le type d'institution.")])
    name = StringField("Nom", filters=[_strip], validators=[
        DataRequired("Saisissez le nom de l'institution."),
        Length(max=200, message="200 caractères au plus.")])
    siret = StringField("Numéro SIRET", filters=[lambda v: siret.normalise(v) if v else v],
                        render_kw={"inputmode": "numeric", "autocomplete": "off"})
    dpo_name = StringField("Délégué à la protection des données : nom ou fonction",
                           filters=[_strip], validators=[
                               DataRequired("Saisissez le nom ou la fonction du délégué."),
                               Length(max=200, message="200 caractères au plus.")])
    dpo_email = _email("Délégué à la protection des données : adresse électronique",
                       "Saisissez l'adresse électronique du délégué.")
    dpo_address = TextAreaField(
        "Délégué à la protection des données : adresse postale", filters=[_strip],
        validators=[DataRequired("Saisissez l'adresse postale du délégué."),
                    Length(max=500, message="500 caractères au plus.")])

    def validate_siret(self, field: Any) -> None:
        problem = siret.problem(field.data or "")
        if problem:
            raise FieldError(problem)


class UnitForm(AdminForm):
    kind = SelectField("Type de structure", choices=options(UnitKind),
                       validators=[DataRequired("Choisissez le type de structure.")])
    name = StringField("Nom de la structure", filters=[_strip], validators=[
        DataRequired("Saisissez le nom de la structure."),
        Length(max=200, message="200 caractères au plus.")])
    email = _email("Boîte électronique de la structure (notifications)", None)


# -- conventions ------------------------------------------------------------------------------


def _date(label: str, missing: str) -> DateField:
    return DateField(label, validators=[InputRequired(missing)], invalid_value_message=INVALID_DATE)


def _months(label: str, default: int) -> IntegerField:
    return IntegerField(label, default=default, validators=[
        InputRequired("Saisissez une durée en mois."),
        NumberRange(0, 120, "Saisissez une durée entre 0 et 120 mois (10 ans).")])


class ConventionForm(AdminForm):
    title = StringField("Intitulé de la convention", filters=[_strip], validators=[
        DataRequired("Saisissez l'intitulé de la convention."),
        Length(max=300, message="300 caractères au plus.")])
    party_a = SelectField("Première institution signataire",
                          validators=[DataRequired("Choisissez la première institution.")])
    party_b = SelectField("Seconde institution signataire",
                          validators=[DataRequired("Choisissez la seconde institution.")])
    start_date = _date("Date de début", "Saisissez la date de début.")
    end_date = _date("Date de fin", "Saisissez la date de fin.")
    axis2 = BooleanField("Axe 2 – accompagnement global", default=True)
    axis3 = BooleanField("Axe 3 – accompagnement social exclusif", default=True)
    retention_axis2_months = _months("Conservation des données de l'axe 2 (mois après la fin)",
                                     DEFAULT_AXIS2_MONTHS)
    retention_axis3_months = _months("Conservation des données de l'axe 3 (mois après la fin)",
                                     DEFAULT_AXIS3_MONTHS)
    grace_days = IntegerField("Délai de grâce (jours)", default=30, validators=[
        InputRequired("Saisissez un nombre de jours."),
        NumberRange(0, 365, "Saisissez un nombre de jours entre 0 et 365.")])
    countersign_required = BooleanField(
        "Contreseing du responsable de structure obligatoire avant envoi")
    caseload_target = IntegerField("File active cible par conseiller", default=70, validators=[
        InputRequired("Saisissez la file active cible."),
        NumberRange(1, 500, "Saisissez un nombre entre 1 et 500.")])

    def validate_party_b(self, field: Any) -> None:
        if field.data and field.data == self.party_a.data:
            raise FieldError("Choisissez une institution différente de la première : une "
                             "convention lie deux institutions distinctes.")

    def validate_end_date(self, field: Any) -> None:
        if field.data and self.start_date.data and field.data < self.start_date.data:
            raise FieldError("La date de fin doit être postérieure ou égale à la date de début.")

    def validate_axis2(self, field: Any) -> None:
        if not field.data and not self.axis3.data:
            raise FieldError("Ouvrez au moins un axe : l'axe 2, l'axe 3 ou les deux.")


class AmendmentForm(AdminForm):
    signed_on = _date("Date de signature de l'avenant", "Saisissez la date de signature.")
    new_end_date = _date("Nouvelle date de fin de la convention", "Saisissez la nouvelle date "
                                                                  "de fin.")
    note = TextAreaField("Objet de l'avenant", filters=[_strip], validators=[
        Length(max=500, message="500 caractères au plus.")])


# -- accounts ---------------------------------------------------------------------------------

_ROLES = "Choisissez au moins un rôle."
_MISSING_INITIAL = "Saisissez le mot de passe initial."


class UserEditForm(AdminForm):
    display_name = StringField("Nom affiché (prénom et nom)", filters=[_strip], validators=[
        DataRequired("Saisissez le nom affiché."),
        Length(max=200, message="200 caractères au plus.")])
    email = _email("Adresse électronique professionnelle",
                   "Saisissez l'adresse électronique professionnelle.")
    unit = SelectField("Structure de rattachement",
                       validators=[DataRequired("Choisissez la structure de rattachement.")])
    roles = MultiCheckboxField("Rôles", choices=options(Role)[1:],
                               validators=[at_least_one(_ROLES)])


class UserCreateForm(UserEditForm):
    username = StringField("Identifiant de connexion", filters=[_strip], validators=[
        DataRequired("Saisissez l'identifiant de connexion."),
        Regexp(USERNAME, message="De 3 à 80 caractères : lettres minuscules sans accent, "
                                 "chiffres, point, tiret ou tiret bas.")])
    password = PasswordField("Mot de passe initial", validators=[DataRequired(_MISSING_INITIAL)])
    confirm = PasswordField("Confirmez le mot de passe initial", validators=[
        EqualTo("password", "Les deux mots de passe diffèrent.")])


class PasswordResetForm(AdminForm):
    password = PasswordField("Nouveau mot de passe initial",
                             validators=[DataRequired(_MISSING_INITIAL)])
    confirm = PasswordField("Confirmez le nouveau mot de passe initial", validators=[
        EqualTo("password", "Les deux mots de passe diffèrent.")])


def refuse(field: Any, message: str) -> None:
    """Add an error found after validation (a name already taken, a rule of the database)."""
    field.errors = [*field.errors, message]
