"""Each institution is its own data controller: a DPO finds, reads and acts on the persons,
records and audit events of their own institution only. A request about a partner's person is
passed on to the partner's DPO; a shared person is within both DPOs' scope; an erasure removes
the DPO's institution's share only; a partner's request id is a 404, and the attempt audited.

The demo has a DPO for the Département only: the CIAS's and France Travail's are created here.
"""

from __future__ import annotations

import csv
import io
import re
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from exchange.audit.models import AuditEvent
from exchange.domain.clock import FixedClock
from exchange.dpo import rights
from exchange.dpo.models import RightsRequest
from exchange.org.models import Institution, Unit
from exchange.persons.models import Person, PersonUnit
from retention.models import LegalHold
from tests.conftest import csrf_token
from tests.dpo.support import (
    BERNARD,
    CIAS,
    CIAS_DPO,
    CIAS_UNIT,
    DEPARTEMENT,
    FRANCE_TRAVAIL,
    FT_DPO,
    FT_UNIT,
    add_dpo,
    cias_person,
    dpo_client,
    dpo_context,
    events,
    flashed,
    new_request,
    post,
    request_row,
)
from tests.fiches.support import IDENTITY, sent, services_of

JOURNAL = "/dpo/journal"
EMPTY_SEARCH = {"last_name": "", "birth_date": "", "username": "", "unit": "", "action": "",
                "date_from": "", "date_to": ""}


def _person(app: Flask, public_id: str) -> Person | None:
    with services_of(app).db.unit_of_work() as s:
        return s.scalar(select(Person).where(Person.public_id == public_id))


def _unit_ids(app: Flask, institution: str) -> set[str]:
    with services_of(app).db.unit_of_work() as s:
        return set(s.scalars(select(Unit.public_id).join(Institution).where(
            Institution.name == institution)))


def _forge(app: Flask, rid: str, person_public_id: str) -> None:
    """A register row pointing at a person the institution does not hold (a row written before
    the scope existed, or by someone with database access): nothing may come of it."""
    with services_of(app).db.unit_of_work() as s:
        row = s.scalar(select(RightsRequest).where(RightsRequest.public_id == rid))
        assert row is not None
        row.person_public_id = person_public_id


def _search(client: FlaskClient, path: str = JOURNAL, **fields: Any) -> Any:
    return client.post(path, data={**EMPTY_SEARCH, **fields,
                                   "csrf_token": csrf_token(client, JOURNAL)})


def _shown(html: str) -> list[int]:
    return [int(seq) for seq in re.findall(r"<tr>\s*<td>(\d+)</td>", html)]


# -- persons ----------------------------------------------------------------------------------


def test_dpo_cannot_find_a_partner_institutions_person(app: Flask, clock: FixedClock) -> None:
    lucie = cias_person(app)
    client = dpo_client(app, clock)
    rid = new_request(client, "access", last_name=BERNARD.last_name,
                      birth_date=BERNARD.birth_date)
    assert request_row(app, rid).person_public_id is None
    page = client.get(f"/dpo/droits/demandes/{rid}").get_data(as_text=True)
    assert lucie not in page and "Bernard" not in page and "Retrouvée" not in page
    with dpo_context(app) as ctx:
        assert rights.match_persons(ctx, BERNARD.last_name, BERNARD.birth_date) == []
    html = _search(client, last_name="Bernard", birth_date=BERNARD.birth_date.isoformat())
    assert "Aucune personne de votre institution" in html.get_data(as_text=True)
    assert _shown(html.get_data(as_text=True)) == []


def test_dpo_cannot_decrypt_rectify_restrict_or_erase_a_partner_institutions_person(
        app: Flask, clock: FixedClock) -> None:
    lucie = cias_person(app)
    client = dpo_client(app, clock)
    kinds = {kind: new_request(client, kind, last_name="Inconnu")
             for kind in ("access", "rectification", "erasure")}
    for rid in kinds.values():
        _forge(app, rid, lucie)

    rectification = kinds["rectification"]
    form = client.get(f"/dpo/droits/demandes/{rectification}/rectification",
                      follow_redirects=True)
    assert "Bernard" not in form.get_data(as_text=True)
    assert "Aucune personne enregistrée" in flashed(form)
    values = {**BERNARD.form_values(), "last_name": "Bernard-Faux"}
    post(client, f"/dpo/droits/demandes/{rectification}/rectification", values)
    restricted = post(client, f"/dpo/droits/demandes/{rectification}/limitation",
                      {"restricted": "1", "reason": "accuracy_contested"},
                      follow_redirects=True)
    assert "Aucune personne enregistrée" in flashed(restricted)
    exported = post(client, f"/dpo/droits/demandes/{kinds['access']}/acces.json")
    assert exported.status_code == 302 and b"Bernard" not in exported.data
    post(client, f"/dpo/droits/demandes/{kinds['erasure']}/effacement", {"confirm": "y"})

    person = _person(app, lucie)
    assert person is not None and not person.restricted and person.identity_version == 1
    mine = _unit_ids(app, DEPARTEMENT)
    for action in ("person.viewed", "person.updated", "rights.access_export",
                   "rights.restriction_set", "rights.erased"):
        assert not [e for e in events(app, action) if e.actor_unit_id in mine
                    and e.outcome == "success"], action


