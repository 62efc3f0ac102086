"""The access export (RGPD art. 15): what the DPO's institution holds about one person, as
JSON and PDF.

`collect` gathers, for one person and nobody else, the share of the DPO's institution (the
controller answering; `exchange.policy.share_*`): the decrypted identity, the fiches its units
sent or received (kind, axis, state, dates, sending and receiving units and institutions,
convention) — not their sealed content —, its accompaniments and consents, the purposes and
legal basis, the retention horizons and rules, the recipients, and the history of the accesses
to that data by the institution's staff (`exchange.policy.dpo_audit_scope`): every such audit
event whose object is the person or one of the share's records (consents, fiches,
accompaniments, documents, receipts, the institution's rights requests), with the actor's
role, unit and institution, never the actor's name. A partner that received a fiche answers
for its own processing of it: the recipients listed tell the person whom to ask.

The caller (`exchange.dpo.rights_views`) records the one ``rights.access_export`` event before
collecting, so the export lists itself.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator, Sequence
from datetime import date, datetime
from typing import Any

# Only escapes text for reportlab's paragraph markup; nothing is parsed.
from xml.sax.saxutils import escape  # nosec B406

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from exchange import policy
from exchange.audit.models import AuditEvent
from exchange.audit.search import OBJECT_LABELS, OUTCOME_LABELS, PURPOSE_LABELS, action_label
from exchange.domain.clock import PARIS
from exchange.domain.identity import Identity
from exchange.domain.vocabulary import Axis, ConsentMethod, FicheKind, FicheState, Role
from exchange.dpo.models import RightsRequest
from exchange.fiches.models import Accompaniment, Fiche, Receipt
from exchange.org.models import Convention, Institution, Unit
from exchange.persons.models import Consent, Person
from exchange.platform.models import Document
from exchange.platform.pdf import fonts

FORMAT = "liaison-acces-rgpd/1"
RIGHTS_ACTION_LABELS = {
    "rights.request_created": "Demande d'exercice de droits enregistrée",
    "rights.request_updated": "Demande d'exercice de droits mise à jour",
    "rights.request_viewed": "Demande d'exercice de droits consultée",
    "rights.access_export": "Export du droit d'accès",
    "rights.restriction_set": "Traitement limité",
    "rights.restriction_lifted": "Limitation levée",
    "rights.erasure_approved": "Effacement approuvé",
    "rights.erased": "Donnée effacée sur demande",
    "rights.request_transmitted": "Demande transmise à une institution partenaire",
    "rights.request_received": "Demande reçue d'une institution partenaire",
    "retention.deleted": "Donnée supprimée (durée de conservation)",
    "retention.skipped_hold": "Suppression reportée (conservation légale)",
    "retention.marked_unneeded": "Marquée comme n'étant plus utile",
    "hold.placed": "Conservation légale posée",
    "hold.lifted": "Conservation légale levée",
}
ROLE_LABELS = {str(r): r.label for r in Role} | {"system": "Plateforme (tâche automatique)",
                                                 "anonymous": "Non connecté"}
IDENTITY_LABELS = {
    "last_name": "Nom d'usage", "birth_name": "Nom de naissance", "first_names": "Prénom(s)",
    "birth_date": "Date de naissance", "ft_identifier": "Identifiant France Travail",
    "address": "Adresse postale", "phone": "Téléphone", "email": "Adresse électronique",
    "rsa_beneficiary": "Bénéficiaire du RSA",
}
PURPOSES = {
    2: ("Accompagnement global (axe 2) : orientation, suivi conjoint par un conseiller France "
        "Travail et un travailleur social, bilans"),
    3: ("Accompagnement social exclusif (axe 3) : orientation vers le service social, suivi et "
        "retour au conseiller"),
}
LEGAL_BASIS = ("Mission d'intérêt public d'insertion sociale et professionnelle (RGPD art. 6 "
               "(1) e), code de l'action sociale et des familles et code du travail), sur la "
               "base du consentement éclairé de la personne à chaque échange.")
RIGHTS_TEXT = ("Vous pouvez demander la rectification, l'effacement ou la limitation de ces "
               "données, vous opposer à leur traitement, et introduire une réclamation auprès "
               "de la CNIL (3 place de Fontenoy, TSA 80715, 75334 Paris Cedex 07, cnil.fr).")
_BATCH = 500


def _day(value: date | None) -> str | None:
    return value.isoformat() if value is not None else None


def _instant(value: datetime | None) -> str | None:
    return value.astimezone(PARIS).isoformat(timespec="seconds") if value is not None else None


def _units(session: Session, ids: set[int]) -> dict[int, dict[str, str]]:
    rows = session.execute(select(Unit.id, Unit.name, Institution.name)
                           .join(Institution, Unit.institution_id == Institution.id)
                           .where(Unit.id.in_(sorted(ids)))).all() if ids else []
    return {r[0]: {"structure": r[1], "institution": r[2]} for r in rows}


def _chunks(values: Sequence[str]) -> Iterator[Sequence[str]]:
    for start in range(0, len(values), _BATCH):
        yield values[start:start + _BATCH]


def object_ids(session: Session, person: Person, institution_id: int) -> list[str]:
    """The public ids of the person and of everything of theirs in the institution's share."""
    fiche_ids = list(session.scalars(select(Fiche.id).where(
        Fiche.person_id == person.id, policy.share_fiches(institution_id))))
    consent_ids = select(Consent.id).where(Consent.person_id == person.id,
                                           policy.share_consents(institution_id))
    accompaniment_ids = select(Accompaniment.id).where(
        Accompaniment.person_id == person.id, policy.share_accompaniments(institution_id))
    ids = [person.public_id]
    ids += session.scalars(select(Fiche.public_id).where(Fiche.id.in_(fiche_ids)))
    ids += session.scalars(select(Consent.public_id).where(Consent.id.in_(consent_ids)))
    ids += session.scalars(select(Accompaniment.public_id).where(
        Accompaniment.id.in_(accompaniment_ids)))
    ids += session.scalars(select(Document.public_id).where(or_(
        Document.fiche_id.in_(fiche_ids), Document.consent_id.in_(consent_ids),
        Document.accompaniment_id.in_(accompaniment_ids))))
    ids += session.scalars(select(Receipt.public_id).where(Receipt.fiche_id.in_(fiche_ids)))
    ids += session.scalars(select(RightsRequest.public_id).where(
        RightsRequest.person_public_id == person.public_id,
        RightsRequest.institution_id == institution_id))
    return list(dict.fromkeys(ids))


