"""The blob store: ciphertexts only, in one folder, under random names.

Names are checked against a strict pattern, so no path can leave the folder. Writes are atomic
(temporary file, fsync, rename). Deletion overwrites the file with zeros before unlinking it,
which on a conventional filesystem removes the bytes; on SSDs and copy-on-write filesystems the
overwrite may land elsewhere, which is why the content was encrypted in the first place.

Blobs written inside a database transaction are registered on the SQLAlchemy session: if the
transaction rolls back, they are removed; blobs deleted inside a transaction are removed only
once it commits. A process killed in between leaves at most unreferenced files, which
`orphans()` finds.

`BlobStore` is the whole interface the portal uses; `FolderBlobStore` (here) and `S3BlobStore`
(`exchange.blobs_s3`, an S3-compatible object store for multi-host deployments) implement it.
Both only ever receive ciphertext.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol, runtime_checkable

from sqlalchemy import event, select
from sqlalchemy.orm import Session

log = logging.getLogger("liaison.blobs")
_NAME = re.compile(r"\A[0-9a-f]{32,64}\Z")
_CHUNK = 1 << 20


class BlobError(Exception):
    """The blob store could not do what was asked (full, read-only, missing blob)."""


class BlobNotFound(BlobError):
    pass


def new_name() -> str:
    return secrets.token_hex(16)


def check_name(name: str) -> str:
    """A blob name is 32 to 64 lowercase hex digits, so it can never name a path or a key
    outside the store."""
    if not _NAME.match(name):
        raise BlobError("invalid blob name")
    return name


@runtime_checkable
class BlobStore(Protocol):
    """Where ciphertexts live, under random names. Failures raise BlobError (BlobNotFound for
    a missing blob on `get`); deleting a missing blob is not an error."""

    def put(self, name: str, data: bytes) -> None: ...

    def get(self, name: str) -> bytes: ...

    def exists(self, name: str) -> bool: ...

    def delete(self, name: str) -> None: ...

    def names(self) -> Iterator[str]: ...


class FolderBlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, name: str) -> Path:
        return self.root / check_name(name)[:2] / name

    def put(self, name: str, data: bytes) -> None:
        path = self._path(name)
        temporary = path.with_suffix(".tmp")
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, path)
        except OSError as exc:
            temporary.unlink(missing_ok=True)
            raise BlobError(f"blob store write failed ({exc.errno})") from exc

    def get(self, name: str) -> bytes:
        try:
            return self._path(name).read_bytes()
        except FileNotFoundError as exc:
            raise BlobNotFound("blob missing") from exc
        except OSError as exc:
            raise BlobError(f"blob store read failed ({exc.errno})") from exc

    def exists(self, name: str) -> bool:
        return self._path(name).is_file()

    def delete(self, name: str) -> None:
        """Overwrite with zeros, then unlink. Deleting a missing blob is not an error."""
        path = self._path(name)
        try:
            size = path.stat().st_size
            with open(path, "r+b") as handle:
                remaining = size
                while remaining > 0:
                    step = min(remaining, _CHUNK)
                    handle.write(b"\0" * step)
                    remaining -= step
                handle.flush()
                os.fsync(handle.fileno())
            path.unlink()
        except FileNotFoundError:
            return
        except OSError as exc:
            raise BlobError(f"blob store delete failed ({exc.errno})") from exc

    def modified(self, name: str) -> datetime:
        """When the blob was written (its file's modification time)."""
        return datetime.fromtimestamp(self._path(name).stat().st_mtime, UTC)

    def names(self) -> Iterator[str]:
        if not self.root.is_dir():
            return
        for folder in sorted(self.root.iterdir()):
            if folder.is_dir():
                for path in sorted(folder.iterdir()):
                    if _NAME.match(path.name):
                        yield path.name


PENDING = "liaison.blobs.written"
DOOMED = "liaison.blobs.doomed"


def write_in_transaction(session: Session, store: BlobStore, data: bytes) -> str:
    """Write a blob that lives only if `session` commits."""
    name = new_name()
    store.put(name, data)
    session.info.setdefault(PENDING, []).append((store, name))
    return name


def delete_after_commit(session: Session, store: BlobStore, name: str) -> None:
    session.info.setdefault(DOOMED, []).append((store, name))


def _remove(blobs: list[tuple[BlobStore, str]]) -> None:
    for store, name in blobs:
        try:
            store.delete(name)
        except BlobError:  # left for the orphan sweep; the name is random, not personal
            log.warning("blob %s could not be removed now", name)


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    session.info.pop(PENDING, None)
    _remove(session.info.pop(DOOMED, []))


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    session.info.pop(DOOMED, None)
    _remove(session.info.pop(PENDING, []))


# -- orphans ----------------------------------------------------------------------------------

# A blob younger than this may belong to a transaction still running; an orphan older than this
# was left by a process killed between writing it and committing (or by a failed removal).
ORPHAN_GRACE = timedelta(hours=1)


def orphans(session: Session, store: BlobStore) -> list[str]:
    """Names of the blobs in ``store`` that no document refers to. Documents are read first, so
    a blob committed while the store is listed is at worst reported as an orphan, and the grace
    period of `purge_orphans` keeps it."""
    from exchange.models.documents import Document

    referenced = set(session.scalars(select(Document.blob)))
    return [name for name in store.names() if name not in referenced]


def written_at(store: BlobStore, name: str) -> datetime | None:
    """When a blob was written, if the store can tell (the folder store can)."""
    modified = getattr(store, "modified", None)
    if modified is None:
        return None
    try:
        return modified(name)  # type: ignore[no-any-return]
    except OSError:
        return None


def purge_orphans(session: Session, store: BlobStore, now: datetime, *,
                  grace: timedelta = ORPHAN_GRACE, dry_run: bool = False) -> list[str]:
    """Delete (or with ``dry_run`` only list) the orphans written more than ``grace`` before
    ``now`` (wall-clock time, as the store dates its blobs). A blob the store cannot date is
    kept. Errors are per blob: logged by name (random, not personal), then the next one."""
    purged = []
    for name in orphans(session, store):
        written = written_at(store, name)
        if written is None or now - written < grace:
            continue
        if not dry_run:
            try:
                store.delete(name)
            except BlobError:
                log.warning("orphan blob %s could not be removed", name)
                continue
        purged.append(name)
    return purged
