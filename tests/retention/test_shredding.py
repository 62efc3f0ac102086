"""Shredding a batch of blobs: every file is overwritten with zeros and on disk before any is
unlinked (one filesystem flush for the batch instead of one fsync per file), and a failed
flush unlinks nothing, so the sweep shreds them again next time."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from exchange.platform import blobs
from exchange.platform.blobs import BlobError, FolderBlobStore, new_name


def _store(tmp_path: Path, count: int) -> tuple[FolderBlobStore, list[str]]:
    store = FolderBlobStore(tmp_path / "blobs")
    names = [new_name() for _ in range(count)]
    for index, name in enumerate(names):
        store.put(name, bytes([index + 1]) * (3000 + index))
    return store, names


def test_every_blob_is_zeros_before_the_flush_and_unlinked_only_after(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store, names = _store(tmp_path, 6)
    at_flush: dict[str, bytes] = {}
    flush = blobs.sync_filesystem

    def watched(folder: Path) -> None:
        for name in names:
            at_flush[name] = store._path(name).read_bytes()
        flush(folder)  # the real syncfs (or sync)

    monkeypatch.setattr(blobs, "sync_filesystem", watched)
    missing = new_name()
    with ThreadPoolExecutor(4) as pool:
        done = store.delete_many([*names, missing], pool)

    assert sorted(done) == sorted([*names, missing])  # a missing blob is already gone
    assert set(at_flush) == set(names)
    for index, name in enumerate(names):
        assert at_flush[name] == b"\0" * (3000 + index)
        assert not store.exists(name)


def test_a_failed_flush_unlinks_nothing(tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    store, names = _store(tmp_path, 3)

    def broken(folder: Path) -> None:
        raise BlobError("blob store flush failed (5)")

    monkeypatch.setattr(blobs, "sync_filesystem", broken)
    with pytest.raises(BlobError):
        store.delete_many(names)
    assert all(store.exists(name) for name in names)

    monkeypatch.undo()
    assert sorted(store.delete_many(names)) == sorted(names)
    assert not any(store.exists(name) for name in names)
