"""Canonical JSON and signed manifests, receipts and platform documents."""

from __future__ import annotations

import dataclasses
import re

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from keys.errors import SignatureInvalid
from keys.manifest import (
    SignedManifest,
    canonical,
    content_digest,
    parse_canonical,
    sign_manifest,
    sign_platform,
    verify_manifest,
    verify_platform,
    verify_with_key,
)
from keys.store import KeyStore

from .support import flip

MANIFEST = {
    "document_id": "fiche-0001",
    "version": 1,
    "kind": "orientation-axe-2",
    "sender": {"institution": "inst-a", "unit": "mds-montauban", "user": "u-17"},
    "recipient": "inst-b",
    "content_sha256": content_digest(b"contenu de la fiche"),
    "consent_id": "consent-42",
    "time": "2026-11-23T09:00:00Z",
}


# -- canonical JSON ---------------------------------------------------------------


def test_canonical_sorts_keys_and_drops_whitespace() -> None:
    assert canonical({"b": 1, "a": [True, None, "x"], "c": {"z": -2, "y": 0}}) == (
        b'{"a":[true,null,"x"],"b":1,"c":{"y":0,"z":-2}}'
    )


def test_canonical_writes_utf8_and_escapes_only_what_json_requires() -> None:
    assert canonical({"nom": "Lefèvre\u00a0Ç", "q": 'a"b\\c', "ctl": "\n\t\x01\x7f/"}) == (
        '{"ctl":"\\n\\t\\u0001\x7f/","nom":"Lefèvre\u00a0Ç","q":"a\\"b\\\\c"}'.encode()
    )


def test_canonical_sorts_keys_by_utf16_code_units() -> None:
    # RFC 8785 section 3.2.3: U+1F600 (surrogates D83D DE00) sorts before U+E000.
    assert canonical({"\ue000": 1, "\U0001f600": 2, "a": 3}) == (
        '{"a":3,"\U0001f600":2,"\ue000":1}'.encode()
    )


@pytest.mark.parametrize(
    "value",
    [
        1.0,
        float("nan"),
        float("inf"),
        {"a": 0.5},
        [1e3],
        2**53,
        -(2**53),
        b"bytes",
        {1: "a"},
        {"s"},
    ],
)
def test_canonical_rejects_what_has_no_single_encoding(value: object) -> None:
    with pytest.raises(ValueError):
        canonical(value)


def test_canonical_rejects_lone_surrogates() -> None:
    with pytest.raises(ValueError):
        canonical({"a": "\ud800"})


def test_canonical_accepts_the_safe_integer_range() -> None:
    assert canonical([2**53 - 1, -(2**53 - 1), 0]) == b"[9007199254740991,-9007199254740991,0]"


@pytest.mark.parametrize(
    "text",
    [b'{"a":1, "b":2}', b'{"b":1,"a":2}', b'{"a":1.0}', b'{"a":NaN}', b'{"a":"\\u00e9"}', b" {}"],
)
def test_parse_canonical_rejects_non_canonical_text(text: bytes) -> None:
    with pytest.raises(ValueError):
        parse_canonical(text)


def test_parse_canonical_round_trips() -> None:
    assert parse_canonical(canonical(MANIFEST)) == MANIFEST


# -- institution manifests and receipts ---------------------------------------------


def test_signed_manifest_verifies(keystore: KeyStore) -> None:
    signed = sign_manifest(keystore, "inst-a", MANIFEST)
    assert signed.payload == canonical(MANIFEST)
    assert signed.key_id == keystore.records.current("inst-a", "signing").key_id
    assert signed.key_version == 1
    assert verify_manifest(keystore, signed) == MANIFEST
    assert verify_manifest(keystore, signed, expected_owner="inst-a") == MANIFEST


def test_receipt_is_signed_by_the_recipient(keystore: KeyStore) -> None:
    receipt = {"document_id": "fiche-0001", "version": 1, "received_by": "inst-b"}
    signed = sign_manifest(keystore, "inst-b", receipt)
    assert verify_manifest(keystore, signed, expected_owner="inst-b") == receipt
    with pytest.raises(SignatureInvalid):
        verify_manifest(keystore, signed, expected_owner="inst-a")


def test_tampered_payload_byte_is_rejected(keystore: KeyStore) -> None:
    signed = sign_manifest(keystore, "inst-a", MANIFEST)
    for i in range(len(signed.payload)):
        changed = dataclasses.replace(signed, payload=flip(signed.payload, i))
        with pytest.raises(SignatureInvalid):
            verify_manifest(keystore, changed)


def test_tampered_signature_byte_is_rejected(keystore: KeyStore) -> None:
    signed = sign_manifest(keystore, "inst-a", MANIFEST)
    for i in range(len(signed.signature)):
        changed = dataclasses.replace(signed, signature=flip(signed.signature, i))
        with pytest.raises(SignatureInvalid):
            verify_manifest(keystore, changed)


