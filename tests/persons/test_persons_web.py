"""Persons through the web: create, find, duplicates, visibility by unit, encryption at rest,
one audit event per read or write, rectification and tampered ciphertexts."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from exchange.domain.clock import FixedClock
from exchange.persons.models import Person, PersonUnit
from tests.conftest import csrf_token, login, post_form

from .conftest import ELODIE, audit_seq, create_person, events_since, only_event, search

TAMPERED = ("Ces données ne peuvent pas être déchiffrées : elles ont été altérées. "
            "L&#39;incident est enregistré.")


def _persons(app: Flask) -> list[Person]:
    with app.extensions["liaison"].db.unit_of_work() as s:
        return list(s.scalars(select(Person).order_by(Person.id)))


def _instance(app: Flask) -> Path:
    return Path(app.extensions["liaison"].settings.instance_path)


@pytest.fixture
def social(client: FlaskClient, clock: FixedClock) -> FlaskClient:
    login(client, "ts.montauban", clock)
    return client


@pytest.mark.parametrize("typed", ["dupont martin", "DUPONT-MARTIN", "Dupont Martin",
                                   "dupont-martin", "Dupônt  Mârtin", "dupont\u2011martin"])
def test_person_is_found_whatever_accents_case_and_hyphens(social: FlaskClient,
                                                           typed: str) -> None:
    pid = create_person(social)
    page = search(social, name=typed, birth_date="1985-04-12")
    assert f'href="/personnes/{pid}"' in page
    assert "DUPONT-MARTIN Élodie" in page


def test_person_is_found_by_birth_name_and_by_france_travail_identifier(
        social: FlaskClient) -> None:
    pid = create_person(social, birth_name="Lefèvre", ft_identifier="1234567A")
    assert pid in search(social, name="LEFEVRE", birth_date="1985-04-12")
    assert pid in search(social, ft_identifier=" 1234 567a")
    assert pid not in search(social, name="Dupont-Martin", birth_date="1985-04-13")
    assert pid not in search(social, name="Martin", birth_date="1985-04-12")
    assert "Aucune personne" in search(social, ft_identifier="7654321B")


def test_search_form_is_a_post_and_a_query_string_searches_nothing(social: FlaskClient,
                                                                   app: Flask) -> None:
    create_person(social)
    form = social.get("/personnes/").get_data(as_text=True)
    assert re.search(r'<form method="post" novalidate>', form)
    seq = audit_seq(app)
    page = social.get("/personnes/?name=Dupont-Martin&birth_date=1985-04-12")
    assert "DUPONT-MARTIN" not in page.get_data(as_text=True)
    assert events_since(app, seq) == []


def test_search_errors_are_shown_next_to_the_fields(social: FlaskClient, app: Flask) -> None:
    seq = audit_seq(app)
    response = post_form(social, "/personnes/", {"name": "Dupont", "birth_date": "2030-01-01"})
    assert response.status_code == 400
    assert re.search(r'id="birth_date-error">La date ne peut pas être dans le futur',
                     response.get_data(as_text=True))
    assert events_since(app, seq) == []


def test_duplicate_within_the_unit_is_warned_and_can_be_created_anyway(social: FlaskClient,
                                                                       app: Flask) -> None:
    first = create_person(social)
    seq = audit_seq(app)
    warning = post_form(social, "/personnes/nouvelle",
                        {"last_name": "DUPONT MARTIN", "first_names": "Elodie",
                         "birth_date": "1985-04-12"})
    page = warning.get_data(as_text=True)
    assert warning.status_code == 200
    assert "Cette personne est peut-être déjà enregistrée" in page
    assert f'href="/personnes/{first}"' in page
    assert 'name="create_anyway" value="1"' in page
    assert len(_persons(app)) == 1
    event = only_event(app, seq)
    assert (event.action, event.object_id) == ("person.searched", "duplicate:1")

    values = dict(re.findall(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)"', page))
    assert values["last_name"] == "DUPONT MARTIN" and values["create_anyway"] == "1"
    created = social.post("/personnes/nouvelle", data=values)
    assert created.status_code == 302
    assert len(_persons(app)) == 2


def test_duplicate_by_france_travail_identifier_or_birth_name(social: FlaskClient) -> None:
    create_person(social, last_name="Martin", birth_name="Lefèvre", ft_identifier="1234567A")
    same_id = post_form(social, "/personnes/nouvelle",
                        {"last_name": "Autre", "first_names": "Nom",
                         "birth_date": "1990-01-01", "ft_identifier": "1234567a"})
    assert "peut-être déjà enregistrée" in same_id.get_data(as_text=True)
    married_name_now_known = post_form(social, "/personnes/nouvelle",
                                       {"last_name": "Lefevre", "first_names": "Élodie",
                                        "birth_date": "1985-04-12"})
    assert "peut-être déjà enregistrée" in married_name_now_known.get_data(as_text=True)


def test_no_duplicate_warning_across_units(client: FlaskClient, clock: FixedClock,
                                           app: Flask) -> None:
    login(client, "ts.montauban", clock)
    create_person(client)
    other = app.test_client()
    login(other, "ts.lodeve", clock)
    seq = audit_seq(app)
    create_person(other)  # a redirect straight away: no warning page
    assert [e.action for e in events_since(app, seq)] == ["person.created"]
    assert len(_persons(app)) == 2


def test_another_unit_sees_nothing_of_the_person(client: FlaskClient, clock: FixedClock,
                                                 app: Flask) -> None:
    login(client, "ts.montauban", clock)
    pid = create_person(client, ft_identifier="1234567A")
    for username in ("ts.lodeve", "cft.montauban"):
        other = app.test_client()
        login(other, username, clock)
        assert "Aucune personne" in search(other, name="Dupont-Martin", birth_date="1985-04-12")
        assert "Aucune personne" in search(other, ft_identifier="1234567A")
        for path in (f"/personnes/{pid}", f"/personnes/{pid}/identite",
                     f"/personnes/{pid}/consentements/nouveau"):
            assert other.get(path).status_code == 404, (username, path)
        token = csrf_token(other, "/personnes/")
        posted = other.post(f"/personnes/{pid}/identite",
                            data={**ELODIE, "last_name": "Vol", "csrf_token": token})
        assert posted.status_code == 404
    assert client.get(f"/personnes/{pid}").status_code == 200


@pytest.mark.sqlite_file
def test_raw_database_files_hold_neither_name_nor_birth_date(social: FlaskClient,
                                                             app: Flask) -> None:
    pid = create_person(social, birth_name="Lefèvre", ft_identifier="1234567A",
                        phone="06 12 34 56 78", email="elodie.dm@exemple.fr",
                        address="3 rue des Augustins\n82000 Montauban")
    assert social.get(f"/personnes/{pid}").status_code == 200
    search(social, name="Dupont-Martin", birth_date="1985-04-12")
    files = [p for p in _instance(app).rglob("*") if p.is_file()]
    database = [p for p in files if p.name.startswith("liaison.db")]
    assert any(p.name == "liaison.db-wal" for p in database)
    secrets = [text.encode(encoding) for text in (
        "Dupont", "DUPONT", "dupont", "Élodie", "Elodie", "Lefèvre", "Lefevre", "1234567A",
        "1985-04-12", "12/04/1985", "19850412", "Augustins", "06 12 34 56 78", "0612345678",
        "exemple.fr") for encoding in ("utf-8", "utf-16-le")]
    for path in files:
        content = path.read_bytes()
        for secret in secrets:
            assert secret not in content, (path.name, secret)


def test_person_page_is_one_audit_event_naming_ids_only(social: FlaskClient,
                                                        app: Flask) -> None:
    pid = create_person(social)
    seq = audit_seq(app)
    page = social.get(f"/personnes/{pid}")
    assert page.status_code == 200
    assert page.headers["Cache-Control"] == "no-store"
    text = page.get_data(as_text=True)
    assert "DUPONT-MARTIN" in text and "12/04/1985" in text
    assert "Restreint" not in text
    event = only_event(app, seq)
    assert (event.action, event.object_type, event.object_id, event.outcome) == (
        "person.viewed", "person", pid, "success")
    assert event.actor_user_id and event.actor_unit_id


def test_search_and_rectify_form_are_one_audit_event_each(social: FlaskClient,
                                                          app: Flask) -> None:
    pid = create_person(social)
    token = csrf_token(social, "/personnes/")
    seq = audit_seq(app)
    social.post("/personnes/", data={"name": "dupont martin", "birth_date": "1985-04-12",
                                     "csrf_token": token})
    event = only_event(app, seq)
    assert (event.action, event.object_type, event.object_id) == (
        "person.searched", "person_search", "name:1")
    seq = audit_seq(app)
    assert social.get(f"/personnes/{pid}/identite").status_code == 200
    assert only_event(app, seq).action == "person.viewed"


def test_creation_is_one_audit_event_and_the_unit_sees_the_person(social: FlaskClient,
                                                                  app: Flask) -> None:
    token = csrf_token(social, "/personnes/nouvelle")
    seq = audit_seq(app)
    response = social.post("/personnes/nouvelle", data={**ELODIE, "csrf_token": token})
    pid = response.location.rsplit("/", 1)[-1]
    event = only_event(app, seq)
    assert (event.action, event.object_id) == ("person.created", pid)
    with app.extensions["liaison"].db.unit_of_work() as s:
        person = s.scalar(select(Person).where(Person.public_id == pid))
        assert person is not None
        units = s.scalars(select(PersonUnit.unit_id).where(PersonUnit.person_id == person.id))
        assert list(units) == [person.created_by_unit_id]
        # Tarn-et-Garonne convention ends 2027-12-31, axe 2 kept 120 months.
        assert str(person.horizon) == "2037-12-31" and person.epoch == "2037-12"
        assert person.index_birth_name_birth is None and person.index_ft_id is None


def test_rejected_form_shows_messages_by_the_fields_and_saves_nothing(social: FlaskClient,
                                                                      app: Flask) -> None:
    token = csrf_token(social, "/personnes/nouvelle")
    seq = audit_seq(app)
    response = social.post("/personnes/nouvelle", data={
        "last_name": "Dupont", "first_names": "", "birth_date": "2099-01-01",
        "phone": "12", "csrf_token": token})
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert 'id="first_names-error">Ce champ est obligatoire.' in page
    assert 'id="birth_date-error">La date ne peut pas être dans le futur.' in page
    assert 'id="phone-error">Saisissez un numéro de téléphone français' in page
    assert 'aria-invalid="true"' in page and "Le formulaire contient des erreurs" in page
    assert _persons(app) == [] and events_since(app, seq) == []


def test_rectification_replaces_the_name_everywhere(social: FlaskClient, app: Flask) -> None:
    pid = create_person(social, ft_identifier="1234567A")
    before = _persons(app)[0]
    token = csrf_token(social, "/personnes/")
    seq = audit_seq(app)
    response = social.post(f"/personnes/{pid}/identite", data={
        **ELODIE, "last_name": "Martin", "ft_identifier": "", "csrf_token": token})
    assert response.status_code == 302 and response.location == f"/personnes/{pid}"
    event = only_event(app, seq)
    assert (event.action, event.object_id) == ("person.updated", pid)
    after = _persons(app)[0]
    assert after.identity_version == before.identity_version + 1
    assert after.identity != before.identity and after.index_ft_id is None
    assert "MARTIN Élodie" in social.get(f"/personnes/{pid}").get_data(as_text=True)
    assert pid in search(social, name="martin", birth_date="1985-04-12")
    assert pid not in search(social, name="Dupont-Martin", birth_date="1985-04-12")
    assert pid not in search(social, ft_identifier="1234567A")


def test_rejected_rectification_changes_nothing(social: FlaskClient, app: Flask) -> None:
    pid = create_person(social)
    before = _persons(app)[0]
    response = post_form(social, f"/personnes/{pid}/identite",
                         {**ELODIE, "last_name": "Martin<script>"}, form_page="/personnes/")
    assert response.status_code == 400
    assert 'id="last_name-error"' in response.get_data(as_text=True)
    after = _persons(app)[0]
    assert (after.identity, after.identity_version) == (before.identity, 1)


def _flip_identity_byte(app: Flask, pid: str) -> None:
    """What someone with write access to the database file could do."""
    app.extensions["liaison"].db.dispose()
    connection = sqlite3.connect(_instance(app) / "liaison.db")
    (blob,) = connection.execute("SELECT identity FROM persons WHERE public_id = ?",
                                 (pid,)).fetchone()
    tampered = bytearray(blob)
    tampered[len(tampered) // 2] ^= 0x01
    connection.execute("UPDATE persons SET identity = ? WHERE public_id = ?",
                       (bytes(tampered), pid))
    connection.commit()
    connection.close()


@pytest.mark.sqlite_file
def test_tampered_identity_gives_the_french_message_and_a_failure_event(
        social: FlaskClient, app: Flask) -> None:
    pid = create_person(social)
    _flip_identity_byte(app, pid)
    seq = audit_seq(app)
    page = social.get(f"/personnes/{pid}")
    assert page.status_code == 409
    assert TAMPERED in page.get_data(as_text=True)
    event = only_event(app, seq)
    assert (event.action, event.object_id, event.outcome) == ("person.viewed", pid, "failure")

    seq = audit_seq(app)
    assert social.get(f"/personnes/{pid}/identite").status_code == 409
    assert only_event(app, seq).outcome == "failure"

    token = csrf_token(social, "/personnes/")
    seq = audit_seq(app)
    results = social.post("/personnes/", data={"name": "Dupont-Martin",
                                               "birth_date": "1985-04-12", "csrf_token": token})
    assert results.status_code == 200
    assert TAMPERED in results.get_data(as_text=True)
    event = only_event(app, seq)
    assert (event.action, event.outcome) == ("person.searched", "failure")


def test_restricted_person_shows_the_banner(social: FlaskClient, app: Flask) -> None:
    pid = create_person(social)
    with app.extensions["liaison"].db.unit_of_work() as s:
        person = s.scalar(select(Person).where(Person.public_id == pid))
        assert person is not None
        person.restricted = True
    page = social.get(f"/personnes/{pid}").get_data(as_text=True)
    assert "<strong>Restreint</strong>" in page and "article 18" in page


def test_unit_manager_reads_but_does_not_write(client: FlaskClient, clock: FixedClock,
                                               app: Flask) -> None:
    login(client, "ts.montauban", clock)
    pid = create_person(client)
    manager = app.test_client()
    login(manager, "rmds.montauban", clock)
    assert manager.get(f"/personnes/{pid}").status_code == 200
    assert pid in search(manager, name="Dupont-Martin", birth_date="1985-04-12")
    for path in ("/personnes/nouvelle", f"/personnes/{pid}/identite",
                 f"/personnes/{pid}/consentements/nouveau"):
        assert manager.get(path).status_code == 403, path


@pytest.mark.parametrize("username", ["admin", "dpo.departement", "cm.francetravail"])
def test_roles_without_persons_are_refused(client: FlaskClient, clock: FixedClock,
                                           username: str) -> None:
    login(client, username, clock)
    assert client.get("/personnes/").status_code == 403


def test_no_person_data_in_urls_or_flash_messages(social: FlaskClient, app: Flask) -> None:
    pid = create_person(social)
    assert re.fullmatch(r"[0-9a-f]{32}", pid)
    page = social.get(f"/personnes/{pid}").get_data(as_text=True)
    for href in re.findall(r'(?:href|action)="([^"]+)"', page):
        assert "Dupont" not in href and "1985" not in href, href
    with app.extensions["liaison"].db.unit_of_work() as s:
        assert s.scalar(select(func.count()).select_from(Person)) == 1
