"""Sealed documents: the envelope's header and wraps in rows, its ciphertext in the blob store.

Deleting a document deletes its ciphertext and every wrap of its data key.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from exchange.platform.db import Base
from exchange.platform.types import PUBLIC_ID, UTCDateTime, new_public_id


class Document(Base):
    __tablename__ = "documents"

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(PUBLIC_ID, unique=True, default=new_public_id)
    role: Mapped[str] = mapped_column(String(20))
    fiche_id: Mapped[int | None] = mapped_column(ForeignKey("fiches.id", ondelete="CASCADE"),
                                                 index=True, nullable=True)
    consent_id: Mapped[int | None] = mapped_column(
        ForeignKey("consents.id", ondelete="CASCADE"), index=True, nullable=True)
    accompaniment_id: Mapped[int | None] = mapped_column(
        ForeignKey("accompaniments.id", ondelete="CASCADE"), index=True, nullable=True)
    header: Mapped[bytes] = mapped_column(LargeBinary)
    nonce: Mapped[bytes] = mapped_column(LargeBinary)
    epoch_wrap: Mapped[bytes] = mapped_column(LargeBinary)
    epoch: Mapped[str] = mapped_column(String(7), index=True)
    blob: Mapped[str] = mapped_column(String(64), unique=True)
    size: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    horizon: Mapped[date | None] = mapped_column(Date, index=True, nullable=True)

    wraps: Mapped[list[KeyWrap]] = relationship(
        back_populates="document", cascade="all, delete-orphan", passive_deletes=True,
        order_by="KeyWrap.reader")


class KeyWrap(Base):
    """One reader's HPKE wrap of a document's (epoch-sealed) data key."""

    __tablename__ = "key_wraps"

    id: Mapped[int] = mapped_column(primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"),
                                             index=True)
    reader: Mapped[str] = mapped_column(String(80))
    key_id: Mapped[str] = mapped_column(String(80))
    key_version: Mapped[int] = mapped_column(Integer)
    enc: Mapped[bytes] = mapped_column(LargeBinary)

    document: Mapped[Document] = relationship(back_populates="wraps")
