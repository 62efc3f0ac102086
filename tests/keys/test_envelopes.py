"""Sealed envelopes: round trips, storage in parts, and every tamper."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from keys.envelope import WRAP_ENC_SIZE, Envelope, Envelopes, Header, Wrap
from keys.errors import (
    EnvelopeTampered,
    KeyDestroyed,
    KeyNotFound,
    NotAReader,
    PayloadTooLarge,
)
from keys.master import MasterKey
from keys.store import KeyStore

from .support import EPOCH, MovableClock, flip, make_header, make_keystore

CONTENT = b'{"fiche": "orientation", "motif": "mobilite"}'
READERS = ("inst-a", "inst-b")


@pytest.fixture
def sample(envelopes: Envelopes) -> Envelope:
    """One sealed sample: small content, two readers."""
    return envelopes.seal(CONTENT, make_header(), READERS, EPOCH)


def _rejected_for(envelopes: Envelopes, envelope: Envelope, readers: tuple[str, ...]) -> None:
    for reader in readers:
        with pytest.raises(EnvelopeTampered):
            envelopes.open(envelope, reader)


# -- round trips -------------------------------------------------------------------


def test_every_reader_opens_what_was_sealed(envelopes: Envelopes, sample: Envelope) -> None:
    assert envelopes.open(sample, "inst-a") == CONTENT
    assert envelopes.open(sample, "inst-b") == CONTENT
    assert CONTENT not in sample.to_bytes()


def test_serialised_envelope_round_trips(envelopes: Envelopes, sample: Envelope) -> None:
    data = sample.to_bytes()
    parsed = Envelope.from_bytes(data)
    assert parsed == sample
    assert parsed.to_bytes() == data
    assert envelopes.open(parsed, "inst-b") == CONTENT


def test_parts_stored_separately_reassemble(envelopes: Envelopes, sample: Envelope) -> None:
    # as the portal stores it: header and wraps in rows, ciphertext in a blob
    header_row = sample.header.to_bytes()
    wrap_rows = [w.to_bytes() for w in sample.wraps]
    blob = sample.ciphertext
    rebuilt = Envelope(
        header=Header.from_bytes(header_row),
        nonce=sample.nonce,
        ciphertext=blob,
        epoch_wrap=sample.epoch_wrap,
        wraps=tuple(Wrap.from_bytes(row) for row in wrap_rows),
    )
    assert envelopes.open(rebuilt, "inst-a") == CONTENT


def test_one_wrap_per_reader_with_its_current_key(keystore: KeyStore, sample: Envelope) -> None:
    assert [w.reader for w in sample.wraps] == list(READERS)
    for wrap in sample.wraps:
        record = keystore.records.current(wrap.reader, "encryption")
        assert (wrap.key_id, wrap.key_version) == (record.key_id, record.version)
        assert len(wrap.enc) == WRAP_ENC_SIZE


def test_empty_and_maximal_content_round_trip(
    master: MasterKey, tmp_path: Path, key_clock: MovableClock
) -> None:
    small = make_keystore(master, tmp_path / "e", key_clock, max_payload=4096)
    envelopes = Envelopes(small)
    for content in (b"", bytes(range(256)) * 16):
        sealed = envelopes.seal(content, make_header(), READERS, EPOCH)
        assert envelopes.open(Envelope.from_bytes(sealed.to_bytes()), "inst-a") == content


def test_payload_over_the_limit_is_refused(
    master: MasterKey, tmp_path: Path, key_clock: MovableClock
) -> None:
    small = make_keystore(master, tmp_path / "e", key_clock, max_payload=4096)
    with pytest.raises(PayloadTooLarge, match="4097"):
        Envelopes(small).seal(b"x" * 4097, make_header(), READERS, EPOCH)


def test_ciphertext_larger_than_any_payload_is_tampering(
    master: MasterKey, tmp_path: Path, key_clock: MovableClock
) -> None:
    small = make_keystore(master, tmp_path / "e", key_clock, max_payload=64)
    envelopes = Envelopes(small)
    sealed = envelopes.seal(b"x" * 64, make_header(), READERS, EPOCH)
    grown = dataclasses.replace(sealed, ciphertext=sealed.ciphertext + b"\x00")
    _rejected_for(envelopes, grown, READERS)


@settings(
    max_examples=25,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(content=st.binary(max_size=2048))
def test_any_content_round_trips(envelopes: Envelopes, content: bytes) -> None:
    sealed = envelopes.seal(content, make_header(), READERS, EPOCH)
    assert envelopes.open(Envelope.from_bytes(sealed.to_bytes()), "inst-b") == content


def test_same_content_seals_differently(envelopes: Envelopes, sample: Envelope) -> None:
    again = envelopes.seal(CONTENT, make_header(), READERS, EPOCH)
    assert again.ciphertext != sample.ciphertext
    assert again.epoch_wrap != sample.epoch_wrap
    assert again.wraps[0].enc != sample.wraps[0].enc


def test_readers_must_match_the_header(envelopes: Envelopes) -> None:
    with pytest.raises(ValueError, match="readers"):
        envelopes.seal(CONTENT, make_header(), ("inst-a",), EPOCH)
    with pytest.raises(ValueError, match="readers"):
        envelopes.seal(CONTENT, make_header(), ("inst-a", "inst-b", "inst-c"), EPOCH)
    with pytest.raises(ValueError, match="epoch"):
        envelopes.seal(CONTENT, make_header(), READERS, "2037-01")


def test_reader_without_keys_cannot_be_sealed_for(envelopes: Envelopes) -> None:
    with pytest.raises(KeyNotFound):
        envelopes.seal(
            CONTENT, make_header(readers=("inst-a", "inst-z")), ("inst-a", "inst-z"), EPOCH
        )


# -- the header ----------------------------------------------------------------------


def test_header_canonical_encoding_is_exact() -> None:
    header = Header(
        document_id="fiche-0001",
        version=3,
        kind="bilan-final",
        sender="inst-b",
        readers=("inst-b", "inst-a"),
        created_at=datetime(2026, 11, 23, 10, 30, tzinfo=UTC) + timedelta(microseconds=5),
        epoch="2036-12",
    )
    assert header.to_bytes() == (
        b'{"created_at":"2026-11-23T10:30:00.000005Z","document_id":"fiche-0001",'
        b'"epoch":"2036-12","format":"liaison-envelope-header/1","kind":"bilan-final",'
        b'"readers":["inst-a","inst-b"],"sender":"inst-b","version":3}'
    )
    assert Header.from_bytes(header.to_bytes()) == header


def test_header_times_are_normalised_to_utc() -> None:
    from zoneinfo import ZoneInfo

    paris = datetime(2026, 11, 23, 11, 30, tzinfo=ZoneInfo("Europe/Paris"))
    header = dataclasses.replace(make_header(), created_at=paris)
    assert header.created_at == datetime(2026, 11, 23, 10, 30, tzinfo=UTC)
    assert header.created_at.tzinfo is UTC


@pytest.mark.parametrize(
    "changes",
    [
        {"document_id": ""},
        {"document_id": "a\nb"},
        {"version": 0},
        {"version": True},
        {"readers": ()},
        {"readers": ("inst-a", "inst-a")},
        {"sender": "no owner"},
        {"epoch": "2036-13"},
        {"created_at": datetime(2026, 1, 1)},  # naive on purpose
    ],
)
def test_invalid_header_is_refused(changes: dict[str, object]) -> None:
    fields = dataclasses.asdict(make_header()) | changes
    with pytest.raises(ValueError):
        Header(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "text",
    [
        b"",
        b"{}",
        b"[]",
        b"null",
        b'{"created_at":"2026-11-23T09:00:00.000000Z", "document_id":"x"}',
    ],
)
def test_malformed_header_bytes_are_tampering(text: bytes) -> None:
    with pytest.raises(EnvelopeTampered):
        Header.from_bytes(text)


def test_non_canonical_header_bytes_are_tampering(sample: Envelope) -> None:
    canonical = sample.header.to_bytes()
    for variant in (
        canonical.replace(b",", b", ", 1),
        canonical + b"\n",
        canonical.replace(b'"version":1', b'"version":1.0'),
        canonical.replace(b'"version":1', b'"version":01'),
        canonical.replace(b'"inst-a"', b'"inst\\u002da"', 1),
        canonical.replace(b'"readers":["inst-a","inst-b"]', b'"readers":["inst-b","inst-a"]'),
        canonical.replace(b"{", b'{"extra":1,', 1),
    ):
        assert variant != canonical
        with pytest.raises(EnvelopeTampered):
            Header.from_bytes(variant)


# -- every flipped byte ----------------------------------------------------------------


def test_flipped_ciphertext_byte_is_rejected(envelopes: Envelopes, sample: Envelope) -> None:
    body = len(sample.ciphertext) - 16
    for i in range(body):
        changed = dataclasses.replace(sample, ciphertext=flip(sample.ciphertext, i))
        _rejected_for(envelopes, changed, READERS)


def test_flipped_tag_byte_is_rejected(envelopes: Envelopes, sample: Envelope) -> None:
    for i in range(len(sample.ciphertext) - 16, len(sample.ciphertext)):
        changed = dataclasses.replace(sample, ciphertext=flip(sample.ciphertext, i))
        _rejected_for(envelopes, changed, READERS)


def test_flipped_nonce_byte_is_rejected(envelopes: Envelopes, sample: Envelope) -> None:
    for i in range(len(sample.nonce)):
        changed = dataclasses.replace(sample, nonce=flip(sample.nonce, i))
        _rejected_for(envelopes, changed, READERS)


def test_flipped_header_byte_is_rejected(envelopes: Envelopes, sample: Envelope) -> None:
    encoded = sample.header.to_bytes()
    for i in range(len(encoded)):
        try:
            header = Header.from_bytes(flip(encoded, i))
        except EnvelopeTampered:
            continue
        changed = dataclasses.replace(sample, header=header)
        readers = tuple(r for r in READERS if r in header.readers)
        _rejected_for(envelopes, changed, readers)


def test_flipped_header_byte_of_either_mask_is_rejected(
    envelopes: Envelopes, sample: Envelope
) -> None:
    encoded = sample.header.to_bytes()
    for i in range(len(encoded)):
        try:
            header = Header.from_bytes(flip(encoded, i, 0xFF))
        except EnvelopeTampered:
            continue
        _rejected_for(envelopes, dataclasses.replace(sample, header=header), READERS)


@pytest.mark.parametrize("index", [0, 1])
def test_flipped_wrap_enc_byte_is_rejected(
    envelopes: Envelopes, sample: Envelope, index: int
) -> None:
    wrap = sample.wraps[index]
    other = sample.wraps[1 - index]
    for i in range(len(wrap.enc)):
        changed_wrap = dataclasses.replace(wrap, enc=flip(wrap.enc, i))
        wraps = (changed_wrap, other) if index == 0 else (other, changed_wrap)
        changed = dataclasses.replace(sample, wraps=wraps)
        with pytest.raises(EnvelopeTampered):
            envelopes.open(changed, wrap.reader)
    # the other reader's wrap is independent
    assert envelopes.open(changed, other.reader) == CONTENT


def test_flipped_epoch_wrap_byte_is_rejected(envelopes: Envelopes, sample: Envelope) -> None:
    for i in range(len(sample.epoch_wrap)):
        changed = dataclasses.replace(sample, epoch_wrap=flip(sample.epoch_wrap, i))
        _rejected_for(envelopes, changed, READERS)


@pytest.mark.parametrize("index", [0, 1])
def test_flipped_recorded_key_version_is_rejected(
    envelopes: Envelopes, keystore: KeyStore, sample: Envelope, index: int
) -> None:
    keystore.rotate(sample.wraps[index].reader)  # versions 1 and 2 both exist now
    wrap = sample.wraps[index]
    for bit in range(32):
        version = wrap.key_version ^ (1 << bit)
        wraps = list(sample.wraps)
        wraps[index] = dataclasses.replace(wrap, key_version=version)
        with pytest.raises(EnvelopeTampered):
            envelopes.open(dataclasses.replace(sample, wraps=tuple(wraps)), wrap.reader)


@pytest.mark.parametrize("index", [0, 1])
def test_flipped_recorded_key_id_byte_is_rejected(
    envelopes: Envelopes, sample: Envelope, index: int
) -> None:
    wrap = sample.wraps[index]
    raw = wrap.key_id.encode()
    for i in range(len(raw)):
        try:
            key_id = flip(raw, i).decode()
        except UnicodeDecodeError:
            continue
        wraps = list(sample.wraps)
        wraps[index] = dataclasses.replace(wrap, key_id=key_id)
        with pytest.raises(EnvelopeTampered):
            envelopes.open(dataclasses.replace(sample, wraps=tuple(wraps)), wrap.reader)


@pytest.mark.parametrize(
    "share",
    [
        bytes(32),
        (1).to_bytes(32, "little"),
        bytes.fromhex("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800"),
        b"\xff" * 32,
    ],
    ids=["zero", "one", "order-8", "all-ones"],
)
def test_low_order_x25519_share_in_a_wrap_is_rejected(
    envelopes: Envelopes, sample: Envelope, share: bytes
) -> None:
    # enc = ML-KEM-768 ciphertext (1088 bytes) || X25519 ephemeral share (32 bytes) || ...
    wrap = sample.wraps[0]
    enc = wrap.enc[:1088] + share + wrap.enc[1120:]
    changed = dataclasses.replace(
        sample, wraps=(dataclasses.replace(wrap, enc=enc), sample.wraps[1])
    )
    with pytest.raises(EnvelopeTampered):
        envelopes.open(changed, wrap.reader)


def _wrap_spans(data: bytes, envelope: Envelope) -> list[tuple[range, str]]:
    spans = []
    for wrap in envelope.wraps:
        encoded = wrap.to_bytes()
        start = data.index(encoded)
        spans.append((range(start - 4, start + len(encoded)), wrap.reader))
    return spans


def test_flipped_byte_anywhere_in_the_serialised_envelope_is_rejected(
    envelopes: Envelopes, sample: Envelope
) -> None:
    data = sample.to_bytes()
    spans = _wrap_spans(data, sample)
    enc_at = {data.index(w.enc): i for i, w in enumerate(sample.wraps)}
    outcomes = {"parse": 0, "enc": 0, "open": 0}
    for i in range(len(data)):
        changed = flip(data, i)
        try:
            parsed = Envelope.from_bytes(changed)
        except EnvelopeTampered:
            outcomes["parse"] += 1
            continue
        start = next((s for s in enc_at if s <= i < s + WRAP_ENC_SIZE), None)
        if start is not None:
            # exactly the case test_flipped_wrap_enc_byte_is_rejected opens
            index = enc_at[start]
            expected = list(sample.wraps)
            expected[index] = dataclasses.replace(
                expected[index], enc=flip(expected[index].enc, i - start)
            )
            assert parsed == dataclasses.replace(sample, wraps=tuple(expected))
            outcomes["enc"] += 1
            continue
        outcomes["open"] += 1
        readers = tuple(reader for span, reader in spans if i in span) or READERS
        _rejected_for(envelopes, parsed, readers)
    assert outcomes["enc"] == 2 * WRAP_ENC_SIZE
    assert outcomes["open"] > len(sample.ciphertext) + len(sample.epoch_wrap)


def test_truncated_or_extended_envelope_is_tampering(sample: Envelope) -> None:
    data = sample.to_bytes()
    for n in range(len(data)):
        with pytest.raises(EnvelopeTampered):
            Envelope.from_bytes(data[:n])
    with pytest.raises(EnvelopeTampered):
        Envelope.from_bytes(data + b"\x00")


# -- moved, swapped, unlisted --------------------------------------------------------------


def test_wrap_moved_to_another_document_is_rejected(envelopes: Envelopes, sample: Envelope) -> None:
    other = envelopes.seal(CONTENT, make_header(document_id="fiche-0002"), READERS, EPOCH)
    moved = dataclasses.replace(other, wraps=(sample.wraps[0], other.wraps[1]))
    with pytest.raises(EnvelopeTampered):
        envelopes.open(moved, "inst-a")


def test_wrap_moved_to_another_version_of_the_document_is_rejected(
    envelopes: Envelopes, sample: Envelope
) -> None:
    v2 = envelopes.seal(CONTENT, make_header(version=2), READERS, EPOCH)
    moved = dataclasses.replace(v2, wraps=sample.wraps)
    _rejected_for(envelopes, moved, READERS)


def test_wrap_given_to_another_reader_is_rejected(envelopes: Envelopes, sample: Envelope) -> None:
    a, b = sample.wraps
    relabelled = dataclasses.replace(a, reader="inst-b")
    with pytest.raises(EnvelopeTampered):
        envelopes.open(dataclasses.replace(sample, wraps=(relabelled,)), "inst-b")


def test_header_swapped_between_two_envelopes_is_rejected(
    envelopes: Envelopes, sample: Envelope
) -> None:
    other = envelopes.seal(b"other content", make_header(document_id="fiche-0002"), READERS, EPOCH)
    _rejected_for(envelopes, dataclasses.replace(sample, header=other.header), READERS)
    _rejected_for(envelopes, dataclasses.replace(other, header=sample.header), READERS)


def test_epoch_wrap_swapped_between_two_envelopes_is_rejected(
    envelopes: Envelopes, sample: Envelope
) -> None:
    other = envelopes.seal(CONTENT, make_header(document_id="fiche-0002"), READERS, EPOCH)
    _rejected_for(envelopes, dataclasses.replace(sample, epoch_wrap=other.epoch_wrap), READERS)


def test_ciphertext_swapped_between_two_envelopes_is_rejected(
    envelopes: Envelopes, sample: Envelope
) -> None:
    other = envelopes.seal(CONTENT, make_header(document_id="fiche-0002"), READERS, EPOCH)
    swapped = dataclasses.replace(sample, nonce=other.nonce, ciphertext=other.ciphertext)
    _rejected_for(envelopes, swapped, READERS)


def test_reader_not_listed_is_refused(envelopes: Envelopes, sample: Envelope) -> None:
    with pytest.raises(NotAReader):
        envelopes.open(sample, "inst-c")
    with pytest.raises(KeyNotFound):  # NotAReader is a KeyNotFound
        envelopes.open(sample, "inst-c")


def test_reader_added_to_the_header_is_rejected(envelopes: Envelopes, sample: Envelope) -> None:
    widened = dataclasses.replace(
        sample, header=dataclasses.replace(sample.header, readers=("inst-a", "inst-b", "inst-c"))
    )
    _rejected_for(envelopes, widened, READERS)
    with pytest.raises(NotAReader):
        envelopes.open(widened, "inst-c")


def test_reader_whose_wrap_was_deleted_is_refused(envelopes: Envelopes, sample: Envelope) -> None:
    without_b = dataclasses.replace(sample, wraps=(sample.wraps[0],))
    with pytest.raises(NotAReader):
        envelopes.open(without_b, "inst-b")
    assert envelopes.open(without_b, "inst-a") == CONTENT


def test_duplicate_wrap_for_a_reader_is_tampering(envelopes: Envelopes, sample: Envelope) -> None:
    doubled = dataclasses.replace(sample, wraps=(sample.wraps[0], *sample.wraps))
    with pytest.raises(EnvelopeTampered):
        envelopes.open(doubled, "inst-a")
    with pytest.raises(EnvelopeTampered):
        Envelope.from_bytes(doubled.to_bytes())


# -- rotation, deletion, destruction ---------------------------------------------------------


def test_rotation_keeps_old_versions_openable(
    envelopes: Envelopes, keystore: KeyStore, sample: Envelope
) -> None:
    keystore.rotate("inst-a")
    keystore.rotate("inst-b")
    assert envelopes.open(sample, "inst-a") == CONTENT
    assert envelopes.open(sample, "inst-b") == CONTENT
    newer = envelopes.seal(CONTENT, make_header(document_id="fiche-0003"), READERS, EPOCH)
    assert {w.key_version for w in newer.wraps} == {2}
    assert envelopes.open(newer, "inst-b") == CONTENT


def test_old_key_version_after_delete_version_is_rejected(
    envelopes: Envelopes, keystore: KeyStore, sample: Envelope
) -> None:
    old = keystore.records.current("inst-b", "encryption")
    keystore.rotate("inst-b")
    keystore.delete_version(old.key_id)
    with pytest.raises(KeyDestroyed, match="version 1"):
        envelopes.open(sample, "inst-b")
    assert envelopes.open(sample, "inst-a") == CONTENT


def test_destroyed_epoch_key_is_rejected(
    envelopes: Envelopes, keystore: KeyStore, sample: Envelope
) -> None:
    kept = envelopes.seal(CONTENT, make_header(epoch="2037-01"), READERS, "2037-01")
    keystore.epochs.destroy(EPOCH)
    for reader in READERS:
        with pytest.raises(KeyDestroyed, match=EPOCH):
            envelopes.open(sample, reader)
    assert envelopes.open(kept, "inst-a") == CONTENT
    with pytest.raises(KeyDestroyed):
        envelopes.seal(CONTENT, make_header(), READERS, EPOCH)


def test_destroyed_epoch_defeats_a_database_backup(
    envelopes: Envelopes, keystore: KeyStore, sample: Envelope
) -> None:
    backup = sample.to_bytes()  # everything the database and blob store hold
    keystore.epochs.destroy(EPOCH)
    with pytest.raises(KeyDestroyed):
        envelopes.open(Envelope.from_bytes(backup), "inst-a")


def test_missing_epoch_file_is_a_configuration_fault(
    envelopes: Envelopes, keystore: KeyStore, sample: Envelope
) -> None:
    (keystore.epochs.directory / f"{EPOCH}.key").unlink()
    with pytest.raises(KeyNotFound, match="misconfigured") as caught:
        envelopes.open(sample, "inst-a")
    assert not isinstance(caught.value, (KeyDestroyed, NotAReader))


def test_envelope_from_another_platform_is_rejected(
    sample: Envelope, tmp_path: Path, key_clock: MovableClock
) -> None:
    elsewhere = make_keystore(MasterKey.create(tmp_path / "m2.key"), tmp_path / "e2", key_clock)
    with pytest.raises(EnvelopeTampered):
        Envelopes(elsewhere).open(sample, "inst-a")


@settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_arbitrary_corruption_raises_only_narrow_errors(
    envelopes: Envelopes, sample: Envelope, data: st.DataObject
) -> None:
    original = sample.to_bytes()
    changed = bytearray(original)
    for _ in range(data.draw(st.integers(1, 4))):
        position = data.draw(st.integers(0, len(changed) - 1))
        action = data.draw(st.sampled_from(["set", "insert", "delete"]))
        if action == "set":
            changed[position] = data.draw(st.integers(0, 255))
        elif action == "insert":
            changed.insert(position, data.draw(st.integers(0, 255)))
        elif len(changed) > 1:
            del changed[position]
    if bytes(changed) == original:
        return
    try:
        parsed = Envelope.from_bytes(bytes(changed))
    except EnvelopeTampered:
        return
    for reader in READERS:
        try:
            opened = envelopes.open(parsed, reader)
        except (EnvelopeTampered, NotAReader):
            continue
        # only possible when the change touched the other reader's wrap
        assert opened == CONTENT
        assert parsed.header == sample.header and parsed.ciphertext == sample.ciphertext
