"""Forgeries of the audit log by someone who can write the database but does not hold the
master key: each rebuilds a consistent SHA-256 chain and moves the head row, the most a hash
chain alone could notice, and `flask audit verify` still fails. They happen after the last
signed checkpoint, where nothing signed vouches for the events."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask import Flask

from exchange.audit import trail as audit
from exchange.domain.clock import FixedClock
from tests.audit.support import (
    activity,
    anchor_path,
    cli,
    event,
    head,
    plain_sha,
    rechain_plain,
    seqs,
    tamper,
)


@pytest.fixture
def tail(app: Flask, clock: FixedClock) -> tuple[int, int]:
    """Activity, a signed checkpoint, then more activity and a verification: (checkpoint's
    seq, last seq)."""
    activity(app, clock)
    code, output = cli(app, "audit", "checkpoint")
    assert code == 0, output
    checkpoint = head(app)[0]
    activity(app, clock)
    last = head(app)[0]
    assert last - checkpoint >= 6
    assert cli(app, "audit", "verify")[0] == 0
    return checkpoint, head(app)[0]


def test_forged_tail_event_with_moved_head_fails_verify(app: Flask,
                                                        tail: tuple[int, int]) -> None:
    checkpoint, _ = tail
    target = checkpoint + 3
    tamper(app, ("UPDATE audit_events SET object_id = 'forged', outcome = 'success' "
                 "WHERE seq = :seq", {"seq": target}))
    rechain_plain(app, target)
    code, output = cli(app, "audit", "verify")
    assert code == 2, output
    assert f"l'événement n° {target} " in output and "contenu de l'événement modifié" in output


def test_truncated_tail_with_moved_head_fails_verify(app: Flask,
                                                     tail: tuple[int, int]) -> None:
    checkpoint, last = tail
    cut = checkpoint + 2
    tamper(app, ("DELETE FROM audit_events WHERE seq > :cut", {"cut": cut}),
           ("UPDATE audit_head SET seq = :cut, hash = (SELECT hash FROM audit_events "
            "WHERE seq = :cut) WHERE id = 1", {"cut": cut}))
    code, output = cli(app, "audit", "verify")
    assert code == 2, output
    assert "l'ancre externe du journal" in output and "journal tronqué" in output
    assert f"elle couvre l'événement n° {last}" in output


def test_renumbered_tail_fails_verify(app: Flask, tail: tuple[int, int]) -> None:
    """One event after the checkpoint removed and the later ones renumbered to close the gap."""
    checkpoint, last = tail
    gone = checkpoint + 2
    tamper(app, ("DELETE FROM audit_events WHERE seq = :seq", {"seq": gone}),
           ("UPDATE audit_events SET seq = -seq WHERE seq > :seq", {"seq": gone}),
           "UPDATE audit_events SET seq = -seq - 1 WHERE seq < 0")
    rechain_plain(app, gone)
    assert seqs(app)[-1] == last - 1
    code, output = cli(app, "audit", "verify")
    assert code == 2, output
    assert f"l'événement n° {gone} " in output and "contenu de l'événement modifié" in output


def test_appended_forged_event_fails_verify(app: Flask, tail: tuple[int, int],
                                            clock: FixedClock) -> None:
    seq, prev = head(app)
    model = event(app, seq)
    at = audit.format_at(clock.now())
    forged = (str(seq + 1), at, model.actor_user_id, model.actor_unit_id, "dpo",
              "audit.exported", "audit_checkpoint", "1", "success", None, None)
    tamper(app, ("INSERT INTO audit_events (seq, at, actor_user_id, actor_unit_id, actor_role, "
                 "action, object_type, object_id, outcome, address, purpose, prev_hash, hash) "
                 "VALUES (:seq, :at, :user, :unit, 'dpo', 'audit.exported', "
                 "'audit_checkpoint', '1', 'success', NULL, NULL, :prev, :hash)",
                 {"seq": seq + 1, "at": at, "prev": prev,
                  "user": model.actor_user_id, "unit": model.actor_unit_id,
                  "hash": plain_sha(prev, forged)}),
           ("UPDATE audit_head SET seq = :seq, hash = :hash WHERE id = 1",
            {"seq": seq + 1, "hash": plain_sha(prev, forged)}))
    assert event(app, seq + 1).hash == plain_sha(prev, forged)
    code, output = cli(app, "audit", "verify")
    assert code == 2, output
    assert f"l'événement n° {seq + 1} " in output and "contenu de l'événement modifié" in output


def _three_checkpoints(app: Flask, clock: FixedClock) -> list[int]:
    taken = []
    for _ in range(3):
        activity(app, clock)
        code, output = cli(app, "audit", "checkpoint")
        assert code == 0, output
        taken.append(int(output.split("n° ")[1].split(" ")[0]))
    assert cli(app, "audit", "verify")[0] == 0
    return taken


@pytest.mark.parametrize("which", ["middle", "newest"])
def test_deleted_checkpoint_rows_fail_verify(app: Flask, clock: FixedClock,
                                             which: str) -> None:
    first, middle, newest = _three_checkpoints(app, clock)
    gone = middle if which == "middle" else newest
    tamper(app, ("DELETE FROM audit_checkpoints WHERE id = :id", {"id": gone}))
    code, output = cli(app, "audit", "verify")
    assert code == 2, output
    if which == "middle":  # the newest one's signed number counts the rows
        assert "les points de contrôle" in output
        assert "1 point(s) de contrôle supprimé(s) : le plus récent porte le n°" in output
    else:  # the anchor counts them
        assert "l'ancre externe du journal" in output
        assert "point(s) de contrôle supprimé(s)" in output


def test_deleted_newest_checkpoints_and_tail_fail_verify_without_the_anchor(
        app: Flask, clock: FixedClock) -> None:
    """The log and its checkpoints cut back to an older checkpoint, the anchor gone too: the
    schedule still shows it, once the remaining newest checkpoint is older than it allows."""
    first, middle, newest = _three_checkpoints(app, clock)
    clock.advance(timedelta(hours=4))
    code, output = cli(app, "audit", "checkpoint")
    assert code == 0
    with app.extensions["liaison"].db.unit_of_work() as s:
        from exchange.audit.models import AuditCheckpoint

        kept = s.get(AuditCheckpoint, middle)
        assert kept is not None
        cut = kept.seq
    tamper(app, ("DELETE FROM audit_checkpoints WHERE id > :id", {"id": middle}),
           ("DELETE FROM audit_events WHERE seq > :cut", {"cut": cut}),
           ("UPDATE audit_head SET seq = :cut, hash = (SELECT hash FROM audit_events "
            "WHERE seq = :cut) WHERE id = 1", {"cut": cut}))
    anchor_path(app).unlink()
    code, output = cli(app, "audit", "verify")
    assert code == 2, output
    assert "le plus récent" in output and "a plus de 3 h" in output


def test_stale_newest_checkpoint_fails_verify(app: Flask, clock: FixedClock) -> None:
    activity(app, clock)
    assert cli(app, "audit", "checkpoint")[0] == 0
    clock.advance(timedelta(hours=2, minutes=59))
    assert cli(app, "audit", "verify")[0] == 0
    clock.advance(timedelta(minutes=2))
    code, output = cli(app, "audit", "verify")
    assert code == 2, output
    assert "les points de contrôle" in output and "a plus de 3 h" in output
    assert "le planificateur ne les prend plus" in output
    assert cli(app, "audit", "checkpoint")[0] == 0
    assert cli(app, "audit", "verify")[0] == 0


def test_no_checkpoint_at_all_on_an_old_log_fails_verify(app: Flask,
                                                         clock: FixedClock) -> None:
    activity(app, clock)
    assert cli(app, "audit", "verify")[0] == 0  # a new log, no checkpoint yet
    clock.advance(timedelta(hours=4))
    code, output = cli(app, "audit", "verify")
    assert code == 2 and "aucun point de contrôle signé" in output, output


def test_tampered_anchor_fails_verify(app: Flask, tail: tuple[int, int]) -> None:
    path = anchor_path(app)
    text = path.read_text()
    seq_line = next(line for line in text.splitlines() if line.startswith("seq: "))
    path.write_text(text.replace(seq_line, "seq: 3"))
    code, output = cli(app, "audit", "verify")
    assert code == 2, output
    assert "l'ancre externe du journal" in output and "pas authentique" in output
    # A tampered anchor is left as it is, for the verification to report, never overwritten.
    assert "seq: 3\n" in path.read_text()
