"""The DPO's screens: reserved to the DPO, a search by person through the blind index that
finds that person's events and no one else's, by user, unit, action and dates, keyset pages,
the CSV export with formulas neutralised, and each search and export audited. The DPO's
institution's events only (tests/rights/test_dpo_scope.py checks a partner's stay out)."""

from __future__ import annotations

import csv
import io
import re
from datetime import date, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import or_, select

from exchange.accounts.models import User
from exchange.audit import trail as audit
from exchange.audit.models import AuditCheckpoint, AuditEvent
from exchange.audit.search import csv_cell
from exchange.domain.clock import FixedClock
from exchange.domain.identity import Identity
from exchange.fiches.models import Fiche
from exchange.org.models import Unit
from exchange.persons.models import Consent, Person
from exchange.platform.models import Document
from tests.audit.support import cli, dpo_client, head, services_of
from tests.conftest import csrf_token, login
from tests.fiches.support import IDENTITY, prepare

JOURNAL = "/dpo/journal"
OTHER = Identity(last_name="Martin", first_names="Jules", birth_date=date(1979, 6, 2))
_ROW = re.compile(r"<tr>\s*<td>(\d+)</td>")


def shown(html: str) -> list[int]:
    return [int(seq) for seq in _ROW.findall(html)]


def search(client: FlaskClient, **fields: Any) -> str:
    data = {"last_name": "", "birth_date": "", "username": "", "unit": "", "action": "",
            "date_from": "", "date_to": "", **fields}
    response = client.post(JOURNAL, data={**data, "csrf_token": csrf_token(client, JOURNAL)})
    assert response.status_code == 200, response.get_data(as_text=True)[-1500:]
    return response.get_data(as_text=True)


def export(client: FlaskClient, **fields: Any) -> list[list[str]]:
    data = {"last_name": "", "birth_date": "", "username": "", "unit": "", "action": "",
            "date_from": "", "date_to": "", **fields}
    response = client.post(JOURNAL + "/export",
                           data={**data, "csrf_token": csrf_token(client, JOURNAL)})
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"].startswith("attachment;")
    assert response.is_streamed
    text = response.get_data().decode("utf-8")
    assert text.startswith("\ufeff")
    return list(csv.reader(io.StringIO(text[1:]), delimiter=";"))


def events(app: Flask, *conditions: Any) -> list[AuditEvent]:
    with services_of(app).db.unit_of_work() as s:
        return list(s.scalars(select(AuditEvent).where(*conditions)
                              .order_by(AuditEvent.seq.desc())))


def objects_of(app: Flask, person_pid: str) -> set[str]:
    """Everything that is the person's, found independently of the code under test."""
    with services_of(app).db.unit_of_work() as s:
        person = s.scalar(select(Person).where(Person.public_id == person_pid))
        assert person is not None
        fiches = s.execute(select(Fiche.id, Fiche.public_id)
                           .where(Fiche.person_id == person.id)).all()
        consents = s.execute(select(Consent.id, Consent.public_id)
                             .where(Consent.person_id == person.id)).all()
        documents = s.scalars(select(Document.public_id).where(or_(
            Document.fiche_id.in_([f.id for f in fiches]),
            Document.consent_id.in_([c.id for c in consents])))).all()
        return {person_pid, *(f.public_id for f in fiches), *(c.public_id for c in consents),
                *documents}


def fill(app: Flask, clock: FixedClock, action: str, count: int, **fields: Any) -> list[int]:
    """`count` events of a Département social worker (the DPO's institution's staff)."""
    svc = services_of(app)
    with svc.db.unit_of_work() as s:
        user = s.scalar(select(User).where(User.username == "ts.montauban"))
        assert user is not None
        fields.setdefault("actor", audit.Actor(user.public_id, user.unit.public_id,
                                               "social_worker"))
        made = [audit.record(s, action, at=clock.now(), **fields).seq for _ in range(count)]
    clock.advance(timedelta(seconds=1))
    return made


# -- access ----------------------------------------------------------------------------------

GETS = ["/dpo/", JOURNAL, "/dpo/points-de-controle/{checkpoint}.txt",
        "/dpo/attributions-de-roles"]
POSTS = [JOURNAL, JOURNAL + "/export", "/dpo/verifier-journal", "/dpo/points-de-controle"]
OTHERS = ["admin", "ts.montauban", "rmds.montauban", "cft.montauban", "cm.francetravail"]


