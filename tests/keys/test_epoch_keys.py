"""Retention-epoch key files: creation on first use, destruction, tombstones."""

from __future__ import annotations

import stat
from datetime import date
from pathlib import Path

import pytest

from keys.epochs import EpochKeyStore, epoch_of
from keys.errors import KeyDestroyed, KeyNotFound, MasterKeyInvalid
from keys.master import MasterKey


@pytest.fixture
def epochs(tmp_path: Path, master: MasterKey) -> EpochKeyStore:
    return EpochKeyStore(tmp_path / "epochs", master)


@pytest.mark.parametrize(
    ("day", "expected"),
    [(date(2036, 1, 1), "2036-01"), (date(2036, 12, 31), "2036-12"), (date(999, 5, 2), "0999-05")],
)
def test_epoch_of_names_the_calendar_month(day: date, expected: str) -> None:
    assert epoch_of(day) == expected


def test_key_is_created_on_first_use_and_then_stable(epochs: EpochKeyStore) -> None:
    assert not epochs.exists("2036-01")
    key = epochs.key("2036-01")
    assert len(key) == 32
    assert epochs.exists("2036-01")
    assert epochs.key("2036-01") == key
    assert epochs.key("2036-02") != key
    assert epochs.epochs() == ["2036-01", "2036-02"]


def test_key_file_is_private_wrapped_and_one_per_month(epochs: EpochKeyStore) -> None:
    key = epochs.key("2036-01")
    path = epochs.directory / "2036-01.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(epochs.directory.stat().st_mode) == 0o700
    assert key not in path.read_bytes()
    assert sorted(p.name for p in epochs.directory.iterdir()) == ["2036-01.key"]


def test_two_stores_on_one_directory_share_the_key(tmp_path: Path, master: MasterKey) -> None:
    one = EpochKeyStore(tmp_path / "shared", master)
    two = EpochKeyStore(tmp_path / "shared", master)
    assert one.key("2036-03") == two.key("2036-03")


def test_destroyed_epoch_raises_key_destroyed(epochs: EpochKeyStore) -> None:
    epochs.key("2036-01")
    epochs.destroy("2036-01")
    with pytest.raises(KeyDestroyed, match="2036-01"):
        epochs.key("2036-01")
    with pytest.raises(KeyDestroyed):
        epochs.key("2036-01", create=False)


def test_destroyed_epoch_is_never_silently_recreated(
    epochs: EpochKeyStore, tmp_path: Path, master: MasterKey
) -> None:
    epochs.key("2036-01")
    epochs.destroy("2036-01")
    again = EpochKeyStore(tmp_path / "epochs", master)
    with pytest.raises(KeyDestroyed):
        again.key("2036-01")
    assert not (epochs.directory / "2036-01.key").exists()
    assert (epochs.directory / "2036-01.destroyed").exists()
    assert epochs.destroyed() == ["2036-01"]
    assert epochs.epochs() == []
    assert not epochs.exists("2036-01")


def test_destroy_leaves_no_copy_of_the_wrapped_key(epochs: EpochKeyStore) -> None:
    epochs.key("2036-01")
    wrapped = (epochs.directory / "2036-01.key").read_bytes()
    epochs.destroy("2036-01")
    for path in epochs.directory.iterdir():
        assert wrapped not in path.read_bytes()


def test_destroy_is_idempotent_and_works_on_an_unused_epoch(epochs: EpochKeyStore) -> None:
    epochs.destroy("2040-07")
    epochs.destroy("2040-07")
    with pytest.raises(KeyDestroyed):
        epochs.key("2040-07")
    assert epochs.destroyed() == ["2040-07"]


def test_destroying_one_epoch_keeps_the_others(epochs: EpochKeyStore) -> None:
    kept = epochs.key("2036-02")
    epochs.key("2036-01")
    epochs.destroy("2036-01")
    assert epochs.key("2036-02") == kept
    assert epochs.epochs() == ["2036-02"]


def test_missing_key_without_tombstone_is_not_found_when_opening(epochs: EpochKeyStore) -> None:
    with pytest.raises(KeyNotFound) as caught:
        epochs.key("2036-05", create=False)
    assert not isinstance(caught.value, KeyDestroyed)
    assert not epochs.exists("2036-05")


def test_epoch_file_under_another_master_key_is_rejected(
    epochs: EpochKeyStore, tmp_path: Path
) -> None:
    epochs.key("2036-01")
    other = EpochKeyStore(epochs.directory, MasterKey.create(tmp_path / "other.key"))
    with pytest.raises(MasterKeyInvalid):
        other.key("2036-01")


def test_epoch_file_renamed_to_another_month_is_rejected(epochs: EpochKeyStore) -> None:
    epochs.key("2036-01")
    (epochs.directory / "2036-01.key").rename(epochs.directory / "2036-02.key")
    with pytest.raises(MasterKeyInvalid):
        epochs.key("2036-02")


@pytest.mark.parametrize("bad", ["2036-13", "2036-00", "36-01", "2036-1", "../x", "2036-01\n", ""])
def test_invalid_epoch_name_is_refused(epochs: EpochKeyStore, bad: str) -> None:
    with pytest.raises(ValueError, match="epoch"):
        epochs.key(bad)
    with pytest.raises(ValueError, match="epoch"):
        epochs.destroy(bad)


def test_unrelated_files_are_ignored(epochs: EpochKeyStore) -> None:
    epochs.key("2036-01")
    (epochs.directory / "README").write_text("x")
    (epochs.directory / "2036-99.key").write_text("x")
    assert epochs.epochs() == ["2036-01"]
    assert epochs.destroyed() == []
