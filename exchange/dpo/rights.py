"""Data-subject rights (RGPD art. 12 to 21) and the breach register (art. 33), for the DPO.

The register of requests keeps, for each request, its kind, channel, received and due dates,
status and answer. The person is found through the blind index of the last name (or birth
name) and birth date the DPO typed — nothing typed is stored in clear: the request keeps that
index and, once found, the person's public id. The answer, like a breach's free texts, is a
sealed document readable only by the DPO's institution (`DocumentStore.seal`, one reader).

What the DPO does for a person hangs on a request of the matching kind and is audited with the
purpose ``dpo_request``: the access export (`exchange.dpo.export`), rectification of the
identity (through `exchange.persons.identities.rectify_identity`) and, for the person's fiches, a
"rectification demandée" mark that their sending unit answers with a new signed version
(`exchange.fiches.rectification`: the DPO never reads a fiche), restriction (art. 18: sets
`Person.restricted`, which the domain checks before any sending) and erasure on request (art.
17), approved by the DPO unless a legal hold applies (`retention.sweep.active_hold`).

Each institution is its own data controller: a DPO finds, reads and acts on the persons of its
own institution only (`exchange.policy.dpo_person_query`), and an erasure removes that
institution's share of the person, not a partner's. A request about a person only partners
hold is recorded as ``transmitted`` and passed on: each partner holding the person gets a
request of its own in its register (channel ``partner``), which its DPO handles with their own
tools. The first DPO learns the partner's name — the conventions oblige the parties to relay
requests, and the person is told where their request went — and nothing else: no public id,
no identity, no record of the partner's person.

Each use case writes its audit events in the caller's transaction. A refusal raises
`RightsError` (French message) after recording its event: the caller catches it inside its
unit of work so that the event is committed.

Retention of the registers themselves: their sealed documents have a horizon of
``REGISTER_YEARS`` after they are written (the five-year limitation period of civil actions,
art. 2224 of the Code civil, during which the controller may have to prove how a request or a
breach was handled); the retention sweep deletes them as documents that belong to nothing, and
the rows lose their link (``ON DELETE SET NULL``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from exchange import policy
from exchange.acting import NO_PURPOSE, Context
from exchange.domain.dates import add_months
from exchange.domain.errors import DomainError
from exchange.domain.identity import Identity
from exchange.dpo.models import Breach, RestrictionChange, RightsRequest
from exchange.fiches.models import Fiche, FicheRectificationMark
from exchange.org.models import Institution, Unit
from exchange.persons import identities as persons
from exchange.persons.models import Person
from exchange.platform.models import Document
from exchange.platform.services import Services
from keys.errors import KeysError
from retention.policy import epoch_of

PURPOSE = "dpo_request"
REGISTER_YEARS = 5
ANSWER_MAX = 10_000
BREACH_TEXT_MAX = 5_000
REMINDER_DAYS = 7
NOTIFICATION_HOURS = 72
ANSWER_ROLE = "rights_answer"
BREACH_ROLE = "breach_texts"

KINDS = {
    "access": "Accès (article 15)",
    "rectification": "Rectification (article 16)",
    "erasure": "Effacement (article 17)",
    "restriction": "Limitation du traitement (article 18)",
    "objection": "Opposition (article 21)",
}
CHANNELS = {
    "postal": "Courrier postal",
    "email": "Courrier électronique",
    "in_person": "Sur place, auprès d'une structure",
    "phone": "Téléphone (confirmée par écrit)",
    "partner": "Transmise par une institution partenaire",
}
STATUSES = {
    "received": "Reçue",
    "in_progress": "En cours de traitement",
    "extended": "Délai prolongé",
    "answered": "Répondue",
    "refused": "Refusée",
    "transmitted": "Transmise à une institution partenaire",
}
OPEN_STATUSES = frozenset({"received", "in_progress", "extended"})
TRANSMITTED = "transmitted"
CLOSED_STATUSES = frozenset({"answered", "refused"})
EXTENSION_REASONS = {  # art. 12 (3): the only two grounds
    "complexity": "Complexité de la demande",
    "number_of_requests": "Nombre de demandes reçues",
}
RESTRICTION_REASONS = {  # art. 18 (1) a) to d)
    "accuracy_contested": "La personne conteste l'exactitude des données (a)",
    "unlawful_kept": "Traitement illicite, la personne préfère la limitation à l'effacement (b)",
    "legal_claims": "Données nécessaires à la personne pour un droit en justice (c)",
    "objection_pending": "Opposition en cours d'examen (d)",
}
LIFT_REASONS = {
    "accuracy_verified": "Exactitude vérifiée ou données rectifiées",
    "objection_decided": "Opposition examinée : les motifs légitimes ont été vérifiés",
    "claims_ended": "Le droit en justice n'est plus en cause",
    "person_agreed": "La personne a consenti à la levée (informée au préalable, art. 18 (3))",
}
# What each kind of request lets the DPO do for the person it concerns.
ALLOWED = {
    "access": frozenset({"export"}),
    "rectification": frozenset({"rectify", "restrict", "mark_fiche"}),
    "erasure": frozenset({"erase", "restrict"}),
    "restriction": frozenset({"restrict"}),
    "objection": frozenset({"restrict", "erase"}),
}
DATA_CATEGORIES = {
    "identity": "Identité (nom, prénoms, date de naissance)",
    "contact": "Coordonnées (adresse, téléphone, courriel)",
    "ft_identifier": "Identifiant France Travail",
    "rsa": "Qualité de bénéficiaire du RSA",
    "social": "Situation sociale et freins (logement, mobilité, famille, finances…)",
    "health": "Données de santé (freins de santé)",
    "fiche_content": "Contenu des fiches de liaison et pièces jointes",
    "accounts": "Comptes des professionnels (identifiants, journal de connexion)",
}
PERSON_CATEGORIES = {
    "job_seekers": "Personnes accompagnées (demandeurs d'emploi, bénéficiaires du RSA)",
    "professionals": "Professionnels utilisateurs du portail",
}


class RightsError(DomainError):
    """A refusal to show the DPO, in French."""


class NotFound(policy.NotVisible):
    """No such request, breach or fiche in the DPO's institution: the same answer whether it
    does not exist or is a partner's. Left to leave the view, it is answered 404 and recorded
    as a refusal (`exchange.web.errors`), like any object the policy does not show."""

    def __init__(self, object_type: str, public_id: str) -> None:
        super().__init__(public_id, object_type)



def _refuse(ctx: Context, action: str, object_type: str, object_id: str | None,
            message: str) -> RightsError:
    """Record the refusal and give the error to raise."""
    ctx.record(action, object_type, object_id, outcome="refused")
    return RightsError(message)

# -- sealed texts --------------------------------------------------------------------------


def _seal(ctx: Context, role: str, payload: dict[str, str]) -> Document:
    horizon = add_months(ctx.today, 12 * REGISTER_YEARS)
    document = ctx.documents.seal(
        json.dumps(payload, ensure_ascii=False, sort_keys=True).encode("utf-8"),
        role=role, kind=role, sender=ctx.owner, readers=[ctx.owner], epoch=epoch_of(horizon),
        at=ctx.now)
    document.horizon = horizon
    ctx.session.flush()
    return document


def _open(ctx: Context, document_id: int | None) -> dict[str, str] | None:
    """The sealed texts, or None when there are none; RightsError when they do not open."""
    if document_id is None:
        return None
    document = ctx.session.get(Document, document_id)
    if document is None:
        return None
    try:
        value = json.loads(ctx.documents.open(document, ctx.owner))
    except (KeysError, ValueError):
        raise RightsError("Ce texte chiffré ne peut pas être lu (altéré, ou clé détruite). "
                          "L'incident est enregistré.") from None
    return {str(k): str(v) for k, v in value.items()}


def _replace(ctx: Context, old_id: int | None, role: str, payload: dict[str, str]) -> int:
    document = _seal(ctx, role, payload)
    if old_id is not None:
        old = ctx.session.get(Document, old_id)
        if old is not None:
            ctx.documents.destroy(old)
    return document.id


# -- requests ------------------------------------------------------------------------------


def due_date(received_on: date, extended: bool = False) -> date:
    """One month from receipt; three when extended by two more (art. 12 (3))."""
    return add_months(received_on, 3 if extended else 1)


def subject_index(ctx: Context, last_name: str, birth_date: date) -> str:
    return persons.name_index(ctx.svc.keystore(ctx.session), last_name, birth_date)


def _matching(ctx: Context, last_name: str, birth_date: date,
              ft_identifier: str | None) -> Any:
    """The condition on `Person`: last or birth name and birth date (blind index), narrowed
    by the France Travail identifier when given."""
    keystore = ctx.svc.keystore(ctx.session)
    index = persons.name_index(keystore, last_name, birth_date)
    condition = or_(Person.index_name_birth == index, Person.index_birth_name_birth == index)
    if ft_identifier:
        condition = and_(condition,
                         Person.index_ft_id == persons.ft_index(keystore, ft_identifier))
    return condition


def match_persons(ctx: Context, last_name: str, birth_date: date,
                  ft_identifier: str | None = None) -> list[Person]:
    """The persons of the DPO's institution (`policy.dpo_person_query`) whose last or birth
    name and birth date are these, narrowed by the France Travail identifier when given."""
    return list(ctx.session.scalars(policy.dpo_person_query(ctx.agent).where(
        _matching(ctx, last_name, birth_date, ft_identifier)).order_by(Person.id)))


@dataclass(frozen=True)
class Lookup:
    """What the DPO's search found: the institution's own person, or else the ids of the
    matching persons only partners hold (never shown; used to pass the request on)."""

    person: Person | None
    partners_only: list[int]


def _resolve(ctx: Context, last_name: str, birth_date: date,
             ft_identifier: str | None) -> Lookup:
    found = match_persons(ctx, last_name, birth_date, ft_identifier)
    if len(found) > 1:
        raise RightsError("Plusieurs personnes portent ce nom avec cette date de naissance : "
                          "saisissez aussi l'identifiant France Travail pour les distinguer.")
    if found:
        return Lookup(found[0], [])
    elsewhere = list(ctx.session.scalars(select(Person.id).where(
        _matching(ctx, last_name, birth_date, ft_identifier)).order_by(Person.id)))
    return Lookup(None, elsewhere)


def create_request(ctx: Context, *, kind: str, channel: str, received_on: date,
                   last_name: str, birth_date: date,
                   ft_identifier: str | None = None) -> RightsRequest:
    """Record a request (``rights.request_created``); the person is attached when exactly
    one matches, left unresolved when none does."""
    if kind not in KINDS or channel not in CHANNELS:
        raise RightsError("Choisissez le type de demande et le canal dans les listes.")
    if received_on > ctx.today:
        raise RightsError("La date de réception ne peut pas être dans le futur.")
    found = _resolve(ctx, last_name, birth_date, ft_identifier)
    request = RightsRequest(
        institution_id=ctx.agent.institution.id, kind=kind, channel=channel, status="received",
        received_on=received_on, due_on=due_date(received_on),
        subject_index=subject_index(ctx, last_name, birth_date),
        person_public_id=found.person.public_id if found.person else None,
        created_by_id=ctx.agent.id, created_at=ctx.now, updated_at=ctx.now)
    ctx.session.add(request)
    ctx.session.flush()
    ctx.record("rights.request_created", "rights_request", request.public_id)
    _pass_on(ctx, request, found.partners_only)
    return request


def attach_person(ctx: Context, request: RightsRequest, *, last_name: str, birth_date: date,
                  ft_identifier: str | None = None) -> Person | None:
    """Look the person up again (typed again by the DPO); ``rights.request_updated``. Found
    only at partners, the request is passed on to them."""
    found = _resolve(ctx, last_name, birth_date, ft_identifier)
    request.subject_index = subject_index(ctx, last_name, birth_date)
    request.person_public_id = found.person.public_id if found.person else None
    if found.person is not None and request.status == TRANSMITTED:
        request.status = "in_progress"  # found at home after all: the DPO acts on it too
    request.updated_at = ctx.now
    ctx.record("rights.request_updated", "rights_request", request.public_id)
    _pass_on(ctx, request, found.partners_only)
    return found.person


# -- requests passed on to a partner institution ---------------------------------------------


def _pass_on(ctx: Context, request: RightsRequest, partners_only: list[int]) -> None:
    """A request about a person only partners hold: passed on to each of them, and marked
    ``transmitted`` in the DPO's register (the DPO still answers the person, saying where
    the request went)."""
    partners = [i for i in policy.institutions_holding(ctx.session, partners_only)
                if i.id != ctx.agent.institution.id]
    for institution in partners:
        _transmit(ctx, request, institution, partners_only)
    if partners and request.status in OPEN_STATUSES:
        request.status = TRANSMITTED


def _transmit(ctx: Context, request: RightsRequest, institution: Institution,
              person_ids: list[int]) -> RightsRequest:
    """Record the request in ``institution``'s register, as received from the DPO's
    institution today, attached to the person when exactly one of ``person_ids`` is that
    institution's. Two events: ``rights.request_transmitted`` on the request passed on,
    ``rights.request_received`` on the partner's new one."""
    already = ctx.session.scalar(select(RightsRequest).where(
        RightsRequest.source_request_id == request.id,
        RightsRequest.institution_id == institution.id))
    if already is not None:
        return already
    theirs = list(ctx.session.scalars(select(Person.public_id).where(
        Person.id.in_(person_ids), policy.held_by(institution.id)).order_by(Person.id)))
    received = RightsRequest(
        institution_id=institution.id, kind=request.kind, channel="partner",
        status="received", received_on=ctx.today, due_on=due_date(ctx.today),
        subject_index=request.subject_index,
        person_public_id=theirs[0] if len(theirs) == 1 else None,
        source_request_id=request.id, created_by_id=ctx.agent.id, created_at=ctx.now,
        updated_at=ctx.now)
    ctx.session.add(received)
    ctx.session.flush()
    ctx.record("rights.request_transmitted", "rights_request", request.public_id)
    ctx.record("rights.request_received", "rights_request", received.public_id)
    request.updated_at = ctx.now
    return received


