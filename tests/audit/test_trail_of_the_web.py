"""The audit trail: append-only in the database, a hash chain `flask audit verify` checks."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select

from exchange.audit import trail as audit
from exchange.audit.models import AuditEvent
from exchange.domain.clock import FixedClock
from tests.conftest import login, post_form

pytestmark = pytest.mark.sqlite_file


def _db_file(app: Flask) -> Path:
    return app.extensions["liaison"].settings.instance_path / "liaison.db"


def _verify(app: Flask) -> tuple[int, str]:
    result = app.test_cli_runner().invoke(args=["audit", "verify"])
    return result.exit_code, result.output


def _tamper(app: Flask, sql: str, *params: object) -> None:
    """What someone with the database file could do: drop the guard and edit rows."""
    app.extensions["liaison"].db.dispose()
    connection = sqlite3.connect(_db_file(app))
    connection.execute("DROP TRIGGER audit_events_no_update")
    connection.execute("DROP TRIGGER audit_events_no_delete")
    connection.execute(sql, params)
    connection.commit()
    connection.close()


@pytest.fixture
def busy_app(app: Flask, clock: FixedClock) -> Flask:
    client = app.test_client()
    for username in ("ts.montauban", "cft.montauban", "dpo.departement"):
        login(client, username, clock)
        client.get("/admin/")  # a refusal, audited
        client.get("/nulle-part")
        post_form(client, "/connexion/deconnexion", {}, form_page="/")
    return app


def test_intact_chain_verifies(busy_app: Flask) -> None:
    code, output = _verify(busy_app)
    assert code == 0, output
    assert "intègre" in output


def test_edited_event_is_named(busy_app: Flask) -> None:
    _tamper(busy_app, "UPDATE audit_events SET object_id = 'forged' WHERE seq = 12")
    code, output = _verify(busy_app)
    assert code == 2
    assert "n° 12" in output and "modifié" in output


def test_rehashed_event_breaks_the_next_link(busy_app: Flask) -> None:
    with busy_app.extensions["liaison"].db.sessions() as s:
        event = s.get(AuditEvent, 12)
        assert event is not None
        s.expunge(event)
    event.object_id = "forged"
    key = busy_app.extensions["liaison"].master.audit_chain_key()  # even with the chain key
    forged = audit.event_hash(event.prev_hash, audit.event_fields(event), key=key)
    _tamper(busy_app, "UPDATE audit_events SET object_id = 'forged', hash = ? WHERE seq = 12",
            forged)
    code, output = _verify(busy_app)
    assert code == 2 and "n° 13" in output


def test_deleted_event_is_named(busy_app: Flask) -> None:
    _tamper(busy_app, "DELETE FROM audit_events WHERE seq = 11")
    code, output = _verify(busy_app)
    assert code == 2 and "n° 11" in output


def test_truncated_tail_is_found(busy_app: Flask) -> None:
    with busy_app.extensions["liaison"].db.unit_of_work() as s:
        last = s.scalar(select(AuditEvent.seq).order_by(AuditEvent.seq.desc()).limit(1))
    _tamper(busy_app, "DELETE FROM audit_events WHERE seq >= ?", last - 2)
    code, output = _verify(busy_app)
    assert code == 2 and "tronquée" in output


def test_swapped_events_are_found(busy_app: Flask) -> None:
    _tamper(busy_app, "UPDATE audit_events SET seq = -seq WHERE seq IN (5, 6)")
    connection = sqlite3.connect(_db_file(busy_app))
    connection.execute("UPDATE audit_events SET seq = 6 WHERE seq = -5")
    connection.execute("UPDATE audit_events SET seq = 5 WHERE seq = -6")
    connection.commit()
    connection.close()
    code, output = _verify(busy_app)
    assert code == 2 and "n° 5" in output


def test_database_refuses_to_update_or_delete_an_event(busy_app: Flask) -> None:
    busy_app.extensions["liaison"].db.dispose()
    connection = sqlite3.connect(_db_file(busy_app))
    for sql in ("UPDATE audit_events SET action = 'logout'", "DELETE FROM audit_events"):
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            connection.execute(sql)
    connection.close()


def test_record_refuses_free_text(app: Flask) -> None:
    with app.extensions["liaison"].db.unit_of_work() as s:
        now = app.extensions["liaison"].clock.now()
        for bad in ({"object_id": "Jean Dupont né le 01/02/1980"},
                    {"purpose": "parce que"}, {"object_type": "person name"}):
            with pytest.raises(ValueError):
                audit.record(s, "logout", at=now, **bad)  # type: ignore[arg-type]
        with pytest.raises(ValueError):
            audit.record(s, "something.invented", at=now)


def test_events_name_people_by_opaque_ids_only(busy_app: Flask) -> None:
    with busy_app.extensions["liaison"].db.unit_of_work() as s:
        events = s.scalars(select(AuditEvent)).all()
    text = " ".join(str(value) for e in events for value in audit.event_fields(e))
    for word in ("ts.montauban", "Camille", "Demo-Liaison"):
        assert word not in text
