"""The people the fiches are about, and their consent.

A person's identity is stored only encrypted (`identity`), under a per-person data key
(`sealed_key`, itself sealed under the person's share key, the retention epoch and the platform
key: keys/README.md, "Personal fields"). Lookup goes
through keyed blind indexes. `PersonUnit` says which units may see the person: the unit that
created the record, and every unit that sent or received a fiche or shares an accompaniment.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, Date, ForeignKey, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from exchange.platform.db import Base
from exchange.platform.types import PUBLIC_ID, UTCDateTime, new_public_id


class Person(Base):
    __tablename__ = "persons"

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(PUBLIC_ID, unique=True, default=new_public_id)
    sealed_key: Mapped[bytes] = mapped_column(LargeBinary)
    identity: Mapped[bytes] = mapped_column(LargeBinary)
    identity_version: Mapped[int] = mapped_column(Integer, default=1)
    index_name_birth: Mapped[str] = mapped_column(String(64), index=True)
    index_birth_name_birth: Mapped[str | None] = mapped_column(String(64), index=True,
                                                               nullable=True)
    index_ft_id: Mapped[str | None] = mapped_column(String(64), index=True, nullable=True)
    epoch: Mapped[str] = mapped_column(String(7), index=True)
    horizon: Mapped[date | None] = mapped_column(Date, index=True, nullable=True)
    restricted: Mapped[bool] = mapped_column(Boolean, default=False)
    created_by_unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class PersonUnit(Base):
    __tablename__ = "person_units"
    __table_args__ = (UniqueConstraint("person_id", "unit_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id", ondelete="CASCADE"),
                                           index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    since: Mapped[datetime] = mapped_column(UTCDateTime)


class Consent(Base):
    """The person's informed consent to one exchange purpose (axis) with one institution."""

    __tablename__ = "consents"

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(PUBLIC_ID, unique=True, default=new_public_id)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id", ondelete="CASCADE"),
                                           index=True)
    axis: Mapped[int] = mapped_column(Integer)
    recipient_institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"))
    notice_version: Mapped[str] = mapped_column(String(20))
    method: Mapped[str] = mapped_column(String(30))
    attestation: Mapped[bool] = mapped_column(Boolean, default=False)
    collected_by_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    collected_on: Mapped[date] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    withdrawn_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"),
                                                             nullable=True)
    horizon: Mapped[date | None] = mapped_column(Date, index=True, nullable=True)

    person: Mapped[Person] = relationship()