def partners_of(ctx: Context, request: RightsRequest) -> list[Institution]:
    """For a request about a person the DPO's institution shares with partners: the partners
    it has not been passed on to yet (the DPO may pass it on: each acts on its own share)."""
    person = person_of(ctx, request)
    if person is None:
        return []
    done = {r.institution_id for r in relayed_to(ctx, request)}
    if request.source_request_id is not None:  # it came from there
        done |= set(ctx.session.scalars(select(RightsRequest.institution_id).where(
            RightsRequest.id == request.source_request_id)))
    return [i for i in policy.institutions_holding(ctx.session, [person.id])
            if i.id != ctx.agent.institution.id and i.id not in done]


def transmit(ctx: Context, request: RightsRequest, institution_public_id: str) -> Institution:
    """Pass a request about a shared person on to one of the partners that hold the person
    (`partners_of`); refused, and audited, for any other institution."""
    person = person_of(ctx, request)
    target = next((i for i in partners_of(ctx, request)
                   if i.public_id == institution_public_id), None)
    if person is None or target is None:
        raise _refuse(ctx, "rights.request_transmitted", "rights_request", request.public_id,
                         "Cette institution ne détient pas de données de cette personne, ou "
                         "la demande lui a déjà été transmise.")
    _transmit(ctx, request, target, [person.id])
    return target


