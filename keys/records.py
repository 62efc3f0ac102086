"""Key records: what the database keeps about each key version.

A record holds the public half (or ``None`` for a symmetric key), the private
half wrapped under the master key, and for the PAdES and CA keys the DER
certificate.  The portal stores records through a :class:`KeyRecordStore`;
:class:`MemoryKeyRecordStore` is the reference implementation used in tests.

A store must enforce: ``key_id`` unique; ``(owner, purpose, version)``
unique; at most one ``current`` record per ``(owner, purpose)``.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from .errors import KeyNotFound

PLATFORM = "platform"
_OWNER_RE = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9._-]{0,39}\Z")


def check_owner(owner: str) -> str:
    """Owners are short identifiers: letters, digits, ``.``, ``_``, ``-``."""
    if not isinstance(owner, str) or not _OWNER_RE.match(owner):
        raise ValueError(f"invalid key owner {owner!r}: 1-40 letters, digits, '.', '_' or '-'")
    return owner


ENCRYPTION = "encryption"
SIGNING = "signing"
PDF_SIGNING = "pdf-signing"
CA = "ca"
PLATFORM_SIGNING = "platform-signing"
BLIND_INDEX = "blind-index"
PERSON_FIELDS = "person-fields"

INSTITUTION_PURPOSES: tuple[str, ...] = (ENCRYPTION, SIGNING, PDF_SIGNING)
PLATFORM_PURPOSES: tuple[str, ...] = (CA, PLATFORM_SIGNING, BLIND_INDEX, PERSON_FIELDS)
PURPOSES: frozenset[str] = frozenset(INSTITUTION_PURPOSES + PLATFORM_PURPOSES)


@dataclass(frozen=True)
class KeyRecord:
    """One version of one key.  ``wrapped_private`` is a master wrap (see
    keys/README.md) made with this record's ``key_id`` and ``purpose``."""

    key_id: str
    owner: str
    purpose: str
    version: int
    public: bytes | None
    wrapped_private: bytes
    certificate: bytes | None
    created_at: datetime
    current: bool

    def __post_init__(self) -> None:
        if self.purpose not in PURPOSES:
            raise ValueError(f"unknown key purpose {self.purpose!r}")
        if self.version < 1:
            raise ValueError("key versions start at 1")

    def __repr__(self) -> str:
        return (
            f"KeyRecord(key_id={self.key_id!r}, owner={self.owner!r}, "
            f"purpose={self.purpose!r}, version={self.version}, current={self.current})"
        )


class KeyRecordStore(Protocol):
    """Persistence of key records (the portal implements it with SQLAlchemy)."""

    def add(self, record: KeyRecord) -> None:
        """Store a new record; ``ValueError`` if its id or version exists."""

    def get(self, key_id: str) -> KeyRecord:
        """The record with that id; ``KeyNotFound`` if there is none."""
        ...

    def current(self, owner: str, purpose: str) -> KeyRecord:
        """The current version; ``KeyNotFound`` if there is none."""
        ...

    def versions(self, owner: str, purpose: str) -> list[KeyRecord]:
        """Every stored version, oldest first (possibly empty)."""
        ...

    def set_current(self, owner: str, purpose: str, key_id: str) -> None:
        """Make ``key_id`` the one current version of ``(owner, purpose)``;
        ``KeyNotFound`` if it is not a version of that pair."""

    def delete(self, key_id: str) -> None:
        """Remove the record; ``KeyNotFound`` if there is none."""

    def all(self) -> list[KeyRecord]:
        """Every record, ordered by owner, purpose and version."""
        ...


class MemoryKeyRecordStore:
    """A :class:`KeyRecordStore` in a dict."""

    def __init__(self) -> None:
        self._records: dict[str, KeyRecord] = {}

    def add(self, record: KeyRecord) -> None:
        if record.key_id in self._records:
            raise ValueError(f"key id {record.key_id!r} already exists")
        for other in self._records.values():
            if (other.owner, other.purpose, other.version) == (
                record.owner,
                record.purpose,
                record.version,
            ):
                raise ValueError(f"{record.owner}/{record.purpose} version {record.version} exists")
        if record.current:
            self._clear_current(record.owner, record.purpose)
        self._records[record.key_id] = record

    def get(self, key_id: str) -> KeyRecord:
        try:
            return self._records[key_id]
        except KeyError:
            raise KeyNotFound(f"no key {key_id!r}") from None

    def current(self, owner: str, purpose: str) -> KeyRecord:
        for record in self._records.values():
            if record.owner == owner and record.purpose == purpose and record.current:
                return record
        raise KeyNotFound(f"no current {purpose} key for {owner!r}")

    def versions(self, owner: str, purpose: str) -> list[KeyRecord]:
        found = [r for r in self._records.values() if r.owner == owner and r.purpose == purpose]
        return sorted(found, key=lambda r: r.version)

    def set_current(self, owner: str, purpose: str, key_id: str) -> None:
        record = self.get(key_id)
        if record.owner != owner or record.purpose != purpose:
            raise KeyNotFound(f"key {key_id!r} is not a {purpose} key of {owner!r}")
        self._clear_current(owner, purpose)
        self._records[key_id] = dataclasses.replace(record, current=True)

    def delete(self, key_id: str) -> None:
        if self._records.pop(key_id, None) is None:
            raise KeyNotFound(f"no key {key_id!r}")

    def all(self) -> list[KeyRecord]:
        return sorted(self._records.values(), key=lambda r: (r.owner, r.purpose, r.version))

    def _clear_current(self, owner: str, purpose: str) -> None:
        for key_id, record in list(self._records.items()):
            if record.owner == owner and record.purpose == purpose and record.current:
                self._records[key_id] = dataclasses.replace(record, current=False)
