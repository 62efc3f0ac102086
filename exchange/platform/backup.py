"""Backups: one tar file holding a consistent copy of the database and the blob store's files.

What a backup holds, all of it already encrypted where it is personal (DESIGN.md):

    database/liaison.sqlite3   SQLite, copied with the online backup API (a consistent snapshot
                               taken while the portal runs)
    database/liaison.pgdump    or PostgreSQL, `pg_dump --format=custom` from PATH, run on a
                               snapshot exported by a REPEATABLE READ transaction, in which the
                               counts and the migration revision below are read too
    blobs/<name>               every ciphertext of the blob store, copied after the snapshot
    manifest.json              format and version, created_at, database kind, Alembic revision,
                               row counts per table, blob counts, and the size and SHA-256 of
                               every other member

What it never holds: the master-key file, the retention-epoch key files and the per-person share
key files (`LIAISON_SHARE_KEY_DIR`, keys/shares.py). They are backed up separately (offline, two
custodians: DEPLOYMENT.md), so that destroying an epoch key, or a person's share key at an
erasure, erases what it protects from every backup at once.

`restore` goes into an empty deployment only (no table in the database, no blob in the store),
and checks every member against the manifest before it writes anything.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
from contextlib import closing
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from sqlalchemy import inspect, make_url, text
from sqlalchemy.engine import Connection

from exchange.platform.blobs import BlobError, check_name
from exchange.platform.db import is_sqlite
from exchange.platform.services import Services

FORMAT = "liaison-backup"
VERSION = 1
MANIFEST = "manifest.json"
SQLITE_MEMBER = "database/liaison.sqlite3"
PG_MEMBER = "database/liaison.pgdump"
BLOB_PREFIX = "blobs/"
_CHUNK = 1 << 20
NOT_INCLUDED = ("La clé maîtresse, les clés d'époque et les clés de partage par personne ne "
                "sont PAS dans cette sauvegarde : sauvegardez-les à part (hors ligne, deux "
                "dépositaires ; voir DEPLOYMENT.md).")


class BackupError(Exception):
    """The backup or the restore could not be done; the message says why, in French."""


class BackupTampered(BackupError):
    """A member is missing, extra, or differs from the manifest."""


class RestoreRefused(BackupError):
    """The target deployment is not empty, or not of the backup's kind."""


@dataclass
class BackupReport:
    path: Path
    manifest: dict[str, Any]
    missing_blobs: int = 0

    def describe(self) -> str:
        counts = self.manifest["counts"]
        lines = [f"Sauvegarde écrite : {self.path} ({counts['blobs']} fichier(s) chiffré(s), "
                 f"{sum(counts['tables'].values())} ligne(s) dans {len(counts['tables'])} "
                 f"table(s), révision {self.manifest['database']['revision']})."]
        if self.missing_blobs:
            lines.append(f"Attention : {self.missing_blobs} fichier(s) chiffré(s) référencé(s) "
                         "par la base étaient absents du stockage (supprimés entre-temps ?).")
        return "\n".join(lines)


@dataclass
class RestoreReport:
    manifest: dict[str, Any]
    blobs: int
    current_revision: str | None
    heads: frozenset[str] = field(default_factory=frozenset)

    def describe(self) -> str:
        lines = [f"Restauration terminée : base ({self.manifest['database']['kind']}, révision "
                 f"{self.current_revision}) et {self.blobs} fichier(s) chiffré(s)."]
        if self.current_revision not in self.heads:
            lines.append("La base restaurée précède cette version du portail : lancez "
                         "« flask db upgrade ».")
        return "\n".join(lines)


# -- create ---------------------------------------------------------------------------------


def create(svc: Services, out: Path) -> BackupReport:
    """Write a backup to `out` (refused if it exists), mode 0600, atomically."""
    out = Path(out)
    if out.exists():
        raise BackupError(f"{out} existe déjà : une sauvegarde n'en écrase jamais une autre.")
    out.parent.mkdir(parents=True, exist_ok=True)
    created = svc.clock.now()
    with tempfile.TemporaryDirectory(prefix=".liaison-backup-", dir=out.parent) as work:
        dump = Path(work) / "database"
        kind, member, revision, tables, referenced = _database_snapshot(svc, dump)
        members: dict[str, dict[str, Any]] = {}
        partial = Path(work) / "backup.tar"
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as raw, tarfile.open(fileobj=raw, mode="w",
                                                      format=tarfile.PAX_FORMAT) as tar:
            with open(dump, "rb") as handle:
                members[member] = _add(tar, member, handle, created)
            present = set()
            store = svc.blobs
            for name in store.names():
                try:
                    data = store.get(name)
                except BlobError:  # deleted since it was listed: the database no longer needs it
                    continue
                present.add(name)
                members[BLOB_PREFIX + name] = _add(tar, BLOB_PREFIX + name, io.BytesIO(data),
                                                   created)
            manifest = {
                "format": FORMAT,
                "version": VERSION,
                "created_at": created.isoformat(),
                "database": {"kind": kind, "member": member, "revision": revision},
                "counts": {"tables": tables, "blobs": len(present),
                           "blobs_referenced": len(referenced)},
                "members": members,
                "not_included": ["master key", "epoch keys"],
            }
            body = json.dumps(manifest, indent=2, sort_keys=True).encode()
            _add(tar, MANIFEST, io.BytesIO(body), created)
            raw.flush()
            os.fsync(raw.fileno())
        os.link(partial, out)  # fails rather than replace a file created meanwhile
    return BackupReport(out, manifest, missing_blobs=len(referenced - present))


