"""The person's informed consent to an exchange, and the versioned notice shown to them.

A consent covers one purpose (the axis) and one recipient institution. It is collected either
on a signed paper form, scanned and uploaded, or in front of the professional who attests it.
No fiche is sent without a consent that matches the person, the axis and the recipient; once
withdrawn, nothing more is sent under it.

The notice text is versioned: a consent records the version it was given on, and a published
version is never edited (add a new version and move ``CURRENT_NOTICE_VERSION``).
"""

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from string import Template
from types import MappingProxyType
from typing import TypeAlias
from uuid import UUID

from exchange.domain.clock import paris_date, require_aware
from exchange.domain.dates import french_date
from exchange.domain.errors import ConsentRequired, ConsentWithdrawn
from exchange.domain.fields import REQUIRED, choice_error, parse_choice
from exchange.domain.vocabulary import DEFAULT_RETENTION_MONTHS, Axis, ConsentMethod

Id: TypeAlias = int | str | UUID
"""Identifier of a stored object, as persistence defines it; compared with ``==`` only."""


@dataclass(frozen=True, kw_only=True)
class ConsentFacts:
    """What the rules need to know about one recorded consent."""

    consent_id: Id
    person_id: Id
    axis: Axis
    recipient_institution: Id
    notice_version: str
    method: ConsentMethod
    collected_by: Id
    collected_at: datetime
    withdrawn_at: datetime | None = None
    attestation: bool = False
    has_paper_form: bool = False

    @property
    def is_withdrawn(self) -> bool:
        return self.withdrawn_at is not None


def validate_consent_record(
    *,
    axis: object,
    method: object,
    notice_version: object,
    collected_at: datetime | None,
    attestation: bool,
    has_paper_form: bool,
    now: datetime,
) -> dict[str, str]:
    """Field -> French message for a consent about to be recorded; empty when valid.

    ``has_paper_form`` says whether the scanned form has been uploaded (and accepted by the
    upload checks); ``attestation`` is the professional's box "j'atteste avoir recueilli le
    consentement éclairé de la personne, après lui avoir remis la notice d'information".
    """
    errors: dict[str, str] = {}
    axis_choice = _parse_axis(axis)
    if axis_choice is None:
        errors["axis"] = "Choisissez l'accompagnement (axe 2 ou axe 3) auquel la personne consent."
    method_message = choice_error(ConsentMethod, method, required=True)
    if method_message is not None:
        errors["method"] = method_message
    if not isinstance(notice_version, str) or notice_version not in NOTICES:
        errors["notice_version"] = "Version de la notice d'information inconnue."
    if collected_at is None:
        errors["collected_at"] = REQUIRED
    elif require_aware(collected_at, "collected_at") > require_aware(now, "now"):
        errors["collected_at"] = "La date de recueil ne peut pas être dans le futur."
    chosen = parse_choice(ConsentMethod, method)
    if chosen is ConsentMethod.IN_PERSON_ATTESTATION and not attestation:
        errors["attestation"] = (
            "Cochez l'attestation : vous certifiez avoir recueilli vous-même le consentement "
            "de la personne après lui avoir remis la notice d'information."
        )
    if chosen is ConsentMethod.PAPER_FORM_UPLOADED and not has_paper_form:
        errors["paper_form"] = "Joignez le formulaire de consentement signé par la personne."
    return errors


def check_consent_for_send(
    consent: ConsentFacts | None,
    *,
    person_id: Id,
    axis: Axis,
    recipient_institution: Id,
    at: datetime,
) -> ConsentFacts:
    """The consent that covers sending a fiche about ``person_id`` for ``axis`` to
    ``recipient_institution`` at ``at``; raises ConsentRequired or ConsentWithdrawn."""
    at = require_aware(at)
    if consent is None:
        raise ConsentRequired()
    if consent.person_id != person_id:
        raise ConsentRequired("Le consentement indiqué concerne une autre personne.")
    if consent.axis != axis:
        raise ConsentRequired(
            f"Le consentement enregistré porte sur « {Axis(consent.axis).label} », "
            f"pas sur « {axis.label} » : recueillez le consentement de la personne "
            "pour cet accompagnement."
        )
    if consent.recipient_institution != recipient_institution:
        raise ConsentRequired(
            "Le consentement enregistré ne couvre pas l'envoi à cet établissement : "
            "recueillez le consentement de la personne pour ce destinataire."
        )
    if consent.withdrawn_at is not None:
        raise ConsentWithdrawn(
            "La personne a retiré son consentement le "
            f"{french_date(paris_date(consent.withdrawn_at))} : "
            "aucun nouvel envoi n'est possible."
        )
    if require_aware(consent.collected_at, "collected_at") > at:
        raise ConsentRequired(
            "Le consentement est daté d'après cet envoi : vérifiez la date de recueil."
        )
    if validate_consent_record(
        axis=consent.axis,
        method=consent.method,
        notice_version=consent.notice_version,
        collected_at=consent.collected_at,
        attestation=consent.attestation,
        has_paper_form=consent.has_paper_form,
        now=at,
    ):
        raise ConsentRequired(
            "Le consentement enregistré est incomplet (attestation, formulaire signé ou "
            "notice manquant) : complétez-le avant l'envoi."
        )
    return consent


def withdraw(consent: ConsentFacts, *, at: datetime) -> ConsentFacts:
    """The consent withdrawn at ``at``; a consent is withdrawn once."""
    at = require_aware(at)
    if consent.withdrawn_at is not None:
        raise ConsentWithdrawn(
            f"Ce consentement a déjà été retiré le {french_date(paris_date(consent.withdrawn_at))}."
        )
    return dataclasses.replace(consent, withdrawn_at=at)


