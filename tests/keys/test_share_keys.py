"""Share keys (keys/shares.py): one key per (person, institution), in files outside the
database; destroying one erases that institution's copies of what was sealed about the
person, from every backup, and leaves the partner's copies readable."""

from __future__ import annotations

import dataclasses
import stat

import pytest

from keys.envelope import SHARE_WRAP_ENC_SIZE, WRAP_ENC_SIZE, Envelopes
from keys.errors import EnvelopeTampered, KeyDestroyed, KeyNotFound, MasterKeyInvalid
from keys.master import MasterKey
from keys.personal import PersonalFields
from keys.shares import ShareKeyStore
from keys.store import KeyStore

from .support import EPOCH, flip, make_header

SUBJECT = "3e7fbffa98f34272a0c964652a64111c"
CONTENT = b'{"fiche": "orientation", "motif": "logement"}'
READERS = ("inst-a", "inst-b")


@pytest.fixture
def shares(keystore: KeyStore) -> ShareKeyStore:
    return keystore.shares


def _about(subject: str = SUBJECT, **changes: object):  # type: ignore[no-untyped-def]
    return dataclasses.replace(make_header(), subject=subject, **changes)


# -- the key files -------------------------------------------------------------------------


def test_a_share_key_is_created_on_first_use_and_then_stable(shares: ShareKeyStore) -> None:
    generation, key = shares.current(SUBJECT, "inst-a")
    assert generation == 1 and len(key) == 32
    assert shares.current(SUBJECT, "inst-a") == (1, key)
    assert shares.key(SUBJECT, "inst-a", 1) == key
    assert shares.current(SUBJECT, "inst-b")[1] != key  # one key per owner
    assert shares.current("another-person", "inst-a")[1] != key  # and per subject


def test_share_key_files_are_private_sharded_and_master_wrapped(
        shares: ShareKeyStore, master: MasterKey) -> None:
    _, key = shares.current(SUBJECT, "inst-a")
    files = [p for p in shares.directory.rglob("*") if p.is_file()]
    assert len(files) == 1
    path = files[0]
    assert path.relative_to(shares.directory).parts == (path.parts[-3], SUBJECT, "inst-a.1.key")
    assert len(path.parts[-3]) == 2  # the shard
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert key not in path.read_bytes()
    assert master.unwrap(f"share:{SUBJECT}:inst-a:1", "share", path.read_bytes()) == key


def test_two_stores_on_one_directory_share_the_key(shares: ShareKeyStore,
                                                   master: MasterKey) -> None:
    other = ShareKeyStore(shares.directory, master)
    assert other.current(SUBJECT, "inst-a") == shares.current(SUBJECT, "inst-a")


def test_a_destroyed_share_key_raises_key_destroyed_and_leaves_no_copy(
        shares: ShareKeyStore) -> None:
    _, key = shares.current(SUBJECT, "inst-a")
    wrapped = (shares._subject_dir(SUBJECT) / "inst-a.1.key").read_bytes()
    assert shares.destroy(SUBJECT, "inst-a") == [1]
    with pytest.raises(KeyDestroyed):
        shares.key(SUBJECT, "inst-a", 1)
    everything = b"".join(p.read_bytes() for p in shares.directory.rglob("*") if p.is_file())
    assert key not in everything and wrapped not in everything
    assert shares.key(SUBJECT, "inst-b", shares.current(SUBJECT, "inst-b")[0])  # untouched
    assert shares.destroy(SUBJECT, "inst-a") == []  # idempotent


def test_an_institution_given_the_person_again_gets_a_new_generation(
        shares: ShareKeyStore) -> None:
    _, first = shares.current(SUBJECT, "inst-a")
    shares.destroy(SUBJECT, "inst-a")
    generation, second = shares.current(SUBJECT, "inst-a")
    assert generation == 2 and second != first
    with pytest.raises(KeyDestroyed):
        shares.key(SUBJECT, "inst-a", 1)  # what was erased stays erased
    assert shares.generation(SUBJECT, "inst-a") == 2


def test_a_retried_destruction_never_destroys_a_newer_generation(shares: ShareKeyStore) -> None:
    shares.current(SUBJECT, "inst-a")
    doomed = shares.generation(SUBJECT, "inst-a")
    assert shares.destroy(SUBJECT, "inst-a", up_to=doomed) == [1]
    generation, key = shares.current(SUBJECT, "inst-a")
    assert shares.destroy(SUBJECT, "inst-a", up_to=doomed) == []  # the retry
    assert shares.key(SUBJECT, "inst-a", generation) == key