def accesses(session: Session, person: Person, institution_id: int) -> list[dict[str, Any]]:
    """Every audit event of the institution's scope about its share of the person's data,
    oldest first."""
    ids = object_ids(session, person, institution_id)
    scope = policy.dpo_audit_scope(institution_id)
    rows: list[Any] = []
    for chunk in _chunks(ids):
        rows += session.execute(select(
            AuditEvent.seq, AuditEvent.at, AuditEvent.actor_role, AuditEvent.actor_unit_id,
            AuditEvent.actor_user_id, AuditEvent.action, AuditEvent.object_type,
            AuditEvent.outcome, AuditEvent.purpose).where(AuditEvent.object_id.in_(chunk),
                                                          scope)).all()
    rows.sort(key=lambda r: r.seq)
    unit_ids = {r.actor_unit_id for r in rows if r.actor_unit_id}
    names = {r[0]: (r[1], r[2]) for r in session.execute(
        select(Unit.public_id, Unit.name, Institution.name)
        .join(Institution, Unit.institution_id == Institution.id)
        .where(Unit.public_id.in_(sorted(unit_ids)))).all()} if unit_ids else {}
    found = []
    for r in rows:
        unit, institution = names.get(r.actor_unit_id, ("—", "—")) if r.actor_unit_id \
            else ("—", "—")
        role = ROLE_LABELS.get(r.actor_role or "", r.actor_role or "") if r.actor_role else (
            "Plusieurs rôles" if r.actor_user_id else "Plateforme (tâche automatique)")
        found.append({
            "n": r.seq, "quand": _instant(r.at), "role": role, "structure": unit,
            "institution": institution,
            "action": RIGHTS_ACTION_LABELS.get(r.action) or action_label(r.action),
            "objet": OBJECT_LABELS.get(r.object_type or "", r.object_type or "—"),
            "resultat": OUTCOME_LABELS.get(r.outcome, r.outcome),
            "finalite": PURPOSE_LABELS.get(r.purpose or "", r.purpose or "—"),
        })
    return found


