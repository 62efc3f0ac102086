"""Pages that only read run in readings (`Database.reading`): on SQLite they neither wait for
nor hold the one write lock. Opening a fiche checks it in a reading and records the opening in a
short unit of work, which checks again if the fiche changed in between."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from flask import Flask
from sqlalchemy import select, update

from exchange.domain.clock import FixedClock
from exchange.fiches import reading, sending
from exchange.fiches.common import FicheError
from exchange.fiches.models import Fiche
from exchange.platform.keyrecord_models import PlatformValue
from exchange.platform.models import Document
from exchange.policy import visible_fiche
from tests.fiches.support import (
    acting_as,
    audit_events,
    fiche_state,
    sent,
    services_of,
    signed_in,
)

ADVISOR = "cft.montauban"


@contextmanager
def write_lock_held(app: Flask) -> Iterator[None]:
    """Another connection in the middle of a unit of work that has written."""
    started, release = threading.Event(), threading.Event()

    def writer() -> None:
        with services_of(app).db.unit_of_work() as s:
            s.add(PlatformValue(name="held-by-a-writer", value=b"1"))
            s.flush()
            started.set()
            release.wait(30)

    holder = threading.Thread(target=writer)
    holder.start()
    assert started.wait(10)
    try:
        yield
    finally:
        release.set()
        holder.join(30)


@pytest.mark.parametrize(("username", "paths"), [
    (ADVISOR, ["/fiches/recues", "/fiches/envoyees", "/conseiller/", "/accompagnements/"]),
    ("ts.montauban", ["/fiches/envoyees", "/travailleur-social/"]),
])
def test_pages_that_only_read_answer_while_a_writer_holds_the_lock(
        app: Flask, clock: FixedClock, username: str, paths: list[str]) -> None:
    sent(app)
    browser = signed_in(app, username, clock)
    for path in paths:  # the session's first visit to each page may write it (CSRF token)
        assert browser.get(path).status_code == 200
    answers: dict[str, int] = {}

    def visit() -> None:
        for path in paths:
            answers[path] = browser.get(path).status_code

    with write_lock_held(app):
        visitor = threading.Thread(target=visit)
        visitor.start()
        visitor.join(10)  # a page waiting for the lock would wait for the busy timeout (30 s)
        finished = not visitor.is_alive()
    visitor.join(60)
    assert finished
    assert answers == dict.fromkeys(paths, 200)


def test_opening_records_one_event_and_the_checks_found_in_the_reading_are_used(
        app: Flask) -> None:
    fiche = sent(app).fiche
    with acting_as(app, ADVISOR, read_only=True) as ctx:
        checked = reading.check_fiche(ctx, visible_fiche(ctx.session, ctx.agent, fiche))
    # The content blob is damaged after the checks: the opening that follows records what
    # the reading checked, without decrypting again while it holds the write lock.
    svc = services_of(app)
    with svc.db.reading() as s:
        blob = s.scalar(select(Document.blob).join(Fiche, Document.fiche_id == Fiche.id)
                        .where(Fiche.public_id == fiche, Document.role == "content"))
    assert blob is not None
    path = svc.settings.blob_dir / blob[:2] / blob
    path.write_bytes(bytes(b ^ 0xFF for b in path.read_bytes()))
    with acting_as(app, ADVISOR) as ctx:
        opened = reading.open_fiche(ctx, visible_fiche(ctx.session, ctx.agent, fiche), "party",
                                    checked)
    assert opened.content == checked.content
    assert fiche_state(app, fiche) == "read"
    assert len(audit_events(app, "fiche.opened", fiche)) == 1
    assert not audit_events(app, "fiche.tampered", fiche)


def test_a_fiche_recalled_between_the_checks_and_the_opening_is_not_opened(
        app: Flask) -> None:
    fiche = sent(app).fiche
    with acting_as(app, ADVISOR, read_only=True) as ctx:
        checked = reading.check_fiche(ctx, visible_fiche(ctx.session, ctx.agent, fiche))
    with acting_as(app, "ts.montauban") as ctx:
        sending.recall(ctx, visible_fiche(ctx.session, ctx.agent, fiche), "wrong_recipient", "")
    with pytest.raises(FicheError), acting_as(app, ADVISOR) as ctx:
        reading.open_fiche(ctx, visible_fiche(ctx.session, ctx.agent, fiche), "party", checked)
    assert fiche_state(app, fiche) == "recalled"
    assert not audit_events(app, "fiche.opened", fiche)


def test_a_fiche_changed_between_the_checks_and_the_opening_is_checked_again(
        app: Flask) -> None:
    fiche = sent(app).fiche
    with acting_as(app, ADVISOR, read_only=True) as ctx:
        checked = reading.check_fiche(ctx, visible_fiche(ctx.session, ctx.agent, fiche))
    with services_of(app).db.unit_of_work() as s:  # a new manifest: what was checked is gone
        s.execute(update(Fiche).where(Fiche.public_id == fiche).values(manifest=b"{}"))
    with acting_as(app, ADVISOR) as ctx:
        with pytest.raises(FicheError):
            reading.open_fiche(ctx, visible_fiche(ctx.session, ctx.agent, fiche), "party",
                               checked)
    assert fiche_state(app, fiche) == "sent"
    assert not audit_events(app, "fiche.opened", fiche)
    assert len(audit_events(app, "fiche.tampered", fiche)) == 1


def test_the_fiche_page_opens_once_and_shows_the_state_it_recorded(
        app: Flask, clock: FixedClock) -> None:
    fiche = sent(app).fiche
    page = signed_in(app, ADVISOR, clock).get(f"/fiches/{fiche}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "LEFÈVRE" in html
    assert "accuser-reception" in html  # the page is rendered after the opening: "read"
    assert fiche_state(app, fiche) == "read"
    assert len(audit_events(app, "fiche.opened", fiche)) == 1
