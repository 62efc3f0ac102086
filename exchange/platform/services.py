"""What the app factory binds once and every request or job uses: settings, database, clock,
password hasher, throttle, and the key material opened with the master key."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from exchange.accounts.passwords import Passwords
from exchange.accounts.throttle import Throttle
from exchange.audit import anchor as audit_anchor
from exchange.domain.clock import Clock
from exchange.platform.blobs import BlobStore, FolderBlobStore
from exchange.platform.db import Database
from exchange.platform.documents import DocumentStore
from exchange.platform.keyrecord_models import PlatformValue
from exchange.platform.keyrecords import SqlKeyRecordStore
from exchange.platform.settings import Settings
from keys.epochs import EpochKeyStore
from keys.errors import MasterKeyInvalid
from keys.master import MasterKey, SecretBox
from keys.personal import PersonalFields
from keys.shares import ShareKeyStore
from keys.store import KeyStore, PublicKeyCache

MASTER_CHECK = "master-key-check"
_KEYSTORE = "liaison.keystore"


@dataclass
class Services:
    settings: Settings
    db: Database
    clock: Clock
    passwords: Passwords
    throttle: Throttle
    _master: MasterKey | None = None
    _blobs: BlobStore | None = None
    _checked_publics: PublicKeyCache = field(default_factory=PublicKeyCache)

    def __post_init__(self) -> None:
        # The audit trail finds its chain key and its anchor file through the engine.
        audit_anchor.bind(self.db.engine, self, self.settings.epoch_key_dir)

    @classmethod
    def build(cls, settings: Settings, clock: Clock) -> Services:
        return cls(
            settings=settings,
            db=Database(settings.database_url),
            clock=clock,
            passwords=Passwords(
                time_cost=settings.argon2_time_cost,
                memory_kib=settings.argon2_memory_kib,
                parallelism=settings.argon2_parallelism,
            ),
            throttle=Throttle.from_settings(settings),
        )

    @property
    def master(self) -> MasterKey:
        """The master key, loaded on first use (MasterKeyMissing / MasterKeyInvalid)."""
        if self._master is None:
            self._master = MasterKey.load(self.settings.master_key_file)
        return self._master

    def open_master(self, *, create: bool = False) -> MasterKey:
        if create and not self.settings.master_key_file.exists():
            self._master = MasterKey.create(self.settings.master_key_file)
        return self.master

    def check_master(self, session: Session) -> None:
        """Record the master key's check value on first use; afterwards, refuse another key."""
        stored = session.scalar(select(PlatformValue).where(PlatformValue.name == MASTER_CHECK))
        if stored is None:
            session.add(PlatformValue(name=MASTER_CHECK, value=self.master.check_value()))
            return
        try:
            self.master.verify_check_value(stored.value)
        except MasterKeyInvalid as exc:
            raise MasterKeyInvalid(
                f"La clé maîtresse {self.settings.master_key_file} n'est pas celle qui protège "
                "cette base : démarrage refusé."
            ) from exc

    def keystore(self, session: Session) -> KeyStore:
        """The key store working in `session`: one per session, so that what it has looked up
        serves the whole unit of work."""
        store = session.info.get(_KEYSTORE)
        if store is None:
            store = session.info[_KEYSTORE] = KeyStore(
                self.master,
                SqlKeyRecordStore(session),
                EpochKeyStore(self.settings.epoch_key_dir, self.master),
                self.clock.now,
                max_payload=self.settings.max_payload_bytes,
                checked_publics=self._checked_publics,
                shares=self.share_keys,
            )
        return store  # type: ignore[no-any-return]

    @property
    def share_key_dir(self) -> Path:
        """LIAISON_SHARE_KEY_DIR, by default ``shares`` beside the epoch-key directory."""
        return self.settings.share_key_dir or self.settings.epoch_key_dir.parent / "shares"

    @property
    def share_keys(self) -> ShareKeyStore:
        """The per-person share keys (keys/shares.py): files only, nothing cached."""
        return ShareKeyStore(self.share_key_dir, self.master)

    def secret_box(self, purpose: str) -> SecretBox:
        return self.master.secret_box(purpose)

    @property
    def blobs(self) -> BlobStore:
        """The object store when LIAISON_BLOB_URL is set (one client, kept), else the folder."""
        if not self.settings.blob_url:
            return FolderBlobStore(self.settings.blob_dir)
        if self._blobs is None:
            from exchange.platform.blobs_s3 import S3BlobStore

            self._blobs = S3BlobStore.from_url(self.settings.blob_url)
        return self._blobs

    def documents(self, session: Session) -> DocumentStore:
        return DocumentStore(session, self.keystore(session), self.blobs)

    def personal(self, session: Session) -> PersonalFields:
        return PersonalFields(self.keystore(session))
