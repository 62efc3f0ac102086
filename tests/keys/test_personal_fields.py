"""Encrypted identity fields and the blind index."""

from __future__ import annotations

from pathlib import Path

import pytest

from keys.errors import EnvelopeTampered, KeyDestroyed
from keys.master import MasterKey
from keys.personal import PersonalFields, blind_index, normalise_identity
from keys.store import KeyStore

from .support import EPOCH, MovableClock, flip, make_keystore

FIELDS = {"last_name": "Lefèvre-D'Arc", "first_name": "Zoé", "birth_date": "1980-01-02"}


@pytest.fixture
def personal(keystore: KeyStore) -> PersonalFields:
    return PersonalFields(keystore)


@pytest.fixture
def person_key(personal: PersonalFields) -> bytes:
    return personal.new_person_key("person-1", EPOCH)


def test_fields_round_trip(personal: PersonalFields, person_key: bytes) -> None:
    blob = personal.encrypt(person_key, "person-1", FIELDS)
    assert personal.decrypt(person_key, "person-1", blob) == FIELDS
    for value in FIELDS.values():
        assert value.encode() not in blob
        assert value.encode() not in person_key


def test_empty_fields_round_trip(personal: PersonalFields, person_key: bytes) -> None:
    assert (
        personal.decrypt(person_key, "person-1", personal.encrypt(person_key, "person-1", {})) == {}
    )


def test_ciphertext_length_hides_short_differences(
    personal: PersonalFields, person_key: bytes
) -> None:
    short = personal.encrypt(person_key, "person-1", {"last_name": "Li"})
    longer = personal.encrypt(person_key, "person-1", {"last_name": "Lefèvre-D'Arc"})
    assert len(short) == len(longer)


def test_each_person_key_is_fresh(personal: PersonalFields, person_key: bytes) -> None:
    other = personal.new_person_key("person-1", EPOCH)
    blob = personal.encrypt(person_key, "person-1", FIELDS)
    with pytest.raises(EnvelopeTampered):
        personal.decrypt(other, "person-1", blob)


def test_fields_of_another_person_id_are_rejected(
    personal: PersonalFields, person_key: bytes
) -> None:
    blob = personal.encrypt(person_key, "person-1", FIELDS)
    with pytest.raises(EnvelopeTampered):
        personal.decrypt(person_key, "person-2", blob)


def test_flipped_fields_byte_is_rejected(personal: PersonalFields, person_key: bytes) -> None:
    blob = personal.encrypt(person_key, "person-1", FIELDS)
    for i in range(len(blob)):
        with pytest.raises(EnvelopeTampered):
            personal.decrypt(person_key, "person-1", flip(blob, i))
    for n in range(len(blob)):
        with pytest.raises(EnvelopeTampered):
            personal.decrypt(person_key, "person-1", blob[:n])


def test_flipped_sealed_person_key_byte_is_rejected(
    personal: PersonalFields, person_key: bytes
) -> None:
    blob = personal.encrypt(person_key, "person-1", FIELDS)
    for i in range(len(person_key)):
        with pytest.raises(EnvelopeTampered):
            personal.decrypt(flip(person_key, i), "person-1", blob)
    for n in range(len(person_key)):
        with pytest.raises(EnvelopeTampered):
            personal.decrypt(person_key[:n], "person-1", blob)


def test_destroyed_epoch_makes_the_fields_unreadable(
    personal: PersonalFields, keystore: KeyStore, person_key: bytes
) -> None:
    blob = personal.encrypt(person_key, "person-1", FIELDS)
    keystore.epochs.destroy(EPOCH)
    with pytest.raises(KeyDestroyed):
        personal.decrypt(person_key, "person-1", blob)
    with pytest.raises(KeyDestroyed):
        personal.new_person_key("person-2", EPOCH)


