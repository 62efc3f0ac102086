"""The DPO's search of the audit log: criteria, keyset pages, the lines shown, the CSV export.

A person is found through the blind index (the DPO types a last name, or birth name, and a
birth date; neither is kept), then stands for their public id and those of their consents,
fiches, accompaniments, documents and receipts: the events whose object is one of them are the
person's. Pages run newest first, 50 events at a time, keyed by the time and sequence number of
the last event shown (`WHERE (at, seq) < (:at, :seq) ORDER BY at DESC, seq DESC LIMIT 50`):
with the (criterion, at, seq) indexes, a page is one index range whatever the criterion, the
period and the depth. Ordering by time rather than by sequence number alone keeps a period
search exact and fast even where times and sequence numbers disagree (clocks of several
instances); the sequence number breaks ties and is what the "next page" button carries.

The DPO sees the events of their own institution only (`exchange.policy.dpo_audit_scope`:
its staff's events, and those about its accounts, units and register entries): every
`Criteria` carries the institution, and a page is the newest events of the union of the
scope's branches (`exchange.policy.dpo_audit_branches`: one per unit of the institution, one
for the events others wrote about it), each branch one index range under the criteria, so that
a small institution's DPO does not page through a large partner's events. A person is looked
for among the institution's persons only, an account among its accounts.

The DPO sees metadata only: when, the actor's role and unit, the action, the type of object,
the outcome and the purpose — never the content of a fiche, nor the actor's or person's name.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import ColumnElement, bindparam, or_, select, tuple_, union_all
from sqlalchemy.orm import Session

from exchange import policy
from exchange.accounts.models import User
from exchange.audit.models import AuditEvent, AuditHead
from exchange.domain.clock import PARIS
from exchange.domain.vocabulary import Role
from exchange.fiches.models import Accompaniment, Fiche, Receipt
from exchange.org.models import Unit
from exchange.persons.models import Consent, Person
from exchange.platform import features
from exchange.platform.db import Database
from exchange.platform.models import Document
from keys.personal import blind_index
from keys.store import KeyStore

PAGE_SIZE = 50
EXPORT_BATCH = 1000

OBJECT_LABELS = {
    "person": "Personne", "consent": "Consentement", "fiche": "Fiche de liaison",
    "document": "Document", "receipt": "Accusé de réception",
    "accompaniment": "Accompagnement", "person_search": "Recherche de personne",
    "user": "Compte", "unit": "Structure", "institution": "Institution",
    "convention": "Convention", "endpoint": "Page", "keys": "Clés",
    "audit_chain": "Journal d'audit", "audit_checkpoint": "Point de contrôle",
    "audit_search": "Recherche dans le journal",
    "rights_request": "Demande d'exercice de droits", "breach": "Violation de données",
    "person_share": "Part de l'institution (personne)", "fiche_side": "Fiche (côté effacé)",
    "accompaniment_side": "Accompagnement (côté effacé)", "key_wrap": "Accès chiffré",
    "share_key": "Clé de partage",
}
OUTCOME_LABELS = {"success": "Réussi", "refused": "Refusé", "failure": "Échec"}
PURPOSE_LABELS = {
    "party": "Partie à l'échange", "accompaniment": "Accompagnement",
    "dpo_request": "Demande au DPO", "legal_hold": "Conservation légale",
    "support": "Assistance",
}
_ROLE_LABELS = {str(role): role.label for role in Role}
_ROLE_LABELS.update({"system": "Plateforme (tâche automatique)", "anonymous": "Non connecté"})

CSV_HEADER = ("N°", "Date et heure (Paris)", "Rôle", "Structure", "Action", "Objet",
              "Résultat", "Finalité")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def action_label(action: str) -> str:
    return features.actions().get(action, action)


@dataclass(frozen=True)
class Criteria:
    """What the DPO of `institution_id` asked for, already resolved to opaque ids. `objects`
    None means any object; an empty tuple, that the person named has no record (nothing
    matches)."""

    institution_id: int
    objects: tuple[str, ...] | None = None
    user_id: str | None = None
    unit_id: str | None = None
    action: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    upto: int | None = None
    """The last sequence number considered (an export stops at the head it started from)."""

    def conditions(self, key: tuple[datetime, int] | None = None) -> list[ColumnElement[bool]]:
        """The WHERE clause; `key` is the (at, seq) of the last event already shown."""
        found: list[ColumnElement[bool]] = []
        if self.objects is not None:
            found.append(AuditEvent.object_id.in_(self.objects))
        if self.user_id is not None:
            found.append(AuditEvent.actor_user_id == self.user_id)
        if self.unit_id is not None:
            found.append(AuditEvent.actor_unit_id == self.unit_id)
        if self.action is not None:
            found.append(AuditEvent.action == self.action)
        if self.upto is not None:
            found.append(AuditEvent.seq <= self.upto)
        if self.since is not None:
            found.append(AuditEvent.at >= self.since)
        if key is not None:
            # Also as a plain upper bound on `at`, which the index range uses (a row value
            # alone would be filtered row by row from the top of the period down).
            found.append(AuditEvent.at <= key[0])
            found.append(tuple_(AuditEvent.at, AuditEvent.seq) < tuple_(
                bindparam(None, key[0], type_=AuditEvent.at.type), key[1]))
        if self.until is not None and (key is None or self.until <= key[0]):
            found.append(AuditEvent.at < self.until)
        return found


def paris_day_bounds(first: date | None, last: date | None) -> tuple[datetime | None,
                                                                   datetime | None]:
    """The instants that begin `first` and end `last`, calendar days in Paris."""
    since = None if first is None else datetime.combine(first, time(0), PARIS)
    until = None if last is None else datetime.combine(last + timedelta(days=1), time(0), PARIS)
    return since, until


@dataclass(frozen=True)
class PersonMatch:
    persons: tuple[str, ...]
    objects: tuple[str, ...]


def person_records(session: Session, keystore: KeyStore, name: str,
                   birth_date: date, *, institution_id: int) -> PersonMatch:
    """The institution's persons (`exchange.policy.held_by`) whose last name or birth name
    and birth date are these (through the blind index: nothing typed is stored or compared in
    clear), and the public ids of everything that is theirs. A person only partners hold is
    not found: their events are the partners' to search."""
    index = blind_index(keystore, name, birth_date.isoformat())
    people = session.execute(
        select(Person.id, Person.public_id)
        .where(or_(Person.index_name_birth == index, Person.index_birth_name_birth == index),
               policy.held_by(institution_id))
        .order_by(Person.id)
    ).all()
    person_ids = [row.id for row in people]
    if not person_ids:
        return PersonMatch((), ())
    objects = [row.public_id for row in people]
    fiche_ids: list[int] = []
    for model, bucket in ((Fiche, fiche_ids), (Consent, None), (Accompaniment, None)):
        rows = session.execute(
            select(model.id, model.public_id).where(model.person_id.in_(person_ids))).all()
        objects.extend(row.public_id for row in rows)
        if bucket is not None:
            bucket.extend(row.id for row in rows)
    consent_ids = select(Consent.id).where(Consent.person_id.in_(person_ids))
    accompaniment_ids = select(Accompaniment.id).where(Accompaniment.person_id.in_(person_ids))
    objects.extend(session.scalars(select(Document.public_id).where(or_(
        Document.fiche_id.in_(fiche_ids), Document.consent_id.in_(consent_ids),
        Document.accompaniment_id.in_(accompaniment_ids)))))
    objects.extend(session.scalars(select(Receipt.public_id)
                                   .where(Receipt.fiche_id.in_(fiche_ids))))
    return PersonMatch(tuple(row.public_id for row in people), tuple(dict.fromkeys(objects)))


