"""The narrow exceptions raised by :mod:`keys`.

Every failure that depends on stored data or on input from outside is one of
these; callers map them to HTTP answers or CLI messages.  Programming errors
(a malformed epoch name passed by our own code, a reader list that does not
match its header) raise ``ValueError`` instead.
"""

from __future__ import annotations


class KeysError(Exception):
    """Base class of every error raised by the key store."""


class MasterKeyMissing(KeysError):
    """The master key file does not exist."""


class MasterKeyInvalid(KeysError):
    """The master key file is unreadable, corrupt or too open, or a value
    wrapped under the master key does not open under this one."""


class MasterKeyExists(KeysError):
    """Refusing to overwrite an existing master key file."""


class KeyNotFound(KeysError):
    """No key with that id, owner or purpose exists."""


class KeyDestroyed(KeyNotFound):
    """The key existed and was deliberately destroyed (an epoch key or a
    deleted key version); what it protected can no longer be opened."""


class NotAReader(KeyNotFound):
    """The institution is not a reader of the envelope (no wrap for it)."""


class KeyRecordCorrupt(KeysError):
    """A stored key record is inconsistent with its wrapped private key."""


class EnvelopeTampered(KeysError):
    """A sealed value failed authentication or is malformed."""


class SignatureInvalid(KeysError):
    """A signature or a signed payload does not verify."""


class PayloadTooLarge(KeysError):
    """The content exceeds the configured maximum payload size."""
