"""The audit chain's key and its anchor outside the database.

**The key.** Events are chained by HMAC-SHA256 under a sub-key of the master key
(`MasterKey.audit_chain_key`, keys/README.md). The app's services bind, for their database
engine, where that key comes from (`bind`); `chain_key(session)` finds it from any session on
that engine, so that `exchange.audit.trail.record` keeps its signature and no caller handles
the key.

**The anchor.** A database writer who cannot recompute the chain can still cut its end and
move the head row back: what remains is a shorter, intact chain. The anchor is the head as last
committed, kept in a small file beside the epoch keys (outside the database, on the storage
the app instances already share for those keys, and backed up with them), authenticated by an
HMAC under a sub-key of the master key (`MasterKey.audit_anchor_key`). After every commit that
appended audit events or stored a checkpoint, the committing process raises the anchor to what
it committed: under an exclusive lock on the file (`flock`; readers take a shared one) it
reads the anchor, keeps the larger sequence number (with its hash) and the larger number of
checkpoints, and writes the record back in place. So the anchor only moves forward, whatever
the order in which processes commit, and never says more than the database committed. In
place, as one write of one 512-byte record at the start of the file (a disk sector): renaming
a new file over the old one would cost ext4 a flush of the new file's data at every commit,
some milliseconds. `flask audit verify` then fails when the chain ends before the anchored
event, has another hash there, or holds fewer checkpoints than anchored.

What the anchor does not cover: events whose process stopped between its commit and the
anchor update (the anchor lags, it is never wrong); on storage the instances do not share,
each instance anchors only what it committed itself (still a lower bound); whoever can write
the keys directory can also read the master key next to it. The file is not fsynced (the
database itself commits with ``synchronous=NORMAL``): after a power loss it may hold an older
state, which is harmless, or be empty, which reads as absent. A restored database backup is
older than the anchor: verification reports the truncation, which it is; deleting the file
after checking starts a new anchor.

File ``<epoch key directory>/audit-anchor``, ASCII, LF line ends::

    Liaison audit anchor v1
    seq: 1234
    head: <64 lowercase hex digits: the hash of event seq>
    checkpoints: 12
    mac: <64 lowercase hex digits>

where ``mac`` is HMAC-SHA256 under the anchor key of ``"liaison/v1/audit-anchor\\0"`` followed
by the four lines above, each with its LF; numbers are decimal without leading zeros. Line
feeds pad the record to 512 bytes. An HMAC rather than a seal: the anchor is read and
rewritten after every commit, and checking it is then a few microseconds.
"""

from __future__ import annotations

import fcntl
import hmac
import logging
import os
import re
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, SessionTransaction

from keys.master import MasterKey

log = logging.getLogger("liaison.audit")

FILE_NAME = "audit-anchor"
HEADER = "Liaison audit anchor v1"
_LABEL = b"liaison/v1/audit-anchor\x00"
_FIELDS = ("seq", "head", "checkpoints")
_PENDING = "liaison.audit_anchor.pending"


class AnchorInvalid(ValueError):
    """The anchor file exists but is malformed or not authentic."""


@dataclass(frozen=True)
class Anchor:
    """The committed chain reached event `seq`, whose hash is `head`, and held `checkpoints`
    checkpoints."""

    seq: int
    head: str
    checkpoints: int

    def raised_to(self, seq: int | None, head: str | None, checkpoints: int | None) -> Anchor:
        if seq is not None and head is not None and seq > self.seq:
            moved = Anchor(seq, head, self.checkpoints)
        else:
            moved = self
        if checkpoints is not None and checkpoints > moved.checkpoints:
            moved = Anchor(moved.seq, moved.head, checkpoints)
        return moved


NOTHING = Anchor(0, "0" * 64, 0)


# -- the file ----------------------------------------------------------------------------------


_NUMBER = re.compile(r"\A(0|[1-9][0-9]{0,18})\Z")
_DIGEST = re.compile(r"\A[0-9a-f]{64}\Z")


