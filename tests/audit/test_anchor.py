"""The anchor outside the database follows what is committed, never what is rolled back, only
moves forward whatever the order in which instances commit, and is authenticated."""

from __future__ import annotations

import hmac
import threading
from pathlib import Path

import pytest
from flask import Flask

from exchange.app import create_app
from exchange.audit import anchor as audit_anchor
from exchange.audit import trail as audit
from exchange.audit.anchor import Anchor, AnchorInvalid
from exchange.domain.clock import FixedClock
from keys.master import MasterKey
from tests.audit.support import activity, anchor, anchor_path, cli, head, services_of
from tests.conftest import make_settings


def test_the_anchor_follows_every_commit(app: Flask, clock: FixedClock) -> None:
    activity(app, clock)
    seq, digest = head(app)
    assert anchor(app) == Anchor(seq, digest, 0)
    assert cli(app, "audit", "checkpoint")[0] == 0
    seq, digest = head(app)
    assert anchor(app) == Anchor(seq, digest, 1)


def test_what_is_rolled_back_is_not_anchored(app: Flask, clock: FixedClock) -> None:
    svc = services_of(app)
    with svc.db.unit_of_work() as s:
        audit.record(s, "audit.searched", at=clock.now())
        kept = audit.record(s, "audit.searched", at=clock.now())
        with pytest.raises(RuntimeError), s.begin_nested():
            audit.record(s, "audit.searched", at=clock.now())
            raise RuntimeError("rolled back")
        with s.begin_nested():  # released: committed with the transaction
            inner = audit.record(s, "audit.searched", at=clock.now())
        with pytest.raises(RuntimeError), s.begin_nested():
            with s.begin_nested():
                audit.record(s, "audit.searched", at=clock.now())
            raise RuntimeError("the outer savepoint rolled back")
    assert inner.seq == kept.seq + 1
    assert anchor(app) == Anchor(inner.seq, inner.hash, 0) and head(app) == (inner.seq,
                                                                             inner.hash)
    with pytest.raises(RuntimeError), svc.db.unit_of_work() as s:
        audit.record(s, "audit.searched", at=clock.now())
        raise RuntimeError("the whole transaction rolled back")
    assert anchor(app) == Anchor(inner.seq, inner.hash, 0)


def test_two_instances_keep_one_anchor_moving_forward(app: Flask, instance: Path,
                                                      clock: FixedClock) -> None:
    other = create_app(make_settings(instance), clock=clock)
    try:
        for turn in range(4):
            activity(other if turn % 2 else app, clock)
            assert anchor(app) == Anchor(*head(app), 0)
        assert cli(other, "audit", "verify")[0] == 0
    finally:
        services_of(other).db.dispose()


def test_the_anchor_only_moves_forward(tmp_path: Path) -> None:
    box = MasterKey(bytes(range(32))).audit_anchor_key()
    path = tmp_path / "keys" / audit_anchor.FILE_NAME
    assert audit_anchor.read(path, box) is None
    assert audit_anchor.advance(path, box, seq=10, head="a" * 64) == Anchor(10, "a" * 64, 0)
    assert audit_anchor.advance(path, box, seq=7, head="b" * 64, checkpoints=2) == Anchor(
        10, "a" * 64, 2)
    assert audit_anchor.advance(path, box, checkpoints=1) == Anchor(10, "a" * 64, 2)
    assert oct(path.stat().st_mode & 0o777) == "0o600"

    def commit(seq: int) -> None:
        audit_anchor.advance(path, box, seq=seq, head=f"{seq:064x}", checkpoints=seq % 7)

    threads = [threading.Thread(target=commit, args=(seq,)) for seq in range(11, 51)]
    for thread in reversed(threads):
        thread.start()
    for thread in threads:
        thread.join()
    assert audit_anchor.read(path, box) == Anchor(50, f"{50:064x}", 6)
    assert [p.name for p in path.parent.iterdir()] == [audit_anchor.FILE_NAME]
    assert path.stat().st_size == audit_anchor.RECORD


def test_the_anchor_file_is_authenticated(tmp_path: Path) -> None:
    box = MasterKey(bytes(range(32))).audit_anchor_key()
    path = tmp_path / audit_anchor.FILE_NAME
    audit_anchor.advance(path, box, seq=12, head="c" * 64, checkpoints=3)
    text = path.read_text().rstrip("\n") + "\n"
    lines = text.splitlines()
    assert lines[:4] == ["Liaison audit anchor v1", "seq: 12", f"head: {'c' * 64}",
                         "checkpoints: 3"]
    body = "".join(line + "\n" for line in lines[:4])
    assert lines[4] == "mac: " + hmac.new(box, b"liaison/v1/audit-anchor\x00" + body.encode(),
                                          "sha256").hexdigest()
    for forged, reason in (
            (text.replace("seq: 12", "seq: 13"), "pas authentique"),
            (text.replace("seq: 12", "seq: 012"), "mal formé"),
            (text.replace("mac: ", "mac: 0"), "mal formé"),
            ("Liaison audit anchor v2" + text[len("Liaison audit anchor v1"):], "mal formé")):
        with pytest.raises(AnchorInvalid, match=reason):
            audit_anchor.parse(forged, box)
    other = MasterKey(bytes(32)).audit_anchor_key()
    with pytest.raises(AnchorInvalid, match="pas authentique"):
        audit_anchor.parse(text, other)
    path.write_text(text.replace("seq: 12", "seq: 13"))
    assert audit_anchor.advance(path, box, seq=20, head="d" * 64) is None  # left as it is
    assert "seq: 13" in path.read_text()
    path.write_bytes(b"")  # what a crash during the first write may leave
    assert audit_anchor.read(path, box) is None


def test_a_missing_anchor_is_said_and_started_again(app: Flask, clock: FixedClock) -> None:
    activity(app, clock)
    anchor_path(app).unlink()
    code, output = cli(app, "audit", "verify")
    assert code == 0 and "Aucune ancre externe" in output, output
    code, output = cli(app, "audit", "verify")
    assert code == 0 and "Ancre externe concordante" in output, output
