"""Sealed envelopes: one document version encrypted for its reader
institutions.

Construction (keys/README.md, "Envelopes", has the byte layouts):

1. a fresh 256-bit data key ``DK`` and a fresh 256-bit wrapping key ``WK``;
2. ``ciphertext = AES-256-GCM(DK, nonce, content, aad=canonical header)``;
3. the data key is sealed under ``WK`` and the result sealed under the
   retention-epoch key: ``epoch_wrap = Seal(epoch sub-key, Seal(WK, DK))``,
   both seals binding SHA-256 of the canonical header;
4. ``WK`` is wrapped with HPKE (RFC 9180, base mode, MLKEM768-X25519,
   HKDF-SHA256, AES-256-GCM) for the current encryption key of each reader,
   the HPKE ``info`` naming the document id and version, the reader, the key
   id and version, and SHA-256 of the canonical header.  When the header
   names a *subject* (the person the document is about, header format 2),
   what HPKE wraps for a reader is ``WK`` sealed under that reader's share key
   for the subject (keys/shares.py), preceded by the share key's generation.

Opening needs an institution's private key (for ``WK``), the epoch key (for
the outer seal) and, for a document about a person, the reader's share key:
destroying the epoch key erases the document even from a database backup,
and destroying the share key of (person, institution) erases that
institution's copy while the other readers' copies still open.  Re-sealing
under another epoch needs the epoch keys and the readers' share keys.

Errors of :meth:`Envelopes.open`:

- ``EnvelopeTampered``: any altered or malformed byte of the header, nonce,
  ciphertext, tag, epoch wrap, the reader's wrap or its recorded key id or
  version; a wrap taken from another document; a header from another
  envelope.  Nothing else is raised for bad input, and no plaintext is ever
  returned unless everything authenticated.
- ``NotAReader`` (a ``KeyNotFound``): the reader is not in the header's
  reader list, or its wrap was deleted.
- ``KeyDestroyed``: the epoch key or the reader's share key was destroyed,
  or the reader's key version the wrap was made for was deleted.
- ``KeyNotFound``: the epoch or share key file is missing although it was
  never destroyed (a misconfigured key directory), or the reader has no
  encryption key at all.

A flipped byte in another reader's wrap is detected when that reader opens
the envelope; it does not prevent the other readers from opening it (wraps
are stored and deleted independently).
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from typing import Any

from cryptography.exceptions import InternalError, InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hpke import AEAD, KDF, KEM, Suite

from . import _aead, _codec
from .epochs import check_epoch
from .errors import EnvelopeTampered, NotAReader, PayloadTooLarge
from .manifest import canonical
from .records import ENCRYPTION, KeyRecord, check_owner
from .shares import check_subject
from .store import KeyStore

HEADER_FORMAT = "liaison-envelope-header/1"
HEADER_FORMAT_SUBJECT = "liaison-envelope-header/2"
ENVELOPE_MAGIC = b"LSEV"
ENVELOPE_VERSION = 1
KEY_SIZE = 32
NONCE_SIZE = 12
TAG_SIZE = 16
HPKE_SUITE = Suite(KEM.MLKEM768_X25519, KDF.HKDF_SHA256, AEAD.AES_256_GCM)
WRAP_ENC_SIZE = KEM.MLKEM768_X25519.enc_length() + KEY_SIZE + TAG_SIZE
SHARE_SEAL_SIZE = 1 + NONCE_SIZE + KEY_SIZE + TAG_SIZE  # Seal(share sub-key, WK)
SHARE_PLAIN_SIZE = 4 + SHARE_SEAL_SIZE  # u32(generation) || Seal(...)
SHARE_WRAP_ENC_SIZE = KEM.MLKEM768_X25519.enc_length() + SHARE_PLAIN_SIZE + TAG_SIZE
_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
_MAX_ID = 200
_HEADER_FIELDS = frozenset(
    {"format", "document_id", "version", "kind", "sender", "readers", "created_at", "epoch"}
)
_HEADER_FIELDS_SUBJECT = _HEADER_FIELDS | {"subject"}

_WRAP_INFO_LABEL = b"liaison/v1/envelope-wrap\x00"
_EPOCH_AAD_LABEL = b"liaison/v1/envelope-epoch-seal\x00"
_DATA_KEY_AAD_LABEL = b"liaison/v1/envelope-data-key\x00"
_SHARE_AAD_LABEL = b"liaison/v1/envelope-share-seal\x00"


def _check_text(name: str, value: object) -> str:
    if not isinstance(value, str) or not value or len(value) > _MAX_ID:
        raise ValueError(f"header {name} must be a non-empty string of at most {_MAX_ID}")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        raise ValueError(f"header {name} contains a control character")
    return value


@dataclass(frozen=True)
class Header:
    """What an envelope binds as associated data.  ``readers`` is normalised
    to a sorted tuple; ``created_at`` to UTC.  ``subject``, when set, is the
    person the document is about: each reader's wrap then also needs that
    reader's share key for the subject (header format 2; format 1, without
    subject, is what documents about nobody and every older document use)."""

    document_id: str
    version: int
    kind: str
    sender: str
    readers: tuple[str, ...]
    created_at: datetime
    epoch: str
    subject: str | None = None

    def __post_init__(self) -> None:
        _check_text("document_id", self.document_id)
        _check_text("kind", self.kind)
        check_owner(self.sender)
        if type(self.version) is not int or not 1 <= self.version <= 0xFFFFFFFF:
            raise ValueError("header version must be an integer from 1 to 2**32-1")
        readers = tuple(self.readers)
        if not readers:
            raise ValueError("an envelope needs at least one reader")
        for reader in readers:
            check_owner(reader)
        if len(set(readers)) != len(readers):
            raise ValueError("duplicate reader")
        object.__setattr__(self, "readers", tuple(sorted(readers)))
        if not isinstance(self.created_at, datetime) or self.created_at.tzinfo is None:
            raise ValueError("header created_at must be an aware datetime")
        object.__setattr__(self, "created_at", self.created_at.astimezone(UTC))
        check_epoch(self.epoch)
        if self.subject is not None:
            check_subject(self.subject)

    def to_dict(self) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "format": HEADER_FORMAT,
            "document_id": self.document_id,
            "version": self.version,
            "kind": self.kind,
            "sender": self.sender,
            "readers": list(self.readers),
            "created_at": self.created_at.strftime(_TIME_FORMAT),
            "epoch": self.epoch,
        }
        if self.subject is not None:
            fields["format"] = HEADER_FORMAT_SUBJECT
            fields["subject"] = self.subject
        return fields

    def to_bytes(self) -> bytes:
        """The canonical encoding: canonical JSON (keys/manifest.py) of
        :meth:`to_dict`."""
        return self._encoded

    @cached_property
    def _encoded(self) -> bytes:
        # The header is immutable, so its encoding is computed once.
        return canonical(self.to_dict())

    def digest(self) -> bytes:
        """SHA-256 of :meth:`to_bytes`."""
        return hashlib.sha256(self.to_bytes()).digest()

    @classmethod
    def from_bytes(cls, data: bytes) -> Header:
        """Parse a canonical header; ``EnvelopeTampered`` if ``data`` is not
        exactly the canonical encoding of a valid header."""
        try:
            obj = json.loads(bytes(data).decode("utf-8"), parse_constant=_reject_constant)
            if not isinstance(obj, dict):
                raise ValueError("wrong header fields")
            expected = {HEADER_FORMAT: _HEADER_FIELDS,
                        HEADER_FORMAT_SUBJECT: _HEADER_FIELDS_SUBJECT}.get(str(obj.get("format")))
            if expected is None or set(obj) != expected:
                raise ValueError("unknown header format or wrong header fields")
            created = obj["created_at"]
            readers = obj["readers"]
            if not isinstance(created, str) or not isinstance(readers, list):
                raise ValueError("wrong header field types")
            header = cls(
                document_id=obj["document_id"],
                version=obj["version"],
                kind=obj["kind"],
                sender=obj["sender"],
                readers=tuple(readers),
                created_at=datetime.strptime(created, _TIME_FORMAT).replace(tzinfo=UTC),
                epoch=obj["epoch"],
                subject=obj.get("subject"),
            )
            if header.to_bytes() != data:
                raise ValueError("header is not canonical")
        except (ValueError, TypeError, KeyError, RecursionError):
            raise EnvelopeTampered("envelope header is malformed") from None
        return header


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed")


@dataclass(frozen=True)
class Wrap:
    """The wrapping key of one envelope, HPKE-encrypted to one reader's key
    version.  ``enc`` is the HPKE encapsulated key followed by the AEAD
    ciphertext and tag (``Suite.encrypt`` output)."""

    reader: str
    key_id: str
    key_version: int
    enc: bytes

    def to_bytes(self) -> bytes:
        return (
            _codec.string(self.reader)
            + _codec.string(self.key_id)
            + _codec.u32(self.key_version)
            + _codec.blob(self.enc)
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> Wrap:
        cursor = _codec.Cursor(data, EnvelopeTampered)
        wrap = cls._read(cursor)
        cursor.end()
        return wrap

    @classmethod
    def _read(cls, cursor: _codec.Cursor) -> Wrap:
        return cls(
            reader=cursor.string(),
            key_id=cursor.string(),
            key_version=cursor.u32(),
            enc=cursor.blob(),
        )


@dataclass(frozen=True)
class Envelope:
    """A sealed document version.  The parts can be stored apart (header and
    wraps in database rows, ciphertext in a blob store) and put back
    together with this constructor; see keys/README.md."""

    header: Header
    nonce: bytes
    ciphertext: bytes
    epoch_wrap: bytes
    wraps: tuple[Wrap, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "wraps", tuple(self.wraps))

    def __repr__(self) -> str:
        return (
            f"Envelope(document_id={self.header.document_id!r}, "
            f"version={self.header.version}, ciphertext={len(self.ciphertext)} bytes, "
            f"wraps={[w.reader for w in self.wraps]})"
        )

    def wrap_for(self, reader: str) -> Wrap | None:
        for wrap in self.wraps:
            if wrap.reader == reader:
                return wrap
        return None

    def to_bytes(self) -> bytes:
        parts = [
            ENVELOPE_MAGIC,
            _codec.u8(ENVELOPE_VERSION),
            _codec.blob(self.header.to_bytes()),
            self.nonce,
            _codec.blob(self.epoch_wrap),
            _codec.u16(len(self.wraps)),
        ]
        parts.extend(_codec.blob(wrap.to_bytes()) for wrap in self.wraps)
        parts.append(_codec.u64(len(self.ciphertext)))
        parts.append(self.ciphertext)
        return b"".join(parts)

    @classmethod
    def from_bytes(cls, data: bytes) -> Envelope:
        """Parse :meth:`to_bytes` output; ``EnvelopeTampered`` on anything
        malformed (authenticity is checked by :meth:`Envelopes.open`)."""
        cursor = _codec.Cursor(data, EnvelopeTampered)
        if cursor.take(4) != ENVELOPE_MAGIC or cursor.u8() != ENVELOPE_VERSION:
            raise EnvelopeTampered("not a Liaison envelope")
        header = Header.from_bytes(cursor.blob())
        nonce = cursor.take(NONCE_SIZE)
        epoch_wrap = cursor.blob()
        wraps = []
        for _ in range(cursor.u16()):
            wraps.append(Wrap.from_bytes(cursor.blob()))
        ciphertext = cursor.take(cursor.u64())
        cursor.end()
        readers = [w.reader for w in wraps]
        if len(set(readers)) != len(readers) or not set(readers) <= set(header.readers):
            raise EnvelopeTampered("envelope wraps do not match its readers")
        return cls(header, nonce, ciphertext, epoch_wrap, tuple(wraps))


def share_aad(header_digest: bytes, header: Header, reader: str, generation: int) -> bytes:
    """The associated data of a reader's share seal (keys/README.md, "Sealing")."""
    assert header.subject is not None
    return (
        _SHARE_AAD_LABEL
        + _codec.string(header.subject)
        + _codec.string(reader)
        + _codec.u32(generation)
        + header_digest
    )


