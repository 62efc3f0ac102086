"""Length-prefixed binary encoding shared by the formats in keys/README.md.

All integers are unsigned big-endian.  A *string* is a u16 length followed by
that many bytes of UTF-8; a *blob* is a u32 length followed by the bytes.
"""

from __future__ import annotations

import struct

from .errors import KeysError

_U16 = struct.Struct(">H")
_U32 = struct.Struct(">I")
_U64 = struct.Struct(">Q")


def u8(value: int) -> bytes:
    return bytes((value,))


def u16(value: int) -> bytes:
    return _U16.pack(value)


def u32(value: int) -> bytes:
    return _U32.pack(value)


def u64(value: int) -> bytes:
    return _U64.pack(value)


def string(value: str) -> bytes:
    raw = value.encode("utf-8")
    if len(raw) > 0xFFFF:
        raise ValueError("string too long for a u16 length prefix")
    return _U16.pack(len(raw)) + raw


def blob(value: bytes) -> bytes:
    if len(value) > 0xFFFFFFFF:
        raise ValueError("blob too long for a u32 length prefix")
    return _U32.pack(len(value)) + value


class Cursor:
    """Reads the encoding above; every failure raises ``error``."""

    __slots__ = ("_data", "_pos", "_error")

    def __init__(self, data: bytes, error: type[KeysError]) -> None:
        self._data = memoryview(data)
        self._pos = 0
        self._error = error

    def fail(self, message: str) -> KeysError:
        return self._error(message)

    @property
    def remaining(self) -> int:
        return len(self._data) - self._pos

    def take(self, n: int) -> bytes:
        if n < 0 or self.remaining < n:
            raise self.fail("truncated value")
        out = self._data[self._pos : self._pos + n].tobytes()
        self._pos += n
        return out

    def take_view(self, n: int) -> memoryview:
        """Like :meth:`take` but without copying (for large ciphertexts)."""
        if n < 0 or self.remaining < n:
            raise self.fail("truncated value")
        out = self._data[self._pos : self._pos + n]
        self._pos += n
        return out

    def u8(self) -> int:
        return self.take(1)[0]

    def u16(self) -> int:
        value: int = _U16.unpack(self.take(2))[0]
        return value

    def u32(self) -> int:
        value: int = _U32.unpack(self.take(4))[0]
        return value

    def u64(self) -> int:
        value: int = _U64.unpack(self.take(8))[0]
        return value

    def string(self) -> str:
        raw = self.take(self.u16())
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise self.fail("invalid UTF-8") from None

    def blob(self) -> bytes:
        return self.take(self.u32())

    def end(self) -> None:
        if self.remaining:
            raise self.fail("trailing bytes")