def _add(tar: tarfile.TarFile, name: str, handle: IO[bytes], at: datetime) -> dict[str, Any]:
    digest = hashlib.sha256()
    handle.seek(0, os.SEEK_END)
    size = handle.tell()
    handle.seek(0)
    while chunk := handle.read(_CHUNK):
        digest.update(chunk)
    handle.seek(0)
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = size, 0o600, int(at.timestamp())
    tar.addfile(info, handle)
    return {"size": size, "sha256": digest.hexdigest()}


Snapshot = tuple[str, str, str | None, dict[str, int], set[str]]


def _database_snapshot(svc: Services, dump: Path) -> Snapshot:
    url = svc.settings.database_url
    if is_sqlite(url):
        source = make_url(url).database or ""
        with closing(sqlite3.connect(source)) as src, closing(sqlite3.connect(dump)) as dst:
            src.backup(dst)
            dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
            revision, tables, referenced = _facts_sqlite(dst)
        return "sqlite", SQLITE_MEMBER, revision, tables, referenced
    with svc.db.engine.connect() as connection:
        connection = connection.execution_options(isolation_level="REPEATABLE READ")
        with connection.begin():
            snapshot = connection.execute(text("SELECT pg_export_snapshot()")).scalar_one()
            revision, tables, referenced = _facts(connection)
            _run(["pg_dump", "--format=custom", "--no-password", f"--snapshot={snapshot}",
                  f"--file={dump}", "--dbname"], url)
    return "postgresql", PG_MEMBER, revision, tables, referenced


def _facts(connection: Connection) -> tuple[str | None, dict[str, int], set[str]]:
    quote = connection.dialect.identifier_preparer.quote
    names = sorted(inspect(connection).get_table_names())
    tables = {name: int(connection.execute(
        text(f"SELECT count(*) FROM {quote(name)}")).scalar_one())  # noqa: S608  # nosec B608
        for name in names}
    revision = None
    if "alembic_version" in names:
        revision = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
    referenced = set()
    if "documents" in names:
        referenced = set(connection.execute(text("SELECT blob FROM documents")).scalars())
    return revision, tables, referenced


