"""What the audit tests share: the services, a log with some activity, the CLI, and the
tampering someone holding the database could do (dropping the guards first)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, text

from exchange.audit import anchor as audit_anchor
from exchange.audit import trail as audit
from exchange.audit.models import AuditEvent, AuditHead
from exchange.domain.clock import FixedClock
from exchange.platform.services import Services
from tests.conftest import login, post_form


def services_of(app: Flask) -> Services:
    value = app.extensions["liaison"]
    assert isinstance(value, Services)
    return value


def activity(app: Flask, clock: FixedClock, rounds: int = 1) -> None:
    """Sign-ins, refusals and sign-outs: a few dozen events."""
    client = app.test_client()
    for _ in range(rounds):
        for username in ("ts.montauban", "cft.montauban"):
            login(client, username, clock)
            client.get("/admin/")  # refused, audited
            post_form(client, "/connexion/deconnexion", {}, form_page="/")


def cli(app: Flask, *args: str) -> tuple[int, str]:
    result = app.test_cli_runner().invoke(args=list(args))
    return result.exit_code, result.output


def head(app: Flask) -> tuple[int, str]:
    with services_of(app).db.unit_of_work() as s:
        row = s.get(AuditHead, 1)
        assert row is not None
        return row.seq, row.hash


def event(app: Flask, seq: int) -> AuditEvent:
    with services_of(app).db.unit_of_work() as s:
        row = s.get(AuditEvent, seq)
        assert row is not None
        s.expunge(row)
        return row


def seqs(app: Flask) -> list[int]:
    with services_of(app).db.unit_of_work() as s:
        return list(s.scalars(select(AuditEvent.seq).order_by(AuditEvent.seq)))


def chain_key(app: Flask) -> bytes:
    """The audit chain key: what someone who also holds the master key could use."""
    return services_of(app).master.audit_chain_key()


def anchor_path(app: Flask) -> Path:
    return services_of(app).settings.epoch_key_dir / audit_anchor.FILE_NAME


def anchor(app: Flask) -> audit_anchor.Anchor | None:
    """The anchor file as the verification reads it."""
    return audit_anchor.read(anchor_path(app), services_of(app).master.audit_anchor_key())


def tamper(app: Flask, *statements: str | tuple[str, dict[str, Any]]) -> None:
    """Run SQL with the append-only guards switched off, as the owner of the database could."""
    svc = services_of(app)
    engine = svc.db.engine
    sqlite = engine.dialect.name == "sqlite"
    with engine.begin() as connection:
        if sqlite:
            for name in ("audit_events_no_update", "audit_events_no_delete",
                         "audit_checkpoints_no_update", "audit_checkpoints_no_delete"):
                connection.execute(text(f"DROP TRIGGER IF EXISTS {name}"))
        else:
            connection.execute(text("ALTER TABLE audit_events DISABLE TRIGGER USER"))
            connection.execute(text("ALTER TABLE audit_checkpoints DISABLE TRIGGER USER"))
        for statement in statements:
            sql, params = (statement, {}) if isinstance(statement, str) else statement
            connection.execute(text(sql), params)
        if not sqlite:
            connection.execute(text("ALTER TABLE audit_events ENABLE TRIGGER USER"))
            connection.execute(text("ALTER TABLE audit_checkpoints ENABLE TRIGGER USER"))


def rewrite_from(app: Flask, seq: int, *, key: bytes | None, **changes: str) -> None:
    """Edit event `seq` (object_id, purpose or outcome) and recompute every later hash and the
    head, with the chain key `key` (an insider holding the master key: a consistent forgery
    that only a checkpoint kept elsewhere can reveal) or, with None, with plain SHA-256 (a
    database writer without the master key)."""
    with services_of(app).db.unit_of_work() as s:
        rows = list(s.scalars(select(AuditEvent).where(AuditEvent.seq >= seq - 1)
                              .order_by(AuditEvent.seq)))
        for row in rows:
            s.expunge(row)
    prev = rows[0].prev_hash if rows[0].seq == seq else rows[0].hash
    statements: list[str | tuple[str, dict[str, Any]]] = []
    for row in rows:
        if row.seq < seq:
            continue
        if row.seq == seq:
            for name, value in changes.items():
                setattr(row, name, value)
        row.prev_hash = prev
        row.hash = audit.event_hash(prev, audit.event_fields(row), key=key)
        statements.append((
            "UPDATE audit_events SET prev_hash = :prev, hash = :hash, object_id = :object_id, "
            "purpose = :purpose, outcome = :outcome WHERE seq = :seq",
            {"prev": prev, "hash": row.hash, "seq": row.seq, "object_id": row.object_id,
             "purpose": row.purpose, "outcome": row.outcome}))
        prev = row.hash
    statements.append(("UPDATE audit_head SET hash = :hash WHERE id = 1", {"hash": prev}))
    tamper(app, *statements)


def plain_sha(prev: str, fields: Sequence[str | None]) -> str:
    """What a database writer without the master key computes: SHA-256, with nothing but
    hashlib, of the chain's message (the previous hash and the fields, 0x1f between them, an
    absent field as 0x00), the rule of the chain before it was keyed."""
    message = "\x1f".join((prev, *("\x00" if f is None else f for f in fields)))
    return hashlib.sha256(message.encode()).hexdigest()


def rechain_plain(app: Flask, first: int) -> None:
    """Chain the events stored from `first` on again with `plain_sha`, from the hash of the
    event before, and move the head row to the last of them: the consistent chain a database
    writer could build after editing, deleting, renumbering or inserting rows."""
    with services_of(app).db.unit_of_work() as s:
        rows = list(s.scalars(select(AuditEvent).where(AuditEvent.seq >= first - 1)
                              .order_by(AuditEvent.seq)))
        for row in rows:
            s.expunge(row)
    prev = rows[0].hash if rows[0].seq == first - 1 else rows[0].prev_hash
    statements: list[str | tuple[str, dict[str, Any]]] = []
    for row in rows:
        if row.seq < first:
            continue
        digest = plain_sha(prev, audit.event_fields(row))
        statements.append(("UPDATE audit_events SET prev_hash = :prev, hash = :hash "
                           "WHERE seq = :seq", {"prev": prev, "hash": digest, "seq": row.seq}))
        prev = digest
    statements.append(("UPDATE audit_head SET seq = :seq, hash = :hash WHERE id = 1",
                       {"seq": rows[-1].seq, "hash": prev}))
    tamper(app, *statements)


def write(path: Path, content: str) -> Path:
    path.write_text(content, encoding="utf-8")
    return path


def dpo_client(app: Flask, clock: FixedClock) -> FlaskClient:
    client = app.test_client()
    login(client, "dpo.departement", clock)
    return client