def relayed_to(ctx: Context, request: RightsRequest) -> list[RightsRequest]:
    """The partners' requests this one was passed on as (only their institution is shown:
    the rest is the partner's register)."""
    return list(ctx.session.scalars(select(RightsRequest).where(
        RightsRequest.source_request_id == request.id).order_by(RightsRequest.id)))


def institution_names(ctx: Context, ids: Iterable[int]) -> dict[int, Institution]:
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    return {i.id: i for i in ctx.session.scalars(select(Institution).where(
        Institution.id.in_(wanted)))}


@dataclass(frozen=True)
class Relays:
    """For the register: where each request passed on went, and where each received one came
    from (institutions only)."""

    sent_to: dict[int, list[Institution]]
    received_from: dict[int, Institution]


def relays(ctx: Context, rows: list[RightsRequest]) -> Relays:
    ids = [r.id for r in rows]
    sources = {r.id: r.source_request_id for r in rows if r.source_request_id is not None}
    children = list(ctx.session.execute(select(
        RightsRequest.source_request_id, RightsRequest.institution_id).where(
        RightsRequest.source_request_id.in_(ids)).order_by(RightsRequest.id))) if ids else []
    parents: dict[int, int] = {row[0]: row[1] for row in ctx.session.execute(
        select(RightsRequest.id, RightsRequest.institution_id).where(
            RightsRequest.id.in_(set(sources.values()))))} if sources else {}
    names = institution_names(ctx, [c[1] for c in children] + list(parents.values()))
    sent_to: dict[int, list[Institution]] = {}
    for source_id, institution_id in children:
        sent_to.setdefault(source_id, []).append(names[institution_id])
    received_from = {rid: names[parents[source]] for rid, source in sources.items()
                     if source in parents}
    return Relays(sent_to, received_from)


