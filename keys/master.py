"""The master key-encryption key, read from a file outside the database.

Every private key and every epoch key is stored wrapped under a sub-key of
the master key.  The app refuses to start without the file, and a check value
kept in the database tells a wrong master key from a right one before
anything is opened.  Formats: keys/README.md, "Master key file" and
"Master wraps".
"""

from __future__ import annotations

import base64
import binascii
import hmac
import os
import secrets
import stat
from pathlib import Path

from . import _aead, _codec
from ._files import fsync_dir, make_private_dir, write_new
from .errors import (
    EnvelopeTampered,
    MasterKeyExists,
    MasterKeyInvalid,
    MasterKeyMissing,
)

FILE_PREFIX = "LIAISON-MASTER-KEY-V1:"
KEY_SIZE = 32
WRAP_VERSION = _aead.SEAL_VERSION
SECRET_BOX_VERSION = _aead.SEAL_VERSION
CHECK_KEY_ID = "master-check"
CHECK_PURPOSE = "master-check"
CHECK_CONSTANT = b"Liaison master key check value, format 1"

_WRAP_LABEL = b"liaison/v1/master-wrap\x00"
_SECRET_BOX_LABEL = b"liaison/v1/secret-box\x00"
AUDIT_CHAIN_INFO = b"liaison/v1/master/audit-chain"
AUDIT_ANCHOR_INFO = b"liaison/v1/master/audit-anchor"


