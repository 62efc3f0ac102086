"""Facts written by the real use cases, in their transaction: one per state change of an
orientation or an accompaniment, none for a bilan, none when the change rolls back; nothing in
them (or anywhere in the database file) names the person or repeats a free text; and the
indicators are the same after the retention sweep has deleted the people concerned."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import func, inspect, select

from exchange.accounts.models import User
from exchange.domain.clock import FixedClock
from exchange.domain.identity import Identity
from exchange.domain.indicators import Period, Scope
from exchange.domain.vocabulary import FicheKind
from exchange.fiches import accompaniments, decisions, drafts, reading, sending, signing
from exchange.fiches.models import Accompaniment, Fiche
from exchange.indicators import facts as statistics
from exchange.indicators.facts import ACCOMPANIMENT_PREFIX, ADVISOR_PREFIX
from exchange.indicators.models import StatFact
from exchange.org.models import Convention
from exchange.persons.models import Person
from exchange.policy import visible_accompaniment, visible_fiche
from keys.personal import blind_index
from retention.sweep import checkpoint
from tests.fiches.support import FIELDS, acting_as, prepare, services_of
from tests.indicators.support import TARN, org
from tests.retention.support import sweep

PERSON = Identity(last_name="Quasimodo-Zéphyrin", first_names="Anastasie Bérénice",
                  birth_date=date(1979, 8, 17), birth_name="Vauquelin-Ardoise",
                  ft_identifier="7654321B", rsa_beneficiary=True)
OTHER = Identity(last_name="Brocéliande", first_names="Théophraste",
                 birth_date=date(1991, 12, 2), rsa_beneficiary=False)
DECLINE_TEXT = "Refus confidentiel : le conseiller part en congé maternité en décembre."
RECALL_TEXT = "Rappel confidentiel : mauvaise agence, la personne a déménagé à Moissac."
EXIT_TEXT = "Sortie confidentielle : embauche chez le boulanger de la place Nationale."
BILAN_TEXT = "Bilan confidentiel : logement social obtenu rue des Carmes."


def at(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 9, 0, tzinfo=UTC)


def facts(app: Flask) -> list[StatFact]:
    with services_of(app).db.unit_of_work() as s:
        return list(s.scalars(select(StatFact).order_by(StatFact.id)))


@dataclass(frozen=True)
class History:
    accepted: str  # fiche
    accompaniment: str
    declined: str
    recalled: str
    person: str
    other: str


def send(app: Flask, fiche: str) -> None:
    with acting_as(app, "ts.montauban") as ctx:
        sending.send(ctx, visible_fiche(ctx.session, ctx.agent, fiche))


def open_and_acknowledge(app: Flask, fiche: str) -> None:
    with acting_as(app, "cft.montauban") as ctx:
        found = visible_fiche(ctx.session, ctx.agent, fiche)
        reading.open_fiche(ctx, found, "party")
        decisions.acknowledge(ctx, found)


def follow(app: Flask, pid: str, step: str, *args: object) -> None:
    with acting_as(app, "cft.montauban") as ctx:
        accompaniment = visible_accompaniment(ctx.session, ctx.agent, pid)
        getattr(accompaniments, step)(ctx, accompaniment, *args)


def build(app: Flask, clock: FixedClock) -> History:
    """ts.montauban orients three people to the Albasud agency on 23 November 2026: one is
    accepted and followed until a CDI, one declined, one recalled before it is read."""
    accepted = prepare(app, identity=PERSON)
    send(app, accepted.fiche)
    open_and_acknowledge(app, accepted.fiche)
    with acting_as(app, "cft.montauban") as ctx:
        pid = decisions.accept(ctx, visible_fiche(ctx.session, ctx.agent, accepted.fiche)).public_id

    declined = prepare(app, identity=OTHER)
    send(app, declined.fiche)
    open_and_acknowledge(app, declined.fiche)
    with acting_as(app, "cft.montauban") as ctx:
        decisions.decline(ctx, visible_fiche(ctx.session, ctx.agent, declined.fiche),
                          "caseload_full", DECLINE_TEXT)

    recalled = prepare(app, identity=OTHER)
    send(app, recalled.fiche)
    with acting_as(app, "ts.montauban") as ctx:
        sending.recall(ctx, visible_fiche(ctx.session, ctx.agent, recalled.fiche),
                       "wrong_recipient", RECALL_TEXT)

    clock.set(at(date(2026, 12, 10)))
    follow(app, pid, "record_entry", date(2026, 12, 5))  # 12 days after the proposal
    clock.set(at(date(2027, 7, 1)))
    follow(app, pid, "midterm_done", date(2027, 6, 25))  # due 5 June: 20 days late
    follow(app, pid, "midterm_done", date(2027, 6, 10))  # a correction: no second fact
    follow(app, pid, "renew")
    clock.set(at(date(2027, 9, 20)))
    follow(app, pid, "close", date(2027, 9, 15), "cdi", EXIT_TEXT)
    return History(accepted.fiche, pid, declined.fiche, recalled.fiche, accepted.person,
                   declined.person)


def test_each_change_writes_one_fact_with_what_the_indicators_need(app: Flask,
                                                                   clock: FixedClock) -> None:
    h = build(app, clock)
    o = org(app)
    svc = services_of(app)
    with svc.db.unit_of_work() as s:
        keystore = svc.keystore(s)
        advisor = s.scalar(select(User.public_id).where(User.username == "cft.montauban"))
        advisor_ref = blind_index(keystore, ADVISOR_PREFIX, str(advisor))
        accompaniment_ref = blind_index(keystore, ACCOMPANIMENT_PREFIX, h.accompaniment)
    rows = facts(app)
    assert [r.event for r in rows] == [
        "orientation_sent", "orientation_accepted", "orientation_sent", "orientation_declined",
        "orientation_sent", "orientation_recalled", "entry", "midterm_done", "renewal", "exit"]
    november, proposal = date(2026, 11, 1), date(2026, 11, 1)
    for row in rows:
        assert (row.axis, row.convention_id) == (2, o.conventions["T"])
        assert (row.sender_unit_id, row.sender_institution_id) == (o.units["M1"],
                                                                    o.institutions["D"])
        assert (row.receiving_unit_id, row.receiving_institution_id) == (o.units["A1"],
                                                                          o.institutions["F"])
        assert row.proposal_month == proposal
        assert row.created_at.day == 1 and row.created_at.hour == 0  # kept at the month
    person_rows, other_rows = rows[:2] + rows[6:], rows[2:6]
    assert {r.rsa_beneficiary for r in person_rows} == {True}
    assert {r.rsa_beneficiary for r in other_rows} == {False}
    for row in rows[:6]:
        assert row.month == november
    assert rows[0].advisor_ref is None and rows[0].accompaniment_ref is None
    for row in [rows[1], *rows[6:]]:
        assert (row.advisor_ref, row.accompaniment_ref) == (advisor_ref, accompaniment_ref)
    assert rows[3].decline_reason == "caseload_full" and rows[5].decline_reason is None
    entry, midterm, renewal, exit_ = rows[6:]
    assert (entry.month, entry.entry_month, entry.delay_days, entry.within_21_days) == (
        date(2026, 12, 1), date(2026, 12, 1), 12, True)
    assert (midterm.month, midterm.midterm_on_time) == (date(2027, 6, 1), False)
    assert (renewal.month, renewal.entry_month) == (date(2027, 7, 1), date(2026, 12, 1))
    assert (exit_.month, exit_.exit_reason, exit_.positive_exit, exit_.entry_month) == (
        date(2027, 9, 1), "cdi", True, date(2026, 12, 1))

    with svc.db.unit_of_work() as s:
        tarn = Scope(convention=o.conventions["T"])
        y2026 = statistics.indicators(s, tarn, Period(2026), date(2027, 9, 20))
        y2027 = statistics.indicators(s, tarn, Period(2027), date(2027, 9, 20))
    assert (y2026.orientations.sent, y2026.orientations.accepted, y2026.orientations.declined,
            y2026.orientations.recalled) == (3, 1, 1, 1)
    assert (y2026.entries.total, y2026.delay.mean, y2026.delay.share_within) == (1, 12.0, 1.0)
    assert y2026.rsa.share == 1.0 and y2026.caseload.total_active == 1
    assert (y2027.midterm.done, y2027.midterm.on_time, y2027.renewals) == (1, 0, 1)
    assert (y2027.exits.total, y2027.exits.positive, y2027.caseload.total_active) == (1, 1, 0)


def test_a_bilan_writes_no_fact(app: Flask, clock: FixedClock) -> None:
    prepared = prepare(app, identity=PERSON)
    send(app, prepared.fiche)
    open_and_acknowledge(app, prepared.fiche)
    with acting_as(app, "cft.montauban") as ctx:
        pid = decisions.accept(ctx, visible_fiche(ctx.session, ctx.agent, prepared.fiche)).public_id
    before = len(facts(app))
    with acting_as(app, "ts.montauban") as ctx:
        followed = visible_accompaniment(ctx.session, ctx.agent, pid)
        unit = visible_fiche(ctx.session, ctx.agent, prepared.fiche).recipient_unit.public_id
        bilan = drafts.start_draft(ctx, followed.person, FicheKind.BILAN_MID, unit,
                                   accompaniment=followed)
        drafts.save_draft(ctx, bilan, {"review_date": "2026-11-23", "summary": BILAN_TEXT,
                                       "next_steps": "Suite du parcours."})
        signing.sign(ctx, bilan)
        bilan_pid = bilan.public_id
    with acting_as(app, "rmds.montauban") as ctx:
        signing.countersign(ctx, visible_fiche(ctx.session, ctx.agent, bilan_pid))
    send(app, bilan_pid)
    assert len(facts(app)) == before


class Crash(Exception):
    pass


def test_a_send_that_rolls_back_leaves_no_fact(app: Flask) -> None:
    prepared = prepare(app)

    def crash(step: str) -> None:
        if step == "notified":  # after the audit event and the fact
            raise Crash(step)

    with pytest.raises(Crash), acting_as(app, "ts.montauban") as ctx:
        sending.send(ctx, visible_fiche(ctx.session, ctx.agent, prepared.fiche), fault=crash)
    assert facts(app) == []
    send(app, prepared.fiche)
    assert [r.event for r in facts(app)] == ["orientation_sent"]


def _secrets() -> list[str]:
    texts = [PERSON.last_name, PERSON.first_names, "Anastasie", "Bérénice", "Zéphyrin",
             "Vauquelin", "QUASIMODO", "Brocéliande", "Théophraste", "7654321B",
             DECLINE_TEXT, RECALL_TEXT, EXIT_TEXT, *(v for v in FIELDS.values()
                                                       if isinstance(v, str))]
    dates = [PERSON.birth_date, OTHER.birth_date]
    texts += [d.isoformat() for d in dates] + [d.strftime("%d/%m/%Y") for d in dates]
    texts += [d.strftime("%Y%m%d") for d in dates]
    return texts


def test_the_facts_hold_no_name_birth_date_free_text_or_id(app: Flask,
                                                           clock: FixedClock) -> None:
    h = build(app, clock)
    columns = {c["name"] for c in inspect(services_of(app).db.engine).get_columns("stat_facts")}
    assert not columns & {"person_id", "fiche_id", "accompaniment_id", "user_id", "name",
                          "birth_date", "text", "note"}
    with services_of(app).db.unit_of_work() as s:
        ids = [str(v) for v in s.scalars(select(Person.public_id))]
        ids += [str(v) for v in s.scalars(select(Fiche.public_id))]
        ids += [str(v) for v in s.scalars(select(Accompaniment.public_id))]
        ids += [str(v) for v in s.scalars(select(User.public_id))]
        values = [str(value) for row in s.execute(select(StatFact)).scalars()
                  for value in (getattr(row, c) for c in columns) if value is not None]
    assert h.person in ids and len(values) > 50
    dump = "\n".join(values).casefold()
    for secret in _secrets() + ids:
        assert secret.casefold() not in dump, secret


@pytest.mark.sqlite_file
def test_the_database_file_holds_none_of_them_either(app: Flask, clock: FixedClock,
                                                     instance: Path) -> None:
    build(app, clock)
    checkpoint(services_of(app).db)
    files = [instance / "liaison.db", instance / "liaison.db-wal"]
    everything = b"".join(p.read_bytes() for p in files if p.exists())
    assert len(everything) > 100_000
    for secret in _secrets():
        for form in {secret, secret.upper(), secret.casefold()}:
            assert form.encode("utf-8") not in everything, secret


def test_the_indicators_survive_the_retention_sweep(app: Flask, clock: FixedClock) -> None:
    build(app, clock)
    o = org(app)
    svc = services_of(app)
    today = date(2027, 12, 31)

    def everything() -> list[object]:
        with svc.db.unit_of_work() as s:
            tarn = s.scalar(select(Convention.id).where(Convention.title == TARN))
            return [statistics.indicators(s, scope, period, today, axis)
                    for scope in (Scope(convention=tarn), Scope(institution=o.institutions["F"]),
                                  Scope(unit=o.units["M1"]), Scope(unit=o.units["A1"]))
                    for period in (Period(2026), Period(2027), Period(2027, quarter=3))
                    for axis in (None, 2)]

    before, rows = everything(), len(facts(app))
    result = sweep(app, date(2038, 1, 1))  # ten years after the end of the Tarn convention
    assert not result.errors, result.errors
    with svc.db.unit_of_work() as s:
        left = [s.scalar(select(func.count()).select_from(model))
                for model in (Person, Fiche, Accompaniment)]
    assert left == [0, 0, 0]
    assert len(facts(app)) == rows
    assert everything() == before