def test_every_dpo_rule_is_listed_here(app: Flask) -> None:
    rules = {rule.rule for rule in app.url_map.iter_rules()
             if rule.endpoint.startswith(("dpo.", "dpo_grants."))}
    listed = {path.replace("{checkpoint}", "<int:checkpoint_id>") for path in GETS + POSTS}
    assert rules == listed


@pytest.fixture
def checkpoint(app: Flask) -> int:
    assert cli(app, "audit", "checkpoint")[0] == 0
    with services_of(app).db.unit_of_work() as s:
        found = s.scalar(select(AuditCheckpoint.id))
        assert found is not None
        return found


def test_the_dpo_reaches_every_screen(app: Flask, clock: FixedClock, checkpoint: int) -> None:
    client = dpo_client(app, clock)
    for path in GETS:
        assert client.get(path.format(checkpoint=checkpoint)).status_code == 200, path
    for path in POSTS:
        token = csrf_token(client, "/dpo/")
        answer = client.post(path, data={"csrf_token": token})
        assert answer.status_code in (200, 302), path


@pytest.mark.parametrize("username", OTHERS)
def test_every_other_role_is_refused(app: Flask, clock: FixedClock, checkpoint: int,
                                     username: str) -> None:
    client = app.test_client()
    login(client, username, clock)
    before = head(app)[0]
    for path in GETS:
        assert client.get(path.format(checkpoint=checkpoint)).status_code == 403, path
    token = csrf_token(client, "/")
    for path in POSTS:
        assert client.post(path, data={"csrf_token": token}).status_code == 403, path
    refused = events(app, AuditEvent.seq > before)
    assert [e.action for e in refused] == ["access.refused"] * (len(GETS) + len(POSTS))
    assert not events(app, AuditEvent.action.in_(("audit.searched", "audit.exported")))


def test_anonymous_visitors_are_sent_to_sign_in(client: FlaskClient) -> None:
    for path in ("/dpo/", JOURNAL):
        answer = client.get(path)
        assert answer.status_code == 302 and answer.location.startswith("/connexion")


# -- search by person -------------------------------------------------------------------------


@pytest.fixture
def two_people(app: Flask) -> tuple[str, str]:
    first = prepare(app)
    second = prepare(app, identity=OTHER)
    return first.person, second.person


def test_search_by_person_finds_that_person_s_events_only(
        app: Flask, clock: FixedClock, two_people: tuple[str, str]) -> None:
    first, second = two_people
    mine, theirs = objects_of(app, first), objects_of(app, second)
    expected = [e.seq for e in events(app, AuditEvent.object_id.in_(mine))]
    # (an attachment's first document is replaced when the fiche is signed: its
    # "attachment.added" event names a document no table holds any more)
    assert {e.action for e in events(app, AuditEvent.object_id.in_(mine))} >= {
        "person.created", "consent.recorded", "fiche.created", "fiche.draft_saved",
        "fiche.signed", "fiche.countersigned"}
    client = dpo_client(app, clock)
    html = search(client, last_name="LEFEVRE", birth_date=IDENTITY.birth_date.isoformat())
    assert shown(html) == expected
    assert not set(shown(html)) & {e.seq for e in events(app, AuditEvent.object_id.in_(theirs))}
    assert "1 personne correspond" in html
    # metadata only: roles, units, actions — no name, no fiche content
    assert "Travailleur social" in html and "MDS de Montauban" in html
    assert "Fiche signée" in html
    for secret in ("Élodie", "logement et mobilité", "Camille"):
        assert secret not in html
    searched = events(app, AuditEvent.action == "audit.searched")
    assert [(e.object_type, e.object_id) for e in searched] == [("person", first)]
    # the search itself is now part of the person's access history
    assert shown(search(client, last_name="Lefèvre",
                        birth_date=IDENTITY.birth_date.isoformat()))[0] == searched[0].seq


def test_search_by_birth_name_or_unknown_person(app: Flask, clock: FixedClock) -> None:
    person = prepare(app, identity=Identity(last_name="Durand", birth_name="Petit",
                                            first_names="Ana", birth_date=date(1990, 1, 5)))
    client = dpo_client(app, clock)
    by_birth_name = shown(search(client, last_name="petit", birth_date="1990-01-05"))
    by_name = shown(search(client, last_name="Durand", birth_date="1990-01-05"))
    searches = {e.seq for e in events(app, AuditEvent.action == "audit.searched")}
    assert by_birth_name and [seq for seq in by_name if seq not in searches] == by_birth_name
    html = search(client, last_name="Durand", birth_date="1990-01-06")
    assert shown(html) == [] and "Aucune personne de votre institution" in html
    assert events(app, AuditEvent.action == "audit.searched")[0].object_id == "persons:0"
    assert [e.object_id for e in events(app, AuditEvent.action == "audit.searched")][1:] == [
        person.person, person.person]


