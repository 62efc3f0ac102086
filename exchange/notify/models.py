"""The e-mail outbox: one row per message to send, written in the same transaction as the event
that causes it, delivered later by `exchange.notify.outbox.deliver_pending`.

A row holds no personal data of a job seeker: a kind from a fixed list, a staff address, and a
link path made of route words and opaque ids. The text of the message comes from the kind.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from exchange.platform.db import Base
from exchange.platform.types import PUBLIC_ID, UTCDateTime, new_public_id


class Notification(Base):
    __tablename__ = "notifications"
    # What the delivery job asks for: not sent, not given up, due.
    __table_args__ = (Index("ix_notifications_due", "sent_at", "failed", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(PUBLIC_ID, unique=True, default=new_public_id)
    kind: Mapped[str] = mapped_column(String(40))
    recipient: Mapped[str] = mapped_column(String(200))
    link: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    failed: Mapped[bool] = mapped_column(Boolean, default=False)
