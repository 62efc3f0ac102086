"""The indicator screens: who may see what, the filters, one audit event per view or export,
the CSV (masked small counts, neutralised formulas) and the printable annual report."""

from __future__ import annotations

import csv
import io
import re
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update

from exchange.accounts.models import User, UserRole
from exchange.app import create_app
from exchange.audit.models import AuditEvent
from exchange.demo.seed import DEMO_PASSWORD, TOTP_BOX, demo_totp_secret
from exchange.domain.clock import FixedClock
from exchange.org.models import Institution, Unit
from exchange.platform.settings import Settings
from tests.conftest import login, make_settings
from tests.fiches.support import services_of
from tests.indicators.support import DEPARTEMENT, FRANCE_TRAVAIL, UNITS, Org, load_history

FT_COORDINATOR = "cm.francetravail"
CD_COORDINATOR = "cm.departement"
FORMULA = '=HYPERLINK("https://exemple.invalid","clic")'


@pytest.fixture
def history(app: Flask) -> Org:
    return load_history(app)


def add_coordinator(app: Flask, username: str = CD_COORDINATOR,
                    unit: str = "Direction de la cohésion sociale") -> None:
    """A chargé de mission of the Département, enrolled like the demo accounts."""
    svc = services_of(app)
    with svc.db.unit_of_work() as s:
        unit_id = s.scalar(select(Unit.id).where(Unit.name == unit))
        now = svc.clock.now()
        user = User(username=username, display_name="Chargée de mission du Département",
                    email="", unit_id=unit_id, password_hash=svc.passwords.hash(DEMO_PASSWORD),
                    must_change_password=False, created_at=now, totp_enrolled_at=now,
                    totp_last_step=0)
        s.add(user)
        s.flush()
        user.totp_secret = svc.secret_box(TOTP_BOX).seal(demo_totp_secret(username).encode(),
                                                         user.public_id.encode())
        s.add(UserRole(user_id=user.id, role="coordinator"))


def signed_in(app: Flask, clock: FixedClock, username: str) -> FlaskClient:
    client = app.test_client()
    login(client, username, clock)
    return client


def head(app: Flask) -> int:
    with services_of(app).db.unit_of_work() as s:
        return int(s.scalar(select(AuditEvent.seq).order_by(AuditEvent.seq.desc()).limit(1))
                   or 0)


def events_since(app: Flask, seq: int) -> list[tuple[str, str | None, str | None]]:
    with services_of(app).db.unit_of_work() as s:
        return [(e.action, e.object_type, e.object_id) for e in s.scalars(
            select(AuditEvent).where(AuditEvent.seq > seq).order_by(AuditEvent.seq))]


def main_of(html: str) -> str:
    """The page without the header (whose account name and token differ per user)."""
    return html[html.index("<h1>"):html.index("</main>")]


def cells(data: bytes) -> list[list[str]]:
    text = data.decode("utf-8")
    assert text.startswith("\ufeff")
    return list(csv.reader(io.StringIO(text[1:]), delimiter=";"))


def value(rows: list[list[str]], indicator: str, detail: str) -> str:
    found = [r[2] for r in rows if len(r) == 3 and r[0] == indicator and r[1] == detail]
    assert len(found) == 1, (indicator, detail, found)
    return found[0]


def test_the_coordinator_sees_the_indicators_of_their_institution(
        app: Flask, clock: FixedClock, history: Org) -> None:
    client = signed_in(app, clock, FT_COORDINATOR)
    before = head(app)
    page = client.get("/pilotage/?annee=2026")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert f"Institution : {FRANCE_TRAVAIL}" in html and "année 2026" in html
    assert ('<tfoot><tr><th scope="row">Total</th><td>17</td><td>13</td><td>3</td>'
            '<td>1</td></tr></tfoot>') in html
    assert "<strong>12</strong> entrées" in html
    assert "Conseiller aaaaaaaa" in html and "dans la cible" not in html
    assert html.count("<caption>") >= 6 and 'scope="col"' in html
    assert page.headers["Cache-Control"] == "no-store"
    with services_of(app).db.unit_of_work() as s:
        ft = s.scalar(select(Institution.public_id).where(Institution.name == FRANCE_TRAVAIL))
    assert events_since(app, before) == [("indicators.viewed", "institution", ft)]
    # Both of France Travail's conventions are offered.
    for pid in history.public_ids.values():
        assert f"/pilotage/conventions/{pid}?annee=2026" in html