def test_name_and_birth_date_go_together(app: Flask, clock: FixedClock) -> None:
    client = dpo_client(app, clock)
    before = head(app)[0]
    html = search(client, last_name="Lefèvre")
    assert "saisissez son nom et sa date de naissance" in html
    assert not events(app, AuditEvent.seq > before, AuditEvent.action == "audit.searched")


def test_the_search_form_never_puts_a_name_in_a_url(app: Flask, clock: FixedClock) -> None:
    client = dpo_client(app, clock)
    html = client.get(JOURNAL).get_data(as_text=True)
    form = re.search(r'<form method="post" action="([^"]+)" id="recherche"', html)
    assert form and form.group(1) == JOURNAL
    assert 'formaction="/dpo/journal/export"' not in html  # export only after a search
    response = client.get(JOURNAL + "?last_name=Lef%C3%A8vre&birth_date=1988-03-14")
    assert shown(response.get_data(as_text=True)) == []  # GET parameters are ignored


# -- other criteria, pages -----------------------------------------------------------------------


def test_search_by_user_unit_action_and_dates(app: Flask, clock: FixedClock) -> None:
    worker = app.test_client()
    login(worker, "ts.montauban", clock)
    worker.get("/admin/")
    clock.advance(timedelta(days=3))
    login(app.test_client(), "cft.montauban", clock)
    client = dpo_client(app, clock)
    with services_of(app).db.unit_of_work() as s:
        user = s.scalar(select(User.public_id).where(User.username == "ts.montauban"))
        unit = s.scalar(select(Unit.public_id).where(Unit.name == "MDS de Montauban"))

    by_user = shown(search(client, username="ts.montauban"))
    assert by_user == [e.seq for e in events(app, AuditEvent.actor_user_id == user)]
    assert by_user
    by_unit = shown(search(client, unit=unit))
    assert by_unit == [e.seq for e in events(app, AuditEvent.actor_unit_id == unit)]
    refusals = shown(search(client, action="access.refused"))
    assert refusals == [e.seq for e in events(app, AuditEvent.action == "access.refused")]
    assert len(refusals) == 1
    today = clock.today()
    recent = shown(search(client, date_from=today.isoformat(), date_to=today.isoformat()))
    assert recent and all(e.at >= clock.now() - timedelta(days=1)
                          for e in events(app, AuditEvent.seq.in_(recent)))
    combined = shown(search(client, username="ts.montauban", action="login.success",
                            date_to=(today - timedelta(days=1)).isoformat()))
    assert len(combined) == 1
    html = search(client, username="personne.inconnue")
    assert shown(html) == [] and "Aucun compte" in html
    html = search(client, date_from=today.isoformat(),
                  date_to=(today - timedelta(days=1)).isoformat())
    assert "La date de fin précède la date de début" in html


def test_pages_follow_each_other_without_gap_or_overlap(app: Flask, clock: FixedClock) -> None:
    made = fill(app, clock, "session.expired", 123)
    client = dpo_client(app, clock)
    seen: list[int] = []
    html = search(client, action="session.expired")
    pages = 1
    while True:
        page = shown(html)
        assert len(page) <= 50
        seen.extend(page)
        more = re.search(r'name="before" value="(\d+)"', html)
        if not more:
            break
        assert int(more.group(1)) == page[-1]
        html = search(client, action="session.expired", before=more.group(1))
        pages += 1
    assert pages == 3
    assert seen == sorted(made, reverse=True)
    assert len(events(app, AuditEvent.action == "audit.searched")) == 3


# -- export --------------------------------------------------------------------------------------


def test_csv_export_streams_every_result_and_is_audited(app: Flask, clock: FixedClock) -> None:
    made = fill(app, clock, "session.expired", 1234)
    client = dpo_client(app, clock)
    rows = export(client, action="session.expired")
    assert rows[0] == ["N°", "Date et heure (Paris)", "Rôle", "Structure", "Action", "Objet",
                       "Résultat", "Finalité"]
    assert [int(row[0]) for row in rows[1:]] == sorted(made, reverse=True)
    assert rows[1][2:5] == ["Travailleur social", "MDS de Montauban", "Session expirée"]
    exported = events(app, AuditEvent.action == "audit.exported")
    assert len(exported) == 1 and exported[0].actor_user_id


