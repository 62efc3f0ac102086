"""keys/README.md is enough for another implementation: these tests read
what keys/ wrote using only `cryptography` primitives and the documented
layouts, never keys/ code."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import json
import struct
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ed25519, mlkem, x25519
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hpke import (
    AEAD,
    KDF,
    KEM,
    MLKEM768X25519PrivateKey,
    Suite,
)
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from keys.envelope import Envelopes
from keys.manifest import sign_manifest
from keys.master import MasterKey
from keys.personal import PersonalFields, blind_index
from keys.store import KeyStore

from .support import EPOCH, make_header


def _hkdf(ikm: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(ikm)


def _string(value: str) -> bytes:
    raw = value.encode()
    return struct.pack(">H", len(raw)) + raw


class Reader:
    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def take(self, n: int) -> bytes:
        out = self.data[self.pos : self.pos + n]
        assert len(out) == n
        self.pos += n
        return out

    def u16(self) -> int:
        return int(struct.unpack(">H", self.take(2))[0])

    def u32(self) -> int:
        return int(struct.unpack(">I", self.take(4))[0])

    def u64(self) -> int:
        return int(struct.unpack(">Q", self.take(8))[0])

    def string(self) -> str:
        return self.take(self.u16()).decode()

    def blob(self) -> bytes:
        return self.take(self.u32())


def _open_seal(key: bytes, sealed: bytes, aad: bytes) -> bytes:
    assert sealed[0] == 1
    return AESGCM(key).decrypt(sealed[1:13], sealed[13:], aad)


def _master_raw(master: MasterKey) -> bytes:
    assert master.path is not None
    text = master.path.read_text().strip()
    assert text.startswith("LIAISON-MASTER-KEY-V1:")
    raw = base64.b64decode(text.split(":", 1)[1])
    assert len(raw) == 32
    return raw


def _unwrap(master_raw: bytes, key_id: str, purpose: str, wrapped: bytes) -> bytes:
    aad = b"liaison/v1/master-wrap\x00\x01" + _string(key_id) + _string(purpose)
    return _open_seal(_hkdf(master_raw, b"liaison/v1/master/wrap"), wrapped, aad)


def _epoch_subkey(master_raw: bytes, directory: Path, epoch: str, label: bytes) -> bytes:
    wrapped = (directory / f"{epoch}.key").read_bytes()
    epoch_key = _unwrap(master_raw, f"epoch:{epoch}", "epoch", wrapped)
    return _hkdf(epoch_key, b"liaison/v1/epoch/" + label + b"/" + epoch.encode())


def test_master_check_value_as_documented(master: MasterKey) -> None:
    raw = _master_raw(master)
    opened = _unwrap(raw, "master-check", "master-check", master.check_value())
    assert opened == b"Liaison master key check value, format 1"


def test_secret_box_as_documented(master: MasterKey) -> None:
    sealed = master.secret_box("totp").seal(b"JBSWY3DP", b"user:1")
    key = _hkdf(_master_raw(master), b"liaison/v1/master/secret-box/totp")
    assert _open_seal(key, sealed, b"liaison/v1/secret-box\x00\x01user:1") == b"JBSWY3DP"


def test_envelope_opens_from_the_documented_layout(
    master: MasterKey, keystore: KeyStore, envelopes: Envelopes
) -> None:
    """Format 1: a document about nobody, and every document sealed before share keys."""
    content = b"contenu de la fiche"
    data = envelopes.seal(content, make_header(), ("inst-a", "inst-b"), EPOCH).to_bytes()
    assert _open_documented(master, keystore, data) == content


def test_envelope_about_a_person_opens_from_the_documented_layout(
    master: MasterKey, keystore: KeyStore, envelopes: Envelopes
) -> None:
    """Format 2: the header names the subject; each wrap also needs the reader's share key."""
    content = b"contenu de la fiche"
    header = dataclasses.replace(make_header(), subject="p-1")
    data = envelopes.seal(content, header, ("inst-a", "inst-b"), EPOCH).to_bytes()
    assert _open_documented(master, keystore, data) == content


