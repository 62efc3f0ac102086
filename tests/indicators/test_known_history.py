"""Every indicator of docs/indicators.md on a known history, with values worked out by hand
(tests/statistics/support.py), computed the way the screens do (SQL aggregates); and the SQL
aggregates equal the pure reference reduction for every scope, period and axis."""

from __future__ import annotations

import itertools
from datetime import date

import pytest
from flask import Flask

from exchange.domain.indicators import (
    CaseloadBand,
    Indicators,
    Period,
    Scope,
    aggregate,
    compute,
)
from exchange.domain.vocabulary import DeclineReason, ExitReason
from exchange.indicators import facts as statistics
from tests import databases
from tests.fiches.support import services_of
from tests.indicators.support import (
    ADVISOR_A,
    ADVISOR_B,
    ADVISOR_C,
    TODAY,
    Org,
    load_history,
    stored_facts,
)


@pytest.fixture
def history(app: Flask) -> Org:
    return load_history(app)


def figures(app: Flask, scope: Scope, period: Period, axis: int | None = None) -> Indicators:
    with services_of(app).db.unit_of_work() as s:
        return statistics.indicators(s, scope, period, TODAY, axis)


def test_tarn_convention_2026_every_indicator(app: Flask, history: Org) -> None:
    i = figures(app, Scope(convention=history.conventions["T"]), Period(2026))
    D, F = history.institutions["D"], history.institutions["F"]

    o = i.orientations
    assert (o.sent, o.accepted, o.declined, o.recalled) == (14, 11, 2, 1)
    assert [(d.sender_institution_id, d.receiving_institution_id, d.sent, d.accepted,
             d.declined, d.recalled) for d in o.directions] == sorted([
        (D, F, 10, 8, 1, 1), (F, D, 4, 3, 1, 0)])
    assert dict(o.decline_reasons)[DeclineReason.CASELOAD_FULL] == 1
    assert dict(o.decline_reasons)[DeclineReason.NOT_ELIGIBLE] == 1
    assert sum(n for _, n in o.decline_reasons) == 2
    m1 = next(u for u in o.units if u.unit_id == history.units["M1"])
    assert (m1.sent, m1.received, m1.accepted, m1.declined) == (6, 2, 2, 0)
    a1 = next(u for u in o.units if u.unit_id == history.units["A1"])
    # Received t2 t6 t8 t10 t12 and the declined one; sent t3 t9.
    assert (a1.sent, a1.received, a1.accepted, a1.declined) == (2, 6, 5, 1)

    e = i.entries
    assert e.total == 10
    assert [n for _, n in e.by_month] == [1, 0, 1, 1, 2, 0, 1, 2, 1, 1, 0, 0]
    assert e.by_quarter == ((1, 2), (2, 3), (3, 4), (4, 1))

    d = i.delay
    assert d.entries == 10
    assert d.mean == 16.7  # (5+30+21+40+0+14+25+7+22+3) / 10
    assert d.median == 17.5  # 0 3 5 7 [14 21] 22 25 30 40
    assert (d.within_target, d.share_within) == (6, 0.6)
    assert i.delay_distribution == (("0 à 7 j", 4), ("8 à 14 j", 1), ("15 à 21 j", 1),
                                    ("22 à 30 j", 3), ("31 à 45 j", 1), ("46 à 60 j", 0),
                                    ("plus de 60 j", 0))

    c = i.caseload
    assert c.as_of == date(2026, 11, 30)  # the running year: the current month's last day
    assert c.band == CaseloadBand(70, 70)
    assert [(a.ref, a.active, a.entries, a.status) for a in c.advisors] == [
        (ADVISOR_A, 2, 5, "below"), (ADVISOR_B, 0, 5, "below")]
    assert (c.total_active, c.mean_active) == (2, 2.0)

    x = i.exits
    assert x.total == 10
    assert dict(x.by_reason) == dict.fromkeys(ExitReason, 1)  # each reason once
    assert (x.positive, x.share_positive) == (5, 0.5)

    assert i.renewals == 1
    assert (i.midterm.done, i.midterm.on_time, i.midterm.share_on_time) == (2, 1, 0.5)
    r = i.rsa
    assert (r.entries, r.beneficiaries, r.not_beneficiaries, r.unknown) == (10, 6, 3, 1)
    assert r.share == 6 / 9


