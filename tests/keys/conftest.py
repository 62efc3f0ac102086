"""Fixtures of the keys/ tests: a real master key file, an in-memory record
store, an epoch directory under tmp_path and a clock the tests can move."""

from __future__ import annotations

from pathlib import Path

import pytest

from keys.envelope import Envelopes
from keys.master import MasterKey
from keys.store import KeyStore

from .support import MovableClock, make_keystore


@pytest.fixture
def key_clock() -> MovableClock:
    return MovableClock()


@pytest.fixture
def master(tmp_path: Path) -> MasterKey:
    return MasterKey.create(tmp_path / "secrets" / "master.key")


@pytest.fixture
def keystore(master: MasterKey, tmp_path: Path, key_clock: MovableClock) -> KeyStore:
    return make_keystore(master, tmp_path / "epochs", key_clock)


@pytest.fixture
def envelopes(keystore: KeyStore) -> Envelopes:
    return Envelopes(keystore)
