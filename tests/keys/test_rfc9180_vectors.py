"""HPKE through `cryptography` against a published vector.

Source: RFC 9180, "Hybrid Public Key Encryption", appendix A.1.1
(DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-128-GCM, base mode),
https://www.rfc-editor.org/rfc/rfc9180#appendix-A.1.1, first encryption
(sequence number 0).

The RFC's encryptions carry associated data ("Count-0"), which the public
single-shot API does not take, so the vector is opened with the binding's
``_decrypt_with_aad`` that ``Suite.decrypt`` itself wraps.  This checks the
HPKE key schedule and base-mode framing that keys.envelope relies on (with
the hybrid KEM 0x647A instead of X25519, and AES-256-GCM).
"""

from __future__ import annotations

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.bindings._rust import openssl as rust_openssl
from cryptography.hazmat.primitives.asymmetric import x25519
from cryptography.hazmat.primitives.hpke import AEAD, KDF, KEM, Suite

SUITE = Suite(KEM.X25519, KDF.HKDF_SHA256, AEAD.AES_128_GCM)
INFO = bytes.fromhex("4f6465206f6e2061204772656369616e2055726e")  # "Ode on a Grecian Urn"
SK_RM = bytes.fromhex("4612c550263fc8ad58375df3f557aac531d26850903e55a9f23f21d8534e8ac8")
PK_RM = bytes.fromhex("3948cfe0ad1ddb695d780e59077195da6c56506b027329794ab02bca80815c4d")
ENC = bytes.fromhex("37fda3567bdbd628e88668c3c8d7e97d1d1253b6d4ea6d44c150f741f1bf4431")
AAD = bytes.fromhex("436f756e742d30")  # "Count-0"
PT = bytes.fromhex("4265617574792069732074727574682c20747275746820626561757479")
CT = bytes.fromhex(
    "f938558b5d72f1a23810b4be2ab4f84331acc02fc97babc53a52ae8218a355a96d8770ac83d07bea87e13c512a"
)


def _open(ciphertext: bytes, info: bytes = INFO, aad: bytes = AAD) -> bytes:
    key = x25519.X25519PrivateKey.from_private_bytes(SK_RM)
    return rust_openssl.hpke._decrypt_with_aad(SUITE, ciphertext, key, info=info, aad=aad)


def test_recipient_public_key_matches_rfc9180() -> None:
    key = x25519.X25519PrivateKey.from_private_bytes(SK_RM)
    assert key.public_key().public_bytes_raw() == PK_RM


def test_first_encryption_opens_to_the_published_plaintext() -> None:
    assert PT == b"Beauty is truth, truth beauty"
    assert _open(ENC + CT) == PT


def test_published_ciphertext_with_another_info_is_rejected() -> None:
    with pytest.raises(InvalidTag):
        _open(ENC + CT, info=INFO + b"!")


@pytest.mark.parametrize("index", [0, 31, 32, 60, len(ENC) + len(CT) - 1])
def test_published_ciphertext_with_a_flipped_byte_is_rejected(index: int) -> None:
    changed = bytearray(ENC + CT)
    changed[index] ^= 0x01
    with pytest.raises(InvalidTag):
        _open(bytes(changed))
