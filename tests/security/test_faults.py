"""Faults: the database, the SMTP server or the blob store unavailable, and the process killed
in the middle of signing or sending. The user gets a French message and no trace, nothing
partial is left in the database, and a restart (plus the orphan-blob purge) recovers.

The tests run as whatever user the suite runs as; as root, chmod does not stop writes, so the
blob store is made full or read-only at the system-call boundary (`os.open` in
exchange.platform.blobs fails with ENOSPC / EROFS, as the kernel would say)."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from exchange.app import create_app
from exchange.domain.clock import FixedClock
from exchange.fiches import sending, signing
from exchange.fiches.common import FicheError
from exchange.fiches.models import Fiche
from exchange.notify import tasks as notify_tasks
from exchange.notify.models import Notification
from exchange.platform import blobs
from exchange.platform import tasks as platform_tasks
from exchange.platform.blobs import purge_orphans
from exchange.policy import visible_fiche
from tests.conftest import START, make_settings, post_form
from tests.fiches.support import (
    acting_as,
    fiche_state,
    flashed,
    prepare,
    services_of,
    signed_in,
    snapshot,
)

REPO = Path(__file__).resolve().parents[2]


def _no_trace(html: str) -> None:
    for leak in ("Traceback", "sqlite", "OperationalError", "DatabaseError", "File \""):
        assert leak not in html, leak


# -- the database ------------------------------------------------------------------------------

@pytest.mark.sqlite_file
def test_an_unreadable_database_gives_the_french_error_page_and_recovers(
        app: Flask, instance: Path, clock: FixedClock) -> None:
    worker = signed_in(app, "ts.montauban", clock)
    assert worker.get("/fiches/recues").status_code == 200
    database = Path(services_of(app).settings.database_url.removeprefix("sqlite:///"))
    assert database.is_file()
    services_of(app).db.dispose()
    saved = database.with_suffix(".saved")
    database.rename(saved)
    for side in ("-wal", "-shm"):
        Path(f"{database}{side}").unlink(missing_ok=True)
    database.write_bytes(b"this is not a database" * 100)  # a corrupt or foreign file
    try:
        for client, path in ((worker, "/fiches/recues"), (app.test_client(), "/connexion/")):
            answer = client.get(path)
            html = answer.get_data(as_text=True)
            assert answer.status_code in (500, 503), (path, answer.status_code)
            assert "Erreur du service" in html or "indisponible" in html, html[:2000]
            assert '<html lang="fr">' in html
            _no_trace(html)
            assert "frame-ancestors 'none'" in answer.headers["Content-Security-Policy"]
        assert app.test_client().get("/pret").status_code == 503
    finally:
        services_of(app).db.dispose()
        database.unlink()
        saved.rename(database)
    # "Restart": the same app, the file back: the session is still valid.
    assert worker.get("/fiches/recues").status_code == 200


# -- the SMTP server ---------------------------------------------------------------------------

def test_an_unreachable_smtp_server_leaves_the_notification_queued(
        instance: Path, clock: FixedClock) -> None:
    import socket

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    app = create_app(make_settings(instance, smtp_host="127.0.0.1", smtp_port=port),
                     clock=clock)
    try:
        prepared = prepare(app)
        worker = signed_in(app, "ts.montauban", clock)
        answer = post_form(worker, f"/fiches/{prepared.fiche}/envoyer", {},
                           form_page=f"/fiches/{prepared.fiche}", follow_redirects=True)
        assert answer.status_code == 200
        assert fiche_state(app, prepared.fiche) == "sent"
        notify_tasks.deliver_notifications(services_of(app))  # the job, as the scheduler runs it
        with services_of(app).db.unit_of_work() as s:
            rows = list(s.scalars(select(Notification)))
        assert rows and all(r.sent_at is None and not r.failed for r in rows)
        assert all(r.attempts == 1 and r.next_attempt_at > clock.now() for r in rows)
    finally:
        services_of(app).db.dispose()


# -- the blob store ----------------------------------------------------------------------------

@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS], ids=["full", "read-only"])
def test_a_full_or_read_only_blob_store_refuses_signing_and_leaves_nothing(
        app: Flask, clock: FixedClock, monkeypatch: pytest.MonkeyPatch, code: int) -> None:
    prepared = prepare(app, sign=False)
    before = snapshot(app, prepared.fiche)
    real_open = os.open

    def failing_open(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        if flags & os.O_CREAT:
            raise OSError(code, os.strerror(code))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(blobs.os, "open", failing_open)
    with pytest.raises((FicheError, blobs.BlobError)), acting_as(app, "ts.montauban") as ctx:
        signing.sign(ctx, visible_fiche(ctx.session, ctx.agent, prepared.fiche))
    assert snapshot(app, prepared.fiche) == before
    # Through the screen: a French message, the draft as it was.
    worker = signed_in(app, "ts.montauban", clock)
    draft = f"/fiches/{prepared.fiche}/brouillon"
    answer = post_form(worker, draft, {"action": "sign", "diagnostic_date": "2026-11-20",
                                       "barriers": ["housing", "mobility"],
                                       "professional_barriers": "Aucune.",
                                       "motive": "Logement.", "expectations": "Emploi."},
                       form_page=draft, follow_redirects=True)
    html = answer.get_data(as_text=True)
    _no_trace(html)
    assert answer.status_code in (200, 409, 503), answer.status_code
    assert "stockage" in (flashed(answer) + html), html[:3000]
    assert fiche_state(app, prepared.fiche) == "draft"
    assert snapshot(app, prepared.fiche)["blobs"] == before["blobs"]
    monkeypatch.undo()
    with acting_as(app, "ts.montauban") as ctx:  # the store back: signing works
        signing.sign(ctx, visible_fiche(ctx.session, ctx.agent, prepared.fiche))
    assert fiche_state(app, prepared.fiche) == "signed"


# -- the process killed ------------------------------------------------------------------------

KILLER = textwrap.dedent("""
    import os, signal, sys
    from pathlib import Path
    from exchange.app import create_app
    from exchange.domain.clock import FixedClock
    from exchange.fiches import sending, signing
    from exchange.policy import visible_fiche
    from tests.conftest import START, make_settings
    from tests.fiches.support import acting_as

    instance, use_case, fiche, step = sys.argv[1:5]
    app = create_app(make_settings(Path(instance)), clock=FixedClock(START))

    def fault(name):
        if name == step:
            os.kill(os.getpid(), signal.SIGKILL)

    with acting_as(app, "ts.montauban") as ctx:
        found = visible_fiche(ctx.session, ctx.agent, fiche)
        (signing.sign if use_case == "sign" else sending.send)(ctx, found, fault=fault)
    print("not killed")
