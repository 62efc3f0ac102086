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
(`exchange.platform.blobs_s3`, an S3-compatible object store for multi-host deployments)
implement it.
Both only ever receive ciphertext.
"""

from __future__ import annotations

import ctypes
import functools
import logging
import os
import re
import secrets
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import Executor, Future, ThreadPoolExecutor, wait
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import BinaryIO, Protocol, runtime_checkable

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
        self._shred(self._path(name))

    def _shred(self, path: Path) -> None:
        try:
            size = path.stat().st_size
            with open(path, "r+b") as handle:
                _zero_fill(handle, size)
                os.fsync(handle.fileno())
            path.unlink()
        except FileNotFoundError:
            return
        except OSError as exc:
            raise BlobError(f"blob store delete failed ({exc.errno})") from exc

    def delete_many(self, names: Sequence[str], executor: Executor | None = None) -> list[str]:
        """Delete several blobs as `delete` deletes one, with one flush to disk for all of them
        instead of one fsync each: overwrite every file with zeros, have the filesystem write
        its dirty data out and wait for it (`sync_filesystem`), and only then unlink them, so
        each file is overwritten on disk before it is unlinked. ``executor`` runs the per-file
        calls in parallel. Returns the names now gone (missing ones included); a file that
        could not be overwritten or unlinked is logged by name (random, not personal) and left
        for a later call; a failed flush raises BlobError and unlinks nothing."""
        each = executor.map if executor is not None else map
        paths = [self._path(name) for name in names]
        overwritten = [path for path, ok in zip(paths, each(_overwrite, paths), strict=True)
                       if ok]
        if not overwritten:
            return []
        sync_filesystem(self.root)
        return [path.name for path, ok in zip(overwritten, each(_unlink, overwritten),
                                              strict=True) if ok]

    def modified(self, name: str) -> datetime:
        """When the blob was written (its file's modification time)."""
        return datetime.fromtimestamp(self._path(name).stat().st_mtime, UTC)

    def names(self) -> Iterator[str]:
        for path in self._files():
            if _NAME.match(path.name):
                yield path.name

    def _files(self) -> Iterator[Path]:
        if not self.root.is_dir():
            return
        for folder in sorted(self.root.iterdir()):
            if folder.is_dir():
                yield from sorted(folder.iterdir())

    def unfinished(self) -> Iterator[tuple[str, datetime]]:
        """The temporary files a process killed in the middle of `put` left, by name
        ("<blob>.tmp"), with their modification time."""
        for path in self._files():
            if path.suffix == ".tmp" and _NAME.match(path.stem):
                try:
                    yield path.name, datetime.fromtimestamp(path.stat().st_mtime, UTC)
                except FileNotFoundError:
                    continue

    def discard_unfinished(self, name: str) -> None:
        """Overwrite with zeros and unlink a temporary file `unfinished` listed."""
        if not name.endswith(".tmp"):
            raise BlobError("invalid temporary name")
        self._shred(self._path(name.removesuffix(".tmp")).with_suffix(".tmp"))


def _zero_fill(handle: BinaryIO, size: int) -> None:
    remaining = size
    while remaining > 0:
        step = min(remaining, _CHUNK)
        handle.write(b"\0" * step)
        remaining -= step
    handle.flush()


def _overwrite(path: Path) -> bool:
    """Zeros over the whole file, handed to the kernel (not yet flushed to disk)."""
    try:
        with open(path, "r+b") as handle:
            _zero_fill(handle, os.fstat(handle.fileno()).st_size)
    except FileNotFoundError:
        return True
    except OSError as exc:
        log.warning("blob %s could not be overwritten (%s)", path.name, exc.errno)
        return False
    return True


def _unlink(path: Path) -> bool:
    try:
        path.unlink(missing_ok=True)
    except OSError as exc:
        log.warning("blob %s could not be unlinked (%s)", path.name, exc.errno)
        return False
    return True


@functools.cache
def _syncfs() -> ctypes._CFuncPtr | None:
    try:
        function = ctypes.CDLL(None, use_errno=True).syncfs
    except (AttributeError, OSError, TypeError):
        return None
    function.argtypes = [ctypes.c_int]
    function.restype = ctypes.c_int
    return function  # type: ignore[no-any-return]


def sync_filesystem(folder: Path) -> None:
    """Write out the dirty data of the filesystem that holds ``folder`` and wait until it is
    on disk: syncfs(2) where the C library has it (Linux), else sync(2), which flushes every
    filesystem (and, outside Linux, may return before the writes are done)."""
    syncfs = _syncfs()
    if syncfs is None:
        os.sync()
        return
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError as exc:
        raise BlobError(f"blob store flush failed ({exc.errno})") from exc
    try:
        if syncfs(fd) != 0:
            raise BlobError(f"blob store flush failed ({ctypes.get_errno()})")
    finally:
        os.close(fd)


PENDING = "liaison.blobs.written"
DOOMED = "liaison.blobs.doomed"


_writers: tuple[int, ThreadPoolExecutor] | None = None
_writers_lock = threading.Lock()


def _writer() -> ThreadPoolExecutor:
    """The process's pool of background writers, made again in a forked worker (a pool's
    threads do not survive a fork)."""
    global _writers
    with _writers_lock:
        if _writers is None or _writers[0] != os.getpid():
            _writers = (os.getpid(), ThreadPoolExecutor(4, thread_name_prefix="blob-writer"))
        return _writers[1]


def write_in_transaction(session: Session, store: BlobStore, data: bytes, *,
                         background: bool = False) -> str:
    """Write a blob that lives only if `session` commits. With `background`, the write and its
    fsync run in a thread while the caller goes on; `settle(session)` waits for them and raises
    the first BlobError, and the commit settles anyway before it lets the rows reach disk."""
    name = new_name()
    if background:
        written: Future[None] = _writer().submit(store.put, name, data)
    else:
        store.put(name, data)
        written = Future()
        written.set_result(None)
    session.info.setdefault(PENDING, []).append((store, name, written))
    return name


def settle(session: Session, name: str | None = None) -> None:
    """Wait for the blobs `session` writes (or for the one called `name`); raise the first
    BlobError."""
    for _store, written_name, written in session.info.get(PENDING, []):
        if name is None or written_name == name:
            written.result()


@event.listens_for(Session, "before_commit")
def _before_commit(session: Session) -> None:
    settle(session)


def delete_after_commit(session: Session, store: BlobStore, name: str, *,
                        background: bool = False) -> None:
    """Shred the blob once `session` commits: then, or with `background` in a thread (the
    caller need not wait for the fsync; a process killed first leaves an orphan, which
    `purge_orphans` shreds)."""
    session.info.setdefault(DOOMED, []).append((store, name, background))


def _remove(blobs: list[tuple[BlobStore, str]]) -> None:
    for store, name in blobs:
        try:
            store.delete(name)
        except BlobError:  # left for the orphan sweep; the name is random, not personal
            log.warning("blob %s could not be removed now", name)


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    session.info.pop(PENDING, None)
    doomed = session.info.pop(DOOMED, [])
    later = [(store, name) for store, name, background in doomed if background]
    _remove([(store, name) for store, name, background in doomed if not background])
    if later:
        _writer().submit(_remove, later)


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    session.info.pop(DOOMED, None)
    written = session.info.pop(PENDING, [])
    wait([future for _store, _name, future in written])
    _remove([(store, name) for store, name, _future in written])


# -- orphans ----------------------------------------------------------------------------------

# A blob younger than this may belong to a transaction still running; an orphan older than this
# was left by a process killed between writing it and committing (or by a failed removal).
ORPHAN_GRACE = timedelta(hours=1)


def orphans(session: Session, store: BlobStore) -> list[str]:
    """Names of the blobs in ``store`` that no document refers to. Documents are read first, so
    a blob committed while the store is listed is at worst reported as an orphan, and the grace
    period of `purge_orphans` keeps it."""
    from exchange.platform.models import Document

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
    ``now`` (wall-clock time, as the store dates its blobs), and the temporary files of writes
    a killed process never finished, as old. A blob the store cannot date is kept. Errors are
    per blob: logged by name (random, not personal), then the next one."""
    purged = []
    for name, written in getattr(store, "unfinished", list)():
        if now - written < grace:
            continue
        if not dry_run:
            try:
                store.discard_unfinished(name)  # type: ignore[attr-defined]
            except BlobError:
                log.warning("unfinished blob %s could not be removed", name)
                continue
        purged.append(name)
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