@pytest.mark.parametrize("query", ["trimestre=5", "mois=13", "trimestre=1&mois=2", "axe=4",
                                   "annee=2027", "annee=deux", "axe=deux"])
def test_filters_other_than_the_offered_values_are_refused(
        app: Flask, clock: FixedClock, history: Org, query: str) -> None:
    client = signed_in(app, clock, FT_COORDINATOR)
    assert client.get(f"/pilotage/?{query}").status_code == 400
    assert client.get(f"/pilotage/export.csv?{query}").status_code == 400


def test_period_and_axis_filters(app: Flask, clock: FixedClock, history: Org) -> None:
    client = signed_in(app, clock, FT_COORDINATOR)
    tarn = history.public_ids["T"]
    html = client.get(f"/pilotage/conventions/{tarn}?annee=2026&trimestre=3").get_data(
        as_text=True)
    assert "3e trimestre 2026" in html and "<strong>4</strong> entrées" in html
    html = client.get(f"/pilotage/conventions/{tarn}?annee=2026&axe=3").get_data(as_text=True)
    assert "axe 3 – accompagnement social exclusif" in html
    assert "<strong>2</strong> entrées" in html
    html = client.get(f"/pilotage/conventions/{tarn}?annee=2026&mois=9").get_data(as_text=True)
    assert "File active au 30/09/2026" in html and "<strong>1</strong> entrée " in html


def test_both_parties_see_the_same_convention(app: Flask, clock: FixedClock,
                                             history: Org) -> None:
    add_coordinator(app)
    tarn = history.public_ids["T"]
    ft, cd = signed_in(app, clock, FT_COORDINATOR), signed_in(app, clock, CD_COORDINATOR)
    for path in (f"/pilotage/conventions/{tarn}?annee=2026",
                 f"/pilotage/conventions/{tarn}?annee=2026&axe=2&trimestre=2"):
        seen = [c.get(path) for c in (ft, cd)]
        assert [r.status_code for r in seen] == [200, 200]
        assert main_of(seen[0].get_data(as_text=True)) == main_of(seen[1].get_data(as_text=True))
    exports = [c.get(f"/pilotage/conventions/{tarn}/export.csv?annee=2026") for c in (ft, cd)]
    assert exports[0].data == exports[1].data
    reports = [c.get(f"/pilotage/conventions/{tarn}/bilan-annuel-2026.pdf") for c in (ft, cd)]
    assert reports[0].data == reports[1].data


def test_a_coordinator_sees_only_the_conventions_of_their_institution(
        app: Flask, clock: FixedClock, history: Org) -> None:
    add_coordinator(app)
    client = signed_in(app, clock, CD_COORDINATOR)
    lodeve = history.public_ids["L"]  # between the CIAS and France Travail
    for path in (f"/pilotage/conventions/{lodeve}", f"/pilotage/conventions/{lodeve}/export.csv",
                 f"/pilotage/conventions/{lodeve}/bilan-annuel-2026.pdf",
                 f"/pilotage/conventions/{'0' * 32}"):
        assert client.get(path).status_code == 404, path
    html = client.get("/pilotage/").get_data(as_text=True)
    assert f"Institution : {DEPARTEMENT}" in html and lodeve not in html


ROLE_PAGES = ["/pilotage/", "/pilotage/export.csv", "/pilotage/conventions/{T}",
              "/pilotage/conventions/{T}/export.csv",
              "/pilotage/conventions/{T}/bilan-annuel-2026.pdf"]
MANAGER_PAGES = ["/responsable/indicateurs/", "/responsable/indicateurs/export.csv"]


@pytest.mark.parametrize(("username", "coordinator", "manager"), [
    ("cm.francetravail", 200, 403), ("rmds.montauban", 403, 200), ("ts.montauban", 403, 403),
    ("cft.montauban", 403, 403), ("dpo.departement", 403, 403), ("admin", 403, 403)])
def test_role_access(app: Flask, clock: FixedClock, history: Org, username: str,
                     coordinator: int, manager: int) -> None:
    client = signed_in(app, clock, username)
    for path in ROLE_PAGES:
        answer = client.get(path.format(T=history.public_ids["T"]))
        assert answer.status_code == coordinator, (username, path)
    for path in MANAGER_PAGES:
        assert client.get(path).status_code == manager, (username, path)