def test_reseal_moves_the_key_to_a_new_epoch(
    personal: PersonalFields, keystore: KeyStore, person_key: bytes
) -> None:
    blob = personal.encrypt(person_key, "person-1", FIELDS)
    moved = personal.reseal(person_key, "person-1", "2040-06")
    assert personal.epoch_of_key(moved) == "2040-06"
    assert personal.epoch_of_key(person_key) == EPOCH
    keystore.epochs.destroy(EPOCH)
    assert personal.decrypt(moved, "person-1", blob) == FIELDS
    with pytest.raises(KeyDestroyed):
        personal.decrypt(person_key, "person-1", blob)
    with pytest.raises(KeyDestroyed):
        personal.reseal(person_key, "person-1", "2041-01")


def test_reseal_uses_the_current_person_fields_key(
    personal: PersonalFields, keystore: KeyStore, person_key: bytes
) -> None:
    blob = personal.encrypt(person_key, "person-1", FIELDS)
    old = keystore.records.current("platform", "person-fields")
    keystore.rotate_platform("person-fields")
    assert personal.decrypt(person_key, "person-1", blob) == FIELDS
    moved = personal.reseal(person_key, "person-1", EPOCH)
    keystore.delete_version(old.key_id)
    assert personal.decrypt(moved, "person-1", blob) == FIELDS
    with pytest.raises(KeyDestroyed):
        personal.decrypt(person_key, "person-1", blob)


def test_person_key_from_another_platform_is_rejected(
    person_key: bytes, tmp_path: Path, key_clock: MovableClock
) -> None:
    elsewhere = make_keystore(MasterKey.create(tmp_path / "m2.key"), tmp_path / "e2", key_clock)
    with pytest.raises(EnvelopeTampered):
        PersonalFields(elsewhere).encrypt(person_key, "person-1", FIELDS)


def test_fields_must_be_strings(personal: PersonalFields, person_key: bytes) -> None:
    with pytest.raises(ValueError):
        personal.encrypt(person_key, "person-1", {"age": 42})  # type: ignore[dict-item]


# -- blind index ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Lefèvre-D'Arc", "LEFEVRE d arc"),
        ("Lefèvre-D’Arc", "lefevredarc"),
        ("  Éloïse  ", "eloise"),
        ("Müller", "MULLER"),
        ("Strauß", "STRAUSS"),
        ("N'Diaye", "N’DIAYE"),
        ("Jean\u2013Pierre", "jean pierre"),
        ("Ｄｕｐｏｎｔ", "dupont"),
        ("Ça\u00a0va", "cava"),
    ],
)
def test_normalisation_ignores_accents_case_spaces_hyphens_apostrophes(a: str, b: str) -> None:
    assert normalise_identity(a) == normalise_identity(b)


def test_normalisation_keeps_what_tells_people_apart() -> None:
    assert normalise_identity("Martin") != normalise_identity("Martine")
    assert normalise_identity("ab", "c") != normalise_identity("a", "bc")
    assert normalise_identity("Dupont", "1980-01-02") == "dupont\x1f19800102"


def test_blind_index_is_stable_and_normalised(keystore: KeyStore) -> None:
    one = blind_index(keystore, "Lefèvre-D'Arc", "1980-01-02")
    assert one == blind_index(keystore, "LEFEVRE D ARC", "1980-01-02")
    assert len(one) == 64 and int(one, 16) >= 0
    assert one != blind_index(keystore, "Lefèvre-D'Arc", "1980-01-03")
    assert one != blind_index(keystore, "Lefèvre-D'Arc")


def test_blind_index_depends_on_the_platform_key(
    keystore: KeyStore, tmp_path: Path, key_clock: MovableClock
) -> None:
    elsewhere = make_keystore(MasterKey.create(tmp_path / "m2.key"), tmp_path / "e2", key_clock)
    assert blind_index(keystore, "Dupont") != blind_index(elsewhere, "Dupont")
    import hashlib

    assert blind_index(keystore, "Dupont") != hashlib.sha256(b"dupont").hexdigest()
