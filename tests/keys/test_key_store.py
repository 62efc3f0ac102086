"""Key creation, rotation, deletion, export, status, and the integrity
checks on stored key records."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import ExtensionOID, NameOID

from keys.epochs import EpochKeyStore
from keys.errors import KeyNotFound, KeyRecordCorrupt, KeysError, MasterKeyInvalid
from keys.master import MasterKey
from keys.records import (
    INSTITUTION_PURPOSES,
    PLATFORM_PURPOSES,
    KeyRecord,
    MemoryKeyRecordStore,
)
from keys.store import KeyStore

from .support import INSTITUTIONS, NOW, MovableClock


def test_platform_and_institution_keys_exist_once_each(keystore: KeyStore) -> None:
    purposes = {(r.owner, r.purpose) for r in keystore.records.all()}
    expected = {("platform", p) for p in PLATFORM_PURPOSES} | {
        (owner, p) for owner in INSTITUTIONS for p in INSTITUTION_PURPOSES
    }
    assert purposes == expected
    assert all(r.version == 1 and r.current for r in keystore.records.all())


def test_init_platform_and_ensure_institution_are_idempotent(keystore: KeyStore) -> None:
    before = keystore.records.all()
    assert keystore.init_platform("Plateforme Liaison (tests)") == []
    assert keystore.ensure_institution("inst-a", INSTITUTIONS["inst-a"]) == []
    assert keystore.records.all() == before


def test_ensure_institution_needs_the_platform_ca(master: MasterKey, tmp_path: Path) -> None:
    store = KeyStore(
        master, MemoryKeyRecordStore(), EpochKeyStore(tmp_path, master), MovableClock()
    )
    with pytest.raises(KeyNotFound):
        store.ensure_institution("inst-a", "A")


@pytest.mark.parametrize("owner", ["platform", "", "a:b", "a b", "-a", "x" * 41, "é"])
def test_reserved_or_malformed_owner_is_refused(keystore: KeyStore, owner: str) -> None:
    with pytest.raises(ValueError):
        keystore.ensure_institution(owner, "Nom")


def test_key_ids_name_owner_purpose_and_version(keystore: KeyStore) -> None:
    for record in keystore.records.all():
        assert record.key_id.startswith(f"{record.owner}:{record.purpose}:v{record.version}:")
        assert len(record.key_id) <= 80
    ids = [r.key_id for r in keystore.records.all()]
    assert len(set(ids)) == len(ids)


def test_clock_is_used_for_creation_time(keystore: KeyStore) -> None:
    assert {r.created_at for r in keystore.records.all()} == {NOW}


def test_naive_clock_is_refused(master: MasterKey, tmp_path: Path) -> None:
    store = KeyStore(
        master,
        MemoryKeyRecordStore(),
        EpochKeyStore(tmp_path, master),
        lambda: NOW.replace(tzinfo=None),
    )
    with pytest.raises(ValueError, match="aware"):
        store.init_platform("P")


def test_no_private_key_is_stored_in_clear(keystore: KeyStore) -> None:
    for record in keystore.records.all():
        secret = keystore._secret(record, record.purpose)
        assert len(secret) >= 32
        stored = [record.wrapped_private, record.public or b"", record.certificate or b""]
        assert all(secret not in field for field in stored)
        # and not in any other record either
        for other in keystore.records.all():
            assert secret not in other.wrapped_private


def test_rotate_makes_new_current_versions_and_keeps_old_ones(
    keystore: KeyStore, key_clock: MovableClock
) -> None:
    old = {p: keystore.records.current("inst-a", p) for p in INSTITUTION_PURPOSES}
    key_clock.advance(timedelta(days=400))
    created = keystore.rotate("inst-a")
    assert sorted(r.purpose for r in created) == sorted(INSTITUTION_PURPOSES)
    for purpose in INSTITUTION_PURPOSES:
        current = keystore.records.current("inst-a", purpose)
        assert current.version == 2
        assert current.created_at == NOW + timedelta(days=400)
        versions = keystore.records.versions("inst-a", purpose)
        assert [v.version for v in versions] == [1, 2]
        assert not keystore.records.get(old[purpose].key_id).current
        assert current.public != old[purpose].public
    # other institutions are untouched
    assert keystore.records.current("inst-b", "encryption").version == 1


def test_rotated_certificate_keeps_the_institution_name(keystore: KeyStore) -> None:
    keystore.rotate("inst-b")
    record = keystore.records.current("inst-b", "pdf-signing")
    assert record.certificate is not None
    cert = x509.load_der_x509_certificate(record.certificate)
    organisation = cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value
    assert organisation == INSTITUTIONS["inst-b"]


def test_platform_keys_rotate_only_where_it_is_safe(keystore: KeyStore) -> None:
    assert keystore.rotate_platform("platform-signing").version == 2
    assert keystore.rotate_platform("person-fields").version == 2
    for purpose in ("ca", "blind-index"):
        with pytest.raises(ValueError):
            keystore.rotate_platform(purpose)
    with pytest.raises(ValueError):
        keystore.rotate("platform")


def test_delete_version_refuses_the_current_version(keystore: KeyStore) -> None:
    current = keystore.records.current("inst-a", "encryption")
    with pytest.raises(KeysError, match="current"):
        keystore.delete_version(current.key_id)
    assert keystore.records.get(current.key_id) == current


def test_delete_version_removes_an_old_version(keystore: KeyStore) -> None:
    old = keystore.records.current("inst-a", "encryption")
    keystore.rotate("inst-a")
    keystore.delete_version(old.key_id)
    with pytest.raises(KeyNotFound):
        keystore.records.get(old.key_id)
    assert [r.version for r in keystore.records.versions("inst-a", "encryption")] == [2]
    with pytest.raises(KeyNotFound):
        keystore.delete_version(old.key_id)


# -- certificates -------------------------------------------------------------


def _cert(keystore: KeyStore, owner: str, purpose: str) -> x509.Certificate:
    der = keystore.records.current(owner, purpose).certificate
    assert der is not None
    return x509.load_der_x509_certificate(der)


def test_ca_certificate_is_a_self_signed_p256_root(keystore: KeyStore) -> None:
    ca = _cert(keystore, "platform", "ca")
    assert ca == keystore.ca_certificate()
    assert isinstance(ca.public_key(), ec.EllipticCurvePublicKey)
    assert ca.public_key().curve.name == "secp256r1"
    ca.verify_directly_issued_by(ca)
    basic = ca.extensions.get_extension_for_class(x509.BasicConstraints)
    assert basic.critical and basic.value.ca
    usage = ca.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical
    assert usage.value.key_cert_sign and usage.value.crl_sign
    assert not usage.value.digital_signature
    ski = ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    aki = ca.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    assert aki.key_identifier == ski.digest
    assert ca.not_valid_after_utc - ca.not_valid_before_utc > timedelta(days=365 * 15)


def test_institution_certificate_is_a_document_signer(keystore: KeyStore) -> None:
    ca = keystore.ca_certificate()
    cert = _cert(keystore, "inst-a", "pdf-signing")
    cert.verify_directly_issued_by(ca)
    assert cert.issuer == ca.subject
    organisation = cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value
    assert organisation == INSTITUTIONS["inst-a"]
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical
    assert usage.value.digital_signature and usage.value.content_commitment
    assert not usage.value.key_cert_sign
    basic = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert not basic.value.ca
    ski = cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert ski == x509.SubjectKeyIdentifier.from_public_key(cert.public_key())  # type: ignore[arg-type]
    aki = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    ca_ski = ca.extensions.get_extension_for_oid(ExtensionOID.SUBJECT_KEY_IDENTIFIER).value
    assert aki.key_identifier == ca_ski.digest  # type: ignore[attr-defined]
    lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
    assert timedelta(days=3 * 365) <= lifetime <= timedelta(days=3 * 366)
    issued = datetime.now(UTC)  # certificates speak of the wall clock, not the store's clock
    assert cert.not_valid_before_utc <= issued <= cert.not_valid_after_utc
    assert cert.serial_number != ca.serial_number


def test_institution_certificate_never_outlives_the_ca(keystore: KeyStore) -> None:
    from cryptography.hazmat.primitives.asymmetric import ec

    from keys import certificates

    ca_key, ca_cert = keystore._ca()
    late = ca_cert.not_valid_after_utc - timedelta(days=365)
    cert = certificates.issue_signer(ca_key, ca_cert, ec.generate_private_key(ec.SECP256R1())
                                     .public_key(), "Institution A", late)
    assert cert.not_valid_after_utc == ca_cert.not_valid_after_utc


# -- record integrity -----------------------------------------------------------


def _replace_record(keystore: KeyStore, record: KeyRecord) -> None:
    store = keystore.records
    assert isinstance(store, MemoryKeyRecordStore)
    store.delete(record.key_id)
    store.add(record)


def test_substituted_public_key_is_detected(keystore: KeyStore) -> None:
    a = keystore.records.current("inst-a", "encryption")
    b = keystore.records.current("inst-b", "encryption")
    _replace_record(keystore, dataclasses.replace(a, public=b.public))
    with pytest.raises(KeyRecordCorrupt):
        keystore._hpke_public(keystore.records.get(a.key_id))


def test_substituted_signing_public_key_is_detected(keystore: KeyStore) -> None:
    a = keystore.records.current("inst-a", "signing")
    b = keystore.records.current("inst-b", "signing")
    _replace_record(keystore, dataclasses.replace(a, public=b.public))
    with pytest.raises(KeyRecordCorrupt):
        keystore._ed25519_public(keystore.records.get(a.key_id), "signing")


def test_private_key_moved_to_another_record_is_rejected(keystore: KeyStore) -> None:
    a = keystore.records.current("inst-a", "signing")
    b = keystore.records.current("inst-b", "signing")
    _replace_record(keystore, dataclasses.replace(a, wrapped_private=b.wrapped_private))
    with pytest.raises(MasterKeyInvalid):
        keystore._ed25519_private(keystore.records.get(a.key_id), "signing")


def test_record_relabelled_to_another_owner_is_rejected(keystore: KeyStore) -> None:
    a = keystore.records.current("inst-a", "signing")
    _replace_record(keystore, dataclasses.replace(a, owner="inst-z", current=False))
    with pytest.raises(KeyRecordCorrupt):
        keystore._ed25519_private(keystore.records.get(a.key_id), "signing")


def test_record_used_for_another_purpose_is_rejected(keystore: KeyStore) -> None:
    record = keystore.records.current("inst-a", "signing")
    with pytest.raises(KeyRecordCorrupt):
        keystore._ed25519_private(record, "platform-signing")


def test_substituted_ca_certificate_is_detected(keystore: KeyStore) -> None:
    ca = keystore.records.current("platform", "ca")
    signer = keystore.records.current("inst-a", "pdf-signing")
    _replace_record(keystore, dataclasses.replace(ca, certificate=signer.certificate))
    with pytest.raises(KeyRecordCorrupt):
        keystore.ca_certificate()


# -- export and status ------------------------------------------------------------


def test_export_public_bundle_parses_with_standard_tools(keystore: KeyStore) -> None:
    keystore.rotate("inst-a")
    bundle = keystore.export_public("inst-a")
    assert "PRIVATE" not in bundle
    certs = x509.load_pem_x509_certificates(bundle.encode())
    # two pdf-signing versions and the CA
    assert len(certs) == 3
    assert certs[-1] == keystore.ca_certificate()
    current_cert = _cert(keystore, "inst-a", "pdf-signing")
    assert certs[0] == current_cert
    for record in keystore.records.versions("inst-a", "signing"):
        assert f"Key-Id: {record.key_id}\n" in bundle
    for record in keystore.records.all():
        if record.owner == "inst-a" or record.purpose == "ca":
            assert record.key_id in bundle
        else:
            assert record.key_id not in bundle


def test_export_public_blocks_hold_the_stored_public_keys(keystore: KeyStore) -> None:
    import base64
    import re

    bundle = keystore.export_public("inst-b")
    hpke = re.search(
        r"-----BEGIN LIAISON HPKE PUBLIC KEY-----\n(.*?)-----END LIAISON HPKE PUBLIC KEY-----",
        bundle,
        re.S,
    )
    assert hpke is not None
    raw = base64.b64decode("".join(hpke.group(1).split()))
    assert raw == keystore.records.current("inst-b", "encryption").public
    assert len(raw) == 1184 + 32
    spki = re.search(r"-----BEGIN PUBLIC KEY-----.*?-----END PUBLIC KEY-----\n", bundle, re.S)
    assert spki is not None
    verifier = serialization.load_pem_public_key(spki.group(0).encode())
    assert isinstance(verifier, ed25519.Ed25519PublicKey)
    assert verifier.public_bytes_raw() == keystore.records.current("inst-b", "signing").public


def test_export_public_of_unknown_owner_is_not_found(keystore: KeyStore) -> None:
    with pytest.raises(KeyNotFound):
        keystore.export_public("inst-z")


def test_status_lists_every_version_without_secrets(keystore: KeyStore) -> None:
    keystore.rotate("inst-c")
    rows = keystore.status()
    assert len(rows) == len(keystore.records.all())
    by_id = {row["key_id"]: row for row in rows}
    for record in keystore.records.all():
        row = by_id[record.key_id]
        assert row["owner"] == record.owner
        assert row["purpose"] == record.purpose
        assert row["version"] == record.version
        assert row["current"] == record.current
        assert row["created_at"] == record.created_at
        assert (row["not_after"] is None) == (record.certificate is None)
        assert (row["fingerprint"] is None) == (record.public is None)
    assert set(rows[0]) == {
        "key_id",
        "owner",
        "purpose",
        "version",
        "current",
        "created_at",
        "not_after",
        "fingerprint",
    }


def test_memory_store_enforces_unique_ids_and_versions(keystore: KeyStore) -> None:
    record = keystore.records.current("inst-a", "signing")
    with pytest.raises(ValueError):
        keystore.records.add(record)
    with pytest.raises(ValueError):
        keystore.records.add(dataclasses.replace(record, key_id="inst-a:signing:v1:ffffffff"))
    with pytest.raises(KeyNotFound):
        keystore.records.set_current("inst-b", "signing", record.key_id)
