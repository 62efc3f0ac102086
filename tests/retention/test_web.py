"""The conservation pages: the advance notice for the referent pair and the DPO, a referent's
mark, the DPO's signed reports and legal holds; every other role is refused."""

from __future__ import annotations

import json
from datetime import date

from flask import Flask
from sqlalchemy import select

from exchange.domain.clock import FixedClock
from exchange.fiches.models import Fiche
from retention.models import LegalHold
from tests.conftest import login, post_form
from tests.fiches.support import audit_events, services_of
from tests.retention.support import axe3_sent, horizon_of, noon, sweep


def test_the_pair_and_the_dpo_see_what_will_be_deleted(app: Flask, clock: FixedClock) -> None:
    built = axe3_sent(app)
    sweep(app, clock.today())
    clock.set(noon(date(2028, 2, 10)))  # 19 days before the horizon
    for username, sees in (("ts.montauban", True), ("cft.montauban", True),
                           ("dpo.departement", True), ("ts.lodeve", False)):
        client = app.test_client()
        login(client, username, clock)
        page = client.get("/conservation/")
        assert page.status_code == 200, username
        html = page.get_data(as_text=True)
        assert (built.fiche[:8] in html) is sees, username
        assert "Lef" not in html  # metadata only
        assert page.headers["Cache-Control"] == "no-store"


def test_a_referent_marks_an_item_no_longer_needed_from_the_page(app: Flask,
                                                                 clock: FixedClock) -> None:
    built = axe3_sent(app)
    sweep(app, clock.today())
    clock.set(noon(date(2028, 2, 10)))
    client = app.test_client()
    login(client, "cft.montauban", clock)
    response = post_form(client, "/conservation/plus-necessaire",
                         {"kind": "fiche", "item": built.fiche}, form_page="/conservation/")
    assert response.status_code == 302
    assert horizon_of(app, Fiche, built.fiche) == date(2028, 2, 29)  # the convention's limit
    assert audit_events(app, "retention.marked_unneeded", built.fiche)
    other = app.test_client()
    login(other, "ts.lodeve", clock)
    refused = post_form(other, "/conservation/plus-necessaire",
                        {"kind": "fiche", "item": built.fiche}, form_page="/conservation/")
    assert refused.status_code == 404


def test_the_dpo_downloads_reports_and_places_and_lifts_holds(app: Flask,
                                                               clock: FixedClock) -> None:
    built = axe3_sent(app)
    result = sweep(app, clock.today())
    client = app.test_client()
    login(client, "dpo.departement", clock)
    listing = client.get("/conservation/rapports")
    assert listing.status_code == 200 and result.report_id in listing.get_data(as_text=True)
    download = client.get(f"/conservation/rapports/{result.report_id}")
    assert download.status_code == 200
    assert download.headers["Content-Disposition"].startswith("attachment;")
    assert set(json.loads(download.data)) == {"payload", "signature", "key_id", "key_version"}

    refused = post_form(client, "/conservation/conservations-legales",
                        {"kind": "person", "target": built.person, "reason": "", "note": ""})
    assert "Choisissez le motif" in refused.get_data(as_text=True)
    placed = post_form(client, "/conservation/conservations-legales",
                       {"kind": "person", "target": built.person, "reason": "litigation",
                        "note": "Affaire 24/0042"})
    assert placed.status_code == 302
    with services_of(app).db.unit_of_work() as s:
        hold = s.scalar(select(LegalHold.public_id))
    assert hold is not None and horizon_of(app, Fiche, built.fiche) is None
    page = client.get("/conservation/conservations-legales").get_data(as_text=True)
    assert "Affaire 24/0042" in page and "Contentieux" in page
    lifted = post_form(client, "/conservation/conservations-legales/lever", {"hold": hold},
                       form_page="/conservation/conservations-legales")
    assert lifted.status_code == 302
    assert horizon_of(app, Fiche, built.fiche) == date(2028, 2, 29)


def test_other_roles_are_refused(app: Flask, clock: FixedClock) -> None:
    for username, paths in (
            ("cm.francetravail", ["/conservation/"]),
            ("admin", ["/conservation/", "/conservation/rapports"]),
            ("ts.montauban", ["/conservation/rapports", "/conservation/conservations-legales",
                              f"/conservation/rapports/{'0' * 32}"]),
            ("rmds.montauban", ["/conservation/conservations-legales"])):
        client = app.test_client()
        login(client, username, clock)
        for path in paths:
            assert client.get(path).status_code == 403, (username, path)
    manager = app.test_client()
    login(manager, "rmds.montauban", clock)
    assert manager.get("/conservation/").status_code == 200
    assert post_form(manager, "/conservation/plus-necessaire", {"kind": "fiche", "item": "x"},
                     form_page="/conservation/").status_code == 403
