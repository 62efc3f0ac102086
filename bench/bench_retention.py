"""Retention sweep: 100,000 due fiche-like items (fiche + person + document + 2 key wraps +
blob each) deleted, then a sweep over 1,000,000 records none of which is due.

Targets: under 2 minutes for the 100,000 deletions, under 1 second when nothing is
due. The rows are bulk-inserted with random bytes in place of real envelopes (the sweep never
opens what it deletes), into a migrated and seeded embedded database. The processor time is
printed too: on a machine shared with other work it varies less than the elapsed time.
BENCH_RETENTION_DUE and BENCH_RETENTION_RECORDS set smaller counts (e.g. to profile).
"""

from __future__ import annotations

import os
import secrets
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import insert, select

from exchange.accounts.models import User
from exchange.demo.seed import seed
from exchange.domain.clock import FixedClock
from exchange.fiches.models import Fiche
from exchange.org.models import Convention, Unit
from exchange.persons.models import Person
from exchange.platform.migrate import upgrade
from exchange.platform.models import Document, KeyWrap
from exchange.platform.services import Services
from exchange.platform.settings import Settings
from retention.sweep import run_sweep

DUE = int(os.environ.get("BENCH_RETENTION_DUE", "100000"))
NOT_DUE = int(os.environ.get("BENCH_RETENTION_RECORDS", "1000000"))
NOW = datetime(2027, 3, 1, 11, 0, tzinfo=UTC)
PAST = date(2027, 1, 15)
FUTURE = date(2030, 6, 30)
BATCH = 20000


def settings(instance: Path) -> Settings:
    return Settings(mode="demo", instance_path=instance,
                    secret_key="bench-secret-key-0123456789abcdefghijklmnop",  # noqa: S106
                    database_url=f"sqlite:///{instance / 'liaison.db'}",
                    master_key_file=instance / "keys" / "master.key",
                    epoch_key_dir=instance / "keys" / "epochs", blob_dir=instance / "blobs",
                    argon2_time_cost=1, argon2_memory_kib=64, argon2_parallelism=1,
                    scheduler=False)


def build(instance: Path) -> Services:
    config = settings(instance)
    upgrade(config.database_url)
    svc = Services.build(config, FixedClock(NOW))
    svc.open_master(create=True)
    seed(svc, only_if_empty=False)
    return svc


def populate(svc: Services, count: int, horizon: date, *, documents_per_fiche: int,
             blobs: bool) -> None:
    """``count`` persons, each with one cancelled fiche and its documents and wraps."""
    epoch = f"{horizon.year:04d}-{horizon.month:02d}"
    with svc.db.unit_of_work() as s:
        convention = s.scalar(select(Convention.id))
        unit = s.scalar(select(Unit.id))
        user = s.scalar(select(User.id))
        first_person = (s.scalar(select(Person.id).order_by(Person.id.desc())) or 0) + 1
        first_fiche = (s.scalar(select(Fiche.id).order_by(Fiche.id.desc())) or 0) + 1
        first_document = (s.scalar(select(Document.id).order_by(Document.id.desc())) or 0) + 1
    root = svc.settings.blob_dir
    payload = secrets.token_bytes(2048)
    for start in range(0, count, BATCH):
        size = min(BATCH, count - start)
        persons, fiches, documents, wraps = [], [], [], []
        for i in range(start, start + size):
            pid, fid = first_person + i, first_fiche + i
            persons.append(dict(id=pid, public_id=secrets.token_hex(16),
                                sealed_key=secrets.token_bytes(96),
                                identity=secrets.token_bytes(128), identity_version=1,
                                index_name_birth=secrets.token_hex(32), epoch=epoch,
                                horizon=horizon, restricted=False, created_by_unit_id=unit,
                                created_at=NOW, updated_at=NOW))
            fiches.append(dict(id=fid, public_id=secrets.token_hex(16),
                               kind="orientation_axe3", axis=3, state="cancelled", version=1,
                               convention_id=convention, person_id=pid, sender_unit_id=unit,
                               sender_user_id=user, recipient_unit_id=unit, created_at=NOW,
                               updated_at=NOW, decided_at=NOW, horizon=horizon))
            for k in range(documents_per_fiche):
                did = first_document + i * documents_per_fiche + k
                name = secrets.token_hex(16)
                documents.append(dict(id=did, public_id=secrets.token_hex(16), role="content",
                                      fiche_id=fid, header=b"{}", nonce=b"0" * 12,
                                      epoch_wrap=b"w" * 60, epoch=epoch, blob=name, size=2048,
                                      created_at=NOW, horizon=horizon))
                wraps += [dict(document_id=did, reader=reader, key_id="bench", key_version=1,
                               enc=secrets.token_bytes(1136)) for reader in ("a", "b")]
                if blobs:
                    folder = root / name[:2]
                    folder.mkdir(parents=True, exist_ok=True)
                    (folder / name).write_bytes(payload)
        with svc.db.unit_of_work() as s:
            s.execute(insert(Person), persons)
            s.execute(insert(Fiche), fiches)
            s.execute(insert(Document), documents)
            if wraps:
                s.execute(insert(KeyWrap), wraps)


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="bench-retention-") as folder:
        instance = Path(folder)
        svc = build(instance)
        with svc.db.unit_of_work() as s:
            svc.keystore(s).epochs.key("2027-01")  # the due month has a live epoch key
        started = time.perf_counter()
        populate(svc, DUE, PAST, documents_per_fiche=1, blobs=True)
        print(f"setup: {DUE} due fiches with documents, wraps and blobs in "
              f"{time.perf_counter() - started:.1f} s", flush=True)
        started, cpu = time.perf_counter(), time.process_time()
        result = run_sweep(svc, NOW)
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        fiches = sum(1 for item in result.deleted if item["kind"] == "fiche")
        print(f"sweep, {fiches} due fiches ({result.documents} documents, {result.wraps} wraps, "
              f"{result.blobs} blobs, {len(result.deleted) - fiches} persons): {elapsed:.1f} s "
              f"({elapsed / max(fiches, 1) * 1000:.2f} ms per fiche, processor {cpu:.1f} s; "
              f"target < 120 s); epochs destroyed {result.epochs_destroyed}; "
              f"errors {len(result.errors)}", flush=True)
        ok = elapsed < 120 and fiches == DUE and not result.errors

        # 1,000,000 records none due: persons + fiches + documents, a third each.
        third = NOT_DUE // 3
        started = time.perf_counter()
        populate(svc, third, FUTURE, documents_per_fiche=1, blobs=False)
        print(f"setup: {3 * third} records not due in {time.perf_counter() - started:.1f} s",
              flush=True)
        timings = []
        for day in range(3):
            started = time.perf_counter()
            quiet = run_sweep(svc, NOW + timedelta(days=1 + day))
            timings.append(time.perf_counter() - started)
            assert not quiet.deleted and not quiet.errors
        best = min(timings)
        print(f"sweep over {3 * third} records, none due: {best * 1000:.0f} ms (best of 3; "
              f"first {timings[0] * 1000:.0f} ms; target < 1000 ms)", flush=True)
        ok = ok and max(timings) < 1.0
        svc.db.dispose()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