def _facts_sqlite(db: sqlite3.Connection) -> tuple[str | None, dict[str, int], set[str]]:
    names = sorted(row[0] for row in db.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"))
    tables = {name: int(db.execute(
        f'SELECT count(*) FROM "{name}"').fetchone()[0]) for name in names}  # noqa: S608  # nosec B608
    revision = None
    if "alembic_version" in names:
        row = db.execute("SELECT version_num FROM alembic_version").fetchone()
        revision = row[0] if row else None
    referenced = set()
    if "documents" in names:
        referenced = {row[0] for row in db.execute("SELECT blob FROM documents")}
    return revision, tables, referenced


def _run(command: list[str], url: str) -> None:
    """Run pg_dump / pg_restore with the database given as a libpq URI (password in the
    environment, not on the command line where `ps` would show it)."""
    parsed = make_url(url)
    env = dict(os.environ)
    if parsed.password is not None:
        env["PGPASSWORD"] = str(parsed.password)
    libpq = parsed.set(drivername="postgresql", password=None).render_as_string(
        hide_password=False)
    program = shutil.which(command[0])
    if program is None:
        raise BackupError(f"{command[0]} est introuvable dans le PATH (paquet postgresql-client).")
    done = subprocess.run([program, *command[1:], libpq], env=env, capture_output=True,  # noqa: S603  # nosec B603
                          text=True, check=False, timeout=6 * 3600)
    if done.returncode != 0:
        raise BackupError(f"{command[0]} a échoué (code {done.returncode}) : "
                          f"{done.stderr.strip()[-500:]}")


# -- verify and restore ---------------------------------------------------------------------


def verify(path: Path) -> dict[str, Any]:
    """The manifest, once every member has the size and SHA-256 it lists and nothing else is
    in the file; BackupTampered otherwise."""
    try:
        with tarfile.open(path, mode="r:") as tar:
            manifest = _manifest(tar)
            expected = dict(manifest["members"])
            seen: set[str] = set()
            for info in tar:
                if info.name == MANIFEST:
                    continue
                if not info.isfile() or info.name in seen or info.name not in expected:
                    raise BackupTampered(f"membre inattendu dans la sauvegarde : {info.name!r}.")
                seen.add(info.name)
                handle = tar.extractfile(info)
                assert handle is not None
                digest = hashlib.sha256()
                while chunk := handle.read(_CHUNK):
                    digest.update(chunk)
                want = expected[info.name]
                if info.size != want["size"] or digest.hexdigest() != want["sha256"]:
                    raise BackupTampered(f"le membre {info.name} ne correspond pas au manifeste "
                                         "(sauvegarde altérée ou abîmée).")
    except (tarfile.TarError, OSError, KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, BackupError):
            raise
        raise BackupTampered(f"sauvegarde illisible : {type(exc).__name__}.") from exc
    missing = set(expected) - seen
    if missing:
        raise BackupTampered(f"{len(missing)} membre(s) du manifeste manquent à la sauvegarde.")
    for name in expected:
        if name.startswith(BLOB_PREFIX):
            try:
                check_name(name[len(BLOB_PREFIX):])
            except BlobError as exc:
                raise BackupTampered(f"nom de fichier chiffré invalide : {name!r}.") from exc
        elif name != manifest["database"]["member"]:
            raise BackupTampered(f"membre inattendu dans la sauvegarde : {name!r}.")
    return manifest


def _manifest(tar: tarfile.TarFile) -> dict[str, Any]:
    try:
        info = tar.getmember(MANIFEST)
    except KeyError:
        raise BackupTampered("la sauvegarde n'a pas de manifeste.") from None
    handle = tar.extractfile(info)
    if handle is None:
        raise BackupTampered("le manifeste de la sauvegarde est illisible.")
    manifest = json.loads(handle.read())
    if manifest.get("format") != FORMAT or manifest.get("version") != VERSION:
        raise BackupTampered("ce fichier n'est pas une sauvegarde Liaison de format connu.")
    return dict(manifest)


def emptiness_problems(svc: Services) -> list[str]:
    problems = []
    tables = inspect(svc.db.engine).get_table_names()
    if tables:
        problems.append(f"la base contient déjà {len(tables)} table(s)")
    if next(iter(svc.blobs.names()), None) is not None:
        problems.append("le stockage des fichiers chiffrés n'est pas vide")
    return problems


def restore(svc: Services, path: Path) -> RestoreReport:
    """Restore `path` into this deployment, which must be empty and of the backup's kind."""
    from exchange.platform.migrate import migration_heads

    manifest = verify(path)
    kind = "sqlite" if is_sqlite(svc.settings.database_url) else "postgresql"
    if manifest["database"]["kind"] != kind:
        raise RestoreRefused(f"sauvegarde d'une base {manifest['database']['kind']}, "
                             f"déploiement sur {kind} : restauration refusée.")
    problems = emptiness_problems(svc)
    if problems:
        raise RestoreRefused("Restauration refusée : " + " ; ".join(problems) +
                             ". On ne restaure que dans un déploiement vide.")
    member = manifest["database"]["member"]
    blobs = 0
    with tarfile.open(path, mode="r:") as tar, \
            tempfile.TemporaryDirectory(prefix=".liaison-restore-") as work:
        dump = Path(work) / "database"
        source = tar.extractfile(member)
        assert source is not None
        with open(dump, "wb") as target:
            shutil.copyfileobj(source, target, _CHUNK)
        if kind == "sqlite":
            _restore_sqlite(svc, dump)
        else:
            _run(["pg_restore", "--exit-on-error", "--single-transaction", "--no-owner",
                  "--no-password", str(dump), "--dbname"], svc.settings.database_url)
        store = svc.blobs
        for info in tar:
            if info.name.startswith(BLOB_PREFIX):
                handle = tar.extractfile(info)
                assert handle is not None
                data = handle.read()
                if hashlib.sha256(data).hexdigest() != manifest["members"][info.name]["sha256"]:
                    raise BackupTampered(f"le membre {info.name} a changé pendant la lecture.")
                store.put(info.name[len(BLOB_PREFIX):], data)
                blobs += 1
    with svc.db.engine.connect() as connection:
        revision, tables, _ = _facts(connection)
    if tables != manifest["counts"]["tables"]:
        raise BackupError("Les comptes de lignes de la base restaurée diffèrent du manifeste.")
    with svc.db.unit_of_work() as session:
        svc.check_master(session)  # MasterKeyInvalid: this master key cannot open the backup
    return RestoreReport(manifest, blobs, revision, migration_heads())


def _restore_sqlite(svc: Services, dump: Path) -> None:
    target = Path(make_url(svc.settings.database_url).database or "")
    svc.db.dispose()
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    staged = target.with_name(f".{target.name}.restoring")
    shutil.copyfile(dump, staged)
    os.chmod(staged, 0o600)
    for suffix in ("-wal", "-shm"):
        Path(f"{target}{suffix}").unlink(missing_ok=True)
    os.replace(staged, target)
