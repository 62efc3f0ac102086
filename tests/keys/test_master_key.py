"""The master key file, master wraps and secret boxes."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from keys.errors import EnvelopeTampered, MasterKeyExists, MasterKeyInvalid, MasterKeyMissing
from keys.master import FILE_PREFIX, MasterKey

from .support import flip


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_create_writes_a_0600_file_in_a_0700_directory(tmp_path: Path) -> None:
    path = tmp_path / "new" / "dir" / "master.key"
    MasterKey.create(path)
    assert _mode(path) == 0o600
    assert _mode(path.parent) == 0o700
    text = path.read_text()
    assert text.startswith(FILE_PREFIX) and text.endswith("\n")


def test_create_is_private_even_under_a_permissive_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        path = MasterKey.create(tmp_path / "k" / "master.key").path
    finally:
        os.umask(old)
    assert path is not None
    assert _mode(path) == 0o600
    assert _mode(path.parent) == 0o700


def test_create_refuses_to_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "master.key"
    MasterKey.create(path)
    before = path.read_bytes()
    with pytest.raises(MasterKeyExists, match="master.key"):
        MasterKey.create(path)
    assert path.read_bytes() == before


def test_create_refuses_to_follow_a_symlink(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    (tmp_path / "master.key").symlink_to(target)
    with pytest.raises((MasterKeyExists, OSError)):
        MasterKey.create(tmp_path / "master.key")
    assert not target.exists()


def test_two_created_keys_differ(tmp_path: Path) -> None:
    one = MasterKey.create(tmp_path / "one.key")
    two = MasterKey.create(tmp_path / "two.key")
    assert one.check_value() != two.check_value()
    with pytest.raises(MasterKeyInvalid):
        two.verify_check_value(one.check_value())


def test_load_reads_what_create_wrote(tmp_path: Path) -> None:
    path = tmp_path / "master.key"
    created = MasterKey.create(path)
    loaded = MasterKey.load(path)
    wrapped = created.wrap("k1", "signing", b"secret bytes")
    assert loaded.unwrap("k1", "signing", wrapped) == b"secret bytes"
    loaded.verify_check_value(created.check_value())


def test_missing_file_message_names_the_path(tmp_path: Path) -> None:
    path = tmp_path / "absent" / "master.key"
    with pytest.raises(MasterKeyMissing, match=str(path)):
        MasterKey.load(path)


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_too_open_file_is_refused(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "master.key"
    MasterKey.create(path)
    path.chmod(mode)
    with pytest.raises(MasterKeyInvalid, match=f"{path}.*chmod 600"):
        MasterKey.load(path)


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"not a key\n",
        FILE_PREFIX.encode() + b"tooshort\n",
        FILE_PREFIX.encode() + b"!!!!" * 11 + b"\n",
        b"\xff\xfe" * 30,
    ],
    ids=["empty", "garbage", "short", "bad-base64", "binary"],
)
def test_corrupt_file_is_refused(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "master.key"
    path.write_bytes(content)
    path.chmod(0o600)
    with pytest.raises(MasterKeyInvalid, match=str(path)):
        MasterKey.load(path)


def test_directory_instead_of_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "master.key"
    path.mkdir(mode=0o700)
    with pytest.raises(MasterKeyInvalid, match=str(path)):
        MasterKey.load(path)


def test_wrong_master_key_is_detected_by_the_check_value(tmp_path: Path) -> None:
    right = MasterKey.create(tmp_path / "right.key")
    stored = right.check_value()
    wrong = MasterKey.create(tmp_path / "wrong.key")
    with pytest.raises(MasterKeyInvalid, match="wrong.key"):
        wrong.verify_check_value(stored)
    right.verify_check_value(stored)


def test_flipped_check_value_byte_is_rejected(master: MasterKey) -> None:
    value = master.check_value()
    for i in range(len(value)):
        with pytest.raises(MasterKeyInvalid):
            master.verify_check_value(flip(value, i))


def test_wrap_round_trip_and_fresh_nonces(master: MasterKey) -> None:
    one = master.wrap("inst-a:signing:v1:00000000", "signing", b"k" * 32)
    two = master.wrap("inst-a:signing:v1:00000000", "signing", b"k" * 32)
    assert one != two
    assert b"k" * 32 not in one
    assert master.unwrap("inst-a:signing:v1:00000000", "signing", one) == b"k" * 32


def test_unwrap_with_another_key_id_is_rejected(master: MasterKey) -> None:
    wrapped = master.wrap("key-1", "signing", b"secret")
    with pytest.raises(MasterKeyInvalid):
        master.unwrap("key-2", "signing", wrapped)


def test_unwrap_with_another_purpose_is_rejected(master: MasterKey) -> None:
    wrapped = master.wrap("key-1", "signing", b"secret")
    with pytest.raises(MasterKeyInvalid):
        master.unwrap("key-1", "encryption", wrapped)


def test_flipped_wrap_byte_is_rejected(master: MasterKey) -> None:
    wrapped = master.wrap("key-1", "signing", b"secret")
    for i in range(len(wrapped)):
        with pytest.raises(MasterKeyInvalid):
            master.unwrap("key-1", "signing", flip(wrapped, i))


def test_truncated_wrap_is_rejected(master: MasterKey) -> None:
    wrapped = master.wrap("key-1", "signing", b"secret")
    for n in range(len(wrapped)):
        with pytest.raises(MasterKeyInvalid):
            master.unwrap("key-1", "signing", wrapped[:n])


def test_wrap_from_another_master_key_is_rejected(master: MasterKey, tmp_path: Path) -> None:
    other = MasterKey.create(tmp_path / "other.key")
    with pytest.raises(MasterKeyInvalid):
        master.unwrap("key-1", "signing", other.wrap("key-1", "signing", b"secret"))


def test_repr_does_not_show_the_key(master: MasterKey) -> None:
    assert "secrets" in repr(master)
    assert master.path is not None
    raw = master.path.read_text()[len(FILE_PREFIX) :].strip()
    assert raw not in repr(master)


def test_secret_box_round_trip(master: MasterKey) -> None:
    box = master.secret_box("totp")
    sealed = box.seal(b"JBSWY3DPEHPK3PXP", b"user:42")
    assert b"JBSWY3DPEHPK3PXP" not in sealed
    assert box.open(sealed, b"user:42") == b"JBSWY3DPEHPK3PXP"
    assert master.secret_box("totp").open(sealed, b"user:42") == b"JBSWY3DPEHPK3PXP"


def test_secret_box_with_wrong_associated_data_is_rejected(master: MasterKey) -> None:
    box = master.secret_box("totp")
    sealed = box.seal(b"secret", b"user:42")
    with pytest.raises(EnvelopeTampered):
        box.open(sealed, b"user:43")


def test_secret_box_of_another_purpose_is_rejected(master: MasterKey) -> None:
    sealed = master.secret_box("totp").seal(b"secret", b"user:42")
    with pytest.raises(EnvelopeTampered):
        master.secret_box("recovery-codes").open(sealed, b"user:42")


def test_flipped_secret_box_byte_is_rejected(master: MasterKey) -> None:
    box = master.secret_box("totp")
    sealed = box.seal(b"secret", b"user:42")
    for i in range(len(sealed)):
        with pytest.raises(EnvelopeTampered):
            box.open(flip(sealed, i), b"user:42")
    for n in range(len(sealed)):
        with pytest.raises(EnvelopeTampered):
            box.open(sealed[:n], b"user:42")


def test_secret_box_under_another_master_key_is_rejected(master: MasterKey, tmp_path: Path) -> None:
    other = MasterKey.create(tmp_path / "other.key")
    sealed = master.secret_box("totp").seal(b"secret", b"user:42")
    with pytest.raises(EnvelopeTampered):
        other.secret_box("totp").open(sealed, b"user:42")