def wrap_info(
    header_digest: bytes, header: Header, reader: str, key_id: str, key_version: int
) -> bytes:
    """The HPKE ``info`` of a wrap (keys/README.md, "Wraps")."""
    return (
        _WRAP_INFO_LABEL
        + _codec.string(header.document_id)
        + _codec.u32(header.version)
        + _codec.string(reader)
        + _codec.string(key_id)
        + _codec.u32(key_version)
        + header_digest
    )


class Envelopes:
    """Seals and opens envelopes with the keys of ``keystore``."""

    def __init__(self, keystore: KeyStore) -> None:
        self._keys = keystore

    def seal(self, content: bytes, header: Header, readers: Iterable[str], epoch: str) -> Envelope:
        """Seal ``content`` for ``readers`` (who must be exactly the
        header's readers) under retention ``epoch`` (the header's epoch)."""
        if len(content) > self._keys.max_payload:
            raise PayloadTooLarge(
                f"content of {len(content)} bytes exceeds the limit of "
                f"{self._keys.max_payload} bytes"
            )
        reader_list = list(readers)
        if sorted(reader_list) != list(header.readers):
            raise ValueError("readers must be exactly the header's readers")
        if epoch != header.epoch:
            raise ValueError("epoch must be the header's epoch")
        epoch_key = self._keys._epoch_subkey(epoch, b"envelope", create=True)  # KeyDestroyed
        header_bytes = header.to_bytes()
        digest = hashlib.sha256(header_bytes).digest()

        wraps = []
        wrapping_key = secrets.token_bytes(KEY_SIZE)
        for reader in header.readers:
            record = self._keys.records.current(reader, ENCRYPTION)
            public = self._keys._hpke_public(record)
            info = wrap_info(digest, header, reader, record.key_id, record.version)
            wrapped = wrapping_key
            if header.subject is not None:  # KeyDestroyed if the subject was erased
                generation, share_key = self._keys._share_subkey(
                    header.subject, reader, b"envelope")
                wrapped = _codec.u32(generation) + _aead.seal(
                    share_key, wrapping_key, share_aad(digest, header, reader, generation))
            enc = HPKE_SUITE.encrypt(wrapped, public, info=info)
            wraps.append(Wrap(reader, record.key_id, record.version, enc))

        data_key = secrets.token_bytes(KEY_SIZE)
        nonce = secrets.token_bytes(NONCE_SIZE)
        ciphertext = AESGCM(data_key).encrypt(nonce, content, header_bytes)
        inner = _aead.seal(wrapping_key, data_key, _DATA_KEY_AAD_LABEL + digest)
        epoch_wrap = _aead.seal(epoch_key, inner, _EPOCH_AAD_LABEL + digest)
        return Envelope(header, nonce, ciphertext, epoch_wrap, tuple(wraps))

    def open(self, envelope: Envelope, reader: str) -> bytes:
        """The content of ``envelope`` for ``reader``; see the module
        docstring for the errors."""
        header = envelope.header
        if not isinstance(header, Header):
            raise EnvelopeTampered("envelope header is malformed")
        if reader not in header.readers:
            raise NotAReader(f"{reader!r} is not a reader of this envelope")
        if (
            len(envelope.nonce) != NONCE_SIZE
            or not TAG_SIZE <= len(envelope.ciphertext) <= self._keys.max_payload + TAG_SIZE
        ):
            raise EnvelopeTampered("envelope nonce or ciphertext has a wrong length")
        found = [w for w in envelope.wraps if w.reader == reader]
        if not found:
            raise NotAReader(f"the envelope holds no wrap for {reader!r}")
        if len(found) > 1:
            raise EnvelopeTampered("the envelope holds two wraps for one reader")
        wrap = found[0]
        if len(wrap.enc) != (WRAP_ENC_SIZE if header.subject is None else SHARE_WRAP_ENC_SIZE):
            raise EnvelopeTampered("wrap has a wrong length")

        header_bytes = header.to_bytes()
        digest = hashlib.sha256(header_bytes).digest()
        record = self._reader_record(wrap)
        private = self._keys._hpke_private(record)
        info = wrap_info(digest, header, reader, wrap.key_id, wrap.key_version)
        try:
            wrapping_key = HPKE_SUITE.decrypt(wrap.enc, private, info=info)
        except (InvalidTag, ValueError, InternalError):
            raise EnvelopeTampered("wrap does not authenticate") from None

        # The header (so the subject) and the share generation are authentic from
        # here on: a missing share or epoch key is erasure or a configuration fault,
        # not tampering.
        if header.subject is not None:
            wrapping_key = self._open_share(wrapping_key, header, digest, reader)
        epoch_key = self._keys._epoch_subkey(header.epoch, b"envelope", create=False)
        inner = _aead.open_sealed(
            epoch_key, envelope.epoch_wrap, _EPOCH_AAD_LABEL + digest, "epoch wrap"
        )
        data_key = _aead.open_sealed(wrapping_key, inner, _DATA_KEY_AAD_LABEL + digest, "data key")
        try:
            return AESGCM(data_key).decrypt(envelope.nonce, envelope.ciphertext, header_bytes)
        except InvalidTag:
            raise EnvelopeTampered("envelope content does not authenticate") from None

    def _open_share(self, plain: bytes, header: Header, digest: bytes, reader: str) -> bytes:
        """``WK`` from a reader's share seal: ``u32(generation) || Seal(share sub-key, WK)``."""
        assert header.subject is not None
        generation = int.from_bytes(plain[:4], "big")
        if len(plain) != SHARE_PLAIN_SIZE or generation < 1:
            raise EnvelopeTampered("wrap has a wrong length")
        _, share_key = self._keys._share_subkey(header.subject, reader, b"envelope", generation)
        return _aead.open_sealed(share_key, plain[4:],
                                 share_aad(digest, header, reader, generation), "share seal")

    def _reader_record(self, wrap: Wrap) -> KeyRecord:
        if not isinstance(wrap.key_id, str) or type(wrap.key_version) is not int:
            raise EnvelopeTampered("wrap is malformed")
        return self._keys._record_for_opening(
            wrap.key_id, wrap.reader, ENCRYPTION, wrap.key_version
        )