class MasterKey:
    """The key-encryption key.  Build it with :meth:`create` or :meth:`load`."""

    __slots__ = ("_wrap_key", "_master", "path")

    def __init__(self, raw: bytes, path: Path | None = None) -> None:
        if len(raw) != KEY_SIZE:
            raise ValueError("a master key is 32 bytes")
        self._master = bytes(raw)
        self._wrap_key = _aead.derive(raw, b"liaison/v1/master/wrap")
        self.path = path

    def __repr__(self) -> str:
        return f"MasterKey(path={self.path!s})"

    # -- the file ---------------------------------------------------------

    @classmethod
    def create(cls, path: Path) -> MasterKey:
        """Write a new random key to ``path`` (mode 0600); never overwrites.

        A missing parent directory is created with mode 0700; an existing
        one is left as it is.
        """
        path = Path(path)
        make_private_dir(path.parent)
        raw = secrets.token_bytes(KEY_SIZE)
        text = FILE_PREFIX + base64.b64encode(raw).decode("ascii") + "\n"
        try:
            write_new(path, text.encode("ascii"))
        except FileExistsError:
            raise MasterKeyExists(
                f"master key file {path} already exists; refusing to overwrite it"
            ) from None
        fsync_dir(path.parent)
        return cls(raw, path)

    @classmethod
    def load(cls, path: Path) -> MasterKey:
        """Read the key file; refuse a missing, corrupt or too open one."""
        path = Path(path)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            raise MasterKeyMissing(
                f"master key file {path} not found: create it with `flask keys init` "
                "or set the right path in the settings"
            ) from None
        except OSError as exc:
            raise MasterKeyInvalid(
                f"master key file {path} cannot be read: {exc.strerror}"
            ) from None
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise MasterKeyInvalid(f"master key file {path} is not a regular file")
            if info.st_mode & 0o077:
                raise MasterKeyInvalid(
                    f"master key file {path} is readable by others "
                    f"(mode {stat.S_IMODE(info.st_mode):04o}); run `chmod 600 {path}`"
                )
            data = os.read(fd, 4096)
        finally:
            os.close(fd)
        try:
            text = data.decode("ascii").strip()
        except UnicodeDecodeError:
            raise MasterKeyInvalid(f"master key file {path} is corrupt") from None
        if not text.startswith(FILE_PREFIX):
            raise MasterKeyInvalid(
                f"master key file {path} is corrupt (it does not start with {FILE_PREFIX})"
            )
        try:
            raw = base64.b64decode(text[len(FILE_PREFIX) :], validate=True)
        except binascii.Error:
            raise MasterKeyInvalid(f"master key file {path} is corrupt") from None
        if len(raw) != KEY_SIZE:
            raise MasterKeyInvalid(f"master key file {path} is corrupt (wrong length)")
        return cls(raw, path)

    # -- wrapping ---------------------------------------------------------

    @staticmethod
    def _wrap_aad(key_id: str, purpose: str) -> bytes:
        return (
            _WRAP_LABEL + _codec.u8(WRAP_VERSION) + _codec.string(key_id) + _codec.string(purpose)
        )

    def wrap(self, key_id: str, purpose: str, secret: bytes) -> bytes:
        """Encrypt ``secret`` under the master key, bound to id and purpose."""
        return _aead.seal(self._wrap_key, secret, self._wrap_aad(key_id, purpose))

    def unwrap(self, key_id: str, purpose: str, wrapped: bytes) -> bytes:
        """Inverse of :meth:`wrap`; ``MasterKeyInvalid`` on any failure."""
        try:
            return _aead.open_sealed(
                self._wrap_key, wrapped, self._wrap_aad(key_id, purpose), "master wrap"
            )
        except EnvelopeTampered:
            raise MasterKeyInvalid(
                f"wrapped key {key_id!r} ({purpose}) does not open under this master key"
            ) from None

    def check_value(self) -> bytes:
        """A wrap of a fixed constant; store it to detect a wrong master key."""
        return self.wrap(CHECK_KEY_ID, CHECK_PURPOSE, CHECK_CONSTANT)

    def verify_check_value(self, value: bytes) -> None:
        """Raise ``MasterKeyInvalid`` unless this master key made ``value``."""
        where = f" ({self.path})" if self.path else ""
        try:
            opened = self.unwrap(CHECK_KEY_ID, CHECK_PURPOSE, value)
        except MasterKeyInvalid:
            raise MasterKeyInvalid(
                f"the master key file{where} is not the one this database was initialised with"
            ) from None
        if not hmac.compare_digest(opened, CHECK_CONSTANT):
            raise MasterKeyInvalid(f"the master key check value{where} is wrong")

    def secret_box(self, purpose: str) -> SecretBox:
        """An AEAD for small application secrets, one sub-key per purpose."""
        if not purpose:
            raise ValueError("a secret box needs a purpose")
        key = _aead.derive(self._master, b"liaison/v1/master/secret-box/" + purpose.encode())
        return SecretBox(key, purpose)

    def audit_chain_key(self) -> bytes:
        """The HMAC-SHA256 key of the audit chain (keys/README.md, sub-keys): whoever can
        write the database but does not hold the master key cannot recompute the chain."""
        return _aead.derive(self._master, AUDIT_CHAIN_INFO)

    def audit_anchor_key(self) -> bytes:
        """The HMAC-SHA256 key of the audit chain's anchor file (keys/README.md, sub-keys)."""
        return _aead.derive(self._master, AUDIT_ANCHOR_INFO)


class SecretBox:
    """AES-256-GCM under an HKDF sub-key of the master key.

    ``open`` raises ``EnvelopeTampered`` on any failure: the master key has
    been checked at start (``verify_check_value``), so a value that does not
    open was altered, or is presented with the wrong associated data.
    """

    __slots__ = ("_key", "purpose")

    def __init__(self, key: bytes, purpose: str) -> None:
        self._key = key
        self.purpose = purpose

    def __repr__(self) -> str:
        return f"SecretBox(purpose={self.purpose!r})"

    def _aad(self, aad: bytes) -> bytes:
        return _SECRET_BOX_LABEL + _codec.u8(SECRET_BOX_VERSION) + aad

    def seal(self, plaintext: bytes, aad: bytes) -> bytes:
        return _aead.seal(self._key, plaintext, self._aad(aad))

    def open(self, sealed: bytes, aad: bytes) -> bytes:
        return _aead.open_sealed(self._key, sealed, self._aad(aad), "sealed secret")
