"""The sweep's mechanics: the indexed query that finds what is due, a kill between any two
steps followed by a clean second run, an error on one item that does not stop the others, one
sweep at a time across processes, signed reports, dry runs and the command line."""

from __future__ import annotations

import multiprocessing
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select, text

from exchange.audit import trail as audit
from exchange.deletion.cli import retention_cli
from exchange.domain.clock import FixedClock
from exchange.fiches.models import Fiche
from exchange.persons.models import Person
from exchange.platform.services import Services
from keys.errors import SignatureInvalid
from retention import reports
from retention.models import DeletionReport, DoomedBlob, DoomedShare, RetentionRun
from retention.schedule import sweep_due
from retention.sweep import find_due
from tests.conftest import make_settings
from tests.fiches.support import IDENTITY, services_of
from tests.retention.support import (
    axe3_sent,
    blob_files,
    counts,
    exists,
    fiche_blobs,
    noon,
    sweep,
)

AFTER = date(2028, 3, 1)
EMPTY = {"persons": 0, "consents": 0, "fiches": 0, "documents": 0, "key_wraps": 0,
         "receipts": 0, "accompaniments": 0, "doomed": 0}


class Killed(BaseException):
    """The process dies here: nothing after this line runs, no cleanup either."""


def test_find_due_is_an_indexed_range_on_the_horizon(app: Flask) -> None:
    built = axe3_sent(app)
    sweep(app, date(2026, 11, 23))  # horizons computed
    svc = services_of(app)
    with svc.db.unit_of_work() as s:
        assert find_due(s, date(2028, 2, 29)) == []
        due = find_due(s, date(2028, 3, 1))
        assert [(i.kind, i.public_id) for i in due if i.kind in ("fiche", "person")] == [
            ("fiche", built.fiche), ("person", built.person)]
        assert [i.kind for i in due] == ["fiche", "consent", "person"]
        if svc.db.engine.dialect.name == "sqlite":
            for table in ("fiches", "accompaniments", "consents", "persons", "documents"):
                plan = " ".join(str(row[-1]) for row in s.execute(text(
                    f"EXPLAIN QUERY PLAN SELECT * FROM {table} WHERE horizon < :d"),  # noqa: S608
                    {"d": "2028-03-01"}))
                assert plan.startswith("SEARCH"), plan  # not SCAN
                assert f"INDEX ix_{table}_horizon (horizon<?)" in plan, plan


@pytest.mark.parametrize("step", [
    "locked", "fiche:checked", "wraps_destroyed", "fiche:rows_deleted", "fiche:audited",
    "fiche:committed", "consent:checked", "consent:rows_deleted", "consent:audited",
    "consent:committed", "shares_destroyed", "blobs_shredded", "epoch:checked",
])
def test_a_sweep_killed_between_two_steps_is_finished_by_the_next(app: Flask,
                                                                  step: str) -> None:
    if step != "locked" and app.extensions["liaison"].db.engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL frees a dead process's advisory lock with its connection; "
                    "this in-process simulation of a death cannot close that connection")
    built = axe3_sent(app)
    blobs = fiche_blobs(app, built.fiche)

    def die(at: str) -> None:
        if at == step:
            raise Killed(at)

    with pytest.raises(Killed):
        sweep(app, AFTER, fault=die)
    if app.extensions["liaison"].db.engine.dialect.name == "sqlite":
        # The dead process never released its lock row: a run before it expires finds it
        # taken... (PostgreSQL's advisory lock dies with the dead process's connection.)
        assert sweep(app, AFTER).status == "busy"
    # ...and one after it expired finishes the work.
    later = datetime.now(UTC) + timedelta(hours=1)
    result = sweep(app, AFTER, clock=lambda: later)

    assert result.status == "done" and not result.errors, result.errors
    assert counts(app) == EMPTY
    assert not set(blobs) & blob_files(app)
    with services_of(app).db.unit_of_work() as s:
        assert audit.verify(s).ok
        assert s.scalar(select(DoomedBlob.name)) is None
        assert s.scalar(select(DoomedShare.id)) is None
    shares = services_of(app).share_keys
    assert shares.is_destroyed(built.person) and shares.live(built.person) == []
    epochs = services_of(app).settings.epoch_key_dir
    assert (epochs / "2028-02.destroyed").exists() and not (epochs / "2028-02.key").exists()


def test_an_error_on_one_item_does_not_stop_the_others(app: Flask) -> None:
    first = axe3_sent(app)
    second = axe3_sent(app, identity=IDENTITY.__class__(
        last_name="Martin", first_names="Paul", birth_date=date(1990, 5, 2)))
    seen: list[str] = []

    def fail_first(at: str) -> None:
        if at == "fiche:checked":
            seen.append(at)
            if len(seen) == 1:
                raise RuntimeError("disk full")

    result = sweep(app, AFTER, fault=fail_first)

    assert [e["kind"] for e in result.errors] == ["fiche"]
    assert result.errors[0]["id"] in (first.fiche, second.fiche)
    assert "disk full" not in repr(result.errors)  # ids and error types only
    failed = result.errors[0]["id"]
    other = second.fiche if failed == first.fiche else first.fiche
    assert exists(app, Fiche, failed) and not exists(app, Fiche, other)
    assert "2028-02" not in result.epochs_destroyed  # the failed one still needs its key
    again = sweep(app, AFTER)
    assert not again.errors and not exists(app, Fiche, failed)
    assert "2028-02" in again.epochs_destroyed