def _parse_axis(value: object) -> Axis | None:
    if isinstance(value, Axis):
        return value
    try:
        return Axis(int(str(value).strip()))
    except ValueError:
        return None


def duration_fr(months: int) -> str:
    """``120`` -> ``10 ans``, ``12`` -> ``1 an``, ``2`` -> ``2 mois``."""
    if months > 0 and months % 12 == 0:
        years = months // 12
        return f"{years} an" if years == 1 else f"{years} ans"
    return f"{months} mois"


@dataclass(frozen=True)
class Notice:
    """One published version of the information notice (RGPD art. 13), printable in French."""

    version: str
    effective_from: date
    title: str
    body: str
    purposes: Mapping[Axis, str]

    def render(
        self,
        *,
        controller: str,
        controller_dpo: str,
        recipient: str,
        recipient_dpo: str,
        axis: Axis,
        retention_months: int | None = None,
    ) -> str:
        """The notice for one exchange: ``controller`` collects the consent and sends,
        ``recipient`` receives; the DPO contacts are those the institutions publish;
        ``retention_months`` is the convention's period for ``axis`` (default: 001 art. 6-2).
        """
        values = {
            "controller": controller,
            "controller_dpo": controller_dpo,
            "recipient": recipient,
            "recipient_dpo": recipient_dpo,
        }
        for name, value in values.items():
            if not value.strip():
                raise ValueError(f"{name} is required to render the notice")
        months = DEFAULT_RETENTION_MONTHS[axis] if retention_months is None else retention_months
        if months < 0:
            raise ValueError("retention_months must not be negative")
        values["purpose"] = self.purposes[axis]
        values["retention"] = duration_fr(months)
        title = Template(self.title).substitute(values)
        body = Template(self.body).substitute(values)
        return f"{title}\n\n{body}\n\nNotice d'information, version {self.version}.\n"


_NOTICE_1 = Notice(
    version="1",
    effective_from=date(2025, 1, 1),
    title="Information sur l'échange de vos données personnelles entre $controller et $recipient",
    body="""\
Avec votre accord, $controller et $recipient échangent des informations vous concernant au
moyen d'une « fiche de liaison », dans le cadre de la convention de coopération qui les lie
pour l'accompagnement des demandeurs d'emploi.

Qui traite vos données ?
$controller, qui recueille votre accord et envoie la fiche, est responsable du traitement de
vos données pour son propre compte. $recipient, qui reçoit la fiche, est responsable du
traitement qu'il en fait pour son propre compte.

Dans quel but ?
$purpose
Vos données ne servent à aucune autre fin. Les statistiques transmises au comité de pilotage
de la convention ne permettent pas de vous identifier.

Votre accord
L'échange n'a lieu que si vous l'acceptez. Vous êtes libre de refuser, ou de retirer votre
accord à tout moment : ce refus ou ce retrait n'a aucune conséquence sur votre inscription ni
sur vos droits de demandeur d'emploi. Le retrait arrête tout nouvel échange ; il ne remet pas
en cause les échanges déjà faits.

Quelles données ?
Votre identité et vos coordonnées, votre identifiant France Travail, le fait d'être ou non
bénéficiaire du RSA, le diagnostic partagé avec vous (freins sociaux et professionnels, motif
de l'orientation, vos attentes), puis les bilans de l'accompagnement et son motif de sortie.

Qui peut les voir ?
Seuls les professionnels de $controller et de $recipient chargés de votre accompagnement, et
leurs responsables, tenus au secret professionnel ou à la confidentialité. Les données sont
chiffrées et chaque consultation est enregistrée.

Combien de temps ?
Vos données sont détruites dès qu'elles ne sont plus nécessaires à votre accompagnement, et
au plus tard $retention après la fin de la convention, sauf obligation légale ou contentieux
en cours.

Vos droits
Vous pouvez accéder à vos données (article 15 du RGPD), les faire rectifier (article 16),
demander leur effacement (article 17) ou la limitation de leur traitement (article 18), être
informé des rectifications, effacements et limitations faits à votre demande (article 19),
recevoir les données que vous avez fournies (article 20) et vous opposer à leur traitement
(article 21).
Pour $controller, adressez-vous à son délégué à la protection des données : $controller_dpo.
Pour $recipient, adressez-vous à son délégué à la protection des données : $recipient_dpo.
Vous pouvez aussi adresser une réclamation à la CNIL (www.cnil.fr).""",
    purposes=MappingProxyType(
        {
            Axis.AXE2: (
                "Vous orienter vers l'accompagnement global (axe 2) : un conseiller France "
                "Travail et un travailleur social vous accompagnent ensemble, en même temps, "
                "pour lever les difficultés sociales et professionnelles qui freinent votre "
                "retour à l'emploi ; suivre cet accompagnement et en faire le bilan."
            ),
            Axis.AXE3: (
                "Vous orienter vers l'accompagnement social exclusif (axe 3) : un travailleur "
                "social vous accompagne pour résoudre les difficultés sociales qui empêchent "
                "pour l'instant vos démarches vers l'emploi, pendant que vos obligations "
                "vis-à-vis de France Travail sont mises en veille ; informer votre conseiller "
                "France Travail du bilan de cet accompagnement, pour préparer la reprise de "
                "votre parcours vers l'emploi."
            ),
        }
    ),
)

NOTICES: Mapping[str, Notice] = MappingProxyType({_NOTICE_1.version: _NOTICE_1})
CURRENT_NOTICE_VERSION = "1"
