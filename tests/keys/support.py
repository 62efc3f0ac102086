"""Helpers shared by the keys/ tests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from keys.envelope import Header
from keys.epochs import EpochKeyStore
from keys.master import MasterKey
from keys.records import MemoryKeyRecordStore
from keys.store import KeyStore

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
EPOCH = "2036-12"
INSTITUTIONS = {
    "inst-a": "Département de Tarn-et-Garonne",
    "inst-b": "France Travail Occitanie",
    "inst-c": "CIAS du Lodévois et Larzac",
}


@dataclass
class MovableClock:
    current: datetime = NOW

    def __call__(self) -> datetime:
        return self.current

    def advance(self, delta: timedelta) -> None:
        self.current += delta


def make_keystore(
    master: MasterKey, directory: Path, clock: MovableClock, max_payload: int = 20 * 1024 * 1024
) -> KeyStore:
    store = KeyStore(
        master, MemoryKeyRecordStore(), EpochKeyStore(directory, master), clock, max_payload
    )
    store.init_platform("Plateforme Liaison (tests)")
    for owner, name in INSTITUTIONS.items():
        store.ensure_institution(owner, name)
    return store


def make_header(
    document_id: str = "fiche-0001",
    version: int = 1,
    readers: tuple[str, ...] = ("inst-a", "inst-b"),
    epoch: str = EPOCH,
) -> Header:
    return Header(
        document_id=document_id,
        version=version,
        kind="orientation-axe-2",
        sender="inst-a",
        readers=readers,
        created_at=NOW,
        epoch=epoch,
    )


def flip(data: bytes, index: int, mask: int = 0x01) -> bytes:
    """``data`` with the byte at ``index`` XORed with ``mask``."""
    changed = bytearray(data)
    changed[index] ^= mask
    return bytes(changed)