def test_manifest_rekeyed_to_another_institution_is_rejected(keystore: KeyStore) -> None:
    signed = sign_manifest(keystore, "inst-a", MANIFEST)
    other = keystore.records.current("inst-b", "signing")
    rekeyed = dataclasses.replace(signed, key_id=other.key_id, key_version=other.version)
    with pytest.raises(SignatureInvalid):
        verify_manifest(keystore, rekeyed)


def test_manifest_rekeyed_to_another_version_is_rejected(keystore: KeyStore) -> None:
    signed = sign_manifest(keystore, "inst-a", MANIFEST)
    keystore.rotate("inst-a")
    newer = keystore.records.current("inst-a", "signing")
    with pytest.raises(SignatureInvalid):
        verify_manifest(keystore, dataclasses.replace(signed, key_version=2))
    with pytest.raises(SignatureInvalid):
        verify_manifest(keystore, dataclasses.replace(signed, key_id=newer.key_id, key_version=2))
    assert verify_manifest(keystore, signed) == MANIFEST  # the old version still verifies


def test_manifest_with_unknown_or_deleted_key_is_rejected(keystore: KeyStore) -> None:
    signed = sign_manifest(keystore, "inst-a", MANIFEST)
    with pytest.raises(SignatureInvalid):
        verify_manifest(keystore, dataclasses.replace(signed, key_id="inst-a:signing:v1:00000000"))
    keystore.rotate("inst-a")
    keystore.delete_version(signed.key_id)
    with pytest.raises(SignatureInvalid, match="unknown or deleted"):
        verify_manifest(keystore, signed)


def test_manifest_rekeyed_to_a_non_signing_key_is_rejected(keystore: KeyStore) -> None:
    signed = sign_manifest(keystore, "inst-a", MANIFEST)
    encryption = keystore.records.current("inst-a", "encryption")
    with pytest.raises(SignatureInvalid):
        verify_manifest(keystore, dataclasses.replace(signed, key_id=encryption.key_id))


def test_non_canonical_signed_payload_is_rejected(keystore: KeyStore) -> None:
    # A correct signature over bytes that are not canonical JSON is refused.
    record = keystore.records.current("inst-a", "signing")
    key = keystore._ed25519_private(record, "signing")
    payload = b'{"b":1, "a":2}'
    signed = SignedManifest(
        payload, key.sign(b"liaison/v1/manifest\x00" + payload), record.key_id, 1
    )
    with pytest.raises(SignatureInvalid, match="canonical"):
        verify_manifest(keystore, signed)


def test_signed_manifest_serialisation_round_trips(keystore: KeyStore) -> None:
    signed = sign_manifest(keystore, "inst-a", MANIFEST)
    data = signed.to_bytes()
    assert SignedManifest.from_bytes(data) == signed
    for bad in (b"", b"{}", data.replace(b'"key_version":1', b'"key_version":"1"'), data[:-1]):
        with pytest.raises(SignatureInvalid):
            SignedManifest.from_bytes(bad)


def test_manifest_verifies_offline_with_the_exported_key(keystore: KeyStore) -> None:
    signed = sign_manifest(keystore, "inst-a", MANIFEST)
    bundle = keystore.export_public("inst-a")
    block = re.search(r"-----BEGIN PUBLIC KEY-----.*?-----END PUBLIC KEY-----\n", bundle, re.S)
    assert block is not None
    public = serialization.load_pem_public_key(block.group(0).encode())
    assert isinstance(public, ed25519.Ed25519PublicKey)
    assert verify_with_key(public, signed) == MANIFEST
    # the documented signing input, checked by hand
    public.verify(signed.signature, b"liaison/v1/manifest\x00" + signed.payload)


# -- platform documents -----------------------------------------------------------------


def test_platform_document_verifies(keystore: KeyStore) -> None:
    checkpoint = {"chain_head": "ab" * 32, "events": 1204, "at": "2026-11-23T09:00:00Z"}
    signed = sign_platform(keystore, checkpoint)
    assert verify_platform(keystore, signed) == checkpoint
    for i in range(len(signed.payload)):
        with pytest.raises(SignatureInvalid):
            verify_platform(keystore, dataclasses.replace(signed, payload=flip(signed.payload, i)))


def test_platform_and_institution_signatures_do_not_mix(keystore: KeyStore) -> None:
    platform_signed = sign_platform(keystore, {"report": 1})
    with pytest.raises(SignatureInvalid):
        verify_manifest(keystore, platform_signed)
    institution_signed = sign_manifest(keystore, "inst-a", {"report": 1})
    with pytest.raises(SignatureInvalid):
        verify_platform(keystore, institution_signed)


def test_platform_signature_survives_rotation(keystore: KeyStore) -> None:
    signed = sign_platform(keystore, {"report": 1})
    keystore.rotate_platform("platform-signing")
    newer = sign_platform(keystore, {"report": 2})
    assert newer.key_version == 2
    assert verify_platform(keystore, signed) == {"report": 1}
    assert verify_platform(keystore, newer) == {"report": 2}
