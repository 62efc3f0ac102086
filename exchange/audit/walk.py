"""The fast walk of the audit chain on SQLite, in this process or in worker processes.

`exchange.audit.trail.verify` asks this module how far the chain verifies from a starting point,
then walks the rest with the reference walk (`exchange.audit.trail.verify_rows`), which names the
first bad event. So this walk only has to be right when it says "verified": any batch it
cannot vouch for (a bad hash or link, a missing event, a value the hash rule does not expect)
ends it, and the reference walk takes over from that batch's first event, in the state the
reference walk itself would have reached there.

Each event costs a row fetch and an HMAC-SHA256 (a SHA-256 for the events appended before the
chain was keyed, `exchange.audit`), and the fetch costs the more: the standard sqlite3
driver pays per column (it lets go of the GIL and takes it back for each) and per object, which
is why the workers read through apsw, whose rows cost about half as much. SQLite
renders what it renders exactly and cheaply (the sequence number as text, absent values as
NUL, the "+00:00" of the time); Python joins the 12 values, puts the "T" into the time and
hashes: the bytes `exchange.audit.trail.chain_hash` hashes (see `_passes`). The HMAC is RFC 2104
with its two padded-key states hashed once per walk (`Mac`): per event, two copies and two
short updates, not the key schedule `hmac.new` would redo. Building the whole text
in SQL costs more than the columns it saves: every `||` copies the string, and `printf` stops
at a NUL byte, which would let a value gain hidden bytes.

Events are independent given their stored previous hash, so a long range is split into one
contiguous stretch per processor, each checked by a worker process; stretches are stitched
where they meet (the first event's previous hash must be the hash the stretch before ends
on). A worker is this file run by a fresh interpreter (`python -I audit_walk.py`, the job as
JSON on stdin): it imports the standard library and apsw only, so it starts in a few
hundredths of a second where importing the package would load Flask, and no copy of a process
that may run threads (the web server, the scheduler) is left running, as a fork without exec
would. The chain key reaches a worker in that JSON, through the pipe: never in its arguments,
its environment or a file.
Workers read the last committed log, and the caller's transaction must see the same events
(`exchange.audit.trail.verify` counts them).
"""

from __future__ import annotations

import bisect
import gc
import hashlib
import json
import os
import sys
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from itertools import islice
from operator import itemgetter
from pathlib import Path
from typing import Any

BATCH = 500
PARALLEL_FROM = 100_000
"""Below this many events one process walks: starting workers would cost more than it saves."""

ROW_SQL = (
    "SELECT prev_hash, CAST(seq AS TEXT), CASE WHEN at < x'' THEN at || '+00:00' END, "
    "ifnull(actor_user_id, char(0)), ifnull(actor_unit_id, char(0)), "
    "ifnull(actor_role, char(0)), action, ifnull(object_type, char(0)), "
    "ifnull(object_id, char(0)), outcome, ifnull(address, char(0)), ifnull(purpose, char(0)), "
    "hash FROM audit_events WHERE seq >= ? AND seq <= ? ORDER BY seq")
"""An event as the hash reads it, in hashing order, then its hash. NULL becomes "\\0", as in
`chain_hash`; `at < x''` holds for text (and numbers) but not for NULL or a BLOB, which the
rule does not take and which therefore stay NULL here, so that joining fails."""

_PREV, _AT, _HASH = itemgetter(0), itemgetter(2), itemgetter(12)


@dataclass(frozen=True)
class Stretch:
    """What a walk from `first` verified: events `first`..`upto` - 1, the first of them
    chained from `entry`, the last one's hash `prev` (both None when nothing verified), and
    the hash at each watched sequence number among them."""

    first: int
    upto: int
    entry: str | None = None
    prev: str | None = None
    seen: dict[int, str] = field(default_factory=dict)