def test_csv_cells_that_a_spreadsheet_would_run_are_neutralised(app: Flask,
                                                                clock: FixedClock) -> None:
    for value in ("=1+1", "+33 5 63", "-2", "@SUM(A1)", "\t=1", "\r=1"):
        assert csv_cell(value) == "'" + value
    for value in ("MDS de Montauban", "Réussi", "'=already", "1=1"):
        assert csv_cell(value) == value
    with services_of(app).db.unit_of_work() as s:
        unit = s.scalar(select(Unit).where(Unit.name == "MDS de Montauban"))
        assert unit is not None
        unit.name = '=HYPERLINK("http://evil.example","clic")'
        unit_pid = unit.public_id
    login(app.test_client(), "ts.montauban", clock)
    rows = export(dpo_client(app, clock), unit=unit_pid)
    assert len(rows) > 1
    assert all(row[3] == '\'=HYPERLINK("http://evil.example","clic")' for row in rows[1:])


# -- the status panel ----------------------------------------------------------------------------


def test_status_panel_verification_and_checkpoints(app: Flask, clock: FixedClock) -> None:
    from exchange.audit.checkpoints import verify_against_exported

    client = dpo_client(app, clock)
    html = client.get("/dpo/").get_data(as_text=True)
    assert "Jamais vérifiée" in html and "aucun pour l'instant" in html
    token = csrf_token(client, "/dpo/")
    answer = client.post("/dpo/points-de-controle", data={"csrf_token": token},
                         follow_redirects=True)
    assert "Point de contrôle signé" in answer.get_data(as_text=True)
    clock.advance(timedelta(minutes=5))
    answer = client.post("/dpo/verifier-journal", data={"csrf_token": token},
                         follow_redirects=True)
    html = answer.get_data(as_text=True)
    assert "audit intègre : " in html and "Intègre</span>" in html
    assert clock.now().astimezone().strftime("%Y") in html
    assert "à la demande" in html
    link = re.search(r'href="(/dpo/points-de-controle/\d+\.txt)"', html)
    assert link
    download = client.get(link.group(1))
    assert download.headers["Content-Disposition"].startswith("attachment;")
    text = download.get_data(as_text=True)
    with services_of(app).db.unit_of_work() as s:
        report = verify_against_exported(s, services_of(app).keystore(s), text)
    assert report.ok, report.describe()
    actions = [e.action for e in events(app, AuditEvent.action.like("audit.%"))]
    assert actions == ["audit.exported", "audit.verified", "audit.checkpoint"]
    verified = events(app, AuditEvent.action == "audit.verified")[0]
    assert verified.actor_user_id and verified.actor_role == "dpo"


def test_period_search_is_exact_when_times_and_sequence_disagree(app: Flask,
                                                                 clock: FixedClock) -> None:
    """Events recorded by an instance whose clock is behind come later in the chain with an
    earlier time: a period search still finds exactly them, and pages still cover all."""
    today = fill(app, clock, "session.expired", 60)
    clock.advance(timedelta(days=-2))
    behind = fill(app, clock, "session.expired", 60)
    clock.advance(timedelta(days=2))
    client = dpo_client(app, clock)
    day = (clock.today() - timedelta(days=2)).isoformat()
    seen: list[int] = []
    html = search(client, action="session.expired", date_from=day, date_to=day)
    while True:
        seen.extend(shown(html))
        more = re.search(r'name="before" value="(\d+)"', html)
        if not more:
            break
        html = search(client, action="session.expired", date_from=day, date_to=day,
                      before=more.group(1))
    assert seen == sorted(behind, reverse=True)
    everything: list[int] = []
    html = search(client, action="session.expired")
    while True:
        everything.extend(shown(html))
        more = re.search(r'name="before" value="(\d+)"', html)
        if not more:
            break
        html = search(client, action="session.expired", before=more.group(1))
    assert everything == sorted(today, reverse=True) + sorted(behind, reverse=True)


def test_every_audit_action_has_a_french_label_for_the_dpo() -> None:
    from exchange.platform.features import actions

    labels = actions()
    assert "fiche.opened" in labels and "login.success" in labels
    assert all(label and label != action for action, label in labels.items())