# -- audit events ------------------------------------------------------------------------------


def test_dpo_audit_search_does_not_return_partner_staff_events(app: Flask,
                                                               clock: FixedClock) -> None:
    cias_person(app)
    sent(app)  # the Département's staff at work too
    cias = _unit_ids(app, CIAS)
    theirs = {e.seq for e in events(app) if e.actor_unit_id in cias}
    assert theirs
    client = dpo_client(app, clock)
    everything = _search(client).get_data(as_text=True)
    assert _shown(everything) and not set(_shown(everything)) & theirs
    assert CIAS_UNIT not in everything  # not even among the units offered
    by_account = _search(client, username="ts.lodeve").get_data(as_text=True)
    assert "Aucun compte de votre institution" in by_account and _shown(by_account) == []
    (unit,) = cias
    forged = _search(client, unit=unit).get_data(as_text=True)
    assert not set(_shown(forged)) & theirs
    mine = [e.seq for e in events(app) if e.actor_unit_id in _unit_ids(app, DEPARTEMENT)]
    assert set(_shown(everything)) <= set(mine) | {
        e.seq for e in events(app) if e.object_type == "user"}


def test_dpo_audit_csv_does_not_export_partner_staff_events(app: Flask,
                                                            clock: FixedClock) -> None:
    cias_person(app)
    sent(app)
    theirs = {e.seq for e in events(app) if e.actor_unit_id in _unit_ids(app, CIAS)}
    client = dpo_client(app, clock)
    response = _search(client, JOURNAL + "/export")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(response.get_data().decode("utf-8")[1:]),
                           delimiter=";"))[1:]
    assert rows and not {int(r[0]) for r in rows} & theirs
    assert CIAS_UNIT not in {r[3] for r in rows}
    assert "Sacha" not in response.get_data(as_text=True)


# -- requests passed on -------------------------------------------------------------------------


def test_request_about_partner_person_is_passed_to_partner_dpo(app: Flask,
                                                                clock: FixedClock) -> None:
    lucie = cias_person(app)
    add_dpo(app, CIAS_DPO, CIAS_UNIT)
    client = dpo_client(app, clock)
    response = post(client, "/dpo/droits/demandes/nouvelle", {
        "kind": "erasure", "channel": "email", "received_on": "2026-11-20",
        "last_name": "BERNARD", "birth_date": BERNARD.birth_date.isoformat(),
        "ft_identifier": ""}, follow_redirects=True)
    assert "n&#39;est pas connue de votre institution mais de : " + CIAS in flashed(response)
    page = response.get_data(as_text=True)
    assert "Transmise à" in page and "dpo@lodevoisetlarzac.fr" in page
    assert lucie not in page and "Bernard" not in page and "Approuver et effacer" not in page
    with services_of(app).db.unit_of_work() as s:
        first, passed = s.scalars(select(RightsRequest).order_by(RightsRequest.id)).all()
        cias = s.scalar(select(Institution.id).where(Institution.name == CIAS))
        assert (first.status, first.person_public_id) == ("transmitted", None)
        assert (passed.institution_id, passed.channel, passed.kind, passed.status) == (
            cias, "partner", "erasure", "received")
        assert passed.source_request_id == first.id and passed.person_public_id == lucie
        assert passed.subject_index == first.subject_index
        first_id, passed_id = first.public_id, passed.public_id
    assert [(e.object_id, e.actor_role) for e in events(app, "rights.request_transmitted")] == [
        (first_id, "dpo")]
    assert [e.object_id for e in events(app, "rights.request_received")] == [passed_id]
    listing = client.get("/dpo/droits/").get_data(as_text=True)
    assert "Transmise à " + CIAS in listing
    assert client.get(f"/dpo/droits/demandes/{passed_id}").status_code == 404

    # The CIAS's DPO finds it in their register, from the Département, and handles it.
    theirs = dpo_client(app, clock, CIAS_DPO)
    register = theirs.get("/dpo/droits/").get_data(as_text=True)
    assert passed_id in register and "Transmise par une institution partenaire : " + \
        DEPARTEMENT in register
    assert first_id not in register
    page = theirs.get(f"/dpo/droits/demandes/{passed_id}").get_data(as_text=True)
    assert "Retrouvée" in page and lucie in page
    erased = post(theirs, f"/dpo/droits/demandes/{passed_id}/effacement", {"confirm": "y"},
                  follow_redirects=True)
    assert "Effacement effectué" in flashed(erased)
    assert _person(app, lucie) is None
    # Both steps are in the CIAS DPO's audit trail: the request is in its register.
    html = _search(theirs, action="rights.request_received").get_data(as_text=True)
    assert _shown(html) == [e.seq for e in events(app, "rights.request_received")]


