"""Institutions, their units, and the conventions that let two institutions exchange fiches."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, CheckConstraint, Date, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from exchange.platform.db import Base
from exchange.platform.types import PUBLIC_ID, UTCDateTime, new_public_id

DEFAULT_AXIS2_MONTHS = 120
DEFAULT_AXIS3_MONTHS = 2


class Institution(Base):
    __tablename__ = "institutions"

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(PUBLIC_ID, unique=True, default=new_public_id)
    kind: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(200), unique=True)
    siret: Mapped[str] = mapped_column(String(14))
    dpo_name: Mapped[str] = mapped_column(String(200), default="")
    dpo_email: Mapped[str] = mapped_column(String(200), default="")
    dpo_address: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    units: Mapped[list[Unit]] = relationship(back_populates="institution", order_by="Unit.name")

    @property
    def key_owner(self) -> str:
        """The name under which `keys/` files this institution's keys."""
        return f"inst-{self.public_id}"


class Unit(Base):
    __tablename__ = "units"

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(PUBLIC_ID, unique=True, default=new_public_id)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    institution: Mapped[Institution] = relationship(back_populates="units")


class Convention(Base):
    __tablename__ = "conventions"
    __table_args__ = (
        CheckConstraint("institution_a_id <> institution_b_id", name="two_institutions"),
        CheckConstraint("end_date >= start_date", name="dates_ordered"),
        CheckConstraint("axis2 OR axis3", name="one_axis"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(PUBLIC_ID, unique=True, default=new_public_id)
    title: Mapped[str] = mapped_column(String(300))
    institution_a_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"), index=True)
    institution_b_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"), index=True)
    start_date: Mapped[date] = mapped_column(Date)
    end_date: Mapped[date] = mapped_column(Date)
    axis2: Mapped[bool] = mapped_column(Boolean, default=True)
    axis3: Mapped[bool] = mapped_column(Boolean, default=True)
    retention_axis2_months: Mapped[int] = mapped_column(Integer, default=DEFAULT_AXIS2_MONTHS)
    retention_axis3_months: Mapped[int] = mapped_column(Integer, default=DEFAULT_AXIS3_MONTHS)
    grace_days: Mapped[int] = mapped_column(Integer, default=30)
    countersign_required: Mapped[bool] = mapped_column(Boolean, default=False)
    caseload_target: Mapped[int] = mapped_column(Integer, default=70)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    institution_a: Mapped[Institution] = relationship(foreign_keys=[institution_a_id])
    institution_b: Mapped[Institution] = relationship(foreign_keys=[institution_b_id])
    amendments: Mapped[list[ConventionAmendment]] = relationship(
        back_populates="convention", order_by="ConventionAmendment.signed_on"
    )

    @property
    def effective_end_date(self) -> date:
        """The end date as the latest amendment set it."""
        if self.amendments:
            return self.amendments[-1].new_end_date
        return self.end_date

    def in_force(self, today: date) -> bool:
        return self.start_date <= today <= self.effective_end_date

    def parties(self) -> tuple[int, int]:
        return (self.institution_a_id, self.institution_b_id)

    def axes(self) -> list[int]:
        return [axis for axis, on in ((2, self.axis2), (3, self.axis3)) if on]


class ConventionAmendment(Base):
    """An avenant: it moves the convention's end date."""

    __tablename__ = "convention_amendments"

    id: Mapped[int] = mapped_column(primary_key=True)
    convention_id: Mapped[int] = mapped_column(ForeignKey("conventions.id"), index=True)
    signed_on: Mapped[date] = mapped_column(Date)
    new_end_date: Mapped[date] = mapped_column(Date)
    note: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    convention: Mapped[Convention] = relationship(back_populates="amendments")
