"""Canonical encoding and Ed25519 signatures of manifests.

Canonical encoding (keys/README.md, "Canonical JSON") is RFC 8785 (JCS)
restricted to values without floating point numbers:

- ``None``, ``True``, ``False`` -> ``null``, ``true``, ``false``;
- integers in [-(2**53-1), 2**53-1] -> shortest decimal form;
- strings -> JSON strings, UTF-8, escaping only ``"``, ``\\`` and the
  control characters U+0000-U+001F (``\\b \\f \\n \\r \\t`` short forms, the
  others as ``\\u00xx`` with lowercase hex); lone surrogates are rejected;
- lists and tuples -> arrays; dicts (string keys only) -> objects with
  members sorted by the UTF-16 code units of their keys;
- no whitespace anywhere.

Anything else (floats, NaN, bytes, datetimes, sets...) raises ``ValueError``:
the caller converts times to ISO 8601 strings and bytes to hex or base64.

Signatures: Ed25519 (RFC 8032) over ``b"liaison/v1/manifest\\x00" + payload``
with an institution's current ``signing`` key, or over
``b"liaison/v1/platform\\x00" + payload`` with the platform's
``platform-signing`` key (audit checkpoints, deletion reports).  Receipts
are manifests signed by the recipient.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ed25519

from .errors import KeyNotFound, SignatureInvalid

if TYPE_CHECKING:
    from .store import KeyStore

MAX_SAFE_INTEGER = 2**53 - 1
MANIFEST_CONTEXT = b"liaison/v1/manifest\x00"
PLATFORM_CONTEXT = b"liaison/v1/platform\x00"
_MAX_DEPTH = 32


def canonical(obj: object) -> bytes:
    """The canonical UTF-8 JSON encoding of ``obj`` (see module docstring)."""
    out: list[str] = []
    _encode(obj, out, 0)
    try:
        return "".join(out).encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("strings must not contain lone surrogates") from None


def _encode(obj: object, out: list[str], depth: int) -> None:
    if depth > _MAX_DEPTH:
        raise ValueError("value nested too deeply")
    if obj is None:
        out.append("null")
    elif obj is True:
        out.append("true")
    elif obj is False:
        out.append("false")
    elif isinstance(obj, int):
        if not -MAX_SAFE_INTEGER <= obj <= MAX_SAFE_INTEGER:
            raise ValueError("integers must be within +-(2**53-1)")
        out.append(str(int(obj)))
    elif isinstance(obj, float):
        raise ValueError("floating point numbers are not allowed in canonical JSON")
    elif isinstance(obj, str):
        out.append(json.dumps(str(obj), ensure_ascii=False))
    elif isinstance(obj, list | tuple):
        out.append("[")
        for i, item in enumerate(obj):
            if i:
                out.append(",")
            _encode(item, out, depth + 1)
        out.append("]")
    elif isinstance(obj, dict):
        for key in obj:
            if not isinstance(key, str):
                raise ValueError("object keys must be strings")
        out.append("{")
        for i, key in enumerate(sorted(obj, key=lambda k: k.encode("utf-16-be", "surrogatepass"))):
            if i:
                out.append(",")
            out.append(json.dumps(str(key), ensure_ascii=False))
            out.append(":")
            _encode(obj[key], out, depth + 1)
        out.append("}")
    else:
        raise ValueError(f"{type(obj).__name__} is not allowed in canonical JSON")


def _no_float(text: str) -> Any:
    raise ValueError("floating point numbers are not allowed")


def parse_canonical(data: bytes) -> Any:
    """Parse canonical JSON; ``ValueError`` unless ``data`` is exactly the
    canonical encoding of what it parses to."""
    try:
        value = json.loads(
            bytes(data).decode("utf-8"), parse_float=_no_float, parse_constant=_no_float
        )
    except (UnicodeDecodeError, RecursionError) as exc:
        raise ValueError(str(exc)) from None
    if canonical(value) != data:
        raise ValueError("not in canonical form")
    return value


def content_digest(content: bytes) -> str:
    """Hex SHA-256 of ``content``, as manifests name it."""
    return hashlib.sha256(content).hexdigest()


@dataclass(frozen=True)
class SignedManifest:
    """A canonical payload, its Ed25519 signature and the signing key."""

    payload: bytes
    signature: bytes
    key_id: str
    key_version: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "payload": base64.b64encode(self.payload).decode("ascii"),
            "signature": base64.b64encode(self.signature).decode("ascii"),
            "key_id": self.key_id,
            "key_version": self.key_version,
        }

    def to_bytes(self) -> bytes:
        """Canonical JSON of :meth:`to_dict` (for export and storage)."""
        return canonical(self.to_dict())

    @classmethod
    def from_bytes(cls, data: bytes) -> SignedManifest:
        """Inverse of :meth:`to_bytes`; ``SignatureInvalid`` if malformed."""
        try:
            obj = parse_canonical(data)
            if not isinstance(obj, dict) or set(obj) != {
                "payload",
                "signature",
                "key_id",
                "key_version",
            }:
                raise ValueError("wrong fields")
            if not isinstance(obj["key_id"], str) or type(obj["key_version"]) is not int:
                raise ValueError("wrong field types")
            return cls(
                payload=base64.b64decode(obj["payload"], validate=True),
                signature=base64.b64decode(obj["signature"], validate=True),
                key_id=obj["key_id"],
                key_version=obj["key_version"],
            )
        except (ValueError, TypeError, binascii.Error):
            raise SignatureInvalid("signed manifest is malformed") from None


def _sign(
    keystore: KeyStore, owner: str, purpose: str, context: bytes, document: dict[str, Any]
) -> SignedManifest:
    if not isinstance(document, dict):
        raise ValueError("a manifest is a dict")
    payload = canonical(document)
    record = keystore.records.current(owner, purpose)
    key = keystore._ed25519_private(record, purpose)
    return SignedManifest(
        payload=payload,
        signature=key.sign(context + payload),
        key_id=record.key_id,
        key_version=record.version,
    )


def _decode(signed: SignedManifest) -> dict[str, Any]:
    try:
        document = parse_canonical(signed.payload)
    except ValueError:
        raise SignatureInvalid("signed payload is not canonical JSON") from None
    if not isinstance(document, dict):
        raise SignatureInvalid("signed payload is not an object")
    return document


def verify_with_key(
    public_key: ed25519.Ed25519PublicKey, signed: SignedManifest, *, platform: bool = False
) -> dict[str, Any]:
    """Verify with a known public key (offline, e.g. from an exported
    bundle); returns the manifest or raises ``SignatureInvalid``."""
    context = PLATFORM_CONTEXT if platform else MANIFEST_CONTEXT
    try:
        public_key.verify(bytes(signed.signature), context + bytes(signed.payload))
    except InvalidSignature:
        raise SignatureInvalid("signature does not verify") from None
    return _decode(signed)


def _verify(
    keystore: KeyStore,
    signed: SignedManifest,
    purpose: str,
    context: bytes,
    expected_owner: str | None,
) -> dict[str, Any]:
    try:
        record = keystore.records.get(signed.key_id)
    except KeyNotFound:
        raise SignatureInvalid(f"signed by an unknown or deleted key {signed.key_id!r}") from None
    if record.purpose != purpose or record.version != signed.key_version:
        raise SignatureInvalid("signing key id and version do not match")
    if expected_owner is not None and record.owner != expected_owner:
        raise SignatureInvalid(f"signed by {record.owner!r}, not {expected_owner!r}")
    public_key = keystore._ed25519_public(record, purpose)
    return verify_with_key(public_key, signed, platform=context == PLATFORM_CONTEXT)


def sign_manifest(keystore: KeyStore, owner: str, manifest: dict[str, Any]) -> SignedManifest:
    """Sign ``manifest`` with ``owner``'s current Ed25519 signing key."""
    return _sign(keystore, owner, "signing", MANIFEST_CONTEXT, manifest)


def verify_manifest(
    keystore: KeyStore, signed: SignedManifest, expected_owner: str | None = None
) -> dict[str, Any]:
    """The verified manifest; ``SignatureInvalid`` if the signature, the key
    id or version, the owner (when ``expected_owner`` is given) or the
    payload's canonical form is wrong, or the key is unknown or deleted."""
    return _verify(keystore, signed, "signing", MANIFEST_CONTEXT, expected_owner)


def sign_platform(keystore: KeyStore, document: dict[str, Any]) -> SignedManifest:
    """Sign a platform document (audit checkpoint, deletion report)."""
    return _sign(keystore, "platform", "platform-signing", PLATFORM_CONTEXT, document)


def verify_platform(keystore: KeyStore, signed: SignedManifest) -> dict[str, Any]:
    """Verify a platform-signed document; ``SignatureInvalid`` on failure."""
    return _verify(keystore, signed, "platform-signing", PLATFORM_CONTEXT, "platform")