""")


def _killed_during(instance: Path, use_case: str, fiche: str, step: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", KILLER, str(instance), use_case, fiche, step],
        cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True,
        timeout=120, check=False)
    assert done.returncode == -signal.SIGKILL, done.stderr.decode()[-3000:]


def test_a_process_killed_while_signing_leaves_the_draft_and_orphans_are_purged(
        app: Flask, instance: Path) -> None:
    prepared = prepare(app, sign=False)
    before = snapshot(app, prepared.fiche)
    services_of(app).db.dispose()
    _killed_during(instance, "sign", prepared.fiche, "sealed attachment")
    after = snapshot(app, prepared.fiche)
    assert fiche_state(app, prepared.fiche) == "draft"
    assert {k: v for k, v in after.items() if k != "blobs"} == \
        {k: v for k, v in before.items() if k != "blobs"}
    left = {name for name, _ in after["blobs"]} - {name for name, _ in before["blobs"]}
    assert left, "the killed signature wrote no blob: the fault point is too early"
    # A blob still being written when the process died stays as a temporary file.
    written = {Path(n).name for n in left if not n.endswith(".tmp")}
    svc = services_of(app)
    with svc.db.unit_of_work() as s:
        assert written == set(blobs.orphans(s, svc.blobs))
        assert purge_orphans(s, svc.blobs, datetime.now(UTC)) == []  # too young: kept
        purged = purge_orphans(s, svc.blobs, datetime.now(UTC) + timedelta(hours=2))
    assert set(purged) == {Path(n).name for n in left}
    assert snapshot(app, prepared.fiche) == before
    with acting_as(app, "ts.montauban") as ctx:  # restarted: signing works
        signing.sign(ctx, visible_fiche(ctx.session, ctx.agent, prepared.fiche))
    assert fiche_state(app, prepared.fiche) == "signed"


def test_a_process_killed_while_sending_leaves_the_fiche_unsent(
        app: Flask, instance: Path) -> None:
    prepared = prepare(app)
    before = snapshot(app, prepared.fiche)
    services_of(app).db.dispose()
    _killed_during(instance, "send", prepared.fiche, "audited")
    assert snapshot(app, prepared.fiche) == before
    with services_of(app).db.unit_of_work() as s:
        assert blobs.orphans(s, services_of(app).blobs) == []
        state = s.scalar(select(Fiche.state).where(Fiche.public_id == prepared.fiche))
    assert state == "countersigned"
    with acting_as(app, "ts.montauban") as ctx:
        sending.send(ctx, visible_fiche(ctx.session, ctx.agent, prepared.fiche))
    assert fiche_state(app, prepared.fiche) == "sent"


def test_the_orphan_purge_keeps_referenced_and_young_blobs(app: Flask) -> None:
    prepare(app, sign=False)
    svc = services_of(app)
    store = svc.blobs
    stray = blobs.new_name()
    store.put(stray, b"ciphertext left by a killed process")
    old = (datetime.now(UTC) - timedelta(hours=3)).timestamp()
    os.utime(store._path(stray), (old, old))  # noqa: SLF001 - age the file as time would
    young = blobs.new_name()
    store.put(young, b"written by a transaction still running")
    referenced = set(store.names()) - {stray, young}
    with svc.db.unit_of_work() as s:
        assert set(blobs.orphans(s, store)) == {stray, young}
        assert purge_orphans(s, store, datetime.now(UTC), dry_run=True) == [stray]
        assert store.exists(stray)
        assert purge_orphans(s, store, datetime.now(UTC)) == [stray]
    assert set(store.names()) == referenced | {young}
    platform_tasks.purge_orphan_blobs(svc)  # the scheduled job: nothing old is left
    assert set(store.names()) == referenced | {young}


def test_the_orphan_purge_shreds_the_temporary_file_of_an_unfinished_write(app: Flask) -> None:
    prepare(app, sign=False)
    store = services_of(app).blobs
    name = blobs.new_name()
    store.put(name, b"x")
    stray = store._path(name)  # noqa: SLF001 - a write cut short by a killed process
    unfinished = stray.with_suffix(".tmp")
    stray.rename(unfinished)
    unfinished.write_bytes(b"ciphertext cut short")
    with services_of(app).db.unit_of_work() as s:
        assert purge_orphans(s, store, datetime.now(UTC)) == []  # may still be written
        assert unfinished.exists()
        old = (datetime.now(UTC) - timedelta(hours=3)).timestamp()
        os.utime(unfinished, (old, old))
        assert purge_orphans(s, store, datetime.now(UTC), dry_run=True) == [unfinished.name]
        assert unfinished.exists()
        assert purge_orphans(s, store, datetime.now(UTC)) == [unfinished.name]
    assert not unfinished.exists()
    with pytest.raises(blobs.BlobError):
        store.discard_unfinished(name)  # only temporaries


__all__ = ["START"]