def user_public_id(session: Session, username: str, *, institution_id: int) -> str | None:
    """An account of the institution; a partner's account is not found."""
    return session.scalar(select(User.public_id).where(
        User.username == username.strip(),
        User.unit_id.in_(policy.institution_units(institution_id))))


@dataclass(frozen=True)
class Line:
    """One event as the DPO sees it."""

    seq: int
    at: datetime
    role: str
    unit: str
    action: str
    object_type: str
    outcome: str
    purpose: str

    @property
    def when(self) -> str:
        return self.at.astimezone(PARIS).strftime("%d/%m/%Y %H:%M:%S")

    def cells(self) -> tuple[str, ...]:
        return (str(self.seq), self.when, self.role, self.unit, self.action, self.object_type,
                self.outcome, self.purpose)


_COLUMNS = (AuditEvent.seq, AuditEvent.at, AuditEvent.actor_user_id, AuditEvent.actor_role,
            AuditEvent.actor_unit_id, AuditEvent.action, AuditEvent.object_type,
            AuditEvent.outcome, AuditEvent.purpose)


def _rows(session: Session, criteria: Criteria, before: int | None, size: int) -> list[Any]:
    """Up to `size` matching events, newest first, after event `before` (None: the newest)."""
    if criteria.objects == ():
        return []
    key = None
    if before is not None:
        at = session.scalar(select(AuditEvent.at).where(AuditEvent.seq == before))
        if at is None:  # gone (purged): start again from the newest
            return _rows(session, criteria, None, size)
        key = (at, before)
    conditions = criteria.conditions(key)
    newest = (AuditEvent.at.desc(), AuditEvent.seq.desc())
    branches = [select(*_COLUMNS).where(branch, *conditions).order_by(*newest).limit(size)
                .subquery() for branch in policy.dpo_audit_branches(session,
                                                                   criteria.institution_id)]
    merged = union_all(*(select(*branch.c) for branch in branches)).subquery()
    query = select(*merged.c).order_by(merged.c.at.desc(), merged.c.seq.desc()).limit(size)
    return list(session.execute(query).all())


