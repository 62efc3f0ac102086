"""De-identified statistics facts: one row per state change of an orientation or an
accompaniment, written in the same transaction as the change (`exchange.indicators.facts`).

A row holds what the steering committee counts and nothing that names anyone: no person or
fiche id, no name, birth date or free text. Dates are months (the first day of the month), the
delay from proposal to entry is a number of days, reasons are codes of the fixed lists, and the
advisor and the accompaniment appear only as opaque references (keyed HMACs under the platform
blind-index key, with their own prefixes), stable over time but not derivable from the person.
`created_at` is kept at the month too, so that a row cannot be matched to the exact instant of
an audit event.

The retention sweep never deletes these rows: they are what the indicators are computed from
once the personal data they summarise has been destroyed (docs/indicators.md, "Facts").
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, Date, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from exchange.platform.db import Base
from exchange.platform.types import UTCDateTime


class StatFact(Base):
    __tablename__ = "stat_facts"
    # Each query of exchange.indicators.facts.aggregates reads one of the first three indexes alone
    # and groups by a prefix of it, so that the database streams its groups without sorting:
    # the indicators of a year over a million facts take a fraction of a second (bench/).
    __table_args__ = (
        Index("ix_stat_facts_flows", "event", "convention_id", "month", "axis",
              "sender_institution_id", "sender_unit_id", "receiving_institution_id",
              "receiving_unit_id"),
        Index("ix_stat_facts_counts", "event", "convention_id", "month", "axis",
              "decline_reason", "exit_reason", "positive_exit", "midterm_on_time", "delay_days",
              "within_21_days", "rsa_beneficiary"),
        Index("ix_stat_facts_caseload", "event", "convention_id", "advisor_ref", "month",
              "entry_month", "axis"),
        # A unit manager's view: the unit as sender or as recipient.
        Index("ix_stat_facts_sender_unit", "sender_unit_id", "month"),
        Index("ix_stat_facts_receiving_unit", "receiving_unit_id", "month"),
        # One mid-term review per accompaniment.
        Index("ix_stat_facts_accompaniment_ref", "accompaniment_ref"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    event: Mapped[str] = mapped_column(String(24))
    axis: Mapped[int] = mapped_column(Integer)
    convention_id: Mapped[int] = mapped_column(ForeignKey("conventions.id"))
    sender_institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"))
    sender_unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    receiving_institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"))
    receiving_unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    advisor_ref: Mapped[str | None] = mapped_column(String(64), nullable=True)
    accompaniment_ref: Mapped[str | None] = mapped_column(String(64), nullable=True)
    rsa_beneficiary: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    month: Mapped[date] = mapped_column(Date)
    proposal_month: Mapped[date | None] = mapped_column(Date, nullable=True)
    entry_month: Mapped[date | None] = mapped_column(Date, nullable=True)
    delay_days: Mapped[int | None] = mapped_column(Integer, nullable=True)
    within_21_days: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    decline_reason: Mapped[str | None] = mapped_column(String(40), nullable=True)
    exit_reason: Mapped[str | None] = mapped_column(String(40), nullable=True)
    positive_exit: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    midterm_on_time: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