def request_for(ctx: Context, public_id: str) -> RightsRequest:
    """A request of the DPO's register; NotFound for another institution's, as for none."""
    request = ctx.session.scalar(select(RightsRequest).where(
        RightsRequest.public_id == public_id,
        RightsRequest.institution_id == ctx.agent.institution.id))
    if request is None:
        raise NotFound("rights_request", public_id)
    return request


def requests(ctx: Context) -> list[RightsRequest]:
    """The register, open requests first by due date, then the closed ones, newest first."""
    rows = list(ctx.session.scalars(select(RightsRequest).where(
        RightsRequest.institution_id == ctx.agent.institution.id)
        .order_by(RightsRequest.due_on, RightsRequest.id)))
    open_ = [r for r in rows if r.status in OPEN_STATUSES]
    closed = sorted((r for r in rows if r.status not in OPEN_STATUSES),
                    key=lambda r: (r.received_on, r.id), reverse=True)
    return open_ + closed


@dataclass(frozen=True)
class Reminders:
    overdue: list[RightsRequest]
    due_soon: list[RightsRequest]


def reminders(ctx: Context) -> Reminders:
    """Open requests past their due date, and those due within ``REMINDER_DAYS`` days."""
    today = ctx.today
    rows = ctx.session.scalars(select(RightsRequest).where(
        RightsRequest.institution_id == ctx.agent.institution.id,
        RightsRequest.status.in_(OPEN_STATUSES),
        RightsRequest.due_on <= today + timedelta(days=REMINDER_DAYS))
        .order_by(RightsRequest.due_on, RightsRequest.id)).all()
    return Reminders([r for r in rows if r.due_on < today], [r for r in rows if r.due_on >= today])


