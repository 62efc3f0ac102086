"""A log that existed before the chain was keyed: its events keep their SHA-256 hashes, the
migration makes the next event the first keyed one, and the log verifies once a signed
checkpoint covers the unkeyed events, which then can no longer be moved past it."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import create_engine, text

from exchange.audit import trail as audit
from exchange.audit.checkpoints import DOCUMENT_TYPE
from exchange.audit.models import AuditCheckpoint
from exchange.domain.clock import FixedClock
from exchange.platform.migrate import upgrade
from keys.manifest import sign_platform
from tests.audit.support import (
    activity,
    anchor_path,
    cli,
    event,
    head,
    rechain_plain,
    services_of,
    tamper,
)


def test_the_migration_keys_the_chain_after_the_existing_events(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    upgrade(url, "0009")
    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(text("UPDATE audit_head SET seq = 41 WHERE id = 1"))
        upgrade(url, "0010")
        with engine.connect() as connection:
            assert connection.execute(text("SELECT keyed_from FROM audit_head")).scalar() == 42
    finally:
        engine.dispose()


@pytest.fixture
def legacy(app: Flask, clock: FixedClock) -> tuple[int, int]:
    """The log as the code before the keyed chain left it, just upgraded: every event chained
    by SHA-256, a checkpoint in the old format in its middle, no anchor file, and the
    migration's `keyed_from`. Gives (the old checkpoint's seq, keyed_from)."""
    activity(app, clock, rounds=2)
    rechain_plain(app, 1)
    old = head(app)[0] // 2
    svc = services_of(app)
    with svc.db.unit_of_work() as s:
        row = event(app, old)
        signed = sign_platform(svc.keystore(s), {
            "type": DOCUMENT_TYPE, "seq": old, "head": row.hash, "kind": "periodic",
            "at": audit.format_at(clock.now())})
        s.add(AuditCheckpoint(seq=old, head=row.hash, kind="periodic", created_at=clock.now(),
                              signed=signed.to_bytes()))
    tamper(app, "UPDATE audit_head SET keyed_from = seq + 1")
    anchor_path(app).unlink()
    return old, head(app)[0] + 1


def test_unkeyed_events_beyond_every_checkpoint_fail_until_one_is_signed(
        app: Flask, clock: FixedClock, legacy: tuple[int, int]) -> None:
    old, keyed_from = legacy
    code, output = cli(app, "audit", "verify")
    assert code == 2, output
    assert f"l'événement n° {old + 1}" in output and "chaînés sans clé" in output
    assert f"jusqu'au n° {keyed_from - 1}" in output
    assert cli(app, "audit", "checkpoint")[0] == 0
    activity(app, clock)
    code, output = cli(app, "audit", "verify")
    assert code == 0 and "2 point(s) de contrôle concordant(s)" in output, output
    assert event(app, keyed_from).hash != event(app, keyed_from).prev_hash
    with services_of(app).db.unit_of_work() as s:
        for workers in (1, 3):
            assert audit.verify(s, workers=workers).ok


def test_a_rewritten_unkeyed_event_fails_verify(app: Flask, clock: FixedClock,
                                                legacy: tuple[int, int]) -> None:
    old, keyed_from = legacy
    assert cli(app, "audit", "checkpoint")[0] == 0
    activity(app, clock)
    tamper(app, ("UPDATE audit_events SET object_id = 'forged' WHERE seq = :seq",
                 {"seq": old + 2}))
    rechain_plain(app, old + 2)
    code, output = cli(app, "audit", "verify")
    assert code == 2, output
    assert f"n° {keyed_from}" in output  # the first keyed event no longer verifies


def test_moving_the_start_of_the_keyed_chain_fails_verify(app: Flask, clock: FixedClock,
                                                          legacy: tuple[int, int]) -> None:
    """Declare the keyed events unkeyed, to rewrite them with SHA-256: the newest checkpoint
    signs where the keyed chain starts."""
    _, keyed_from = legacy
    assert cli(app, "audit", "checkpoint")[0] == 0
    activity(app, clock)
    last = head(app)[0]
    tamper(app, ("UPDATE audit_head SET keyed_from = :seq", {"seq": last + 1}))
    rechain_plain(app, keyed_from)
    code, output = cli(app, "audit", "verify")
    assert code == 2, output
    assert f"n° {keyed_from}" in output
    with services_of(app).db.unit_of_work() as s:
        assert audit.verify(s).ok  # the walk alone believes the head row: checkpoints vouch


def test_unkeyed_events_are_purged_like_the_others(app: Flask, clock: FixedClock,
                                                   legacy: tuple[int, int]) -> None:
    _, keyed_from = legacy
    assert cli(app, "audit", "checkpoint")[0] == 0
    clock.advance(timedelta(days=400))
    activity(app, clock)
    assert cli(app, "audit", "checkpoint")[0] == 0
    code, output = cli(app, "audit", "prune")
    assert code == 0 and "point de contrôle de purge signé" in output, output
    code, output = cli(app, "audit", "verify")
    assert code == 0 and "depuis la purge au n°" in output, output
    with services_of(app).db.unit_of_work() as s:
        from exchange.audit.checkpoints import purge_base

        base = purge_base(s)
        assert base is not None and base.seq >= keyed_from