def test_a_forged_request_id_of_another_institution_is_404_and_audited(
        app: Flask, clock: FixedClock) -> None:
    cias_person(app)
    add_dpo(app, CIAS_DPO, CIAS_UNIT)
    theirs = dpo_client(app, clock, CIAS_DPO)
    rid = new_request(theirs, "erasure", last_name=BERNARD.last_name,
                      birth_date=BERNARD.birth_date)
    client = dpo_client(app, clock)
    before = len(events(app, "access.refused"))
    assert client.get(f"/dpo/droits/demandes/{rid}").status_code == 404
    assert post(client, f"/dpo/droits/demandes/{rid}/effacement",
                {"confirm": "y"}).status_code == 404
    assert post(client, f"/dpo/droits/demandes/{rid}/acces.json").status_code == 404
    refused = events(app, "access.refused")[before:]
    assert [(e.object_type, e.object_id, e.outcome, e.actor_role) for e in refused] == [
        ("rights_request", rid, "refused", "dpo")] * 3
    assert request_row(app, rid).erased_at is None
    assert client.get(f"/dpo/droits/demandes/{'x' * 40}").status_code == 404
    assert events(app, "access.refused")[-1].object_id is None  # not an id: not recorded


# -- a shared person ------------------------------------------------------------------------------


def _shared(app: Flask) -> str:
    """A person the Département recorded and sent a fiche about to France Travail."""
    person = sent(app).person
    add_dpo(app, FT_DPO, FT_UNIT)
    return person


def test_a_shared_person_is_in_both_dpos_scope_and_the_request_may_be_passed_on(
        app: Flask, clock: FixedClock) -> None:
    person = _shared(app)
    theirs = dpo_client(app, clock, FT_DPO)
    rid = new_request(theirs, "access")
    assert request_row(app, rid).person_public_id == person
    page = theirs.get(f"/dpo/droits/demandes/{rid}").get_data(as_text=True)
    assert "aussi connue de : " + DEPARTEMENT in page
    assert "Transmettre à " + DEPARTEMENT in page
    with services_of(app).db.unit_of_work() as s:
        departement = s.scalar(select(Institution.public_id).where(
            Institution.name == DEPARTEMENT))
        cias = s.scalar(select(Institution.public_id).where(Institution.name == CIAS))
    refused = post(theirs, f"/dpo/droits/demandes/{rid}/transmission", {"institution": cias},
                   follow_redirects=True)
    assert "ne détient pas de données de cette personne" in flashed(refused)
    done = post(theirs, f"/dpo/droits/demandes/{rid}/transmission",
                {"institution": departement}, follow_redirects=True)
    assert "est transmise au délégué" in flashed(done)
    assert "Transmettre à" not in done.get_data(as_text=True)  # once
    client = dpo_client(app, clock)
    register = client.get("/dpo/droits/").get_data(as_text=True)
    assert "Transmise par une institution partenaire : " + FRANCE_TRAVAIL in register
    with services_of(app).db.unit_of_work() as s:
        received = s.scalar(select(RightsRequest.public_id).where(
            RightsRequest.source_request_id.is_not(None)))
    page = client.get(f"/dpo/droits/demandes/{received}").get_data(as_text=True)
    assert "Retrouvée" in page and "Transmettre à" not in page  # not back to its sender
    own = new_request(client, "access")
    assert request_row(app, own).person_public_id == person


