"""The retention tables: legal holds, early "no longer needed" marks, the sweep's lock and
change-feed watermark, its runs, the blobs and share keys it still has to destroy, and the
signed reports.

Nothing here holds personal data in clear: targets are named by row id and public id, a
hold's free-text note is sealed with a platform secret box (`retention.holds`).
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, Date, ForeignKey, Index, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from exchange.platform.db import Base
from exchange.platform.types import PUBLIC_ID, UTCDateTime, new_public_id


class LegalHold(Base):
    """A DPO's legal hold on a person or a fiche: while it is not lifted, nothing of the
    target is due (its horizons are NULL)."""

    __tablename__ = "legal_holds"
    __table_args__ = (Index("ix_legal_holds_target", "target_type", "target_id", "lifted_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(PUBLIC_ID, unique=True, default=new_public_id)
    target_type: Mapped[str] = mapped_column(String(20))
    target_id: Mapped[int] = mapped_column(Integer)
    target_public_id: Mapped[str] = mapped_column(PUBLIC_ID)
    reason_code: Mapped[str] = mapped_column(String(30))
    sealed_note: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    placed_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    placed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    lifted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    lifted_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)


class RetentionMark(Base):
    """A referent's statement that an item is no longer needed from `no_longer_needed_on`."""

    __tablename__ = "retention_marks"
    __table_args__ = (Index("ix_retention_marks_target", "target_type", "target_id",
                            unique=True),)

    id: Mapped[int] = mapped_column(primary_key=True)
    target_type: Mapped[str] = mapped_column(String(20))
    target_id: Mapped[int] = mapped_column(Integer)
    no_longer_needed_on: Mapped[date] = mapped_column(Date)
    marked_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    marked_at: Mapped[datetime] = mapped_column(UTCDateTime)


class RetentionState(Base):
    """One row (id 1): the sweep lock of the embedded mode and the audit-feed watermark."""

    __tablename__ = "retention_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    lock_holder: Mapped[str | None] = mapped_column(String(64), nullable=True)
    lock_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    audit_seq: Mapped[int] = mapped_column(Integer, default=0)


class RetentionRun(Base):
    """One sweep (not dry runs): when it started and ended, and how."""

    __tablename__ = "retention_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    today: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(20))
    report_id: Mapped[int | None] = mapped_column(ForeignKey("deletion_reports.id"),
                                                  nullable=True)


class DoomedBlob(Base):
    """A ciphertext whose rows are already deleted, still to shred: written in the deleting
    transaction, removed once the file is gone, so a crash in between loses nothing."""

    __tablename__ = "retention_doomed_blobs"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)


class DoomedShare(Base):
    """Share keys (keys/shares.py) to destroy once the deletion that dooms them commits:
    written in the deleting transaction, destroyed right after the commit, and again (it is
    idempotent) by the next sweep, which then removes the row, so a crash in between loses
    nothing. ``owner`` None dooms every share of the subject (the person is gone); otherwise
    the owner's generations up to ``generation`` (a later share of the same institution, given
    the person again after the erasure, is not touched)."""

    __tablename__ = "retention_doomed_shares"

    id: Mapped[int] = mapped_column(primary_key=True)
    subject: Mapped[str] = mapped_column(String(64), index=True)
    owner: Mapped[str | None] = mapped_column(String(80), nullable=True)
    generation: Mapped[int | None] = mapped_column(Integer, nullable=True)
    doomed_at: Mapped[datetime] = mapped_column(UTCDateTime)


class DeletionReport(Base):
    """A sweep's signed deletion report (`keys.manifest.sign_platform`)."""

    __tablename__ = "deletion_reports"

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(PUBLIC_ID, unique=True, default=new_public_id)
    run_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    today: Mapped[date] = mapped_column(Date)
    deleted_count: Mapped[int] = mapped_column(Integer)
    skipped_count: Mapped[int] = mapped_column(Integer)
    error_count: Mapped[int] = mapped_column(Integer)
    complete: Mapped[bool] = mapped_column(Boolean, default=True)
    key_id: Mapped[str] = mapped_column(String(80))
    signed: Mapped[bytes] = mapped_column(LargeBinary)
