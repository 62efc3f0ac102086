"""Share keys: one symmetric key per *erasure unit* — a subject (a person) and the owner that
holds a share of what is known about them (an institution, or the platform for the person's
identity) — each in its own file outside the database, like the epoch keys.

A document about a person is sealed so that each reader's wrap also needs that reader's share
key, and a person's identity key is sealed under the person's platform share key
(keys/README.md, "Share key files", "Envelopes", "Personal fields").  Destroying the share key
of (person, institution) erases that institution's share of the person from every backup at
once, while the partner's share still opens for the partner; destroying the whole subject
erases the person.

Files, under ``<directory>/<shard>/`` with ``shard`` the first two hex digits of SHA-256 of the
subject:

- ``<subject>/<owner>.<generation>.key``: master wrap of the 32-byte key, key id
  ``share:<subject>:<owner>:<generation>``, purpose ``share``; mode 0600, directories 0700;
- ``<subject>/<owner>.<generation>.destroyed``: the tombstone of one generation;
- ``<subject>.destroyed``: the tombstone of the whole subject (its directory is removed).

Generations: a share destroyed by an erasure stays destroyed, but the same institution may
receive the person again later (a new orientation, under a new consent).  Its next share key is
then generation N+1; what was sealed under generation N stays unreadable.  A wrap names the
generation it was sealed under (inside its authenticated HPKE plaintext).

Several processes may share the directory: a key is published with ``link()``, which fails if
another process won the race, and the loser reads the winner's key.  Nothing is cached in
memory, so a destruction is seen by every process at once.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import secrets
from collections.abc import Iterable
from pathlib import Path

from ._files import fsync_dir, make_private_dir, sync_filesystem, write_new
from .errors import KeyDestroyed, KeyNotFound, MasterKeyInvalid
from .master import MasterKey
from .records import check_owner

SHARE_KEY_SIZE = 32
SHARE_PURPOSE = "share"
MAX_GENERATION = 0xFFFFFFFF
_SUBJECT_RE = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9_-]{0,63}\Z")
_KEY_TOMBSTONE = "liaison share key destroyed: {subject} {owner} {generation}\n"
_SUBJECT_TOMBSTONE = "liaison share keys destroyed: {subject}\n"


def check_subject(subject: str) -> str:
    """Subjects are 1 to 64 letters, digits, ``_`` or ``-`` (no dot: file names split on it)."""
    if not isinstance(subject, str) or not _SUBJECT_RE.match(subject):
        raise ValueError(f"invalid share subject {subject!r}: 1-64 letters, digits, '_' or '-'")
    return subject


def share_key_id(subject: str, owner: str, generation: int) -> str:
    return f"share:{subject}:{owner}:{generation}"


class ShareKeyStore:
    """The share key files in ``directory``, wrapped under ``master``."""

    def __init__(self, directory: Path, master: MasterKey) -> None:
        self.directory = Path(directory)
        self._master = master

    def __repr__(self) -> str:
        return f"ShareKeyStore({str(self.directory)!r})"

    # -- paths ----------------------------------------------------------------------------

    def _shard(self, subject: str) -> Path:
        digest = hashlib.sha256(check_subject(subject).encode("ascii")).hexdigest()
        return self.directory / digest[:2]

    def _subject_dir(self, subject: str) -> Path:
        return self._shard(subject) / subject

    def _subject_tombstone(self, subject: str) -> Path:
        return self._shard(subject) / f"{subject}.destroyed"

    def _path(self, subject: str, owner: str, generation: int, suffix: str) -> Path:
        check_owner(owner)
        if type(generation) is not int or not 1 <= generation <= MAX_GENERATION:
            raise ValueError("share key generations run from 1 to 2**32-1")
        return self._subject_dir(subject) / f"{owner}.{generation}.{suffix}"

    def _destroyed(self, subject: str, owner: str, generation: int) -> KeyDestroyed:
        return KeyDestroyed(f"share key {share_key_id(subject, owner, generation)} "
                            "has been destroyed")

    # -- reading and creating -----------------------------------------------------------------

    def key(self, subject: str, owner: str, generation: int) -> bytes:
        """The key of one generation, for opening: ``KeyDestroyed`` once a tombstone says it
        is destroyed (even if a destruction cut short left the file), ``KeyNotFound`` when
        missing without tombstone (a lost file or a misconfigured directory, which a new key
        could not fix).  Two ``stat`` calls and one small file read."""
        if self.is_destroyed(subject, owner, generation):
            raise self._destroyed(subject, owner, generation)
        path = self._path(subject, owner, generation, "key")
        try:
            wrapped = path.read_bytes()
        except FileNotFoundError:
            if self.is_destroyed(subject, owner, generation):  # destroyed meanwhile
                raise self._destroyed(subject, owner, generation) from None
            raise KeyNotFound(
                f"share key {share_key_id(subject, owner, generation)} is missing from "
                f"{self.directory} (never destroyed: the key directory may be misconfigured)"
            ) from None
        try:
            return self._unwrap(subject, owner, generation, wrapped)
        except MasterKeyInvalid:
            # Overwritten by a destruction running at this very moment.
            if self.is_destroyed(subject, owner, generation):
                raise self._destroyed(subject, owner, generation) from None
            raise

    def current(self, subject: str, owner: str) -> tuple[int, bytes]:
        """The live generation and its key, for sealing: created on first use, the next
        generation after a destroyed one; ``KeyDestroyed`` when the whole subject was
        destroyed.  Tombstones are checked before the key is read, so nothing new is sealed
        under a key whose destruction has begun."""
        generation = 1
        while True:
            if self._subject_tombstone(subject).exists():
                raise KeyDestroyed(f"the share keys of subject {subject} have been destroyed")
            if self._path(subject, owner, generation, "destroyed").exists():
                generation += 1
                continue
            path = self._path(subject, owner, generation, "key")
            try:
                wrapped = path.read_bytes()
            except FileNotFoundError:
                wrapped = self._create(subject, owner, generation)
                if self._path(subject, owner, generation, "destroyed").exists() or \
                        self._subject_tombstone(subject).exists():
                    # Destroyed while we were creating it: the next generation, or failure
                    # when the whole subject went.
                    with contextlib.suppress(FileNotFoundError):
                        path.unlink()
                    continue
            return generation, self._unwrap(subject, owner, generation, wrapped)

    def generation(self, subject: str, owner: str) -> int | None:
        """The live generation of ``(subject, owner)`` if it has a key file, without creating
        one (an erasure records it, so that a later retry never destroys a newer share)."""
        generation = 1
        while self._path(subject, owner, generation, "destroyed").exists():
            generation += 1
        return generation if self._path(subject, owner, generation, "key").exists() else None

    def _unwrap(self, subject: str, owner: str, generation: int, wrapped: bytes) -> bytes:
        key = self._master.unwrap(share_key_id(subject, owner, generation), SHARE_PURPOSE,
                                  wrapped)
        if len(key) != SHARE_KEY_SIZE:
            raise MasterKeyInvalid(f"share key {share_key_id(subject, owner, generation)} "
                                   "has a wrong length")
        return key

    def _create(self, subject: str, owner: str, generation: int) -> bytes:
        folder = self._subject_dir(subject)
        if not folder.is_dir():
            make_private_dir(folder.parent)
            with contextlib.suppress(FileExistsError):
                folder.mkdir(mode=0o700)
                folder.chmod(0o700)
                fsync_dir(folder.parent)
        wrapped = self._master.wrap(share_key_id(subject, owner, generation), SHARE_PURPOSE,
                                    secrets.token_bytes(SHARE_KEY_SIZE))
        temp = folder / f".{owner}.{generation}.{secrets.token_hex(8)}.tmp"
        write_new(temp, wrapped)
        path = self._path(subject, owner, generation, "key")
        try:
            os.link(temp, path)
        except FileExistsError:
            return path.read_bytes()  # another process created it first: use theirs
        finally:
            temp.unlink()
        fsync_dir(folder)
        return wrapped

    # -- destroying ----------------------------------------------------------------------------

    def destroy(self, subject: str, owner: str, up_to: int | None = None) -> list[int]:
        """Destroy the live generations of ``(subject, owner)`` (those up to ``up_to`` only, if
        given) and return them.  Each: tombstone written first, key file overwritten with
        random bytes, fsynced, unlinked, directory fsynced.  Idempotent."""
        destroyed = []
        generation = 1
        while up_to is None or generation <= up_to:
            key = self._path(subject, owner, generation, "key")
            tombstone = self._path(subject, owner, generation, "destroyed")
            if not key.exists() and not tombstone.exists():
                if up_to is None or generation == up_to:
                    break
                generation += 1
                continue
            with contextlib.suppress(FileExistsError):
                write_new(tombstone, _KEY_TOMBSTONE.format(
                    subject=subject, owner=owner, generation=generation).encode())
            if _overwrite(key, sync=True):
                with contextlib.suppress(FileNotFoundError):
                    key.unlink()
                destroyed.append(generation)
            fsync_dir(key.parent)
            generation += 1
        return destroyed

    def destroy_subjects(self, subjects: Iterable[str]) -> int:
        """Destroy every share key of each subject (idempotent): write the subject's
        tombstone, overwrite each key file with random bytes, flush the filesystem once,
        unlink the files and the subject's directory, flush again.  One flush per call rather
        than several fsyncs per key, for the retention sweep's batches.  Returns the number of
        key files destroyed."""
        folders = []
        for subject in subjects:
            folder = self._subject_dir(subject)
            if not folder.is_dir():
                continue  # nothing was ever sealed for it, or it is already destroyed
            tombstone = self._subject_tombstone(subject)
            with contextlib.suppress(FileExistsError):
                write_new(tombstone, _SUBJECT_TOMBSTONE.format(subject=subject).encode(),
                          sync=False)
            folders.append(folder)
        if not folders:
            return 0
        keys = [entry for folder in folders for entry in folder.iterdir()
                if entry.name.endswith(".key")]
        for key in keys:
            _overwrite(key, sync=False)
        sync_filesystem(self.directory)
        for folder in folders:
            for entry in folder.iterdir():
                with contextlib.suppress(FileNotFoundError):
                    entry.unlink()
            with contextlib.suppress(FileNotFoundError, OSError):
                folder.rmdir()
        sync_filesystem(self.directory)
        return len(keys)

    # -- state ------------------------------------------------------------------------------

    def is_destroyed(self, subject: str, owner: str | None = None,
                     generation: int | None = None) -> bool:
        """Whether the whole subject was destroyed, or (with owner and generation) that one
        generation."""
        if self._subject_tombstone(subject).exists():
            return True
        if owner is None or generation is None:
            return False
        return self._path(subject, owner, generation, "destroyed").exists()

    def live(self, subject: str) -> list[tuple[str, int]]:
        """``(owner, generation)`` of the subject's key files not destroyed, sorted."""
        folder = self._subject_dir(subject)
        if not folder.is_dir() or self._subject_tombstone(subject).exists():
            return []
        found = []
        for entry in folder.iterdir():
            owner, _, rest = entry.name.rpartition(".")[0].rpartition(".")
            if entry.name.endswith(".key") and rest.isdigit() and \
                    not self._path(subject, owner, int(rest), "destroyed").exists():
                found.append((owner, int(rest)))
        return sorted(found)


def _overwrite(path: Path, *, sync: bool) -> bool:
    """Overwrite a key file with random bytes (best effort on journaling and flash storage:
    what makes the erasure final is that no other copy of the key exists)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        return False
    try:
        os.write(fd, secrets.token_bytes(os.fstat(fd).st_size))
        if sync:
            os.fsync(fd)
    finally:
        os.close(fd)
    return True