def update_request(ctx: Context, request: RightsRequest, *, status: str,
                   extension_reason: str | None = None, answer: str = "") -> None:
    """Move the request on (``rights.request_updated``). Extending needs one of the two
    grounds of art. 12 (3) and is possible once, before the first due date; answering or
    refusing needs the answer's text (sealed)."""
    if status not in STATUSES:
        raise RightsError("Choisissez le statut dans la liste.")
    if status == TRANSMITTED and request.status != TRANSMITTED:
        raise RightsError("Une demande n'est transmise à une institution partenaire que par "
                          "le bouton de transmission.")
    answer = answer.strip()
    if len(answer) > ANSWER_MAX:
        raise RightsError(f"La réponse compte au plus {ANSWER_MAX} caractères.")
    if status == "extended" and request.status != "extended":
        if extension_reason not in EXTENSION_REASONS:
            raise RightsError("Pour prolonger le délai, choisissez le motif (complexité ou "
                              "nombre de demandes).")
        if request.extension_reason is not None:
            raise RightsError("Le délai a déjà été prolongé : il ne peut l'être qu'une fois.")
        if ctx.today > request.due_on:
            raise RightsError("Le délai d'un mois est dépassé : il ne peut plus être prolongé.")
        request.extension_reason = extension_reason
        request.due_on = due_date(request.received_on, extended=True)
    if status in CLOSED_STATUSES and not answer and request.answer_document_id is None:
        raise RightsError("Saisissez la réponse apportée à la personne (ou le motif du refus).")
    if answer:
        request.answer_document_id = _replace(ctx, request.answer_document_id, ANSWER_ROLE,
                                              {"answer": answer})
    if status in CLOSED_STATUSES and request.status not in CLOSED_STATUSES:
        request.answered_on = ctx.today
    request.status = status
    request.updated_at = ctx.now
    ctx.record("rights.request_updated", "rights_request", request.public_id)


def read_answer(ctx: Context, request: RightsRequest) -> str:
    """The request's answer, decrypted (``rights.request_viewed``, one event)."""
    try:
        texts = _open(ctx, request.answer_document_id)
    except RightsError:
        ctx.record("rights.request_viewed", "rights_request", request.public_id, outcome="failure")
        raise
    ctx.record("rights.request_viewed", "rights_request", request.public_id)
    return texts.get("answer", "") if texts else ""


def person_of(ctx: Context, request: RightsRequest) -> Person | None:
    """The request's person while the DPO's institution holds them: once its share is erased
    (or for a person only a partner holds) there is nothing left for the DPO to act on."""
    if request.person_public_id is None:
        return None
    return ctx.session.scalar(policy.dpo_person_query(ctx.agent).where(
        Person.public_id == request.person_public_id))


def _acting_on(ctx: Context, request: RightsRequest, what: str, action: str) -> Person:
    """The person of the request, if the request's kind allows ``what``."""
    if what not in ALLOWED[request.kind]:
        raise _refuse(ctx, action, "rights_request", request.public_id,
                         "Ce type de demande ne permet pas cette opération.")
    person = person_of(ctx, request)
    if person is None:
        raise _refuse(ctx, action, "rights_request", request.public_id,
                         "Aucune personne enregistrée n'est rattachée à cette demande "
                         "(non trouvée, ou données déjà effacées).")
    return person


def _started(request: RightsRequest, ctx: Context) -> None:
    if request.status == "received":
        request.status = "in_progress"
    request.updated_at = ctx.now


def access_export(ctx: Context, request: RightsRequest) -> dict[str, Any]:
    """What the platform holds about the request's person (art. 15), for the JSON and PDF
    files: exactly one ``rights.access_export`` event, recorded before collecting so that the
    export lists itself among the accesses."""
    from exchange.dpo import export as rights_export

    person = _acting_on(ctx, request, "export", "rights.access_export")
    try:
        identity = persons.open_identity(ctx.personal, person)
    except KeysError:
        ctx.record("rights.access_export", "person", person.public_id, outcome="failure")
        raise RightsError("L'identité de cette personne ne peut pas être déchiffrée : "
                          "l'incident est enregistré.") from None
    ctx.record("rights.access_export", "person", person.public_id)
    _started(request, ctx)
    return rights_export.collect(ctx.session, person, identity, now=ctx.now,
                                 controller=ctx.institution, request=request)


# -- access, rectification, restriction ---------------------------------------------------


def identity_for_rectification(ctx: Context, request: RightsRequest) -> Identity:
    """The current identity, to prefill the form (``person.viewed``, purpose dpo_request)."""
    person = _acting_on(ctx, request, "rectify", "person.viewed")
    return persons.read_identity(ctx, person)


def rectify(ctx: Context, request: RightsRequest, identity: Identity) -> Person:
    """Art. 16 through the persons' use case: a new ciphertext of the identity, version + 1,
    blind indexes recomputed (``person.updated``). The previous ciphertext is replaced, not
    kept: inaccurate data has no reason to be retained; what remains is the version number,
    the audit event, and the request with its sealed answer."""
    person = _acting_on(ctx, request, "rectify", "person.updated")
    persons.rectify_identity(ctx, person, identity)
    _started(request, ctx)
    return person


@dataclass(frozen=True)
class FicheLine:
    """A sent fiche about the request's person that the DPO's institution exchanged: metadata
    only (the DPO never reads a fiche's content), and where its rectification stands."""

    fiche: Fiche
    ours: bool  # sent by the DPO's institution, whose sending unit alone can rectify it
    requested_at: datetime | None  # latest "rectification demandée" of this request
    done_version: int | None  # the version the sending unit signed in answer
    done_at: datetime | None


