"""Legal holds (placed and lifted by a DPO) and a referent's "no longer needed" mark.

A hold names its reason from a short fixed list, which is what reports, lists and the audit
trail show. The DPO may add a free-text note (required for "other"): it can name a court case
or a person, so it is never stored in clear but sealed with a platform secret box (a sub-key
of the master key, purpose ``legal-hold-note``, bound to the hold's public id) that only the
DPO screens open; the sweep erases it when the held data is finally deleted. Reports carry the
code, never the note.

Placing, lifting and marking recompute the horizons of the person concerned in the same
transaction and write their audit event there.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from exchange.audit import trail as audit
from exchange.domain.clock import paris_date
from exchange.fiches.models import Accompaniment, Fiche
from exchange.persons.models import Person
from keys.master import SecretBox
from retention.horizons import Outcome, Sealing, recompute_for_person
from retention.models import LegalHold, RetentionMark

NOTE_PURPOSE = "legal-hold-note"
MAX_NOTE = 2000
TARGETS = ("person", "fiche")
REASONS: dict[str, str] = {
    "litigation": "Contentieux en cours ou prévisible",
    "authority_request": "Réquisition judiciaire ou demande d'une autorité",
    "data_subject_request": "Demande de la personne concernée en cours de traitement",
    "inspection": "Contrôle ou audit (CNIL, inspection, commissaire aux comptes)",
    "other": "Autre motif (précisé dans la note)",
}


class HoldError(ValueError):
    """A refusal to show the DPO, in French."""


@dataclass(frozen=True)
class Target:
    kind: str
    row_id: int
    public_id: str
    person: Person


def find_target(session: Session, kind: str, public_id: str) -> Target:
    if kind == "person":
        person = session.scalar(select(Person).where(Person.public_id == public_id))
        if person is not None:
            return Target(kind, person.id, person.public_id, person)
    elif kind == "fiche":
        fiche = session.scalar(select(Fiche).where(Fiche.public_id == public_id))
        if fiche is not None:
            return Target(kind, fiche.id, fiche.public_id, fiche.person)
    else:
        raise HoldError("Choisissez une personne ou une fiche.")
    raise HoldError("Aucune donnée conservée ne porte cet identifiant (déjà supprimée, ou "
                    "identifiant erroné).")


def place_hold(session: Session, *, kind: str, public_id: str, reason_code: str, note: str,
               by_user_id: int, actor: audit.Actor, at: datetime, box: SecretBox,
               sealing: Sealing | None, address: str | None = None) -> LegalHold:
    if reason_code not in REASONS:
        raise HoldError("Choisissez le motif de la conservation dans la liste.")
    note = note.strip()
    if reason_code == "other" and not note:
        raise HoldError("Précisez le motif dans la note : « Autre motif » l'exige.")
    if len(note) > MAX_NOTE:
        raise HoldError(f"La note compte au plus {MAX_NOTE} caractères.")
    target = find_target(session, kind, public_id)
    hold = LegalHold(target_type=target.kind, target_id=target.row_id,
                     target_public_id=target.public_id, reason_code=reason_code,
                     placed_by_id=by_user_id, placed_at=at)
    session.add(hold)
    session.flush()
    if note:
        hold.sealed_note = box.seal(note.encode("utf-8"), hold.public_id.encode("ascii"))
    recompute_for_person(session, target.person, sealing)
    audit.record(session, "hold.placed", at=at, actor=actor, object_type=target.kind,
                 object_id=target.public_id, purpose="legal_hold", address=address)
    return hold


def lift_hold(session: Session, hold_public_id: str, *, by_user_id: int, actor: audit.Actor,
              at: datetime, sealing: Sealing | None, address: str | None = None) -> LegalHold:
    hold = session.scalar(select(LegalHold).where(LegalHold.public_id == hold_public_id))
    if hold is None or hold.lifted_at is not None:
        raise HoldError("Cette conservation n'existe pas ou a déjà été levée.")
    hold.lifted_at, hold.lifted_by_id = at, by_user_id
    session.flush()
    person = _held_person(session, hold)
    if person is not None:
        recompute_for_person(session, person, sealing)
    audit.record(session, "hold.lifted", at=at, actor=actor, object_type=hold.target_type,
                 object_id=hold.target_public_id, purpose="legal_hold", address=address)
    return hold


def _held_person(session: Session, hold: LegalHold) -> Person | None:
    if hold.target_type == "person":
        return session.get(Person, hold.target_id)
    fiche = session.get(Fiche, hold.target_id)
    return fiche.person if fiche is not None else None


def read_note(box: SecretBox, hold: LegalHold) -> str:
    if hold.sealed_note is None:
        return ""
    return box.open(hold.sealed_note, hold.public_id.encode("ascii")).decode("utf-8")


def holds(session: Session, *, active: bool | None = None) -> list[LegalHold]:
    query = select(LegalHold).order_by(LegalHold.placed_at.desc(), LegalHold.id.desc())
    if active is True:
        query = query.where(LegalHold.lifted_at.is_(None))
    elif active is False:
        query = query.where(LegalHold.lifted_at.is_not(None))
    return list(session.scalars(query))


# -- a referent's mark -------------------------------------------------------------------------


def mark_no_longer_needed(session: Session, target: Fiche | Accompaniment, *, day: date,
                          by_user_id: int, actor: audit.Actor, at: datetime,
                          sealing: Sealing | None, address: str | None = None) -> Outcome:
    """The referent states that ``target`` is no longer needed from ``day`` (today or
    earlier; never later than an earlier mark): its horizon becomes at most day + grace."""
    if day > paris_date(at):
        raise HoldError("La date ne peut pas être dans le futur.")
    kind = "fiche" if isinstance(target, Fiche) else "accompaniment"
    mark = session.scalar(select(RetentionMark).where(RetentionMark.target_type == kind,
                                                      RetentionMark.target_id == target.id))
    if mark is None:
        session.add(RetentionMark(target_type=kind, target_id=target.id,
                                  no_longer_needed_on=day, marked_by_id=by_user_id,
                                  marked_at=at))
    elif day < mark.no_longer_needed_on:
        mark.no_longer_needed_on, mark.marked_by_id, mark.marked_at = day, by_user_id, at
    session.flush()
    outcome = recompute_for_person(session, target.person, sealing)
    audit.record(session, "retention.marked_unneeded", at=at, actor=actor, object_type=kind,
                 object_id=target.public_id, purpose="accompaniment", address=address)
    return outcome
