"""A known statistics history for the indicator tests, written as fact rows into the demo
database: two conventions (Tarn-et-Garonne: the Département and France Travail; Lodève: the
CIAS and France Travail), several units on each side, both axes, entries inside and outside
21 days, each exit reason, a renewal, declined and recalled orientations.

Every expected figure in the tests is worked out by hand from the tables below.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

from flask import Flask
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from exchange.domain.indicators import Fact
from exchange.domain.vocabulary import ExitReason
from exchange.indicators.models import StatFact
from exchange.org.models import Convention, Institution, Unit
from tests.fiches.support import services_of

TARN = "Convention cadre — approche globale de l'accompagnement, Tarn-et-Garonne"
LODEVE_PREFIX = "Convention locale de coopération — CIAS"
DEPARTEMENT = "Département de Tarn-et-Garonne"
FRANCE_TRAVAIL = "France Travail Occitanie"
CIAS = "CIAS Lodévois et Larzac"
UNITS = {
    "M1": "MDS de Montauban", "M2": "MDS de Castelsarrasin",
    "A1": "Agence France Travail Montauban Albasud",
    "A2": "Agence France Travail Castelsarrasin",
    "A4": "Agence France Travail Clermont-l'Hérault",
    "C1": "CIAS Lodévois et Larzac — Lodève",
}
ADVISOR_A, ADVISOR_B, ADVISOR_C = "a" * 64, "b" * 64, "c" * 64
TODAY = date(2026, 11, 23)


def m(text: str) -> date:
    """``"2026-03"`` -> 1 March 2026."""
    year, month = text.split("-")
    return date(int(year), int(month), 1)


@dataclass(frozen=True)
class Path:
    """One accepted orientation and what followed (months as "YYYY-MM")."""

    ref: str
    convention: str  # "T" (Tarn) or "L" (Lodève)
    axis: int
    sender: str
    receiver: str
    advisor: str
    rsa: bool | None
    sent: str
    entry: str | None = None
    delay: int | None = None
    midterm: tuple[str, bool] | None = None
    renewal: str | None = None
    exit: tuple[str, ExitReason] | None = None


@dataclass(frozen=True)
class Orientation:
    """An orientation declined (with its reason) or recalled."""

    convention: str
    axis: int
    sender: str
    receiver: str
    rsa: bool | None
    sent: str
    outcome: str  # "declined" or "recalled"
    decided: str
    reason: str | None = None


E = ExitReason
PATHS = [
    Path("t1", "T", 2, "M1", "A1", ADVISOR_A, True, "2025-11", "2025-12", 10),
    Path("t2", "T", 2, "M1", "A1", ADVISOR_A, True, "2026-01", "2026-01", 5,
         midterm=("2026-07", True), renewal="2026-11"),
    Path("t3", "T", 2, "A1", "M1", ADVISOR_B, False, "2026-02", "2026-03", 30,
         exit=("2026-09", E.CDI)),
    Path("t4", "T", 2, "M2", "A2", ADVISOR_B, None, "2026-03", "2026-04", 21,
         midterm=("2026-10", False), exit=("2026-11", E.LOSS_OF_CONTACT)),
    Path("t5", "T", 3, "A2", "M2", ADVISOR_A, True, "2026-04", "2026-05", 40,
         exit=("2026-06", E.QUALIFYING_TRAINING)),
    Path("t6", "T", 2, "M1", "A1", ADVISOR_A, False, "2026-05", "2026-05", 0,
         exit=("2026-07", E.CDD_6_MONTHS_OR_MORE)),
    Path("t7", "T", 2, "M1", "A2", ADVISOR_B, True, "2026-06", "2026-07", 14,
         exit=("2026-08", E.CDD_UNDER_6_MONTHS)),
    Path("t8", "T", 2, "M2", "A1", ADVISOR_A, True, "2026-07", "2026-08", 25,
         exit=("2026-10", E.BUSINESS_CREATION)),
    Path("t9", "T", 3, "A1", "M1", ADVISOR_B, False, "2026-08", "2026-08", 7,
         exit=("2026-10", E.SOCIAL_DIFFICULTIES_SOLVED)),
    Path("t10", "T", 2, "M1", "A1", ADVISOR_A, True, "2026-09", "2026-10", 22,
         exit=("2026-11", E.OTHER_ACCOMPANIMENT)),
    Path("t11", "T", 2, "M2", "A2", ADVISOR_B, True, "2026-09", "2026-09", 3,
         exit=("2026-10", E.MOVING)),
    Path("t12", "T", 2, "M1", "A1", ADVISOR_A, False, "2026-10", exit=("2026-11", E.OTHER)),
    Path("l1", "L", 2, "C1", "A4", ADVISOR_C, True, "2026-02", "2026-03", 12,
         renewal="2026-09"),
    Path("l2", "L", 2, "C1", "A4", ADVISOR_C, False, "2026-04", "2026-06", 60,
         exit=("2026-08", E.CDI)),
]
ORIENTATIONS = [
    Orientation("T", 2, "M1", "A1", True, "2026-02", "declined", "2026-02", "caseload_full"),
    Orientation("T", 3, "A2", "M2", False, "2026-03", "declined", "2026-04", "not_eligible"),
    Orientation("T", 2, "M2", "A2", True, "2026-05", "recalled", "2026-05"),
    Orientation("L", 2, "C1", "A4", True, "2026-06", "declined", "2026-06", "person_declined"),
]


@dataclass(frozen=True)
class Org:
    """Database ids of the demo institutions, units and conventions."""

    institutions: dict[str, int]
    units: dict[str, int]
    unit_institution: dict[int, int]
    conventions: dict[str, int]
    public_ids: dict[str, str]


def org(app: Flask) -> Org:
    with services_of(app).db.unit_of_work() as s:
        institutions = {name: s.scalar(select(Institution.id).where(Institution.name == name))
                        for name in (DEPARTEMENT, FRANCE_TRAVAIL, CIAS)}
        units = {key: s.scalar(select(Unit.id).where(Unit.name == name))
                 for key, name in UNITS.items()}
        owners = dict(s.execute(select(Unit.id, Unit.institution_id)).all())
        tarn = s.scalar(select(Convention).where(Convention.title == TARN))
        lodeve = s.scalar(select(Convention).where(Convention.title.startswith(LODEVE_PREFIX)))
        assert tarn is not None and lodeve is not None
        return Org(
            institutions={"D": institutions[DEPARTEMENT], "F": institutions[FRANCE_TRAVAIL],
                          "C": institutions[CIAS]},  # type: ignore[dict-item]
            units=units,  # type: ignore[arg-type]
            unit_institution=owners,
            conventions={"T": tarn.id, "L": lodeve.id},
            public_ids={"T": tarn.public_id, "L": lodeve.public_id},
        )


def facts(o: Org) -> list[Fact]:
    """The facts `exchange.indicators.facts.record_fact` would have written for the history."""
    out: list[Fact] = []

    def fact(event: str, conv: str, axis: int, sender: str, receiver: str, rsa: bool | None,
             month: str, sent: str, **extra: object) -> None:
        s_u, r_u = o.units[sender], o.units[receiver]
        out.append(Fact(
            event=event, axis=axis, convention_id=o.conventions[conv],
            sender_institution_id=o.unit_institution[s_u], sender_unit_id=s_u,
            receiving_institution_id=o.unit_institution[r_u], receiving_unit_id=r_u,
            rsa_beneficiary=rsa, month=m(month), proposal_month=m(sent),
            **extra))  # type: ignore[arg-type]

    for p in PATHS:
        base = (p.convention, p.axis, p.sender, p.receiver, p.rsa)
        mine: dict[str, object] = {"advisor_ref": p.advisor, "accompaniment_ref": p.ref * 8}
        entered = {"entry_month": m(p.entry) if p.entry else None}
        fact("orientation_sent", *base, p.sent, p.sent)
        fact("orientation_accepted", *base, p.sent, p.sent, **mine)
        if p.entry is not None:
            assert p.delay is not None
            fact("entry", *base, p.entry, p.sent, **mine, **entered, delay_days=p.delay,
                 within_21_days=p.delay <= 21)
        if p.midterm is not None:
            fact("midterm_done", *base, p.midterm[0], p.sent, **mine, **entered,
                 midterm_on_time=p.midterm[1])
        if p.renewal is not None:
            fact("renewal", *base, p.renewal, p.sent, **mine, **entered)
        if p.exit is not None:
            fact("exit", *base, p.exit[0], p.sent, **mine, **entered,
                 exit_reason=p.exit[1].value, positive_exit=p.exit[1].is_positive)
    for x in ORIENTATIONS:
        base = (x.convention, x.axis, x.sender, x.receiver, x.rsa)
        fact("orientation_sent", *base, x.sent, x.sent)
        fact(f"orientation_{x.outcome}", *base, x.decided, x.sent, decline_reason=x.reason)
    return out


def insert(session: Session, rows: list[Fact]) -> None:
    created = datetime(2026, 11, 1, tzinfo=UTC)
    session.add_all(StatFact(**vars(row), created_at=created) for row in rows)


def load_history(app: Flask, lodeve_target: int = 100) -> Org:
    """Write the history; the Lodève convention gets a 70-100 band (target 100), as 004's."""
    o = org(app)
    with services_of(app).db.unit_of_work() as s:
        insert(s, facts(o))
        s.execute(update(Convention).where(Convention.id == o.conventions["L"])
                  .values(caseload_target=lodeve_target))
    return o


def stored_facts(session: Session) -> list[Fact]:
    """Every row of stat_facts as a `Fact`."""
    names = [name for name in Fact.__dataclass_fields__]
    return [Fact(**{name: getattr(row, name) for name in names})
            for row in session.scalars(select(StatFact).order_by(StatFact.id))]
