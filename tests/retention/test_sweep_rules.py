"""The sweep applies the conventions' rules on time, with a moved clock: axe 3 two months
after the end of the convention, axe 2 ten years, a declined orientation after its grace, an
amendment that extends the convention, a legal hold until it is lifted."""

from __future__ import annotations

from datetime import date, timedelta

from flask import Flask

from exchange.domain.dates import add_months
from exchange.fiches.models import Fiche
from exchange.persons.models import Person
from exchange.platform.models import Document
from tests.fiches.support import services_of
from tests.retention.support import (
    TARN_END,
    amend,
    axe2_sent,
    axe3_sent,
    blob_files,
    counts,
    declined,
    exists,
    fiche_blobs,
    horizon_of,
    sweep,
)

DAY = timedelta(days=1)


def test_axe3_fiche_lives_until_two_months_after_the_convention(app: Flask) -> None:
    built = axe3_sent(app)
    blobs = fiche_blobs(app, built.fiche)
    limit = add_months(TARN_END, 2)
    assert limit == date(2028, 2, 29)

    before = sweep(app, limit - DAY)
    assert before.status == "done" and not before.deleted and not before.errors
    assert horizon_of(app, Fiche, built.fiche) == limit
    assert horizon_of(app, Person, built.person) == limit
    on_the_day = sweep(app, limit)
    assert not on_the_day.deleted
    assert exists(app, Fiche, built.fiche) and exists(app, Person, built.person)

    after = sweep(app, limit + DAY)

    assert not after.errors, after.errors
    assert not exists(app, Fiche, built.fiche)
    assert not exists(app, Person, built.person)
    left = counts(app)
    assert left == {"persons": 0, "consents": 0, "fiches": 0, "documents": 0, "key_wraps": 0,
                    "receipts": 0, "accompaniments": 0, "doomed": 0}
    assert not set(blobs) & blob_files(app)
    kinds = {(item["kind"], item["id"]) for item in after.deleted}
    assert ("fiche", built.fiche) in kinds and ("person", built.person) in kinds
    assert "2028-02" in after.epochs_destroyed


def test_axe2_fiche_lives_ten_years(app: Flask) -> None:
    built = axe2_sent(app)
    limit = add_months(TARN_END, 120)
    assert limit == date(2037, 12, 31)
    assert not sweep(app, limit).deleted
    assert exists(app, Fiche, built.fiche)
    result = sweep(app, limit + DAY)
    assert not exists(app, Fiche, built.fiche) and not exists(app, Person, built.person)
    assert {i["rule"] for i in result.deleted if i["kind"] == "fiche"} == {"convention_end"}
    assert counts(app)["documents"] == 0


def test_a_declined_orientation_goes_after_its_grace(app: Flask) -> None:
    built = declined(app)
    decided = services_of(app).clock.today()
    sweep(app, decided)  # the sweep catches up with the decision
    assert horizon_of(app, Fiche, built.fiche) == decided + timedelta(days=30)
    assert not sweep(app, decided + timedelta(days=30)).deleted
    result = sweep(app, decided + timedelta(days=31))
    assert not exists(app, Fiche, built.fiche)
    assert not exists(app, Person, built.person)
    assert [i["rule"] for i in result.deleted if i["kind"] == "fiche"] == ["no_longer_needed"]


def test_an_amendment_extending_the_convention_keeps_the_data(app: Flask) -> None:
    built = axe3_sent(app)
    amend(app, date(2028, 12, 31))
    result = sweep(app, date(2028, 3, 1))
    assert not result.deleted
    assert exists(app, Fiche, built.fiche)
    assert horizon_of(app, Fiche, built.fiche) == date(2029, 2, 28)
    with services_of(app).db.unit_of_work() as s:
        from sqlalchemy import select

        epochs = set(s.scalars(select(Document.epoch)))
    assert epochs == {"2029-02"}  # re-sealed under the new horizon's month
    assert result.recomputed.documents_moved >= 3
    assert sweep(app, date(2029, 3, 1)).deleted
    assert not exists(app, Fiche, built.fiche)
