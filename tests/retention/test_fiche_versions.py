"""The versions a rectification replaced live and die with their fiche: the sweep deletes every
document of the fiche (all versions), the rows of the replaced versions, and the blobs; an
amendment that moves the fiche's horizon re-seals the old versions with the rest, and they
still open."""

from __future__ import annotations

from datetime import date, timedelta

from flask import Flask
from sqlalchemy import func, select

from exchange.domain.dates import add_months
from exchange.fiches import rectification
from exchange.fiches.models import Fiche, FicheVersion
from exchange.platform.models import Document
from exchange.policy import visible_fiche
from tests.fiches.support import FIELDS, acting_as, services_of
from tests.retention.support import (
    TARN_END,
    amend,
    axe3_sent,
    blob_files,
    counts,
    exists,
    fiche_blobs,
    sweep,
)

DAY = timedelta(days=1)
RECTIFIED = {**FIELDS, "expectations": "Un logement stable avant la reprise d'emploi."}


def _rectify(app: Flask, fiche: str) -> None:
    """The advisor of the sending agency rectifies the axe 3 orientation."""
    with acting_as(app, "cft.montauban") as ctx:
        rectification.rectify(ctx, visible_fiche(ctx.session, ctx.agent, fiche), dict(RECTIFIED),
                              "clerical_error")


def _version_rows(app: Flask) -> int:
    with services_of(app).db.unit_of_work() as s:
        return int(s.scalar(select(func.count()).select_from(FicheVersion)) or 0)


def test_the_replaced_versions_are_deleted_with_the_fiche(app: Flask) -> None:
    built = axe3_sent(app)
    _rectify(app, built.fiche)
    blobs = fiche_blobs(app, built.fiche)
    assert len(blobs) == 5  # the attachment, content and PDF of version 1, of version 2
    assert _version_rows(app) == 1
    limit = add_months(TARN_END, 2)

    assert not sweep(app, limit).deleted
    assert exists(app, Fiche, built.fiche) and _version_rows(app) == 1

    after = sweep(app, limit + DAY)

    assert not after.errors, after.errors
    assert not exists(app, Fiche, built.fiche)
    assert _version_rows(app) == 0
    assert counts(app)["documents"] == 0
    assert not set(blobs) & blob_files(app)
    assert "2028-02" in after.epochs_destroyed


def test_an_amendment_re_seals_the_old_versions_which_still_open(app: Flask) -> None:
    built = axe3_sent(app)
    _rectify(app, built.fiche)
    amend(app, date(2028, 12, 31))
    result = sweep(app, date(2028, 3, 1))
    assert not result.deleted and result.recomputed.documents_moved >= 5
    with services_of(app).db.unit_of_work() as s:
        assert set(s.scalars(select(Document.epoch))) == {"2029-02"}
    for username in ("cft.montauban", "ts.montauban"):  # sender, then recipient
        with acting_as(app, username) as ctx:
            fiche = visible_fiche(ctx.session, ctx.agent, built.fiche)
            if username == "ts.montauban":
                from exchange.fiches import reading

                reading.open_fiche(ctx, fiche, "party")
            [row] = rectification.versions(ctx, fiche)
            old = rectification.open_version(ctx, fiche, row)
            assert old.content["fields"]["expectations"] == FIELDS["expectations"]
            rectification.check_current(ctx, fiche)
