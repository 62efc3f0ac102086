"""Fiches de liaison, their signed receipts, and the accompaniments accepted orientations start.

Rows hold ids, states, dates and fixed-list reasons only. Everything written by a person — the
fiche's content, free-text reasons — lives in sealed documents (`exchange.platform.models`).
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, Date, ForeignKey, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from exchange.accounts.models import User
from exchange.dpo.models import RightsRequest
from exchange.org.models import Convention, Unit
from exchange.persons.models import Consent, Person
from exchange.platform.db import Base
from exchange.platform.types import PUBLIC_ID, UTCDateTime, new_public_id


class Fiche(Base):
    __tablename__ = "fiches"

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(PUBLIC_ID, unique=True, default=new_public_id)
    kind: Mapped[str] = mapped_column(String(30))
    axis: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(20), index=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    convention_id: Mapped[int] = mapped_column(ForeignKey("conventions.id"), index=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"), index=True)
    # Indexed for the retention sweep, which asks which due consents a fiche still refers to.
    consent_id: Mapped[int | None] = mapped_column(ForeignKey("consents.id"), nullable=True,
                                                   index=True)
    accompaniment_id: Mapped[int | None] = mapped_column(
        ForeignKey("accompaniments.id", use_alter=True), nullable=True, index=True)
    sender_unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    sender_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    recipient_unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    signed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    signed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    countersigned_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    countersigned_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"),
                                                            nullable=True)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True, nullable=True)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    read_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    reason: Mapped[str | None] = mapped_column(String(40), nullable=True)
    manifest: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    horizon: Mapped[date | None] = mapped_column(Date, index=True, nullable=True)
    # When the sending (receiving) institution erased its share of the person (art. 17): the
    # fiche stays for the other party only, and that side no longer sees it (exchange.policy).
    sender_erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    recipient_erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    convention: Mapped[Convention] = relationship()
    person: Mapped[Person] = relationship()
    consent: Mapped[Consent | None] = relationship()
    sender_unit: Mapped[Unit] = relationship(foreign_keys=[sender_unit_id])
    recipient_unit: Mapped[Unit] = relationship(foreign_keys=[recipient_unit_id])
    sender_user: Mapped[User] = relationship(foreign_keys=[sender_user_id])


class Receipt(Base):
    """The recipient institution's signed acknowledgement of one fiche version."""

    __tablename__ = "receipts"

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(PUBLIC_ID, unique=True, default=new_public_id)
    fiche_id: Mapped[int] = mapped_column(ForeignKey("fiches.id", ondelete="CASCADE"),
                                          index=True)
    signed: Mapped[bytes] = mapped_column(LargeBinary)
    signed_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    horizon: Mapped[date | None] = mapped_column(Date, index=True, nullable=True)


class Accompaniment(Base):
    __tablename__ = "accompaniments"

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(PUBLIC_ID, unique=True, default=new_public_id)
    axis: Mapped[int] = mapped_column(Integer)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"), index=True)
    convention_id: Mapped[int] = mapped_column(ForeignKey("conventions.id"), index=True)
    orientation_id: Mapped[int] = mapped_column(ForeignKey("fiches.id"), unique=True)
    advisor_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    advisor_unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    social_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    social_unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    proposal_date: Mapped[date] = mapped_column(Date)
    entry_date: Mapped[date | None] = mapped_column(Date, nullable=True)
    planned_end: Mapped[date | None] = mapped_column(Date, nullable=True)
    renewed: Mapped[bool] = mapped_column(Boolean, default=False)
    midterm_due: Mapped[date | None] = mapped_column(Date, nullable=True)
    midterm_done_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    exit_date: Mapped[date | None] = mapped_column(Date, nullable=True)
    exit_reason: Mapped[str | None] = mapped_column(String(40), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    horizon: Mapped[date | None] = mapped_column(Date, index=True, nullable=True)
    # As on fiches: the side whose institution erased its share of the person no longer sees it.
    advisor_erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    social_erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    person: Mapped[Person] = relationship()
    convention: Mapped[Convention] = relationship()
    advisor: Mapped[User] = relationship(foreign_keys=[advisor_user_id])
    social_worker: Mapped[User] = relationship(foreign_keys=[social_user_id])
    advisor_unit: Mapped[Unit] = relationship(foreign_keys=[advisor_unit_id])
    social_unit: Mapped[Unit] = relationship(foreign_keys=[social_unit_id])


class FicheVersion(Base):
    """A signed version of a fiche that a rectification replaced (RGPD art. 16).

    Its content, PDF and attachments stay among the fiche's sealed documents (each document's
    sealed header names its version) and go with the fiche; this row keeps what checks them —
    the manifest the sender institution signed for that version — and who replaced it, when,
    and why (a code of `exchange.fiches.rectification.MOTIVES`, never free text).
    """

    __tablename__ = "fiche_versions"
    __table_args__ = (UniqueConstraint("fiche_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    fiche_id: Mapped[int] = mapped_column(ForeignKey("fiches.id", ondelete="CASCADE"),
                                          index=True)
    version: Mapped[int] = mapped_column(Integer)
    manifest: Mapped[bytes] = mapped_column(LargeBinary)
    rectified_at: Mapped[datetime] = mapped_column(UTCDateTime)
    rectified_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    motive: Mapped[str] = mapped_column(String(30))

    rectified_by: Mapped[User] = relationship()


class FicheRectificationMark(Base):
    """The DPO's "rectification demandée" on a fiche, under a rectification request: shown to
    the sending unit on the fiche until it rectifies, then closed with the new version."""

    __tablename__ = "fiche_rectification_marks"

    id: Mapped[int] = mapped_column(primary_key=True)
    fiche_id: Mapped[int] = mapped_column(ForeignKey("fiches.id", ondelete="CASCADE"),
                                          index=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("rights_requests.id"), index=True)
    marked_at: Mapped[datetime] = mapped_column(UTCDateTime)
    marked_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    done_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    request: Mapped[RightsRequest] = relationship()
