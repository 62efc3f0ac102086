"""Every administration screen answers the administrator, refuses everyone else, and finds
objects only by their public id."""

from __future__ import annotations

import re
from datetime import date

import pytest
from flask import Flask
from flask.testing import FlaskClient

from exchange.accounts.models import User
from exchange.domain.clock import FixedClock
from exchange.org.models import Convention, Institution, Unit
from tests.admin.support import events_since, head, public_id
from tests.conftest import login

UNKNOWN = "0" * 32


def _ids(app: Flask) -> dict[str, str]:
    return {
        "inst": public_id(app, Institution, name="Département de Tarn-et-Garonne"),
        "unit": public_id(app, Unit, name="MDS de Montauban"),
        "conv": public_id(app, Convention, start_date=date(2024, 1, 1)),
        "user": public_id(app, User, username="ts.montauban"),
    }


PAGES = [
    "/admin/",
    "/admin/institutions/",
    "/admin/institutions/nouvelle",
    "/admin/institutions/{inst}",
    "/admin/institutions/{inst}/modifier",
    "/admin/institutions/{inst}/structures/nouvelle",
    "/admin/structures/{unit}/modifier",
    "/admin/conventions/",
    "/admin/conventions/nouvelle",
    "/admin/conventions/{conv}",
    "/admin/conventions/{conv}/modifier",
    "/admin/conventions/{conv}/avenants/nouveau",
    "/admin/comptes/",
    "/admin/comptes/nouveau",
    "/admin/comptes/{user}",
    "/admin/comptes/{user}/modifier",
    "/admin/comptes/{user}/mot-de-passe",
]
BUTTONS = [
    "/admin/comptes/{user}/desactiver",
    "/admin/comptes/{user}/reactiver",
    "/admin/comptes/{user}/second-facteur",
]


def test_every_admin_rule_is_listed_here(app: Flask) -> None:
    """A new admin URL must join the matrix below."""
    rules = {re.sub(r"<pid>", "{x}", r.rule) for r in app.url_map.iter_rules()
             if r.endpoint.startswith("admin.")}
    listed = {re.sub(r"\{\w+\}", "{x}", p) for p in PAGES + BUTTONS}
    assert rules == listed


@pytest.mark.parametrize("path", PAGES)
def test_page_renders_for_the_administrator(client: FlaskClient, clock: FixedClock, app: Flask,
                                            path: str) -> None:
    login(client, "admin", clock)
    page = client.get(path.format(**_ids(app)))
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert '<html lang="fr">' in html
    assert 'aria-label="Administration"' in html
    if "<table" in html:
        assert "<caption>" in html and 'scope="col"' in html


@pytest.mark.parametrize("path", PAGES)
def test_page_is_refused_to_a_social_worker(client: FlaskClient, clock: FixedClock, app: Flask,
                                            path: str) -> None:
    login(client, "ts.montauban", clock)
    before = head(app)
    assert client.get(path.format(**_ids(app))).status_code == 403
    endpoint, _ = app.url_map.bind("localhost").match(path.format(**_ids(app)))
    assert events_since(app, before) == [("access.refused", endpoint)]


@pytest.mark.parametrize("path", BUTTONS + ["/admin/institutions/nouvelle",
                                            "/admin/comptes/nouveau"])
def test_changes_are_refused_to_other_roles_even_with_a_valid_token(
        client: FlaskClient, clock: FixedClock, app: Flask, path: str) -> None:
    login(client, "dpo.departement", clock)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"',
                      client.get("/dpo/").get_data(as_text=True))
    assert token
    before = head(app)
    answer = client.post(path.format(**_ids(app)),
                         data={"csrf_token": token.group(1), "name": "Intrus"})
    assert answer.status_code == 403
    assert [action for action, _ in events_since(app, before)] == ["access.refused"]


def test_anonymous_visitor_is_sent_to_the_login_page(client: FlaskClient, app: Flask) -> None:
    for path in PAGES:
        assert client.get(path.format(**_ids(app))).location == "/connexion/"


@pytest.mark.parametrize("path", [
    "/admin/institutions/{x}", "/admin/institutions/{x}/modifier",
    "/admin/institutions/{x}/structures/nouvelle", "/admin/structures/{x}/modifier",
    "/admin/conventions/{x}", "/admin/conventions/{x}/modifier",
    "/admin/conventions/{x}/avenants/nouveau", "/admin/comptes/{x}",
    "/admin/comptes/{x}/modifier", "/admin/comptes/{x}/mot-de-passe",
])
def test_unknown_public_id_is_not_found(client: FlaskClient, clock: FixedClock,
                                        path: str) -> None:
    login(client, "admin", clock)
    assert client.get(path.format(x=UNKNOWN)).status_code == 404


def test_internal_ids_and_names_do_not_reach_an_object(client: FlaskClient,
                                                       clock: FixedClock) -> None:
    login(client, "admin", clock)
    for path in ("/admin/institutions/1", "/admin/comptes/ts.montauban",
                 "/admin/conventions/1"):
        assert client.get(path).status_code == 404


def test_links_use_public_ids(client: FlaskClient, clock: FixedClock, app: Flask) -> None:
    login(client, "admin", clock)
    html = client.get("/admin/comptes/").get_data(as_text=True)
    assert f'href="/admin/comptes/{_ids(app)["user"]}"' in html
    targets = set(re.findall(r'href="/admin/(?:comptes|institutions|conventions)/([^"/]+)"',
                             html)) - {"nouveau", "nouvelle"}
    assert len(targets) == 8
    assert all(re.fullmatch(r"[0-9a-f]{32}", pid) for pid in targets)


def test_index_counts(client: FlaskClient, clock: FixedClock) -> None:
    login(client, "admin", clock)
    html = client.get("/admin/").get_data(as_text=True)
    assert "3 institutions, 12 structures." in html
    assert "2 conventions, dont 2 en vigueur aujourd'hui." in html
    assert "8 comptes actifs, 0 désactivé ;" in html
