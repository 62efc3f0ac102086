"""The audit trail: append-only events chained by HMAC-SHA256 (SHA-256 before the chain was
keyed), the head of the chain, the platform-signed checkpoints of the head, and the allowance
the purge job opens to delete events the retention period has passed (the database refuses any
other change)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from exchange.platform.db import Base
from exchange.platform.types import UTCDateTime


class AuditEvent(Base):
    __tablename__ = "audit_events"
    # The DPO pages through the log newest first, keyed by (at, seq) (keyset pagination): with
    # a criterion and a period, each page is one range of one of these indexes.
    __table_args__ = (
        Index("ix_audit_events_at_seq", "at", "seq"),
        Index("ix_audit_events_actor_user_id_at", "actor_user_id", "at", "seq"),
        Index("ix_audit_events_actor_unit_id_at", "actor_unit_id", "at", "seq"),
        Index("ix_audit_events_action_at", "action", "at", "seq"),
        Index("ix_audit_events_object_id_at", "object_id", "at", "seq"),
    )

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor_user_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    actor_unit_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    actor_role: Mapped[str | None] = mapped_column(String(20), nullable=True)
    action: Mapped[str] = mapped_column(String(60))
    object_type: Mapped[str | None] = mapped_column(String(40), nullable=True)
    object_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    outcome: Mapped[str] = mapped_column(String(20))
    address: Mapped[str | None] = mapped_column(String(64), nullable=True)
    purpose: Mapped[str | None] = mapped_column(String(40), nullable=True)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHead(Base):
    """One row: the last sequence number and hash. Updating it first serialises writers.
    `keyed_from` is the first event chained by HMAC (`exchange.audit`): 1 for a chain keyed
    from its start, the head + 1 for one that existed before the chain was keyed; signed
    checkpoints carry it, and nothing changes it."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, default=0)
    hash: Mapped[str] = mapped_column(String(64))
    keyed_from: Mapped[int] = mapped_column(Integer, default=1, server_default="1")


class AuditCheckpoint(Base):
    """The platform's Ed25519 signature over the chain's length and head hash at one moment
    (`exchange.audit.checkpoints`). `signed` is the SignedManifest; the other columns copy its
    payload for queries and are checked against it. Kinds: periodic, manual, prune (the cut
    below which a purge deleted the events). The signed payload also numbers the checkpoint
    (1, 2, ... in the order they are written), so that a deleted row shows."""

    __tablename__ = "audit_checkpoints"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, index=True)
    head: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(10))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    signed: Mapped[bytes] = mapped_column(LargeBinary)


class AuditPruneAllowance(Base):
    """One row: events with seq <= upto may be deleted. Only the purge job raises it, in the
    transaction that wrote the purge checkpoint, and sets it back to 0 before committing; the
    database refuses a value beyond the last purge checkpoint."""

    __tablename__ = "audit_prune_allowance"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    upto: Mapped[int] = mapped_column(Integer, default=0)
