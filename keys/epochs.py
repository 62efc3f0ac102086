"""Retention-epoch keys: one symmetric key per calendar month of deletion
horizon, each in its own file outside the database.

Destroying an epoch key makes everything sealed under it unreadable, even
from a database backup.  A tombstone file stays behind so that a destroyed
epoch is never silently recreated by a later ``key()`` call.

Files (keys/README.md, "Epoch files"): ``<directory>/<YYYY-MM>.key`` holds a
master wrap of the 32-byte key (key id ``epoch:<YYYY-MM>``, purpose
``epoch``); ``<directory>/<YYYY-MM>.destroyed`` is the tombstone.

Several processes may share the directory: the first ``key()`` for an epoch
publishes its file with ``link()``, which fails if another process won the
race, and the loser then reads the winner's key.  Nothing is cached in
memory, so a destruction is seen by every process at once.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
from datetime import date
from pathlib import Path

from ._files import fsync_dir, make_private_dir, write_new
from .errors import KeyDestroyed, KeyNotFound
from .master import MasterKey

EPOCH_KEY_SIZE = 32
EPOCH_PURPOSE = "epoch"
_EPOCH_RE = re.compile(r"\A[0-9]{4}-(0[1-9]|1[0-2])\Z")
_TOMBSTONE_TEXT = "liaison epoch key destroyed: {epoch}\n"


def epoch_of(d: date) -> str:
    """The epoch name (``YYYY-MM``) of a deletion-horizon date."""
    return f"{d.year:04d}-{d.month:02d}"


def is_epoch(value: str) -> bool:
    return bool(_EPOCH_RE.match(value))


def check_epoch(value: str) -> str:
    if not isinstance(value, str) or not is_epoch(value):
        raise ValueError(f"not an epoch name (YYYY-MM): {value!r}")
    return value


class EpochKeyStore:
    """The epoch key files in ``directory``, wrapped under ``master``."""

    def __init__(self, directory: Path, master: MasterKey) -> None:
        self.directory = Path(directory)
        self._master = master

    def __repr__(self) -> str:
        return f"EpochKeyStore({str(self.directory)!r})"

    def _key_path(self, epoch: str) -> Path:
        return self.directory / f"{check_epoch(epoch)}.key"

    def _tombstone_path(self, epoch: str) -> Path:
        return self.directory / f"{check_epoch(epoch)}.destroyed"

    def _destroyed_error(self, epoch: str) -> KeyDestroyed:
        return KeyDestroyed(f"retention epoch key {epoch} has been destroyed")

    def key(self, epoch: str, *, create: bool = True) -> bytes:
        """The key of ``epoch``, created on first use; ``KeyDestroyed`` if
        the epoch was destroyed.  With ``create=False`` (used when opening)
        a missing, never destroyed key raises ``KeyNotFound`` instead: the
        file was lost or the directory is misconfigured, and a fresh key
        could open nothing."""
        path = self._key_path(epoch)
        tombstone = self._tombstone_path(epoch)
        if tombstone.exists():
            raise self._destroyed_error(epoch)
        try:
            wrapped = path.read_bytes()
        except FileNotFoundError:
            if not create:
                raise KeyNotFound(
                    f"retention epoch key {epoch} is missing from {self.directory} "
                    "(never destroyed: the key directory may be misconfigured)"
                ) from None
            wrapped = self._create(epoch, path)
            if tombstone.exists():  # destroyed while we were creating it
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
                raise self._destroyed_error(epoch) from None
        return self._master.unwrap(f"epoch:{epoch}", EPOCH_PURPOSE, wrapped)

    def _create(self, epoch: str, path: Path) -> bytes:
        make_private_dir(self.directory)
        wrapped = self._master.wrap(
            f"epoch:{epoch}", EPOCH_PURPOSE, secrets.token_bytes(EPOCH_KEY_SIZE)
        )
        temp = self.directory / f".{epoch}.{secrets.token_hex(8)}.tmp"
        write_new(temp, wrapped)
        try:
            os.link(temp, path)
        except FileExistsError:
            # Another process created it first: use theirs.
            return path.read_bytes()
        finally:
            temp.unlink()
        fsync_dir(self.directory)
        return wrapped

    def destroy(self, epoch: str) -> None:
        """Destroy the key of ``epoch`` (idempotent).  The tombstone is
        written first, then the key file is overwritten, fsynced and
        unlinked.  Overwriting is best effort on journaling and flash
        storage; what makes the erasure final is that no copy of the epoch
        key exists anywhere else (it is never in the database or its
        backups)."""
        make_private_dir(self.directory)
        tombstone = self._tombstone_path(epoch)
        if not tombstone.exists():
            with contextlib.suppress(FileExistsError):
                write_new(tombstone, _TOMBSTONE_TEXT.format(epoch=epoch).encode())
        path = self._key_path(epoch)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except FileNotFoundError:
            fsync_dir(self.directory)
            return
        try:
            size = os.fstat(fd).st_size
            os.write(fd, secrets.token_bytes(size))
            os.fsync(fd)
        finally:
            os.close(fd)
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        fsync_dir(self.directory)

    def exists(self, epoch: str) -> bool:
        """Whether a live (not destroyed) key file exists for ``epoch``."""
        return self._key_path(epoch).exists() and not self._tombstone_path(epoch).exists()

    def is_destroyed(self, epoch: str) -> bool:
        return self._tombstone_path(epoch).exists()

    def _names(self, suffix: str) -> list[str]:
        if not self.directory.is_dir():
            return []
        found = []
        for entry in self.directory.iterdir():
            name = entry.name
            if name.endswith(suffix) and is_epoch(name[: -len(suffix)]):
                found.append(name[: -len(suffix)])
        return sorted(found)

    def epochs(self) -> list[str]:
        """Epochs with a live key, oldest first."""
        destroyed = set(self.destroyed())
        return [e for e in self._names(".key") if e not in destroyed]

    def destroyed(self) -> list[str]:
        """Epochs whose key was destroyed, oldest first."""
        return self._names(".destroyed")
