"""The DPO's registers: data-subject requests (RGPD art. 12 to 21), restriction changes
(art. 18) and personal data breaches (art. 33).

Rows hold dates, fixed-list codes and opaque ids only. The person a request concerns is named
by public id (no foreign key: the register outlives an erasure) and by the blind index of the
name and birth date the DPO typed, so a request about a person not (yet) found can be matched
later. A request about a person only a partner institution holds is passed on: the partner's
register gets a request of its own whose `source_request_id` names the one it came from.
Every free text — the answer to a request, a breach's nature, consequences and measures
— lives in a sealed document readable by the DPO's institution only.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from exchange.platform.db import Base
from exchange.platform.types import PUBLIC_ID, UTCDateTime, new_public_id


class RightsRequest(Base):
    __tablename__ = "rights_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(PUBLIC_ID, unique=True, default=new_public_id)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    channel: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20), index=True)
    received_on: Mapped[date] = mapped_column(Date)
    due_on: Mapped[date] = mapped_column(Date, index=True)
    extension_reason: Mapped[str | None] = mapped_column(String(30), nullable=True)
    subject_index: Mapped[str] = mapped_column(String(64), index=True)
    person_public_id: Mapped[str | None] = mapped_column(PUBLIC_ID, index=True, nullable=True)
    answer_document_id: Mapped[int | None] = mapped_column(
        ForeignKey("documents.id", ondelete="SET NULL"), nullable=True)
    answered_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    source_request_id: Mapped[int | None] = mapped_column(
        ForeignKey("rights_requests.id"), index=True, nullable=True)
    created_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class RestrictionChange(Base):
    """One setting or lifting of a person's restriction, with its fixed-list reason."""

    __tablename__ = "rights_restrictions"

    id: Mapped[int] = mapped_column(primary_key=True)
    person_public_id: Mapped[str] = mapped_column(PUBLIC_ID, index=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("rights_requests.id"), index=True)
    restricted: Mapped[bool] = mapped_column()
    reason_code: Mapped[str] = mapped_column(String(30))
    by_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    at: Mapped[datetime] = mapped_column(UTCDateTime)


class Breach(Base):
    """A personal data breach (RGPD art. 33 (5)): the facts, its effects and the measures."""

    __tablename__ = "breaches"

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(PUBLIC_ID, unique=True, default=new_public_id)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"), index=True)
    detected_at: Mapped[datetime] = mapped_column(UTCDateTime)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    data_categories: Mapped[str] = mapped_column(String(200))
    person_categories: Mapped[str] = mapped_column(String(200))
    persons_count: Mapped[int] = mapped_column(Integer)
    records_count: Mapped[int] = mapped_column(Integer)
    document_id: Mapped[int | None] = mapped_column(
        ForeignKey("documents.id", ondelete="SET NULL"), nullable=True)
    cnil_notified_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    persons_informed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
