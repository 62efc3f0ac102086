"""The symmetric building blocks of the keys/ formats: the seal
``0x01 || nonce (12) || AES-256-GCM ciphertext and tag`` and HKDF-SHA256
sub-keys (keys/README.md, "Conventions")."""

from __future__ import annotations

import secrets

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from .errors import EnvelopeTampered

SEAL_VERSION = 1
NONCE_SIZE = 12
TAG_SIZE = 16
KEY_SIZE = 32


def derive(ikm: bytes, info: bytes) -> bytes:
    """HKDF-SHA256 without salt, 32 bytes."""
    return HKDF(algorithm=hashes.SHA256(), length=KEY_SIZE, salt=None, info=info).derive(ikm)


def seal(key: bytes, plaintext: bytes, aad: bytes) -> bytes:
    nonce = secrets.token_bytes(NONCE_SIZE)
    return bytes((SEAL_VERSION,)) + nonce + AESGCM(key).encrypt(nonce, plaintext, aad)


def open_sealed(key: bytes, sealed: bytes, aad: bytes, what: str) -> bytes:
    """Inverse of :func:`seal`; ``EnvelopeTampered`` naming ``what``."""
    if len(sealed) < 1 + NONCE_SIZE + TAG_SIZE or sealed[0] != SEAL_VERSION:
        raise EnvelopeTampered(f"{what} is malformed")
    try:
        return AESGCM(key).decrypt(sealed[1 : 1 + NONCE_SIZE], sealed[1 + NONCE_SIZE :], aad)
    except InvalidTag:
        raise EnvelopeTampered(f"{what} does not authenticate") from None