def _lines(session: Session, rows: Iterable[Any]) -> list[Line]:
    rows = list(rows)
    unit_ids = {row.actor_unit_id for row in rows if row.actor_unit_id}
    names = dict(session.execute(select(Unit.public_id, Unit.name)
                                 .where(Unit.public_id.in_(unit_ids))).all()) if unit_ids else {}
    return [
        Line(
            seq=row.seq, at=row.at,
            role=_role_label(row.actor_role, row.actor_user_id),
            unit=names.get(row.actor_unit_id, "Structure inconnue") if row.actor_unit_id
            else "—",
            action=action_label(row.action),
            object_type=OBJECT_LABELS.get(row.object_type or "", row.object_type or "—"),
            outcome=OUTCOME_LABELS.get(row.outcome, row.outcome),
            purpose=PURPOSE_LABELS.get(row.purpose or "", row.purpose or "—"),
        )
        for row in rows
    ]


def _role_label(role: str | None, user_id: str | None) -> str:
    if role is not None:
        return _ROLE_LABELS.get(role, role)
    return "Plusieurs rôles" if user_id is not None else "—"


@dataclass(frozen=True)
class Page:
    lines: list[Line]
    next_before: int | None


def page(session: Session, criteria: Criteria, before: int | None = None,
         size: int = PAGE_SIZE) -> Page:
    """One page, newest first, of the events older than `before` (None: from the newest)."""
    rows = _rows(session, criteria, before, size + 1)
    more = len(rows) > size
    rows = rows[:size]
    return Page(_lines(session, rows), rows[-1].seq if more and rows else None)


def export_batches(db: Database, criteria: Criteria,
                   batch: int = EXPORT_BATCH) -> Iterator[list[Line]]:
    """Every matching event, newest first, a batch per short transaction (a slow download
    never holds the database); events appended during the export are left out."""
    with db.unit_of_work() as session:
        head = session.scalar(select(AuditHead.seq).where(AuditHead.id == 1)) or 0
    bounded = replace(criteria, upto=head)
    before: int | None = None
    while True:
        with db.unit_of_work() as session:
            rows = _rows(session, bounded, before, batch)
            lines = _lines(session, rows)
        if lines:
            yield lines
        if len(rows) < batch:
            return
        before = rows[-1].seq


def csv_cell(value: str) -> str:
    """A cell a spreadsheet will not run: text starting with =, +, -, @ (or a tab or a
    carriage return, which some read before them) gets a leading apostrophe."""
    return "'" + value if value.startswith(_FORMULA_START) else value


def csv_chunks(batches: Iterable[list[Line]]) -> Iterator[str]:
    """The CSV export: UTF-8 with a byte order mark and semicolons, as French spreadsheets
    open it; each batch of lines becomes one chunk of the streamed response."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
    writer.writerow(CSV_HEADER)
    yield "\ufeff" + buffer.getvalue()
    for lines in batches:
        buffer.seek(0)
        buffer.truncate()
        writer.writerows([csv_cell(cell) for cell in line.cells()] for line in lines)
        yield buffer.getvalue()