def collect(session: Session, person: Person, identity: Identity, *, now: datetime,
            controller: Institution, request: RightsRequest) -> dict[str, Any]:
    institution_id = controller.id
    fiches = list(session.scalars(select(Fiche).where(
        Fiche.person_id == person.id, policy.share_fiches(institution_id))
        .order_by(Fiche.created_at, Fiche.id)))
    consents = list(session.scalars(select(Consent).where(
        Consent.person_id == person.id, policy.share_consents(institution_id))
        .order_by(Consent.collected_on, Consent.id)))
    accompaniments = list(session.scalars(select(Accompaniment).where(
        Accompaniment.person_id == person.id, policy.share_accompaniments(institution_id))
        .order_by(Accompaniment.proposal_date)))
    units = _units(session, {f.sender_unit_id for f in fiches}
                   | {f.recipient_unit_id for f in fiches}
                   | {a.advisor_unit_id for a in accompaniments}
                   | {a.social_unit_id for a in accompaniments})
    conventions = {c.id: c for c in session.scalars(select(Convention).where(Convention.id.in_(
        {f.convention_id for f in fiches} | {a.convention_id for a in accompaniments})))}
    institutions = dict(session.execute(select(Institution.id, Institution.name)).all())
    fields = identity.to_fields()
    identity_out = {IDENTITY_LABELS[k]: ("oui" if v == "1" else "non") if k == "rsa_beneficiary"
                    else v for k, v in fields.items() if k in IDENTITY_LABELS}
    axes = sorted({f.axis for f in fiches} | {c.axis for c in consents}
                  | {a.axis for a in accompaniments})
    recipients = sorted({units[f.recipient_unit_id]["institution"] for f in fiches}
                        | {units[f.sender_unit_id]["institution"] for f in fiches}
                        | {institutions.get(c.recipient_institution_id, "") for c in consents})
    return {
        "format": FORMAT,
        "genere_le": _instant(now),
        "responsable_de_traitement": {
            "institution": controller.name, "dpo": controller.dpo_name,
            "contact_dpo": controller.dpo_email, "adresse_dpo": controller.dpo_address},
        "demande": {"reference": request.public_id, "recue_le": _day(request.received_on)},
        "personne": {
            "reference": person.public_id,
            "identite": identity_out,
            "version_identite": person.identity_version,
            "enregistree_le": _instant(person.created_at),
            "traitement_limite": person.restricted,
        },
        "fiches": [{
            "reference": f.public_id,
            "type": FicheKind(f.kind).label,
            "axe": Axis(f.axis).label,
            "etat": FicheState(f.state).label,
            "convention": conventions[f.convention_id].title,
            "expediteur": units[f.sender_unit_id],
            "destinataire": units[f.recipient_unit_id],
            "creee_le": _instant(f.created_at),
            "signee_le": _instant(f.signed_at),
            "envoyee_le": _instant(f.sent_at),
            "lue_le": _instant(f.read_at),
            "accusee_le": _instant(f.acknowledged_at),
            "decidee_le": _instant(f.decided_at),
            "conservee_jusqu_au": _day(f.horizon),
        } for f in fiches],
        "accompagnements": [{
            "reference": a.public_id,
            "axe": Axis(a.axis).label,
            "conseiller": units[a.advisor_unit_id],
            "travailleur_social": units[a.social_unit_id],
            "proposition": _day(a.proposal_date),
            "entree": _day(a.entry_date),
            "fin_prevue": _day(a.planned_end),
            "sortie": _day(a.exit_date),
            "conserve_jusqu_au": _day(a.horizon),
        } for a in accompaniments],
        "consentements": [{
            "reference": c.public_id,
            "axe": Axis(c.axis).label,
            "destinataire": institutions.get(c.recipient_institution_id, ""),
            "version_notice": c.notice_version,
            "mode_de_recueil": ConsentMethod(c.method).label,
            "recueilli_le": _day(c.collected_on),
            "retire_le": _instant(c.withdrawn_at),
            "conserve_jusqu_au": _day(c.horizon),
        } for c in consents],
        "finalites": [PURPOSES[a] for a in axes if a in PURPOSES],
        "base_legale": LEGAL_BASIS,
        "destinataires": [r for r in recipients if r],
        "conservation": {
            "identite_conservee_jusqu_au": _day(person.horizon),
            "regles": [{
                "convention": c.title,
                "fin": _day(c.effective_end_date),
                "axe 2 (mois après la fin)": c.retention_axis2_months,
                "axe 3 (mois après la fin)": c.retention_axis3_months,
            } for c in conventions.values()],
            "principe": ("Les données sont détruites au plus tard au terme de ces durées, et "
                         "dès qu'elles ne sont plus nécessaires."),
        },
        "acces_aux_donnees": accesses(session, person, institution_id),
        "vos_droits": RIGHTS_TEXT,
    }