def test_erasure_by_one_institution_keeps_the_partners_share(app: Flask,
                                                             clock: FixedClock) -> None:
    person = _shared(app)
    client = dpo_client(app, clock)
    rid = new_request(client, "erasure")
    done = post(client, f"/dpo/droits/demandes/{rid}/effacement", {"confirm": "y"},
                follow_redirects=True)
    assert _person(app, person) is not None  # France Travail still holds them
    assert "Effacement effectué" in flashed(done)
    assert "Données de votre institution effacées le" in done.get_data(as_text=True)
    with services_of(app).db.unit_of_work() as s:
        units = set(s.scalars(select(Unit.name).join(PersonUnit, PersonUnit.unit_id == Unit.id)
                              .join(Person, PersonUnit.person_id == Person.id)
                              .where(Person.public_id == person)))
    assert units == {"Agence France Travail Montauban Albasud"}
    with dpo_context(app) as ctx:
        assert rights.match_persons(ctx, IDENTITY.last_name, IDENTITY.birth_date) == []
    with dpo_context(app, FT_DPO) as ctx:
        assert [p.public_id for p in rights.match_persons(
            ctx, IDENTITY.last_name, IDENTITY.birth_date)] == [person]


def test_dpo_cannot_lift_a_restriction_set_by_a_partner(app: Flask, clock: FixedClock) -> None:
    person = _shared(app)
    theirs = dpo_client(app, clock, FT_DPO)
    set_by_them = new_request(theirs, "restriction")
    post(theirs, f"/dpo/droits/demandes/{set_by_them}/limitation",
         {"restricted": "1", "reason": "objection_pending"})
    restricted = _person(app, person)
    assert restricted is not None and restricted.restricted
    client = dpo_client(app, clock)
    rid = new_request(client, "restriction")
    page = client.get(f"/dpo/droits/demandes/{rid}").get_data(as_text=True)
    assert "posée par " + FRANCE_TRAVAIL in page and "Lever la limitation" not in page
    refused = post(client, f"/dpo/droits/demandes/{rid}/limitation",
                   {"restricted": "0", "reason": "person_agreed"}, follow_redirects=True)
    assert "seul son délégué" in flashed(refused)
    still = _person(app, person)
    assert still is not None and still.restricted


def test_dpo_cannot_hold_or_see_holds_on_a_partner_institutions_person(
        app: Flask, clock: FixedClock) -> None:
    lucie = cias_person(app)
    add_dpo(app, CIAS_DPO, CIAS_UNIT)
    path = "/conservation/conservations-legales"
    client = dpo_client(app, clock)

    def place(browser: FlaskClient) -> Any:
        return browser.post(path, data={"kind": "person", "target": lucie,
                                        "reason": "litigation", "note": "Affaire 26/0101",
                                        "csrf_token": csrf_token(browser, path)})

    refused = place(client)
    assert refused.status_code == 200 and "Aucune donnée conservée" in refused.get_data(
        as_text=True)
    with services_of(app).db.unit_of_work() as s:
        assert s.scalar(select(LegalHold.id)) is None
    assert place(dpo_client(app, clock, CIAS_DPO)).status_code == 302
    with services_of(app).db.unit_of_work() as s:
        hold = s.scalar(select(LegalHold.public_id))
    listing = client.get(path).get_data(as_text=True)
    assert lucie not in listing and "Affaire 26/0101" not in listing
    lifted = client.post(path + "/lever", data={"hold": hold,
                                                "csrf_token": csrf_token(client, path)},
                         follow_redirects=True)
    assert "n&#39;existe pas" in lifted.get_data(as_text=True)
    with services_of(app).db.unit_of_work() as s:
        assert s.scalar(select(LegalHold.lifted_at)) is None


def test_audit_scope_covers_its_own_staff_and_register_only(app: Flask) -> None:
    """The one rule, read directly: a CIAS staff event is the CIAS's, not the Département's;
    a sign-in failure on a CIAS account is the CIAS's whoever caused it."""
    from exchange.accounts.models import User
    from exchange.audit import trail as audit
    from exchange.policy import dpo_audit_scope

    cias_person(app)
    svc = services_of(app)
    with svc.db.unit_of_work() as s:
        account = s.scalar(select(User.public_id).where(User.username == "ts.lodeve"))
        failure = audit.record(s, "login.failure", at=svc.clock.now(),
                               actor=audit.Actor(None, None, "anonymous"), object_type="user",
                               object_id=account, outcome="failure").seq
    with svc.db.unit_of_work() as s:
        ids = {name: s.scalar(select(Institution.id).where(Institution.name == name))
               for name in (CIAS, DEPARTEMENT)}
        created = s.scalar(select(AuditEvent.seq).where(AuditEvent.action == "person.created"))
        for seq in (created, failure):
            for name, sees in ((CIAS, True), (DEPARTEMENT, False)):
                found = s.scalar(select(AuditEvent.seq).where(AuditEvent.seq == seq,
                                                              dpo_audit_scope(ids[name])))
                assert (found is not None) is sees, (seq, name)


