"""Fixtures of the keys/ tests: a real master key file, an in-memory record
store, an epoch directory under tmp_path and a clock the tests can move.

Generating the platform's and three institutions' keys takes a while, so it
is done once per session; each test gets its own record store holding
copies of those records (records are immutable) and its own epoch
directory, so tests never share state they can change."""

from __future__ import annotations

from pathlib import Path

import pytest

from keys.envelope import Envelopes
from keys.epochs import EpochKeyStore
from keys.master import MasterKey
from keys.records import KeyRecord, MemoryKeyRecordStore
from keys.store import KeyStore

from .support import MovableClock, make_keystore


@pytest.fixture
def key_clock() -> MovableClock:
    return MovableClock()


@pytest.fixture(scope="session")
def _template(tmp_path_factory: pytest.TempPathFactory) -> tuple[MasterKey, list[KeyRecord]]:
    folder = tmp_path_factory.mktemp("template")
    master = MasterKey.create(folder / "secrets" / "master.key")
    store = make_keystore(master, folder / "epochs", MovableClock())
    return master, store.records.all()


@pytest.fixture
def master(_template: tuple[MasterKey, list[KeyRecord]]) -> MasterKey:
    return _template[0]


@pytest.fixture
def keystore(
    _template: tuple[MasterKey, list[KeyRecord]], tmp_path: Path, key_clock: MovableClock
) -> KeyStore:
    master, records = _template
    store = MemoryKeyRecordStore()
    for record in records:
        store.add(record)
    return KeyStore(master, store, EpochKeyStore(tmp_path / "epochs", master), key_clock)


@pytest.fixture
def envelopes(keystore: KeyStore) -> Envelopes:
    return Envelopes(keystore)
