"""Private files written once: the master key file, the epoch and the share key files."""

from __future__ import annotations

import ctypes
import functools
import os
from collections.abc import Callable
from pathlib import Path
from typing import cast


def fsync_dir(directory: Path) -> None:
    """Make a directory's new or removed entries durable."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_new(path: Path, data: bytes, *, sync: bool = True) -> None:
    """Write ``data`` to a file that must not exist yet (``FileExistsError``),
    mode 0600 whatever the umask, never through a symbolic link, fsynced
    (unless ``sync`` is False: the caller flushes the filesystem once for many
    files, :func:`sync_filesystem`)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(path, flags, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, data)
        if sync:
            os.fsync(fd)
    finally:
        os.close(fd)


def make_private_dir(directory: Path) -> None:
    """Create ``directory`` (and its parents) if missing; the directory
    itself gets mode 0700.  An existing directory is left as it is."""
    if not directory.exists():
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        directory.chmod(0o700)


@functools.cache
def _syncfs() -> Callable[[int], int] | None:
    try:
        function = ctypes.CDLL(None, use_errno=True).syncfs
    except (AttributeError, OSError, TypeError):
        return None
    function.argtypes = [ctypes.c_int]
    function.restype = ctypes.c_int
    return cast(Callable[[int], int], function)


def sync_filesystem(directory: Path) -> None:
    """Write out the dirty data of the filesystem that holds ``directory`` and wait until it
    is on disk: syncfs(2) where the C library has it (Linux), else sync(2), which flushes
    every filesystem.  One call makes many writes, renames and unlinks durable at once."""
    syncfs = _syncfs()
    if syncfs is None:
        os.sync()
        return
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        if syncfs(fd) != 0:
            errno = ctypes.get_errno()
            raise OSError(errno, os.strerror(errno), str(directory))
    finally:
        os.close(fd)