def _mac(key: bytes, body: str) -> str:
    return hmac.digest(key, _LABEL + body.encode("ascii"), "sha256").hex()


def render(anchor: Anchor, key: bytes) -> str:
    body = (f"{HEADER}\nseq: {anchor.seq}\nhead: {anchor.head}\n"
            f"checkpoints: {anchor.checkpoints}\n")
    return f"{body}mac: {_mac(key, body)}\n"


def parse(text: str, key: bytes) -> Anchor:
    lines = text.split("\n")
    if len(lines) != 6 or lines[0] != HEADER or lines[5] != "":
        raise AnchorInvalid("fichier d'ancre mal formé")
    values = []
    for name, line in zip((*_FIELDS, "mac"), lines[1:5], strict=True):
        prefix = f"{name}: "
        if not line.startswith(prefix):
            raise AnchorInvalid("fichier d'ancre mal formé")
        values.append(line[len(prefix):])
    seq, head, checkpoints, mac = values
    if not (_NUMBER.match(seq) and _DIGEST.match(head) and _NUMBER.match(checkpoints)
            and _DIGEST.match(mac)):
        raise AnchorInvalid("fichier d'ancre mal formé")
    body = text[:text.index("\nmac: ") + 1]
    if not hmac.compare_digest(_mac(key, body), mac):
        raise AnchorInvalid("l'ancre n'est pas authentique (son HMAC ne correspond pas)")
    return Anchor(int(seq), head, int(checkpoints))


RECORD = 512
"""The anchor's size on disk: one sector, written at once."""


_LAST: dict[tuple[Path, bytes], tuple[bytes, Anchor]] = {}
"""The record each file held when this process last read or wrote it: when the file still
holds the same bytes (no other process wrote since), they need no checking again."""


def _decode(data: bytes, key: bytes) -> Anchor | None:
    data = data.rstrip(b"\n")
    if not data.strip():
        return None
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        raise AnchorInvalid("fichier d'ancre mal formé") from None
    return parse(text + "\n", key)


def _open(path: Path, flags: int) -> int:
    return os.open(path, flags | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)


def read(path: Path, key: bytes) -> Anchor | None:
    """The anchor, or None when there is none yet (no file, or an empty one: what a crash
    during the first write leaves). AnchorInvalid when it is there but not authentic."""
    try:
        fd = _open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)
        data = os.pread(fd, 4 * RECORD, 0)
    finally:
        os.close(fd)  # releases the lock
    return _decode(data, key)