def test_destroying_a_subject_destroys_every_share_and_is_never_recreated(
        shares: ShareKeyStore) -> None:
    for owner in ("inst-a", "inst-b", "platform"):
        shares.current(SUBJECT, owner)
    _, other = shares.current("another-person", "inst-a")
    assert shares.live(SUBJECT) == [("inst-a", 1), ("inst-b", 1), ("platform", 1)]
    assert shares.destroy_subjects([SUBJECT, "never-sealed"]) == 3
    for owner in ("inst-a", "inst-b", "platform"):
        with pytest.raises(KeyDestroyed):
            shares.key(SUBJECT, owner, 1)
    with pytest.raises(KeyDestroyed):
        shares.current(SUBJECT, "inst-a")
    assert not shares._subject_dir(SUBJECT).exists()
    assert shares.live(SUBJECT) == [] and shares.is_destroyed(SUBJECT)
    assert shares.key("another-person", "inst-a", 1) == other
    assert shares.destroy_subjects([SUBJECT]) == 0  # idempotent


def test_a_destruction_cut_short_after_its_tombstone_still_counts(
        shares: ShareKeyStore) -> None:
    shares.current(SUBJECT, "inst-a")
    # The process died after writing the tombstone, before shredding the key file.
    tombstone = shares._subject_dir(SUBJECT) / "inst-a.1.destroyed"
    tombstone.write_text("liaison share key destroyed: x inst-a 1\n")
    with pytest.raises(KeyDestroyed):
        shares.key(SUBJECT, "inst-a", 1)
    assert shares.current(SUBJECT, "inst-a")[0] == 2
    assert shares.destroy(SUBJECT, "inst-a", up_to=1) == [1]  # the retry shreds it
    assert not (shares._subject_dir(SUBJECT) / "inst-a.1.key").exists()


def test_a_missing_share_key_without_tombstone_is_not_found(shares: ShareKeyStore) -> None:
    shares.current(SUBJECT, "inst-a")
    (shares._subject_dir(SUBJECT) / "inst-a.1.key").unlink()
    with pytest.raises(KeyNotFound) as raised:
        shares.key(SUBJECT, "inst-a", 1)
    assert not isinstance(raised.value, KeyDestroyed)


def test_a_share_key_file_moved_to_another_person_is_rejected(shares: ShareKeyStore) -> None:
    shares.current(SUBJECT, "inst-a")
    shares.current("another-person", "inst-a")
    source = shares._subject_dir(SUBJECT) / "inst-a.1.key"
    target = shares._subject_dir("another-person") / "inst-a.1.key"
    target.write_bytes(source.read_bytes())
    with pytest.raises(MasterKeyInvalid):
        shares.key("another-person", "inst-a", 1)


@pytest.mark.parametrize("subject", ["", "a.b", "../x", "a/b", "x" * 65, "é"])
def test_invalid_subjects_are_refused(shares: ShareKeyStore, subject: str) -> None:
    with pytest.raises(ValueError):
        shares.current(subject, "inst-a")


# -- envelopes about a person --------------------------------------------------------------


def test_an_envelope_about_a_person_opens_for_each_reader(envelopes: Envelopes) -> None:
    envelope = envelopes.seal(CONTENT, _about(), READERS, EPOCH)
    assert all(len(w.enc) == SHARE_WRAP_ENC_SIZE for w in envelope.wraps)
    assert envelopes.open(envelope, "inst-a") == CONTENT
    assert envelopes.open(envelope, "inst-b") == CONTENT


def test_destroying_one_readers_share_erases_its_copy_only(
        envelopes: Envelopes, shares: ShareKeyStore) -> None:
    envelope = envelopes.seal(CONTENT, _about(), READERS, EPOCH)
    backup = envelope.to_bytes()  # as a database backup holds it, wraps and all
    shares.destroy(SUBJECT, "inst-a")
    with pytest.raises(KeyDestroyed):
        envelopes.open(envelope, "inst-a")
    with pytest.raises(KeyDestroyed):
        envelopes.open(type(envelope).from_bytes(backup), "inst-a")
    assert envelopes.open(envelope, "inst-b") == CONTENT


def test_destroying_the_subject_erases_every_copy(envelopes: Envelopes,
                                                  shares: ShareKeyStore) -> None:
    envelope = envelopes.seal(CONTENT, _about(), READERS, EPOCH)
    shares.destroy_subjects([SUBJECT])
    for reader in READERS:
        with pytest.raises(KeyDestroyed):
            envelopes.open(envelope, reader)
    with pytest.raises(KeyDestroyed):  # nothing new is sealed about an erased person
        envelopes.seal(CONTENT, _about(), READERS, EPOCH)


