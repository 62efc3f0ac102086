"""Fields a form does not offer are ignored when posted: a browser can add any field to a POST
(owner, unit, state, role, ids...), and none of them reaches a row. Each test posts a valid form
plus such fields, checks the offered change was made (so the POST was accepted), and that the
columns the extra fields name are as before. The administrator's account and institution forms
have the same check in tests/web (test_admin_users, test_admin_org)."""

from __future__ import annotations

import re
from typing import Any

from flask import Flask
from sqlalchemy import select

from exchange.domain.clock import FixedClock
from exchange.fiches.models import Accompaniment, Fiche
from exchange.org.models import Unit
from exchange.persons.models import Person, PersonUnit
from tests.conftest import post_form
from tests.fiches.support import accepted, prepare, services_of, signed_in

INTRUDER_UNIT = "Agence France Travail Clermont-l'Hérault"


def _unit_id(app: Flask, name: str = INTRUDER_UNIT) -> int:
    with services_of(app).db.unit_of_work() as s:
        found = s.scalar(select(Unit.id).where(Unit.name == name))
        assert found is not None
        return found


def _row(app: Flask, model: Any, public_id: str, *columns: str) -> dict[str, Any]:
    with services_of(app).db.unit_of_work() as s:
        row = s.scalar(select(model).where(model.public_id == public_id))
        assert row is not None
        return {name: getattr(row, name) for name in columns}


def _intrusions(app: Flask) -> dict[str, object]:
    other = _unit_id(app)
    return {"state": "accepted", "sender_unit_id": other, "recipient_unit_id": other,
            "sender_user_id": 1, "unit_id": other, "unit": other, "owner": "admin",
            "public_id": "f" * 32, "person_id": 1, "convention_id": 2, "role": "admin",
            "roles": "admin", "active": "0", "horizon": "2099-01-01", "restricted": "1",
            "created_by_unit_id": other, "advisor_unit_id": other, "social_unit_id": other,
            "renewed": "1", "exit_date": "2026-11-24", "version": "99"}


FICHE_COLUMNS = ("public_id", "state", "version", "sender_unit_id", "sender_user_id",
                 "recipient_unit_id", "person_id", "convention_id", "horizon", "signed_at")


def test_saving_a_draft_ignores_state_units_and_ids(app: Flask, clock: FixedClock) -> None:
    prepared = prepare(app, sign=False)
    before = _row(app, Fiche, prepared.fiche, *FICHE_COLUMNS, "updated_at")
    worker = signed_in(app, "ts.montauban", clock)
    draft = f"/fiches/{prepared.fiche}/brouillon"
    answer = post_form(worker, draft, {
        **_intrusions(app), "action": "save", "diagnostic_date": "2026-11-21",
        "barriers": ["health"], "motive": "Motif revu"}, form_page=draft)
    assert answer.status_code == 303, answer.get_data(as_text=True)[:2000]
    after = _row(app, Fiche, prepared.fiche, *FICHE_COLUMNS, "updated_at")
    assert after.pop("updated_at") != before.pop("updated_at")  # the save happened
    assert after == before
    assert "Motif revu" in worker.get(draft).get_data(as_text=True)


def test_starting_a_draft_ignores_sender_and_state(app: Flask, clock: FixedClock) -> None:
    prepared = prepare(app, sign=False)
    worker = signed_in(app, "ts.montauban", clock)
    page = worker.get(f"/fiches/nouvelle/{prepared.person}").get_data(as_text=True)
    unit = re.search(r'<option value="([0-9a-f]{32})"', page)
    assert unit, "no destination unit on the new-fiche page"
    answer = post_form(worker, f"/fiches/nouvelle/{prepared.person}", {
        **_intrusions(app), "kind": "orientation_axe2", "unit": unit.group(1)})
    assert answer.status_code in (302, 303), answer.get_data(as_text=True)[:3000]
    created = answer.location.split("/")[2]
    row = _row(app, Fiche, created, "state", "sender_unit_id", "sender_user_id", "version")
    assert row["state"] == "draft" and row["version"] == 1
    assert row["sender_unit_id"] == _unit_id(app, "MDS de Montauban")
    assert created != "f" * 32


def test_rectifying_an_identity_ignores_unit_and_flags(app: Flask, clock: FixedClock) -> None:
    prepared = prepare(app, sign=False)
    columns = ("public_id", "created_by_unit_id", "restricted", "horizon", "epoch",
               "identity_version")
    before = _row(app, Person, prepared.person, *columns)
    worker = signed_in(app, "ts.montauban", clock)
    path = f"/personnes/{prepared.person}/identite"
    answer = post_form(worker, path, {
        **_intrusions(app), "last_name": "Lefèvre-Durand", "first_names": "Élodie Marie",
        "birth_date": "1988-03-14", "ft_identifier": "1234567A", "rsa_beneficiary": "y"})
    assert answer.status_code == 302, answer.get_data(as_text=True)[:3000]
    after = _row(app, Person, prepared.person, *columns)
    assert after.pop("identity_version") == before.pop("identity_version") + 1
    assert after == before
    with services_of(app).db.unit_of_work() as s:
        units = set(s.scalars(select(PersonUnit.unit_id).join(
            Person, PersonUnit.person_id == Person.id).where(
            Person.public_id == prepared.person)))
    assert units == {_unit_id(app, "MDS de Montauban")}


def test_recording_an_entry_ignores_the_pair_and_the_exit(app: Flask, clock: FixedClock) -> None:
    _, pid = accepted(app)
    columns = ("advisor_unit_id", "social_unit_id", "advisor_user_id", "social_user_id",
               "person_id", "renewed", "exit_date", "exit_reason", "public_id")
    before = _row(app, Accompaniment, pid, *columns, "entry_date")
    advisor = signed_in(app, "cft.montauban", clock)
    answer = post_form(advisor, f"/accompagnements/{pid}/entree",
                       {**_intrusions(app), "entry_date": clock.today().isoformat()},
                       form_page=f"/accompagnements/{pid}")
    assert answer.status_code in (302, 303), answer.get_data(as_text=True)[:3000]
    after = _row(app, Accompaniment, pid, *columns, "entry_date")
    assert before.pop("entry_date") is None and after.pop("entry_date") == clock.today()
    assert after == before


def test_editing_a_unit_ignores_its_institution(app: Flask, clock: FixedClock) -> None:
    with services_of(app).db.unit_of_work() as s:
        unit = s.scalar(select(Unit).where(Unit.name == "MDS de Montauban"))
        assert unit is not None
        pid, institution, kind = unit.public_id, unit.institution_id, unit.kind
    admin = signed_in(app, "admin", clock)
    path = f"/admin/structures/{pid}/modifier"
    answer = post_form(admin, path, {**_intrusions(app), "kind": kind,
                                     "name": "MDS de Montauban (centre)",
                                     "institution_id": 99, "institution": "f" * 32})
    assert answer.status_code == 302, answer.get_data(as_text=True)[:3000]
    after = _row(app, Unit, pid, "name", "institution_id", "public_id")
    assert after == {"name": "MDS de Montauban (centre)", "institution_id": institution,
                     "public_id": pid}
