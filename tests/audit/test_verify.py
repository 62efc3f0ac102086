"""`flask audit verify` and `flask audit verify --checkpoint FILE` find every kind of tampering
and name the first event or checkpoint that does not match."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask

from exchange.domain.clock import FixedClock
from tests.audit.support import (
    activity,
    anchor_path,
    chain_key,
    cli,
    head,
    rewrite_from,
    seqs,
    tamper,
    write,
)


@pytest.fixture
def exported(app: Flask, clock: FixedClock, tmp_path: Path) -> Path:
    """Some activity, a checkpoint exported to a file kept "off the server", then more."""
    activity(app, clock)
    out = tmp_path / "checkpoint.txt"
    code, output = cli(app, "audit", "checkpoint", "--out", str(out))
    assert code == 0, output
    activity(app, clock)
    return out


def checkpoint_seq(path: Path) -> int:
    line = next(line for line in path.read_text().splitlines() if line.startswith("seq: "))
    return int(line.removeprefix("seq: "))


def both(app: Flask, exported: Path) -> list[tuple[int, str]]:
    return [cli(app, "audit", "verify"),
            cli(app, "audit", "verify", "--checkpoint", str(exported))]


def test_intact_log_verifies_with_and_without_the_exported_checkpoint(
        app: Flask, exported: Path) -> None:
    plain, against = both(app, exported)
    assert plain[0] == 0 and "intègre" in plain[1], plain
    assert "1 point(s) de contrôle concordant(s)" in plain[1]
    assert against[0] == 0 and "concordant" in against[1], against


def test_export_file_format_is_the_documented_one(app: Flask, exported: Path) -> None:
    lines = exported.read_text().splitlines()
    assert lines[0] == "Liaison audit checkpoint v1"
    assert [line.split(": ")[0] for line in lines[1:]] == [
        "seq", "head", "at", "kind", "key-id", "key-version", "payload", "signature"]
    assert "kind: manual" in lines


def test_edited_event_is_named(app: Flask, exported: Path) -> None:
    tamper(app, "UPDATE audit_events SET object_id = 'forged' WHERE seq = 7")
    for code, output in both(app, exported):
        assert code == 2
        assert "l'événement n° 7" in output and "contenu de l'événement modifié" in output


def test_deleted_event_is_named(app: Flask, exported: Path) -> None:
    tamper(app, "DELETE FROM audit_events WHERE seq = 9")
    for code, output in both(app, exported):
        assert code == 2 and "l'événement n° 9 " in output, output


def test_reordered_events_are_named(app: Flask, exported: Path) -> None:
    tamper(app, "UPDATE audit_events SET seq = -5 WHERE seq = 5",
           "UPDATE audit_events SET seq = 5 WHERE seq = 6",
           "UPDATE audit_events SET seq = 6 WHERE seq = -5")
    for code, output in both(app, exported):
        assert code == 2 and "l'événement n° 5 " in output, output


def test_truncated_tail_is_named(app: Flask, exported: Path) -> None:
    last = head(app)[0]
    tamper(app, ("DELETE FROM audit_events WHERE seq > :seq", {"seq": last - 3}))
    (code, output), (again, output_again) = both(app, exported)
    assert code == 2 and f"l'événement n° {last - 2} " in output and "tronquée" in output
    # The first verification appended its own event after the gap: still the same event named.
    assert again == 2 and f"l'événement n° {last - 2} " in output_again, output_again


def test_truncation_hidden_from_the_database_is_found_by_the_exported_checkpoint(
        app: Flask, exported: Path) -> None:
    """Cut below the checkpoint, move the head back and drop the stored checkpoints: the
    database alone can no longer tell; the anchor outside it can, and, without the anchor
    (whoever can delete it can read the master key beside it), the file kept elsewhere."""
    cut = checkpoint_seq(exported) - 2
    kept = [s for s in seqs(app) if s <= cut]
    tamper(app, ("DELETE FROM audit_events WHERE seq > :cut", {"cut": cut}),
           ("UPDATE audit_head SET seq = :cut, hash = (SELECT hash FROM audit_events "
            "WHERE seq = :cut) WHERE id = 1", {"cut": cut}),
           "DELETE FROM audit_checkpoints")
    assert seqs(app) == kept
    code, output = cli(app, "audit", "verify")
    assert code == 2 and "l'ancre externe" in output and "journal tronqué" in output, output
    anchor_path(app).unlink()
    code, output = cli(app, "audit", "verify", "--checkpoint", str(exported))
    assert code == 2
    assert "point de contrôle exporté" in output and "journal tronqué" in output
    # (the first verification appended its own event after the cut)
    assert f"le journal s'arrête au n° {cut + 1}" in output
    anchor_path(app).unlink()
    code, output = cli(app, "audit", "verify")
    assert code == 0, output  # the limit of the database on its own
    assert "Aucune ancre externe" in output


def test_rewritten_log_is_found_by_the_stored_and_the_exported_checkpoint(
        app: Flask, exported: Path) -> None:
    rewrite_from(app, 4, key=chain_key(app), object_id="forged")  # with the master key
    seq = checkpoint_seq(exported)
    code, output = cli(app, "audit", "verify")
    assert code == 2
    assert f"le point de contrôle n° 1 (événement n° {seq})" in output
    assert "journal réécrit" in output
    tamper(app, "DELETE FROM audit_checkpoints")
    code, output = cli(app, "audit", "verify", "--checkpoint", str(exported))
    assert code == 2
    assert f"le point de contrôle exporté (événement n° {seq})" in output
    assert "journal réécrit" in output


@pytest.mark.parametrize(("old", "new", "reason"), [
    ("kind: manual", "kind: periodic", "les champs lisibles diffèrent"),
    ("Liaison audit checkpoint v1", "Liaison audit checkpoint v2", "en-tête"),
])
def test_altered_export_file_is_refused(app: Flask, exported: Path, tmp_path: Path,
                                        old: str, new: str, reason: str) -> None:
    altered = write(tmp_path / "altered.txt", exported.read_text().replace(old, new))
    code, output = cli(app, "audit", "verify", "--checkpoint", str(altered))
    assert code == 2 and reason in output, output


def test_export_with_a_forged_payload_fails_its_signature(app: Flask, exported: Path,
                                                          tmp_path: Path) -> None:
    import base64

    lines = exported.read_text().splitlines()
    payload = next(line for line in lines if line.startswith("payload: "))
    document = base64.b64decode(payload.removeprefix("payload: "))
    forged = document.replace(b'"seq":', b'"seq":1')
    seq_line = next(line for line in lines if line.startswith("seq: "))
    text = exported.read_text().replace(payload, "payload: " + base64.b64encode(forged).decode())
    text = text.replace(seq_line, "seq: 1" + seq_line.removeprefix("seq: "))
    code, output = cli(app, "audit", "verify", "--checkpoint",
                       str(write(tmp_path / "forged.txt", text)))
    assert code == 2 and "signature invalide" in output, output


def test_forged_checkpoint_row_is_named(app: Flask, exported: Path) -> None:
    seq, chain_head = head(app)
    tamper(app, ("INSERT INTO audit_checkpoints (id, seq, head, kind, created_at, signed) "
                 "VALUES (99, :seq, :head, 'manual', '2026-11-23 10:00:00.000000', :signed)",
                 {"seq": seq, "head": chain_head, "signed": b'{"not":"signed"}'}))
    code, output = cli(app, "audit", "verify")
    assert code == 2 and "le point de contrôle n° 99" in output, output


def test_checkpoint_columns_must_match_what_is_signed(app: Flask, exported: Path) -> None:
    tamper(app, "UPDATE audit_checkpoints SET seq = seq - 1")
    code, output = cli(app, "audit", "verify")
    assert code == 2 and "ne correspondent pas au contenu signé" in output, output


def test_events_beyond_the_head_are_reported(app: Flask, exported: Path) -> None:
    seq = head(app)[0]
    tamper(app, ("UPDATE audit_head SET seq = :seq WHERE id = 1", {"seq": seq - 1}))
    code, output = cli(app, "audit", "verify")
    assert code == 2 and f"n° {seq}" in output and "tête" in output, output


def test_every_verification_is_an_audit_event(app: Flask, exported: Path) -> None:
    before = head(app)[0]
    cli(app, "audit", "verify")
    tamper(app, "UPDATE audit_events SET object_id = 'forged' WHERE seq = 3")
    cli(app, "audit", "verify")
    from tests.audit.support import event

    first, second = event(app, before + 1), event(app, before + 2)
    assert (first.action, first.outcome) == ("audit.verified", "success")
    assert (second.action, second.outcome) == ("audit.verified", "failure")


def test_export_checkpoints_writes_one_file_each_and_keeps_existing(
        app: Flask, exported: Path, tmp_path: Path) -> None:
    cli(app, "audit", "checkpoint")
    target = tmp_path / "offsite"
    code, output = cli(app, "audit", "export-checkpoints", "--dir", str(target))
    assert code == 0 and "2 point(s) de contrôle écrit(s)" in output, output
    files = sorted(target.iterdir())
    assert len(files) == 2
    code, output = cli(app, "audit", "export-checkpoints", "--dir", str(target))
    assert "0 point(s) de contrôle écrit(s)" in output and "2 déjà présent(s)" in output
    for path in files:
        code, output = cli(app, "audit", "verify", "--checkpoint", str(path))
        assert code == 0, output


def test_a_forged_row_behind_the_latest_checkpoint_needs_all_signatures(
        app: Flask, exported: Path) -> None:
    """By default only the purge's and the latest checkpoint's signatures are checked: the
    latest vouches for every earlier event. A harmless forged row that matches the chain
    shows only when every signature is checked. (Its id is below the others': a row with
    the highest id is the newest, whose signature is always checked.)"""
    seq = checkpoint_seq(exported)
    from tests.audit.support import event

    tamper(app, ("INSERT INTO audit_checkpoints (id, seq, head, kind, created_at, signed) "
                 "VALUES (0, :seq, :head, 'manual', '2026-11-23 10:00:00.000000', :signed)",
                 {"seq": seq - 1, "head": event(app, seq - 1).hash, "signed": b"{}"}))
    code, output = cli(app, "audit", "checkpoint")
    assert code == 0
    code, output = cli(app, "audit", "verify")
    assert code == 0 and "3 point(s) de contrôle concordant(s)" in output, output
    assert "1 signature(s) vérifiée(s)" in output
    code, output = cli(app, "audit", "verify", "--all-signatures")
    assert code == 2 and "le point de contrôle n° 0 " in output, output