class Mac:
    """HMAC-SHA256 (RFC 2104) under one key, as lowercase hex, with the inner and outer padded
    key states hashed once: `hmac.new` would hash them again for every event."""

    __slots__ = ("_inner", "_outer")

    def __init__(self, key: bytes) -> None:
        if len(key) > 64:
            key = hashlib.sha256(key).digest()
        block = key.ljust(64, b"\0")
        self._inner = hashlib.sha256(bytes(b ^ 0x36 for b in block))
        self._outer = hashlib.sha256(bytes(b ^ 0x5C for b in block))

    def __call__(self, message: bytes) -> str:
        inner = self._inner.copy()
        inner.update(message)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.hexdigest()

    def hexdigests(self, messages: Sequence[bytes]) -> list[str]:
        """`self(m)` for each message, with the lookups done once."""
        inner_copy, outer_copy = self._inner.copy, self._outer.copy
        found = []
        append = found.append
        for message in messages:
            inner = inner_copy()
            inner.update(message)
            outer = outer_copy()
            outer.update(inner.digest())
            append(outer.hexdigest())
        return found


def _digests(messages: list[bytes], seq: int, mac: Mac, keyed_from: int) -> list[str]:
    """The hash of each message, the first being event `seq`'s: HMAC from `keyed_from` on,
    SHA-256 before."""
    keyed = max(0, min(len(messages), keyed_from - seq))
    sha256 = hashlib.sha256
    plain = [sha256(message).hexdigest() for message in messages[:keyed]] if keyed else []
    return plain + mac.hexdigests(messages[keyed:] if keyed else messages)


def _passes(rows: Sequence[Sequence[Any]], seq: int, prev: str | None, mac: Mac,
            keyed_from: int) -> bool:
    """Whether `rows` (ROW_SQL) are events seq, seq + 1, ... chained from `prev` (None: from
    whatever the first one names), each hash being `chain_hash` of the stored values (keyed
    from `keyed_from` on).

    The message is `chain_hash`'s: "\\x1f".join of the previous hash, str(seq), `format_at`,
    the other fields with None as "\\0". The time is taken only in SQLite's own format,
    26 characters with a space at index 10, which `format_at` renders by replacing that space
    with "T" and appending "+00:00"; that space is the message's first, as the previous hash
    and the number before it have none (the previous hash is checked to be `prev` or the
    previous row's hash, a hex digest)."""
    count = len(rows)
    try:
        if int(rows[0][1]) != seq or int(rows[-1][1]) != seq + count - 1:
            return False  # rows come in sequence order, one per number: none is missing
        times = list(map(_AT, rows))
        if set(map(len, times)) != {32} or "".join(times)[10::32] != " " * count:
            return False
        join = "\x1f".join
        messages = [join(row[:12]).replace(" ", "T", 1).encode() for row in rows]
    except (TypeError, ValueError):  # NULL where the rule wants text, a BLOB, a bad number
        return False
    digests = _digests(messages, seq, mac, keyed_from)
    hashes = list(map(_HASH, rows))
    previous = list(map(_PREV, rows))
    return (digests == hashes and previous[1:] == hashes[:-1]
            and (prev is None or previous[0] == prev) and " " not in previous[0])


def walk(connection: Any, first: int, last: int, prev: str | None, key: bytes,
         keyed_from: int, marks: Collection[int] = (), size: int = BATCH) -> Stretch:
    """Verify events `first`..`last` batch by batch, chained from `prev` (None: from what the
    first event names, for the caller to stitch), HMAC-keyed with `key` from `keyed_from` on,
    up to the first batch that does not pass. `connection` is a sqlite3 or an apsw
    connection."""
    mac = Mac(key)
    watch = sorted(marks)
    seen: dict[int, str] = {}
    entry = None
    seq = first
    cursor = connection.cursor()
    try:
        # Batches cut from the rows as they come: the two drivers' cursors both iterate.
        found = iter(cursor.execute(ROW_SQL, (first, last)))
        while rows := list(islice(found, size)):
            if not _passes(rows, seq, prev, mac, keyed_from):
                break
            if entry is None:
                entry = rows[0][0]
            for mark in watch[bisect.bisect_left(watch, seq):
                              bisect.bisect_left(watch, seq + len(rows))]:
                seen[mark] = rows[mark - seq][12]
            seq += len(rows)
            prev = rows[-1][12]
    finally:
        cursor.close()
    return Stretch(first, seq, entry, prev if seq > first else None, seen)


