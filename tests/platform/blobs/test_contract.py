"""The BlobStore contract, run on both backends: the local folder and an S3-compatible object
store (a real moto server over HTTP). The portal only ever depends on this contract."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

from exchange.platform.blobs import (
    BlobError,
    BlobNotFound,
    BlobStore,
    FolderBlobStore,
    delete_after_commit,
    new_name,
    write_in_transaction,
)
from tests.platform.blobs.support import new_bucket

BAD_NAMES = ("", "../../etc/passwd", "ABCDEF0123456789ABCDEF0123456789",
             "0123456789abcdef0123456789abcdef/x", "0123", "0123456789abcdef" * 5)


@pytest.fixture(params=["folder", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> BlobStore:
    if request.param == "folder":
        return FolderBlobStore(tmp_path / "blobs")
    _, s3 = new_bucket(request.getfixturevalue("s3_address"))
    return s3


def test_store_implements_the_protocol(store: BlobStore) -> None:
    assert isinstance(store, BlobStore)


def test_put_then_get_returns_the_same_bytes(store: BlobStore) -> None:
    name, data = new_name(), bytes(range(256)) * 17
    store.put(name, data)
    assert store.get(name) == data
    assert store.exists(name)


def test_a_large_blob_round_trips(store: BlobStore) -> None:
    name, data = new_name(), b"\x8f" * (6 * 1024 * 1024 + 3)
    store.put(name, data)
    assert store.get(name) == data


def test_put_twice_keeps_the_second_content(store: BlobStore) -> None:
    name = new_name()
    store.put(name, b"first")
    store.put(name, b"second")
    assert store.get(name) == b"second"


def test_missing_blob_is_not_found(store: BlobStore) -> None:
    name = new_name()
    assert not store.exists(name)
    with pytest.raises(BlobNotFound):
        store.get(name)


def test_delete_removes_and_missing_delete_is_quiet(store: BlobStore) -> None:
    name = new_name()
    store.put(name, b"ciphertext")
    store.delete(name)
    assert not store.exists(name)
    with pytest.raises(BlobNotFound):
        store.get(name)
    store.delete(name)
    store.delete(new_name())


def test_names_lists_every_blob_sorted(store: BlobStore) -> None:
    assert list(store.names()) == []
    names = [new_name() for _ in range(7)] + ["ab" * 32]
    for name in names:
        store.put(name, name.encode())
    assert list(store.names()) == sorted(names)
    store.delete(names[0])
    assert list(store.names()) == sorted(names[1:])


@pytest.mark.parametrize("bad", BAD_NAMES)
def test_names_that_could_leave_the_store_are_refused(store: BlobStore, bad: str) -> None:
    for call in (lambda: store.put(bad, b"x"), lambda: store.get(bad),
                 lambda: store.exists(bad), lambda: store.delete(bad)):
        with pytest.raises(BlobError):
            call()
    assert list(store.names()) == []


def _session() -> Session:
    session = Session(create_engine("sqlite://"))
    session.execute(text("SELECT 1"))  # a real transaction, so commit/rollback events fire
    return session


def test_a_blob_written_in_a_rolled_back_transaction_is_removed(store: BlobStore) -> None:
    session = _session()
    name = write_in_transaction(session, store, b"sealed")
    assert store.exists(name)
    session.rollback()
    assert not store.exists(name)


def test_a_blob_written_in_a_committed_transaction_stays(store: BlobStore) -> None:
    session = _session()
    name = write_in_transaction(session, store, b"sealed")
    session.commit()
    assert store.get(name) == b"sealed"


def test_delete_after_commit_waits_for_the_commit(store: BlobStore) -> None:
    name = new_name()
    store.put(name, b"sealed")
    session = _session()
    delete_after_commit(session, store, name)
    session.rollback()
    assert store.exists(name)
    session = _session()
    delete_after_commit(session, store, name)
    assert store.exists(name)
    session.commit()
    assert not store.exists(name)