def fiches_of_request(ctx: Context, request: RightsRequest) -> list[FicheLine]:
    """For a rectification request: the person's sent fiches where the DPO's institution is
    the sender or the recipient, oldest first."""
    if "mark_fiche" not in ALLOWED[request.kind]:
        return []
    person = person_of(ctx, request)
    if person is None:
        return []
    ours = set(ctx.session.scalars(policy.institution_units(ctx.agent.institution.id)))
    fiches = list(ctx.session.scalars(select(Fiche).where(
        Fiche.person_id == person.id, Fiche.sent_at.is_not(None),
        policy.share_fiches(ctx.agent.institution.id))
        .order_by(Fiche.sent_at, Fiche.id)))
    marks: dict[int, FicheRectificationMark] = {}
    for mark in ctx.session.scalars(select(FicheRectificationMark).where(
            FicheRectificationMark.request_id == request.id,
            FicheRectificationMark.fiche_id.in_([f.id for f in fiches]))
            .order_by(FicheRectificationMark.id)):
        marks[mark.fiche_id] = mark
    lines = []
    for fiche in fiches:
        mark = marks.get(fiche.id)
        lines.append(FicheLine(fiche, fiche.sender_unit_id in ours,
                               mark.marked_at if mark else None,
                               mark.done_version if mark else None,
                               mark.done_at if mark else None))
    return lines


def request_fiche_rectification(ctx: Context, request: RightsRequest,
                                fiche_public_id: str) -> FicheRectificationMark:
    """Mark "rectification demandée" on a fiche the DPO's institution sent: its sending unit
    sees the notice on the fiche until it signs a new version
    (``rights.fiche_rectification_requested``)."""
    action = "rights.fiche_rectification_requested"
    _acting_on(ctx, request, "mark_fiche", action)
    line = next((x for x in fiches_of_request(ctx, request)
                 if x.fiche.public_id == fiche_public_id), None)
    if line is None:
        raise NotFound("fiche", fiche_public_id)
    if not line.ours:
        raise _refuse(ctx, action, "fiche", fiche_public_id,
                         "Cette fiche a été envoyée par une autre institution : transmettez la "
                         "demande à son délégué à la protection des données.")
    pending = ctx.session.scalar(select(FicheRectificationMark.id).where(
        FicheRectificationMark.fiche_id == line.fiche.id,
        FicheRectificationMark.done_at.is_(None)))
    if pending is not None:
        raise _refuse(ctx, action, "fiche", fiche_public_id,
                         "La rectification de cette fiche est déjà demandée à la structure "
                         "expéditrice.")
    mark = FicheRectificationMark(fiche_id=line.fiche.id, request_id=request.id,
                                  marked_at=ctx.now, marked_by_id=ctx.agent.id)
    ctx.session.add(mark)
    _started(request, ctx)
    ctx.record(action, "fiche", fiche_public_id)
    return mark


def set_restriction(ctx: Context, request: RightsRequest, *, restricted: bool,
                    reason: str) -> Person:
    """Set or lift the person's restriction (art. 18) with its reason; while it is set, the
    domain refuses every sending (`exchange.domain.fiches.send`)."""
    action = "rights.restriction_set" if restricted else "rights.restriction_lifted"
    person = _acting_on(ctx, request, "restrict", action)
    reasons = RESTRICTION_REASONS if restricted else LIFT_REASONS
    if reason not in reasons:
        raise _refuse(ctx, action, "person", person.public_id,
                         "Choisissez le motif dans la liste : il est obligatoire.")
    if person.restricted == restricted:
        raise _refuse(ctx, action, "person", person.public_id,
                         "Le traitement est déjà limité." if restricted
                         else "Le traitement de cette personne n'est pas limité.")
    setter = restricted_by(ctx, person)
    if not restricted and setter is not None and setter.id != ctx.agent.institution.id:
        raise _refuse(ctx, action, "person", person.public_id,
                         f"La limitation a été posée par {setter.name} : seul son délégué à la "
                         "protection des données peut la lever.")
    person.restricted = restricted
    person.updated_at = ctx.now
    ctx.session.add(RestrictionChange(person_public_id=person.public_id, request_id=request.id,
                                      restricted=restricted, reason_code=reason,
                                      by_user_id=ctx.agent.id, at=ctx.now))
    _started(request, ctx)
    ctx.record(action, "person", person.public_id)
    return person


def restriction_history(ctx: Context, person_public_id: str) -> list[RestrictionChange]:
    """The changes the DPO's institution made (a partner's are its own register's)."""
    return list(ctx.session.scalars(select(RestrictionChange).join(
        RightsRequest, RestrictionChange.request_id == RightsRequest.id).where(
        RestrictionChange.person_public_id == person_public_id,
        RightsRequest.institution_id == ctx.agent.institution.id).order_by(RestrictionChange.id)))


