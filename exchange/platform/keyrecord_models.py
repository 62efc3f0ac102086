"""Key records as `keys/` describes them, private parts always wrapped under the master key."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from exchange.platform.db import Base
from exchange.platform.types import UTCDateTime


class KeyRecordRow(Base):
    __tablename__ = "key_records"

    key_id: Mapped[str] = mapped_column(String(80), primary_key=True)
    owner: Mapped[str] = mapped_column(String(80), index=True)
    purpose: Mapped[str] = mapped_column(String(30))
    version: Mapped[int] = mapped_column(Integer)
    public: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    wrapped_private: Mapped[bytes] = mapped_column(LargeBinary)
    certificate: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    current: Mapped[bool] = mapped_column(Boolean, default=False)


class PlatformValue(Base):
    """Small named values of the platform, such as the master key's check value."""

    __tablename__ = "platform_values"

    name: Mapped[str] = mapped_column(String(60), primary_key=True)
    value: Mapped[bytes] = mapped_column(LargeBinary)