def advance(path: Path, key: bytes, *, seq: int | None = None, head: str | None = None,
            checkpoints: int | None = None) -> Anchor | None:
    """Raise the anchor to (seq, head) and `checkpoints` where they are beyond it; returns the
    anchor as it now stands. A file that is not authentic is left as it is, for the
    verification to report: None."""
    if not path.parent.exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = _open(path, os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        data = os.pread(fd, 4 * RECORD, 0)
        known = _LAST.get((path, key))
        try:
            current = known[1] if known is not None and known[0] == data else _decode(data, key)
        except AnchorInvalid as exc:
            log.error("audit: the anchor file %s is not authentic (%s); left as it is", path,
                      exc)
            return None
        after = (current or NOTHING).raised_to(seq, head, checkpoints)
        if current is not None and after == current:
            return current
        record = render(after, key).encode("ascii")
        if len(record) > RECORD:
            raise ValueError("an anchor record outgrew its 512 bytes")
        size = os.fstat(fd).st_size
        if size != RECORD:  # a new file (mode 0600 whatever the umask) or a foreign one
            os.fchmod(fd, 0o600)
        record = record.ljust(RECORD, b"\n")
        os.pwrite(fd, record, 0)
        if size > RECORD:
            os.ftruncate(fd, RECORD)
        _LAST[(path, key)] = (record, after)
        return after
    finally:
        os.close(fd)  # releases the lock


# -- binding the key and the anchor to a database ------------------------------------------


class _HasMaster(Protocol):
    @property
    def master(self) -> MasterKey: ...


@dataclass
class Binding:
    """Where one database's audit trail finds its chain key and its anchor file."""

    master: Callable[[], MasterKey]
    path: Path
    _chain_key: bytes | None = None
    _anchor_key: bytes | None = None

    def chain_key(self) -> bytes:
        if self._chain_key is None:
            self._chain_key = self.master().audit_chain_key()
        return self._chain_key

    def anchor_key(self) -> bytes:
        if self._anchor_key is None:
            self._anchor_key = self.master().audit_anchor_key()
        return self._anchor_key

    def read(self) -> Anchor | None:
        return read(self.path, self.anchor_key())


_BOUND: weakref.WeakKeyDictionary[Engine, Binding] = weakref.WeakKeyDictionary()


def bind(engine: Engine, services: _HasMaster, epoch_key_dir: Path) -> Binding:
    """Bind `engine`'s audit trail to the master key `services` load (on first use) and to the
    anchor file in `epoch_key_dir`. Only a weak reference to `services` is kept."""
    owner = weakref.ref(services)

    def master() -> MasterKey:
        found = owner()
        if found is None:
            raise RuntimeError("the services this audit trail was bound to are gone")
        return found.master

    binding = _BOUND[engine] = Binding(master, Path(epoch_key_dir) / FILE_NAME)
    for name, listener in (("after_commit", _after_commit),
                           ("after_soft_rollback", _after_soft_rollback)):
        if not event.contains(Session, name, listener):
            event.listen(Session, name, listener)
    return binding


def binding_of(session: Session) -> Binding:
    bind = session.get_bind()
    engine = getattr(bind, "engine", bind)
    found = _BOUND.get(engine)
    if found is None:
        raise RuntimeError("no audit chain key is bound to this database "
                           "(exchange.platform.services binds it)")
    return found


def chain_key(session: Session) -> bytes:
    return binding_of(session).chain_key()


# -- anchoring after commit --------------------------------------------------------------------


def note(session: Session, *, seq: int | None = None, head: str | None = None,
         checkpoints: int | None = None) -> None:
    """Remember, in the current (sub)transaction, what the anchor should reach once it
    commits: the head after an append, the number of checkpoints after one is stored."""
    transaction = session.get_nested_transaction() or session.get_transaction()
    session.info.setdefault(_PENDING, []).append((transaction, seq, head, checkpoints))


def _within(transaction: SessionTransaction | None, ended: SessionTransaction) -> bool:
    while transaction is not None:
        if transaction is ended:
            return True
        transaction = transaction.parent
    return False


def _after_soft_rollback(session: Session, previous_transaction: SessionTransaction) -> None:
    """What a rolled-back savepoint (or transaction) appended is not committed: forget it."""
    pending = session.info.get(_PENDING)
    if pending:
        session.info[_PENDING] = [entry for entry in pending
                                  if not _within(entry[0], previous_transaction)]


def _after_commit(session: Session) -> None:
    if session.in_nested_transaction():
        return  # a savepoint released: nothing is committed yet
    pending: list[tuple[Any, int | None, str | None, int | None]] | None = session.info.pop(
        _PENDING, None)
    if not pending:
        return
    seq = head = None
    checkpoints = None
    for _, entry_seq, entry_head, entry_checkpoints in pending:
        if entry_seq is not None and (seq is None or entry_seq > seq):
            seq, head = entry_seq, entry_head
        if entry_checkpoints is not None:
            checkpoints = max(checkpoints or 0, entry_checkpoints)
    try:
        binding = binding_of(session)
        advance(binding.path, binding.anchor_key(), seq=seq, head=head,
                checkpoints=checkpoints)
    except Exception as exc:  # committed already: a lagging anchor is the only consequence
        log.error("audit: the anchor could not be updated (%s: %s)", type(exc).__name__, exc)