def _open_documented(master: MasterKey, keystore: KeyStore, data: bytes) -> bytes:
    raw = _master_raw(master)

    r = Reader(data)
    assert r.take(4) == b"LSEV" and r.take(1) == b"\x01"
    header_bytes = r.blob()
    nonce = r.take(12)
    epoch_wrap = r.blob()
    wraps = []
    for _ in range(r.u16()):
        w = Reader(r.blob())
        wraps.append((w.string(), w.string(), w.u32(), w.blob()))
    ciphertext = r.take(r.u64())
    assert r.pos == len(data)

    header = json.loads(header_bytes)
    subject = header.get("subject")
    assert header["format"] == ("liaison-envelope-header/1" if subject is None
                                else "liaison-envelope-header/2")
    digest = hashlib.sha256(header_bytes).digest()
    reader, key_id, key_version, enc = next(w for w in wraps if w[0] == "inst-b")
    assert key_id.startswith(f"inst-b:encryption:v{key_version}:")
    assert len(enc) == (1168 if subject is None else 1201)

    record = keystore.records.get(key_id)
    secret = _unwrap(raw, key_id, "encryption", record.wrapped_private)
    private = MLKEM768X25519PrivateKey(
        mlkem.MLKEM768PrivateKey.from_seed_bytes(secret[:64]),
        x25519.X25519PrivateKey.from_private_bytes(secret[64:]),
    )
    info = (
        b"liaison/v1/envelope-wrap\x00"
        + _string(header["document_id"])
        + struct.pack(">I", header["version"])
        + _string(reader)
        + _string(key_id)
        + struct.pack(">I", key_version)
        + digest
    )
    suite = Suite(KEM.MLKEM768_X25519, KDF.HKDF_SHA256, AEAD.AES_256_GCM)
    wrapping_key = suite.decrypt(enc, private, info=info)
    if subject is not None:
        generation = struct.unpack(">I", wrapping_key[:4])[0]
        share_key = _share_subkey(raw, keystore.shares.directory, subject, reader, generation,
                                  b"envelope")
        aad = (b"liaison/v1/envelope-share-seal\x00" + _string(subject) + _string(reader)
               + struct.pack(">I", generation) + digest)
        wrapping_key = _open_seal(share_key, wrapping_key[4:], aad)

    epoch_key = _epoch_subkey(raw, keystore.epochs.directory, header["epoch"], b"envelope")
    inner = _open_seal(epoch_key, epoch_wrap, b"liaison/v1/envelope-epoch-seal\x00" + digest)
    data_key = _open_seal(wrapping_key, inner, b"liaison/v1/envelope-data-key\x00" + digest)
    return AESGCM(data_key).decrypt(nonce, ciphertext, header_bytes)


def test_manifest_verifies_from_the_documented_layout(keystore: KeyStore) -> None:
    signed = json.loads(sign_manifest(keystore, "inst-a", {"b": 1, "a": "é"}).to_bytes())
    payload = base64.b64decode(signed["payload"])
    assert payload == '{"a":"é","b":1}'.encode()
    public = keystore.records.get(signed["key_id"]).public
    assert public is not None
    ed25519.Ed25519PublicKey.from_public_bytes(public).verify(
        base64.b64decode(signed["signature"]), b"liaison/v1/manifest\x00" + payload
    )


def _share_subkey(master_raw: bytes, directory: Path, subject: str, owner: str,
                  generation: int, label: bytes) -> bytes:
    shard = hashlib.sha256(subject.encode()).hexdigest()[:2]
    wrapped = (directory / shard / subject / f"{owner}.{generation}.key").read_bytes()
    share_key = _unwrap(master_raw, f"share:{subject}:{owner}:{generation}", "share", wrapped)
    return _hkdf(share_key, b"liaison/v1/share/" + label)


