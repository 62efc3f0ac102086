"""Administration of institutions and units: validation in French next to the fields, keys
for every new institution, one audit event per change."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from exchange.domain import siret
from exchange.domain.clock import FixedClock
from exchange.org.models import Institution, Unit
from tests.admin.support import count, db, events_since, field_error, head, public_id
from tests.conftest import login, post_form

NEW = {
    "kind": "ccas_cias", "name": "CCAS de Montauban", "siret": "732 829 320 00074",
    "dpo_name": "Déléguée à la protection des données", "dpo_email": "dpo@ccas-montauban.fr",
    "dpo_address": "9 rue de l'Hôtel de Ville, 82000 Montauban",
}


@pytest.fixture
def admin(client: FlaskClient, clock: FixedClock) -> FlaskClient:
    login(client, "admin", clock)
    return client


def _create(client: FlaskClient, **changes: Any) -> Any:
    return post_form(client, "/admin/institutions/nouvelle", {**NEW, **changes})


# -- the SIRET rule ------------------------------------------------------------------------


@pytest.mark.parametrize("value", [
    "22820001000012",          # Département de Tarn-et-Garonne
    "73282932000074",
    "732 829 320 00074",       # typed with spaces
    "35600000000048",          # La Poste's head office keeps the Luhn key
    "35600000000001",          # a La Poste establishment: digits add up to 15
    "35600000012341",          # digits add up to 25, Luhn fails
])
def test_valid_siret(value: str) -> None:
    assert siret.problem(value) is None


@pytest.mark.parametrize(("value", "reason"), [
    ("", "Saisissez"),
    ("7328293200007", "14 chiffres"),
    ("732829320000745", "14 chiffres"),
    ("7328293200007A", "14 chiffres"),
    ("73282932000075", "clé de contrôle"),     # one digit changed
    ("73282932100007", "clé de contrôle"),     # SIRET key right only if the SIREN is ignored
    ("35600000000014", "clé de contrôle"),     # La Poste: digit sum 19
    ("٧٣٢٨٢٩٣٢٠٠٠٠٧٤", "14 chiffres"),         # non-ASCII digits
])
def test_invalid_siret(value: str, reason: str) -> None:
    problem = siret.problem(value)
    assert problem is not None and reason in problem


def test_siren_key_is_checked_as_well_as_the_siret_key() -> None:
    assert siret.luhn_valid("73282932100007") and not siret.luhn_valid("732829321")
    assert not siret.is_valid("73282932100007")


# -- institutions --------------------------------------------------------------------------


def test_creating_an_institution_gives_it_keys(admin: FlaskClient, app: Flask) -> None:
    before = head(app)
    answer = _create(admin)
    assert answer.status_code == 302
    pid = public_id(app, Institution, name="CCAS de Montauban")
    assert answer.location == f"/admin/institutions/{pid}"
    with db(app) as s:
        inst = s.scalar(select(Institution).where(Institution.public_id == pid))
        assert inst is not None
        assert (inst.kind, inst.siret, inst.dpo_email) == (
            "ccas_cias", "73282932000074", "dpo@ccas-montauban.fr")
        key = app.extensions["liaison"].keystore(s).records.current(inst.key_owner, "encryption")
        assert key.version == 1
    assert events_since(app, before) == [("institution.created", pid),
                                         ("keys.institution_created", pid)]
    page = admin.get(answer.location).get_data(as_text=True)
    assert "Institution créée" in page and "Clé manquante" not in page


def test_la_poste_establishment_is_accepted(admin: FlaskClient, app: Flask) -> None:
    assert _create(admin, name="La Poste — Montauban", siret="35600000000001").status_code == 302


@pytest.mark.parametrize(("changes", "field", "message"), [
    ({"siret": "73282932000075"}, "siret", "Ce numéro SIRET n'est pas valide"),
    ({"siret": "1234"}, "siret", "compte exactement 14 chiffres"),
    ({"name": "Département de Tarn-et-Garonne"}, "name", "Une institution porte déjà ce nom."),
    ({"name": "département de tarn-et-garonne"}, "name", "Une institution porte déjà ce nom."),
    ({"name": "  "}, "name", "Saisissez le nom de l'institution."),
    ({"kind": "prefecture"}, "kind", "pas un choix valide"),
    ({"dpo_email": "dpo-at-ccas"}, "dpo_email", "Saisissez une adresse électronique valide"),
    ({"dpo_address": ""}, "dpo_address", "Saisissez l'adresse postale du délégué."),
])
def test_invalid_institution_is_refused_next_to_the_field(
        admin: FlaskClient, app: Flask, changes: dict[str, str], field: str,
        message: str) -> None:
    before, institutions = head(app), count(app, Institution)
    answer = _create(admin, **changes)
    assert answer.status_code == 400
    assert message in field_error(answer, field)
    html = answer.get_data(as_text=True)
    assert 'class="error-summary"' in html and 'aria-invalid="true"' in html
    assert count(app, Institution) == institutions
    assert events_since(app, before) == []


def test_editing_an_institution_is_audited_once_and_ignores_unknown_fields(
        admin: FlaskClient, app: Flask) -> None:
    pid = public_id(app, Institution, name="CIAS Lodévois et Larzac")
    path = f"/admin/institutions/{pid}/modifier"
    form = admin.get(path).get_data(as_text=True)
    assert 'value="20003400700019"' in form  # prefilled
    before = head(app)
    answer = post_form(admin, path, {
        **NEW, "name": "CIAS du Lodévois et Larzac", "siret": "20003400700019",
        "public_id": "f" * 32, "created_at": "2000-01-01", "id": "1"})
    assert answer.location == f"/admin/institutions/{pid}"
    assert events_since(app, before) == [("institution.updated", pid)]
    with db(app) as s:
        inst = s.scalar(select(Institution).where(Institution.public_id == pid))
        assert inst is not None and inst.name == "CIAS du Lodévois et Larzac"
        assert inst.created_at.year == 2026
    # Saving the same values again changes nothing and records nothing.
    before = head(app)
    again = post_form(admin, path, {**NEW, "name": "CIAS du Lodévois et Larzac",
                                    "siret": "20003400700019"})
    assert again.status_code == 302 and events_since(app, before) == []


def test_an_institution_keeps_its_own_name_when_edited(admin: FlaskClient, app: Flask) -> None:
    pid = public_id(app, Institution, name="CIAS Lodévois et Larzac")
    answer = post_form(admin, f"/admin/institutions/{pid}/modifier", {
        **NEW, "name": "CIAS Lodévois et Larzac", "siret": "20003400700019",
        "dpo_email": "rgpd@lodevoisetlarzac.fr"})
    assert answer.status_code == 302


def test_institution_page_lists_units_and_conventions(admin: FlaskClient, app: Flask) -> None:
    pid = public_id(app, Institution, name="France Travail Occitanie")
    html = admin.get(f"/admin/institutions/{pid}").get_data(as_text=True)
    assert "Agence France Travail Clermont-l&#39;Hérault" in html
    assert "CIAS Lodévois et Larzac" in html and "Tarn-et-Garonne" in html
    assert "31/12/2026" in html  # the Lodève convention's end as its avenant set it


# -- units ---------------------------------------------------------------------------------


def test_creating_and_editing_a_unit(admin: FlaskClient, app: Flask) -> None:
    inst = public_id(app, Institution, name="Département de Tarn-et-Garonne")
    before = head(app)
    created = post_form(admin, f"/admin/institutions/{inst}/structures/nouvelle", {
        "kind": "mds", "name": "MDS de Beaumont-de-Lomagne", "email": "mds.beaumont@cd82.fr"})
    assert created.location == f"/admin/institutions/{inst}"
    unit = public_id(app, Unit, name="MDS de Beaumont-de-Lomagne")
    assert events_since(app, before) == [("unit.created", unit)]
    assert "MDS de Beaumont-de-Lomagne" in admin.get(created.location).get_data(as_text=True)

    before = head(app)
    edited = post_form(admin, f"/admin/structures/{unit}/modifier", {
        "kind": "mds", "name": "MDS de Beaumont", "email": "", "institution_id": "2"})
    assert edited.location == f"/admin/institutions/{inst}"
    assert events_since(app, before) == [("unit.updated", unit)]
    with db(app) as s:
        row = s.scalar(select(Unit).where(Unit.public_id == unit))
        assert row is not None
        assert (row.name, row.email, row.institution.public_id) == ("MDS de Beaumont", "", inst)


@pytest.mark.parametrize(("data", "field", "message"), [
    ({"kind": "mds", "name": "MDS de Montauban"}, "name", "déjà une structure de ce nom"),
    ({"kind": "", "name": "MDS de Nègrepelisse"}, "kind", "Choisissez le type de structure."),
    ({"kind": "mds", "name": "MDS de Nègrepelisse", "email": "mds@"}, "email",
     "adresse électronique valide"),
])
def test_invalid_unit_is_refused(admin: FlaskClient, app: Flask, data: dict[str, str],
                                 field: str, message: str) -> None:
    inst = public_id(app, Institution, name="Département de Tarn-et-Garonne")
    before, units = head(app), count(app, Unit)
    answer = post_form(admin, f"/admin/institutions/{inst}/structures/nouvelle", data)
    assert answer.status_code == 400
    assert message in field_error(answer, field)
    assert count(app, Unit) == units and events_since(app, before) == []