def restricted_by(ctx: Context, person: Person) -> Institution | None:
    """The institution whose DPO set the person's restriction in force (the flag is the
    person's, so a shared person's restriction holds for every institution; only the one
    that set it lifts it)."""
    if not person.restricted:
        return None
    last = ctx.session.execute(select(RestrictionChange.restricted, RightsRequest.institution_id)
                               .join(RightsRequest,
                                     RestrictionChange.request_id == RightsRequest.id)
                               .where(RestrictionChange.person_public_id == person.public_id)
                               .order_by(RestrictionChange.id.desc()).limit(1)).first()
    if last is None or not last[0]:
        return None
    return ctx.session.get(Institution, last[1])


# -- erasure ---------------------------------------------------------------------------------


def erase_person(svc: Services, session: Session, person: Person, *,
                 institution_id: int) -> list[tuple[str, str]]:
    """Erase ``institution_id``'s share of ``person`` (`exchange.dpo.erasure.erase_share`): its
    units' links, the consents it recorded, its wraps of the person's documents (and the
    documents only it could read), the fiches and accompaniments only it had a side of, and,
    once committed, its share key of the person, which makes its copies unreadable in old
    backups too; what a partner holds stays for the partner. When no other institution holds
    the person, everything about them goes, as the retention sweep deletes it. Returns (kind,
    public id) of what went, for the audit trail. The caller has checked the legal holds and
    records the events."""
    from exchange.dpo.erasure import erase_share

    return erase_share(svc, session, person, institution_id)


def approve_erasure(ctx: Context, request: RightsRequest) -> list[tuple[str, str]]:
    """The DPO's approval of an erasure request (``rights.erasure_approved``), then the erasure
    itself (one ``rights.erased`` per deleted record), refused while a legal hold applies."""
    from retention.holds import REASONS

    person = _acting_on(ctx, request, "erase", "rights.erasure_approved")
    hold = _hold_on_share(ctx, person)
    if hold is not None:
        raise _refuse(ctx, 
            "rights.erasure_approved", "rights_request", request.public_id,
            "Effacement impossible : une conservation légale s'applique à ces données "
            f"(« {REASONS.get(hold.reason_code, hold.reason_code)} »). Levez-la d'abord si "
            "elle n'a plus lieu d'être, ou répondez à la personne en motivant le refus "
            "(article 17 (3) du RGPD).")
    ctx.record("rights.erasure_approved", "rights_request", request.public_id)
    gone = erase_person(ctx.svc, ctx.session, person, institution_id=ctx.agent.institution.id)
    for kind, public_id in gone:
        ctx.record("rights.erased", kind, public_id)
    request.erased_at = ctx.now
    _started(request, ctx)
    return gone


def _hold_on_share(ctx: Context, person: Person) -> Any:
    """An active legal hold the DPO's institution placed on the person or on one of its
    fiches about them: it stops the erasure of the institution's share. A partner's hold
    protects the partner's share, which this erasure does not touch — unless no partner
    holds the person any more, and the erasure takes everything: then any hold stops it."""
    from retention.models import LegalHold
    from retention.sweep import active_hold

    institution = ctx.agent.institution.id
    if not any(i.id != institution
               for i in policy.institutions_holding(ctx.session, [person.id])):
        return active_hold(ctx.session, person.id, ctx.session.scalars(
            select(Fiche.id).where(Fiche.person_id == person.id)))
    fiche_ids = select(Fiche.id).where(Fiche.person_id == person.id,
                                       policy.share_fiches(institution))
    placers = policy.institution_users(institution)
    return ctx.session.scalar(select(LegalHold).where(
        LegalHold.lifted_at.is_(None), LegalHold.placed_by_id.in_(placers),
        or_(and_(LegalHold.target_type == "person", LegalHold.target_id == person.id),
            and_(LegalHold.target_type == "fiche", LegalHold.target_id.in_(fiche_ids))))
        .order_by(LegalHold.id).limit(1))


# -- breaches --------------------------------------------------------------------------------


@dataclass(frozen=True)
class BreachFacts:
    detected_at: datetime
    data_categories: list[str]
    person_categories: list[str]
    persons_count: int
    records_count: int
    nature: str
    consequences: str
    measures: str
    cnil_notified_at: datetime | None = None
    persons_informed_at: datetime | None = None


def _check_breach(ctx: Context, facts: BreachFacts) -> None:
    if facts.detected_at > ctx.now:
        raise RightsError("La date de constat ne peut pas être dans le futur.")
    for when in (facts.cnil_notified_at, facts.persons_informed_at):
        if when is not None and (when < facts.detected_at or when > ctx.now):
            raise RightsError("Les dates de notification et d'information sont comprises "
                              "entre le constat et maintenant.")
    if not set(facts.data_categories) <= set(DATA_CATEGORIES) or not facts.data_categories:
        raise RightsError("Cochez au moins une catégorie de données concernées.")
    if not set(facts.person_categories) <= set(PERSON_CATEGORIES) or \
            not facts.person_categories:
        raise RightsError("Cochez au moins une catégorie de personnes concernées.")
    if facts.persons_count < 0 or facts.records_count < 0:
        raise RightsError("Les nombres approximatifs sont positifs ou nuls.")
    if not facts.nature.strip():
        raise RightsError("Décrivez la nature de la violation.")
    if any(len(t) > BREACH_TEXT_MAX for t in (facts.nature, facts.consequences,
                                              facts.measures)):
        raise RightsError(f"Chaque texte compte au plus {BREACH_TEXT_MAX} caractères.")


