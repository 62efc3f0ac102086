"""The key records of `keys/`, stored in the caller's database transaction."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from exchange.models.keyrecords import KeyRecordRow
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

    The records read are remembered for the session (a fiche is sealed, signed and opened
    with the same few keys); every change made through this store forgets them."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self._by_id: dict[str, KeyRecord] = {}
        self._current: dict[tuple[str, str], KeyRecord] = {}

    def _forget(self) -> None:
        self._by_id.clear()
        self._current.clear()

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
        known = self._by_id.get(key_id)
        if known is not None:
            return known
        row = self.session.get(KeyRecordRow, key_id)
        if row is None:
            raise KeyNotFound(f"key {key_id} not found")
        record = self._by_id[key_id] = _record(row)
        return record

    def current(self, owner: str, purpose: str) -> KeyRecord:
        known = self._current.get((owner, purpose))
        if known is not None:
            return known
        row = self.session.scalar(select(KeyRecordRow).where(
            KeyRecordRow.owner == owner, KeyRecordRow.purpose == purpose,
            KeyRecordRow.current.is_(True)))
        if row is None:
            raise KeyNotFound(f"no current {purpose} key for {owner}")
        record = self._current[(owner, purpose)] = self._by_id[row.key_id] = _record(row)
        return record

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
