"""Advance notice: what will be deleted within the next days, and why.

The referent pair (the units that sent or received a fiche, the advisor's and the social
worker's units of an accompaniment) see their units' items; the DPO sees every item. Only
metadata is listed — kind, axis, state, units, convention, horizon and the rule that set it —
never the person's identity or the content, so reading the list reads no personal data.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from exchange.fiches.models import Accompaniment, Fiche
from exchange.org.models import Unit
from exchange.persons.models import Person
from retention.horizons import Basis, explain
from retention.policy import NOTICE_DAYS

RULE_LABELS = {
    "convention_end": "Durée maximale après la fin de la convention",
    "no_longer_needed": "Plus nécessaire (décision, fin d'accompagnement) + délai de grâce",
    "marked": "Signalé comme plus nécessaire par un référent + délai de grâce",
    "draft_abandoned": "Brouillon non envoyé, abandonné depuis 12 mois",
    "follows_accompaniment": "Suit l'accompagnement auquel elle se rattache",
    "follows_fiches": "Suit les fiches envoyées sous ce consentement",
    "follows_records": "Suit les dernières données qui la concernent",
    "orphan": "Aucune donnée ne s'y rattache",
    "legal_hold": "Conservation légale",
}


@dataclass(frozen=True)
class Upcoming:
    kind: str
    public_id: str
    horizon: date
    rule: str
    since: date | None
    axis: int
    state: str
    units: tuple[str, str]
    convention: str

    @property
    def rule_label(self) -> str:
        return RULE_LABELS.get(self.rule, self.rule)

    @property
    def deleted_on(self) -> date:
        return self.horizon + timedelta(days=1)


def upcoming(session: Session, today: date, *, days: int = NOTICE_DAYS,
             unit_id: int | None = None) -> list[Upcoming]:
    """Fiches and accompaniments whose horizon falls within ``[today, today + days]``: all of
    them (``unit_id`` None, the DPO) or those of one unit."""
    last = today + timedelta(days=days)
    fiche_query = select(Fiche).where(Fiche.horizon >= today, Fiche.horizon <= last)
    accompaniment_query = select(Accompaniment).where(Accompaniment.horizon >= today,
                                                      Accompaniment.horizon <= last)
    if unit_id is not None:
        fiche_query = fiche_query.where(or_(Fiche.sender_unit_id == unit_id,
                                            Fiche.recipient_unit_id == unit_id))
        accompaniment_query = accompaniment_query.where(or_(
            Accompaniment.advisor_unit_id == unit_id, Accompaniment.social_unit_id == unit_id))
    fiches = list(session.scalars(fiche_query.order_by(Fiche.horizon, Fiche.id)))
    accompaniments = list(session.scalars(accompaniment_query.order_by(
        Accompaniment.horizon, Accompaniment.id)))
    if unit_id is not None:  # a recipient sees a fiche only once it was sent
        fiches = [f for f in fiches if f.sender_unit_id == unit_id or f.sent_at is not None]
    bases: dict[tuple[str, int], Basis] = {}
    for person_id in sorted({f.person_id for f in fiches} | {a.person_id
                                                             for a in accompaniments}):
        person = session.get(Person, person_id)
        if person is None:
            continue
        file = explain(session, person)
        bases.update({("fiche", i): b for i, b in file.fiche_bases.items()})
        bases.update({("accompaniment", i): b for i, b in file.accompaniment_bases.items()})
    names = {u.id: u.name for u in session.scalars(select(Unit))}
    found: list[Upcoming] = []
    for fiche in fiches:
        basis = bases.get(("fiche", fiche.id))
        assert fiche.horizon is not None
        found.append(Upcoming(
            "fiche", fiche.public_id, fiche.horizon, basis.rule if basis else "",
            basis.since if basis else None, fiche.axis, fiche.state,
            (names.get(fiche.sender_unit_id, ""), names.get(fiche.recipient_unit_id, "")),
            fiche.convention.title))
    for a in accompaniments:
        basis = bases.get(("accompaniment", a.id))
        assert a.horizon is not None
        found.append(Upcoming(
            "accompaniment", a.public_id, a.horizon, basis.rule if basis else "",
            basis.since if basis else None, a.axis,
            "closed" if a.exit_date else "open",
            (names.get(a.social_unit_id, ""), names.get(a.advisor_unit_id, "")),
            a.convention.title))
    return sorted(found, key=lambda u: (u.horizon, u.kind, u.public_id))
