"""Destroying share keys (keys/shares.py) when what they protect is deleted.

A deletion dooms share keys in its own transaction (a `DoomedShare` row); the keys are
destroyed once that transaction commits, never before, so a rolled-back deletion loses
nothing. Destruction is idempotent, so a doomed row is kept until the next sweep destroys its
keys again and removes it: a process killed between the commit and the destruction leaves
the row, and the keys are destroyed then.

- `doom_subject`: the person is deleted (retention, or an erasure no institution is left
  after): every share of the subject, the person's own (identity) included.
- `doom_share`: one institution erased its share: that owner's generations up to the live one
  (a later share of the same institution, given the person again, is not touched).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, event, insert, select
from sqlalchemy.orm import Session

from keys.errors import KeysError
from keys.shares import ShareKeyStore
from retention.models import DoomedShare

log = logging.getLogger("liaison.retention")

_PENDING = "liaison.shares.doomed"


def doom_subject(session: Session, shares: ShareKeyStore, subject: str, at: datetime) -> None:
    """Every share key of ``subject``, destroyed once ``session`` commits."""
    session.add(DoomedShare(subject=subject, owner=None, generation=None, doomed_at=at))
    session.info.setdefault(_PENDING, []).append((shares, subject, None, None))


def doom_share(session: Session, shares: ShareKeyStore, subject: str, owner: str,
               at: datetime) -> int | None:
    """The share key of ``(subject, owner)``, destroyed once ``session`` commits; its live
    generation, or None when it has none (nothing was ever sealed for that owner)."""
    generation = shares.generation(subject, owner)
    if generation is None:
        return None
    session.add(DoomedShare(subject=subject, owner=owner, generation=generation, doomed_at=at))
    session.info.setdefault(_PENDING, []).append((shares, subject, owner, generation))
    return generation


def doom_subjects(session: Session, subjects: Sequence[str], at: datetime) -> None:
    """For the sweep, which destroys them itself after each batch: one multi-row insert."""
    if subjects:
        session.execute(insert(DoomedShare), [
            {"subject": s, "owner": None, "generation": None, "doomed_at": at}
            for s in subjects])


def destroy(shares: ShareKeyStore, subject: str, owner: str | None,
            generation: int | None) -> None:
    if owner is None:
        shares.destroy_subjects([subject])
    else:
        shares.destroy(subject, owner, up_to=generation)


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    for shares, subject, owner, generation in session.info.pop(_PENDING, []):
        try:
            destroy(shares, subject, owner, generation)
        except (OSError, KeysError) as exc:  # the doomed row stays: the next sweep redoes it
            log.error("share keys of %s not destroyed yet (%s)", subject, type(exc).__name__)


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    session.info.pop(_PENDING, None)


def finish_doomed(session: Session, shares: ShareKeyStore) -> int:
    """Destroy (again) the keys of every doomed row and remove the rows; for the sweep, in a
    transaction of its own. Returns the number of rows finished."""
    rows = list(session.execute(select(DoomedShare.id, DoomedShare.subject, DoomedShare.owner,
                                       DoomedShare.generation).order_by(DoomedShare.id)))
    if not rows:
        return 0
    shares.destroy_subjects([r.subject for r in rows if r.owner is None])
    for row in rows:
        if row.owner is not None:
            shares.destroy(row.subject, row.owner, up_to=row.generation)
    session.execute(delete(DoomedShare).where(DoomedShare.id.in_([r.id for r in rows])))
    return len(rows)


def forget(session: Session, subjects: Sequence[str]) -> None:
    """The doomed rows of whole subjects whose keys the sweep has destroyed."""
    for start in range(0, len(subjects), 500):
        session.execute(delete(DoomedShare).where(
            DoomedShare.subject.in_(subjects[start:start + 500]), DoomedShare.owner.is_(None)))
