"""The key records of `keys/`, stored in the caller's database transaction."""

from __future__ import annotations

from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from exchange.platform.keyrecord_models import KeyRecordRow
from keys.errors import KeyNotFound
from keys.records import KeyRecord


def _record(row: KeyRecordRow) -> KeyRecord:
    return KeyRecord(
        key_id=row.key_id,
        owner=row.owner,
        purpose=row.purpose,
        version=row.version,
        public=row.public,
        wrapped_private=row.wrapped_private,
        certificate=row.certificate,
        created_at=row.created_at,
        current=row.current,
    )


class SqlKeyRecordStore:
    """Implements `keys.records.KeyRecordStore` inside one SQLAlchemy session.

    The records read are remembered for the session: a fiche is sealed, signed and opened with
    the same few keys, so the first record asked of an owner brings every current record of
    that owner in the same query. Every change made through this store forgets them. Reading
    never flushes the session: what the caller has pending does not change the keys, and the
    store's own changes are flushed when made."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self._by_id: dict[str, KeyRecord] = {}
        self._current: dict[tuple[str, str], KeyRecord] = {}
        self._owners: set[str] = set()

    def _forget(self) -> None:
        self._by_id.clear()
        self._current.clear()
        self._owners.clear()

    def _load(self, *criteria: Any) -> None:
        """Remember the rows matching any of `criteria`, and the current ones of their owners."""
        with self.session.no_autoflush:
            rows = self.session.scalars(select(KeyRecordRow).where(or_(*criteria))).all()
        for row in rows:
            record = self._by_id[row.key_id] = _record(row)
            if row.current:
                self._current[(row.owner, row.purpose)] = record
                self._owners.add(row.owner)

    def add(self, record: KeyRecord) -> None:
        self._forget()
        self.session.add(KeyRecordRow(
            key_id=record.key_id,
            owner=record.owner,
            purpose=record.purpose,
            version=record.version,
            public=record.public,
            wrapped_private=record.wrapped_private,
            certificate=record.certificate,
            created_at=record.created_at,
            current=record.current,
        ))
        self.session.flush()

    def get(self, key_id: str) -> KeyRecord:
        if key_id not in self._by_id:
            owner = select(KeyRecordRow.owner).where(
                KeyRecordRow.key_id == key_id).scalar_subquery()
            self._load(KeyRecordRow.key_id == key_id,
                       KeyRecordRow.current.is_(True) & (KeyRecordRow.owner == owner))
        known = self._by_id.get(key_id)
        if known is None:
            raise KeyNotFound(f"key {key_id} not found")
        return known

    def current(self, owner: str, purpose: str) -> KeyRecord:
        if owner not in self._owners:
            self._load(KeyRecordRow.current.is_(True) & (KeyRecordRow.owner == owner))
            self._owners.add(owner)
        known = self._current.get((owner, purpose))
        if known is None:
            raise KeyNotFound(f"no current {purpose} key for {owner}")
        return known

    def versions(self, owner: str, purpose: str) -> list[KeyRecord]:
        rows = self.session.scalars(select(KeyRecordRow).where(
            KeyRecordRow.owner == owner, KeyRecordRow.purpose == purpose
        ).order_by(KeyRecordRow.version))
        return [_record(row) for row in rows]

    def set_current(self, owner: str, purpose: str, key_id: str) -> None:
        self._forget()
        self.session.execute(update(KeyRecordRow).where(
            KeyRecordRow.owner == owner, KeyRecordRow.purpose == purpose
        ).values(current=KeyRecordRow.key_id == key_id))
        self.session.flush()

    def delete(self, key_id: str) -> None:
        self._forget()
        row = self.session.get(KeyRecordRow, key_id)
        if row is None:
            raise KeyNotFound(f"key {key_id} not found")
        self.session.delete(row)
        self.session.flush()

    def all(self) -> list[KeyRecord]:
        rows = self.session.scalars(select(KeyRecordRow).order_by(
            KeyRecordRow.owner, KeyRecordRow.purpose, KeyRecordRow.version))
        return [_record(row) for row in rows]