def _sweep_in_process(instance: str, day: str, locked: Any, done: Any, out: Any) -> None:
    from retention.sweep import run_sweep

    svc = Services.build(make_settings(Path(instance)), FixedClock(noon(date.fromisoformat(
        day))))

    def hold_the_lock(at: str) -> None:
        if at == "locked":
            locked.set()
            done.wait(30)  # keep the lock until the other process has tried

    result = run_sweep(svc, noon(date.fromisoformat(day)), fault=hold_the_lock)
    if result.status == "busy":
        done.set()
    out.put((result.status, len(result.deleted)))
    svc.db.dispose()


def test_two_processes_sweeping_at_once_exactly_one_runs(app: Flask, instance: Path) -> None:
    axe3_sent(app)
    services_of(app).db.dispose()
    context = multiprocessing.get_context("spawn")
    locked, done, out = context.Event(), context.Event(), context.Queue()
    processes = [context.Process(target=_sweep_in_process,
                                 args=(str(instance), AFTER.isoformat(), locked, done, out))
                 for _ in range(2)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(120)
        assert process.exitcode == 0
    outcomes = sorted(out.get(timeout=5) for _ in processes)
    assert [status for status, _ in outcomes] == ["busy", "done"]
    assert outcomes[1][1] >= 2  # the one that ran deleted the fiche and its person
    with services_of(app).db.unit_of_work() as s:
        assert s.scalar(select(Person.id)) is None
        assert len(s.scalars(select(RetentionRun)).all()) == 1


def test_each_sweep_signs_a_report_of_ids_and_counts(app: Flask) -> None:
    built = axe3_sent(app)
    result = sweep(app, AFTER)
    svc = services_of(app)
    with svc.db.unit_of_work() as s:
        row = s.scalar(select(DeletionReport).where(
            DeletionReport.public_id == result.report_id))
        assert row is not None
        payload = reports.verify_report(svc.keystore(s), row.signed)
        assert payload["format"] == "liaison-deletion-report/1"
        assert payload["today"] == "2028-03-01"
        assert payload["counts"]["fiche"] == {"axe3": 1}
        assert payload["counts"]["person"] == {"-": 1}
        assert {(i["kind"], i["id"]) for i in payload["deleted"]} >= {
            ("fiche", built.fiche), ("person", built.person)}
        assert payload["documents_deleted"] >= 3 and payload["wraps_destroyed"] >= 6
        signed = bytearray(row.signed)
        signed[signed.index(b'"payload":"') + 20] ^= 1
        with pytest.raises(SignatureInvalid):
            reports.verify_report(svc.keystore(s), bytes(signed))
    report = row.signed.decode()
    assert "Lef" not in report and "Élodie" not in report


def test_a_dry_run_changes_nothing(app: Flask) -> None:
    built = axe3_sent(app)
    before = counts(app)
    result = sweep(app, AFTER, dry_run=True)
    assert result.status == "dry_run"
    assert ("fiche", built.fiche) in {(i["kind"], i["id"]) for i in result.deleted}
    assert counts(app) == before
    with services_of(app).db.unit_of_work() as s:
        assert s.scalar(select(DeletionReport.id)) is None
        assert s.scalar(select(Fiche.horizon).where(Fiche.public_id == built.fiche))


def test_the_command_line_runs_the_same_sweep(app: Flask) -> None:
    built = axe3_sent(app)
    runner = app.test_cli_runner()
    dry = runner.invoke(retention_cli, ["run", "--dry-run", "--now", "2028-03-01"])
    assert dry.exit_code == 0, dry.output
    assert built.fiche in dry.output and exists(app, Fiche, built.fiche)
    bad = runner.invoke(retention_cli, ["run", "--now", "01/03/2028"])
    assert bad.exit_code == 2 and "AAAA-MM-JJ" in bad.output
    real = runner.invoke(retention_cli, ["run", "--now", "2028-03-01"])
    assert real.exit_code == 0, real.output
    assert not exists(app, Fiche, built.fiche)
    listed = runner.invoke(retention_cli, ["reports"])
    assert "signature valide" in listed.output and "1 supprimé" not in listed.output


def test_the_scheduler_runs_daily_at_its_hour_and_catches_up(app: Flask) -> None:
    day = datetime(2027, 3, 10, 0, 30, tzinfo=UTC)  # 01:30 in Paris
    assert sweep_due(None, day, 2)
    assert not sweep_due(day - timedelta(hours=20), day, 2)  # ran yesterday evening
    assert sweep_due(day - timedelta(hours=20), day + timedelta(hours=1), 2)  # 02:30 Paris
    assert sweep_due(day - timedelta(days=1, minutes=1), day, 2)  # missed: catch up
    assert not sweep_due(day + timedelta(hours=1), day + timedelta(hours=3), 2)
