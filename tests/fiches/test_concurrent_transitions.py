"""Two transitions of one fiche at once: the first to look the fiche up holds its row until it
commits, so the second reads the state the first left and cannot pass the same state check.
SQLite's units of work already queue on its one write lock; PostgreSQL needs the row lock."""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from exchange.acting import load_agent
from exchange.policy import visible_fiche
from tests import databases
from tests.fiches.support import acting_as, prepare, services_of, user_id


@pytest.mark.skipif(not databases.on_postgres(), reason="SQLite serialises units of work")
def test_a_unit_of_work_locks_the_fiche_it_looks_up(app: Flask) -> None:
    prepared = prepare(app)
    db = services_of(app).db
    sender = user_id(app, "ts.montauban")
    with acting_as(app, "ts.montauban") as first:
        visible_fiche(first.session, first.agent, prepared.fiche)
        second = db.sessions()
        try:
            second.execute(text("SET LOCAL lock_timeout = '200ms'"))
            user = load_agent(second, sender)
            assert user is not None
            with pytest.raises(OperationalError, match="lock"):
                visible_fiche(second, user, prepared.fiche)
        finally:
            second.rollback()
            second.close()


def test_a_reading_looks_a_fiche_up_without_locking_it(app: Flask) -> None:
    prepared = prepare(app)
    db = services_of(app).db
    with db.reading() as s:
        user = load_agent(s, user_id(app, "ts.montauban"))
        assert user is not None
        assert visible_fiche(s, user, prepared.fiche).public_id == prepared.fiche