def test_axis_filter(app: Flask, history: Org) -> None:
    i = figures(app, Scope(convention=history.conventions["T"]), Period(2026), axis=3)
    assert (i.orientations.sent, i.orientations.accepted, i.orientations.declined) == (3, 2, 1)
    assert (i.entries.total, i.delay.mean, i.delay.median, i.delay.share_within) == (
        2, 23.5, 23.5, 0.5)
    assert (i.exits.total, i.exits.positive) == (2, 1)
    assert i.renewals == 0 and i.midterm.done == 0
    assert [(a.ref, a.active) for a in i.caseload.advisors] == [(ADVISOR_A, 0), (ADVISOR_B, 0)]


def test_caseload_on_the_last_day_of_an_earlier_month(app: Flask, history: Org) -> None:
    i = figures(app, Scope(convention=history.conventions["T"]), Period(2026, month=9))
    assert i.caseload.as_of == date(2026, 9, 30)
    # A: t1 t2 t5 t6 t8 entered, t5 t6 out; B: t3 t4 t7 t9 t11 entered, t3 t7 out.
    assert [(a.ref, a.active, a.entries) for a in i.caseload.advisors] == [
        (ADVISOR_A, 3, 0), (ADVISOR_B, 3, 1)]
    assert (i.caseload.total_active, i.caseload.mean_active) == (6, 3.0)
    assert i.entries.total == 1 and i.entries.by_month == ((date(2026, 9, 1), 1),)
    assert i.exits.total == 1  # t3, CDI


def test_the_previous_year_and_a_quarter(app: Flask, history: Org) -> None:
    tarn = Scope(convention=history.conventions["T"])
    last_year = figures(app, tarn, Period(2025))
    assert (last_year.orientations.sent, last_year.entries.total, last_year.delay.mean) == (
        1, 1, 10.0)
    assert last_year.caseload.as_of == date(2025, 12, 31)
    assert [(a.ref, a.active) for a in last_year.caseload.advisors] == [(ADVISOR_A, 1)]
    q3 = figures(app, tarn, Period(2026, quarter=3))
    assert q3.entries.total == 4 and [n for _, n in q3.entries.by_month] == [1, 2, 1]
    assert q3.exits.total == 3  # t6 (July), t7 (August), t3 (September)
    assert q3.caseload.as_of == date(2026, 9, 30)


def test_france_travail_sees_both_conventions_and_the_platform_band(app: Flask,
                                                                    history: Org) -> None:
    i = figures(app, Scope(institution=history.institutions["F"]), Period(2026))
    o = i.orientations
    assert (o.sent, o.accepted, o.declined, o.recalled) == (17, 13, 3, 1)
    assert dict(o.decline_reasons)[DeclineReason.PERSON_DECLINED] == 1
    assert i.entries.total == 12
    assert i.delay.mean == 239 / 12
    assert i.delay.median == 17.5
    assert (i.delay.within_target, i.delay.share_within) == (7, 7 / 12)
    assert (i.rsa.beneficiaries, i.rsa.not_beneficiaries, i.rsa.unknown) == (7, 4, 1)
    assert (i.exits.total, i.exits.positive) == (11, 6)
    assert dict(i.exits.by_reason)[ExitReason.CDI] == 2
    assert i.renewals == 2
    c = i.caseload
    assert [(a.ref, a.active, a.entries) for a in c.advisors] == [
        (ADVISOR_A, 2, 5), (ADVISOR_B, 0, 5), (ADVISOR_C, 1, 2)]
    assert (c.total_active, c.mean_active) == (3, 1.5)
    assert c.band == CaseloadBand(70, 70)  # Tarn says 70, Lodève 70 to 100: they differ