def test_search_pages_are_exactly_the_scope_newest_first(app: Flask, clock: FixedClock) -> None:
    """The search pages through the union of the scope's branches (one per unit, one for the
    events others wrote about the institution): together, exactly `dpo_audit_scope`'s events,
    newest first, without gap or overlap, including events whose times and sequence numbers
    disagree."""
    from datetime import timedelta

    from exchange.accounts.models import User
    from exchange.audit import search as audit_search
    from exchange.audit import trail as audit
    from exchange.policy import dpo_audit_scope

    svc = services_of(app)
    with svc.db.unit_of_work() as s:
        units = {u.name: u.public_id for u in s.scalars(select(Unit))}
        account = s.scalar(select(User.public_id).where(User.username == "ts.montauban"))
        departement = s.scalar(select(Institution.id).where(Institution.name == DEPARTEMENT))
        assert departement is not None
        actors = [audit.Actor("u1", units["MDS de Montauban"], "social_worker"),
                  audit.Actor("u2", units["MDS de Moissac"], "social_worker"),
                  audit.Actor("u3", units[CIAS_UNIT], "social_worker"),
                  audit.Actor(None, None, "anonymous")]
        for i in range(137):
            at = clock.now() + timedelta(seconds=i if i % 5 else -i)  # some clocks behind
            audit.record(s, "login.failure" if i % 4 == 3 else "session.expired", at=at,
                         actor=actors[i % 4], object_type="user", object_id=account if i % 8 == 3
                         else "someone-else")
    with svc.db.reading() as s:
        expected = list(s.scalars(select(AuditEvent.seq).where(dpo_audit_scope(departement))
                                  .order_by(AuditEvent.at.desc(), AuditEvent.seq.desc())))
        seen: list[int] = []
        before = None
        while True:
            page = audit_search.page(s, audit_search.Criteria(institution_id=departement),
                                     before, size=20)
            seen += [line.seq for line in page.lines]
            if page.next_before is None:
                break
            before = page.next_before
    assert seen == expected
    assert len(expected) > 60


def test_a_partners_legal_hold_does_not_stop_the_erasure_of_ones_own_share(
        app: Flask, clock: FixedClock) -> None:
    person = _shared(app)
    theirs = dpo_client(app, clock, FT_DPO)
    path = "/conservation/conservations-legales"
    placed = theirs.post(path, data={"kind": "person", "target": person, "reason": "litigation",
                                     "note": "", "csrf_token": csrf_token(theirs, path)})
    assert placed.status_code == 302
    client = dpo_client(app, clock)
    rid = new_request(client, "erasure")
    done = post(client, f"/dpo/droits/demandes/{rid}/effacement", {"confirm": "y"},
                follow_redirects=True)
    assert "Effacement effectué" in flashed(done), flashed(done)
    assert _person(app, person) is not None  # France Travail's share, held, stays
    # France Travail's own erasure is the one its hold stops.
    own = new_request(theirs, "erasure")
    refused = post(theirs, f"/dpo/droits/demandes/{own}/effacement", {"confirm": "y"},
                   follow_redirects=True)
    assert "conservation légale" in flashed(refused)
    assert _person(app, person) is not None


def test_the_advance_notice_shows_a_dpo_their_institutions_items_only(
        app: Flask, clock: FixedClock) -> None:
    from datetime import date

    from tests.retention.support import axe3_sent, noon, sweep

    built = axe3_sent(app)  # the Département's fiche to France Travail
    sweep(app, clock.today())
    add_dpo(app, CIAS_DPO, CIAS_UNIT)
    clock.set(noon(date(2028, 2, 10)))  # 19 days before its horizon
    for username, sees in ((CIAS_DPO, False), ("dpo.departement", True)):
        html = dpo_client(app, clock, username).get("/conservation/").get_data(as_text=True)
        assert (built.fiche[:8] in html) is sees, username