def test_personal_fields_open_from_the_documented_layout(
    master: MasterKey, keystore: KeyStore
) -> None:
    personal = PersonalFields(keystore)
    sealed = personal.new_person_key("p-1", EPOCH)
    blob = personal.encrypt(sealed, "p-1", {"last_name": "Lefèvre"})
    raw = _master_raw(master)

    r = Reader(sealed)
    assert r.take(1) == b"\x02"
    epoch, key_id, generation = r.string(), r.string(), r.u32()
    bind = (b"\x02" + _string(epoch) + _string(key_id) + struct.pack(">I", generation)
            + _string("p-1"))
    record = keystore.records.get(key_id)
    pf = _unwrap(raw, key_id, "person-fields", record.wrapped_private)
    inner = _open_seal(pf, sealed[r.pos :], b"liaison/v1/person-key\x00" + bind)
    epoch_key = _epoch_subkey(raw, keystore.epochs.directory, epoch, b"person")
    shared = _open_seal(epoch_key, inner, b"liaison/v1/person-key-epoch\x00" + bind)
    share_key = _share_subkey(raw, keystore.shares.directory, "p-1", "platform", generation,
                              b"person")
    person_key = _open_seal(share_key, shared, b"liaison/v1/person-key-share\x00" + bind)

    _check_fields(person_key, blob)


def test_personal_fields_of_format_1_still_open(master: MasterKey, keystore: KeyStore) -> None:
    """A sealed person key written before share keys, built here from the documented format
    1 with `cryptography` alone: it still opens, and re-sealing moves it to format 2."""
    raw = _master_raw(master)
    record = keystore.records.current("platform", "person-fields")
    pf = _unwrap(raw, record.key_id, "person-fields", record.wrapped_private)
    keystore.epochs.key(EPOCH)  # the epoch file exists, as it did then
    person_key = bytes(range(32))
    prefix = b"\x01" + _string(EPOCH) + _string(record.key_id)
    bind = prefix + _string("p-1")
    epoch_key = _epoch_subkey(raw, keystore.epochs.directory, EPOCH, b"person")
    nonce = bytes(12)
    inner = b"\x01" + nonce + AESGCM(epoch_key).encrypt(
        nonce, person_key, b"liaison/v1/person-key-epoch\x00" + bind)
    sealed = prefix + b"\x01" + nonce + AESGCM(pf).encrypt(
        nonce, inner, b"liaison/v1/person-key\x00" + bind)

    personal = PersonalFields(keystore)
    blob = personal.encrypt(sealed, "p-1", {"last_name": "Lefèvre"})
    _check_fields(person_key, blob)
    assert personal.decrypt(sealed, "p-1", blob) == {"last_name": "Lefèvre"}
    resealed = personal.reseal(sealed, "p-1", "2037-01")
    assert resealed[0] == 2 and personal.decrypt(resealed, "p-1", blob) == {
        "last_name": "Lefèvre"}


def _check_fields(person_key: bytes, blob: bytes) -> None:
    assert blob[0] == 1
    plain = _open_seal(person_key, blob[1:], b"liaison/v1/person-fields\x00\x01" + _string("p-1"))
    assert len(plain) % 64 == 0
    length = struct.unpack(">I", plain[:4])[0]
    assert json.loads(plain[4 : 4 + length]) == {"last_name": "Lefèvre"}
    assert not any(plain[4 + length :])


def test_blind_index_from_the_documented_formula(master: MasterKey, keystore: KeyStore) -> None:
    record = keystore.records.current("platform", "blind-index")
    key = _unwrap(_master_raw(master), record.key_id, "blind-index", record.wrapped_private)
    expected = hmac.new(
        key, b"liaison/v1/blind-index\x00lefevredarc\x1f19800102", hashlib.sha256
    ).hexdigest()
    assert blind_index(keystore, "Lefèvre-D'Arc", "1980-01-02") == expected