def test_anonymous_visitors_are_sent_to_sign_in(app: Flask, history: Org) -> None:
    client = app.test_client()
    for path in ROLE_PAGES + MANAGER_PAGES:
        assert client.get(path.format(T=history.public_ids["T"])).location == "/connexion/"


def test_the_unit_manager_sees_their_unit(app: Flask, clock: FixedClock, history: Org) -> None:
    client = signed_in(app, clock, "rmds.montauban")
    before = head(app)
    html = client.get("/responsable/indicateurs/?annee=2026").get_data(as_text=True)
    assert f"Structure : {UNITS['M1']}" in html
    assert ('<tfoot><tr><th scope="row">Total</th><td>8</td><td>7</td><td>1</td>'
            '<td>0</td></tr></tfoot>') in html
    assert "<strong>6</strong> entrées" in html
    export = client.get("/responsable/indicateurs/export.csv?annee=2026")
    assert value(cells(export.data), "Entrées en accompagnement", "Total") == "6"
    with services_of(app).db.unit_of_work() as s:
        unit = s.scalar(select(Unit.public_id).where(Unit.name == UNITS["M1"]))
    assert events_since(app, before) == [("indicators.viewed", "unit", unit),
                                         ("indicators.exported", "unit", unit)]


def test_the_csv_masks_small_counts_and_neutralises_formulas(
        app: Flask, clock: FixedClock, history: Org) -> None:
    with services_of(app).db.unit_of_work() as s:
        s.execute(update(Unit).where(Unit.name == UNITS["M2"]).values(name=FORMULA))
    client = signed_in(app, clock, FT_COORDINATOR)
    before = head(app)
    answer = client.get("/pilotage/export.csv?annee=2026")
    assert answer.status_code == 200
    assert answer.mimetype == "text/csv"
    assert answer.headers["Content-Disposition"].startswith("attachment; filename=")
    assert answer.headers["Content-Disposition"].endswith('-2026.csv"')
    rows = cells(answer.data)
    flat = [cell for row in rows for cell in row]
    assert not [c for c in flat if c[:1] in ("=", "+", "-", "@", "\t", "\r")]
    assert any(c.startswith("'" + FORMULA) for c in flat)
    assert value(rows, "Orientations envoyées", "Total") == "17"
    assert value(rows, "Orientations retirées par l'expéditeur", "Total") == "< 5"
    assert value(rows, "Refus par motif", "File active complète : pas de place disponible") \
        == "< 5"
    assert value(rows, "Refus par motif", "Autre motif") == "0"
    assert value(rows, "Entrées en accompagnement", "Total") == "12"
    assert value(rows, "Délai proposition → entrée", "Moyenne (jours)") == "19,9"
    assert value(rows, "Délai proposition → entrée", "Médiane (jours)") == "17,5"
    assert value(rows, "Délai proposition → entrée", "Part des entrées dans les 21 jours") \
        == "58,3\u00a0%"
    assert value(rows, "Sorties", "Total") == "11"
    assert value(rows, "Sorties par motif", "Emploi en CDI") == "< 5"
    assert value(rows, "Bilans à mi-parcours", "Part réalisée à temps") == "n.d."  # 2 reviews
    assert value(rows, "File active au 30/11/2026", "Personnes en accompagnement") == "< 5"
    assert value(rows, "File active au 30/11/2026", "Conseiller aaaaaaaa") == \
        "< 5 (en dessous de la cible)"
    assert ["Période", "année 2026"] in rows
    with services_of(app).db.unit_of_work() as s:
        ft = s.scalar(select(Institution.public_id).where(Institution.name == FRANCE_TRAVAIL))
    assert events_since(app, before) == [("indicators.exported", "institution", ft)]
    page = client.get("/pilotage/?annee=2026").get_data(as_text=True)
    assert page.count("&lt; 5") == 1  # the hint only: screens show exact counts


