"""A person's identity fields, encrypted at rest, and the blind index used
to find a person without storing their identity in clear.

Each person has a data key.  Its sealed form (an opaque blob the portal
stores in the database) is the data key sealed under the person's share key
(keys/shares.py, owner ``platform``), then under the retention-epoch key and
then under the platform ``person-fields`` key::

    sealed = 0x02 || string(epoch) || string(key_id) || u32(generation)
             || Seal(PF, Seal(E, Seal(S, PK)))

so that erasing the blob, destroying the epoch key, or destroying the
person's share keys (an erasure) makes every field of that person
unreadable, even from a backup.  Format 1 (``0x01``, without the share
layer) is still read, and re-sealed as format 2 when its epoch moves.
Layouts: keys/README.md, "Personal fields" and "Blind index".

``decrypt`` raises ``EnvelopeTampered`` for any altered byte or a person id
that does not match, ``KeyDestroyed`` when the epoch or share key was
destroyed or the ``person-fields`` key version was deleted.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import unicodedata
from typing import Any

from . import _aead, _codec
from .epochs import check_epoch, is_epoch
from .errors import EnvelopeTampered
from .manifest import canonical, parse_canonical
from .records import BLIND_INDEX, PERSON_FIELDS, PLATFORM
from .store import KeyStore

SEALED_KEY_VERSION = 2
SEALED_KEY_VERSION_EPOCH_ONLY = 1  # before share keys: still opened
FIELDS_VERSION = 1
PERSON_KEY_SIZE = 32
PADDING_BLOCK = 64
_KEY_AAD_LABEL = b"liaison/v1/person-key\x00"
_EPOCH_AAD_LABEL = b"liaison/v1/person-key-epoch\x00"
_SHARE_AAD_LABEL = b"liaison/v1/person-key-share\x00"
_FIELDS_AAD_LABEL = b"liaison/v1/person-fields\x00"
_BLIND_INDEX_LABEL = b"liaison/v1/blind-index\x00"
PART_SEPARATOR = "\x1f"

# Characters dropped by normalise_identity besides white space: hyphens,
# dashes, minus signs, the soft hyphen and apostrophe look-alikes.
_DROPPED = frozenset(
    "-\u00ad\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe63\uff0d"
    "'\u2018\u2019\u201b\u02bc\u02b9\u0060\u00b4\uff07"
)


class PersonalFields:
    """Seals per-person data keys and the identity fields they protect."""

    def __init__(self, keystore: KeyStore) -> None:
        self._keys = keystore

    def new_person_key(self, person_id: str, epoch: str) -> bytes:
        """A fresh sealed per-person data key for retention ``epoch``, under the person's
        share key (``person_id`` is the share subject, keys/shares.py)."""
        return self._seal_key(secrets.token_bytes(PERSON_KEY_SIZE), person_id, check_epoch(epoch))

    def _seal_key(self, person_key: bytes, person_id: str, epoch: str) -> bytes:
        record = self._keys.records.current(PLATFORM, PERSON_FIELDS)
        generation, share_key = self._keys._share_subkey(person_id, PLATFORM, b"person")
        prefix = (_codec.u8(SEALED_KEY_VERSION) + _codec.string(epoch)
                  + _codec.string(record.key_id) + _codec.u32(generation))
        bind = prefix + _codec.string(person_id)
        shared = _aead.seal(share_key, person_key, _SHARE_AAD_LABEL + bind)
        epoch_key = self._keys._epoch_subkey(epoch, b"person", create=True)
        inner = _aead.seal(epoch_key, shared, _EPOCH_AAD_LABEL + bind)
        outer = _aead.seal(
            self._keys._symmetric(record, PERSON_FIELDS), inner, _KEY_AAD_LABEL + bind
        )
        return prefix + outer

    def _open_key(self, sealed_key: bytes, person_id: str) -> bytes:
        cursor = _codec.Cursor(sealed_key, EnvelopeTampered)
        version = cursor.u8()
        if version not in (SEALED_KEY_VERSION, SEALED_KEY_VERSION_EPOCH_ONLY):
            raise EnvelopeTampered("unknown sealed person key format")
        epoch = cursor.string()
        key_id = cursor.string()
        generation = cursor.u32() if version == SEALED_KEY_VERSION else None
        outer = cursor.take(cursor.remaining)
        if not is_epoch(epoch):
            raise EnvelopeTampered("sealed person key names no epoch")
        bind = (
            _codec.u8(version)
            + _codec.string(epoch)
            + _codec.string(key_id)
            + (_codec.u32(generation) if generation is not None else b"")
            + _codec.string(person_id)
        )
        record = self._keys._record_for_opening(key_id, PLATFORM, PERSON_FIELDS)
        wrap_key = self._keys._symmetric(record, PERSON_FIELDS)
        inner = _aead.open_sealed(wrap_key, outer, _KEY_AAD_LABEL + bind, "sealed person key")
        # Authentic from here: the epoch name and the share generation are the ones it was
        # sealed with.
        epoch_key = self._keys._epoch_subkey(epoch, b"person", create=False)
        person_key = _aead.open_sealed(
            epoch_key, inner, _EPOCH_AAD_LABEL + bind, "sealed person key"
        )
        if generation is not None:
            if generation < 1:
                raise EnvelopeTampered("sealed person key names no share generation")
            _, share_key = self._keys._share_subkey(person_id, PLATFORM, b"person", generation)
            person_key = _aead.open_sealed(
                share_key, person_key, _SHARE_AAD_LABEL + bind, "sealed person key"
            )
        if len(person_key) != PERSON_KEY_SIZE:
            raise EnvelopeTampered("sealed person key has a wrong length")
        return person_key

    @staticmethod
    def has_share_layer(sealed_key: bytes) -> bool:
        """Whether a sealed person key is of format 2 (under the person's share key)."""
        return bool(sealed_key) and sealed_key[0] == SEALED_KEY_VERSION

    def epoch_of_key(self, sealed_key: bytes) -> str:
        """The retention epoch a sealed person key names (unauthenticated; both formats)."""
        cursor = _codec.Cursor(sealed_key, EnvelopeTampered)
        cursor.u8()
        epoch = cursor.string()
        if not is_epoch(epoch):
            raise EnvelopeTampered("sealed person key names no epoch")
        return epoch

    def reseal(self, sealed_key: bytes, person_id: str, new_epoch: str) -> bytes:
        """The same person data key sealed under ``new_epoch`` (the
        retention horizon moved), the person's share key and the current
        ``person-fields`` key: a format 1 key comes out as format 2."""
        person_key = self._open_key(sealed_key, person_id)
        return self._seal_key(person_key, person_id, check_epoch(new_epoch))

    def encrypt(self, sealed_key: bytes, person_id: str, fields: dict[str, str]) -> bytes:
        """Encrypt ``fields`` (string to string) under the person's key.  The
        plaintext is padded to a multiple of 64 bytes so that the length of
        a name shows less."""
        if not isinstance(fields, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in fields.items()
        ):
            raise ValueError("fields must map strings to strings")
        person_key = self._open_key(sealed_key, person_id)
        body = canonical(fields)
        plain = _codec.u32(len(body)) + body
        plain += bytes(-len(plain) % PADDING_BLOCK)
        return _codec.u8(FIELDS_VERSION) + _aead.seal(person_key, plain, self._aad(person_id))

    def decrypt(self, sealed_key: bytes, person_id: str, blob: bytes) -> dict[str, str]:
        """The fields encrypted by :meth:`encrypt`."""
        person_key = self._open_key(sealed_key, person_id)
        if len(blob) < 1 or blob[0] != FIELDS_VERSION:
            raise EnvelopeTampered("unknown personal fields format")
        plain = _aead.open_sealed(person_key, blob[1:], self._aad(person_id), "personal fields")
        cursor = _codec.Cursor(plain, EnvelopeTampered)
        body = cursor.take(cursor.u32())
        if any(cursor.take(cursor.remaining)):
            raise EnvelopeTampered("personal fields padding is not zero")
        try:
            fields: Any = parse_canonical(body)
        except ValueError:
            raise EnvelopeTampered("personal fields are malformed") from None
        if not isinstance(fields, dict) or not all(isinstance(v, str) for v in fields.values()):
            raise EnvelopeTampered("personal fields are malformed")
        return fields

    @staticmethod
    def _aad(person_id: str) -> bytes:
        return _FIELDS_AAD_LABEL + _codec.u8(FIELDS_VERSION) + _codec.string(person_id)


def _strip_marks(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def normalise_identity(*parts: str) -> str:
    """The form a blind index is computed over: each part decomposed
    (NFKD) with its combining marks removed, case-folded, decomposed and
    stripped again, and rid of white space, control characters, hyphens and
    apostrophes; parts joined with U+001F.  ``"Lefèvre-D'Arc"`` and
    ``"LEFEVRE d arc"`` give the same form."""
    out = []
    for part in parts:
        if not isinstance(part, str):
            raise ValueError("identity parts are strings")
        text = _strip_marks(_strip_marks(part).casefold())
        out.append(
            "".join(
                c
                for c in text
                if not (c.isspace() or c in _DROPPED or unicodedata.category(c) == "Cc")
            )
        )
    return PART_SEPARATOR.join(out)


def blind_index(keystore: KeyStore, *parts: str) -> str:
    """Hex HMAC-SHA256, under the platform ``blind-index`` key, of
    ``normalise_identity(*parts)``; e.g. ``blind_index(ks, last_name,
    birth_date_iso)``."""
    if not parts:
        raise ValueError("a blind index needs at least one part")
    record = keystore.records.current(PLATFORM, BLIND_INDEX)
    key = keystore._symmetric(record, BLIND_INDEX)
    message = _BLIND_INDEX_LABEL + normalise_identity(*parts).encode("utf-8")
    return hmac.new(key, message, hashlib.sha256).hexdigest()