def to_json(data: dict[str, Any]) -> bytes:
    return json.dumps(data, ensure_ascii=False, indent=2).encode("utf-8")


# -- PDF -------------------------------------------------------------------------------------


_ISO_DAY = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
_ISO_INSTANT = re.compile(r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):\d{2}[+-]\d{2}:\d{2}$")


def _fr(value: object) -> str:
    """ISO dates and instants (as the JSON holds them) written the French way."""
    text = "" if value is None else str(value)
    if day := _ISO_DAY.match(text):
        return f"{day[3]}/{day[2]}/{day[1]}"
    if instant := _ISO_INSTANT.match(text):
        return f"{instant[3]}/{instant[2]}/{instant[1]} à {instant[4]}:{instant[5]}"
    return text


def _p(text: object, style: ParagraphStyle) -> Paragraph:
    value = _fr(text)
    return Paragraph(escape(fonts.printable(value or "—")), style)


def to_pdf(data: dict[str, Any]) -> bytes:
    fonts.register()
    body = ParagraphStyle("body", fontName=fonts.REGULAR, fontSize=9, leading=11.5)
    small = ParagraphStyle("small", parent=body, fontSize=7.5, leading=9)
    h1 = ParagraphStyle("h1", parent=body, fontName=fonts.BOLD, fontSize=15, leading=19,
                        spaceAfter=6)
    h2 = ParagraphStyle("h2", parent=body, fontName=fonts.BOLD, fontSize=11.5, leading=14,
                        spaceBefore=10, spaceAfter=4)
    grid = TableStyle([("GRID", (0, 0), (-1, -1), 0.4, colors.grey),
                       ("VALIGN", (0, 0), (-1, -1), "TOP"),
                       ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8eef6"))])

    def pairs(rows: dict[str, Any]) -> Table:
        table = Table([[_p(k, body), _p(v, body)] for k, v in rows.items()],
                      colWidths=[55 * mm, 115 * mm])
        table.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.4, colors.grey),
                                   ("VALIGN", (0, 0), (-1, -1), "TOP")]))
        return table

    def table(header: list[str], rows: list[list[Any]], widths: list[float],
              style: ParagraphStyle = body) -> Table:
        t = Table([[_p(h, style) for h in header]] + [[_p(c, style) for c in r] for r in rows],
                  colWidths=[w * mm for w in widths], repeatRows=1)
        t.setStyle(grid)
        return t

    person = data["personne"]
    controller = data["responsable_de_traitement"]
    story: list[Any] = [
        _p("Vos données dans Liaison — droit d'accès (article 15 du RGPD)", h1),
        _p(f"Document établi le {_fr(data['genere_le'])} par le délégué à la protection des "
           f"données de {controller['institution']} ({controller['contact_dpo']}), en réponse à la "
           f"demande reçue le {_fr(data['demande']['recue_le'])} "
           f"(référence {data['demande']['reference']}).", body),
        _p("Votre identité", h2), pairs(person["identite"]),
        Spacer(1, 3),
        _p(f"Traitement limité : {'oui' if person['traitement_limite'] else 'non'}. "
           f"Référence de votre dossier : {person['reference']}.", body),
        _p("Finalités et base légale", h2),
        *[_p(f"• {p}", body) for p in data["finalites"]],
        _p(data["base_legale"], body),
        _p("Destinataires", h2),
        _p(", ".join(data["destinataires"]) or "Aucun échange.", body),
        _p(f"Fiches de liaison échangées ({len(data['fiches'])})", h2),
    ]
    if data["fiches"]:
        story.append(table(
            ["Type", "État", "Expéditeur", "Destinataire", "Envoyée le", "Conservée jusqu'au"],
            [[f["type"], f["etat"],
              f"{f['expediteur']['structure']} ({f['expediteur']['institution']})",
              f"{f['destinataire']['structure']} ({f['destinataire']['institution']})",
              f["envoyee_le"], f["conservee_jusqu_au"]] for f in data["fiches"]],
            [30, 22, 37, 37, 24, 20], small))
    story.append(_p(f"Accompagnements ({len(data['accompagnements'])})", h2))
    if data["accompagnements"]:
        story.append(table(
            ["Axe", "Conseiller", "Travailleur social", "Entrée", "Sortie"],
            [[a["axe"], a["conseiller"]["structure"], a["travailleur_social"]["structure"],
              a["entree"], a["sortie"]] for a in data["accompagnements"]],
            [40, 40, 40, 25, 25], small))
    story.append(_p(f"Consentements ({len(data['consentements'])})", h2))
    if data["consentements"]:
        story.append(table(
            ["Axe", "Destinataire", "Recueilli le", "Mode", "Retiré le"],
            [[c["axe"], c["destinataire"], c["recueilli_le"], c["mode_de_recueil"],
              c["retire_le"]] for c in data["consentements"]],
            [40, 40, 25, 40, 25], small))
    retention = data["conservation"]
    story += [_p("Durées de conservation", h2),
              _p(f"Votre identité est conservée au plus tard jusqu'au "
                 f"{_fr(retention['identite_conservee_jusqu_au'])}. {retention['principe']}", body)]
    for rule in retention["regles"]:
        story.append(_p(f"• {rule['convention']} (fin le {_fr(rule['fin'])}) : axe 2, "
                        f"{rule['axe 2 (mois après la fin)']} mois ; axe 3, "
                        f"{rule['axe 3 (mois après la fin)']} mois après la fin.", body))
    story.append(_p(f"Accès à vos données ({len(data['acces_aux_donnees'])})", h2))
    story.append(_p("Chaque consultation ou modification est enregistrée : qui (rôle, "
                    "structure, institution), quand, quoi et pourquoi.", body))
    if data["acces_aux_donnees"]:
        story.append(table(
            ["Date et heure", "Rôle", "Structure (institution)", "Action", "Finalité"],
            [[a["quand"], a["role"], f"{a['structure']} ({a['institution']})", a["action"],
              a["finalite"]] for a in data["acces_aux_donnees"]],
            [30, 28, 50, 40, 22], small))
    story += [_p("Vos droits", h2), _p(data["vos_droits"], body)]
    buffer = io.BytesIO()
    document = SimpleDocTemplate(buffer, pagesize=A4, leftMargin=18 * mm, rightMargin=18 * mm,
                                 topMargin=16 * mm, bottomMargin=16 * mm,
                                 title="Droit d'accès — Liaison", author=controller["institution"])
    document.build(story)
    return buffer.getvalue()