def test_the_lodeve_convention_has_a_70_to_100_band(app: Flask, history: Org) -> None:
    i = figures(app, Scope(convention=history.conventions["L"]), Period(2026))
    assert i.caseload.band == CaseloadBand(70, 100) and i.caseload.band.label == "70 à 100"
    assert (i.orientations.sent, i.entries.total, i.exits.total, i.renewals) == (3, 2, 1, 1)
    cias = figures(app, Scope(institution=history.institutions["C"]), Period(2026))
    assert cias == i  # the CIAS is party to that convention only


def test_the_departement_sees_its_one_convention(app: Flask, history: Org) -> None:
    tarn = figures(app, Scope(convention=history.conventions["T"]), Period(2026))
    assert figures(app, Scope(institution=history.institutions["D"]), Period(2026)) == tarn


def test_a_unit_sees_what_it_sent_or_received(app: Flask, history: Org) -> None:
    i = figures(app, Scope(unit=history.units["M1"]), Period(2026))
    assert i.orientations.sent == 8  # t2 t3 t6 t7 t9 t10 t12 and the declined one
    assert i.entries.total == 6 and i.delay.mean == 78 / 6
    assert (i.exits.total, i.exits.positive) == (6, 3)
    assert [(a.ref, a.active) for a in i.caseload.advisors] == [(ADVISOR_A, 2), (ADVISOR_B, 0)]


SCOPES = [("institution", "D"), ("institution", "F"), ("institution", "C"),
          ("convention", "T"), ("convention", "L"), ("unit", "M1"), ("unit", "A1"),
          ("unit", "A4"), ("unit", "M2")]
PERIODS = [Period(2025), Period(2026), Period(2026, quarter=1), Period(2026, quarter=3),
           Period(2026, quarter=4), Period(2026, month=9), Period(2026, month=11)]


def test_sql_aggregates_equal_the_reference_reduction(app: Flask, history: Org) -> None:
    with services_of(app).db.unit_of_work() as s:
        everything = stored_facts(s)
        checked = 0
        for (kind, key), period, axis in itertools.product(SCOPES, PERIODS, (None, 2, 3)):
            ids = {"institution": history.institutions, "convention": history.conventions,
                   "unit": history.units}[kind]
            scope = Scope(**{kind: ids[key]})
            sql = statistics.aggregates(s, scope, period, TODAY, axis)
            assert sql == aggregate(everything, scope, period, TODAY, axis), (scope, period, axis)
            assert compute(sql, CaseloadBand(70, 70)) == compute(
                aggregate(everything, scope, period, TODAY, axis), CaseloadBand(70, 70))
            checked += 1
    assert checked == len(SCOPES) * len(PERIODS) * 3


def test_no_facts_give_empty_indicators(app: Flask) -> None:
    i = figures(app, Scope(institution=1), Period(2026))
    assert i.entries.total == 0 and i.delay.mean is None and i.delay.median is None
    assert i.exits.share_positive is None and i.caseload.mean_active is None
    assert i.caseload.advisors == () and i.orientations.directions == ()


@pytest.mark.skipif(databases.on_postgres(), reason="SQLite query plans")
def test_the_queries_read_their_covering_index_without_sorting(app: Flask,
                                                               history: Org) -> None:
    """What keeps a year over a million facts well under a second (bench/)."""
    from sqlalchemy import event

    svc = services_of(app)
    statements: list[tuple[str, object]] = []

    def keep(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        if "FROM stat_facts" in statement:
            statements.append((statement, parameters))

    event.listen(svc.db.engine, "before_cursor_execute", keep)
    try:
        with svc.db.unit_of_work() as s:
            statistics.aggregates(s, Scope(institution=history.institutions["F"]),
                                  Period(2026), TODAY, None)
    finally:
        event.remove(svc.db.engine, "before_cursor_execute", keep)
    assert len(statements) == 4
    with svc.db.unit_of_work() as s:
        for statement, parameters in statements:
            plan = " | ".join(row[3] for row in s.connection().exec_driver_sql(
                "EXPLAIN QUERY PLAN " + statement, parameters))  # type: ignore[arg-type]
            assert "COVERING INDEX" in plan, plan
            assert "TEMP B-TREE" not in plan, plan
