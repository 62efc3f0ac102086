"""The key store: creates, rotates, deletes and loads every key of the
platform and of the institutions.

Private keys are only ever held here unwrapped, for the duration of one
operation, and never leave the ``keys`` package (the one exception is the
pyHanko signer object built by :func:`keys.pades.pdf_signer`).  Methods whose
name starts with an underscore are for the other modules of ``keys`` only.

Integrity of the records: a record's ``key_id`` has the form
``<owner>:<purpose>:v<version>:<8 hex>`` and is bound, with the purpose, as
associated data of the master wrap of the private key.  Every load checks
that the owner, purpose and version of the record match its id, and every
public key used is derived from the unwrapped private key and compared with
the stored one, so that an attacker who can only write to the database
cannot substitute a key of their own.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, mlkem, x25519
from cryptography.hazmat.primitives.hpke import (
    MLKEM768X25519PrivateKey,
    MLKEM768X25519PublicKey,
)

from . import _aead, certificates
from .epochs import EpochKeyStore, check_epoch
from .errors import (
    EnvelopeTampered,
    KeyDestroyed,
    KeyNotFound,
    KeyRecordCorrupt,
    KeysError,
)
from .master import MasterKey
from .records import (
    BLIND_INDEX,
    CA,
    ENCRYPTION,
    INSTITUTION_PURPOSES,
    PDF_SIGNING,
    PERSON_FIELDS,
    PLATFORM,
    PLATFORM_PURPOSES,
    PLATFORM_SIGNING,
    SIGNING,
    KeyRecord,
    KeyRecordStore,
    check_owner,
)
from .shares import ShareKeyStore

DEFAULT_MAX_PAYLOAD = 20 * 1024 * 1024
MLKEM768_SEED_SIZE = 64
MLKEM768_PUBLIC_SIZE = 1184
X25519_SIZE = 32
SYMMETRIC_SIZE = 32
HPKE_SUITE_TEXT = (
    "HPKE (RFC 9180) base mode; KEM 0x647A MLKEM768-X25519; "
    "KDF 0x0001 HKDF-SHA256; AEAD 0x0002 AES-256-GCM"
)

_KEY_ID_RE = re.compile(
    r"\A(?P<owner>[^:]+):(?P<purpose>[a-z-]+):v(?P<version>[1-9][0-9]{0,9}):[0-9a-f]{8}\Z"
)


def make_key_id(owner: str, purpose: str, version: int) -> str:
    return f"{owner}:{purpose}:v{version}:{secrets.token_hex(4)}"


def _pem(label: str, der: bytes) -> str:
    body = base64.b64encode(der).decode("ascii")
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return f"-----BEGIN {label}-----\n" + "\n".join(lines) + f"\n-----END {label}-----\n"


class PublicKeyCache:
    """Encryption public keys already checked against their private halves, by key id and the
    exact public bytes of the record: a record whose stored public key changed is checked
    again. Checking costs an unwrap and a key derivation; sealing a fiche seals for two
    institutions several times, and a process may share one cache between its key stores."""

    LIMIT = 4096

    def __init__(self) -> None:
        self._keys: dict[tuple[str, bytes], MLKEM768X25519PublicKey] = {}
        self._lock = threading.Lock()

    def get(self, record: KeyRecord) -> MLKEM768X25519PublicKey | None:
        if record.public is None:
            return None
        return self._keys.get((record.key_id, record.public))

    def put(self, record: KeyRecord, public: MLKEM768X25519PublicKey) -> None:
        if record.public is None:
            return
        with self._lock:
            if len(self._keys) >= self.LIMIT:
                self._keys.clear()
            self._keys[(record.key_id, record.public)] = public


class KeyStore:
    """All keys, their records and the retention-epoch keys.

    ``now`` is the clock (returns an aware datetime); ``max_payload`` is the
    largest content :class:`keys.envelope.Envelopes` will seal; ``shares`` the
    share keys (keys/shares.py), by default in ``shares/`` beside the epoch
    directory.
    """

    def __init__(
        self,
        master: MasterKey,
        records: KeyRecordStore,
        epochs: EpochKeyStore,
        now: Callable[[], datetime],
        max_payload: int = DEFAULT_MAX_PAYLOAD,
        checked_publics: PublicKeyCache | None = None,
        shares: ShareKeyStore | None = None,
    ) -> None:
        if max_payload < 1:
            raise ValueError("max_payload must be positive")
        self._master = master
        self.records = records
        self.epochs = epochs
        # Beside the epoch keys unless told otherwise (LIAISON_SHARE_KEY_DIR's default too).
        self.shares = shares if shares is not None else ShareKeyStore(
            epochs.directory.parent / "shares", master)
        self._clock = now
        self.max_payload = max_payload
        self._publics = PublicKeyCache() if checked_publics is None else checked_publics

    def __repr__(self) -> str:
        return f"KeyStore(epochs={self.epochs!r}, shares={self.shares!r})"

    def now(self) -> datetime:
        value = self._clock()
        if value.tzinfo is None:
            raise ValueError("the key store clock must return an aware datetime")
        return value.astimezone(UTC)

    # -- creating keys ------------------------------------------------------

    def init_platform(self, name: str) -> list[KeyRecord]:
        """Create the platform keys that are missing (CA, platform-signing,
        blind-index, person-fields); returns the records created."""
        if not name:
            raise ValueError("the platform needs a name")
        created = []
        for purpose in PLATFORM_PURPOSES:
            if not self._has_current(PLATFORM, purpose):
                created.append(self._create(PLATFORM, purpose, name))
        return created

    def ensure_institution(self, owner: str, name: str) -> list[KeyRecord]:
        """Create the institution's encryption, signing and pdf-signing keys
        that are missing (version 1); returns the records created."""
        check_owner(owner)
        if owner == PLATFORM:
            raise ValueError("'platform' is reserved for the platform keys")
        if not name:
            raise ValueError("an institution needs a name")
        self.records.current(PLATFORM, CA)  # KeyNotFound: run init_platform first
        created = []
        for purpose in INSTITUTION_PURPOSES:
            if not self._has_current(owner, purpose):
                created.append(self._create(owner, purpose, name))
        return created

    def rotate(self, owner: str, name: str | None = None) -> list[KeyRecord]:
        """Make a new current version of each of the institution's three
        keys.  Older versions stay usable for opening and verifying until
        :meth:`delete_version`.  ``name`` defaults to the organisation name
        of the current certificate."""
        check_owner(owner)
        if owner == PLATFORM:
            raise ValueError("use rotate_platform() for platform keys")
        if name is None:
            cert = self._certificate(self.records.current(owner, PDF_SIGNING))
            name = certificates.organisation(cert)
        return [self._create(owner, purpose, name) for purpose in INSTITUTION_PURPOSES]

    def rotate_platform(self, purpose: str) -> KeyRecord:
        """Rotate the platform-signing or person-fields key.  The CA and the
        blind-index key do not rotate: a new blind-index key would orphan
        every stored index."""
        if purpose not in (PLATFORM_SIGNING, PERSON_FIELDS):
            raise ValueError(f"the platform {purpose!r} key does not rotate")
        return self._create(PLATFORM, purpose, "")

    def delete_version(self, key_id: str) -> None:
        """Delete a non-current key version; what it alone protects can no
        longer be opened (``KeyDestroyed``)."""
        record = self.records.get(key_id)
        if record.current:
            raise KeysError(f"refusing to delete {key_id!r}: it is the current version")
        self.records.delete(key_id)

    def _has_current(self, owner: str, purpose: str) -> bool:
        try:
            self.records.current(owner, purpose)
        except KeyNotFound:
            return False
        return True

    def _create(self, owner: str, purpose: str, name: str) -> KeyRecord:
        existing = self.records.versions(owner, purpose)
        version = max((r.version for r in existing), default=0) + 1
        key_id = make_key_id(owner, purpose, version)
        secret, public, certificate = self._generate(purpose, name)
        record = KeyRecord(
            key_id=key_id,
            owner=owner,
            purpose=purpose,
            version=version,
            public=public,
            wrapped_private=self._master.wrap(key_id, purpose, secret),
            certificate=certificate,
            created_at=self.now(),
            current=False,
        )
        self.records.add(record)
        self.records.set_current(owner, purpose, key_id)
        return self.records.get(key_id)

    def _generate(self, purpose: str, name: str) -> tuple[bytes, bytes | None, bytes | None]:
        if purpose == ENCRYPTION:
            kem = mlkem.MLKEM768PrivateKey.generate()
            dh = x25519.X25519PrivateKey.generate()
            return (
                kem.private_bytes_raw() + dh.private_bytes_raw(),
                kem.public_key().public_bytes_raw() + dh.public_key().public_bytes_raw(),
                None,
            )
        if purpose in (SIGNING, PLATFORM_SIGNING):
            signer = ed25519.Ed25519PrivateKey.generate()
            return signer.private_bytes_raw(), signer.public_key().public_bytes_raw(), None
        if purpose in (BLIND_INDEX, PERSON_FIELDS):
            return secrets.token_bytes(SYMMETRIC_SIZE), None, None
        if purpose in (CA, PDF_SIGNING):
            ec_key = ec.generate_private_key(ec.SECP256R1())
            if purpose == CA:
                cert = certificates.make_ca(ec_key, name, certificates.wall_clock())
            else:
                ca_key, ca_cert = self._ca()
                cert = certificates.issue_signer(
                    ca_key, ca_cert, ec_key.public_key(), name, certificates.wall_clock()
                )
            return (
                ec_key.private_bytes(
                    serialization.Encoding.DER,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                ),
                ec_key.public_key().public_bytes(
                    serialization.Encoding.DER,
                    serialization.PublicFormat.SubjectPublicKeyInfo,
                ),
                cert.public_bytes(serialization.Encoding.DER),
            )
        raise ValueError(f"unknown key purpose {purpose!r}")

    # -- loading keys (for the other keys/ modules) --------------------------

    def _check_record(self, record: KeyRecord, purpose: str) -> None:
        match = _KEY_ID_RE.match(record.key_id)
        if (
            record.purpose != purpose
            or match is None
            or match["owner"] != record.owner
            or match["purpose"] != record.purpose
            or int(match["version"]) != record.version
        ):
            raise KeyRecordCorrupt(
                f"key record {record.key_id!r} does not match its owner, purpose "
                f"or version (expected a {purpose} key)"
            )

    def _record_for_opening(
        self, key_id: str, owner: str, purpose: str, version: int | None = None
    ) -> KeyRecord:
        """The record named by a stored ciphertext, before that ciphertext
        is authenticated: every mismatch is ``EnvelopeTampered``; a version
        missing below the newest one of ``(owner, purpose)`` was deleted
        (``KeyDestroyed``)."""
        match = _KEY_ID_RE.match(key_id)
        if (
            match is None
            or match["owner"] != owner
            or match["purpose"] != purpose
            or (version is not None and int(match["version"]) != version)
        ):
            raise EnvelopeTampered("the key id does not name the expected key")
        named_version = int(match["version"])
        try:
            record = self.records.get(key_id)
        except KeyNotFound:
            numbers = {r.version for r in self.records.versions(owner, purpose)}
            if not numbers:
                raise KeyNotFound(f"{owner!r} has no {purpose} key") from None
            if named_version in numbers or named_version > max(numbers):
                raise EnvelopeTampered("the key id names no stored key") from None
            raise KeyDestroyed(
                f"{owner!r} {purpose} key version {named_version} was deleted"
            ) from None
        if record.owner != owner or record.purpose != purpose or record.version != named_version:
            raise EnvelopeTampered("the key id does not match its record")
        return record

    def _secret(self, record: KeyRecord, purpose: str) -> bytes:
        """The unwrapped private half of ``record``."""
        self._check_record(record, purpose)
        return self._master.unwrap(record.key_id, record.purpose, record.wrapped_private)

    def _check_public(self, record: KeyRecord, derived: bytes) -> None:
        if record.public is None or record.public != derived:
            raise KeyRecordCorrupt(
                f"the public key stored for {record.key_id!r} is not the one of its private key"
            )

    def _hpke_components(
        self, record: KeyRecord
    ) -> tuple[mlkem.MLKEM768PrivateKey, x25519.X25519PrivateKey, bytes]:
        secret = self._secret(record, ENCRYPTION)
        if len(secret) != MLKEM768_SEED_SIZE + X25519_SIZE:
            raise KeyRecordCorrupt(f"encryption key {record.key_id!r} has a bad length")
        kem = mlkem.MLKEM768PrivateKey.from_seed_bytes(secret[:MLKEM768_SEED_SIZE])
        dh = x25519.X25519PrivateKey.from_private_bytes(secret[MLKEM768_SEED_SIZE:])
        public_raw = kem.public_key().public_bytes_raw() + dh.public_key().public_bytes_raw()
        self._check_public(record, public_raw)
        return kem, dh, public_raw

    def _hpke_private(self, record: KeyRecord) -> MLKEM768X25519PrivateKey:
        kem, dh, _ = self._hpke_components(record)
        return MLKEM768X25519PrivateKey(kem, dh)

    def _hpke_public(self, record: KeyRecord) -> MLKEM768X25519PublicKey:
        """The public key to seal for, once its record's stored public half has been checked
        against its private half (a swapped public key would seal for someone else)."""
        known = self._publics.get(record)
        if known is not None:
            return known
        kem, dh, _ = self._hpke_components(record)
        public = MLKEM768X25519PublicKey(kem.public_key(), dh.public_key())
        self._publics.put(record, public)
        return public

    def _ed25519_private(self, record: KeyRecord, purpose: str) -> ed25519.Ed25519PrivateKey:
        signer = ed25519.Ed25519PrivateKey.from_private_bytes(self._secret(record, purpose))
        self._check_public(record, signer.public_key().public_bytes_raw())
        return signer

    def _ed25519_public(self, record: KeyRecord, purpose: str) -> ed25519.Ed25519PublicKey:
        return self._ed25519_private(record, purpose).public_key()

    def _symmetric(self, record: KeyRecord, purpose: str) -> bytes:
        secret = self._secret(record, purpose)
        if len(secret) != SYMMETRIC_SIZE:
            raise KeyRecordCorrupt(f"key {record.key_id!r} has a bad length")
        return secret

    def _ec_private(self, record: KeyRecord, purpose: str) -> ec.EllipticCurvePrivateKey:
        key = serialization.load_der_private_key(self._secret(record, purpose), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise KeyRecordCorrupt(f"key {record.key_id!r} is not an EC key")
        self._check_public(
            record,
            key.public_key().public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            ),
        )
        return key

    def _certificate(self, record: KeyRecord) -> x509.Certificate:
        if record.certificate is None:
            raise KeyRecordCorrupt(f"key {record.key_id!r} has no certificate")
        cert = x509.load_der_x509_certificate(record.certificate)
        spki = cert.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self._check_public(record, spki)
        return cert

    def _ca(self) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
        record = self.records.current(PLATFORM, CA)
        return self._ec_private(record, CA), self._certificate(record)

    def ca_certificate(self) -> x509.Certificate:
        """The platform CA certificate (checked against the CA private key)."""
        return self._ca()[1]

    def _pdf_signing(
        self, owner: str
    ) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate, x509.Certificate]:
        record = self.records.current(owner, PDF_SIGNING)
        key = self._ec_private(record, PDF_SIGNING)
        return key, self._certificate(record), self.ca_certificate()

    def _epoch_subkey(self, epoch: str, label: bytes, *, create: bool) -> bytes:
        """An HKDF sub-key of the epoch key, one per use (``label``)."""
        check_epoch(epoch)
        epoch_key = self.epochs.key(epoch, create=create)
        return _aead.derive(epoch_key, b"liaison/v1/epoch/" + label + b"/" + epoch.encode("ascii"))

    def _share_subkey(self, subject: str, owner: str, label: bytes,
                      generation: int | None = None) -> tuple[int, bytes]:
        """An HKDF sub-key of the share key of ``(subject, owner)``, one per use (``label``):
        of ``generation`` when opening (``KeyDestroyed`` / ``KeyNotFound``), else of the live
        generation, created on first use (sealing)."""
        if generation is None:
            generation, share_key = self.shares.current(subject, owner)
        else:
            share_key = self.shares.key(subject, owner, generation)
        return generation, _aead.derive(share_key, b"liaison/v1/share/" + label)

    # -- public views ---------------------------------------------------------

    def export_public(self, owner: str) -> str:
        """A PEM bundle of an institution's public keys and certificates and
        of the platform CA certificate, for offline verification by a
        partner.  Every non-deleted version is exported, current first; the
        lines before each PEM block (RFC 7468 explanatory text) name its key
        id, purpose, version and algorithm.  Format: keys/README.md."""
        check_owner(owner)
        exported_at = self.now().strftime("%Y-%m-%dT%H:%M:%SZ")
        parts = [
            "Liaison public key bundle\n"
            f"Owner: {owner}\n"
            f"Exported-At: {exported_at}\n"
            "Format: keys/README.md, section 'Public key bundle'\n"
        ]
        found = False
        for purpose in INSTITUTION_PURPOSES:
            versions = sorted(
                self.records.versions(owner, purpose),
                key=lambda r: (not r.current, -r.version),
            )
            for record in versions:
                found = True
                parts.append(self._export_record(record))
        if not found:
            raise KeyNotFound(f"no keys for {owner!r}")
        parts.append(self._export_record(self.records.current(PLATFORM, CA)))
        return "\n".join(parts)

    def _export_record(self, record: KeyRecord) -> str:
        head = (
            f"Key-Id: {record.key_id}\n"
            f"Owner: {record.owner}\n"
            f"Purpose: {record.purpose}\n"
            f"Version: {record.version}\n"
            f"Current: {'yes' if record.current else 'no'}\n"
        )
        if record.purpose == ENCRYPTION:
            _, _, public_raw = self._hpke_components(record)
            return (
                head
                + f"Algorithm: {HPKE_SUITE_TEXT}\n"
                + "Encoding: ML-KEM-768 encapsulation key (1184 bytes) "
                + "|| X25519 public key (32 bytes)\n"
                + _pem("LIAISON HPKE PUBLIC KEY", public_raw)
            )
        if record.purpose == SIGNING:
            verifier = self._ed25519_public(record, SIGNING)
            return (
                head
                + "Algorithm: Ed25519 (RFC 8032), SubjectPublicKeyInfo (RFC 8410)\n"
                + verifier.public_bytes(
                    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
                ).decode("ascii")
            )
        cert = self._certificate(record)
        return (
            head
            + "Algorithm: ECDSA P-256 with SHA-256, X.509 certificate\n"
            + f"Not-After: {cert.not_valid_after_utc.strftime('%Y-%m-%dT%H:%M:%SZ')}\n"
            + cert.public_bytes(serialization.Encoding.PEM).decode("ascii")
        )

    def status(self) -> list[dict[str, Any]]:
        """One dict per stored key version: ``key_id``, ``owner``,
        ``purpose``, ``version``, ``current``, ``created_at`` (datetime),
        ``not_after`` (certificate expiry as datetime, or ``None``) and
        ``fingerprint`` (first 16 hex digits of SHA-256 of the public key, or
        ``None`` for symmetric keys).  Reads no private key."""
        rows: list[dict[str, Any]] = []
        for record in self.records.all():
            not_after = None
            if record.certificate is not None:
                cert = x509.load_der_x509_certificate(record.certificate)
                not_after = cert.not_valid_after_utc
            rows.append(
                {
                    "key_id": record.key_id,
                    "owner": record.owner,
                    "purpose": record.purpose,
                    "version": record.version,
                    "current": record.current,
                    "created_at": record.created_at,
                    "not_after": not_after,
                    "fingerprint": (
                        hashlib.sha256(record.public).hexdigest()[:16]
                        if record.public is not None
                        else None
                    ),
                }
            )
        return rows