def _texts(facts: BreachFacts) -> dict[str, str]:
    return {"nature": facts.nature.strip(), "consequences": facts.consequences.strip(),
            "measures": facts.measures.strip()}


def _apply(breach: Breach, facts: BreachFacts) -> None:
    breach.detected_at = facts.detected_at
    breach.data_categories = ",".join(c for c in DATA_CATEGORIES if c in facts.data_categories)
    breach.person_categories = ",".join(c for c in PERSON_CATEGORIES
                                        if c in facts.person_categories)
    breach.persons_count = facts.persons_count
    breach.records_count = facts.records_count
    breach.cnil_notified_at = facts.cnil_notified_at
    breach.persons_informed_at = facts.persons_informed_at


def record_breach(ctx: Context, facts: BreachFacts) -> Breach:
    _check_breach(ctx, facts)
    breach = Breach(institution_id=ctx.agent.institution.id, recorded_at=ctx.now,
                    created_by_id=ctx.agent.id, updated_at=ctx.now)
    _apply(breach, facts)
    breach.document_id = _seal(ctx, BREACH_ROLE, _texts(facts)).id
    ctx.session.add(breach)
    ctx.session.flush()
    ctx.record("breach.recorded", "breach", breach.public_id, purpose=NO_PURPOSE)
    return breach


def update_breach(ctx: Context, breach: Breach, facts: BreachFacts) -> None:
    _check_breach(ctx, facts)
    _apply(breach, facts)
    breach.document_id = _replace(ctx, breach.document_id, BREACH_ROLE, _texts(facts))
    breach.updated_at = ctx.now
    ctx.record("breach.updated", "breach", breach.public_id, purpose=NO_PURPOSE)


def breach_for(ctx: Context, public_id: str) -> Breach:
    breach = ctx.session.scalar(select(Breach).where(
        Breach.public_id == public_id, Breach.institution_id == ctx.agent.institution.id))
    if breach is None:
        raise NotFound("breach", public_id)
    return breach


def breaches(ctx: Context) -> list[Breach]:
    return list(ctx.session.scalars(select(Breach).where(
        Breach.institution_id == ctx.agent.institution.id)
        .order_by(Breach.detected_at.desc(), Breach.id.desc())))


def read_breach(ctx: Context, breach: Breach) -> dict[str, str]:
    """The breach's texts, decrypted (``breach.viewed``, one event)."""
    try:
        texts = _open(ctx, breach.document_id)
    except RightsError:
        ctx.record("breach.viewed", "breach", breach.public_id, outcome="failure",
                   purpose=NO_PURPOSE)
        raise
    ctx.record("breach.viewed", "breach", breach.public_id, purpose=NO_PURPOSE)
    return texts or {"nature": "", "consequences": "", "measures": ""}


@dataclass(frozen=True)
class Deadline:
    """The 72-hour notification deadline (art. 33 (1)) as of ``now``."""

    due_at: datetime
    notified_at: datetime | None
    now: datetime

    @property
    def late(self) -> bool:
        return (self.notified_at or self.now) > self.due_at

    @property
    def hours(self) -> int:
        """Whole hours left (not late) or past the deadline (late)."""
        end = self.notified_at or self.now
        seconds = abs((self.due_at - end).total_seconds())
        return int(seconds // 3600)

    def describe(self) -> str:
        if self.notified_at is not None:
            return ("Notifiée hors délai" if self.late else "Notifiée dans le délai")
        if self.late:
            return f"Délai dépassé de {self.hours} h : notifiez sans tarder en motivant le retard"
        minutes = int((self.due_at - self.now).total_seconds() // 60)
        return f"Reste {minutes // 60} h {minutes % 60:02d} min"


def deadline(breach: Breach, now: datetime) -> Deadline:
    return Deadline(breach.detected_at + timedelta(hours=NOTIFICATION_HOURS),
                    breach.cnil_notified_at, now)


def codes(value: str) -> list[str]:
    return [c for c in value.split(",") if c]


def labels(value: str, names: dict[str, str]) -> list[str]:
    return [names.get(c, c) for c in codes(value)]


def unit_names(session: Session, unit_public_ids: Iterable[str]) -> dict[str, tuple[str, str]]:
    """unit public id -> (unit name, institution name)."""
    ids = sorted(set(unit_public_ids))
    if not ids:
        return {}
    rows = session.execute(select(Unit.public_id, Unit.name, Institution.name)
                           .join(Institution, Unit.institution_id == Institution.id)
                           .where(Unit.public_id.in_(ids))).all()
    return {r[0]: (r[1], r[2]) for r in rows}