def stitch(start: tuple[int, str], stretches: Sequence[Stretch]) -> Stretch:
    """The verified prefix from `start` of consecutive stretches: each must begin where the
    previous one ended, chained from its last hash, and the previous one must be complete."""
    upto, prev = start
    seen: dict[int, str] = {}
    for stretch in stretches:
        if stretch.first != upto or stretch.upto == upto or stretch.entry != prev:
            break
        assert stretch.prev is not None
        upto, prev = stretch.upto, stretch.prev
        seen.update(stretch.seen)
    return Stretch(start[0], upto, start[1], prev, seen)


def stretches(first: int, last: int, parts: int) -> list[tuple[int, int]]:
    """`first`..`last` cut into `parts` contiguous ranges of nearly equal length."""
    total = last - first + 1
    bounds = [first + total * i // parts for i in range(parts + 1)]
    return [(a, b - 1) for a, b in zip(bounds, bounds[1:], strict=False) if b > a]


def walk_parallel(database: str, start: tuple[int, str], last: int, key: bytes,
                  keyed_from: int, marks: Collection[int], workers: int,
                  size: int = BATCH) -> Stretch:
    """`walk` over `start[0]`..`last` of the SQLite file `database`, in `workers` processes,
    stitched. A worker that fails verifies nothing: the reference walk takes over there."""
    # Imported here and in `_in_worker`, which a worker never runs, so that it starts faster.
    from concurrent.futures import ThreadPoolExecutor

    watch = sorted(marks)
    jobs = [{"database": database, "first": a, "last": b,
             "prev": start[1] if a == start[0] else None, "size": size,
             "key": key.hex(), "keyed_from": keyed_from,
             "marks": watch[bisect.bisect_left(watch, a):bisect.bisect_right(watch, b)]}
            for a, b in stretches(start[0], last, workers)]
    with ThreadPoolExecutor(max_workers=max(1, len(jobs))) as pool:
        return stitch(start, list(pool.map(_in_worker, jobs)))


def _in_worker(job: dict[str, Any]) -> Stretch:
    import logging
    import subprocess

    # A fixed interpreter and file, the job on stdin: no shell, nothing from outside.
    done = subprocess.run(  # noqa: S603  # nosec B603
        [sys.executable, "-I", str(Path(__file__).resolve())],
        input=json.dumps(job).encode(), capture_output=True, check=False)
    try:
        if done.returncode != 0:
            raise ValueError(f"exit status {done.returncode}")
        answer = json.loads(done.stdout)
        return Stretch(answer["first"], answer["upto"], answer["entry"], answer["prev"],
                       {int(seq): digest for seq, digest in answer["seen"]})
    except (ValueError, KeyError, TypeError) as exc:
        logging.getLogger("liaison.audit").warning(
            "audit: a verification worker failed (%s): %s", exc,
            done.stderr.decode(errors="replace")[-2000:])
        return Stretch(job["first"], job["first"])


def _work() -> None:
    import apsw

    job = json.load(sys.stdin)
    gc.disable()  # a million short-lived objects and no cycle
    connection = apsw.Connection(str(Path(job["database"]).resolve()),
                                 flags=apsw.SQLITE_OPEN_READONLY)
    connection.set_busy_timeout(30_000)
    try:
        done = walk(connection, job["first"], job["last"], job["prev"],
                    bytes.fromhex(job["key"]), job["keyed_from"], job["marks"], job["size"])
    finally:
        connection.close()
    json.dump({"first": done.first, "upto": done.upto, "entry": done.entry, "prev": done.prev,
               "seen": sorted(done.seen.items())}, sys.stdout)


def processors() -> int:
    """The processors this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


if __name__ == "__main__":
    _work()
