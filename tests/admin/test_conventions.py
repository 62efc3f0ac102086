"""Administration of conventions and their amendments (avenants)."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from exchange.domain.clock import FixedClock
from exchange.org.models import Convention, ConventionAmendment, Institution
from tests.admin.support import count, db, events_since, field_error, head, public_id
from tests.conftest import login, post_form


@pytest.fixture
def admin(client: FlaskClient, clock: FixedClock) -> FlaskClient:
    login(client, "admin", clock)
    return client


def _form(app: Flask, **changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "title": "Convention de coopération — Castelsarrasin",
        "party_a": public_id(app, Institution, name="Département de Tarn-et-Garonne"),
        "party_b": public_id(app, Institution, name="France Travail Occitanie"),
        "start_date": "2026-01-01", "end_date": "2028-12-31", "axis2": "y", "axis3": "y",
        "retention_axis2_months": "120", "retention_axis3_months": "2", "grace_days": "30",
        "caseload_target": "70",
    }
    data.update(changes)
    return {name: value for name, value in data.items() if value is not None}


def _convention(app: Flask, pid: str) -> Convention:
    with db(app) as s:
        row = s.scalar(select(Convention).where(Convention.public_id == pid))
        assert row is not None
        row.amendments  # noqa: B018 - loaded before the session closes
        return row


def test_new_convention_form_shows_the_defaults(admin: FlaskClient) -> None:
    html = admin.get("/admin/conventions/nouvelle").get_data(as_text=True)
    for name, value in (("retention_axis2_months", "120"), ("retention_axis3_months", "2"),
                        ("grace_days", "30"), ("caseload_target", "70")):
        assert re.search(rf'name="{name}" required type="number" value="{value}"', html)


def test_creating_a_convention(admin: FlaskClient, app: Flask) -> None:
    before = head(app)
    answer = post_form(admin, "/admin/conventions/nouvelle",
                       _form(app, axis3=None, countersign_required="y", grace_days="15"))
    assert answer.status_code == 302
    pid = answer.location.rsplit("/", 1)[1]
    assert events_since(app, before) == [("convention.created", pid)]
    row = _convention(app, pid)
    assert (row.start_date, row.effective_end_date, row.axes()) == (
        date(2026, 1, 1), date(2028, 12, 31), [2])
    assert (row.retention_axis2_months, row.retention_axis3_months, row.grace_days,
            row.countersign_required, row.caseload_target) == (120, 2, 15, True, 70)
    listing = admin.get("/admin/conventions/").get_data(as_text=True)
    assert "Convention de coopération — Castelsarrasin" in listing and "31/12/2028" in listing


@pytest.mark.parametrize(("changes", "field", "message"), [
    ({"party_b": "same"}, "party_b", "Choisissez une institution différente de la première"),
    ({"end_date": "2025-12-31"}, "end_date",
     "La date de fin doit être postérieure ou égale à la date de début."),
    ({"axis2": None, "axis3": None}, "axis2", "Ouvrez au moins un axe"),
    ({"start_date": ""}, "start_date", "Saisissez la date de début."),
    ({"start_date": "31/02/2026"}, "start_date", "Saisissez une date valide"),
    ({"retention_axis2_months": "240"}, "retention_axis2_months", "entre 0 et 120 mois"),
    ({"caseload_target": ""}, "caseload_target", "Saisissez la file active cible."),
    ({"caseload_target": "abc1"}, "caseload_target", "N'est pas un entier valide"),
    ({"party_a": "0" * 32}, "party_a", "pas un choix valide"),
    ({"title": ""}, "title", "Saisissez l'intitulé de la convention."),
])
def test_invalid_convention_is_refused_and_nothing_is_saved(
        admin: FlaskClient, app: Flask, changes: dict[str, Any], field: str,
        message: str) -> None:
    if changes.get("party_b") == "same":
        changes["party_b"] = _form(app)["party_a"]
    before, conventions = head(app), count(app, Convention)
    answer = post_form(admin, "/admin/conventions/nouvelle", _form(app, **changes))
    assert answer.status_code == 400
    assert message in field_error(answer, field)
    assert "Le formulaire contient des erreurs" in answer.get_data(as_text=True)
    assert count(app, Convention) == conventions
    assert events_since(app, before) == []


def test_editing_a_convention(admin: FlaskClient, app: Flask) -> None:
    pid = public_id(app, Convention, start_date=date(2025, 1, 1))
    path = f"/admin/conventions/{pid}/modifier"
    assert 'value="2027-12-31"' in admin.get(path).get_data(as_text=True)
    before = head(app)
    answer = post_form(admin, path, _form(app, title="Convention cadre 82", start_date="2025-01-01",
                                          end_date="2027-12-31", created_at="1999-01-01"))
    assert answer.location == f"/admin/conventions/{pid}"
    assert events_since(app, before) == [("convention.updated", pid)]
    row = _convention(app, pid)
    assert row.title == "Convention cadre 82" and not row.countersign_required
    assert row.created_at.year == 2026


def test_an_amendment_moves_the_effective_end_date(admin: FlaskClient, app: Flask) -> None:
    pid = public_id(app, Convention, start_date=date(2025, 1, 1))
    assert _convention(app, pid).effective_end_date == date(2027, 12, 31)
    before = head(app)
    answer = post_form(admin, f"/admin/conventions/{pid}/avenants/nouveau", {
        "signed_on": "2026-11-20", "new_end_date": "2029-06-30",
        "note": "Avenant n° 1 : prolongation de dix-huit mois"})
    assert answer.location == f"/admin/conventions/{pid}"
    assert events_since(app, before) == [("convention.amended", pid)]
    row = _convention(app, pid)
    assert (row.end_date, row.effective_end_date) == (date(2027, 12, 31), date(2029, 6, 30))
    page = admin.get(answer.location).get_data(as_text=True)
    assert "Avenant n° 1 : prolongation de dix-huit mois" in page and "30/06/2029" in page
    # A second avenant can end it earlier, too.
    post_form(admin, f"/admin/conventions/{pid}/avenants/nouveau", {
        "signed_on": "2026-11-21", "new_end_date": "2026-12-31"})
    assert _convention(app, pid).effective_end_date == date(2026, 12, 31)


@pytest.mark.parametrize(("data", "field", "message"), [
    ({"signed_on": "2026-11-20", "new_end_date": "2023-12-31"}, "new_end_date",
     "postérieure ou égale au début de la convention (01/01/2024)"),
    ({"signed_on": "2025-11-14", "new_end_date": "2027-12-31"}, "signed_on",
     "signé après le précédent avenant (signé le 14/11/2025)"),
    ({"signed_on": "", "new_end_date": "2027-12-31"}, "signed_on",
     "Saisissez la date de signature."),
])
def test_invalid_amendment_is_refused(admin: FlaskClient, app: Flask, data: dict[str, str],
                                      field: str, message: str) -> None:
    pid = public_id(app, Convention, start_date=date(2024, 1, 1))
    before, amendments = head(app), count(app, ConventionAmendment)
    answer = post_form(admin, f"/admin/conventions/{pid}/avenants/nouveau", data)
    assert answer.status_code == 400
    assert message in field_error(answer, field)
    assert count(app, ConventionAmendment) == amendments and events_since(app, before) == []
    assert _convention(app, pid).effective_end_date == date(2026, 12, 31)


def test_start_cannot_move_past_an_amended_end(admin: FlaskClient, app: Flask) -> None:
    pid = public_id(app, Convention, start_date=date(2024, 1, 1))
    answer = post_form(admin, f"/admin/conventions/{pid}/modifier", _form(
        app, start_date="2027-01-01", end_date="2027-12-31"))
    assert answer.status_code == 400
    assert "fixée par un avenant (31/12/2026)" in field_error(answer, "start_date")


def test_list_shows_effective_end_and_whether_in_force(admin: FlaskClient,
                                                       clock: FixedClock) -> None:
    html = admin.get("/admin/conventions/").get_data(as_text=True)
    assert html.count("En vigueur") == 2 and "31/12/2026" in html and "1 avenant" in html
    clock.set(clock.now().replace(year=2027, month=6))
    login(admin, "admin", clock)
    html = admin.get("/admin/conventions/").get_data(as_text=True)
    assert html.count("En vigueur") == 1 and "Échue" in html