def test_the_threshold_is_a_setting(instance: Path, clock: FixedClock, app: Flask) -> None:
    load_history(app)
    app.extensions["liaison"].db.dispose()
    strict = create_app(make_settings(instance, stats_mask_threshold=15), clock=clock)
    try:
        rows = cells(signed_in(strict, clock, FT_COORDINATOR).get(
            "/pilotage/export.csv?annee=2026").data)
        assert value(rows, "Orientations envoyées", "Total") == "17"
        assert value(rows, "Entrées en accompagnement", "Total") == "< 15"
        assert value(rows, "Délai proposition → entrée", "Moyenne (jours)") == "n.d."
    finally:
        strict.extensions["liaison"].db.dispose()
    env = {"LIAISON_MODE": "demo", "LIAISON_INSTANCE": str(instance / "env"),
           "LIAISON_STATS_MASK_THRESHOLD": "11"}
    assert Settings.from_env(env).stats_mask_threshold == 11
    del env["LIAISON_STATS_MASK_THRESHOLD"]
    assert Settings.from_env(env).stats_mask_threshold == 5


def pdf_text(data: bytes, tmp_path: Path) -> str:
    path = tmp_path / "rapport.pdf"
    path.write_bytes(data)
    done = subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True,
                          check=True, timeout=60)
    return re.sub(r"\s+", " ", done.stdout.decode("utf-8"))


def test_the_annual_report_prints_the_figures_with_its_charts(
        app: Flask, clock: FixedClock, history: Org, tmp_path: Path) -> None:
    client = signed_in(app, clock, FT_COORDINATOR)
    tarn = history.public_ids["T"]
    before = head(app)
    answer = client.get(f"/pilotage/conventions/{tarn}/bilan-annuel-2026.pdf")
    assert answer.status_code == 200 and answer.mimetype == "application/pdf"
    assert answer.headers["Content-Disposition"] == (
        f'attachment; filename="bilan-annuel-2026-convention-{tarn[:8]}.pdf"')
    assert events_since(app, before) == [("report.downloaded", "convention", tarn)]
    text = pdf_text(answer.data, tmp_path)
    assert "Bilan annuel 2026" in text
    assert "approche globale de l'accompagnement, Tarn-et-Garonne" in text
    assert "Rapport provisoire : l'année 2026 n'est pas close." in text
    assert re.search(r"Entrées en accompagnement 10\b", text)
    assert re.search(r"Délai moyen de la proposition à l'entrée \(jours\) 16,7", text)
    assert re.search(r"Délai médian de la proposition à l'entrée \(jours\) 17,5", text)
    assert re.search(r"Part des entrées dans les 21 jours 60,0 %", text)
    assert re.search(r"Sorties 10\b", text)
    assert "Part des sorties positives (emploi, formation qualifiante) 50,0 %" in text
    assert re.search(r"Orientations envoyées 14\b", text)
    assert re.search(r"Emploi en CDI <\s?5 oui", text)  # each exit reason happened once
    # The charts' own titles and axis labels are text of the PDF.
    for label in ("Entrées par mois en 2026", "Répartition des délais d'entrée",
                  "Sorties de l'accompagnement par motif", "janv.", "15 à 21 j", "CDI"):
        assert label in text, label
    assert "Conseiller aaaaaaaa" in text


def test_a_closed_year_gives_the_final_report(app: Flask, clock: FixedClock, history: Org,
                                              tmp_path: Path) -> None:
    clock.set(datetime(2027, 2, 10, 9, 0, tzinfo=UTC))
    client = signed_in(app, clock, FT_COORDINATOR)
    tarn = history.public_ids["T"]
    text = pdf_text(client.get(f"/pilotage/conventions/{tarn}/bilan-annuel-2026.pdf").data,
                    tmp_path)
    assert ("Rapport définitif, à présenter au comité de pilotage au plus tard au 1er "
            "trimestre 2027.") in text
    assert "Personnes en accompagnement au 31/12/2026" in text
    for year in (2024, 2028):  # before the convention, in the future
        assert client.get(f"/pilotage/conventions/{tarn}/bilan-annuel-{year}.pdf"
                          ).status_code == 404


def test_the_migration_creates_the_table_the_model_describes(app: Flask) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from exchange.platform.db import Base

    def only_stat_facts(obj, name, type_, reflected, compare_to):  # type: ignore[no-untyped-def]
        table = obj if type_ == "table" else getattr(obj, "table", None)
        return table is not None and table.name == "stat_facts"

    with services_of(app).db.engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"include_object": only_stat_facts, "compare_type": True})
        assert compare_metadata(context, Base.metadata) == []