def test_a_document_sealed_after_an_erasure_opens_with_the_new_generation(
        envelopes: Envelopes, shares: ShareKeyStore) -> None:
    old = envelopes.seal(CONTENT, _about(), READERS, EPOCH)
    shares.destroy(SUBJECT, "inst-a")
    new = envelopes.seal(CONTENT, _about(document_id="fiche-0002"), READERS, EPOCH)
    assert envelopes.open(new, "inst-a") == CONTENT
    with pytest.raises(KeyDestroyed):
        envelopes.open(old, "inst-a")


def test_removing_the_subject_from_the_header_is_tampering(envelopes: Envelopes) -> None:
    # Stripping the share layer would need a header without subject: every seal binds it.
    envelope = envelopes.seal(CONTENT, _about(), READERS, EPOCH)
    stripped = dataclasses.replace(envelope, header=dataclasses.replace(envelope.header,
                                                                        subject=None))
    stripped_wraps = dataclasses.replace(
        stripped, wraps=tuple(dataclasses.replace(w, enc=w.enc[:WRAP_ENC_SIZE])
                              for w in envelope.wraps))
    for candidate in (stripped, stripped_wraps):
        for reader in READERS:
            with pytest.raises(EnvelopeTampered):
                envelopes.open(candidate, reader)


def test_moving_an_envelope_to_another_subject_is_tampering(
        envelopes: Envelopes, shares: ShareKeyStore) -> None:
    envelope = envelopes.seal(CONTENT, _about(), READERS, EPOCH)
    shares.current("another-person", "inst-a")
    moved = dataclasses.replace(envelope, header=_about("another-person"))
    with pytest.raises(EnvelopeTampered):
        envelopes.open(moved, "inst-a")


def test_a_flipped_byte_in_a_share_wrap_is_rejected(envelopes: Envelopes) -> None:
    envelope = envelopes.seal(CONTENT, _about(), READERS, EPOCH)
    wrap = envelope.wrap_for("inst-a")
    assert wrap is not None
    for index in (0, 1119, 1120, len(wrap.enc) - 1):
        changed = dataclasses.replace(wrap, enc=flip(wrap.enc, index))
        tampered = dataclasses.replace(
            envelope, wraps=tuple(changed if w.reader == "inst-a" else w
                                  for w in envelope.wraps))
        with pytest.raises(EnvelopeTampered):
            envelopes.open(tampered, "inst-a")
        assert envelopes.open(tampered, "inst-b") == CONTENT


def test_a_share_key_from_another_person_does_not_open(
        envelopes: Envelopes, shares: ShareKeyStore) -> None:
    envelope = envelopes.seal(CONTENT, _about(), READERS, EPOCH)
    shares.current("another-person", "inst-a")
    ours = shares._subject_dir(SUBJECT) / "inst-a.1.key"
    theirs = shares._subject_dir("another-person") / "inst-a.1.key"
    ours.write_bytes(theirs.read_bytes())  # a key file swapped by someone with disk access
    with pytest.raises(MasterKeyInvalid):
        envelopes.open(envelope, "inst-a")


# -- the identity ----------------------------------------------------------------------------


def test_destroying_the_person_makes_the_identity_unreadable(keystore: KeyStore,
                                                             shares: ShareKeyStore) -> None:
    personal = PersonalFields(keystore)
    sealed = personal.new_person_key(SUBJECT, EPOCH)
    blob = personal.encrypt(sealed, SUBJECT, {"last_name": "Lefèvre"})
    assert PersonalFields.has_share_layer(sealed)
    assert shares.live(SUBJECT) == [("platform", 1)]
    shares.destroy(SUBJECT, "inst-a")  # an institution's erasure leaves the identity
    assert personal.decrypt(sealed, SUBJECT, blob) == {"last_name": "Lefèvre"}
    shares.destroy_subjects([SUBJECT])
    with pytest.raises(KeyDestroyed):
        personal.decrypt(sealed, SUBJECT, blob)
    with pytest.raises(KeyDestroyed):
        personal.reseal(sealed, SUBJECT, "2037-01")


def test_a_flipped_share_generation_in_a_sealed_person_key_is_rejected(
        keystore: KeyStore) -> None:
    personal = PersonalFields(keystore)
    sealed = personal.new_person_key(SUBJECT, EPOCH)
    blob = personal.encrypt(sealed, SUBJECT, {"last_name": "Lefèvre"})
    generation_at = len(sealed) - (1 + 12 + (1 + 12 + (1 + 12 + 32 + 16) + 16) + 16) - 1
    with pytest.raises(EnvelopeTampered):
        personal.decrypt(flip(sealed, generation_at), SUBJECT, blob)


def test_no_share_file_holds_a_key_in_clear(shares: ShareKeyStore) -> None:
    keys = [shares.current(SUBJECT, owner)[1] for owner in ("inst-a", "inst-b")]
    for path in shares.directory.rglob("*"):
        if path.is_file():
            assert not any(key in path.read_bytes() for key in keys)
